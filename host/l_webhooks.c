/*
 * l_webhooks — the `webhooks` module (see l_effects.h, notify.h).
 *
 *   webhooks.emit(topic, data [, order]) -> deliveries queued
 *
 * Sends `data` to every subscription of the merchant whose topics cover
 * `topic` (the host itself emits order.created, order.paid, ...). Depends
 * on notify, luajson, lbind.
 */
#include <ctype.h>
#include <string.h>

#include <lauxlib.h>

#include "ordo/l_effects.h"
#include "ordo/lbind.h"
#include "ordo/luajson.h"
#include "ordo/notify.h"

/* "order.shipped", "subscription.renewed": lower-case words and dots. */
static int topic_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64 || s[0] == '.' || s[n - 1] == '.')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) ||
		    s[i] == '_' || s[i] == '.'))
			return 0;
	return 1;
}

static int l_emit(lua_State *L)
{
	struct lbind_ctx c = lbind_context(L, "webhooks", "emit");
	const char *topic = luaL_checkstring(L, 1);
	struct lbind_jbox *data;
	int64_t order_id = 0;
	char err[NOTIFY_ERRLEN], key[64];
	int n;

	if (!topic_ok(topic))
		return luaL_error(L, "webhooks.emit: \"%s\" is not a topic (lower-case words"
		    " joined by dots, e.g. order.shipped)", topic);
	luaL_checktype(L, 2, LUA_TTABLE);
	if (!lua_isnoneornil(L, 3))
		order_id = lbind_order(L, &c, 3, "webhooks", "emit");
	lua_settop(L, 3);
	data = lbind_jbox_new(L);
	if ((data->v = luajson_from_lua(L, 2, err, sizeof err)) == NULL)
		return luaL_error(L, "webhooks.emit: data: %s", err);
	lbind_effect_key(L, &c, key, sizeof key);
	n = notify_webhooks(c.db, c.m, topic, order_id, data->v, c.event_id, key, err);
	json_decref(data->v);
	data->v = NULL;
	if (n < 0)
		return luaL_error(L, "webhooks.emit: %s", err);
	lua_pushinteger(L, n);
	return 1;
}

static const luaL_Reg webhooks_lib[] = {
	{ "emit", l_emit },
	{ NULL, NULL },
};

int l_webhooks_open(lua_State *L)
{
	lbind_jbox_register(L);
	luaL_newlib(L, webhooks_lib);
	return 1;
}
