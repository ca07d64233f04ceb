/*
 * test_lint — `ordo check`'s warnings, as a table: a workflow (and the
 * modules it requires) in, the warnings "file:line: message" out.
 *
 * Fixture scripts are written under a mkdtemp folder laid out like the
 * real tree (<root>/scripts, <root>/workflows), so display paths are
 * "workflows/w.lua".
 */
#include <ftw.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ordo/lint.h"
#include "ordo/log.h"
#include "ordo/sandbox.h"
#include "t.h"

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

static void write_file(const char *rel, const char *text)
{
	char path[512];
	FILE *fp;

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

static int test_open(lua_State *L)
{
	lua_newtable(L);
	return 1;
}

static const struct sandbox_module modules[] = {
	{ "orders", test_open }, { "timers", test_open }, { NULL, NULL },
};

struct got {
	char text[4096];
	int n;
};

static void collect(void *arg, const char *file, int line, const char *msg)
{
	struct got *g = arg;
	size_t len = strlen(g->text);

	snprintf(g->text + len, sizeof g->text - len, "%s:%d: %s\n", file, line, msg);
	g->n++;
}

static const struct {
	const char *workflow, *module, *want;
} cases[] = {
	/* Clean: storefront and host events, a timer the script names, a
	 * global the script defines (even after reading it), host modules. */
	{ "local flow = {}\n"
	  "function flow.order_created(ev)\n"
	  "  count = (count or 0) + 1\n"
	  "  timers.after('1d', 'remind_me', {})\n"
	  "  orders.create(ev.order)\n"
	  "end\n"
	  "function flow.remind_me(ev) print(string.format('%d', count)) end\n"
	  "flow.cancel_requested = function(ev) end\n"
	  "return flow\n", NULL, "" },
	/* A handler nobody raises, at the line of its function. */
	{ "local flow = {}\n"
	  "\n"
	  "function flow.order_creatd(ev)\n"
	  "end\n"
	  "return flow\n", NULL,
	  "workflows/w.lua:3: handler 'order_creatd' is for an event that nothing raises" },
	/* Undefined globals: each once per file, at its first read. */
	{ "local flow = {}\n"
	  "function flow.order_created(ev)\n"
	  "  if ev.total > LIMIT then\n"
	  "    notfy.customer(ev)\n"
	  "  end\n"
	  "  return LIMIT\n"
	  "end\n"
	  "return flow\n", NULL,
	  "workflows/w.lua:3: global 'LIMIT' is read but never defined (a typo, or a missing local?)\n"
	  "workflows/w.lua:4: global 'notfy' is read but never defined" },
	/* In a required module, named by its own path; a name the module
	 * value-mentions ("order_shipped_late") counts as raised. */
	{ "local m = require 'lintmod'\n"
	  "return { order_shipped_late = m.f, order_created = function() end }\n",
	  "local M = {}\n"
	  "local names = { late = 'order_shipped_late' }\n"
	  "function M.f(ev)\n"
	  "  return undefined_thing\n"
	  "end\n"
	  "return M\n",
	  "scripts/lintmod.lua:4: global 'undefined_thing' is read but never defined" },
	/* Locals shadowing, upvalues and a field of a local are not globals. */
	{ "local LIMIT = 5\n"
	  "local t = { x = 1 }\n"
	  "return { order_created = function(ev)\n"
	  "  local function inner() return LIMIT + t.x end\n"
	  "  return inner()\n"
	  "end }\n", NULL, "" },
};

static void test_cases(void)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct merchant_config m = { .id = "m1", .name = "m1", .currency = "USD",
		    .timezone = "UTC" };
		struct sandbox_env env = { .merchant = &m, .scripts_dir = scripts_dir,
		    .modules = modules };
		char wf[512], *err = NULL, *r = lint_root(scripts_dir);
		struct sandbox *sb;
		struct got g = { .text = "" };
		int n;

		snprintf(wf, sizeof wf, "%s/workflows/w.lua", root);
		m.workflow = wf;
		write_file("workflows/w.lua", cases[i].workflow);
		if (cases[i].module)
			write_file("scripts/lintmod.lua", cases[i].module);
		sb = sandbox_new(&env, &err);
		CHECK(sb != NULL);
		if (sb == NULL) {
			fprintf(stderr, "case %zu: %s\n", i, err);
		} else {
			n = lint_sandbox(sb, r, collect, &g, &err);
			CHECK_INT(n, g.n);
			if (cases[i].want[0] == '\0')
				CHECK_STR(g.text, "");
			else
				CHECK_HAS(g.text, cases[i].want);
			if (t_current_failed)
				fprintf(stderr, "case %zu got:\n%s", i, g.text);
		}
		sandbox_free(sb);
		free(err);
		free(r);
	}
}

