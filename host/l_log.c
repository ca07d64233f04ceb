/*
 * l_log — the `log` module and the `print` replacement for scripts.
 *
 *   log.debug/info/warn/error(msg [, fields])
 *   print(...)        one info record, arguments tab-joined, source "print"
 *
 * Every record is tagged with the merchant (and the inbox event id while a
 * handler runs), so one merchant's output can be told from another's and
 * from the host's. Field values become strings: tables as JSON when they
 * can be, anything else through tostring. Records are capped in size and
 * in fields so a script cannot flood the log with one call.
 *
 * Needs a state made by sandbox_new(). Holds nothing C-owned: every string
 * it passes to log_write sits on the Lua stack until the call returns.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "ordo/lmods.h"
#include "ordo/log.h"
#include "ordo/sandbox.h"

#define MAX_FIELDS 16       /* user fields kept per record */
#define MAX_TEXT   8192     /* bytes kept of a message or a value */
#define SLOTS      40       /* key/value slots passed to log_write */

/* Replace the string at the top with its first MAX_TEXT bytes, marked. */
static void cap_top(lua_State *L)
{
	size_t len;
	const char *s = lua_tolstring(L, -1, &len);

	if (len <= MAX_TEXT)
		return;
	lua_pushlstring(L, s, MAX_TEXT);
	lua_pushliteral(L, "... (truncated)");
	lua_concat(L, 2);
	lua_remove(L, -2);
}

/* Push the value at idx as log text. May raise (__tostring, memory). */
static void push_text(lua_State *L, int idx)
{
	idx = lua_absindex(L, idx);
	if (lua_type(L, idx) == LUA_TTABLE) {
		lua_pushcfunction(L, l_json_encode);
		lua_pushvalue(L, idx);
		if (lua_pcall(L, 1, 1, 0) == LUA_OK) {
			cap_top(L);
			return;
		}
		lua_pop(L, 1); /* not JSON-able (a cycle, a function): tostring it */
	}
	luaL_tolstring(L, idx, NULL);
	cap_top(L);
}

/* The merchant and event tags, in kv[0..]. @return slots used. */
static int tags(lua_State *L, const char **kv, char *eidbuf, size_t eidlen,
    const char *source)
{
	struct sandbox *sb = sandbox_of(L);
	int n = 0;

	kv[n++] = "merchant";
	kv[n++] = sb != NULL ? sandbox_merchant(sb)->id : NULL;
	if (sb != NULL && sandbox_event_id(sb) != 0) {
		snprintf(eidbuf, eidlen, "%" PRId64, sandbox_event_id(sb));
		kv[n++] = "event_id";
		kv[n++] = eidbuf;
	}
	kv[n++] = "source";
	kv[n++] = source;
	return n;
}

#define KV8(i) kv[i], kv[(i) + 1], kv[(i) + 2], kv[(i) + 3], \
	kv[(i) + 4], kv[(i) + 5], kv[(i) + 6], kv[(i) + 7]

/* log_write takes pairs ended by a NULL key; the unused slots are NULL,
 * so the first one ends the list. */
static void emit(enum log_level level, const char *msg, const char **kv)
{
	log_write(level, msg, KV8(0), KV8(8), KV8(16), KV8(24), KV8(32), NULL);
}

struct pair {
	const char *k, *v;
};

static int pair_cmp(const void *a, const void *b)
{
	return strcmp(((const struct pair *)a)->k, ((const struct pair *)b)->k);
}

static int do_log(lua_State *L, enum log_level level, const char *fn)
{
	const char *kv[SLOTS] = { NULL };
	struct pair pairs[MAX_FIELDS];
	char eidbuf[24];
	const char *msg;
	int n, np = 0, acc;

	if (lua_isnoneornil(L, 1))
		return luaL_error(L, "log.%s: a message is required", fn);
	if (!lua_isnoneornil(L, 2) && lua_type(L, 2) != LUA_TTABLE)
		return luaL_error(L, "log.%s: fields must be a table, got %s",
		    fn, luaL_typename(L, 2));
	lua_settop(L, 2);
	push_text(L, 1);                        /* 3: the message */
	lua_createtable(L, 2 * MAX_FIELDS, 0);  /* 4: key, text, key, text, ... */
	acc = lua_gettop(L);

	if (lua_type(L, 2) == LUA_TTABLE) {
		lua_pushnil(L);
		while (np < MAX_FIELDS && lua_next(L, 2) != 0) {
			int kt = lua_type(L, -2);

			if (kt != LUA_TSTRING && kt != LUA_TNUMBER) {
				lua_pop(L, 1);
				continue;
			}
			/* Convert a copy of the key: lua_next needs the original. */
			lua_pushvalue(L, -2);
			luaL_tolstring(L, -1, NULL);
			lua_remove(L, -2);
			lua_rawseti(L, acc, 2 * np + 1);
			push_text(L, -1);
			lua_rawseti(L, acc, 2 * np + 2);
			lua_pop(L, 1);
			np++;
		}
		if (np == MAX_FIELDS)
			lua_settop(L, acc); /* stopped early: drop the pending key */
	}

	/* The strings stay referenced by `acc` until we return. */
	for (int i = 0; i < np; i++) {
		lua_rawgeti(L, acc, 2 * i + 1);
		pairs[i].k = lua_tostring(L, -1);
		lua_rawgeti(L, acc, 2 * i + 2);
		pairs[i].v = lua_tostring(L, -1);
		lua_pop(L, 2);
	}
	qsort(pairs, (size_t)np, sizeof pairs[0], pair_cmp);

	n = tags(L, kv, eidbuf, sizeof eidbuf, "script");
	for (int i = 0; i < np; i++) {
		kv[n++] = pairs[i].k;
		kv[n++] = pairs[i].v;
	}
	msg = lua_tostring(L, 3);
	emit(level, msg, kv);
	return 0;
}

static int log_debug_l(lua_State *L) { return do_log(L, LOG_DEBUG, "debug"); }
static int log_info_l(lua_State *L)  { return do_log(L, LOG_INFO, "info"); }
static int log_warn_l(lua_State *L)  { return do_log(L, LOG_WARN, "warn"); }
static int log_error_l(lua_State *L) { return do_log(L, LOG_ERROR, "error"); }

int l_log_print(lua_State *L)
{
	const char *kv[SLOTS] = { NULL };
	char eidbuf[24];
	int nargs = lua_gettop(L);
	luaL_Buffer b;

	luaL_buffinit(L, &b);
	for (int i = 1; i <= nargs; i++) {
		if (i > 1)
			luaL_addchar(&b, '\t');
		luaL_tolstring(L, i, NULL);
		luaL_addvalue(&b);
	}
	luaL_pushresult(&b);
	cap_top(L);
	tags(L, kv, eidbuf, sizeof eidbuf, "print");
	emit(LOG_INFO, lua_tostring(L, -1), kv);
	return 0;
}

static const luaL_Reg log_funcs[] = {
	{ "debug", log_debug_l },
	{ "info", log_info_l },
	{ "warn", log_warn_l },
	{ "error", log_error_l },
	{ NULL, NULL },
};

int l_log_open(lua_State *L)
{
	luaL_newlib(L, log_funcs);
	return 1;
}
