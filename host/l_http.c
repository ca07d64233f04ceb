/*
 * l_http — the `http` module: http.post{...} queues a generic outbound
 * POST as an effect (see l_effects.h and outbox.h).
 *
 * The URL must be under one of the merchant's effects.allow prefixes, or
 * under its gateway, notification or webhook URLs, compared by scheme, host,
 * port and path (outbox_url_allowed), with no credentials in the URL: a
 * script cannot make the host call whatever it likes. Headers that frame or
 * route the request are the host's. Depends on outbox, luajson, lbind.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "ordo/config.h"
#include "ordo/db.h"
#include "ordo/l_effects.h"
#include "ordo/lbind.h"
#include "ordo/luajson.h"
#include "ordo/outbox.h"

static int url_allowed(const struct merchant_config *m, const char *url)
{
	for (size_t i = 0; i < m->effects.n_allow; i++)
		if (outbox_url_allowed(m->effects.allow[i], url))
			return 1;
	for (size_t i = 0; i < m->n_webhooks; i++)
		if (outbox_url_allowed(m->webhooks[i].url, url))
			return 1;
	return (m->pay_base_url && outbox_url_allowed(m->pay_base_url, url)) ||
	    (m->notify_url && outbox_url_allowed(m->notify_url, url));
}


static int header_name_ok(const char *s)
{
	if (*s == '\0' || strlen(s) > 64)
		return 0;
	for (; *s; s++)
		if (!(isalnum((unsigned char)*s) || *s == '-' || *s == '_'))
			return 0;
	return 1;
}

/* Headers that frame the request or route it: libcurl sets them, and a
 * script's own could smuggle a second request down a kept-alive
 * connection or reach another virtual host on an allowed address. */
static int header_reserved(const char *name)
{
	static const char *const names[] = {
		"Host", "Content-Length", "Transfer-Encoding", "Connection", "Expect", "TE",
		"Upgrade", "Trailer", "Keep-Alive", "Proxy-Authorization", "Proxy-Connection", NULL,
	};

	for (int i = 0; names[i]; i++)
		if (strcasecmp(name, names[i]) == 0)
			return 1;
	return 0;
}

static int header_value_ok(const char *s, size_t n)
{
	if (n > 4096)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < ' ' && s[i] != '\t')
			return 0;
	return 1;
}

static const char *opt_string(lua_State *L, int t, const char *field)
{
	int type = lua_getfield(L, t, field);

	if (type == LUA_TNIL)
		return NULL;
	if (type != LUA_TSTRING)
		luaL_error(L, "http.post: %s must be a string, not %s", field, luaL_typename(L, -1));
	return lua_tostring(L, -1); /* stays on the stack, so stays valid */
}

