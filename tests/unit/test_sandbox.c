/*
 * test_sandbox — the merchant's Lua state: what a script can and cannot
 * reach, the instruction and memory limits, require, the adapter path, and
 * the host modules (log/print, money, json, time).
 *
 * The hostile cases run each bad handler in one merchant's sandbox while a
 * second merchant's sandbox sits beside it; afterwards both must keep
 * handling good events (the limits reset, nothing leaked across).
 *
 * Fixture scripts are written under a mkdtemp folder laid out like the real
 * tree: <root>/scripts/... and <root>/workflows/...
 */
#include <ftw.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>

#include "ordo/clock.h"
#include "ordo/log.h"
#include "ordo/sandbox.h"
#include "t.h"

#define MiB (1024 * 1024)

static char root[64];
static char scripts_dir[128];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void cleanup(void)
{
	if (root[0] != '\0')
		nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void setup_root(void)
{
	if (root[0] != '\0')
		return;
	snprintf(root, sizeof root, "/tmp/ordo-sandbox-XXXXXX");
	if (mkdtemp(root) == NULL) {
		perror("mkdtemp");
		exit(2);
	}
	atexit(cleanup);
	snprintf(scripts_dir, sizeof scripts_dir, "%s/scripts", root);
}

/* Write <root>/<rel>, making folders on the way. */
static void write_file(const char *rel, const char *text)
{
	char path[512];
	FILE *fp;

	setup_root();
	snprintf(path, sizeof path, "%s/%s", root, rel);
	for (char *p = path + strlen(root) + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			mkdir(path, 0755);
			*p = '/';
		}
	}
	if ((fp = fopen(path, "w")) == NULL) {
		perror(path);
		exit(2);
	}
	fputs(text, fp);
	fclose(fp);
}

/* A test module, to check env->modules and the accessors from a binding. */
static int tm_answer(lua_State *L)
{
	lua_pushinteger(L, 42);
	return 1;
}

static int tm_event_id(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)sandbox_event_id(sandbox_of(L)));
	return 1;
}

static int tm_memory(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)sandbox_memory(sandbox_of(L)));
	return 1;
}

static int tm_open(lua_State *L)
{
	static const luaL_Reg f[] = {
		{ "answer", tm_answer },
		{ "event_id", tm_event_id },
		{ "memory", tm_memory },
		{ NULL, NULL },
	};

	luaL_newlib(L, f);
	return 1;
}

static const struct sandbox_module test_modules[] = {
	{ "testmod", tm_open },
	{ NULL, NULL },
};

/* One merchant: its config and env live here so their pointers outlive
 * the sandbox. */
struct merchant {
	struct merchant_config cfg;
	struct sandbox_env env;
	char workflow[512];
	char id[32];
};

static void merchant_init(struct merchant *m, const char *id, const char *wf_rel,
    int64_t instructions, int64_t memory)
{
	setup_root();
	memset(m, 0, sizeof *m);
	snprintf(m->id, sizeof m->id, "%s", id);
	snprintf(m->workflow, sizeof m->workflow, "%s/%s", root, wf_rel);
	m->cfg.id = m->id;
	m->cfg.name = m->id;
	m->cfg.currency = "USD";
	m->cfg.timezone = "Europe/Berlin";
	m->cfg.workflow = m->workflow;
	m->cfg.instruction_limit = instructions;
	m->cfg.memory_limit = memory;
	m->env.merchant = &m->cfg;
	m->env.scripts_dir = scripts_dir;
	m->env.db = NULL;
	m->env.modules = test_modules;
}

/* Write the workflow and create the sandbox; on failure print why. */
static struct sandbox *open_wf(struct merchant *m, const char *wf_rel, const char *src,
    int64_t instructions, int64_t memory)
{
	struct sandbox *sb;
	char *err = NULL, id[32];

	snprintf(id, sizeof id, "%s", m->id[0] ? m->id : "m1");
	write_file(wf_rel, src);
	merchant_init(m, id, wf_rel, instructions, memory);
	sb = sandbox_new(&m->env, &err);
	if (sb == NULL)
		fprintf(stderr, "sandbox_new(%s): %s\n", wf_rel, err);
	free(err);
	return sb;
}

/* Handle one event with a JSON payload. *name and *err are the caller's. */
static int handle(struct sandbox *sb, const char *source, const char *channel,
    const char *topic, const char *payload, char **name, char **err)
{
	json_t *p = payload != NULL ? json_loads(payload, JSON_DECODE_ANY, NULL) : NULL;
	struct sandbox_event ev = {
		.id = 42, .source = source, .channel = channel, .topic = topic,
		.payload = p, .attempt = 2, .received_at = INT64_C(1700000000000),
	};
	int rc = sandbox_handle(sb, &ev, name, err);

	json_decref(p);
	return rc;
}

/* Handle and throw the strings away, printing the error if unexpected. */
static int handle_simple(struct sandbox *sb, const char *topic, const char *payload)
{
	char *name = NULL, *err = NULL;
	int rc = handle(sb, "api", NULL, topic, payload, &name, &err);

	if (rc < 0)
		fprintf(stderr, "handle(%s): %s\n", topic, err);
	free(name);
	free(err);
	return rc;
}

/* ------------------------------------------------------------------ */

static const char good_wf[] =
	"local count = 0\n"
	"return {\n"
	"  order_created = function(e)\n"
	"    assert(e.name == 'order_created' and e.total == '19.99')\n"
	"    local t = {}\n"
	"    for i = 1, 2000 do t[i] = tostring(i) end\n"
	"    assert(#t == 2000 and money.parse(e.total, 'USD') == 1999)\n"
	"    count = count + 1\n"
	"  end,\n"
	"}\n";

struct hostile {
	const char *what;
	const char *body;        /* the handler's body, starting at line 3 */
	int64_t instructions;
	int64_t memory;
	int status;              /* expected; 99 means "any failure" */
	const char *err;         /* substring of the error */
};

