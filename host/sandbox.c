/*
 * sandbox — one Lua 5.4 state per merchant, its limits, and the one door
 * into it (sandbox_handle).
 *
 * Depends on Lua, luajson, the l_* binding files (lmods.h), config (channel
 * names), crypto (the version hash) and log. It never touches the database
 * itself: bindings reach it through sandbox_db().
 *
 * What a script can reach: base without dofile/loadfile (print goes to the
 * log; load takes text only; collectgarbage is restricted; setmetatable
 * refuses __gc, whose finalizers would run outside any budget), string
 * without dump and with its metatable protected, table, math, utf8,
 * coroutine, the host modules, and a require confined to scripts/ and the
 * workflow's folder. No io, os, debug or package.
 *
 * Limits, and why they hold:
 *  - Instructions: a count hook every HOOK_EVERY instructions adds to a
 *    per-run counter. Once past the budget it sets a flag, re-arms itself on
 *    that thread to fire on every instruction and raises; while the flag is
 *    set every further hook call raises again, so `while true do pcall(f)
 *    end` cannot swallow it. New coroutines inherit the hook. Two kinds of
 *    work the hook cannot see are charged too: a new thread costs
 *    HOOK_EVERY (it may run that many instructions before its own hook
 *    fires), and allocated bytes cost 1 per ALLOC_COST_BYTES (C functions
 *    such as string.rep run without hooks; their work is what they allocate).
 *    Lua code that would run with hooks off after the limit (an xpcall
 *    handler, <close> variables of a coroutine the limit killed) is dealt
 *    with where xpcall and coroutine.create/wrap are replaced, below.
 *  - Memory: the allocator counts bytes and refuses past the cap. Lua then
 *    runs an emergency collection and asks again; when that retry succeeds
 *    the refusal did not count, so only a real failure is reported as one.
 *    The message handler gets some slack, so a traceback can still be made.
 *    A memory error carries no position (Lua raises it without a message
 *    handler), so the message names where the hook last saw the script.
 *  - Known gap: string patterns (find, match, gsub) can backtrack for a
 *    long time inside C without allocating; neither limit sees that.
 *
 * Everything a run does — pushing the payload, building the event, the
 * adapter, the handler — happens inside one lua_pcall with a message
 * handler that keeps a traceback. No Lua error ever leaves this file.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lauxlib.h>
#include <lualib.h>

#include "ordo/crypto.h"
#include "ordo/jsonscan.h"
#include "ordo/lmods.h"
#include "ordo/log.h"
#include "ordo/luajson.h"
#include "ordo/sandbox.h"

#define HOOK_EVERY        1000                /* instructions between hook calls */
#define ALLOC_COST_BYTES  64                  /* bytes allocated per charged instruction */
#define MAX_SOURCE        (1024 * 1024)       /* largest script file */
#define MSGH_SLACK        (1024 * 1024)       /* extra bytes for the message handler */
#define MAX_ERR_TEXT      1000                /* bytes of an error message kept */
#define MAX_MODULE_NAME   128
#define DEFAULT_INSTRUCTIONS INT64_C(10000000)
#define DEFAULT_MEMORY       (INT64_C(64) * 1024 * 1024)

#define WHERE_LEN (LUA_IDSIZE + 24)

struct sandbox {
	lua_State *L;
	const struct merchant_config *merchant;
	struct db *db;
	const struct sandbox_module *modules;
	const struct sandbox_translator *translators;
	int effects_asked;      /* sandbox_next_effect's counter for this run */
	char *scripts_dir;      /* without a trailing '/'; NULL if none */
	char *root;             /* parent of scripts_dir: display paths start here */
	char *workflow_dir;
	char *workflow_name;    /* display path, also the chunk name */
	int handlers_ref;
	char version[13];
	/* The version: SHA-256 of the workflow, then chained with each module
	 * loaded: digest = SHA-256(digest || display name || NUL || source). */
	unsigned char digest[CRYPTO_SHA256_LEN];
	char **files;           /* real paths of every file loaded, workflow first */
	size_t n_files;

	/* Memory. */
	size_t mem_used;
	size_t mem_limit;
	int slack;              /* message handler running: allow MSGH_SLACK more */
	int closing;            /* sandbox_free: no cap */
	struct {                /* the last refusal, which Lua may retry */
		int set, restore;
		void *ptr;
		size_t osize, nsize;
	} pend;
	int64_t fail_from;      /* tests: refuse the n-th growing allocation of a run on */
	int64_t allocs;         /* growing allocations of this run */
	int sys_oom;            /* the last refusal was the system's, not the cap */

	/* The current run (sandbox_new's load, or one sandbox_handle). */
	int running;
	int64_t instr_count;
	int64_t instr_limit;
	int instr_hit;          /* budget spent: every hook call raises */
	int mem_hit;            /* the allocator refused (and a retry did not help) */
	char instr_where[WHERE_LEN]; /* "workflows/w.lua:3" where the budget ran out */
	char seen_where[WHERE_LEN];  /* where the last hook call found the script */
	const struct sandbox_event *ev;
	int64_t event_id;
	int result;             /* SB_HANDLED or SB_UNHANDLED, set by run_event */
	char *name;             /* the event name, once known */
	char *trace;            /* traceback of the last error */
	const void *trace_obj;  /* the error value `trace` belongs to */
	const char *load_buf;   /* the workflow source, during sandbox_new */
	size_t load_len;
};

/* Registry keys: only their (distinct) addresses matter. */
static char MODULES_KEY;   /* require's cache: name -> value */
static char LOADING_KEY;   /* sentinel in the cache: loading now */

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

struct sandbox *sandbox_of(lua_State *L)
{
	return *(struct sandbox **)lua_getextraspace(L);
}

/* Raise a message without a position prefix (for errors about files and
 * values rather than a line of a script). */
static int throwf(lua_State *L, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	lua_pushvfstring(L, fmt, ap);
	va_end(ap);
	return lua_error(L);
}

/* "8 MiB", "512 KiB", "1000 bytes". */
static void format_bytes(int64_t n, char *buf, size_t len)
{
	if (n > 0 && n % (1024 * 1024) == 0)
		snprintf(buf, len, "%lld MiB", (long long)(n / (1024 * 1024)));
	else if (n > 0 && n % 1024 == 0)
		snprintf(buf, len, "%lld KiB", (long long)(n / 1024));
	else
		snprintf(buf, len, "%lld bytes", (long long)n);
}

static char *xstrdup(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

/* A malloc'd copy of path without trailing slashes (except a lone "/"). */
static char *strip_slashes(const char *path)
{
	char *p = strdup(path);
	size_t n;

	if (p == NULL)
		return NULL;
	n = strlen(p);
	while (n > 1 && p[n - 1] == '/')
		p[--n] = '\0';
	return p;
}

/* A malloc'd copy of the folder part of path ("." if it has none). */
static char *parent_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *p;

	if (slash == NULL)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	if ((p = malloc((size_t)(slash - path) + 1)) == NULL)
		return NULL;
	memcpy(p, path, (size_t)(slash - path));
	p[slash - path] = '\0';
	return p;
}

