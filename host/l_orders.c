/*
 * l_orders — the `orders` module for workflow scripts.
 *
 *   orders.create(shape)            -> order, created   (idempotent)
 *   orders.get(ref)                 -> order or nil
 *   orders.set_status(ref, status [, reason])
 *   orders.note(ref, text)
 *   orders.tag(ref, tag)
 *   orders.mark_paid(ref [, amount]) -> payment_status
 *
 * A ref is an order id, an order table (its `id`), or {channel=,
 * external_id=}. Everything is scoped to the sandbox's merchant: another
 * merchant's order does not exist here.
 *
 * Depends on orders, luajson and sandbox. JSON values owned by C sit in a
 * userdata box with __gc while any call that can raise runs, so an
 * out-of-memory raise cannot leak them.
 */
#include <string.h>

#include <lauxlib.h>

#include "ordo/l_orders.h"
#include "ordo/luajson.h"
#include "ordo/orders.h"
#include "ordo/sandbox.h"

#define JBOX "ordo.jbox"

struct jbox {
	json_t *v;
};

static int jbox_gc(lua_State *L)
{
	struct jbox *b = luaL_checkudata(L, 1, JBOX);

	json_decref(b->v);
	b->v = NULL;
	return 0;
}

/* A new empty box on the stack top. May raise (memory); owns nothing yet. */
static struct jbox *jbox_new(lua_State *L)
{
	struct jbox *b = lua_newuserdatauv(L, sizeof *b, 0);

	b->v = NULL;
	luaL_setmetatable(L, JBOX);
	return b;
}

/* Replace the box's value with the JSON pushed as Lua, then free it. */
static void push_boxed(lua_State *L, struct jbox *b)
{
	luajson_push(L, b->v);
	json_decref(b->v);
	b->v = NULL;
}

struct ctx {
	struct db *db;
	const char *merchant;
	int64_t event_id;
};

static struct ctx context(lua_State *L, const char *fn)
{
	struct sandbox *sb = sandbox_of(L);
	struct ctx c = { sandbox_db(sb), sandbox_merchant(sb)->id, sandbox_event_id(sb) };

	/* Only inside a handler: top-level workflow code runs at load and on
	 * every reload, outside any event and any transaction. */
	if (c.db == NULL || c.event_id <= 0)
		luaL_error(L, "orders.%s can only be called from a handler, not while"
		    " the workflow loads", fn);
	return c;
}

/* The order id a ref names, or 0 when there is no such order. Raises on a
 * ref of the wrong type. */
static int64_t ref_id(lua_State *L, const struct ctx *c, int idx, const char *fn)
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
				luaL_error(L, "orders.%s: the order must be an id, an order, or"
				    " {channel=, external_id=} with text values", fn);
			id = orders_find(c->db, c->merchant, ch, ext);
			if (id < 0)
				luaL_error(L, "orders.%s: database error", fn);
			lua_pop(L, 2);
		}
		lua_pop(L, 1);
	} else {
		luaL_error(L, "orders.%s: the order must be an id or a table, not %s", fn,
		    luaL_typename(L, idx));
	}
	return id;
}

static int64_t ref_existing(lua_State *L, const struct ctx *c, int idx, const char *fn)
{
	int64_t id = ref_id(L, c, idx, fn);

	if (id <= 0)
		luaL_error(L, "orders.%s: no such order", fn);
	return id;
}

static int push_order(lua_State *L, const struct ctx *c, int64_t id, unsigned parts)
{
	struct jbox *b = jbox_new(L);

	b->v = orders_get(c->db, c->merchant, id, parts);
	if (b->v == NULL) {
		lua_pushnil(L);
		return 1;
	}
	push_boxed(L, b);
	return 1;
}

