/*
 * l_digital — the `digital` module (see digital.h).
 *
 *   digital.product(sku)             -> {sku=, kind="file"|"license", file=} or nil
 *   digital.grant(order, line)       -> {{id=, token=, path=, url=, file=, expires_at=,
 *                                         download_limit=}}   a link per file of the line
 *   digital.draw_keys(order, line)   -> {"KEY-1", ...}, one per unit without a live
 *                                       key yet ({} when every unit has one); or
 *                                       nil, "license_pool_empty: ..." (none drawn)
 *   digital.revoke(order [, {keys=true}]) -> {grants=n, keys=n}
 *   digital.revoke(order, {line=n, units=q}) -> {grants=n, keys=n}
 *                                       canceled units of one line: q keys, and
 *                                       its links once no unit is left
 *   digital.get(order)               -> {grants={...}, keys={...}}
 *
 * `line` is a line number or a line table (its line_no). Each writing call
 * runs in a savepoint of its own (lbind_atomic). Depends on digital, lbind.
 */
#include <string.h>

#include <lauxlib.h>

#include "ordo/config.h"
#include "ordo/digital.h"
#include "ordo/l_effects.h"
#include "ordo/lbind.h"

static int64_t line_arg(lua_State *L, int idx, const char *fn)
{
	lua_Integer n;
	int ok;

	if (lua_istable(L, idx)) {
		lua_getfield(L, idx, "line_no");
		n = lua_tointegerx(L, -1, &ok);
		lua_pop(L, 1);
	} else {
		n = lua_tointegerx(L, idx, &ok);
	}
	if (!ok || n <= 0)
		luaL_error(L, "digital.%s: the line must be a line number or a line of the order", fn);
	return (int64_t)n;
}

static int l_product(lua_State *L)
{
	struct lbind_ctx c = lbind_context(L, "digital", "product");
	struct digital_product_buf buf;
	const struct digital_product *p = digital_product(c.db, c.m, luaL_checkstring(L, 1), &buf);

	if (p == NULL) {
		lua_pushnil(L);
		return 1;
	}
	lua_createtable(L, 0, 3);
	lua_pushstring(L, p->sku);
	lua_setfield(L, -2, "sku");
	lua_pushstring(L, p->license ? "license" : "file");
	lua_setfield(L, -2, "kind");
	if (p->file) {
		lua_pushstring(L, p->file);
		lua_setfield(L, -2, "file");
	}
	return 1;
}

static int grant_body(lua_State *L)
{
	struct lbind_ctx c = lbind_context(L, "digital", "grant");
	int64_t order = lbind_order(L, &c, 1, "digital", "grant"), line = line_arg(L, 2, "grant");
	struct lbind_jbox *b = lbind_jbox_new(L);
	char err[DIGITAL_ERRLEN];

	if ((b->v = digital_grant(c.db, c.m, order, line, c.event_id, err)) == NULL)
		return luaL_error(L, "digital.grant: %s", err);
	lbind_jbox_push(L, b);
	return 1;
}

static int draw_body(lua_State *L)
{
	struct lbind_ctx c = lbind_context(L, "digital", "draw_keys");
	int64_t order = lbind_order(L, &c, 1, "digital", "draw_keys");
	int64_t line = line_arg(L, 2, "draw_keys");
	struct lbind_jbox *b = lbind_jbox_new(L);
	char err[DIGITAL_ERRLEN];
	int empty = 0;

	if ((b->v = digital_draw_keys(c.db, c.m, order, line, &empty, err)) == NULL) {
		if (!empty)
			return luaL_error(L, "digital.draw_keys: %s", err);
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	lbind_jbox_push(L, b);
	return 1;
}

static int revoke_body(lua_State *L)
{
	struct lbind_ctx c = lbind_context(L, "digital", "revoke");
	int64_t order = lbind_order(L, &c, 1, "digital", "revoke"), ng = 0, nk = 0;
	char err[DIGITAL_ERRLEN];
	lua_Integer line = 0, units = 0;
	int keys = 0, rc;

	if (lua_istable(L, 2)) {
		lua_getfield(L, 2, "keys");
		keys = lua_toboolean(L, -1);
		lua_getfield(L, 2, "line");
		line = lua_tointeger(L, -1);
		lua_getfield(L, 2, "units");
		units = lua_tointeger(L, -1);
		lua_pop(L, 3);
		if (line < 0 || units < 0 || (line > 0) != (units > 0))
			return luaL_error(L, "digital.revoke: give {line = n, units = q} (both positive)"
			    " or neither");
	} else if (!lua_isnoneornil(L, 2)) {
		return luaL_error(L, "digital.revoke: options must be a table such as {keys = true}");
	}
	rc = line > 0 ? digital_revoke_line(c.db, c.merchant, order, line, units, &ng, &nk, err)
	    : digital_revoke_order(c.db, c.merchant, order, keys, &ng, &nk, err);
	if (rc != 0)
		return luaL_error(L, "digital.revoke: %s", err);
	lua_createtable(L, 0, 2);
	lua_pushinteger(L, ng);
	lua_setfield(L, -2, "grants");
	lua_pushinteger(L, nk);
	lua_setfield(L, -2, "keys");
	return 1;
}

static int l_get(lua_State *L)
{
	struct lbind_ctx c = lbind_context(L, "digital", "get");
	int64_t order = lbind_order(L, &c, 1, "digital", "get");
	struct lbind_jbox *b = lbind_jbox_new(L);

	if ((b->v = digital_order(c.db, c.merchant, order)) == NULL)
		return luaL_error(L, "digital.get: database error");
	lbind_jbox_push(L, b);
	return 1;
}

static int l_grant(lua_State *L)
{
	return lbind_atomic(L, lbind_context(L, "digital", "grant").db, grant_body);
}

static int l_draw_keys(lua_State *L)
{
	return lbind_atomic(L, lbind_context(L, "digital", "draw_keys").db, draw_body);
}

static int l_revoke(lua_State *L)
{
	return lbind_atomic(L, lbind_context(L, "digital", "revoke").db, revoke_body);
}

static const luaL_Reg digital_lib[] = {
	{ "product", l_product },
	{ "grant", l_grant },
	{ "draw_keys", l_draw_keys },
	{ "revoke", l_revoke },
	{ "get", l_get },
	{ NULL, NULL },
};

int l_digital_open(lua_State *L)
{
	lbind_jbox_register(L);
	luaL_newlib(L, digital_lib);
	return 1;
}