/* How a script file is named in messages: relative to the folder that
 * holds scripts/ when it is under it ("scripts/channels/shopify.lua",
 * "workflows/standard.lua"), else as given. Points into path. */
static const char *display_path(const struct sandbox *sb, const char *path)
{
	size_t n;

	if (sb->root == NULL)
		return path;
	if (strcmp(sb->root, "/") == 0)
		return path[0] == '/' ? path + 1 : path;
	n = strlen(sb->root);
	if (strncmp(path, sb->root, n) == 0 && path[n] == '/')
		return path + n + 1;
	return path;
}

/* Read a whole script file (at most MAX_SOURCE bytes) into a malloc'd
 * buffer. @return 0, or -1 with a message in err. */
static int read_source(const char *path, char **out, size_t *outlen,
    char *err, size_t errlen)
{
	FILE *fp = NULL;
	struct stat st;
	char *buf = NULL;
	int rc = -1;

	*out = NULL;
	*outlen = 0;
	if ((fp = fopen(path, "rb")) == NULL) {
		snprintf(err, errlen, "cannot open: %s", strerror(errno));
		goto out;
	}
	if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "not a regular file");
		goto out;
	}
	if (st.st_size > MAX_SOURCE) {
		snprintf(err, errlen, "larger than %d KiB", MAX_SOURCE / 1024);
		goto out;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (fread(buf, 1, (size_t)st.st_size, fp) != (size_t)st.st_size || ferror(fp)) {
		snprintf(err, errlen, "cannot read: %s", strerror(errno));
		goto out;
	}
	buf[st.st_size] = '\0';
	*out = buf;
	*outlen = (size_t)st.st_size;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	if (fp != NULL)
		fclose(fp);
	return rc;
}

/* Fold one loaded file into the version and remember its path (as
 * realpath() has it, so the file watcher can match it). Never raises.
 * @return 0, or -1 out of memory. */
static int note_source(struct sandbox *sb, const char *path, const char *name,
    const char *src, size_t len, int first)
{
	char hex[2 * CRYPTO_SHA256_LEN + 1], *real, **files;
	size_t nlen = strlen(name);
	unsigned char *buf;

	if (first) {
		crypto_sha256(src, len, sb->digest);
	} else {
		if ((buf = malloc(CRYPTO_SHA256_LEN + nlen + 1 + len)) == NULL)
			return -1;
		memcpy(buf, sb->digest, CRYPTO_SHA256_LEN);
		memcpy(buf + CRYPTO_SHA256_LEN, name, nlen + 1);
		memcpy(buf + CRYPTO_SHA256_LEN + nlen + 1, src, len);
		crypto_sha256(buf, CRYPTO_SHA256_LEN + nlen + 1 + len, sb->digest);
		free(buf);
	}
	crypto_hex(sb->digest, sizeof sb->digest, hex);
	memcpy(sb->version, hex, 12);
	sb->version[12] = '\0';
	if ((real = realpath(path, NULL)) == NULL && (real = strdup(path)) == NULL)
		return -1;
	if ((files = realloc(sb->files, (sb->n_files + 1) * sizeof *files)) == NULL) {
		free(real);
		return -1;
	}
	sb->files = files;
	sb->files[sb->n_files++] = real;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Limits: the allocator and the count hook                            */
/* ------------------------------------------------------------------ */

static void refuse(struct sandbox *sb, void *ptr, size_t osize, size_t nsize)
{
	/* Remember the request: if Lua's emergency collection makes room and
	 * the same request then succeeds, this refusal did not count. */
	sb->pend.set = 1;
	sb->pend.restore = sb->mem_hit;
	sb->pend.ptr = ptr;
	sb->pend.osize = osize;
	sb->pend.nsize = nsize;
	sb->mem_hit = 1;
}

static void *sb_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct sandbox *sb = ud;
	size_t old = ptr != NULL ? osize : 0;
	void *p;

	if (nsize == 0) {
		free(ptr);
		sb->mem_used -= old;
		return NULL;
	}
	if (nsize > old && !sb->closing) {
		size_t limit = sb->mem_limit + (sb->slack ? MSGH_SLACK : 0);
		size_t grow = nsize - old;

		if (sb->running && sb->fail_from > 0 && ++sb->allocs >= sb->fail_from) {
			sb->sys_oom = 1;        /* as if malloc had said no */
			refuse(sb, ptr, osize, nsize);
			return NULL;
		}
		if (grow > limit || sb->mem_used > limit - grow) {
			sb->sys_oom = 0;
			refuse(sb, ptr, osize, nsize);
			return NULL;
		}
	}
	if ((p = realloc(ptr, nsize)) == NULL) {
		sb->sys_oom = 1;
		refuse(sb, ptr, osize, nsize);
		return NULL;
	}
	if (sb->pend.set) {
		if (sb->pend.ptr == ptr && sb->pend.osize == osize && sb->pend.nsize == nsize)
			sb->mem_hit = sb->pend.restore; /* the retry worked */
		sb->pend.set = 0;
	}
	if (sb->running) {
		if (nsize > old)
			sb->instr_count += (int64_t)((nsize - old) / ALLOC_COST_BYTES);
		if (ptr == NULL && osize == LUA_TTHREAD)
			sb->instr_count += HOOK_EVERY; /* a coroutine runs unseen at first */
	}
	sb->mem_used = sb->mem_used - old + nsize;
	return p;
}

static void where_of(lua_State *L, lua_Debug *ar, char *buf, size_t len)
{
	buf[0] = '\0';
	if (lua_getinfo(L, "Sl", ar) && ar->currentline > 0)
		snprintf(buf, len, "%s:%d", ar->short_src, ar->currentline);
}

static void count_hook(lua_State *L, lua_Debug *ar)
{
	struct sandbox *sb = sandbox_of(L);

	if (!sb->instr_hit) {
		if (lua_gethookcount(L) != HOOK_EVERY) {
			/* A thread still armed from an earlier run's limit. */
			lua_sethook(L, count_hook, LUA_MASKCOUNT, HOOK_EVERY);
			return;
		}
		sb->instr_count += HOOK_EVERY;
		if (sb->instr_count <= sb->instr_limit) {
			where_of(L, ar, sb->seen_where, sizeof sb->seen_where);
			return;
		}
		sb->instr_hit = 1;
		where_of(L, ar, sb->instr_where, sizeof sb->instr_where);
	}
	/* From now on every instruction of this thread lands here. */
	lua_sethook(L, count_hook, LUA_MASKCOUNT, 1);
	lua_pushfstring(L, "%s%sinstruction limit of %I exceeded", sb->instr_where,
	    sb->instr_where[0] ? ": " : "", (LUAI_UACINT)sb->instr_limit);
	lua_error(L);
}