static const struct hostile hostile_cases[] = {
	/* C library loops the count hook cannot see (found in review): each
	 * ran 15-100 s with these limits before they were charged up front. */
	{ "string.rep of the empty string", "string.rep('', 3000000000)",
	  200000, 8 * MiB, SB_LIMIT, "hostile.lua:3: instruction limit of 200000 exceeded" },
	{ "method-call rep", "local s = ('')\n  s:rep(3000000000)",
	  200000, 8 * MiB, SB_LIMIT, "instruction limit of 200000 exceeded" },
	{ "table.move over a huge range", "table.move({}, 1, 3000000000, 2)",
	  200000, 8 * MiB, SB_LIMIT, "instruction limit of 200000 exceeded" },
	{ "table.insert with a lying __len",
	  "local big = setmetatable({}, {__len = function() return 1e9 end})\n"
	  "  table.insert(big, 1, 'x')",
	  200000, 8 * MiB, SB_LIMIT, "instruction limit of 200000 exceeded" },
	{ "table.remove with a lying __len",
	  "local big = setmetatable({}, {__len = function() return 1e9 end})\n"
	  "  table.remove(big, 1)",
	  200000, 8 * MiB, SB_LIMIT, "instruction limit of 200000 exceeded" },
	{ "table.sort with a C comparator",
	  "local big = setmetatable({}, {__len = function() return 2e7 end})\n"
	  "  table.sort(big, math.type)",
	  200000, 8 * MiB, SB_LIMIT, "instruction limit of 200000 exceeded" },
	{ "table.concat over a huge range", "table.concat({}, '', 1, 3000000000)",
	  200000, 8 * MiB, SB_LIMIT, "instruction limit of 200000 exceeded" },
	/* Instruction budget. */
	{ "plain loop", "while true do end", 200000, 8 * MiB, SB_LIMIT,
	  "go: workflows/hostile.lua:3: instruction limit of 200000 exceeded" },
	{ "loop of pcalls", "while true do pcall(function() while true do end end) end",
	  200000, 8 * MiB, SB_LIMIT, "instruction limit of 200000 exceeded" },
	{ "pcall swallowing errors", "local n = 0 while true do n = n + 1 pcall(error, 'x') end",
	  200000, 8 * MiB, SB_LIMIT, "instruction limit of 200000 exceeded" },
	{ "loop in a coroutine", "coroutine.wrap(function() while true do end end)()",
	  200000, 8 * MiB, SB_LIMIT, "instruction limit of 200000 exceeded" },
	{ "resume swallowing errors",
	  "while true do coroutine.resume(coroutine.create(function() while true do end end)) end",
	  200000, 8 * MiB, SB_LIMIT, "instruction limit of 200000 exceeded" },
	{ "many short coroutines",
	  "while true do coroutine.wrap(function() for i = 1, 900 do end end)() end",
	  200000, 8 * MiB, SB_LIMIT, "instruction limit of 200000 exceeded" },
	{ "loop in __index", "local t = setmetatable({}, {__index = function() while true do end end})\n"
	  "return t.x", 200000, 8 * MiB, SB_LIMIT, "instruction limit of 200000 exceeded" },
	{ "loop in a gsub callback", "string.gsub('abc', '.', function() while true do end end)",
	  200000, 8 * MiB, SB_LIMIT, "instruction limit of 200000 exceeded" },
	{ "loop in an xpcall handler",
	  "xpcall(function() while true do end end, function() while true do end end)\n"
	  "while true do end", 200000, 8 * MiB, SB_LIMIT, "instruction limit of 200000 exceeded" },
	{ "__close after the limit, in pcall",
	  "pcall(function()\n"
	  "  local x <close> = setmetatable({}, {__close = function() while true do end end})\n"
	  "  while true do end\n"
	  "end)\n"
	  "while true do end", 200000, 8 * MiB, SB_LIMIT, "instruction limit of 200000 exceeded" },
	{ "__close after the limit, coroutine.wrap",
	  "coroutine.wrap(function()\n"
	  "  local x <close> = setmetatable({}, {__close = function() while true do end end})\n"
	  "  while true do end\n"
	  "end)()", 200000, 8 * MiB, SB_LIMIT, "instruction limit of 200000 exceeded" },
	{ "__close after the limit, coroutine.close",
	  "local co = coroutine.create(function()\n"
	  "  local x <close> = setmetatable({}, {__close = function() while true do end end})\n"
	  "  while true do end\n"
	  "end)\n"
	  "coroutine.resume(co)\n"
	  "coroutine.close(co)\n"
	  "while true do end", 200000, 8 * MiB, SB_LIMIT, "instruction limit of 200000 exceeded" },
	{ "__close after the limit, after a yield",
	  "local co = coroutine.wrap(function()\n"
	  "  pcall(function()\n"
	  "    coroutine.yield(1)\n"
	  "    local x <close> = setmetatable({}, {__close = function() while true do end end})\n"
	  "    while true do end\n"
	  "  end)\n"
	  "  while true do end\n"
	  "end)\n"
	  "co() co()", 200000, 8 * MiB, SB_LIMIT, "instruction limit of 200000 exceeded" },
	{ "xpcall handler that swallows and loops",
	  "while true do xpcall(function() while true do end end, function(m) return m end) end",
	  200000, 8 * MiB, SB_LIMIT, "instruction limit of 200000 exceeded" },
	{ "C work without hooks (string.rep)",
	  "while true do local s = string.rep('x', 1024 * 1024) end",
	  200000, 8 * MiB, SB_LIMIT, "instruction limit of 200000 exceeded" },
	/* Memory cap. */
	{ "string.rep huge", "local s = string.rep('x', 64 * 1024 * 1024)",
	  200000, 8 * MiB, SB_LIMIT, "go: memory limit of 8 MiB exceeded" },
	{ "table growth", "local t = {} local i = 0 while true do i = i + 1 t[i] = i end",
	  10000000, 8 * MiB, SB_LIMIT, "memory limit of 8 MiB exceeded (near workflows/hostile.lua:3)" },
	{ "table.concat of big strings",
	  "local s = string.rep('x', 1024 * 1024) local t = {}\n"
	  "for i = 1, 16 do t[i] = s end\n"
	  "return table.concat(t)", 200000, 8 * MiB, SB_LIMIT, "memory limit of 8 MiB exceeded" },
	{ "memory error caught, then another error",
	  "assert(not pcall(string.rep, 'x', 64 * 1024 * 1024))\nerror('later')",
	  200000, 8 * MiB, SB_LIMIT, "memory limit of 8 MiB exceeded" },
	{ "deep recursion", "local function f(n) return f(n + 1) + 1 end\nf(1)",
	  200000, 8 * MiB, 99, "go: " },
	/* Forbidden things. */
	{ "bytecode through load", "assert(load('\\27Lua\\84\\0\\25\\147\\r\\n\\26\\n', 'x', 'b'))",
	  200000, 8 * MiB, SB_ERROR, "attempt to load a binary chunk" },
	{ "bytecode through load, no mode", "assert(load('\\27Lua\\84\\0'))",
	  200000, 8 * MiB, SB_ERROR, "attempt to load a binary chunk" },
	{ "io", "return io.open('/etc/passwd')", 200000, 8 * MiB, SB_ERROR, "global 'io'" },
	{ "os", "os.exit(1)", 200000, 8 * MiB, SB_ERROR, "global 'os'" },
	{ "debug", "debug.sethook()", 200000, 8 * MiB, SB_ERROR, "global 'debug'" },
	{ "package", "package.loadlib('x', 'y')", 200000, 8 * MiB, SB_ERROR, "global 'package'" },
	{ "dofile", "dofile('/etc/passwd')", 200000, 8 * MiB, SB_ERROR, "global 'dofile'" },
	{ "loadfile", "loadfile('/etc/passwd')", 200000, 8 * MiB, SB_ERROR, "global 'loadfile'" },
	{ "string.dump", "string.dump(print)", 200000, 8 * MiB, SB_ERROR, "field 'dump'" },
	{ "require ../x", "require('../x')", 200000, 8 * MiB, SB_ERROR, "invalid module name '../x'" },
	{ "require /etc/passwd", "require('/etc/passwd')", 200000, 8 * MiB, SB_ERROR,
	  "invalid module name '/etc/passwd'" },
	{ "require a..b", "require('a..b')", 200000, 8 * MiB, SB_ERROR, "invalid module name 'a..b'" },
	{ "require a missing module", "require('nope.nothing')", 200000, 8 * MiB, SB_ERROR,
	  "workflows/hostile.lua:3: module 'nope.nothing' not found in scripts/ or the workflow folder" },
	{ "require loop", "require('loop_a')", 200000, 8 * MiB, SB_ERROR, "loop while loading module 'loop_a'" },
	{ "setmetatable with __gc", "setmetatable({}, {__gc = function() while true do end end})",
	  200000, 8 * MiB, SB_ERROR, "__gc is not allowed" },
	{ "string metatable", "getmetatable('').__index = function() return 1 end",
	  200000, 8 * MiB, SB_ERROR, "the string metatable is protected" },
	{ "collectgarbage stop", "collectgarbage('stop')", 200000, 8 * MiB, SB_ERROR,
	  "collectgarbage(\"stop\") is not allowed" },
	{ "collectgarbage generational", "collectgarbage('generational')", 200000, 8 * MiB, SB_ERROR,
	  "is not allowed" },
	/* Plain errors read well. */
	{ "error with a line", "error('boom')", 200000, 8 * MiB, SB_ERROR,
	  "go: workflows/hostile.lua:3: boom" },
	{ "error with a table", "error({code = 'out_of_stock'})", 200000, 8 * MiB, SB_ERROR,
	  "go: {\"code\":\"out_of_stock\"}" },
	{ "error inside a required module", "require('util.broken')", 200000, 8 * MiB, SB_ERROR,
	  "go: scripts/util/broken.lua:2: attempt to index a nil value" },
	{ "money.parse of a float", "money.parse(19.99, 'USD')", 200000, 8 * MiB, SB_ERROR,
	  "money.parse: amount must be a decimal string" },
	/* What is not an error. */
	{ "memory error caught, handler returns", "assert(not pcall(string.rep, 'x', 64 * 1024 * 1024))",
	  200000, 8 * MiB, SB_HANDLED, NULL },
	{ "rawset on the string metatable stand-in",
	  "rawset(getmetatable(''), '__index', {}) assert(('x'):upper() == 'X')",
	  200000, 8 * MiB, SB_HANDLED, NULL },
};

