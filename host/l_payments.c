/*
 * l_payments — the `payments` module and the step that reads a gateway's
 * answer (see l_effects.h).
 *
 *   payments.gateway()                     -> "stripe" | "manual" | nil
 *   payments.authorize(order [, amount])   -> payment id
 *   payments.capture(order [, amount])     -> payment id (no amount: what the
 *                                             order owes; owing nothing, a void)
 *   payments.void(order)                   -> id of the newest void, count: every
 *                                             open authorization
 *   payments.release(order)                -> count: voids of the authorizations
 *                                             the order no longer needs
 *   payments.refund(order, amount [, reason]) -> payment id
 *   payments.balance(order)                -> {total=, paid=, authorized=, due=,
 *                                             over=, refundable=, capturing=, open=}
 *
 * The money rules are C's (payments.c: never capture more than authorized,
 * never refund more than captured). The protocol is the gateway adapter's,
 * a Lua module scripts/payments/<gateway>.lua with two functions:
 *
 *   request(op, p)  -> {path=, form={...}} to send, or nil when there is
 *                      nothing to send (the manual gateway: it succeeds)
 *   parse(op, answer) -> {ok=, reference=, error=}
 *
 * p = {op, amount, currency, order_id, payment_id, reference, reason};
 * answer = {ok (HTTP 2xx), status, body, error}. An effect that gave up
 * without a final answer leaves the payment pending and raises
 * payment_unresolved: the gateway may have acted. Depends on payments,
 * outbox, inbox, lbind, sandbox and libcurl (form encoding).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <lauxlib.h>

#include "ordo/config.h"
#include "ordo/db.h"
#include "ordo/inbox.h"
#include "ordo/l_effects.h"
#include "ordo/lbind.h"
#include "ordo/orders.h"
#include "ordo/outbox.h"
#include "ordo/payments.h"
#include "ordo/sandbox.h"
#include "ordo/clock.h"

#define MAX_FORM (64 * 1024)

static void push_adapter(lua_State *L, const char *gateway, const char *fn)
{
	char name[64];

	snprintf(name, sizeof name, "payments.%s", gateway);
	sandbox_require(L, name);
	if (!lua_istable(L, -1) || lua_getfield(L, -1, fn) != LUA_TFUNCTION)
		luaL_error(L, "payment gateway adapter '%s' has no %s function", name, fn);
	lua_remove(L, -2);
}

static void set_s(lua_State *L, const char *k, const char *v)
{
	if (v == NULL || v[0] == '\0')
		return;
	lua_pushstring(L, v);
	lua_setfield(L, -2, k);
}

static void set_i(lua_State *L, const char *k, int64_t v)
{
	lua_pushinteger(L, (lua_Integer)v);
	lua_setfield(L, -2, k);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Form-encode the table at idx with sorted keys, so a body reads the same
 * whatever order Lua iterates in. Values: strings or integers. Pushes the
 * text. Raises on anything else. The key pointers sorted in C point into
 * strings the table keeps alive; the array is a userdata, so a raise
 * leaks nothing. */
static void push_form(lua_State *L, int idx)
{
	luaL_Buffer b;
	const char **keys;
	size_t n = 0, cap = 0;

	idx = lua_absindex(L, idx);
	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		if (lua_type(L, -2) != LUA_TSTRING ||
		    (lua_type(L, -1) != LUA_TSTRING && !lua_isinteger(L, -1)))
			luaL_error(L, "payment adapter: form fields must be text = text or integer");
		lua_pop(L, 1);
		cap++;
		if (cap > 256)
			luaL_error(L, "payment adapter: more than 256 form fields");
	}
	keys = lua_newuserdatauv(L, (cap ? cap : 1) * sizeof *keys, 0);
	lua_pushnil(L);
	while (lua_next(L, idx) != 0 && n < cap) {
		keys[n++] = lua_tostring(L, -2);
		lua_pop(L, 1);
	}
	qsort(keys, n, sizeof *keys, cmp_str);
	luaL_buffinit(L, &b);
	for (size_t i = 0; i < n; i++) {
		const char *v;
		size_t vlen, klen = strlen(keys[i]);
		char *buf, *ek, *ev;

		lua_getfield(L, idx, keys[i]);
		v = lua_tolstring(L, -1, &vlen);
		/* Lua owns the buffer, made before libcurl allocates anything:
		 * between curl_easy_escape and curl_free nothing can raise. */
		buf = lua_newuserdatauv(L, 3 * (klen + vlen) + 3, 0);
		ek = curl_easy_escape(NULL, keys[i], (int)klen);
		ev = curl_easy_escape(NULL, v, (int)vlen);
		if (ek != NULL && ev != NULL)
			snprintf(buf, 3 * (klen + vlen) + 3, "%s%s=%s", i > 0 ? "&" : "", ek, ev);
		else
			buf[0] = '\0';
		curl_free(ek);
		curl_free(ev);
		if (buf[0] == '\0' && !(i == 0 && klen == 0))
			luaL_error(L, "payment adapter: out of memory");
		lua_pushstring(L, buf);
		lua_remove(L, -2);     /* the buffer */
		lua_remove(L, -2);     /* the value */
		luaL_addvalue(&b);
	}
	luaL_pushresult(&b);
	lua_remove(L, -2); /* the key array */
	if (lua_rawlen(L, -1) > MAX_FORM)
		luaL_error(L, "payment adapter: form body over %d KiB", MAX_FORM / 1024);
}