/*
 * Charge `n` instructions for work a C function is about to do in a loop
 * the count hook cannot see (string.rep of "" a billion times allocates
 * nothing; table.move over a huge range touches nothing). Raises the
 * instruction-limit error, exactly as the hook would, when it does not fit.
 */
static void charge(lua_State *L, int64_t n)
{
	struct sandbox *sb = sandbox_of(L);
	lua_Debug ar;

	if (!sb->running || n <= 0)
		return;
	if (!sb->instr_hit && n <= sb->instr_limit - sb->instr_count) {
		sb->instr_count += n;
		return;
	}
	if (!sb->instr_hit) {
		sb->instr_hit = 1;
		sb->instr_count = sb->instr_limit + 1;
		sb->instr_where[0] = '\0';
		if (lua_getstack(L, 1, &ar))
			where_of(L, &ar, sb->instr_where, sizeof sb->instr_where);
	}
	lua_sethook(L, count_hook, LUA_MASKCOUNT, 1);
	lua_pushfstring(L, "%s%sinstruction limit of %I exceeded", sb->instr_where,
	    sb->instr_where[0] ? ": " : "", (LUAI_UACINT)sb->instr_limit);
	lua_error(L);
}

enum cost { COST_REP, COST_MOVE, COST_LEN, COST_SORT, COST_RANGE };

/* How many steps a library call will take, from its arguments; 0 when the
 * arguments are wrong (the library function then raises its own error). */
static int64_t cost_of(lua_State *L, enum cost kind)
{
	lua_Integer a, b, n;
	int ok1, ok2;

	switch (kind) {
	case COST_REP:   /* string.rep(s, n [, sep]) */
		/* Non-empty pieces: the work is the bytes, which the allocator
		 * charges and the memory cap bounds. Empty ones loop for free. */
		n = lua_tointegerx(L, 2, &ok1);
		if (!ok1 || n <= 0 || lua_rawlen(L, 1) > 0 ||
		    (lua_type(L, 3) == LUA_TSTRING && lua_rawlen(L, 3) > 0))
			return 0;
		return (int64_t)n;
	case COST_MOVE:  /* table.move(a1, f, e, t [, a2]) */
		a = lua_tointegerx(L, 2, &ok1);
		b = lua_tointegerx(L, 3, &ok2);
		if (!ok1 || !ok2 || b < a)
			return 0;
		return (uint64_t)b - (uint64_t)a >= (uint64_t)INT64_MAX ? INT64_MAX
		    : (int64_t)((uint64_t)b - (uint64_t)a) + 1;
	case COST_LEN:   /* table.insert/remove shift up to #t elements */
	case COST_SORT:
		if (lua_type(L, 1) != LUA_TTABLE)
			return 0;
		n = luaL_len(L, 1); /* a __len metamethod in Lua is itself counted */
		if (n <= 0)
			return 0;
		if (kind == COST_LEN)
			return (int64_t)n;
		{
			int64_t bits = 1;

			for (lua_Integer v = n; v > 1; v >>= 1)
				bits++;
			return n > INT64_MAX / bits ? INT64_MAX : (int64_t)n * bits;
		}
	case COST_RANGE: /* table.unpack(t, i, j), table.concat(t, sep, i, j) */
		if (lua_type(L, 1) != LUA_TTABLE)
			return 0;
		{
			int first = lua_tointeger(L, lua_upvalueindex(3)) ? 3 : 2;

			a = luaL_optinteger(L, first, 1);
			b = lua_isnoneornil(L, first + 1) ? luaL_len(L, 1)
			                                  : luaL_checkinteger(L, first + 1);
		}
		if (b < a)
			return 0;
		return (uint64_t)b - (uint64_t)a >= (uint64_t)INT64_MAX ? INT64_MAX
		    : (int64_t)((uint64_t)b - (uint64_t)a) + 1;
	}
	return 0;
}

/* A library function behind a charge: upvalues are the original function,
 * its cost kind, and (for COST_RANGE) whether the range starts at arg 3. */
static int costly_call(lua_State *L)
{
	charge(L, cost_of(L, (enum cost)lua_tointeger(L, lua_upvalueindex(2))));
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
	return lua_gettop(L);
}

/* Replace lib[name] (lib on the stack top) with its charged wrapper. */
static void wrap_costly(lua_State *L, const char *name, enum cost kind, int range_at_3)
{
	lua_getfield(L, -1, name);
	lua_pushinteger(L, kind);
	lua_pushinteger(L, range_at_3);
	lua_pushcclosure(L, costly_call, 3);
	lua_setfield(L, -2, name);
}

static void begin_run(struct sandbox *sb, const struct sandbox_event *ev)
{
	sb->running = 1;
	sb->instr_count = 0;
	sb->instr_hit = 0;
	sb->mem_hit = 0;
	sb->pend.set = 0;
	sb->slack = 0;
	sb->instr_where[0] = '\0';
	sb->seen_where[0] = '\0';
	sb->ev = ev;
	sb->event_id = ev != NULL ? ev->id : 0;
	sb->effects_asked = 0;
	sb->result = SB_HANDLED;
	free(sb->name);
	sb->name = NULL;
	free(sb->trace);
	sb->trace = NULL;
	sb->trace_obj = NULL;
	lua_sethook(sb->L, count_hook, LUA_MASKCOUNT, HOOK_EVERY);
}

static void end_run(struct sandbox *sb)
{
	sb->running = 0;
	sb->ev = NULL;
	sb->event_id = 0;
	sb->instr_hit = 0;
	sb->slack = 0;
	lua_sethook(sb->L, count_hook, LUA_MASKCOUNT, HOOK_EVERY);
}

/*
 * The message handler of every protected call: turns the error value into
 * a string and keeps a traceback in sb->trace. A value rethrown by require
 * (same object) keeps the first, deeper traceback.
 */
static int msgh(lua_State *L)
{
	struct sandbox *sb = sandbox_of(L);
	const void *obj;

	sb->slack = 1;
	if (lua_type(L, 1) != LUA_TSTRING) {
		int t = lua_type(L, 1);

		if (t == LUA_TNUMBER) {
			luaL_tolstring(L, 1, NULL);
		} else if (!sb->instr_hit && luaL_callmeta(L, 1, "__tostring") &&
		    lua_type(L, -1) == LUA_TSTRING) {
			/* the message is on the top */
		} else {
			lua_settop(L, 1);
			lua_pushcfunction(L, l_json_encode);
			lua_pushvalue(L, 1);
			if (t != LUA_TTABLE || lua_pcall(L, 1, 1, 0) != LUA_OK) {
				lua_settop(L, 1);
				lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
			}
		}
		lua_replace(L, 1);
		lua_settop(L, 1);
	}
	obj = lua_topointer(L, 1);
	if (obj == NULL || obj != sb->trace_obj) {
		char *copy;

		luaL_traceback(L, L, lua_tostring(L, 1), 1);
		copy = xstrdup(lua_tostring(L, -1));
		free(sb->trace);
		sb->trace = copy;
		sb->trace_obj = obj;
		lua_pop(L, 1);
	}
	sb->slack = 0;
	return 1;
}

