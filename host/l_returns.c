/*
 * l_returns — the `returns` module (see returns.h).
 *
 *   returns.get(id)                          -> return table | nil
 *   returns.create(order, lines [, reason])  -> return table
 *   returns.approve(id)                      -> return table
 *   returns.reject(id [, note])              -> return table
 *   returns.receive(id [, lines [, location]]) -> return table
 *   returns.refund(id [, amount])            -> payment id
 *   returns.close(id)                        -> return table
 *
 * lines: {{line=, quantity=}} to request; {{line=, quantity=, location=}
 * or {line=, quantity=, damaged=true}} to receive (nil: everything,
 * restocked unless the reason is "damaged"). returns.refund sends
 * payments.refund for the return's received units (or `amount`) and
 * records the payment on the return; the payment rules are C's. Every call
 * runs in a savepoint of its own (lbind_atomic). Depends on returns,
 * luajson, lbind and l_payments.
 */
#include <lauxlib.h>

#include "ordo/db.h"

#include "ordo/l_effects.h"
#include "ordo/lbind.h"
#include "ordo/luajson.h"
#include "ordo/returns.h"

/* Push the return (or raise). */
static int push_return(lua_State *L, const struct lbind_ctx *c, int64_t id, const char *fn)
{
	struct lbind_jbox *b = lbind_jbox_new(L);

	if ((b->v = returns_get(c->db, c->merchant, id)) == NULL)
		return luaL_error(L, "returns.%s: database error", fn);
	lbind_jbox_push(L, b);
	return 1;
}

/* A Lua table argument at idx as JSON, owned by a box on the stack; NULL
 * for nil/absent. */
static json_t *arg_json(lua_State *L, int idx, const char *fn)
{
	struct lbind_jbox *b;
	char err[256];

	if (lua_isnoneornil(L, idx))
		return NULL;
	luaL_checktype(L, idx, LUA_TTABLE);
	b = lbind_jbox_new(L);
	if ((b->v = luajson_from_lua(L, idx, err, sizeof err)) == NULL)
		luaL_error(L, "returns.%s: %s", fn, err);
	return b->v;
}

static int get_body(lua_State *L)
{
	struct lbind_ctx c = lbind_context(L, "returns", "get");
	lua_Integer id = luaL_checkinteger(L, 1);
	struct lbind_jbox *b = lbind_jbox_new(L);

	if ((b->v = returns_get(c.db, c.merchant, id)) == NULL)
		lua_pushnil(L);
	else
		lbind_jbox_push(L, b);
	return 1;
}

static int create_body(lua_State *L)
{
	struct lbind_ctx c = lbind_context(L, "returns", "create");
	int64_t order = lbind_order(L, &c, 1, "returns", "create");
	const char *reason = luaL_optstring(L, 3, NULL);
	json_t *lines;
	char err[RETURNS_ERRLEN];
	int64_t id;

	luaL_checktype(L, 2, LUA_TTABLE);
	lines = arg_json(L, 2, "create");
	if ((id = returns_create(c.db, c.m, order, lines, reason, c.event_id, err)) < 0)
		return luaL_error(L, "returns.create: %s", err);
	return push_return(L, &c, id, "create");
}

/* approve, reject, receive, close: one step, then the return. */
static int step(lua_State *L, const char *fn)
{
	struct lbind_ctx c = lbind_context(L, "returns", fn);
	lua_Integer id = luaL_checkinteger(L, 1);
	char err[RETURNS_ERRLEN];
	int rc;

	if (fn[0] == 'a')
		rc = returns_approve(c.db, c.m, id, c.event_id, err);
	else if (fn[0] == 'r' && fn[2] == 'j')
		rc = returns_reject(c.db, c.m, id, luaL_optstring(L, 2, NULL), c.event_id, err);
	else if (fn[0] == 'r')
		rc = returns_receive(c.db, c.m, id, arg_json(L, 2, fn), luaL_optstring(L, 3, NULL),
		    c.event_id, err);
	else
		rc = returns_close(c.db, c.m, id, c.event_id, err);
	if (rc != 0)
		return luaL_error(L, "returns.%s: %s", fn, err);
	return push_return(L, &c, id, fn);
}

static int approve_body(lua_State *L) { return step(L, "approve"); }
static int reject_body(lua_State *L) { return step(L, "reject"); }
static int receive_body(lua_State *L) { return step(L, "receive"); }
static int close_body(lua_State *L) { return step(L, "close"); }

static int refund_body(lua_State *L)
{
	struct lbind_ctx c = lbind_context(L, "returns", "refund");
	lua_Integer id = luaL_checkinteger(L, 1);
	int64_t amount = lbind_amount(L, 2, "returns", "refund"), order, payment;
	char err[RETURNS_ERRLEN];

	if ((amount = returns_refund_check(c.db, c.m, id, amount, err)) < 0)
		return luaL_error(L, "returns.refund: %s", err);
	if ((order = returns_order(c.db, c.merchant, id)) <= 0)
		return luaL_error(L, "returns.refund: database error");
	lua_settop(L, 0);
	lua_pushcfunction(L, l_payments_refund);
	lua_pushinteger(L, order);
	lua_pushinteger(L, amount);
	lua_pushfstring(L, "return %d", (int)id);
	lua_call(L, 3, 1);
	payment = lua_tointeger(L, -1);
	if (returns_refunded(c.db, c.m, id, payment, amount, c.event_id, err) != 0)
		return luaL_error(L, "returns.refund: %s", err);
	return 1;
}

static int l_get(lua_State *L)
{
	return get_body(L);
}

static int l_create(lua_State *L)
{
	return lbind_atomic(L, lbind_context(L, "returns", "create").db, create_body);
}

static int l_refund(lua_State *L)
{
	return lbind_atomic(L, lbind_context(L, "returns", "refund").db, refund_body);
}

static int l_approve(lua_State *L)
{
	return lbind_atomic(L, lbind_context(L, "returns", "approve").db, approve_body);
}

static int l_reject(lua_State *L)
{
	return lbind_atomic(L, lbind_context(L, "returns", "reject").db, reject_body);
}

static int l_receive(lua_State *L)
{
	return lbind_atomic(L, lbind_context(L, "returns", "receive").db, receive_body);
}

static int l_close(lua_State *L)
{
	return lbind_atomic(L, lbind_context(L, "returns", "close").db, close_body);
}

static const luaL_Reg returns_lib[] = {
	{ "get", l_get },
	{ "create", l_create },
	{ "approve", l_approve },
	{ "reject", l_reject },
	{ "receive", l_receive },
	{ "refund", l_refund },
	{ "close", l_close },
	{ NULL, NULL },
};

int l_returns_open(lua_State *L)
{
	lbind_jbox_register(L);
	luaL_newlib(L, returns_lib);
	return 1;
}