static int l_post(lua_State *L)
{
	struct lbind_ctx c = lbind_context(L, "http", "post");
	const char *url, *body, *on_ok, *on_fail, *key;
	struct lbind_jbox *json, *meta, *headers, *ctxv;
	char keybuf[64], err[256];
	int64_t timeout = c.m->effects.timeout_ms, order_id = 0, id;
	size_t body_len = 0;
	char *text = NULL;
	int dup, has_idem = 0, has_type = 0;

	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	if ((url = opt_string(L, 1, "url")) == NULL)
		return luaL_error(L, "http.post: url is required");
	if (!config_url_ok(url))
		return luaL_error(L, "http.post: \"%s\" is not an http:// or https:// URL", url);
	if (!url_allowed(c.m, url)) {
		luaL_Buffer b;

		luaL_buffinit(L, &b);
		for (size_t i = 0; i < c.m->effects.n_allow; i++) {
			luaL_addstring(&b, i ? ", " : "");
			luaL_addstring(&b, c.m->effects.allow[i]);
		}
		luaL_pushresult(&b);
		return luaL_error(L, "http.post: %s is not allowed for merchant %s (effects.allow:"
		    " %s; add its prefix there)", url, c.merchant,
		    lua_rawlen(L, -1) ? lua_tostring(L, -1) : "none");
	}
	body = opt_string(L, 1, "body");
	if (body != NULL)
		body_len = lua_rawlen(L, -1);
	if ((on_ok = opt_string(L, 1, "on_success")) != NULL && !lbind_event_name_ok(on_ok))
		return luaL_error(L, "http.post: on_success \"%s\" is not an event name (a-z, 0-9, _)", on_ok);
	if ((on_fail = opt_string(L, 1, "on_failure")) != NULL && !lbind_event_name_ok(on_fail))
		return luaL_error(L, "http.post: on_failure \"%s\" is not an event name (a-z, 0-9, _)", on_fail);
	if ((key = opt_string(L, 1, "key")) != NULL && (key[0] == '\0' || strlen(key) > 128))
		return luaL_error(L, "http.post: key must be 1 to 128 bytes");
	if (lua_getfield(L, 1, "timeout") != LUA_TNIL) {
		if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 10 || lua_tointeger(L, -1) > 600000)
			return luaL_error(L, "http.post: timeout must be an integer of milliseconds"
			    " from 10 to 600000");
		timeout = lua_tointeger(L, -1);
	}
	if (lua_getfield(L, 1, "order") != LUA_TNIL)
		order_id = lbind_order(L, &c, lua_gettop(L), "http", "post");

	/* Everything C-owned sits in boxes from here on. */
	json = lbind_jbox_new(L);
	meta = lbind_jbox_new(L);
	headers = lbind_jbox_new(L);
	ctxv = lbind_jbox_new(L);
	if (lua_getfield(L, 1, "json") != LUA_TNIL) {
		if (body != NULL)
			return luaL_error(L, "http.post: give json or body, not both");
		if ((json->v = luajson_from_lua(L, lua_gettop(L), err, sizeof err)) == NULL)
			return luaL_error(L, "http.post: json: %s", err);
	}
	lua_pop(L, 1);
	if ((headers->v = json_array()) == NULL || (meta->v = json_object()) == NULL)
		return luaL_error(L, "http.post: out of memory");
	if (lua_getfield(L, 1, "headers") != LUA_TNIL) {
		int t = lua_gettop(L);

		if (!lua_istable(L, t))
			return luaL_error(L, "http.post: headers must be a table of name = value");
		lua_pushnil(L);
		while (lua_next(L, t) != 0) {
			const char *name, *value;
			size_t vlen;
			char *line;

			if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
				return luaL_error(L, "http.post: headers must map names to text values");
			name = lua_tostring(L, -2);
			value = lua_tolstring(L, -1, &vlen);
			if (!header_name_ok(name) || !header_value_ok(value, vlen))
				return luaL_error(L, "http.post: header \"%s\" has a bad name or value"
				    " (letters, digits, - and _; no line breaks)", name);
			if (header_reserved(name))
				return luaL_error(L, "http.post: header \"%s\" is set by the host and"
				    " cannot be given", name);
			has_idem |= strcasecmp(name, "Idempotency-Key") == 0;
			has_type |= strcasecmp(name, "Content-Type") == 0;
			if (asprintf(&line, "%s: %s", name, value) < 0)
				return luaL_error(L, "http.post: out of memory");
			{
				json_t *h = json_string(line);

				free(line);
				if (h == NULL)
					return luaL_error(L, "http.post: header \"%s\" is not UTF-8 text", name);
				json_array_append_new(headers->v, h);
			}
			lua_pop(L, 1);
		}
	}
	lua_pop(L, 1);
	if (lua_getfield(L, 1, "context") != LUA_TNIL &&
	    (ctxv->v = luajson_from_lua(L, lua_gettop(L), err, sizeof err)) == NULL)
		return luaL_error(L, "http.post: context: %s", err);
	lua_pop(L, 1);
	if (key == NULL) {
		lbind_effect_key(L, &c, keybuf, sizeof keybuf);
		key = keybuf;
	}
	if (on_ok)
		json_object_set_new(meta->v, "on_success", json_string(on_ok));
	if (on_fail)
		json_object_set_new(meta->v, "on_failure", json_string(on_fail));
	if (ctxv->v)
		json_object_set(meta->v, "context", ctxv->v);

	/* No raise from here until the row is written and `text` freed. */
	if (json->v != NULL) {
		if ((text = json_dumps(json->v, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
			return luaL_error(L, "http.post: json cannot be encoded");
		body = text;
		body_len = strlen(text);
	}
	if (!has_type)
		json_array_append_new(headers->v, json_string(json->v
		    ? "Content-Type: application/json" : "Content-Type: text/plain; charset=utf-8"));
	if (!has_idem) {
		char wire[400], line[440];

		outbox_wire_key(c.db, c.merchant, "http", key, wire, sizeof wire);
		snprintf(line, sizeof line, "Idempotency-Key: %s", wire);
		json_array_append_new(headers->v, json_string(line));
	}
	{
		struct outbox_effect e = {
			.merchant = c.merchant, .kind = "http", .key = key, .order_id = order_id,
			.event_id = c.event_id, .url = url, .headers = headers->v, .body = body,
			.body_len = body_len, .meta = meta->v, .timeout_ms = timeout,
			.max_attempts = c.m->effects.max_attempts,
		};

		id = outbox_add(c.db, &e, &dup, err);
	}
	free(text);
	if (id < 0)
		return luaL_error(L, "http.post: %s", err);
	lua_pushinteger(L, id);
	return 1;
}

static const luaL_Reg http_lib[] = {
	{ "post", l_post },
	{ NULL, NULL },
};

int l_http_open(lua_State *L)
{
	lbind_jbox_register(L);
	luaL_newlib(L, http_lib);
	return 1;
}
