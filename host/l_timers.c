/*
 * l_timers — the `timers` module (see timers.h).
 *
 *   timers.after(delay, event [, payload [, key]]) -> key
 *       delay: whole seconds, or a duration text ("90s", "3d", "1h30m")
 *   timers.at(when, event [, payload [, key]])     -> key
 *       when: ms UTC (now() + ...), or an ISO 8601 timestamp
 *   timers.cancel(key)                            -> true if there was one
 *
 * The event's handler gets the payload's fields plus ev.timer = {key,
 * due_at, late_ms}. A key that exists is moved; without a key one is made
 * from the event ("t<event id>-<n>"), stable when the handler is retried.
 * Depends on timers, config (durations), clock, luajson, lbind.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "ordo/clock.h"
#include "ordo/config.h"
#include "ordo/l_effects.h"
#include "ordo/lbind.h"
#include "ordo/luajson.h"
#include "ordo/sandbox.h"
#include "ordo/timers.h"

#define MAX_DELAY_MS (INT64_C(100) * 365 * 86400000)   /* a century */


/* Set a timer due at `due` from arguments 2.. (event, payload, key). */
static int set(lua_State *L, const struct lbind_ctx *c, const char *fn, int64_t due)
{
	const char *event = luaL_checkstring(L, 2), *key;
	struct lbind_jbox *payload;
	struct timer_spec t;
	char err[TIMERS_ERRLEN], keybuf[64], *text;
	int rc;

	if (!lbind_event_name_ok(event))
		return luaL_error(L, "timers.%s: \"%s\" is not an event name (a-z, 0-9, _)", fn, event);
	if (!lua_isnoneornil(L, 3) && !lua_istable(L, 3))
		return luaL_error(L, "timers.%s: the payload must be a table, not %s", fn,
		    luaL_typename(L, 3));
	if (lua_isnoneornil(L, 4)) {
		snprintf(keybuf, sizeof keybuf, "t%lld-%d", (long long)c->event_id,
		    sandbox_next_effect(c->sb));
		key = keybuf;
	} else {
		key = luaL_checkstring(L, 4);
		if (key[0] == '\0' || strlen(key) > TIMERS_MAX_KEY)
			return luaL_error(L, "timers.%s: a key must be 1 to %d bytes", fn, TIMERS_MAX_KEY);
	}
	lua_settop(L, 4);
	payload = lbind_jbox_new(L);
	if (!lua_isnil(L, 3)) {
		if ((payload->v = luajson_from_lua(L, 3, err, sizeof err)) == NULL)
			return luaL_error(L, "timers.%s: payload: %s", fn, err);
		if (!json_is_object(payload->v))
			return luaL_error(L, "timers.%s: the payload must be a table of named fields,"
			    " not a list", fn);
	}
	text = payload->v ? json_dumps(payload->v, JSON_COMPACT) : NULL;
	if (payload->v && text == NULL)
		return luaL_error(L, "timers.%s: out of memory", fn);
	t = (struct timer_spec){
		.merchant = c->merchant, .key = key, .event = event, .payload = text,
		.due_at = due, .event_id = c->event_id,
	};
	rc = timers_set(c->db, &t, err);
	free(text);
	if (rc != 0)
		return luaL_error(L, "timers.%s: %s", fn, err);
	lua_pushstring(L, key);
	return 1;
}

static int after_body(lua_State *L)
{
	struct lbind_ctx c = lbind_context(L, "timers", "after");
	int64_t ms;

	if (lua_isinteger(L, 1)) {
		if (lua_tointeger(L, 1) < 0 || lua_tointeger(L, 1) > MAX_DELAY_MS / 1000)
			return luaL_error(L, "timers.after: the delay must be 0 to a century of seconds");
		ms = (int64_t)lua_tointeger(L, 1) * 1000;
	} else if (lua_type(L, 1) == LUA_TSTRING) {
		if (config_parse_duration(lua_tostring(L, 1), &ms) != 0 || ms > MAX_DELAY_MS)
			return luaL_error(L, "timers.after: bad delay \"%s\" (seconds, or a number and a"
			    " unit: 90s, 15m, 3d, 1h30m)", lua_tostring(L, 1));
	} else {
		return luaL_error(L, "timers.after: the delay must be whole seconds or a duration"
		    " text, not %s", lua_type(L, 1) == LUA_TNUMBER ? "a fraction" : luaL_typename(L, 1));
	}
	return set(L, &c, "after", clock_now_ms() + ms);
}

static int at_body(lua_State *L)
{
	struct lbind_ctx c = lbind_context(L, "timers", "at");
	int64_t ms;

	if (lua_isinteger(L, 1)) {
		ms = lua_tointeger(L, 1);
	} else if (lua_type(L, 1) == LUA_TSTRING) {
		if (clock_parse_iso(lua_tostring(L, 1), &ms) != 0)
			return luaL_error(L, "timers.at: \"%s\" is not an ISO 8601 time"
			    " (2026-12-24T09:00:00Z, or with an offset)", lua_tostring(L, 1));
	} else {
		return luaL_error(L, "timers.at: the time must be ms UTC or ISO 8601 text, not %s",
		    luaL_typename(L, 1));
	}
	if (ms <= 0)
		return luaL_error(L, "timers.at: the time must be after 1970-01-01T00:00:00Z"
		    " (ms UTC greater than 0), not %I", (lua_Integer)ms);
	if (ms > clock_now_ms() + MAX_DELAY_MS)
		return luaL_error(L, "timers.at: the time is out of range (at most a century ahead)");
	return set(L, &c, "at", ms);
}

static int cancel_body(lua_State *L)
{
	struct lbind_ctx c = lbind_context(L, "timers", "cancel");
	const char *key = luaL_checkstring(L, 1);
	int rc = timers_cancel(c.db, c.merchant, key);

	if (rc < 0)
		return luaL_error(L, "timers.cancel: database error");
	lua_pushboolean(L, rc);
	return 1;
}

/* Each call whole or not at all, like every primitive that writes. */
static int atomic(lua_State *L, const char *fn, lua_CFunction body)
{
	return lbind_atomic(L, lbind_context(L, "timers", fn).db, body);
}

static int l_after(lua_State *L) { return atomic(L, "after", after_body); }
static int l_at(lua_State *L) { return atomic(L, "at", at_body); }
static int l_cancel(lua_State *L) { return atomic(L, "cancel", cancel_body); }

static const luaL_Reg timers_lib[] = {
	{ "after", l_after },
	{ "at", l_at },
	{ "cancel", l_cancel },
	{ NULL, NULL },
};

int l_timers_open(lua_State *L)
{
	lbind_jbox_register(L);
	luaL_newlib(L, timers_lib);
	return 1;
}