static void write_shared_fixtures(void)
{
	write_file("workflows/good.lua", good_wf);
	write_file("scripts/loop_a.lua", "return require('loop_b')\n");
	write_file("scripts/loop_b.lua", "return require('loop_a')\n");
	write_file("scripts/util/broken.lua", "local t = nil\nreturn t.field\n");
}

static void test_hostile(void)
{
	struct merchant good, bad;

	write_shared_fixtures();
	for (size_t i = 0; i < sizeof hostile_cases / sizeof hostile_cases[0]; i++) {
		const struct hostile *c = &hostile_cases[i];
		struct sandbox *a, *b;
		char src[2048], *name = NULL, *err = NULL;
		int rc;

		if (getenv("T_VERBOSE") != NULL) /* to find a case that hangs */
			fprintf(stderr, "case %s\n", c->what);
		snprintf(src, sizeof src,
		    "return {\n"
		    "  go = function(e)\n"
		    "%s\n"
		    "  end,\n"
		    "  ok = function(e)\n"
		    "    local t = {} for i = 1, 1000 do t[i] = string.rep('y', 100) .. i end\n"
		    "    assert(#t == 1000 and e.id == 42)\n"
		    "  end,\n"
		    "}\n", c->body);
		memset(&good, 0, sizeof good);
		memset(&bad, 0, sizeof bad);
		strcpy(good.id, "m2");
		strcpy(bad.id, "m1");
		b = open_wf(&good, "workflows/good.lua", good_wf, 200000, 8 * MiB);
		a = open_wf(&bad, "workflows/hostile.lua", src, c->instructions, c->memory);
		CHECK(a != NULL && b != NULL);
		if (a == NULL || b == NULL) {
			sandbox_free(a);
			sandbox_free(b);
			continue;
		}

		rc = handle(a, "api", NULL, "go", "{}", &name, &err);
		if (c->status == 99 ? rc >= 0 : rc != c->status)
			fprintf(stderr, "case '%s': status %d, expected %d (%s)\n",
			    c->what, rc, c->status, err ? err : "no error");
		if (c->status == 99)
			CHECK(rc < 0);
		else
			CHECK_INT(rc, c->status);
		if (c->err != NULL) {
			if (err == NULL || strstr(err, c->err) == NULL)
				fprintf(stderr, "case '%s':\n", c->what);
			CHECK_HAS(err, c->err);
		} else {
			CHECK(err == NULL);
		}
		CHECK_STR(name, "go");
		free(name);
		free(err);

		/* The same sandbox works again: limits and flags were reset. */
		name = err = NULL;
		rc = handle(a, "api", NULL, "ok", "{}", &name, &err);
		if (rc != SB_HANDLED)
			fprintf(stderr, "case '%s': next event: %s\n", c->what, err);
		CHECK_INT(rc, SB_HANDLED);
		free(name);
		free(err);

		/* And the merchant next door never noticed. */
		CHECK_INT(handle_simple(b, "order_created", "{\"total\":\"19.99\"}"), SB_HANDLED);
		CHECK_INT(handle_simple(b, "order_created", "{\"total\":\"19.99\"}"), SB_HANDLED);
		sandbox_free(a);
		sandbox_free(b);
	}
}