/* A file that changed into something that no longer compiles between the
 * load and the check is an error, not a silent pass. */
static void test_changed_under_it(void)
{
	struct merchant_config m = { .id = "m1", .name = "m1", .currency = "USD", .timezone = "UTC" };
	struct sandbox_env env = { .merchant = &m, .scripts_dir = scripts_dir, .modules = modules };
	char wf[512], *err = NULL;
	struct sandbox *sb;
	struct got g = { .text = "" };

	snprintf(wf, sizeof wf, "%s/workflows/w.lua", root);
	m.workflow = wf;
	write_file("workflows/w.lua", "return {}\n");
	sb = sandbox_new(&env, &err);
	CHECK(sb != NULL);
	write_file("workflows/w.lua", "return {\n");
	CHECK_INT(lint_sandbox(sb, NULL, collect, &g, &err), -1);
	CHECK_HAS(err, "w.lua:");
	free(err);
	sandbox_free(sb);
}

static void setup(void)
{
	snprintf(root, sizeof root, "/tmp/ordo-lint-XXXXXX");
	if (mkdtemp(root) == NULL) {
		perror("mkdtemp");
		exit(2);
	}
	atexit(cleanup);
	snprintf(scripts_dir, sizeof scripts_dir, "%s/scripts", root);
	mkdir(scripts_dir, 0755);
	log_set_level(LOG_ERROR);
}

static void test_setup(void)
{
	setup();
}

/* A script reading 20,000 undefined globals (in functions that never run,
 * so it loads): 100 warnings and one "and 19900 more", never 20,000 lines
 * (the check runs on every reload, on the daemon's loop). */
static void test_many_globals(void)
{
	struct merchant_config m = { .id = "m1", .name = "m1", .currency = "USD", .timezone = "UTC" };
	struct sandbox_env env = { .merchant = &m, .scripts_dir = scripts_dir, .modules = modules };
	char wf[512], *err = NULL, *r = lint_root(scripts_dir), *src;
	struct got g = { .text = "" };
	struct sandbox *sb;
	size_t len = 0, cap = 1 << 20;

	src = malloc(cap);
	CHECK(src != NULL);
	if (src == NULL)
		return;
	len += (size_t)snprintf(src + len, cap - len, "local t = {}\n");
	for (int f = 0; f < 80; f++) {
		len += (size_t)snprintf(src + len, cap - len, "t[%d] = function() return 0", f);
		for (int i = 0; i < 250; i++)
			len += (size_t)snprintf(src + len, cap - len, ",g%d", f * 250 + i);
		len += (size_t)snprintf(src + len, cap - len, " end\n");
	}
	snprintf(src + len, cap - len, "return { order_created = function() end }\n");
	snprintf(wf, sizeof wf, "%s/workflows/many.lua", root);
	m.workflow = wf;
	write_file("workflows/many.lua", src);
	free(src);
	sb = sandbox_new(&env, &err);
	CHECK(sb != NULL);
	if (sb != NULL) {
		CHECK_INT(lint_sandbox(sb, r, collect, &g, &err), 101);
		CHECK_INT(g.n, 101);
		CHECK_HAS(g.text, "workflows/many.lua:2: global 'g0' is read but never defined");
	}
	sandbox_free(sb);
	free(err);
	free(r);
}

T_MAIN(test_setup, test_cases, test_changed_under_it, test_many_globals)
