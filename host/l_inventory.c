/*
 * l_inventory — the `inventory` module (see inventory.h).
 *
 *   inventory.reserve(order [, plan])  -> {reserved = {...}, short = {...}}
 *       plan: {{line=, location=, quantity=}, ...}; without one, each line
 *       from the locations in priority order
 *   inventory.backorder(order, lines)  lines: {{line=, quantity=}, ...}
 *   inventory.release(order [, line [, reason [, units]]]) -> units released
 *                                      (units: only that many of the line, canceled)
 *   inventory.available(sku)           -> {location = units, ...}
 *   inventory.receive(sku, location, n [, reason]), inventory.adjust(...),
 *   inventory.restock(sku, location, n [, reason])   (a return)
 *   inventory.locations()              -> {{id=, name=, region=, priority=, kind=}, ...}
 *
 * Each call that writes runs in its own savepoint (lbind_atomic): it
 * happens whole or not at all. Depends on inventory, luajson, lbind.
 */
#include <lauxlib.h>

#include "ordo/config.h"
#include "ordo/l_effects.h"
#include "ordo/lbind.h"
#include "ordo/luajson.h"
#include "ordo/inventory.h"

static int reserve_body(lua_State *L)
{
	struct lbind_ctx c = lbind_context(L, "inventory", "reserve");
	int64_t id = lbind_order(L, &c, 1, "inventory", "reserve");
	struct lbind_jbox *plan, *out;
	char err[INV_ERRLEN];

	lua_settop(L, 2);
	plan = lbind_jbox_new(L);
	out = lbind_jbox_new(L);
	if (!lua_isnil(L, 2) && (plan->v = luajson_from_lua(L, 2, err, sizeof err)) == NULL)
		return luaL_error(L, "inventory.reserve: plan: %s", err);
	out->v = inv_reserve(c.db, c.m, id, plan->v, c.event_id, err);
	json_decref(plan->v);
	plan->v = NULL;
	if (out->v == NULL)
		return luaL_error(L, "inventory.reserve: %s", err);
	lbind_jbox_push(L, out);
	return 1;
}

static int backorder_body(lua_State *L)
{
	struct lbind_ctx c = lbind_context(L, "inventory", "backorder");
	int64_t id = lbind_order(L, &c, 1, "inventory", "backorder");
	struct lbind_jbox *lines;
	char err[INV_ERRLEN];
	int rc;

	luaL_checktype(L, 2, LUA_TTABLE);
	lua_settop(L, 2);
	lines = lbind_jbox_new(L);
	if ((lines->v = luajson_from_lua(L, 2, err, sizeof err)) == NULL)
		return luaL_error(L, "inventory.backorder: %s", err);
	rc = inv_backorder(c.db, c.m, id, lines->v, c.event_id, err);
	json_decref(lines->v);
	lines->v = NULL;
	if (rc != 0)
		return luaL_error(L, "inventory.backorder: %s", err);
	return 0;
}

static int release_body(lua_State *L)
{
	struct lbind_ctx c = lbind_context(L, "inventory", "release");
	int64_t id = lbind_order(L, &c, 1, "inventory", "release"), n;
	lua_Integer line = luaL_optinteger(L, 2, 0);
	const char *reason = luaL_optstring(L, 3, NULL);
	lua_Integer units = luaL_optinteger(L, 4, 0);
	char err[INV_ERRLEN];

	if (line < 0 || line > 100000)
		return luaL_error(L, "inventory.release: no line %d", (int)line);
	if (units < 0 || (units > 0 && line == 0))
		return luaL_error(L, "inventory.release: units need a line and must be positive");
	if ((n = units > 0 ? inv_release_units(c.db, c.m, id, (int)line, units, reason, c.event_id, err)
	    : inv_release(c.db, c.m, id, (int)line, reason, c.event_id, err)) < 0)
		return luaL_error(L, "inventory.release: %s", err);
	lua_pushinteger(L, n);
	return 1;
}

static int move_body(lua_State *L, const char *fn, const char *kind)
{
	struct lbind_ctx c = lbind_context(L, "inventory", fn);
	const char *sku = luaL_checkstring(L, 1), *loc = luaL_checkstring(L, 2);
	lua_Integer n = luaL_checkinteger(L, 3);
	const char *reason = luaL_optstring(L, 4, NULL);
	char err[INV_ERRLEN];

	if (inv_adjust(c.db, c.m, sku, loc, n, kind, reason, c.event_id, err) != 0)
		return luaL_error(L, "inventory.%s: %s", fn, err);
	return 0;
}

static int receive_body(lua_State *L) { return move_body(L, "receive", "receive"); }
static int adjust_body(lua_State *L) { return move_body(L, "adjust", "adjust"); }
static int restock_body(lua_State *L) { return move_body(L, "restock", "return"); }

/* The calls that write, each whole or not at all. */
static int atomic(lua_State *L, const char *fn, lua_CFunction body)
{
	return lbind_atomic(L, lbind_context(L, "inventory", fn).db, body);
}

static int l_reserve(lua_State *L) { return atomic(L, "reserve", reserve_body); }
static int l_backorder(lua_State *L) { return atomic(L, "backorder", backorder_body); }
static int l_release(lua_State *L) { return atomic(L, "release", release_body); }
static int l_receive(lua_State *L) { return atomic(L, "receive", receive_body); }
static int l_adjust(lua_State *L) { return atomic(L, "adjust", adjust_body); }
static int l_restock(lua_State *L) { return atomic(L, "restock", restock_body); }

static int l_available(lua_State *L)
{
	struct lbind_ctx c = lbind_context(L, "inventory", "available");
	const char *sku = luaL_checkstring(L, 1);
	struct lbind_jbox *b = lbind_jbox_new(L);

	if ((b->v = inv_available(c.db, c.m, sku)) == NULL)
		return luaL_error(L, "inventory.available: database error");
	lbind_jbox_push(L, b);
	return 1;
}

static int l_locations(lua_State *L)
{
	struct lbind_ctx c = lbind_context(L, "inventory", "locations");

	lua_createtable(L, (int)c.m->n_locations, 0);
	for (size_t i = 0; i < c.m->n_locations; i++) {
		const struct location_config *l = &c.m->locations[i];

		lua_createtable(L, 0, 5);
		lua_pushstring(L, l->id);
		lua_setfield(L, -2, "id");
		lua_pushstring(L, l->name);
		lua_setfield(L, -2, "name");
		if (l->region) {
			lua_pushstring(L, l->region);
			lua_setfield(L, -2, "region");
		}
		lua_pushinteger(L, l->priority);
		lua_setfield(L, -2, "priority");
		lua_pushstring(L, l->kind);
		lua_setfield(L, -2, "kind");
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

static const luaL_Reg inventory_lib[] = {
	{ "reserve", l_reserve }, { "backorder", l_backorder }, { "release", l_release },
	{ "receive", l_receive }, { "adjust", l_adjust }, { "restock", l_restock },
	{ "available", l_available }, { "locations", l_locations }, { NULL, NULL },
};

int l_inventory_open(lua_State *L)
{
	lbind_jbox_register(L);
	luaL_newlib(L, inventory_lib);
	return 1;
}
