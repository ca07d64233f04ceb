/*
 * l_dropship — the `dropship` module (see supply.h).
 *
 *   dropship.forward(order, lines, supplier) -> dropship
 *       lines: {{line=, quantity=}, ...}; no stock of ours moves
 *   dropship.update(id, status [, {reason=, carrier=, tracking_number=,
 *                   tracking_url=, supplier=}]) -> dropship
 *       supplier: who answered (ev.supplier); another's dropship is refused
 *       status: accepted, rejected, shipped (a shipment on the order)
 *   dropship.get(id)                        -> dropship or nil
 *
 * The supplier answers on /webhooks/{merchant}/supplier/{supplier}
 * (channels.supplier); flows/dropship.lua turns those events into
 * dropship.update calls. Depends on supply, luajson, lbind.
 */
#include <lauxlib.h>

#include "ordo/l_effects.h"
#include "ordo/lbind.h"
#include "ordo/luajson.h"
#include "ordo/supply.h"

static int push_ds(lua_State *L, const struct lbind_ctx *c, int64_t id)
{
	struct lbind_jbox *b = lbind_jbox_new(L);

	if ((b->v = supply_dropship_get(c->db, c->merchant, id)) == NULL) {
		lua_pushnil(L);
		return 1;
	}
	lbind_jbox_push(L, b);
	return 1;
}

static int forward_body(lua_State *L)
{
	struct lbind_ctx c = lbind_context(L, "dropship", "forward");
	int64_t order = lbind_order(L, &c, 1, "dropship", "forward"), id;
	const char *supplier = luaL_checkstring(L, 3);
	struct lbind_jbox *lines;
	char err[SUPPLY_ERRLEN], key[64];

	luaL_checktype(L, 2, LUA_TTABLE);
	lua_settop(L, 3);
	lines = lbind_jbox_new(L);
	if ((lines->v = luajson_from_lua(L, 2, err, sizeof err)) == NULL)
		return luaL_error(L, "dropship.forward: lines: %s", err);
	lbind_effect_key(L, &c, key, sizeof key);
	id = supply_dropship(c.db, c.m, order, lines->v, supplier, c.event_id, key, err);
	json_decref(lines->v);
	lines->v = NULL;
	if (id < 0)
		return luaL_error(L, "dropship.forward: %s", err);
	return push_ds(L, &c, id);
}

static int update_body(lua_State *L)
{
	struct lbind_ctx c = lbind_context(L, "dropship", "update");
	lua_Integer id = luaL_checkinteger(L, 1);
	const char *status = luaL_checkstring(L, 2), *reason = NULL, *carrier = NULL;
	const char *tn = NULL, *url = NULL, *sender = NULL;
	char err[SUPPLY_ERRLEN];

	if (lua_istable(L, 3)) {
		lua_getfield(L, 3, "reason");
		lua_getfield(L, 3, "carrier");
		lua_getfield(L, 3, "tracking_number");
		lua_getfield(L, 3, "tracking_url");
		lua_getfield(L, 3, "supplier");
		reason = lua_tostring(L, -5);
		carrier = lua_tostring(L, -4);
		tn = lua_tostring(L, -3);
		url = lua_tostring(L, -2);
		sender = lua_tostring(L, -1);
	}
	if (supply_dropship_update(c.db, c.m, id, sender, status, reason, carrier, tn, url,
	    c.event_id, err) != 0)
		return luaL_error(L, "dropship.update: %s", err);
	return push_ds(L, &c, id);
}

static int l_forward(lua_State *L)
{
	return lbind_atomic(L, lbind_context(L, "dropship", "forward").db, forward_body);
}

static int l_update(lua_State *L)
{
	return lbind_atomic(L, lbind_context(L, "dropship", "update").db, update_body);
}

static int l_get(lua_State *L)
{
	struct lbind_ctx c = lbind_context(L, "dropship", "get");

	return push_ds(L, &c, luaL_checkinteger(L, 1));
}

static const luaL_Reg dropship_lib[] = {
	{ "forward", l_forward }, { "update", l_update }, { "get", l_get }, { NULL, NULL },
};

int l_dropship_open(lua_State *L)
{
	lbind_jbox_register(L);
	luaL_newlib(L, dropship_lib);
	return 1;
}