/* Send one planned request: the adapter's request as an effect, or, when
 * the adapter has nothing to send, its "yes" as an event. Leaves the stack
 * as it found it; raises on an adapter or database error (the caller's
 * savepoint then drops the row too). */
static void send_plan(lua_State *L, struct lbind_ctx *cp, const struct payment_plan *planp,
    const char *reason)
{
	struct lbind_ctx c = *cp;
	struct payment_plan plan = *planp;
	const char *opname = payments_op_name(plan.op);
	const char *path, *form;
	struct lbind_jbox *headers, *meta;
	char err[ORDERS_ERRLEN], key[64], line[440], *url = NULL;
	int64_t eid;
	int dup, top = lua_gettop(L);

	push_adapter(L, c.m->pay_gateway, "request");
	lua_pushstring(L, opname);
	lua_createtable(L, 0, 8);
	set_s(L, "op", opname);
	set_i(L, "amount", plan.amount);
	set_s(L, "currency", plan.currency);
	set_i(L, "order_id", plan.order_id);
	set_i(L, "payment_id", plan.payment_id);
	set_s(L, "reference", plan.reference);
	set_s(L, "reason", reason);
	lua_call(L, 2, 1);

	if (lua_isnil(L, -1)) {
		/* Nothing to send: the answer is "yes", as an event like any other. */
		char payload[160], dedup[64];
		struct inbox_item item = {
			.merchant = c.merchant, .source = "effect", .topic = "payment_result",
			.dedup_key = dedup, .payload = payload,
		};
		char okey[200];
		sqlite3_stmt *st = db_prepare(c.db, "SELECT order_key FROM inbox WHERE id = ?");

		okey[0] = '\0';
		if (st != NULL) {
			sqlite3_bind_int64(st, 1, c.event_id);
			if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
				snprintf(okey, sizeof okey, "%s", (const char *)sqlite3_column_text(st, 0));
			db_reset(st);
		}
		item.order_key = okey[0] ? okey : NULL;
		snprintf(payload, sizeof payload, "{\"ok\":true,\"synthetic\":true,\"op\":\"%s\","
		    "\"payment_id\":%lld,\"order_id\":%lld}", opname, (long long)plan.payment_id,
		    (long long)plan.order_id);
		item.payload_len = strlen(payload);
		snprintf(dedup, sizeof dedup, "payment:%lld:synthetic", (long long)plan.payment_id);
		if (inbox_insert(c.db, &item, clock_now_ms(), &dup) < 0)
			luaL_error(L, "payments.%s: database error: %s", opname, db_errmsg(c.db));
		lua_settop(L, top);
		return;
	}
	if (!lua_istable(L, -1))
		luaL_error(L, "payment adapter payments.%s: request must return a table"
		    " {path=, form=} or nil, not %s", c.m->pay_gateway, luaL_typename(L, -1));
	if (c.m->pay_base_url == NULL)
		luaL_error(L, "payments.%s: the %s gateway needs payments.base_url",
		    opname, c.m->pay_gateway);
	lua_getfield(L, -1, "path");
	path = lua_tostring(L, -1);
	if (path == NULL || path[0] != '/')
		luaL_error(L, "payment adapter payments.%s: request's path must be text"
		    " starting with /", c.m->pay_gateway);
	if (lua_getfield(L, -2, "form") == LUA_TTABLE)
		push_form(L, -1);
	else
		lua_pushliteral(L, "");
	form = lua_tostring(L, -1);
	headers = lbind_jbox_new(L);
	meta = lbind_jbox_new(L);
	headers->v = json_array();
	meta->v = json_pack("{s:s,s:s,s:s}", "op", opname, "gateway", c.m->pay_gateway,
	    "auth", "gateway");
	if (headers->v == NULL || meta->v == NULL)
		luaL_error(L, "payments.%s: out of memory", opname);
	snprintf(key, sizeof key, "pay-%lld", (long long)plan.payment_id);
	json_array_append_new(headers->v, json_string("Content-Type: application/x-www-form-urlencoded"));
	{
		char wire[400];

		outbox_wire_key(c.db, c.merchant, "payment", key, wire, sizeof wire);
		snprintf(line, sizeof line, "Idempotency-Key: %s", wire);
	}
	json_array_append_new(headers->v, json_string(line));
	if (asprintf(&url, "%s%s", c.m->pay_base_url, path) < 0)
		luaL_error(L, "payments.%s: out of memory", opname);
	{
		struct outbox_effect e = {
			.merchant = c.merchant, .kind = "payment", .key = key,
			.order_id = plan.order_id, .payment_id = plan.payment_id,
			.event_id = c.event_id, .url = url, .headers = headers->v, .body = form,
			.body_len = strlen(form), .meta = meta->v, .timeout_ms = c.m->effects.timeout_ms,
			.max_attempts = c.m->effects.max_attempts,
		};

		eid = outbox_add(c.db, &e, &dup, err);
	}
	free(url);
	if (eid < 0)
		luaL_error(L, "payments.%s: %s", opname, err);
	lua_settop(L, top);
}

