/*
 * l_time — the clock as scripts see it.
 *
 *   now()              -> integer ms UTC (the global; virtual under `ordo test`)
 *   time.iso(ms)       -> "2026-11-22T03:23:52.123Z"
 *   time.parse(text)   -> ms, or nil and a message
 *
 * Everything goes through clock.h: a script never reads the system clock
 * itself, so specs can move time.
 */
#include <stdint.h>
#include <string.h>

#include <lauxlib.h>

#include "ordo/clock.h"
#include "ordo/lmods.h"

int l_time_now(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)clock_now_ms());
	return 1;
}

static int time_iso(lua_State *L)
{
	char buf[32];

	if (!lua_isinteger(L, 1))
		return luaL_error(L, "time.iso: expected integer milliseconds (like now()), got %s",
		    lua_type(L, 1) == LUA_TNUMBER ? "a float" : luaL_typename(L, 1));
	clock_format_iso((int64_t)lua_tointeger(L, 1), buf);
	lua_pushstring(L, buf);
	return 1;
}

static int time_parse(lua_State *L)
{
	const char *text;
	size_t len;
	int64_t ms;

	if (lua_type(L, 1) != LUA_TSTRING)
		return luaL_error(L, "time.parse: expected a timestamp string, got %s",
		    luaL_typename(L, 1));
	text = lua_tolstring(L, 1, &len);
	if (strlen(text) != len || clock_parse_iso(text, &ms) != 0) {
		lua_pushnil(L);
		lua_pushfstring(L, "not an ISO 8601 timestamp with an offset "
		    "(like \"2026-11-22T03:23:52Z\"): \"%s\"", len > 64 ? "(too long)" : text);
		return 2;
	}
	lua_pushinteger(L, (lua_Integer)ms);
	return 1;
}

static const luaL_Reg time_funcs[] = {
	{ "iso", time_iso },
	{ "parse", time_parse },
	{ NULL, NULL },
};

int l_time_open(lua_State *L)
{
	luaL_newlib(L, time_funcs);
	return 1;
}