struct bad_load {
	const char *what;
	const char *src;
	const char *err;
};

static void test_bad_workflows(void)
{
	static const struct bad_load cases[] = {
		{ "top-level infinite loop", "while true do end\nreturn {}",
		  "workflows/bad.lua:1: instruction limit of 200000 exceeded" },
		{ "top-level memory bomb", "local s = string.rep('x', 1 << 30)\nreturn {}",
		  "workflows/bad.lua: memory limit of 8 MiB exceeded" },
		{ "not a table", "return 42", "workflows/bad.lua: must return a table of handlers" },
		{ "nothing returned", "local x = 1", "workflows/bad.lua: must return a table of handlers" },
		{ "a handler that is not a function", "return { order_created = 'yes' }",
		  "workflows/bad.lua: handler 'order_created' is not a function" },
		{ "syntax error", "return {\n  x = function() end\n  y = 1\n}",
		  "workflows/bad.lua:3:" },
		{ "runtime error", "local t = nil\nreturn t.x", "workflows/bad.lua:2: attempt to index" },
		{ "bytecode workflow", "\x1bLua", "binary chunk" },
		{ "require of a missing module", "local x = require('nowhere')\nreturn {}",
		  "workflows/bad.lua:1: module 'nowhere' not found in scripts/ or the workflow folder" },
	};
	struct merchant m;
	char *err = NULL;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct sandbox *sb;

		write_file("workflows/bad.lua", cases[i].src);
		memset(&m, 0, sizeof m);
		merchant_init(&m, "m1", "workflows/bad.lua", 200000, 8 * MiB);
		err = NULL;
		sb = sandbox_new(&m.env, &err);
		CHECK(sb == NULL);
		if (err == NULL || strstr(err, cases[i].err) == NULL)
			fprintf(stderr, "case '%s':\n", cases[i].what);
		CHECK_HAS(err, cases[i].err);
		free(err);
		sandbox_free(sb);
	}

	/* A missing file. */
	memset(&m, 0, sizeof m);
	merchant_init(&m, "m1", "workflows/does_not_exist.lua", 200000, 8 * MiB);
	err = NULL;
	CHECK(sandbox_new(&m.env, &err) == NULL);
	CHECK_HAS(err, "workflows/does_not_exist.lua: cannot open");
	free(err);
}

static void test_channel_adapters_at_load(void)
{
	struct merchant m;
	struct sandbox *sb;
	char *err = NULL;

	write_file("workflows/plain.lua", "return {}\n");
	write_file("scripts/channels/woocommerce.lua", "return { nothing = true }\n");

	/* An enabled channel whose adapter does not exist. */
	memset(&m, 0, sizeof m);
	merchant_init(&m, "m1", "workflows/plain.lua", 200000, 8 * MiB);
	m.cfg.channel_secret[CH_GENERIC] = "secret";
	sb = sandbox_new(&m.env, &err);
	CHECK(sb == NULL);
	CHECK_HAS(err, "module 'channels.generic' not found");
	free(err);

	/* An adapter without translate. */
	err = NULL;
	m.cfg.channel_secret[CH_GENERIC] = NULL;
	m.cfg.channel_secret[CH_WOOCOMMERCE] = "secret";
	sb = sandbox_new(&m.env, &err);
	CHECK(sb == NULL);
	CHECK_HAS(err, "channel adapter 'channels.woocommerce' must return a table with a translate function");
	free(err);
}

static void test_event_fields(void)
{
	struct merchant m;
	struct sandbox *sb;
	char *name = NULL, *err = NULL;
	int rc;

	memset(&m, 0, sizeof m);
	sb = open_wf(&m, "workflows/fields.lua",
	    "return {\n"
	    "  order_paid = function(e)\n"
	    "    assert(e.name == 'order_paid', 'name')\n"
	    "    assert(e.id == 42 and math.type(e.id) == 'integer', 'id')\n"
	    "    assert(e.source == 'api' and e.channel == nil, 'source')\n"
	    "    assert(e.topic == 'order_paid' and e.attempt == 2, 'topic')\n"
	    "    assert(e.received_at == 1700000000000, 'received_at')\n"
	    "    assert(e.order_id == 9007199254740993, 'order_id')\n"
	    "    assert(e.payload.order_id == 9007199254740993, 'payload')\n"
	    "    assert(e.payload.lines[2].sku == 'B', 'lines')\n"
	    "    assert(testmod.answer() == 42, 'module')\n"
	    "    assert(testmod.event_id() == 42, 'event id')\n"
	    "    assert(testmod.memory() > 0, 'memory')\n"
	    "  end,\n"
	    "}\n", 200000, 8 * MiB);
	CHECK(sb != NULL);
	if (sb == NULL)
		return;
	CHECK(sandbox_event_id(sb) == 0);
	CHECK(sandbox_merchant(sb) == &m.cfg);
	CHECK(sandbox_db(sb) == NULL);
	rc = handle(sb, "api", NULL, "order_paid",
	    "{\"order_id\":9007199254740993,\"lines\":[{\"sku\":\"A\"},{\"sku\":\"B\"}]}",
	    &name, &err);
	if (rc != SB_HANDLED)
		fprintf(stderr, "event fields: %s\n", err);
	CHECK_INT(rc, SB_HANDLED);
	CHECK_STR(name, "order_paid");
	CHECK(err == NULL);
	CHECK(sandbox_event_id(sb) == 0);
	free(name);
	free(err);
	sandbox_free(sb);
}