static int l_create(lua_State *L)
{
	struct ctx c = context(L, "create");
	char err[ORDERS_ERRLEN];
	struct jbox *b;
	int64_t id;
	int created;

	luaL_checktype(L, 1, LUA_TTABLE);
	b = jbox_new(L);
	b->v = luajson_from_lua(L, 1, err, sizeof err);
	if (b->v == NULL)
		return luaL_error(L, "orders.create: %s", err);
	id = orders_create(c.db, c.merchant, b->v, c.event_id, &created, err);
	json_decref(b->v);
	b->v = NULL;
	if (id < 0)
		return luaL_error(L, "orders.create: %s", err);
	/* Lines, not history and payments: a fresh order has little of either,
	 * and orders.get reads everything when a script wants it. */
	push_order(L, &c, id, ORDERS_LINES);
	lua_pushboolean(L, created);
	return 2;
}

static int l_get(lua_State *L)
{
	struct ctx c = context(L, "get");
	int64_t id = ref_id(L, &c, 1, "get");

	if (id <= 0) {
		lua_pushnil(L);
		return 1;
	}
	return push_order(L, &c, id, ORDERS_ALL);
}

static int l_set_status(lua_State *L)
{
	struct ctx c = context(L, "set_status");
	int64_t id = ref_existing(L, &c, 1, "set_status");
	const char *status = luaL_checkstring(L, 2);
	const char *reason = luaL_optstring(L, 3, NULL);
	char err[ORDERS_ERRLEN];

	if (orders_set_status(c.db, c.merchant, id, status, reason, c.event_id, err) != 0)
		return luaL_error(L, "orders.set_status: %s", err);
	return 0;
}

static int l_note(lua_State *L)
{
	struct ctx c = context(L, "note");
	int64_t id = ref_existing(L, &c, 1, "note");
	const char *text = luaL_checkstring(L, 2);
	char err[ORDERS_ERRLEN];

	if (orders_note(c.db, c.merchant, id, text, c.event_id, err) != 0)
		return luaL_error(L, "orders.note: %s", err);
	return 0;
}

static int l_tag(lua_State *L)
{
	struct ctx c = context(L, "tag");
	int64_t id = ref_existing(L, &c, 1, "tag");
	const char *tag = luaL_checkstring(L, 2);
	char err[ORDERS_ERRLEN];

	if (orders_tag(c.db, c.merchant, id, tag, c.event_id, err) != 0)
		return luaL_error(L, "orders.tag: %s", err);
	return 0;
}

static int l_mark_paid(lua_State *L)
{
	struct ctx c = context(L, "mark_paid");
	int64_t id = ref_existing(L, &c, 1, "mark_paid");
	int64_t amount = -1;
	char err[ORDERS_ERRLEN], status[32];

	if (!lua_isnoneornil(L, 2)) {
		if (!lua_isinteger(L, 2) || lua_tointeger(L, 2) <= 0)
			return luaL_error(L, "orders.mark_paid: amount must be a positive integer"
			    " of minor units");
		amount = lua_tointeger(L, 2);
	}
	if (orders_mark_paid(c.db, c.merchant, id, amount, NULL, c.event_id, err) != 0 ||
	    orders_payment_status(c.db, c.merchant, id, status, sizeof status, err) != 0)
		return luaL_error(L, "orders.mark_paid: %s", err);
	lua_pushstring(L, status);
	return 1;
}

static const luaL_Reg orders_lib[] = {
	{ "create", l_create },
	{ "get", l_get },
	{ "set_status", l_set_status },
	{ "note", l_note },
	{ "tag", l_tag },
	{ "mark_paid", l_mark_paid },
	{ NULL, NULL },
};

int l_orders_open(lua_State *L)
{
	if (luaL_newmetatable(L, JBOX)) {
		lua_pushcfunction(L, jbox_gc);
		lua_setfield(L, -2, "__gc");
		lua_pushliteral(L, "locked");
		lua_setfield(L, -2, "__metatable");
	}
	lua_pop(L, 1);
	luaL_newlib(L, orders_lib);
	return 1;
}
