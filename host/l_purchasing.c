/*
 * l_purchasing — the `purchasing` module (see supply.h).
 *
 *   purchasing.order(supplier, sku, quantity [, location]) -> purchase order
 *
 * The purchase order goes to the supplier as a signed effect; receiving it
 * (POST /api/v1/purchase-orders/{id}/receive) adds the stock and serves the
 * backorder queue. Depends on supply, lbind.
 */
#include <lauxlib.h>

#include "ordo/l_effects.h"
#include "ordo/lbind.h"
#include "ordo/supply.h"

static int order_body(lua_State *L)
{
	struct lbind_ctx c = lbind_context(L, "purchasing", "order");
	const char *supplier = luaL_checkstring(L, 1), *sku = luaL_checkstring(L, 2);
	lua_Integer qty = luaL_checkinteger(L, 3);
	const char *loc = luaL_optstring(L, 4, NULL);
	struct lbind_jbox *b;
	char err[SUPPLY_ERRLEN], key[64];
	int64_t id;

	lbind_effect_key(L, &c, key, sizeof key);
	if ((id = supply_po_create(c.db, c.m, supplier, sku, qty, loc, c.event_id, key, err)) < 0)
		return luaL_error(L, "purchasing.order: %s", err);
	b = lbind_jbox_new(L);
	if ((b->v = supply_po_get(c.db, c.merchant, id)) == NULL)
		return luaL_error(L, "purchasing.order: database error");
	lbind_jbox_push(L, b);
	return 1;
}

static int l_order(lua_State *L)
{
	return lbind_atomic(L, lbind_context(L, "purchasing", "order").db, order_body);
}

static const luaL_Reg purchasing_lib[] = {
	{ "order", l_order },
	{ NULL, NULL },
};

int l_purchasing_open(lua_State *L)
{
	lbind_jbox_register(L);
	luaL_newlib(L, purchasing_lib);
	return 1;
}
