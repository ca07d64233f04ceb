/*
 * l_subscriptions — the `subscriptions` module (see subscriptions.h), and
 * the host's renewal step.
 *
 *   subscriptions.create{order=<template>, interval=, count=, anchor_day=,
 *                        timezone=, start=, max_cycles=, external_id=} -> sub
 *   subscriptions.get(id)                 -> sub or nil
 *   subscriptions.pause(id [, until])     until: ms UTC or ISO text
 *   subscriptions.resume(id), subscriptions.skip(id)
 *   subscriptions.cancel(id [, {at_period_end = true, reason = ...}])
 *   subscriptions.set_next(id, when)
 *   subscriptions.set_quantity(id, line, quantity)
 *   subscriptions.set_status(id, "past_due" | "active" [, reason])
 *
 * A renewal arrives as `subscription_renewal_due` with ev.order (the renewal
 * order, created once) and ev.subscription; a renewal that is not due (a
 * skipped cycle, a paused or canceled subscription, a timer the schedule
 * moved past) arrives as subscription_renewal_skipped, _paused, ... with
 * ev.subscription only. Each call that writes runs in its own savepoint
 * (lbind_atomic). Depends on subscriptions, luajson, lbind.
 */
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#include "ordo/clock.h"
#include "ordo/config.h"
#include "ordo/l_effects.h"
#include "ordo/lbind.h"
#include "ordo/luajson.h"
#include "ordo/orders.h"
#include "ordo/subscriptions.h"

static int64_t sub_id(lua_State *L, int idx, const char *fn)
{
	int64_t id = 0;

	if (lua_isinteger(L, idx))
		id = lua_tointeger(L, idx);
	else if (lua_istable(L, idx) && lua_getfield(L, idx, "id") == LUA_TNUMBER && lua_isinteger(L, -1))
		id = lua_tointeger(L, -1);
	if (id <= 0)
		luaL_error(L, "subscriptions.%s: the subscription must be an id or a subscription", fn);
	return id;
}

static int push_sub(lua_State *L, const struct lbind_ctx *c, int64_t id)
{
	struct lbind_jbox *b = lbind_jbox_new(L);

	if ((b->v = subs_get(c->db, c->merchant, id)) == NULL) {
		lua_pushnil(L);
		return 1;
	}
	lbind_jbox_push(L, b);
	return 1;
}

static int64_t time_arg(lua_State *L, int idx, const char *fn)
{
	int64_t ms;

	if (lua_isinteger(L, idx))
		return lua_tointeger(L, idx);
	if (lua_type(L, idx) == LUA_TSTRING && clock_parse_iso(lua_tostring(L, idx), &ms) == 0)
		return ms;
	luaL_error(L, "subscriptions.%s: a time is ms UTC or ISO 8601 text", fn);
	return 0;
}

static int create_body(lua_State *L)
{
	struct lbind_ctx c = lbind_context(L, "subscriptions", "create");
	struct lbind_jbox *spec;
	char err[SUBS_ERRLEN];
	int created;
	int64_t id;

	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	spec = lbind_jbox_new(L);
	if ((spec->v = luajson_from_lua(L, 1, err, sizeof err)) == NULL)
		return luaL_error(L, "subscriptions.create: %s", err);
	id = subs_create(c.db, c.merchant, c.m->timezone, spec->v, c.event_id, &created, err);
	json_decref(spec->v);
	spec->v = NULL;
	if (id < 0)
		return luaL_error(L, "subscriptions.create: %s", err);
	push_sub(L, &c, id);
	lua_pushboolean(L, created);
	return 2;
}

static int l_get(lua_State *L)
{
	struct lbind_ctx c = lbind_context(L, "subscriptions", "get");

	return push_sub(L, &c, sub_id(L, 1, "get"));
}

/* Raise err for `fn` when rc says so; else push the subscription. */
static int done(lua_State *L, const struct lbind_ctx *c, int64_t id, int rc, const char *fn,
    const char *err)
{
	if (rc != 0)
		return luaL_error(L, "subscriptions.%s: %s", fn, err);
	return push_sub(L, c, id);
}

static int pause_body(lua_State *L)
{
	struct lbind_ctx c = lbind_context(L, "subscriptions", "pause");
	int64_t id = sub_id(L, 1, "pause"), until = lua_isnoneornil(L, 2) ? 0 : time_arg(L, 2, "pause");
	char err[SUBS_ERRLEN];

	return done(L, &c, id, subs_pause(c.db, c.merchant, id, until, c.event_id, err), "pause", err);
}

static int resume_body(lua_State *L)
{
	struct lbind_ctx c = lbind_context(L, "subscriptions", "resume");
	int64_t id = sub_id(L, 1, "resume");
	char err[SUBS_ERRLEN];

	return done(L, &c, id, subs_resume(c.db, c.merchant, id, c.event_id, err), "resume", err);
}

static int skip_body(lua_State *L)
{
	struct lbind_ctx c = lbind_context(L, "subscriptions", "skip");
	int64_t id = sub_id(L, 1, "skip");
	char err[SUBS_ERRLEN];

	return done(L, &c, id, subs_skip(c.db, c.merchant, id, c.event_id, err), "skip", err);
}

