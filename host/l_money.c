/*
 * l_money — the `money` module for workflow scripts: exact money as
 * integer minor units, through money.h.
 *
 *   money.parse("19.99", "USD") -> 1999
 *   money.format(1999, "USD")   -> "19.99"
 *   money.exponent("JPY")       -> 0
 *
 * A price must never pass through a float: parse refuses anything that is
 * not a string (a Lua number would already have been rounded), and format
 * refuses anything that is not an integer. Every error names the text and
 * the currency, so a merchant can find the offending field.
 */
#include <stdint.h>
#include <string.h>

#include <lauxlib.h>

#include "ordo/lmods.h"
#include "ordo/money.h"

/* The currency at `idx`, checked: a known ISO 4217 code. Raises. */
static const char *check_currency(lua_State *L, int idx, const char *fn)
{
	const char *code;

	if (lua_type(L, idx) != LUA_TSTRING)
		luaL_error(L, "money.%s: currency must be a string like \"USD\", got %s",
		    fn, luaL_typename(L, idx));
	code = lua_tostring(L, idx);
	if (money_exponent(code) < 0)
		luaL_error(L, "money.%s: unknown currency \"%s\"", fn, code);
	return code;
}

static int money_parse_l(lua_State *L)
{
	char err[200];
	const char *text, *code;
	size_t len;
	int64_t minor;

	if (lua_type(L, 1) != LUA_TSTRING) {
		if (lua_type(L, 1) == LUA_TNUMBER)
			return luaL_error(L, "money.parse: amount must be a decimal string "
			    "like \"19.99\", not the number %s (a number may already be "
			    "rounded; pass the text from the payload)",
			    luaL_tolstring(L, 1, NULL));
		return luaL_error(L, "money.parse: amount must be a decimal string "
		    "like \"19.99\", got %s", luaL_typename(L, 1));
	}
	text = lua_tolstring(L, 1, &len);
	code = check_currency(L, 2, "parse");
	if (strlen(text) != len)
		return luaL_error(L, "money.parse: amount contains a NUL byte");
	if (money_parse(text, code, &minor, err, sizeof err) != 0)
		return luaL_error(L, "money.parse: %s", err);
	lua_pushinteger(L, (lua_Integer)minor);
	return 1;
}

static int money_format_l(lua_State *L)
{
	char buf[48];
	const char *code;

	if (!lua_isinteger(L, 1))
		return luaL_error(L, "money.format: amount must be an integer count of "
		    "minor units (like 1999 for 19.99), got %s",
		    lua_type(L, 1) == LUA_TNUMBER ? "a float" : luaL_typename(L, 1));
	code = check_currency(L, 2, "format");
	if (money_format((int64_t)lua_tointeger(L, 1), code, buf, sizeof buf) < 0)
		return luaL_error(L, "money.format: cannot format in %s", code);
	lua_pushstring(L, buf);
	return 1;
}

static int money_exponent_l(lua_State *L)
{
	const char *code = check_currency(L, 1, "exponent");

	lua_pushinteger(L, money_exponent(code));
	return 1;
}

static const luaL_Reg money_funcs[] = {
	{ "parse", money_parse_l },
	{ "format", money_format_l },
	{ "exponent", money_exponent_l },
	{ NULL, NULL },
};

int l_money_open(lua_State *L)
{
	luaL_newlib(L, money_funcs);
	return 1;
}