static void test_unhandled_and_errors(void)
{
	struct merchant m;
	struct sandbox *sb;
	char *name = NULL, *err = NULL;
	int rc;

	memset(&m, 0, sizeof m);
	sb = open_wf(&m, "workflows/few.lua",
	    "return {\n"
	    "  tick = function(e) assert(e.payload == 7 and e.name == 'tick') end,\n"
	    "  fail = function(e)\n"
	    "    local order = nil\n"
	    "    return order.total\n"
	    "  end,\n"
	    "}\n", 200000, 8 * MiB);
	CHECK(sb != NULL);
	if (sb == NULL)
		return;
	rc = handle(sb, "timer", NULL, "subscription_renewal", "{}", &name, &err);
	CHECK_INT(rc, SB_UNHANDLED);
	CHECK_STR(name, "subscription_renewal");
	CHECK(err == NULL);
	free(name);
	free(err);

	name = err = NULL;
	rc = handle(sb, "internal", NULL, "tick", "7", &name, &err);
	CHECK_INT(rc, SB_HANDLED);
	free(name);
	free(err);

	name = err = NULL;
	rc = handle(sb, "api", NULL, "fail", "{}", &name, &err);
	CHECK_INT(rc, SB_ERROR);
	CHECK_STR(err, "fail: workflows/few.lua:5: attempt to index a nil value (local 'order')");
	CHECK_STR(name, "fail");
	free(name);
	free(err);
	sandbox_free(sb);
}

static void test_webhook_adapter(void)
{
	struct merchant m;
	struct sandbox *sb;
	char *name = NULL, *err = NULL;
	int rc;

	write_file("scripts/channels/shopify.lua",
	    "local M = {}\n"
	    "function M.translate(topic, payload, ctx)\n"
	    "  if topic == 'orders/create' then\n"
	    "    return { name = 'order_created', order_id = payload.id, shop = ctx.merchant,\n"
	    "             currency = ctx.currency, tz = ctx.timezone, via = ctx.channel }\n"
	    "  elseif topic == 'no_name' then\n"
	    "    return { order_id = 1 }\n"
	    "  elseif topic == 'a_string' then\n"
	    "    return 'order_created'\n"
	    "  elseif topic == 'boom' then\n"
	    "    error('cannot read this payload')\n"
	    "  end\n"
	    "  return nil\n"
	    "end\n"
	    "return M\n");
	memset(&m, 0, sizeof m);
	sb = open_wf(&m, "workflows/shop.lua",
	    "return {\n"
	    "  order_created = function(e)\n"
	    "    assert(e.order_id == 9007199254740993, 'order id')\n"
	    "    assert(e.shop == 'm1' and e.currency == 'USD' and e.tz == 'Europe/Berlin', 'ctx')\n"
	    "    assert(e.via == 'shopify' and e.channel == 'shopify', 'channel')\n"
	    "    assert(e.source == 'webhook' and e.topic == 'orders/create', 'source')\n"
	    "    assert(e.payload.id == 9007199254740993, 'payload')\n"
	    "  end,\n"
	    "}\n", 200000, 8 * MiB);
	CHECK(sb != NULL);
	if (sb == NULL)
		return;

	rc = handle(sb, "webhook", "shopify", "orders/create", "{\"id\":9007199254740993}", &name, &err);
	if (rc != SB_HANDLED)
		fprintf(stderr, "webhook: %s\n", err);
	CHECK_INT(rc, SB_HANDLED);
	CHECK_STR(name, "order_created");
	free(name);
	free(err);

	name = err = NULL;
	rc = handle(sb, "webhook", "shopify", "products/update", "{}", &name, &err);
	CHECK_INT(rc, SB_UNHANDLED);
	CHECK(name == NULL && err == NULL);
	free(name);
	free(err);

	name = err = NULL;
	rc = handle(sb, "webhook", "shopify", "no_name", "{}", &name, &err);
	CHECK_INT(rc, SB_ERROR);
	CHECK_HAS(err, "no_name: channel adapter 'channels.shopify': translate returned an event without a string name");
	free(name);
	free(err);

	name = err = NULL;
	rc = handle(sb, "webhook", "shopify", "a_string", "{}", &name, &err);
	CHECK_INT(rc, SB_ERROR);
	CHECK_HAS(err, "translate must return an event table or nil");
	free(name);
	free(err);

	name = err = NULL;
	rc = handle(sb, "webhook", "shopify", "boom", "{}", &name, &err);
	CHECK_INT(rc, SB_ERROR);
	CHECK_STR(err, "boom: scripts/channels/shopify.lua:11: cannot read this payload");
	free(name);
	free(err);

	/* A channel without an adapter file. */
	name = err = NULL;
	rc = handle(sb, "webhook", "generic", "x", "{}", &name, &err);
	CHECK_INT(rc, SB_ERROR);
	CHECK_HAS(err, "module 'channels.generic' not found");
	free(name);
	free(err);
	sandbox_free(sb);

	/* With the channel enabled, the adapter is loaded by sandbox_new. */
	memset(&m, 0, sizeof m);
	write_file("workflows/shop2.lua", "return {}\n");
	merchant_init(&m, "m1", "workflows/shop2.lua", 200000, 8 * MiB);
	m.cfg.channel_secret[CH_SHOPIFY] = "s3cret";
	err = NULL;
	sb = sandbox_new(&m.env, &err);
	CHECK(sb != NULL);
	free(err);
	sandbox_free(sb);
}