static int panic(lua_State *L)
{
	const char *msg = lua_tostring(L, -1);

	log_error("lua panic", "error", msg != NULL ? msg : "(not a string)", NULL);
	return 0; /* Lua aborts */
}

/* ------------------------------------------------------------------ */
/* The restricted base library                                         */
/* ------------------------------------------------------------------ */

/* load(chunk [, chunkname [, mode [, env]]]): always mode "t". */
static int sb_load(lua_State *L)
{
	int n = lua_gettop(L);

	if (n > 4)
		lua_settop(L, n = 4);
	if (n < 3)
		lua_settop(L, 3);
	lua_pushliteral(L, "t");
	lua_replace(L, 3);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	/* Without a 4th argument the chunk gets the globals, as in plain Lua. */
	lua_call(L, n >= 4 ? 4 : 3, LUA_MULTRET);
	return lua_gettop(L);
}

static int sb_collectgarbage(lua_State *L)
{
	const char *opt = luaL_optstring(L, 1, "collect");

	if (strcmp(opt, "collect") != 0 && strcmp(opt, "count") != 0 &&
	    strcmp(opt, "step") != 0)
		return luaL_error(L, "collectgarbage(\"%s\") is not allowed here "
		    "(only \"collect\", \"count\" and \"step\")", opt);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
	return lua_gettop(L);
}

/* setmetatable without finalizers: a __gc would run during collection,
 * where no instruction budget applies. */
static int sb_setmetatable(lua_State *L)
{
	int t = lua_type(L, 2);

	luaL_checktype(L, 1, LUA_TTABLE);
	luaL_argexpected(L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table");
	if (t == LUA_TTABLE) {
		lua_pushliteral(L, "__gc");
		if (lua_rawget(L, 2) != LUA_TNIL)
			return luaL_error(L, "setmetatable: a metatable with __gc is not "
			    "allowed (finalizers would run outside the script's limits)");
		lua_pop(L, 1);
	}
	if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL)
		return luaL_error(L, "cannot change a protected metatable");
	lua_settop(L, 2);
	lua_setmetatable(L, 1);
	return 1;
}

/*
 * Code the hook cannot see. Lua runs a message handler, and closes
 * to-be-closed variables, with debug hooks switched off whenever the error
 * was raised from inside a hook — which is how the instruction limit
 * raises. Two places could then run Lua code without any budget:
 *  - an xpcall handler: ours skips the script's handler once the limit is
 *    hit (the error passes through unchanged);
 *  - a coroutine that died from the limit, whose <close> variables
 *    coroutine.wrap/close would run later: every coroutine body runs under
 *    a pcall inside its own thread, which switches hooks back on before
 *    anything is closed, so those __close calls hit the limit again.
 */
static int xpcall_msgh(lua_State *L)
{
	if (sandbox_of(L)->instr_hit)
		return 1;
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, 1);
	return 1;
}

/* As lbaselib's finishpcall. */
static int finish_xpcall(lua_State *L, int status, lua_KContext extra)
{
	if (status != LUA_OK && status != LUA_YIELD) {
		lua_pushboolean(L, 0);
		lua_pushvalue(L, -2);
		return 2;
	}
	return lua_gettop(L) - (int)extra;
}

static int sb_xpcall(lua_State *L)
{
	int n = lua_gettop(L), status;

	luaL_checktype(L, 2, LUA_TFUNCTION);
	lua_pushvalue(L, 2);
	lua_pushcclosure(L, xpcall_msgh, 1);
	lua_replace(L, 2);
	lua_pushboolean(L, 1);
	lua_pushvalue(L, 1);
	lua_rotate(L, 3, 2);
	status = lua_pcallk(L, n - 2, LUA_MULTRET, 2, 2, finish_xpcall);
	return finish_xpcall(L, status, 2);
}

static int co_body_k(lua_State *L, int status, lua_KContext ctx)
{
	(void)ctx;
	if (status != LUA_OK && status != LUA_YIELD)
		return lua_error(L); /* rethrown outside any hook */
	return lua_gettop(L);
}

static int co_body(lua_State *L)
{
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	return co_body_k(L, lua_pcallk(L, lua_gettop(L) - 1, LUA_MULTRET, 0, 0, co_body_k), 0);
}

/* coroutine.create and coroutine.wrap (the original is upvalue 1). */
static int sb_coroutine_new(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TFUNCTION);
	lua_settop(L, 1);
	lua_pushcclosure(L, co_body, 1);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, 1, 1);
	return 1;
}

static int string_mt_newindex(lua_State *L)
{
	return luaL_error(L, "the string metatable is protected");
}

/* ------------------------------------------------------------------ */
/* require                                                             */
/* ------------------------------------------------------------------ */

