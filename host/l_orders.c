/*
 * l_orders — the `orders` module for workflow scripts.
 *
 *   orders.create(shape)            -> order, created   (idempotent)
 *   orders.get(ref)                 -> order or nil
 *   orders.set_status(ref, status [, reason])
 *   orders.note(ref, text)
 *   orders.tag(ref, tag)
 *   orders.mark_paid(ref [, amount]) -> payment_status
 *   orders.storefront_refund(ref, refund) -> "recorded" | "matched" | "duplicate"
 *       refund: ev.refund ({external_id=, amount=, references={...}}); see
 *       orders_storefront_refund(): a refund ordo sent itself, reported back
 *       by the storefront, is matched and not counted twice
 *   orders.cancel_lines(ref, {{line=, quantity=}, ...} [, reason])
 *       -> {all=, amount=, total=, lines={{line=, sku=, quantity=, amount=}}}
 *       units canceled and the total lowered (edits.h); all = true: the
 *       request covers the whole order and nothing changed (cancel it whole)
 *   orders.edit(ref, {add={{sku=, quantity=, unit_price=}}, change={{line=, quantity=}}})
 *       -> {delta=, old_total=, total=, added={...}, increased={...}, decreased={...}}
 *
 * A ref is an order id, an order table (its `id`), or {channel=,
 * external_id=}. Everything is scoped to the sandbox's merchant: another
 * merchant's order does not exist here.
 *
 * Depends on orders, luajson, sandbox and lbind. JSON values owned by C sit
 * in a userdata box with __gc (lbind) while any call that can raise runs,
 * so an out-of-memory raise cannot leak them.
 */
#include <string.h>

#include <lauxlib.h>

#include "ordo/edits.h"
#include "ordo/l_orders.h"
#include "ordo/lbind.h"
#include "ordo/luajson.h"
#include "ordo/orders.h"
#include "ordo/sandbox.h"

/* The module's context: outside a handler every primitive raises. */
#define context(L, fn) lbind_context(L, "orders", fn)
#define ref_id(L, c, idx, fn) lbind_order_ref(L, c, idx, "orders", fn)
#define ref_existing(L, c, idx, fn) lbind_order(L, c, idx, "orders", fn)
#define push_order lbind_push_order

static int l_create(lua_State *L)
{
	struct lbind_ctx c = context(L, "create");
	char err[ORDERS_ERRLEN];
	struct lbind_jbox *b;
	int64_t id;
	int created;

	luaL_checktype(L, 1, LUA_TTABLE);
	b = lbind_jbox_new(L);
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
	struct lbind_ctx c = context(L, "get");
	int64_t id = ref_id(L, &c, 1, "get");

	if (id <= 0) {
		lua_pushnil(L);
		return 1;
	}
	return push_order(L, &c, id, ORDERS_ALL);
}

static int l_set_status(lua_State *L)
{
	struct lbind_ctx c = context(L, "set_status");
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
	struct lbind_ctx c = context(L, "note");
	int64_t id = ref_existing(L, &c, 1, "note");
	const char *text = luaL_checkstring(L, 2);
	char err[ORDERS_ERRLEN];

	if (orders_note(c.db, c.merchant, id, text, c.event_id, err) != 0)
		return luaL_error(L, "orders.note: %s", err);
	return 0;
}

static int l_tag(lua_State *L)
{
	struct lbind_ctx c = context(L, "tag");
	int64_t id = ref_existing(L, &c, 1, "tag");
	const char *tag = luaL_checkstring(L, 2);
	char err[ORDERS_ERRLEN];

	if (orders_tag(c.db, c.merchant, id, tag, c.event_id, err) != 0)
		return luaL_error(L, "orders.tag: %s", err);
	return 0;
}

static int l_mark_paid(lua_State *L)
{
	struct lbind_ctx c = context(L, "mark_paid");
	int64_t id = ref_existing(L, &c, 1, "mark_paid");
	int64_t amount = lbind_amount(L, 2, "orders", "mark_paid");
	char err[ORDERS_ERRLEN], status[32];

	if (orders_mark_paid(c.db, c.merchant, id, amount, NULL, c.event_id, err) != 0 ||
	    orders_payment_status(c.db, c.merchant, id, status, sizeof status, err) != 0)
		return luaL_error(L, "orders.mark_paid: %s", err);
	lua_pushstring(L, status);
	return 1;
}

#define MAX_REFS 16