static void test_require(void)
{
	struct merchant m;
	struct sandbox *sb;

	write_file("scripts/util/fmt.lua",
	    "local M = {}\n"
	    "function M.shout(s) return s:upper() .. '!' end\n"
	    "return M\n");
	write_file("scripts/util/nothing.lua", "local x = 1\n");
	write_file("workflows/helpers.lua", "return { twice = function(n) return 2 * n end }\n");
	write_file("workflows/sub/deep.lua", "return 'deep'\n");
	memset(&m, 0, sizeof m);
	sb = open_wf(&m, "workflows/req.lua",
	    "local fmt = require('util.fmt')\n"
	    "local helpers = require('helpers')\n"
	    "return {\n"
	    "  go = function(e)\n"
	    "    assert(fmt.shout('hi') == 'HI!')\n"
	    "    assert(helpers.twice(21) == 42)\n"
	    "    assert(require('util.fmt') == fmt, 'cached')\n"
	    "    assert(require('util.nothing') == true, 'nil becomes true')\n"
	    "    assert(require('sub.deep') == 'deep')\n"
	    "    assert(require('json') == json, 'host module')\n"
	    "    assert(require('string') == string)\n"
	    "    local ok, msg = pcall(require, 'util.missing')\n"
	    "    assert(not ok and msg:find('not found in scripts/ or the workflow folder', 1, true))\n"
	    "    ok, msg = pcall(require, 42)\n"
	    "    assert(not ok and msg:find('must be a string', 1, true))\n"
	    "  end,\n"
	    "}\n", 200000, 8 * MiB);
	CHECK(sb != NULL);
	if (sb != NULL)
		CHECK_INT(handle_simple(sb, "go", "{}"), SB_HANDLED);
	sandbox_free(sb);
}

static void test_base_library(void)
{
	struct merchant m;
	struct sandbox *sb;

	memset(&m, 0, sizeof m);
	sb = open_wf(&m, "workflows/base.lua",
	    "return {\n"
	    "  go = function(e)\n"
	    "    local f = load('return x_global')\n"
	    "    x_global = 5\n"
	    "    assert(f() == 5, 'load sees the globals')\n"
	    "    assert(load('return y', 'c', 't', {y = 1})() == 1, 'load with env')\n"
	    "    assert(load('return y', 'c', 'bt', {y = 2})() == 2, 'mode bt is t')\n"
	    "    local parts = {'return ', '3'}\n"
	    "    assert(load(function() return table.remove(parts, 1) end)() == 3, 'reader')\n"
	    "    local g, err = load('return +')\n"
	    "    assert(g == nil and err:find('unexpected symbol'), 'syntax error result')\n"
	    "    assert(type(collectgarbage('count')) == 'number')\n"
	    "    assert(collectgarbage() == 0 and collectgarbage('collect') == 0)\n"
	    "    collectgarbage('step')\n"
	    "    local t = setmetatable({}, {__index = function(_, k) return k .. '!' end})\n"
	    "    assert(t.a == 'a!')\n"
	    "    assert(getmetatable('') ~= nil and getmetatable('').__index == string)\n"
	    "    assert(('abc'):upper() == 'ABC')\n"
	    "    assert(utf8.len('h\\u{e9}') == 2 and math.maxinteger and table.concat({1, 2}) == '12')\n"
	    "    assert(coroutine.wrap(function() coroutine.yield(1) end)() == 1)\n"
	    "    local co = coroutine.create(function(a, b) local c = coroutine.yield(a + b) return c * 2, 'done' end)\n"
	    "    local ok1, s1 = coroutine.resume(co, 1, 2)\n"
	    "    local ok2, s2, s3 = coroutine.resume(co, 5)\n"
	    "    assert(ok1 and s1 == 3 and ok2 and s2 == 10 and s3 == 'done' and coroutine.status(co) == 'dead')\n"
	    "    local okc, msg = coroutine.resume(coroutine.create(function() error('in co') end))\n"
	    "    assert(not okc and msg:find('in co', 1, true))\n"
	    "    local okx, hx = xpcall(function() error('x1') end, function(m) return 'handled: ' .. m end)\n"
	    "    assert(not okx and hx:find('handled: ', 1, true) and hx:find('x1', 1, true))\n"
	    "    assert(select('#', xpcall(function(...) return ... end, print, 1, 2, 3)) == 4)\n"
	    "    local gen = coroutine.wrap(function() for i = 1, 3 do coroutine.yield(i) end end)\n"
	    "    assert(gen() == 1 and gen() == 2 and gen() == 3)\n"
	    "    local okp, yv = coroutine.resume(coroutine.create(function()\n"
	    "      return pcall(function() local v = coroutine.yield('y') return v end) end))\n"
	    "    assert(okp and yv == 'y')\n"
	    "    assert(type(now()) == 'number' and math.type(now()) == 'integer')\n"
	    "    assert(io == nil and os == nil and debug == nil and package == nil)\n"
	    "    assert(dofile == nil and loadfile == nil and string.dump == nil)\n"
	    "  end,\n"
	    "}\n", 200000, 8 * MiB);
	CHECK(sb != NULL);
	if (sb != NULL)
		CHECK_INT(handle_simple(sb, "go", "{}"), SB_HANDLED);
	sandbox_free(sb);
}

static void test_version(void)
{
	struct merchant m1, m2, m3;
	struct sandbox *a, *b, *c;
	const char *v;
	char v0[13] = "";

	memset(&m1, 0, sizeof m1);
	memset(&m2, 0, sizeof m2);
	memset(&m3, 0, sizeof m3);
	a = open_wf(&m1, "workflows/v1.lua", "return {}\n", 200000, 8 * MiB);
	b = open_wf(&m2, "workflows/v2.lua", "return {}\n", 200000, 8 * MiB);
	c = open_wf(&m3, "workflows/v3.lua", "return { }\n", 200000, 8 * MiB);
	CHECK(a && b && c);
	if (a && b && c) {
		v = sandbox_version(a);
		CHECK_INT(strlen(v), 12);
		CHECK(strspn(v, "0123456789abcdef") == 12);
		CHECK_STR(sandbox_version(b), v);       /* same content */
		CHECK(strcmp(sandbox_version(c), v) != 0);
		CHECK(sandbox_memory(a) > 0 && sandbox_memory(a) < 8 * MiB);
		snprintf(v0, sizeof v0, "%s", v);
	}
	sandbox_free(a);
	sandbox_free(b);
	sandbox_free(c);

	/* The version covers the modules the workflow requires. */
	write_file("scripts/vmod.lua", "return { n = 1 }\n");
	a = open_wf(&m1, "workflows/v4.lua", "local v = require 'vmod'\nreturn {}\n", 200000, 8 * MiB);
	write_file("scripts/vmod.lua", "return { n = 2 }\n");
	b = open_wf(&m2, "workflows/v4.lua", "local v = require 'vmod'\nreturn {}\n", 200000, 8 * MiB);
	c = open_wf(&m3, "workflows/v5.lua", "return {}\n", 200000, 8 * MiB);
	CHECK(a && b && c);
	if (a && b && c) {
		CHECK(strcmp(sandbox_version(a), sandbox_version(b)) != 0);
		CHECK(strcmp(sandbox_version(a), v0) != 0);
		CHECK_STR(sandbox_version(c), v0);     /* no module: the file's own hash */
		CHECK_HAS(sandbox_file(a, 0), "/workflows/v4.lua");
		CHECK_HAS(sandbox_file(a, 1), "/scripts/vmod.lua");
		CHECK(sandbox_file(a, 2) == NULL);
		CHECK(sandbox_uses_file(a, sandbox_file(a, 1)));
		CHECK(!sandbox_uses_file(c, sandbox_file(a, 1)));
	}
	sandbox_free(a);
	sandbox_free(b);
	sandbox_free(c);
	sandbox_free(NULL);
}