/* Everything one payments.* call does; runs inside request()'s savepoint.
 * Upvalue-free: the op is argument 1, the caller's arguments follow.
 * payments.void(order) voids every open authorization and
 * payments.release(order) those the order does not need (PAY_RELEASE). */
#define PAY_RELEASE PAY_OP_COUNT
static int request_body(lua_State *L)
{
	int opi = (int)lua_tointeger(L, 1);
	enum pay_op op = opi == PAY_RELEASE ? PAY_VOID : (enum pay_op)opi;
	const char *opname = opi == PAY_RELEASE ? "release" : payments_op_name(op);
	struct lbind_ctx c;
	struct payment_plan plan, plans[PAY_MAX_RELEASE];
	const char *reason = NULL;
	char err[ORDERS_ERRLEN];
	int64_t id, amount, first = 0;
	int n, count = 0;

	lua_remove(L, 1);
	c = lbind_context(L, "payments", opname);
	if (c.m->pay_gateway == NULL)
		return luaL_error(L, "payments.%s: merchant %s has no payment gateway (add"
		    " payments: { gateway: ... } to the config)", opname, c.merchant);
	id = lbind_order(L, &c, 1, "payments", opname);
	amount = opi == PAY_RELEASE ? -1 : lbind_amount(L, 2, "payments", opname);
	if (op == PAY_REFUND) {
		if (amount < 0)
			return luaL_error(L, "payments.refund: the amount to refund is required");
		reason = luaL_optstring(L, 3, NULL);
	}
	lua_settop(L, 3);
	if (op != PAY_VOID || amount >= 0) {
		if (payments_begin(c.db, c.merchant, c.m->pay_gateway, id, op, amount, reason,
		    c.event_id, &plan, err) != 0)
			return luaL_error(L, "payments.%s: %s", opname, err);
		send_plan(L, &c, &plan, reason);
		lua_pushinteger(L, plan.payment_id);
		return 1;
	}
	/* Voids of several authorizations: an edited order holds one per
	 * raise of its total. Each round plans only those still open. */
	do {
		n = payments_release(c.db, c.merchant, c.m->pay_gateway, id, opi != PAY_RELEASE,
		    opi == PAY_RELEASE ? "no longer needed" : NULL, c.event_id, plans,
		    PAY_MAX_RELEASE, err);
		if (n < 0)
			return luaL_error(L, "payments.%s: %s", opname, err);
		for (int i = 0; i < n; i++) {
			send_plan(L, &c, &plans[i], NULL);
			if (first == 0)
				first = plans[i].payment_id;
		}
		count += n;
	} while (n == PAY_MAX_RELEASE);
	if (opi == PAY_RELEASE) {
		lua_pushinteger(L, count);
		return 1;
	}
	if (count == 0) {
		/* Nothing open: say why, in the words payments_begin uses. */
		if (payments_begin(c.db, c.merchant, c.m->pay_gateway, id, PAY_VOID, -1, NULL,
		    c.event_id, &plan, err) != 0)
			return luaL_error(L, "payments.%s: %s", opname, err);
		return luaL_error(L, "payments.void: nothing to void");
	}
	lua_pushinteger(L, first);
	lua_pushinteger(L, count);
	return 2;
}