static int is_ident_start(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static int is_ident_char(int c)
{
	return is_ident_start(c) || (c >= '0' && c <= '9');
}

/* ^[A-Za-z_][A-Za-z0-9_]*(%.[A-Za-z_][A-Za-z0-9_]*)*$, and not too long. */
static int valid_module_name(const char *s, size_t len)
{
	size_t i = 0;

	if (len == 0 || len > MAX_MODULE_NAME || strlen(s) != len)
		return 0;
	for (;;) {
		if (i >= len || !is_ident_start((unsigned char)s[i]))
			return 0;
		for (i++; i < len && is_ident_char((unsigned char)s[i]); i++)
			;
		if (i == len)
			return 1;
		if (s[i] != '.')
			return 0;
		i++;
	}
}

/* <dir>/<name with '.' as '/'>.lua into buf. @return 0, or -1 if it
 * does not fit. */
static int module_path(const char *dir, const char *name, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s.lua", dir, name);
	char *p;

	if (n < 0 || (size_t)n >= len)
		return -1;
	for (p = buf + strlen(dir) + 1; *p != '\0'; p++)
		if (*p == '.' && strcmp(p, ".lua") != 0)
			*p = '/';
	return 0;
}

static int is_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/*
 * require(name): a host module (json, orders, ...) or a script from
 * scripts/ or the workflow's folder, loaded once per state. Raises.
 */
static int sb_require(lua_State *L)
{
	struct sandbox *sb = sandbox_of(L);
	char path[4096], chunk[4096 + 1], why[128];
	const char *dirs[2], *name, *found = NULL;
	size_t len;
	char *src = NULL;
	size_t srclen;
	int status, cache, ndirs = 0;

	if (lua_type(L, 1) != LUA_TSTRING)
		return luaL_error(L, "require: module name must be a string, got %s",
		    luaL_typename(L, 1));
	name = lua_tolstring(L, 1, &len);
	if (!valid_module_name(name, len))
		return luaL_error(L, "require: invalid module name '%s' (use dotted "
		    "names like 'channels.shopify'; no paths)", len > 64 ? "(too long)" : name);
	lua_settop(L, 1);

	/* Host modules and the standard libraries. */
	lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
	if (lua_getfield(L, -1, name) != LUA_TNIL)
		return 1;
	lua_settop(L, 1);

	lua_rawgetp(L, LUA_REGISTRYINDEX, &MODULES_KEY);
	cache = lua_gettop(L);
	lua_pushvalue(L, 1);
	lua_rawget(L, cache);
	if (lua_touserdata(L, -1) == &LOADING_KEY)
		return luaL_error(L, "require: loop while loading module '%s' (it "
		    "requires itself, directly or through other modules)", name);
	if (!lua_isnil(L, -1))
		return 1;
	lua_pop(L, 1);

	if (sb->scripts_dir != NULL)
		dirs[ndirs++] = sb->scripts_dir;
	if (ndirs == 0 || strcmp(sb->workflow_dir, sb->scripts_dir) != 0)
		dirs[ndirs++] = sb->workflow_dir;
	for (int i = 0; i < ndirs && found == NULL; i++)
		if (module_path(dirs[i], name, path, sizeof path) == 0 && is_file(path))
			found = path;
	if (found == NULL)
		return luaL_error(L, "module '%s' not found in scripts/ or the workflow folder", name);

	/* C-owned source: nothing between here and free() can raise. */
	snprintf(chunk, sizeof chunk, "@%s", display_path(sb, path));
	if (read_source(path, &src, &srclen, why, sizeof why) != 0)
		return luaL_error(L, "module '%s' (%s): %s", name, chunk + 1, why);
	status = luaL_loadbufferx(L, src, srclen, chunk, "t");
	if (status == LUA_OK && note_source(sb, path, chunk + 1, src, srclen, 0) != 0)
		status = LUA_ERRMEM;
	free(src);
	if (status == LUA_ERRMEM && lua_type(L, -1) == LUA_TFUNCTION)
		return luaL_error(L, "module '%s': out of memory", name);
	if (status != LUA_OK)
		return lua_error(L);

	/* Mark it loading (to catch loops), run it, and unmark on failure so a
	 * later require tries again instead of reporting a loop. */
	lua_pushvalue(L, 1);
	lua_pushlightuserdata(L, &LOADING_KEY);
	lua_rawset(L, cache);
	lua_pushcfunction(L, msgh);
	lua_insert(L, -2);
	lua_pushvalue(L, 1);
	lua_pushstring(L, chunk + 1);
	status = lua_pcall(L, 2, 1, -4);
	sb->slack = 0; /* even if the message handler itself failed */
	if (status != LUA_OK) {
		lua_pushvalue(L, 1);
		lua_pushnil(L);
		lua_rawset(L, cache);
		return lua_error(L);
	}
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		lua_pushboolean(L, 1);
	}
	lua_pushvalue(L, 1);
	lua_pushvalue(L, -2);
	lua_rawset(L, cache);
	return 1;
}

/* ------------------------------------------------------------------ */
/* Building the state                                                  */
/* ------------------------------------------------------------------ */

static void open_libs(lua_State *L, struct sandbox *sb)
{
	static const luaL_Reg libs[] = {
		{ LUA_GNAME, luaopen_base },
		{ LUA_STRLIBNAME, luaopen_string },
		{ LUA_TABLIBNAME, luaopen_table },
		{ LUA_MATHLIBNAME, luaopen_math },
		{ LUA_UTF8LIBNAME, luaopen_utf8 },
		{ LUA_COLIBNAME, luaopen_coroutine },
		{ "log", l_log_open },
		{ "money", l_money_open },
		{ "json", l_json_open },
		{ "time", l_time_open },
		{ NULL, NULL },
	};

	for (const luaL_Reg *l = libs; l->name != NULL; l++) {
		luaL_requiref(L, l->name, l->func, 1);
		lua_pop(L, 1);
	}

	lua_pushglobaltable(L);
	lua_pushnil(L);
	lua_setfield(L, -2, "dofile");
	lua_pushnil(L);
	lua_setfield(L, -2, "loadfile");
	lua_getfield(L, -1, "load");
	lua_pushcclosure(L, sb_load, 1);
	lua_setfield(L, -2, "load");
	lua_getfield(L, -1, "collectgarbage");
	lua_pushcclosure(L, sb_collectgarbage, 1);
	lua_setfield(L, -2, "collectgarbage");
	lua_pushcfunction(L, sb_setmetatable);
	lua_setfield(L, -2, "setmetatable");
	lua_pushcfunction(L, sb_require);
	lua_setfield(L, -2, "require");
	lua_pushcfunction(L, l_log_print);
	lua_setfield(L, -2, "print");
	lua_pushcfunction(L, l_time_now);
	lua_setfield(L, -2, "now");
	lua_pushcfunction(L, sb_xpcall);
	lua_setfield(L, -2, "xpcall");
	lua_getfield(L, -1, "string");
	lua_pushnil(L);
	lua_setfield(L, -2, "dump");
	wrap_costly(L, "rep", COST_REP, 0);
	lua_pop(L, 1);
	lua_getfield(L, -1, "table");
	wrap_costly(L, "move", COST_MOVE, 0);
	wrap_costly(L, "insert", COST_LEN, 0);
	wrap_costly(L, "remove", COST_LEN, 0);
	wrap_costly(L, "sort", COST_SORT, 0);
	wrap_costly(L, "unpack", COST_RANGE, 0);
	wrap_costly(L, "concat", COST_RANGE, 1);
	lua_pop(L, 1);
	lua_getfield(L, -1, "coroutine");
	lua_getfield(L, -1, "create");
	lua_pushcclosure(L, sb_coroutine_new, 1);
	lua_setfield(L, -2, "create");
	lua_getfield(L, -1, "wrap");
	lua_pushcclosure(L, sb_coroutine_new, 1);
	lua_setfield(L, -2, "wrap");
	lua_pop(L, 2);

	/* getmetatable("") yields a read-only stand-in whose reads see the
	 * real metatable; writes to it raise. */
	lua_pushliteral(L, "");
	lua_getmetatable(L, -1);
	lua_newtable(L);                        /* the stand-in */
	lua_createtable(L, 0, 3);               /* its metatable */
	lua_pushcfunction(L, string_mt_newindex);
	lua_setfield(L, -2, "__newindex");
	lua_pushvalue(L, -3);
	lua_setfield(L, -2, "__index");
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	lua_setmetatable(L, -2);
	lua_setfield(L, -2, "__metatable");
	lua_pop(L, 2);

	/* The caller's modules (orders, ...), as globals. */
	for (const struct sandbox_module *m = sb->modules; m != NULL && m->name != NULL; m++) {
		luaL_requiref(L, m->name, m->open, 1);
		lua_pop(L, 1);
	}

	lua_newtable(L);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &MODULES_KEY);
}