static void test_money_json_time(void)
{
	struct merchant m;
	struct sandbox *sb;

	clock_set_virtual(INT64_C(1767225600000)); /* 2026-01-01 */
	memset(&m, 0, sizeof m);
	sb = open_wf(&m, "workflows/mods.lua",
	    "return {\n"
	    "  go = function(e)\n"
	    "    local p = money.parse('19.99', 'USD')\n"
	    "    assert(p == 1999 and math.type(p) == 'integer', 'parse')\n"
	    "    assert(money.parse('1000', 'JPY') == 1000 and money.parse('1.234', 'KWD') == 1234)\n"
	    "    local ok, msg = pcall(money.parse, 19.99, 'USD')\n"
	    "    assert(not ok and msg:find('must be a decimal string', 1, true), 'float refused')\n"
	    "    ok, msg = pcall(money.parse, 1999, 'USD')\n"
	    "    assert(not ok, 'integer refused too')\n"
	    "    ok, msg = pcall(money.parse, '19.999', 'USD')\n"
	    "    assert(not ok and msg:find('19.999', 1, true) and msg:find('USD', 1, true), msg)\n"
	    "    ok, msg = pcall(money.parse, '1', 'XXQ')\n"
	    "    assert(not ok and msg:find('unknown currency \"XXQ\"', 1, true), msg)\n"
	    "    assert(money.format(1999, 'USD') == '19.99' and money.format(-5, 'USD') == '-0.05')\n"
	    "    assert(not pcall(money.format, 19.99, 'USD'), 'format refuses floats')\n"
	    "    assert(money.exponent('JPY') == 0 and money.exponent('KWD') == 3)\n"
	    "\n"
	    "    local text = '{\"a\":[1,2,{\"b\":\"x\"}],\"big\":9007199254740993,\"f\":0.5}'\n"
	    "    local v = json.decode(text)\n"
	    "    assert(v.big == 9007199254740993 and math.type(v.big) == 'integer', 'big')\n"
	    "    assert(v.a[3].b == 'x' and v.f == 0.5)\n"
	    "    assert(json.encode(v) == text, json.encode(v))\n"
	    "    assert(json.encode({}) == '{}' and json.encode('x') == '\"x\"')\n"
	    "    assert(json.decode('null') == nil and json.decode('[1]')[1] == 1)\n"
	    "    ok, msg = pcall(json.decode, '{\"a\":')\n"
	    "    assert(not ok and msg:find('at byte 5', 1, true), msg)\n"
	    "    ok, msg = pcall(json.encode, {f = print})\n"
	    "    assert(not ok and msg:find('function', 1, true), msg)\n"
	    "    local cyc = {} cyc.me = cyc\n"
	    "    ok, msg = pcall(json.encode, cyc)\n"
	    "    assert(not ok and msg:find('cycle', 1, true), msg)\n"
	    "    assert(not pcall(json.encode, 0/0))\n"
	    "\n"
	    "    assert(now() == 1767225600000, 'virtual clock')\n"
	    "    assert(time.iso(0) == '1970-01-01T00:00:00.000Z', time.iso(0))\n"
	    "    assert(time.iso(now()) == '2026-01-01T00:00:00.000Z')\n"
	    "    assert(time.parse('1970-01-01T00:00:01Z') == 1000)\n"
	    "    assert(time.parse('2026-01-01T01:00:00+01:00') == now())\n"
	    "    local t, why = time.parse('yesterday')\n"
	    "    assert(t == nil and why:find('yesterday', 1, true))\n"
	    "    assert(not pcall(time.iso, 1.5))\n"
	    "  end,\n"
	    "}\n", 200000, 8 * MiB);
	CHECK(sb != NULL);
	if (sb != NULL)
		CHECK_INT(handle_simple(sb, "go", "{}"), SB_HANDLED);
	sandbox_free(sb);
	clock_use_real();
}

static void test_print_and_log(void)
{
	struct merchant m;
	struct sandbox *sb;
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);

	memset(&m, 0, sizeof m);
	strcpy(m.id, "acme");
	log_set_stream(fp);
	sb = open_wf(&m, "workflows/logs.lua",
	    "print('loading', 1)\n"
	    "return {\n"
	    "  go = function(e)\n"
	    "    print('hello', 42, nil, true)\n"
	    "    log.info('order paid', {order = 7, tags = {'a', 'b'}, note = 'x'})\n"
	    "    log.warn('low stock')\n"
	    "    log.debug('not shown at info level')\n"
	    "    log.error({'a table message'})\n"
	    "  end,\n"
	    "  oops = function(e) error('with a traceback') end,\n"
	    "}\n", 200000, 8 * MiB);
	CHECK(sb != NULL);
	if (sb == NULL) {
		log_set_stream(NULL);
		fclose(fp);
		free(buf);
		return;
	}
	CHECK_INT(handle_simple(sb, "go", "{}"), SB_HANDLED);
	log_set_level(LOG_DEBUG);
	{
		char *name = NULL, *err = NULL;

		CHECK_INT(handle(sb, "api", NULL, "oops", "{}", &name, &err), SB_ERROR);
		free(name);
		free(err);
	}
	log_set_level(LOG_INFO);
	log_set_stream(NULL);
	fclose(fp);

	CHECK_HAS(buf, "\"msg\":\"loading\\t1\",\"merchant\":\"acme\",\"source\":\"print\"}");
	CHECK_HAS(buf, "\"msg\":\"hello\\t42\\tnil\\ttrue\"");
	CHECK_HAS(buf, "\"merchant\":\"acme\",\"event_id\":\"42\",\"source\":\"print\"");
	CHECK_HAS(buf, "\"level\":\"info\",\"msg\":\"order paid\",\"merchant\":\"acme\"");
	CHECK_HAS(buf, "\"note\":\"x\",\"order\":\"7\",\"tags\":\"[\\\"a\\\",\\\"b\\\"]\"");
	CHECK_HAS(buf, "\"level\":\"warn\",\"msg\":\"low stock\"");
	CHECK_HAS(buf, "\"level\":\"error\",\"msg\":\"[\\\"a table message\\\"]\"");
	CHECK(strstr(buf, "not shown") == NULL);
	CHECK_HAS(buf, "\"traceback\":\"workflows/logs.lua:10: with a traceback\\nstack traceback:");
	free(buf);
	sandbox_free(sb);
}

