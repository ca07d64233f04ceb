/*
 * lbind — shared helpers of the Lua binding files (see lbind.h).
 *
 * Depends on sandbox (the state's owner), orders and luajson.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#include "ordo/config.h"
#include "ordo/db.h"
#include "ordo/lbind.h"
#include "ordo/luajson.h"
#include "ordo/orders.h"
#include "ordo/sandbox.h"

#define JBOX "ordo.jbox"

struct lbind_ctx lbind_context(lua_State *L, const char *module, const char *fn)
{
	struct sandbox *sb = sandbox_of(L);
	struct lbind_ctx c = {
		.sb = sb, .db = sandbox_db(sb), .m = sandbox_merchant(sb),
		.merchant = sandbox_merchant(sb)->id, .event_id = sandbox_event_id(sb),
	};

	if (c.db == NULL || c.event_id <= 0)
		luaL_error(L, "%s.%s can only be called from a handler, not while"
		    " the workflow loads", module, fn);
	return c;
}

int64_t lbind_order_ref(lua_State *L, const struct lbind_ctx *c, int idx,
    const char *module, const char *fn)
{
	int64_t id = 0;

	if (lua_isinteger(L, idx)) {
		id = lua_tointeger(L, idx);
	} else if (lua_istable(L, idx)) {
		if (lua_getfield(L, idx, "id") == LUA_TNUMBER && lua_isinteger(L, -1)) {
			id = lua_tointeger(L, -1);
		} else {
			const char *ch, *ext;

			lua_getfield(L, idx, "channel");
			lua_getfield(L, idx, "external_id");
			ch = lua_tostring(L, -2);
			ext = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
			if (ch == NULL || ext == NULL)
				luaL_error(L, "%s.%s: the order must be an id, an order, or"
				    " {channel=, external_id=} with text values", module, fn);
			id = orders_find(c->db, c->merchant, ch, ext);
			if (id < 0)
				luaL_error(L, "%s.%s: database error", module, fn);
			lua_pop(L, 2);
		}
		lua_pop(L, 1);
	} else {
		luaL_error(L, "%s.%s: the order must be an id or a table, not %s", module, fn,
		    luaL_typename(L, idx));
	}
	return id;
}

int64_t lbind_order(lua_State *L, const struct lbind_ctx *c, int idx,
    const char *module, const char *fn)
{
	int64_t id = lbind_order_ref(L, c, idx, module, fn);
	int owned = id > 0 ? orders_owned(c->db, c->merchant, id) : 0;

	if (owned < 0)
		luaL_error(L, "%s.%s: database error", module, fn);
	if (owned == 0)
		luaL_error(L, "%s.%s: no such order", module, fn);
	return id;
}

int64_t lbind_amount(lua_State *L, int idx, const char *module, const char *fn)
{
	if (lua_isnoneornil(L, idx))
		return -1;
	if (!lua_isinteger(L, idx) || lua_tointeger(L, idx) <= 0)
		luaL_error(L, "%s.%s: amount must be a positive integer of minor units"
		    " (1999 for 19.99), got %s", module, fn,
		    lua_type(L, idx) == LUA_TNUMBER ? lua_tostring(L, idx) : luaL_typename(L, idx));
	return lua_tointeger(L, idx);
}

static int jbox_gc(lua_State *L)
{
	struct lbind_jbox *b = luaL_checkudata(L, 1, JBOX);

	json_decref(b->v);
	b->v = NULL;
	return 0;
}

struct lbind_jbox *lbind_jbox_new(lua_State *L)
{
	struct lbind_jbox *b = lua_newuserdatauv(L, sizeof *b, 0);

	b->v = NULL;
	luaL_setmetatable(L, JBOX);
	return b;
}

void lbind_jbox_push(lua_State *L, struct lbind_jbox *b)
{
	luajson_push(L, b->v);
	json_decref(b->v);
	b->v = NULL;
}

void lbind_jbox_register(lua_State *L)
{
	if (luaL_newmetatable(L, JBOX)) {
		lua_pushcfunction(L, jbox_gc);
		lua_setfield(L, -2, "__gc");
		lua_pushliteral(L, "locked");
		lua_setfield(L, -2, "__metatable");
	}
	lua_pop(L, 1);
}

int lbind_push_order(lua_State *L, const struct lbind_ctx *c, int64_t id, unsigned parts)
{
	struct lbind_jbox *b = lbind_jbox_new(L);

	b->v = orders_get(c->db, c->merchant, id, parts);
	if (b->v == NULL) {
		lua_pushnil(L);
		return 1;
	}
	lbind_jbox_push(L, b);
	return 1;
}

void lbind_effect_key(lua_State *L, const struct lbind_ctx *c, char *buf, size_t len)
{
	(void)L;
	snprintf(buf, len, "e%" PRId64 "-%d", c->event_id, sandbox_next_effect(c->sb));
}

int lbind_atomic(lua_State *L, struct db *db, lua_CFunction body)
{
	int nargs = lua_gettop(L);

	if (db_savepoint(db) != 0)
		return luaL_error(L, "database error: %s", db_errmsg(db));
	lua_pushcfunction(L, body);
	lua_insert(L, 1);
	if (lua_pcall(L, nargs, LUA_MULTRET, 0) != LUA_OK) {
		db_rollback_savepoint(db);
		return lua_error(L);
	}
	if (db_release(db) != 0)
		return luaL_error(L, "database error: %s", db_errmsg(db));
	return lua_gettop(L);
}

int lbind_event_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64 || !(islower((unsigned char)s[0]) || s[0] == '_'))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '_'))
			return 0;
	return 1;
}