/* Runs in protected mode from sandbox_new: the libraries, the workflow,
 * the channel adapters. */
static int setup(lua_State *L)
{
	struct sandbox *sb = sandbox_of(L);
	char chunk[4096 + 1];
	int handlers;

	open_libs(L, sb);

	snprintf(chunk, sizeof chunk, "@%s", sb->workflow_name);
	if (luaL_loadbufferx(L, sb->load_buf, sb->load_len, chunk, "t") != LUA_OK)
		return lua_error(L);
	lua_call(L, 0, 1);
	if (!lua_istable(L, -1))
		return throwf(L, "%s: must return a table of handlers (it returned %s)",
		    sb->workflow_name, luaL_typename(L, -1));
	handlers = lua_gettop(L);
	lua_pushnil(L);
	while (lua_next(L, handlers) != 0) {
		if (lua_type(L, -2) != LUA_TSTRING)
			return throwf(L, "%s: the handlers table has a key of type %s; "
			    "keys must be event names", sb->workflow_name, luaL_typename(L, -2));
		if (!lua_isfunction(L, -1))
			return throwf(L, "%s: handler '%s' is not a function (it is a %s)",
			    sb->workflow_name, lua_tostring(L, -2), luaL_typename(L, -1));
		lua_pop(L, 1);
	}

	/* Every enabled channel's adapter, so a broken one fails now. */
	for (int k = 0; k < CH_COUNT; k++) {
		const char *ch;

		if (sb->merchant->channel_secret[k] == NULL)
			continue;
		ch = config_channel_name((enum channel_kind)k);
		lua_pushcfunction(L, sb_require);
		lua_pushfstring(L, "channels.%s", ch);
		lua_call(L, 1, 1);
		if (!lua_istable(L, -1) ||
		    lua_getfield(L, -1, "translate") != LUA_TFUNCTION)
			return throwf(L, "channel adapter 'channels.%s' must return a table "
			    "with a translate function", ch);
		lua_pop(L, 2);
	}
	/* The payment gateway's adapter too. */
	if (sb->merchant->pay_gateway != NULL) {
		lua_pushcfunction(L, sb_require);
		lua_pushfstring(L, "payments.%s", sb->merchant->pay_gateway);
		lua_call(L, 1, 1);
		if (!lua_istable(L, -1) ||
		    lua_getfield(L, -1, "request") != LUA_TFUNCTION ||
		    lua_getfield(L, -2, "parse") != LUA_TFUNCTION)
			return throwf(L, "payment gateway adapter 'payments.%s' must return a table "
			    "with request and parse functions", sb->merchant->pay_gateway);
		lua_pop(L, 3);
	}

	lua_settop(L, handlers);
	sb->handlers_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	return 0;
}

/* The message for a failed run, malloc'd. label (the event name) may be
 * NULL, as for sandbox_new. */
static char *run_error(struct sandbox *sb, const char *label)
{
	char limit[32], *out = NULL;
	const char *msg = lua_tostring(sb->L, -1);
	const char *pre = label != NULL ? label : "", *sep = label != NULL ? ": " : "";
	int n;

	if (sb->instr_hit) {
		const char *where = sb->instr_where[0] ? sb->instr_where :
		    label == NULL ? sb->workflow_name : "";

		n = asprintf(&out, "%s%s%s%sinstruction limit of %lld exceeded", pre, sep,
		    where, where[0] ? ": " : "", (long long)sb->instr_limit);
	} else if (sb->mem_hit && sb->sys_oom) {
		n = asprintf(&out, "%s%s%s%sout of memory: the system refused an allocation%s%s%s",
		    pre, sep, label == NULL ? sb->workflow_name : "", label == NULL ? ": " : "",
		    sb->seen_where[0] ? " (near " : "", sb->seen_where, sb->seen_where[0] ? ")" : "");
	} else if (sb->mem_hit) {
		format_bytes((int64_t)sb->mem_limit, limit, sizeof limit);
		n = asprintf(&out, "%s%s%s%smemory limit of %s exceeded%s%s%s", pre, sep,
		    label == NULL ? sb->workflow_name : "", label == NULL ? ": " : "",
		    limit, sb->seen_where[0] ? " (near " : "", sb->seen_where,
		    sb->seen_where[0] ? ")" : "");
	} else {
		size_t len = msg != NULL ? strlen(msg) : 0;

		if (msg == NULL)
			msg = "(error object is not a string)";
		n = asprintf(&out, "%s%s%.*s%s", pre, sep, MAX_ERR_TEXT, msg,
		    len > MAX_ERR_TEXT ? "... (truncated)" : "");
	}
	return n < 0 ? NULL : out;
}

/* ------------------------------------------------------------------ */
/* Public: create and free                                             */
/* ------------------------------------------------------------------ */

static int64_t or_default(int64_t v, int64_t def)
{
	return v > 0 ? v : def;
}

struct sandbox *sandbox_new(const struct sandbox_env *env, char **err)
{
	struct sandbox *sb = NULL;
	char *src = NULL, why[128];
	size_t srclen = 0;
	lua_State *L;
	int status;

	*err = NULL;
	if (env == NULL || env->merchant == NULL || env->merchant->workflow == NULL) {
		*err = strdup("no workflow configured");
		return NULL;
	}
	if ((sb = calloc(1, sizeof *sb)) == NULL)
		goto oom;
	sb->handlers_ref = LUA_NOREF;
	sb->merchant = env->merchant;
	sb->db = env->db;
	sb->modules = env->modules;
	sb->translators = env->translators;
	sb->instr_limit = or_default(env->merchant->instruction_limit, DEFAULT_INSTRUCTIONS);
	sb->mem_limit = (size_t)or_default(env->merchant->memory_limit, DEFAULT_MEMORY);
	if (env->scripts_dir != NULL) {
		if ((sb->scripts_dir = strip_slashes(env->scripts_dir)) == NULL ||
		    (sb->root = parent_of(sb->scripts_dir)) == NULL)
			goto oom;
	}
	if ((sb->workflow_dir = parent_of(env->merchant->workflow)) == NULL ||
	    (sb->workflow_name = strdup(display_path(sb, env->merchant->workflow))) == NULL)
		goto oom;

	if (read_source(env->merchant->workflow, &src, &srclen, why, sizeof why) != 0) {
		if (asprintf(err, "%s: %s", sb->workflow_name, why) < 0)
			*err = NULL;
		goto fail;
	}
	if (note_source(sb, env->merchant->workflow, sb->workflow_name, src, srclen, 1) != 0)
		goto oom;

