/*
 * l_fulfillment — the `fulfillment` module (see fulfillment.h).
 *
 *   fulfillment.create(order, location [, lines]) -> shipment
 *       lines: {{line=, quantity=}, ...}; without: everything reserved there
 *   fulfillment.advance(shipment, status [, {carrier=, tracking_number=,
 *                       tracking_url=}])           -> shipment
 *       status: picked, packed, shipped, delivered, canceled
 *   fulfillment.shipments(order)                    -> {shipment, ...}
 *   fulfillment.find(tracking_number)               -> shipment or nil
 *
 * Shipping takes the units out of stock; order_shipped / order_delivered
 * follow as events. Each call runs in its own savepoint. Depends on
 * fulfillment, luajson, lbind.
 */
#include <lauxlib.h>

#include "ordo/fulfillment.h"
#include "ordo/l_effects.h"
#include "ordo/lbind.h"
#include "ordo/luajson.h"

static int push_ship(lua_State *L, const struct lbind_ctx *c, int64_t id)
{
	struct lbind_jbox *b = lbind_jbox_new(L);

	if ((b->v = ship_get(c->db, c->merchant, id)) == NULL)
		return luaL_error(L, "fulfillment: shipment %d not found", (int)id);
	lbind_jbox_push(L, b);
	return 1;
}

static int create_body(lua_State *L)
{
	struct lbind_ctx c = lbind_context(L, "fulfillment", "create");
	int64_t order = lbind_order(L, &c, 1, "fulfillment", "create"), id;
	const char *loc = luaL_checkstring(L, 2);
	struct lbind_jbox *lines;
	char err[SHIP_ERRLEN];

	lua_settop(L, 3);
	lines = lbind_jbox_new(L);
	if (!lua_isnil(L, 3) && (lines->v = luajson_from_lua(L, 3, err, sizeof err)) == NULL)
		return luaL_error(L, "fulfillment.create: lines: %s", err);
	id = ship_create(c.db, c.m, order, loc, lines->v, c.event_id, err);
	json_decref(lines->v);
	lines->v = NULL;
	if (id < 0)
		return luaL_error(L, "fulfillment.create: %s", err);
	return push_ship(L, &c, id);
}

static int advance_body(lua_State *L)
{
	struct lbind_ctx c = lbind_context(L, "fulfillment", "advance");
	int64_t id = 0;
	const char *status = luaL_checkstring(L, 2), *carrier = NULL, *tn = NULL, *url = NULL;
	char err[SHIP_ERRLEN];

	if (lua_isinteger(L, 1))
		id = lua_tointeger(L, 1);
	else if (lua_istable(L, 1) && lua_getfield(L, 1, "id") == LUA_TNUMBER)
		id = lua_tointeger(L, -1);
	if (id <= 0)
		return luaL_error(L, "fulfillment.advance: the shipment must be an id or a shipment");
	if (lua_istable(L, 3)) {
		lua_getfield(L, 3, "carrier");
		lua_getfield(L, 3, "tracking_number");
		lua_getfield(L, 3, "tracking_url");
		carrier = lua_tostring(L, -3);
		tn = lua_tostring(L, -2);
		url = lua_tostring(L, -1);
	}
	if (ship_advance(c.db, c.m, id, status, carrier, tn, url, c.event_id, err) != 0)
		return luaL_error(L, "fulfillment.advance: %s", err);
	return push_ship(L, &c, id);
}

static int l_create(lua_State *L)
{
	return lbind_atomic(L, lbind_context(L, "fulfillment", "create").db, create_body);
}

static int l_advance(lua_State *L)
{
	return lbind_atomic(L, lbind_context(L, "fulfillment", "advance").db, advance_body);
}

static int l_shipments(lua_State *L)
{
	struct lbind_ctx c = lbind_context(L, "fulfillment", "shipments");
	int64_t order = lbind_order(L, &c, 1, "fulfillment", "shipments");
	struct lbind_jbox *b = lbind_jbox_new(L);

	if ((b->v = ship_list(c.db, c.merchant, order)) == NULL)
		return luaL_error(L, "fulfillment.shipments: database error");
	lbind_jbox_push(L, b);
	return 1;
}

static int l_find(lua_State *L)
{
	struct lbind_ctx c = lbind_context(L, "fulfillment", "find");
	const char *tn = luaL_checkstring(L, 1);
	int64_t id = ship_by_tracking(c.db, c.merchant, tn);

	if (id < 0)
		return luaL_error(L, "fulfillment.find: database error");
	if (id == 0) {
		lua_pushnil(L);
		return 1;
	}
	return push_ship(L, &c, id);
}

static const luaL_Reg fulfillment_lib[] = {
	{ "create", l_create }, { "advance", l_advance }, { "shipments", l_shipments },
	{ "find", l_find },
	{ NULL, NULL },
};

int l_fulfillment_open(lua_State *L)
{
	lbind_jbox_register(L);
	luaL_newlib(L, fulfillment_lib);
	return 1;
}