static int storefront_refund_body(lua_State *L)
{
	struct lbind_ctx c = context(L, "storefront_refund");
	int64_t id = ref_existing(L, &c, 1, "storefront_refund");
	const char *refs[MAX_REFS], *ext, *out;
	char err[ORDERS_ERRLEN];
	lua_Integer amount;
	size_t n = 0;
	int ok;

	luaL_checktype(L, 2, LUA_TTABLE);
	lua_getfield(L, 2, "external_id");
	ext = lua_tostring(L, -1);
	lua_getfield(L, 2, "amount");
	amount = lua_tointegerx(L, -1, &ok);
	if (ext == NULL || !ok)
		return luaL_error(L, "orders.storefront_refund: the refund needs external_id (text)"
		    " and amount (integer minor units)");
	if (lua_getfield(L, 2, "references") == LUA_TTABLE) {
		int t = lua_gettop(L);

		luaL_checkstack(L, MAX_REFS + 1, "orders.storefront_refund");
		for (lua_Integer i = 1; n < MAX_REFS; i++) {
			if (lua_rawgeti(L, t, i) != LUA_TSTRING) {
				lua_pop(L, 1);
				break;
			}
			refs[n++] = lua_tostring(L, -1);   /* stays on the stack while used */
		}
	}
	out = orders_storefront_refund(c.db, c.merchant, id, ext, (int64_t)amount, refs, n,
	    c.m->pay_gateway, c.event_id, err);
	if (out == NULL)
		return luaL_error(L, "orders.storefront_refund: %s", err);
	lua_pushstring(L, out);
	return 1;
}

static int l_storefront_refund(lua_State *L)
{
	return lbind_atomic(L, context(L, "storefront_refund").db, storefront_refund_body);
}

/* orders.cancel_lines(ref, lines [, reason]) and orders.edit(ref, edit):
 * the C checks and line changes of edits.h, then the result as a table.
 * A refusal raises with the host's message. */
static int cancel_lines_body(lua_State *L)
{
	struct lbind_ctx c = context(L, "cancel_lines");
	int64_t id = ref_existing(L, &c, 1, "cancel_lines");
	const char *reason = luaL_optstring(L, 3, NULL);
	char err[EDITS_ERRLEN];
	struct lbind_jbox *in, *res;

	luaL_checktype(L, 2, LUA_TTABLE);
	in = lbind_jbox_new(L);
	res = lbind_jbox_new(L);
	if ((in->v = luajson_from_lua(L, 2, err, sizeof err)) == NULL)
		return luaL_error(L, "orders.cancel_lines: %s", err);
	if (edits_cancel_lines(c.db, c.m, id, in->v, reason, 0, c.event_id, &res->v, err) != 0)
		return luaL_error(L, "orders.cancel_lines: %s", err);
	lbind_jbox_push(L, res);
	return 1;
}

static int edit_body(lua_State *L)
{
	struct lbind_ctx c = context(L, "edit");
	int64_t id = ref_existing(L, &c, 1, "edit");
	char err[EDITS_ERRLEN];
	struct lbind_jbox *in, *res;

	luaL_checktype(L, 2, LUA_TTABLE);
	in = lbind_jbox_new(L);
	res = lbind_jbox_new(L);
	if ((in->v = luajson_from_lua(L, 2, err, sizeof err)) == NULL)
		return luaL_error(L, "orders.edit: %s", err);
	if (edits_apply(c.db, c.m, id, in->v, 0, c.event_id, &res->v, err) != 0)
		return luaL_error(L, "orders.edit: %s", err);
	lbind_jbox_push(L, res);
	return 1;
}

static int l_cancel_lines(lua_State *L)
{
	return lbind_atomic(L, context(L, "cancel_lines").db, cancel_lines_body);
}

static int l_edit(lua_State *L)
{
	return lbind_atomic(L, context(L, "edit").db, edit_body);
}

static const luaL_Reg orders_lib[] = {
	{ "cancel_lines", l_cancel_lines },
	{ "edit", l_edit },
	{ "create", l_create },
	{ "get", l_get },
	{ "set_status", l_set_status },
	{ "note", l_note },
	{ "tag", l_tag },
	{ "mark_paid", l_mark_paid },
	{ "storefront_refund", l_storefront_refund },
	{ NULL, NULL },
};

int l_orders_open(lua_State *L)
{
	lbind_jbox_register(L);
	luaL_newlib(L, orders_lib);
	return 1;
}