static int cancel_body(lua_State *L)
{
	struct lbind_ctx c = lbind_context(L, "subscriptions", "cancel");
	int64_t id = sub_id(L, 1, "cancel");
	const char *reason = NULL;
	char err[SUBS_ERRLEN];
	int at_end = 0;

	if (lua_istable(L, 2)) {
		lua_getfield(L, 2, "at_period_end");
		at_end = lua_toboolean(L, -1);
		lua_getfield(L, 2, "reason");
		reason = lua_tostring(L, -1);
	} else if (!lua_isnoneornil(L, 2)) {
		reason = luaL_checkstring(L, 2);
	}
	return done(L, &c, id, subs_cancel(c.db, c.merchant, id, at_end, reason, c.event_id, err),
	    "cancel", err);
}

static int set_next_body(lua_State *L)
{
	struct lbind_ctx c = lbind_context(L, "subscriptions", "set_next");
	int64_t id = sub_id(L, 1, "set_next"), at = time_arg(L, 2, "set_next");
	char err[SUBS_ERRLEN];

	return done(L, &c, id, subs_set_next(c.db, c.merchant, id, at, c.event_id, err), "set_next", err);
}

static int set_quantity_body(lua_State *L)
{
	struct lbind_ctx c = lbind_context(L, "subscriptions", "set_quantity");
	int64_t id = sub_id(L, 1, "set_quantity");
	lua_Integer line = luaL_checkinteger(L, 2), qty = luaL_checkinteger(L, 3);
	char err[SUBS_ERRLEN];

	if (line < 1 || line > 1000)
		return luaL_error(L, "subscriptions.set_quantity: no line %d", (int)line);
	return done(L, &c, id, subs_set_quantity(c.db, c.merchant, id, (int)line, qty, c.event_id, err),
	    "set_quantity", err);
}

static int set_status_body(lua_State *L)
{
	struct lbind_ctx c = lbind_context(L, "subscriptions", "set_status");
	int64_t id = sub_id(L, 1, "set_status");
	const char *status = luaL_checkstring(L, 2), *reason = luaL_optstring(L, 3, NULL);
	char err[SUBS_ERRLEN];

	return done(L, &c, id, subs_set_status(c.db, c.merchant, id, status, reason, c.event_id, err),
	    "set_status", err);
}

/* The calls that write, each whole or not at all: a call that fails half-way
 * (a pause whose first renewal cannot be found after the status changed)
 * leaves nothing behind, even when the script catches the error. */
static int atomic(lua_State *L, const char *fn, lua_CFunction body)
{
	return lbind_atomic(L, lbind_context(L, "subscriptions", fn).db, body);
}

static int l_create(lua_State *L) { return atomic(L, "create", create_body); }
static int l_pause(lua_State *L) { return atomic(L, "pause", pause_body); }
static int l_resume(lua_State *L) { return atomic(L, "resume", resume_body); }
static int l_skip(lua_State *L) { return atomic(L, "skip", skip_body); }
static int l_cancel(lua_State *L) { return atomic(L, "cancel", cancel_body); }
static int l_set_next(lua_State *L) { return atomic(L, "set_next", set_next_body); }
static int l_set_quantity(lua_State *L) { return atomic(L, "set_quantity", set_quantity_body); }
static int l_set_status(lua_State *L) { return atomic(L, "set_status", set_status_body); }

int l_subscriptions_renewal(lua_State *L)
{
	struct lbind_ctx c = lbind_context(L, "subscriptions", "renewal");
	int64_t id, cycle, order_id, due_at = 0;
	const char *why;
	char err[SUBS_ERRLEN];
	int rc;

	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	if (lua_getfield(L, 1, "subscription_id") != LUA_TNUMBER || !lua_isinteger(L, -1) ||
	    lua_getfield(L, 1, "cycle") != LUA_TNUMBER || !lua_isinteger(L, -1))
		return luaL_error(L, "a renewal without subscription_id and cycle");
	id = lua_tointeger(L, 2);
	cycle = lua_tointeger(L, 3);
	/* ev.timer.due_at: when the timer that raised it was due. */
	if (lua_getfield(L, 1, "timer") == LUA_TTABLE && lua_getfield(L, -1, "due_at") == LUA_TNUMBER &&
	    lua_isinteger(L, -1))
		due_at = lua_tointeger(L, -1);
	lua_settop(L, 1);
	rc = subs_renew(c.db, c.merchant, id, cycle, due_at, c.event_id, &order_id, &why, err);
	if (rc < 0)
		return luaL_error(L, "subscription renewal: %s", err);
	push_sub(L, &c, id);
	lua_setfield(L, 1, "subscription");
	if (rc == 1) {
		lbind_push_order(L, &c, order_id, ORDERS_ALL);
		lua_setfield(L, 1, "order");
		lua_pushliteral(L, SUBS_RENEWAL_EVENT);
		return 1;
	}
	lua_pushfstring(L, "subscription_renewal_%s", why ? why : "ignored");
	return 1;
}

static const luaL_Reg subs_lib[] = {
	{ "create", l_create }, { "get", l_get }, { "pause", l_pause }, { "resume", l_resume },
	{ "skip", l_skip }, { "cancel", l_cancel }, { "set_next", l_set_next },
	{ "set_quantity", l_set_quantity }, { "set_status", l_set_status }, { NULL, NULL },
};

int l_subscriptions_open(lua_State *L)
{
	lbind_jbox_register(L);
	luaL_newlib(L, subs_lib);
	return 1;
}