/*
 * One payments.* call in a savepoint of its own: the pending payment row,
 * the adapter's request and the effect are written together or not at all,
 * so a call that raises half-way (an adapter error, the instruction limit)
 * leaves nothing behind even when the script catches the error with pcall.
 */
static int request(lua_State *L, int op)
{
	const char *name = op == PAY_RELEASE ? "release" : payments_op_name((enum pay_op)op);
	struct lbind_ctx c = lbind_context(L, "payments", name);
	int nargs = lua_gettop(L);

	if (db_savepoint(c.db) != 0)
		return luaL_error(L, "payments.%s: database error: %s", name, db_errmsg(c.db));
	lua_pushcfunction(L, request_body);
	lua_pushinteger(L, op);
	lua_rotate(L, 1, 2);
	if (lua_pcall(L, nargs + 1, LUA_MULTRET, 0) != LUA_OK) {
		db_rollback_savepoint(c.db);
		return lua_error(L);
	}
	if (db_release(c.db) != 0)
		return luaL_error(L, "payments.%s: database error: %s", name, db_errmsg(c.db));
	return lua_gettop(L);
}

static int l_authorize(lua_State *L) { return request(L, PAY_AUTHORIZE); }
static int l_capture(lua_State *L) { return request(L, PAY_CAPTURE); }
static int l_void(lua_State *L) { return request(L, PAY_VOID); }
static int l_release(lua_State *L) { return request(L, PAY_RELEASE); }
int l_payments_refund(lua_State *L) { return request(L, PAY_REFUND); }

static int l_gateway(lua_State *L)
{
	const struct merchant_config *m = sandbox_merchant(sandbox_of(L));

	if (m->pay_gateway == NULL)
		lua_pushnil(L);
	else
		lua_pushstring(L, m->pay_gateway);
	return 1;
}

/* An integer field of the event table at 1, or raise. */
static int64_t field_int(lua_State *L, const char *k)
{
	int64_t v;

	if (lua_getfield(L, 1, k) != LUA_TNUMBER || !lua_isinteger(L, -1))
		luaL_error(L, "payment answer without %s", k);
	v = lua_tointeger(L, -1);
	lua_pop(L, 1);
	return v;
}