	if ((L = sb->L = lua_newstate(sb_alloc, sb)) == NULL)
		goto oom;
	*(struct sandbox **)lua_getextraspace(L) = sb;
	lua_atpanic(L, panic);

	sb->load_buf = src;
	sb->load_len = srclen;
	sb->fail_from = env->fail_allocations_from;
	sb->allocs = 0;
	begin_run(sb, NULL);
	lua_pushcfunction(L, msgh);
	lua_pushcfunction(L, setup);
	status = lua_pcall(L, 0, 0, 1);
	if (status != LUA_OK) {
		*err = run_error(sb, NULL);
		log_debug("workflow failed to load", "merchant", sb->merchant->id,
		    "error", *err, "traceback", sb->trace, NULL);
	}
	end_run(sb);
	sb->fail_from = 0;
	sb->load_buf = NULL;
	free(src);
	src = NULL;
	if (status != LUA_OK)
		goto fail;
	lua_settop(L, 0);
	lua_gc(L, LUA_GCCOLLECT);
	return sb;

oom:
	free(*err);
	*err = strdup("out of memory");
fail:
	if (*err == NULL)
		*err = strdup("out of memory");
	free(src);
	sandbox_free(sb);
	return NULL;
}

void sandbox_free(struct sandbox *sb)
{
	if (sb == NULL)
		return;
	if (sb->L != NULL) {
		sb->closing = 1;
		luaL_unref(sb->L, LUA_REGISTRYINDEX, sb->handlers_ref);
		lua_close(sb->L);
	}
	free(sb->scripts_dir);
	free(sb->root);
	free(sb->workflow_dir);
	free(sb->workflow_name);
	for (size_t i = 0; i < sb->n_files; i++)
		free(sb->files[i]);
	free(sb->files);
	free(sb->name);
	free(sb->trace);
	free(sb);
}

/* ------------------------------------------------------------------ */
/* Public: handling an event                                           */
/* ------------------------------------------------------------------ */

/* Raw sets (t absolute): an adapter's table with a __newindex must not
 * swallow the host's fields. */
static void set_str(lua_State *L, int t, const char *key, const char *v)
{
	lua_pushstring(L, key);
	if (v != NULL)
		lua_pushstring(L, v);
	else
		lua_pushnil(L);
	lua_rawset(L, t);
}

static void set_int(lua_State *L, int t, const char *key, int64_t v)
{
	lua_pushstring(L, key);
	lua_pushinteger(L, (lua_Integer)v);
	lua_rawset(L, t);
}

/* Runs in protected mode from sandbox_handle: everything one event does. */
static int run_event(lua_State *L)
{
	struct sandbox *sb = sandbox_of(L);
	const struct sandbox_event *ev = sb->ev;
	int payload, event, ctx;
	char *copy;

	luaL_checkstack(L, 16, NULL);
	if (ev->doc != NULL)
		jsonscan_push_lua(L, ev->doc);
	else
		luajson_push(L, ev->payload);
	payload = lua_gettop(L);

	if (ev->source != NULL && strcmp(ev->source, "webhook") == 0) {
		if (ev->channel == NULL)
			return throwf(L, "a webhook event without a channel");
		lua_pushcfunction(L, sb_require);
		lua_pushfstring(L, "channels.%s", ev->channel);
		lua_call(L, 1, 1);
		if (!lua_istable(L, -1) ||
		    lua_getfield(L, -1, "translate") != LUA_TFUNCTION)
			return throwf(L, "channel adapter 'channels.%s' has no translate function",
			    ev->channel);
		lua_pushstring(L, ev->topic);
		lua_pushvalue(L, payload);
		lua_createtable(L, 0, 4);
		ctx = lua_gettop(L);
		set_str(L, ctx, "merchant", sb->merchant->id);
		set_str(L, ctx, "currency", sb->merchant->currency);
		set_str(L, ctx, "timezone", sb->merchant->timezone);
		set_str(L, ctx, "channel", ev->channel);
		if (strcmp(ev->channel, "supplier") == 0 && ev->order_key != NULL &&
		    strncmp(ev->order_key, "supplier:", 9) == 0)
			set_str(L, ctx, "supplier", ev->order_key + 9);  /* who signed it */
		lua_call(L, 3, 1);
		if (lua_isnil(L, -1)) {
			sb->result = SB_UNHANDLED;
			return 0;
		}
		if (!lua_istable(L, -1))
			return throwf(L, "channel adapter 'channels.%s': translate must return "
			    "an event table or nil, not a %s", ev->channel, luaL_typename(L, -1));
		event = lua_gettop(L);
		if (lua_getfield(L, event, "name") != LUA_TSTRING)
			return throwf(L, "channel adapter 'channels.%s': translate returned an "
			    "event without a string name", ev->channel);
	} else {
		if (ev->topic == NULL)
			return throwf(L, "an event without a name");
		lua_newtable(L);
		event = lua_gettop(L);
		if (lua_istable(L, payload)) {
			lua_pushnil(L);
			while (lua_next(L, payload) != 0) {
				lua_pushvalue(L, -2);
				lua_insert(L, -2);
				lua_rawset(L, event);
			}
		}
		lua_pushliteral(L, "name");
		lua_pushstring(L, ev->topic);
		lua_rawset(L, event);
		lua_pushstring(L, ev->topic);
		if (ev->source != NULL && (strcmp(ev->source, "effect") == 0 ||
		    strcmp(ev->source, "timer") == 0 || strcmp(ev->source, "internal") == 0)) {
			for (const struct sandbox_translator *t = sb->translators; t && t->topic; t++) {
				if (strcmp(t->topic, ev->topic) != 0 && strcmp(t->topic, "*") != 0)
					continue;
				/* The host's step: settle what the answer means, then
				 * name the event. Copy the topic as the name first, so
				 * an error in this step names the event too. */
				copy = xstrdup(ev->topic);
				free(sb->name);
				sb->name = copy;
				lua_pop(L, 1);
				lua_pushcfunction(L, t->fn);
				lua_pushvalue(L, event);
				lua_call(L, 1, 1);
				if (lua_type(L, -1) != LUA_TSTRING)
					return throwf(L, "effect answer '%s': the host step named no event",
					    ev->topic);
				lua_pushliteral(L, "name");
				lua_pushvalue(L, -2);
				lua_rawset(L, event);
				break;
			}
		}
	}
	/* The name is on the top. Copy it now: messages name the event. */
	copy = xstrdup(lua_tostring(L, -1));
	free(sb->name);
	sb->name = copy;

	set_int(L, event, "id", ev->id);
	set_str(L, event, "source", ev->source);
	set_str(L, event, "channel", ev->channel);
	set_str(L, event, "topic", ev->topic);
	set_int(L, event, "attempt", ev->attempt);
	set_int(L, event, "received_at", ev->received_at);
	lua_pushliteral(L, "payload");
	lua_pushvalue(L, payload);
	lua_rawset(L, event);

	lua_rawgeti(L, LUA_REGISTRYINDEX, sb->handlers_ref);
	lua_pushvalue(L, -2);
	if (lua_rawget(L, -2) != LUA_TFUNCTION) {
		sb->result = SB_UNHANDLED;
		return 0;
	}
	lua_pushvalue(L, event);
	lua_call(L, 1, 0);
	sb->result = SB_HANDLED;
	return 0;
}

