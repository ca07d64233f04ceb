/*
 * l_notify — the `notify` module (see l_effects.h, notify.h).
 *
 *   notify.customer(order, template [, data]) -> effect id
 *   notify.has_template(name)                 -> boolean
 *
 * Depends on notify, luajson, lbind.
 */
#include <lauxlib.h>

#include "ordo/config.h"
#include "ordo/l_effects.h"
#include "ordo/lbind.h"
#include "ordo/luajson.h"
#include "ordo/notify.h"
#include "ordo/sandbox.h"

static int l_customer(lua_State *L)
{
	struct lbind_ctx c = lbind_context(L, "notify", "customer");
	int64_t id = lbind_order(L, &c, 1, "notify", "customer"), eid;
	const char *name = luaL_checkstring(L, 2);
	struct lbind_jbox *data;
	char err[NOTIFY_ERRLEN], key[64];

	lua_settop(L, 3);
	data = lbind_jbox_new(L);
	if (!lua_isnil(L, 3)) {
		if (!lua_istable(L, 3))
			return luaL_error(L, "notify.customer: data must be a table, not %s",
			    luaL_typename(L, 3));
		if ((data->v = luajson_from_lua(L, 3, err, sizeof err)) == NULL)
			return luaL_error(L, "notify.customer: data: %s", err);
	}
	lbind_effect_key(L, &c, key, sizeof key);
	eid = notify_customer(c.db, c.m, id, name, data->v, c.event_id, key, err);
	json_decref(data->v);
	data->v = NULL;
	if (eid < 0)
		return luaL_error(L, "notify.customer: %s", err);
	lua_pushinteger(L, eid);
	return 1;
}

static int l_has_template(lua_State *L)
{
	const struct merchant_config *m = sandbox_merchant(sandbox_of(L));
	const char *name = luaL_checkstring(L, 1);

	lua_pushboolean(L, m->notify_url != NULL && notify_template_of(m, name) != NULL);
	return 1;
}

static const luaL_Reg notify_lib[] = {
	{ "customer", l_customer },
	{ "has_template", l_has_template },
	{ NULL, NULL },
};

int l_notify_open(lua_State *L)
{
	lbind_jbox_register(L);
	luaL_newlib(L, notify_lib);
	return 1;
}