int l_payments_result(lua_State *L)
{
	struct lbind_ctx c = lbind_context(L, "payments", "result");
	const char *gateway, *opname, *reference = NULL, *error = NULL;
	struct lbind_jbox *pay;
	char err[ORDERS_ERRLEN], gw[64];
	int64_t pid = field_int(L, "payment_id"), order_id = 0;
	int op, ok, transport_ok, synthetic, dead, settled;

	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	lua_getfield(L, 1, "op");
	opname = lua_tostring(L, -1);
	if ((op = payments_op_parse(opname)) < 0)
		return luaL_error(L, "payment answer for an unknown operation");
	pay = lbind_jbox_new(L);
	if ((pay->v = payments_get(c.db, c.merchant, pid, &order_id)) == NULL)
		return luaL_error(L, "payment %d of this answer does not exist", (int)pid);
	gateway = json_string_value(json_object_get(pay->v, "gateway"));
	snprintf(gw, sizeof gw, "%s", gateway ? gateway : "");
	json_decref(pay->v);
	pay->v = NULL;
	lua_getfield(L, 1, "ok");
	transport_ok = lua_toboolean(L, -1);
	lua_getfield(L, 1, "synthetic");
	synthetic = lua_toboolean(L, -1);
	lua_getfield(L, 1, "final");
	dead = lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), "dead") == 0;
	lua_pop(L, 3);

	if (dead) {
		/* Every attempt ended without a final answer (no answer, 5xx,
		 * 429): the gateway may have done it. The payment stays pending,
		 * holding its money, until the effect is retried (same key: the
		 * gateway tells what it did) or a person settles it. */
		pay->v = payments_get(c.db, c.merchant, pid, NULL);
		if (pay->v == NULL)
			return luaL_error(L, "payments: database error");
		lbind_jbox_push(L, pay);
		lua_setfield(L, 1, "payment");
		lbind_push_order(L, &c, order_id, ORDERS_ALL);
		lua_setfield(L, 1, "order");
		lua_pushstring(L, opname);
		lua_setfield(L, 1, "operation");
		lua_getfield(L, 1, "error");
		lua_pushfstring(L, "no final answer from the gateway (%s); the outcome is unknown and"
		    " the payment stays pending until the effect is retried",
		    lua_isstring(L, -1) ? lua_tostring(L, -1) : "gave up");
		lua_setfield(L, 1, "error");
		lua_pop(L, 1);
		lua_pushliteral(L, "payment_unresolved");
		return 1;
	}
	if (synthetic) {
		ok = 1;
	} else {
		push_adapter(L, gw, "parse");
		lua_pushstring(L, opname);
		lua_createtable(L, 0, 4);
		lua_pushboolean(L, transport_ok);
		lua_setfield(L, -2, "ok");
		lua_getfield(L, 1, "status");
		lua_setfield(L, -2, "status");
		lua_getfield(L, 1, "body");
		lua_setfield(L, -2, "body");
		lua_getfield(L, 1, "error");
		lua_setfield(L, -2, "error");
		lua_call(L, 2, 1);
		if (!lua_istable(L, -1))
			return luaL_error(L, "payment adapter payments.%s: parse must return"
			    " {ok=, reference=, error=}, not %s", gw, luaL_typename(L, -1));
		lua_getfield(L, -1, "ok");
		ok = lua_toboolean(L, -1);
		lua_getfield(L, -2, "reference");
		reference = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
		lua_getfield(L, -3, "error");
		error = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
		/* An adapter cannot turn an answer we never got into a success. */
		if (!transport_ok && lua_getfield(L, 1, "status") == LUA_TNIL) {
			ok = 0;
			if (error == NULL) {
				lua_getfield(L, 1, "error");
				error = lua_tostring(L, -1);
			}
		}
		if (!ok && error == NULL)
			error = "declined";
	}
	if ((settled = payments_settle(c.db, c.merchant, pid, ok, reference, error, c.event_id,
	    err)) < 0)
		return luaL_error(L, "payments: %s", err);
	pay->v = payments_get(c.db, c.merchant, pid, NULL);
	if (pay->v == NULL)
		return luaL_error(L, "payments: database error");
	if (settled == 0) {
		/* Settled before (a repeated answer): the event tells what the
		 * books say, never what this answer says. */
		const char *st = json_string_value(json_object_get(pay->v, "status"));
		const char *e = json_string_value(json_object_get(pay->v, "error"));

		ok = st != NULL && strcmp(st, "succeeded") == 0;
		error = ok ? NULL : e ? e : "declined";
		if (error != NULL) {
			lua_pushstring(L, error);   /* anchored: pay->v is freed below */
			error = lua_tostring(L, -1);
		}
	}
	lbind_jbox_push(L, pay);
	lua_setfield(L, 1, "payment");
	lbind_push_order(L, &c, order_id, ORDERS_ALL);
	lua_setfield(L, 1, "order");
	lua_pushstring(L, opname);
	lua_setfield(L, 1, "operation");
	if (!ok) {
		lua_pushstring(L, error);
		lua_setfield(L, 1, "error");
	} else {
		lua_pushnil(L);
		lua_setfield(L, 1, "error");
	}
	lua_pushstring(L, ok ? payments_op_event((enum pay_op)op) : "payment_failed");
	return 1;
}

/* payments.balance(order) -> {total=, paid=, authorized=, due=, over=,
 * refundable=, capturing=, open=}: read only (payments.h says what each means). */
static int l_balance(lua_State *L)
{
	struct lbind_ctx c = lbind_context(L, "payments", "balance");
	int64_t id = lbind_order(L, &c, 1, "payments", "balance");
	struct payment_balance b;
	char err[ORDERS_ERRLEN];

	if (payments_balance(c.db, c.merchant, c.m->pay_gateway, id, &b, err) != 0)
		return luaL_error(L, "payments.balance: %s", err);
	lua_createtable(L, 0, 8);
	set_i(L, "total", b.total);
	set_i(L, "paid", b.paid);
	set_i(L, "authorized", b.authorized);
	set_i(L, "due", b.due);
	set_i(L, "over", b.over);
	set_i(L, "refundable", b.refundable);
	set_i(L, "capturing", b.capturing);
	set_i(L, "open", b.open);
	return 1;
}

static const luaL_Reg payments_lib[] = {
	{ "gateway", l_gateway },
	{ "balance", l_balance },
	{ "authorize", l_authorize },
	{ "capture", l_capture },
	{ "void", l_void },
	{ "release", l_release },
	{ "refund", l_payments_refund },
	{ NULL, NULL },
};

int l_payments_open(lua_State *L)
{
	lbind_jbox_register(L);
	luaL_newlib(L, payments_lib);
	return 1;
}