int sandbox_handle(struct sandbox *sb, const struct sandbox_event *ev,
    char **name, char **err)
{
	lua_State *L;
	int status, rc;

	*name = NULL;
	*err = NULL;
	if (sb == NULL || ev == NULL) {
		*err = strdup("no sandbox for this event");
		return SB_ERROR;
	}
	if (sb->running) {
		*err = strdup("sandbox_handle called from inside a handler");
		return SB_ERROR;
	}
	L = sb->L;
	lua_settop(L, 0);
	begin_run(sb, ev);
	lua_pushcfunction(L, msgh);
	lua_pushcfunction(L, run_event);
	status = lua_pcall(L, 0, 0, 1);
	if (status == LUA_OK) {
		rc = sb->result;
	} else {
		const char *label = sb->name != NULL ? sb->name :
		    ev->topic != NULL ? ev->topic : "event";

		/* The cap and the budget are the script's: the same run would hit
		 * them again. The system running out of memory is not: retried. */
		rc = sb->instr_hit || (sb->mem_hit && !sb->sys_oom) ? SB_LIMIT : SB_ERROR;
		*err = run_error(sb, label);
		if (*err == NULL)
			*err = strdup("out of memory");
		log_debug("handler failed", "merchant", sb->merchant->id,
		    "event", label, "error", *err, "traceback", sb->trace, NULL);
	}
	end_run(sb);
	lua_settop(L, 0);
	if (status != LUA_OK)
		lua_gc(L, LUA_GCCOLLECT);
	*name = sb->name;
	sb->name = NULL;
	return rc;
}

/* ------------------------------------------------------------------ */
/* Public: accessors                                                   */
/* ------------------------------------------------------------------ */

const struct merchant_config *sandbox_merchant(const struct sandbox *sb)
{
	return sb->merchant;
}

struct db *sandbox_db(const struct sandbox *sb)
{
	return sb->db;
}

int64_t sandbox_event_id(const struct sandbox *sb)
{
	return sb->event_id;
}

int sandbox_next_effect(struct sandbox *sb)
{
	return ++sb->effects_asked;
}

void sandbox_require(lua_State *L, const char *name)
{
	lua_pushcfunction(L, sb_require);
	lua_pushstring(L, name);
	lua_call(L, 1, 1);
}

void sandbox_fail_allocations(struct sandbox *sb, int64_t n)
{
	sb->fail_from = n;
	sb->allocs = 0;
}

const char *sandbox_version(const struct sandbox *sb)
{
	return sb->version;
}

size_t sandbox_memory(const struct sandbox *sb)
{
	return sb->mem_used;
}

/* ------------------------------------------------------------------ */
/* Public: what a loaded workflow consists of (ordo check, reload)     */
/* ------------------------------------------------------------------ */

const char *sandbox_file(const struct sandbox *sb, size_t i)
{
	return i < sb->n_files ? sb->files[i] : NULL;
}

int sandbox_uses_file(const struct sandbox *sb, const char *path)
{
	for (size_t i = 0; i < sb->n_files; i++)
		if (strcmp(sb->files[i], path) == 0)
			return 1;
	return 0;
}

struct describe {
	struct sandbox *sb;
	struct sandbox_info *info;
	int oom;
};

static char *dup_or_flag(struct describe *d, const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		d->oom = 1;
	return p;
}

/* Runs in protected mode: nothing here allocates in C across a raise
 * (the arrays are owned by info and freed by sandbox_info_free). */
static int describe_state(lua_State *L)
{
	struct describe *d = lua_touserdata(L, 1);
	struct sandbox_info *in = d->info;
	lua_Debug ar;
	size_t cap = 0;

	lua_rawgeti(L, LUA_REGISTRYINDEX, d->sb->handlers_ref);
	lua_pushnil(L);
	while (lua_next(L, -2) != 0) {
		if (lua_type(L, -2) == LUA_TSTRING && lua_isfunction(L, -1)) {
			struct sandbox_handler *h;

			if (in->n_handlers == cap) {
				cap = cap ? 2 * cap : 16;
				if ((h = realloc(in->handlers, cap * sizeof *h)) == NULL) {
					d->oom = 1;
					return 0;
				}
				in->handlers = h;
			}
			h = &in->handlers[in->n_handlers++];
			memset(h, 0, sizeof *h);
			lua_pushvalue(L, -1);
			lua_getinfo(L, ">S", &ar);
			h->name = dup_or_flag(d, lua_tostring(L, -2));
			h->file = dup_or_flag(d, ar.source[0] == '@' ? ar.source + 1 : ar.short_src);
			h->line = ar.linedefined;
		}
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	cap = 0;
	lua_pushglobaltable(L);
	lua_pushnil(L);
	while (lua_next(L, -2) != 0) {
		if (lua_type(L, -2) == LUA_TSTRING) {
			char **g;

			if (in->n_globals == cap) {
				cap = cap ? 2 * cap : 64;
				if ((g = realloc(in->globals, cap * sizeof *g)) == NULL) {
					d->oom = 1;
					return 0;
				}
				in->globals = g;
			}
			in->globals[in->n_globals++] = dup_or_flag(d, lua_tostring(L, -2));
		}
		lua_pop(L, 1);
	}
	return 0;
}

int sandbox_describe(struct sandbox *sb, struct sandbox_info *info)
{
	struct describe d = { .sb = sb, .info = info };
	int status;

	memset(info, 0, sizeof *info);
	if (sb->running)
		return -1;
	lua_settop(sb->L, 0);
	lua_pushcfunction(sb->L, describe_state);
	lua_pushlightuserdata(sb->L, &d);
	status = lua_pcall(sb->L, 1, 0, 0);
	lua_settop(sb->L, 0);
	if (status != LUA_OK || d.oom) {
		sandbox_info_free(info);
		return -1;
	}
	return 0;
}

void sandbox_info_free(struct sandbox_info *info)
{
	for (size_t i = 0; i < info->n_handlers; i++) {
		free(info->handlers[i].name);
		free(info->handlers[i].file);
	}
	for (size_t i = 0; i < info->n_globals; i++)
		free(info->globals[i]);
	free(info->handlers);
	free(info->globals);
	memset(info, 0, sizeof *info);
}