/*
 * Out of memory at each allocation point of a handler in turn (issue 8's
 * "fail the Nth allocation" for the Lua states): from the
 * n-th allocation of the run on, every one is refused. Each run must end
 * handled (n past the handler's last allocation) or with a clear error,
 * never a crash, a leak (ASan) or a wedged state: the same sandbox then
 * handles the event normally.
 */
static void test_allocation_failures(void)
{
	struct merchant m;
	struct sandbox *sb;
	int64_t n, failed = 0, limit = 0;
	const char *payload = "{\"total\":\"19.99\"}";

	/* Every run makes new strings (an interned one from an earlier run
	 * would need no allocation), a table, a concatenation and a host call. */
	static const char oom_wf[] =
	    "local runs = 0\n"
	    "return {\n"
	    "  order_created = function(e)\n"
	    "    runs = runs + 1\n"
	    "    local t = {}\n"
	    "    for i = 1, 500 do t[i] = ('%d-%d'):format(runs, i) end\n"
	    "    local s = table.concat(t, ',')\n"
	    "    assert(#s > 1000 and money.parse(e.total, 'USD') == 1999)\n"
	    "  end,\n"
	    "}\n";

	write_shared_fixtures();
	sb = open_wf(&m, "workflows/oom.lua", oom_wf, 0, 0);
	CHECK(sb != NULL);
	if (sb == NULL)
		return;
	for (n = 1; n < 100000; n++) {
		char *name = NULL, *err = NULL;
		int rc;

		sandbox_fail_allocations(sb, n);
		rc = handle(sb, "api", NULL, "order_created", payload, &name, &err);
		sandbox_fail_allocations(sb, 0);
		if (rc == SB_HANDLED) {
			free(name);
			free(err);
			break;
		}
		if (rc != SB_ERROR)
			fprintf(stderr, "  allocation %lld: rc %d\n", (long long)n, rc);
		CHECK(rc == SB_ERROR);
		CHECK(err != NULL && strstr(err, "order_created: out of memory: the system refused"
		    " an allocation") == err);
		if (getenv("T_VERBOSE") != NULL)
			fprintf(stderr, "  allocation %lld: %s\n", (long long)n, err ? err : "");
		limit += rc == SB_ERROR;
		failed++;
		free(name);
		free(err);
		CHECK_INT(handle_simple(sb, "order_created", payload), SB_HANDLED);
	}
	/* The handler allocates hundreds of times; every point was tried. */
	CHECK(failed > 500 && n < 100000);
	CHECK(limit == failed);   /* SB_ERROR: retried, unlike the cap (SB_LIMIT) */
	fprintf(stderr, "  %lld allocation points failed cleanly\n", (long long)failed);
	sandbox_free(sb);
}

/*
 * The same at load (a reload can meet a system out of memory too): the
 * workflow, a module it requires and a channel adapter, failed at each
 * allocation of the load in turn. Each must end with NULL and an "out of
 * memory" error, nothing leaked (ASan), until the load succeeds.
 */
static void test_allocation_failures_at_load(void)
{
	struct merchant m;
	struct sandbox *sb = NULL;
	int64_t n, failed = 0;

	write_file("scripts/oomlib/shapes.lua",
	    "local M = {}\n"
	    "for i = 1, 200 do M['k' .. i] = { i, tostring(i) } end\n"
	    "return M\n");
	write_file("scripts/channels/generic.lua",
	    "return { translate = function(ev) return { name = ev.topic } end }\n");
	write_file("workflows/oomload.lua",
	    "local shapes = require 'oomlib.shapes'\n"
	    "local names = {}\n"
	    "for k in pairs(shapes) do names[#names + 1] = k .. '!' end\n"
	    "return { order_created = function(e) return #names end }\n");
	merchant_init(&m, "m1", "workflows/oomload.lua", 0, 0);
	m.cfg.channel_secret[CH_GENERIC] = "secret";
	for (n = 1; n < 100000; n++) {
		char *err = NULL;

		m.env.fail_allocations_from = n;
		sb = sandbox_new(&m.env, &err);
		if (sb != NULL) {
			free(err);
			break;
		}
		if (err == NULL || strstr(err, "out of memory") == NULL)
			fprintf(stderr, "  load allocation %lld: %s\n", (long long)n, err ? err : "(null)");
		CHECK(err != NULL && strstr(err, "out of memory") != NULL);
		failed++;
		free(err);
	}
	CHECK(sb != NULL && failed > 200 && n < 100000);
	/* The sandbox that finally loaded works, with injection over. */
	if (sb != NULL)
		CHECK_INT(handle_simple(sb, "order_created", "{}"), SB_HANDLED);
	fprintf(stderr, "  %lld load allocation points failed cleanly\n", (long long)failed);
	sandbox_free(sb);
	/* Other tests want no generic adapter. */
	{
		char path[128];

		snprintf(path, sizeof path, "%s/scripts/channels/generic.lua", root);
		CHECK_INT(unlink(path), 0);
	}
}

T_MAIN(test_hostile, test_allocation_failures, test_allocation_failures_at_load, test_bad_workflows, test_channel_adapters_at_load, test_event_fields,
    test_unhandled_and_errors, test_webhook_adapter, test_require, test_base_library,
    test_version, test_money_json_time, test_print_and_log)
