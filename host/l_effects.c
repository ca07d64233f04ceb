/*
 * l_effects — the host step for effect answers that need no settling
 * (http.post's on_success/on_failure, notification_sent/_failed,
 * webhook_failed): the event gets ev.order when the effect belongs to an
 * order, so a handler can act on it at once. Payment answers have their
 * own step (l_payments_result). Depends on lbind.
 */
#include <lauxlib.h>

#include "ordo/l_effects.h"
#include "ordo/lbind.h"
#include "ordo/orders.h"

int l_effects_answer(lua_State *L)
{
	struct lbind_ctx c = lbind_context(L, "effects", "answer");

	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	if (lua_getfield(L, 1, "order_id") == LUA_TNUMBER && lua_isinteger(L, -1)) {
		lbind_push_order(L, &c, lua_tointeger(L, -1), ORDERS_ALL);
		lua_setfield(L, 1, "order");
	}
	lua_getfield(L, 1, "name");
	return 1;
}
