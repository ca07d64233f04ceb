/*
 * l_json — the `json` module for workflow scripts.
 *
 *   json.encode(value) -> string      raises on functions, cycles, NaN, ...
 *   json.decode(text)  -> value       raises with the byte position
 *
 * Conversion rules are luajson's (integers stay integers, so ids above
 * 2^53 survive; null is nil; an empty table is {}). Encoding sorts object
 * keys, so the same table always gives the same text.
 *
 * jansson values and dumped text are C-owned, and pushing the result may
 * raise (out of memory); so they live in a userdata box with an
 * idempotent __gc while any such push runs, and are freed right after.
 */
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "ordo/lmods.h"
#include "ordo/luajson.h"

#define BOX "ordo.json.box"

struct box {
	json_t *v;
	char *text;
};

static int box_gc(lua_State *L)
{
	struct box *b = luaL_checkudata(L, 1, BOX);

	json_decref(b->v);
	b->v = NULL;
	free(b->text);
	b->text = NULL;
	return 0;
}

/* A new empty box on the stack top. May raise (memory); owns nothing yet. */
static struct box *box_new(lua_State *L)
{
	struct box *b = lua_newuserdatauv(L, sizeof *b, 0);

	b->v = NULL;
	b->text = NULL;
	if (luaL_newmetatable(L, BOX)) {
		lua_pushcfunction(L, box_gc);
		lua_setfield(L, -2, "__gc");
		lua_pushboolean(L, 0);
		lua_setfield(L, -2, "__metatable");
	}
	lua_setmetatable(L, -2);
	return b;
}

static void box_clear(struct box *b)
{
	json_decref(b->v);
	b->v = NULL;
	free(b->text);
	b->text = NULL;
}

int l_json_encode(lua_State *L)
{
	char err[256];
	struct box *b;

	luaL_checkany(L, 1);
	lua_settop(L, 1);
	b = box_new(L);
	if ((b->v = luajson_from_lua(L, 1, err, sizeof err)) == NULL)
		return luaL_error(L, "json.encode: %s", err);
	b->text = json_dumps(b->v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	if (b->text == NULL) {
		box_clear(b);
		return luaL_error(L, "json.encode: out of memory");
	}
	lua_pushstring(L, b->text); /* may raise: the box still owns both */
	box_clear(b);
	return 1;
}

static int json_decode(lua_State *L)
{
	size_t len;
	const char *text;
	json_error_t jerr;
	struct box *b;

	if (lua_type(L, 1) != LUA_TSTRING)
		return luaL_error(L, "json.decode: expected a string, got %s", luaL_typename(L, 1));
	text = lua_tolstring(L, 1, &len);
	lua_settop(L, 1);
	b = box_new(L);
	b->v = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	if (b->v == NULL)
		return luaL_error(L, "json.decode: %s at byte %d", jerr.text, jerr.position);
	luajson_push(L, b->v); /* may raise: the box still owns the value */
	box_clear(b);
	return 1;
}

static const luaL_Reg json_funcs[] = {
	{ "encode", l_json_encode },
	{ "decode", json_decode },
	{ NULL, NULL },
};

int l_json_open(lua_State *L)
{
	luaL_newlib(L, json_funcs);
	return 1;
}
