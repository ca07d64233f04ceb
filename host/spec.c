/*
 * spec — `ordo test` (see spec.h).
 *
 * Depends on every runtime module the daemon wires (db, sandbox, dispatch,
 * inbox, outbox, timers, webhook, notify, orders), clock (virtual) and Lua.
 * A world is the daemon without its sockets: the same modules on an
 * in-memory database, driven synchronously. settle() is the event loop's
 * stand-in: fire due timers, run the dispatcher, answer due effects from
 * the spec's rules, until nothing moves. The spec's own Lua state is not a
 * sandbox (the spec is the merchant's test code, run on their machine) but
 * still has no io or os: a spec reaches the world only through the API
 * below.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <event2/event.h>
#include <lauxlib.h>
#include <lualib.h>

#include "ordo/clock.h"
#include "ordo/config.h"
#include "ordo/crypto.h"
#include "ordo/db.h"
#include "ordo/dispatch.h"
#include "ordo/inbox.h"
#include "ordo/inventory.h"
#include "ordo/log.h"
#include "ordo/lmods.h"
#include "ordo/luajson.h"
#include "ordo/notify.h"
#include "ordo/orders.h"
#include "ordo/outbox.h"
#include "ordo/sandbox.h"
#include "ordo/server.h"
#include "ordo/spec.h"
#include "ordo/timers.h"
#include "ordo/webhook.h"

#define START_MS        INT64_C(1767603600000)   /* 2026-01-05T09:00:00Z, a Monday */
#define MAX_SETTLE_STEPS 100000
#define MAX_SPECS       256

struct rule {
	char *kind, *op, *url;    /* match (NULL: any) */
	int times;                /* uses left; -1: forever */
	long status;              /* 0: no answer (network error) */
	char *body;
	char *error;
	int64_t retry_after;
};

struct world {
	struct ordo_config *cfg;
	const struct merchant_config *m;
	struct event_base *base;
	struct db *db;
	struct sandbox **sandboxes;
	struct dispatch *dispatch;
	struct outbox *outbox;
	struct rule *rules;
	size_t n_rules, cap_rules;
	int dead_seen;
	int stuck;                /* settle() hit its step limit */
	int deliveries;           /* for delivery ids */
};

static char WORLD_KEY;

static struct world *world_of(lua_State *L)
{
	struct world *w;

	lua_rawgetp(L, LUA_REGISTRYINDEX, &WORLD_KEY);
	w = lua_touserdata(L, -1);
	lua_pop(L, 1);
	return w;
}

/* ------------------------------------------------------------------ */
/* The world                                                           */
/* ------------------------------------------------------------------ */

static struct sandbox *lookup_sb(void *arg, const char *merchant)
{
	struct world *w = arg;

	for (size_t i = 0; i < w->cfg->n_merchants; i++)
		if (strcmp(w->cfg->merchants[i].id, merchant) == 0)
			return w->sandboxes[i];
	return NULL;
}

static const struct merchant_config *lookup_cfg(void *arg, const char *merchant)
{
	struct world *w = arg;

	return config_merchant(w->cfg, merchant);
}

static void rules_free(struct world *w)
{
	for (size_t i = 0; i < w->n_rules; i++) {
		free(w->rules[i].kind);
		free(w->rules[i].op);
		free(w->rules[i].url);
		free(w->rules[i].body);
		free(w->rules[i].error);
	}
	free(w->rules);
	w->rules = NULL;
	w->n_rules = w->cap_rules = 0;
}

static void world_free(struct world *w)
{
	if (w == NULL)
		return;
	orders_set_observer(NULL, NULL);
	outbox_free(w->outbox);
	dispatch_free(w->dispatch);
	for (size_t i = 0; w->sandboxes && i < w->cfg->n_merchants; i++)
		sandbox_free(w->sandboxes[i]);
	free(w->sandboxes);
	db_close(w->db);
	if (w->base)
		event_base_free(w->base);
	rules_free(w);
	free(w);
}

/* @return the world, or NULL with a message printed. */
static struct world *world_new(struct ordo_config *cfg, const struct merchant_config *m)
{
	struct world *w = calloc(1, sizeof *w);
	struct dispatch_config dc = {
		.max_attempts = cfg->server.max_attempts, .retry_base_ms = cfg->server.retry_base_ms,
		.retry_max_ms = cfg->server.retry_max_ms, .slice_ms = 1000,
	};
	char *err = NULL;

	if (w == NULL)
		return NULL;
	w->cfg = cfg;
	w->m = m;
	clock_set_virtual(START_MS);
	if ((w->base = event_base_new()) == NULL ||
	    (w->db = db_open(":memory:", 0, &err)) == NULL ||
	    (w->sandboxes = calloc(cfg->n_merchants, sizeof *w->sandboxes)) == NULL)
		goto fail;
	for (size_t i = 0; i < cfg->n_merchants; i++) {
		struct sandbox_env env = {
			.merchant = &cfg->merchants[i], .scripts_dir = cfg->server.scripts_dir,
			.db = w->db, .modules = server_modules, .translators = server_translators,
		};

		if ((w->sandboxes[i] = sandbox_new(&env, &err)) == NULL)
			goto fail;
	}
	if ((w->dispatch = dispatch_new(w->base, w->db, &dc, lookup_sb, w)) == NULL ||
	    (w->outbox = outbox_new(w->base, w->db, lookup_cfg, NULL, w)) == NULL)
		goto fail;
	orders_set_observer(notify_order_changed, cfg);
	return w;
fail:
	fprintf(stderr, "ordo test: cannot build the test world: %s\n", err ? err : "out of memory");
	free(err);
	world_free(w);
	return NULL;
}

static int64_t one_int(struct db *db, const char *sql, int64_t arg)
{
	sqlite3_stmt *st;
	int64_t v = -1;

	if (sqlite3_prepare_v2(db_handle(db), sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, arg);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_type(st, 0) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static int rule_matches(const struct rule *r, const char *kind, const char *op, const char *url)
{
	return r->times != 0 && (r->kind == NULL || strcmp(r->kind, kind) == 0) &&
	    (r->op == NULL || (op != NULL && strcmp(r->op, op) == 0)) &&
	    (r->url == NULL || strstr(url, r->url) != NULL);
}

/* The default answer: success, and for payments a Stripe-style body. */
static void default_answer(const char *kind, const char *op, const char *url, int64_t id,
    const char *body, char *buf, size_t len)
{
	const char *pi = strstr(url, "/payment_intents/");
	char ref[96] = "";

	if (pi != NULL)
		snprintf(ref, sizeof ref, "%.*s", (int)strcspn(pi + 17, "/"), pi + 17);
	if (strcmp(kind, "payment") != 0 || op == NULL) {
		snprintf(buf, len, "{\"ok\":true}");
	} else if (strcmp(op, "authorize") == 0) {
		const char *a = body ? strstr(body, "amount=") : NULL;

		snprintf(buf, len, "{\"id\":\"pi_test_%" PRId64 "\",\"object\":\"payment_intent\","
		    "\"status\":\"requires_capture\",\"amount\":%lld}", id,
		    a ? strtoll(a + 7, NULL, 10) : 0LL);
	} else if (strcmp(op, "capture") == 0) {
		snprintf(buf, len, "{\"id\":\"%s\",\"object\":\"payment_intent\",\"status\":\"succeeded\"}", ref);
	} else if (strcmp(op, "void") == 0) {
		snprintf(buf, len, "{\"id\":\"%s\",\"object\":\"payment_intent\",\"status\":\"canceled\"}", ref);
	} else {
		snprintf(buf, len, "{\"id\":\"re_test_%" PRId64 "\",\"object\":\"refund\","
		    "\"status\":\"succeeded\"}", id);
	}
}

/* Answer every due effect once. @return how many, or -1. */
static int answer_effects(struct world *w)
{
	sqlite3_stmt *st;
	int64_t ids[256];
	int n = 0, done = 0;

	if (sqlite3_prepare_v2(db_handle(w->db), "SELECT id FROM effects WHERE status = 'pending'"
	    " AND available_at <= ? ORDER BY available_at, id LIMIT 256", -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, clock_now_ms());
	while (n < 256 && sqlite3_step(st) == SQLITE_ROW)
		ids[n++] = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	for (int i = 0; i < n; i++) {
		char kind[16] = "", op[16] = "", url[1024] = "", *body = NULL, dflt[256], err[256];
		struct outbox_answer a = { .status = 200 };
		struct rule *r = NULL;

		if (sqlite3_prepare_v2(db_handle(w->db), "SELECT kind, json_extract(meta, '$.op'), url,"
		    " body FROM effects WHERE id = ?", -1, &st, NULL) != SQLITE_OK)
			return -1;
		sqlite3_bind_int64(st, 1, ids[i]);
		if (sqlite3_step(st) == SQLITE_ROW) {
			snprintf(kind, sizeof kind, "%s", (const char *)sqlite3_column_text(st, 0));
			if (sqlite3_column_type(st, 1) != SQLITE_NULL)
				snprintf(op, sizeof op, "%s", (const char *)sqlite3_column_text(st, 1));
			snprintf(url, sizeof url, "%s", (const char *)sqlite3_column_text(st, 2));
			body = strdup((const char *)sqlite3_column_text(st, 3));
		}
		sqlite3_finalize(st);
		for (size_t k = 0; k < w->n_rules && r == NULL; k++)
			if (rule_matches(&w->rules[k], kind, op[0] ? op : NULL, url))
				r = &w->rules[k];
		if (r != NULL) {
			if (r->times > 0)
				r->times--;
			a.status = r->status;
			a.body = r->body;
			a.body_len = r->body ? strlen(r->body) : 0;
			a.error = r->error;
			a.retry_after = r->retry_after;
		} else {
			default_answer(kind, op[0] ? op : NULL, url, ids[i], body, dflt, sizeof dflt);
			a.body = dflt;
			a.body_len = strlen(dflt);
		}
		free(body);
		if (outbox_complete(w->outbox, ids[i], &a, err) != 0) {
			fprintf(stderr, "ordo test: answering effect %lld: %s\n", (long long)ids[i], err);
			return -1;
		}
		done++;
	}
	return done;
}

/* The event loop's stand-in: until nothing moves at this virtual time. */
static int settle(struct world *w)
{
	for (int step = 0; step < MAX_SETTLE_STEPS; step++) {
		int moved = 0, n;

		if (db_begin(w->db) != 0)
			return -1;
		n = timers_fire(w->db, clock_now_ms(), 5000);
		if (n < 0 || db_commit(w->db) != 0) {
			db_rollback(w->db);
			return -1;
		}
		moved += n;
		while ((n = dispatch_run_once(w->dispatch)) > 0)
			moved += n;
		if (n < 0)
			return -1;
		/* Events that failed and back off count as movement only when
		 * they ran: dispatch_run_once reports finished ones, so look at
		 * what is ready too. */
		if ((n = answer_effects(w)) < 0)
			return -1;
		moved += n;
		if (moved == 0 && one_int(w->db, "SELECT count(*) FROM inbox WHERE status = 'pending'"
		    " AND available_at <= ?", clock_now_ms()) == 0)
			return 0;
	}
	w->stuck = 1;
	return -1;
}

/* The next time anything is due after now (timers, retries, effects), or 0. */
static int64_t next_due(struct world *w)
{
	int64_t now = clock_now_ms(), best = 0, v;
	static const char *const sql[] = {
		"SELECT MIN(due_at) FROM timers WHERE due_at > ?",
		"SELECT MIN(available_at) FROM inbox WHERE status = 'pending' AND available_at > ?",
		"SELECT MIN(available_at) FROM effects WHERE status = 'pending' AND available_at > ?",
	};

	for (size_t i = 0; i < sizeof sql / sizeof sql[0]; i++) {
		v = one_int(w->db, sql[i], now);
		if (v > 0 && (best == 0 || v < best))
			best = v;
	}
	return best;
}

/* Move the clock to `target`, stopping at every due time on the way. */
static int advance_to(struct world *w, int64_t target)
{
	int64_t next;

	if (settle(w) != 0)
		return -1;
	while ((next = next_due(w)) > 0 && next <= target) {
		clock_set_virtual(next);
		if (settle(w) != 0)
			return -1;
	}
	if (target > clock_now_ms())
		clock_set_virtual(target);
	return settle(w);
}

/* ------------------------------------------------------------------ */
/* The spec API                                                        */
/* ------------------------------------------------------------------ */

static int settle_or_raise(lua_State *L, struct world *w)
{
	if (settle(w) != 0)
		return luaL_error(L, w->stuck ? "the workflow did not settle after %d steps (an"
		    " event that raises another forever?)" : "the test world failed: %s",
		    MAX_SETTLE_STEPS, db_errmsg(w->db));
	return 0;
}

/* Push a JSON value (stolen), or nil. */
static void push_json(lua_State *L, json_t *v)
{
	if (v == NULL) {
		lua_pushnil(L);
		return;
	}
	luajson_push(L, v);   /* the spec state: a raise here is a spec error */
	json_decref(v);
}

struct hdrs {
	const char *name[4], *value[4];
	int n;
};

static const char *hdr(void *ctx, const char *name)
{
	struct hdrs *h = ctx;

	for (int i = 0; i < h->n; i++)
		if (strcasecmp(h->name[i], name) == 0)
			return h->value[i];
	return NULL;
}

/* Body text from a table (JSON-encoded) or a string, on the stack top. */
static const char *body_text(lua_State *L, int idx, size_t *len)
{
	char err[256];
	json_t *v;
	char *text;

	if (lua_type(L, idx) == LUA_TSTRING)
		return lua_tolstring(L, idx, len);
	if (!lua_istable(L, idx))
		luaL_error(L, "the body must be a table or JSON text");
	if ((v = luajson_from_lua(L, idx, err, sizeof err)) == NULL)
		luaL_error(L, "the body cannot be JSON: %s", err);
	text = json_dumps(v, JSON_COMPACT);
	json_decref(v);
	if (text == NULL)
		luaL_error(L, "the body cannot be encoded");
	lua_pushstring(L, text);
	free(text);
	lua_replace(L, idx);
	return lua_tolstring(L, idx, len);
}

/* webhook{channel=, topic=, body=, id=} -> event id, duplicate | nil, error */
static int s_webhook(lua_State *L)
{
	struct world *w = world_of(L);
	const struct supplier_config *sup = NULL;
	struct webhook_delivery d;
	struct hdrs h = { 0 };
	const char *channel, *topic, *body, *id, *secret;
	unsigned char mac[CRYPTO_SHA256_LEN];
	char sig[96], hex[2 * CRYPTO_SHA256_LEN + 1], did[64];
	size_t len;
	int ch, rc, dup = 0;
	int64_t eid;

	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	lua_getfield(L, 1, "channel");
	lua_getfield(L, 1, "topic");
	lua_getfield(L, 1, "body");
	lua_getfield(L, 1, "id");
	lua_getfield(L, 1, "supplier");
	channel = luaL_optstring(L, 2, "shopify");
	topic = luaL_checkstring(L, 3);
	body = body_text(L, 4, &len);
	if (strcmp(channel, "supplier") == 0) {
		/* /webhooks/{merchant}/supplier/{id}: generic signing, its secret. */
		const char *sid = luaL_checkstring(L, 6);

		if ((sup = config_supplier(w->m, sid)) == NULL)
			return luaL_error(L, "webhook: merchant %s has no supplier %s", w->m->id, sid);
		ch = CH_GENERIC;
		secret = sup->secret;
	} else {
		if ((ch = config_channel_kind(channel)) < 0)
			return luaL_error(L, "webhook: unknown channel \"%s\"", channel);
		if ((secret = w->m->channel_secret[ch]) == NULL)
			return luaL_error(L, "webhook: merchant %s has no %s channel", w->m->id, channel);
	}
	snprintf(did, sizeof did, "spec-delivery-%d", ++w->deliveries);
	id = luaL_optstring(L, 5, did);
	crypto_hmac_sha256(secret, strlen(secret), body, len, mac);
	if (ch == CH_GENERIC || ch == CH_CARRIER) {
		crypto_hex(mac, sizeof mac, hex);
		snprintf(sig, sizeof sig, "sha256=%s", hex);
	} else {
		crypto_base64_encode(mac, sizeof mac, sig);
	}
	h.name[0] = ch == CH_SHOPIFY ? "X-Shopify-Hmac-Sha256" : ch == CH_WOOCOMMERCE
	    ? "X-WC-Webhook-Signature" : "X-Ordo-Signature";
	h.value[0] = sig;
	h.name[1] = ch == CH_SHOPIFY ? "X-Shopify-Topic" : ch == CH_WOOCOMMERCE
	    ? "X-WC-Webhook-Topic" : "X-Ordo-Event";
	h.value[1] = topic;
	h.name[2] = ch == CH_SHOPIFY ? "X-Shopify-Webhook-Id" : ch == CH_WOOCOMMERCE
	    ? "X-WC-Webhook-Delivery-ID" : "X-Ordo-Delivery";
	h.value[2] = id;
	h.n = 3;
	rc = webhook_parse((enum channel_kind)ch, secret, hdr, &h, body, len, &d);
	if (rc != WH_OK) {
		lua_pushnil(L);
		lua_pushstring(L, d.error);
		return 2;
	}
	if (sup != NULL) {
		/* As ingress does for a supplier's deliveries. */
		char dedup[sizeof d.dedup_key];

		snprintf(dedup, sizeof dedup, "supplier:%.64s:%.300s", sup->id, d.dedup_key);
		memcpy(d.dedup_key, dedup, sizeof dedup);
		snprintf(d.order_key, sizeof d.order_key, "supplier:%.64s", sup->id);
	}
	{
		struct inbox_item item = {
			.merchant = w->m->id, .source = "webhook", .channel = channel, .topic = d.topic,
			.dedup_key = d.dedup_key, .order_key = d.order_key[0] ? d.order_key : NULL,
			.payload = body, .payload_len = len,
		};

		if (db_begin(w->db) != 0 || (eid = inbox_insert(w->db, &item, 0, &dup)) < 0 ||
		    db_commit(w->db) != 0) {
			db_rollback(w->db);
			return luaL_error(L, "webhook: database error: %s", db_errmsg(w->db));
		}
	}
	settle_or_raise(L, w);
	lua_pushinteger(L, eid);
	lua_pushboolean(L, dup);
	return 2;
}

/* event(name, payload) -> event id */
static int s_event(lua_State *L)
{
	struct world *w = world_of(L);
	const char *name = luaL_checkstring(L, 1);
	size_t len = 2;
	const char *payload = "{}";
	struct inbox_item item;
	int dup;
	int64_t eid;

	if (!lua_isnoneornil(L, 2))
		payload = body_text(L, 2, &len);
	item = (struct inbox_item){ .merchant = w->m->id, .source = "api", .topic = name,
	    .payload = payload, .payload_len = len };
	if (db_begin(w->db) != 0 || (eid = inbox_insert(w->db, &item, 0, &dup)) < 0 ||
	    db_commit(w->db) != 0) {
		db_rollback(w->db);
		return luaL_error(L, "event: database error: %s", db_errmsg(w->db));
	}
	settle_or_raise(L, w);
	lua_pushinteger(L, eid);
	return 1;
}

static int64_t duration_arg(lua_State *L, int idx)
{
	int64_t ms;

	if (lua_isinteger(L, idx))
		return (int64_t)lua_tointeger(L, idx) * 1000;
	if (lua_type(L, idx) == LUA_TSTRING && config_parse_duration(lua_tostring(L, idx), &ms) == 0)
		return ms;
	luaL_error(L, "expected seconds or a duration (\"35d\", \"1h30m\")");
	return 0;
}

static int s_advance(lua_State *L)
{
	struct world *w = world_of(L);
	int64_t ms = duration_arg(L, 1);

	if (ms < 0)
		return luaL_error(L, "clock.advance: time only moves forward");
	if (advance_to(w, clock_now_ms() + ms) != 0)
		return settle_or_raise(L, w);
	lua_pushinteger(L, clock_now_ms());
	return 1;
}

static int s_set(lua_State *L)
{
	struct world *w = world_of(L);
	int64_t ms;

	if (lua_isinteger(L, 1))
		ms = lua_tointeger(L, 1);
	else if (clock_parse_iso(luaL_checkstring(L, 1), &ms) != 0)
		return luaL_error(L, "clock.set: \"%s\" is not an ISO 8601 time", lua_tostring(L, 1));
	if (ms < clock_now_ms())
		return luaL_error(L, "clock.set: time only moves forward");
	if (advance_to(w, ms) != 0)
		return settle_or_raise(L, w);
	lua_pushinteger(L, clock_now_ms());
	return 1;
}

/* clock.jump(d): move the clock without stopping on the way, as if the
 * daemon had been down: whatever fell due fires late, once, in order. */
static int s_jump(lua_State *L)
{
	struct world *w = world_of(L);
	int64_t ms = duration_arg(L, 1);

	if (ms < 0)
		return luaL_error(L, "clock.jump: time only moves forward");
	clock_advance(ms);
	settle_or_raise(L, w);
	lua_pushinteger(L, clock_now_ms());
	return 1;
}

static int s_now(lua_State *L)
{
	lua_pushinteger(L, clock_now_ms());
	return 1;
}

static int s_iso(lua_State *L)
{
	char buf[32];

	clock_format_iso(luaL_optinteger(L, 1, clock_now_ms()), buf);
	lua_pushstring(L, buf);
	return 1;
}

static char *opt_dup(lua_State *L, int t, const char *k)
{
	const char *v;

	lua_getfield(L, t, k);
	v = lua_tostring(L, -1);
	lua_pop(L, 1);
	return v ? strdup(v) : NULL;
}

/* Add a rule from the table at idx. */
static void add_rule(lua_State *L, struct world *w, int idx)
{
	struct rule r = { .times = -1, .status = 200 };
	char err[256];

	if (w->n_rules == w->cap_rules) {
		size_t cap = w->cap_rules ? w->cap_rules * 2 : 8;
		struct rule *p = realloc(w->rules, cap * sizeof *p);

		if (p == NULL)
			luaL_error(L, "out of memory");
		w->rules = p;
		w->cap_rules = cap;
	}
	if (lua_getfield(L, idx, "times") != LUA_TNIL)
		r.times = (int)luaL_checkinteger(L, -1);
	if (lua_getfield(L, idx, "status") != LUA_TNIL)
		r.status = (long)luaL_checkinteger(L, -1);
	if (lua_getfield(L, idx, "retry_after") != LUA_TNIL)
		r.retry_after = luaL_checkinteger(L, -1);
	if (lua_getfield(L, idx, "json") != LUA_TNIL) {
		json_t *v = luajson_from_lua(L, lua_gettop(L), err, sizeof err);

		if (v == NULL)
			luaL_error(L, "answers.add: json: %s", err);
		r.body = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		json_decref(v);
	}
	lua_pop(L, 4);
	if (r.body == NULL)
		r.body = opt_dup(L, idx, "body");
	r.kind = opt_dup(L, idx, "kind");
	r.op = opt_dup(L, idx, "op");
	r.url = opt_dup(L, idx, "url");
	r.error = opt_dup(L, idx, "error");
	if (r.status == 0 && r.error == NULL)
		r.error = strdup("Operation timed out (ordo test)");
	w->rules[w->n_rules++] = r;
}

static int s_answers_add(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	add_rule(L, world_of(L), 1);
	return 0;
}

/* Build a rule table on the stack from a matcher (string op or table). */
static void matcher(lua_State *L, int idx)
{
	lua_newtable(L);
	if (lua_type(L, idx) == LUA_TSTRING) {
		lua_pushliteral(L, "payment");
		lua_setfield(L, -2, "kind");
		lua_pushvalue(L, idx);
		lua_setfield(L, -2, "op");
	} else if (lua_istable(L, idx)) {
		static const char *const keys[] = { "kind", "op", "url" };

		for (int i = 0; i < 3; i++) {
			lua_getfield(L, idx, keys[i]);
			lua_setfield(L, -2, keys[i]);
		}
	} else if (!lua_isnoneornil(L, idx)) {
		luaL_error(L, "a matcher is an operation name or {kind=, op=, url=}");
	}
}

static int s_answers_decline(lua_State *L)
{
	lua_Integer times = luaL_optinteger(L, 2, -1);

	lua_settop(L, 2);
	matcher(L, 1);
	lua_pushinteger(L, times);
	lua_setfield(L, -2, "times");
	lua_pushinteger(L, 402);
	lua_setfield(L, -2, "status");
	lua_pushliteral(L, "{\"error\":{\"type\":\"card_error\",\"code\":\"card_declined\","
	    "\"message\":\"Your card was declined.\"}}");
	lua_setfield(L, -2, "body");
	add_rule(L, world_of(L), lua_gettop(L));
	return 0;
}

static int s_answers_timeout(lua_State *L)
{
	lua_Integer times = luaL_optinteger(L, 2, -1);

	lua_settop(L, 2);
	matcher(L, 1);
	lua_pushinteger(L, times);
	lua_setfield(L, -2, "times");
	lua_pushinteger(L, 0);
	lua_setfield(L, -2, "status");
	add_rule(L, world_of(L), lua_gettop(L));
	return 0;
}

static int s_answers_fail(lua_State *L)
{
	lua_Integer status = luaL_checkinteger(L, 1), times = luaL_optinteger(L, 3, -1);

	lua_settop(L, 3);
	matcher(L, 2);
	lua_pushinteger(L, times);
	lua_setfield(L, -2, "times");
	lua_pushinteger(L, status);
	lua_setfield(L, -2, "status");
	lua_pushfstring(L, "{\"error\":{\"message\":\"HTTP %d (ordo test)\"}}", (int)status);
	lua_setfield(L, -2, "body");
	add_rule(L, world_of(L), lua_gettop(L));
	return 0;
}

/* stock.set(sku, location, n) / stock.receive(sku, location, n): as the
 * inventory API would, in a transaction of its own; then settle. */
static int stock_move(lua_State *L, int set)
{
	struct world *w = world_of(L);
	const char *sku = luaL_checkstring(L, 1), *loc = luaL_checkstring(L, 2);
	lua_Integer n = luaL_checkinteger(L, 3);
	char err[INV_ERRLEN];
	int rc;

	if (db_begin(w->db) != 0)
		return luaL_error(L, "stock: database error");
	rc = set ? inv_set(w->db, w->m, sku, loc, n, "spec", 0, err)
	    : inv_adjust(w->db, w->m, sku, loc, n, "receive", "spec", 0, err);
	if (rc != 0 || db_commit(w->db) != 0) {
		db_rollback(w->db);
		return luaL_error(L, "stock.%s: %s", set ? "set" : "receive", rc ? err : "database error");
	}
	settle_or_raise(L, w);
	return 0;
}

static int s_stock_set(lua_State *L) { return stock_move(L, 1); }
static int s_stock_receive(lua_State *L) { return stock_move(L, 0); }

static int s_stock_list(lua_State *L)
{
	struct world *w = world_of(L);
	json_t *out = inv_list(w->db, w->m->id, luaL_optstring(L, 1, NULL), NULL, 0);

	if (out == NULL)
		return luaL_error(L, "stock.list: database error");
	push_json(L, json_incref(json_object_get(out, "stock")));
	json_decref(out);
	return 1;
}

static int s_orders_get(lua_State *L)
{
	struct world *w = world_of(L);
	int64_t id = 0;
	json_t *o, *eff;

	if (lua_isinteger(L, 1)) {
		id = lua_tointeger(L, 1);
	} else {
		luaL_checktype(L, 1, LUA_TTABLE);
		lua_getfield(L, 1, "channel");
		lua_getfield(L, 1, "external_id");
		id = orders_find(w->db, w->m->id, luaL_optstring(L, -2, "shopify"),
		    luaL_checkstring(L, -1));
	}
	if (id <= 0 || (o = orders_get(w->db, w->m->id, id, ORDERS_ALL)) == NULL) {
		lua_pushnil(L);
		return 1;
	}
	eff = outbox_list(w->db, w->m->id, NULL, id, 1000);
	if (eff != NULL)
		json_object_set(o, "effects", json_object_get(eff, "effects"));
	json_decref(eff);
	push_json(L, o);
	return 1;
}

static int s_orders_list(lua_State *L)
{
	struct world *w = world_of(L);
	struct orders_filter f = { .limit = 200 };
	char err[ORDERS_ERRLEN];
	json_t *out = orders_list(w->db, w->m->id, &f, err);

	if (out == NULL)
		return luaL_error(L, "orders.list: %s", err);
	push_json(L, json_incref(json_object_get(out, "orders")));
	json_decref(out);
	return 1;
}

/* Rows of a query as a list of tables: each column by name; columns named
 * *_json are decoded. */
static int push_rows(lua_State *L, struct world *w, const char *sql, const char *arg)
{
	sqlite3_stmt *st;
	int n = 0;

	if (sqlite3_prepare_v2(db_handle(w->db), sql, -1, &st, NULL) != SQLITE_OK)
		return luaL_error(L, "query failed: %s", db_errmsg(w->db));
	sqlite3_bind_text(st, 1, w->m->id, -1, SQLITE_TRANSIENT);
	if (arg != NULL)
		sqlite3_bind_text(st, 2, arg, -1, SQLITE_TRANSIENT);
	lua_newtable(L);
	while (sqlite3_step(st) == SQLITE_ROW) {
		lua_newtable(L);
		for (int c = 0; c < sqlite3_column_count(st); c++) {
			const char *name = sqlite3_column_name(st, c);
			size_t nl = strlen(name);

			switch (sqlite3_column_type(st, c)) {
			case SQLITE_INTEGER:
				lua_pushinteger(L, sqlite3_column_int64(st, c));
				break;
			case SQLITE_NULL:
				lua_pushnil(L);
				break;
			default:
				if (nl > 5 && strcmp(name + nl - 5, "_json") == 0) {
					json_t *v = json_loads((const char *)sqlite3_column_text(st, c),
					    JSON_DECODE_ANY, NULL);

					if (v == NULL) {
						lua_pushnil(L);
					} else {
						luajson_push(L, v);
						json_decref(v);
					}
					lua_pushlstring(L, name, nl - 5);
					lua_insert(L, -2);
					lua_settable(L, -3);
					continue;
				}
				lua_pushstring(L, (const char *)sqlite3_column_text(st, c));
			}
			lua_setfield(L, -2, name);
		}
		lua_rawseti(L, -2, ++n);
	}
	sqlite3_finalize(st);
	return 1;
}

static int s_effects(lua_State *L)
{
	struct world *w = world_of(L);
	const char *kind = NULL, *status = NULL;

	if (lua_istable(L, 1)) {
		lua_getfield(L, 1, "kind");
		lua_getfield(L, 1, "status");
		kind = lua_tostring(L, -2);
		status = lua_tostring(L, -1);
	}
	lua_pushfstring(L, "SELECT id, kind, status, attempts, url, idem_key AS key, last_status,"
	    " last_error, order_id, payment_id, json_extract(meta, '$.op') AS op, body,"
	    " CASE WHEN body LIKE '{%%' THEN body END AS body_json"
	    " FROM effects WHERE merchant = ?1%s%s ORDER BY id",
	    kind ? " AND kind = ?2" : "", status ? (kind ? " AND status = ?3" : " AND status = ?2") : "");
	{
		/* Bind both optional words through one helper: ?2 (and ?3). */
		sqlite3_stmt *st;
		const char *sql = lua_tostring(L, -1);
		int n = 0;

		if (sqlite3_prepare_v2(db_handle(w->db), sql, -1, &st, NULL) != SQLITE_OK)
			return luaL_error(L, "effects: query failed");
		sqlite3_finalize(st);
		if (kind && status) {
			/* rare: filter status in Lua instead */
			push_rows(L, w, "SELECT id, kind, status, attempts, url, idem_key AS key, last_status,"
			    " last_error, order_id, payment_id, json_extract(meta, '$.op') AS op,"
			    " CASE WHEN body LIKE '{%' THEN body END AS body_json FROM effects"
			    " WHERE merchant = ?1 AND kind = ?2 ORDER BY id", kind);
			lua_newtable(L);
			for (lua_Integer i = 1; lua_rawgeti(L, -2, i) != LUA_TNIL; i++) {
				lua_getfield(L, -1, "status");
				if (strcmp(lua_tostring(L, -1), status) == 0) {
					lua_pop(L, 1);
					lua_rawseti(L, -2, ++n);
				} else {
					lua_pop(L, 2);
				}
			}
			lua_pop(L, 1);
			return 1;
		}
		return push_rows(L, w, sql, kind ? kind : status);
	}
}

static int s_notifications(lua_State *L)
{
	return push_rows(L, world_of(L), "SELECT id, status, order_id, body AS message_json"
	    " FROM effects WHERE merchant = ?1 AND kind = 'notify' ORDER BY id", NULL);
}

static int s_webhooks_sent(lua_State *L)
{
	return push_rows(L, world_of(L), "SELECT id, status, json_extract(body, '$.topic') AS topic,"
	    " body AS message_json FROM effects WHERE merchant = ?1 AND kind = 'webhook' ORDER BY id",
	    NULL);
}

static int s_timers(lua_State *L)
{
	return push_rows(L, world_of(L), "SELECT key, event, due_at, payload AS payload_json"
	    " FROM timers WHERE merchant = ?1 ORDER BY due_at, id", NULL);
}

static int s_subscriptions(lua_State *L)
{
	return push_rows(L, world_of(L), "SELECT id, status, cycle, next_renewal_at,"
	    " interval_unit AS interval, timezone FROM subscriptions WHERE merchant = ?1 ORDER BY id",
	    NULL);
}

static int s_dead_letters(lua_State *L)
{
	struct world *w = world_of(L);

	w->dead_seen = (int)one_int(w->db, "SELECT count(*) FROM dead_letters WHERE ?1 = ?1", 0);
	return push_rows(L, w, "SELECT d.id, d.event_id, i.topic, i.event_name AS event, d.error"
	    " FROM dead_letters d JOIN inbox i ON i.id = d.event_id WHERE d.merchant = ?1"
	    " ORDER BY d.id", NULL);
}

static int s_expect(lua_State *L)
{
	if (!lua_toboolean(L, 1))
		return luaL_error(L, "expectation failed: %s", luaL_optstring(L, 2, "(no message)"));
	lua_settop(L, 1);
	return 1;
}

static int s_expect_eq(lua_State *L)
{
	lua_settop(L, 3);
	if (!lua_rawequal(L, 1, 2)) {
		luaL_tolstring(L, 1, NULL);
		luaL_tolstring(L, 2, NULL);
		return luaL_error(L, "%s%sgot %s, want %s", lua_isnil(L, 3) ? "" : lua_tostring(L, 3),
		    lua_isnil(L, 3) ? "" : ": ", lua_tostring(L, -2), lua_tostring(L, -1));
	}
	return 0;
}

static void open_api(lua_State *L)
{
	static const luaL_Reg globals[] = {
		{ "webhook", s_webhook }, { "event", s_event }, { "effects", s_effects },
		{ "notifications", s_notifications }, { "webhooks_sent", s_webhooks_sent },
		{ "timers", s_timers }, { "subscriptions", s_subscriptions },
		{ "dead_letters", s_dead_letters },
		{ "expect", s_expect }, { "expect_eq", s_expect_eq }, { NULL, NULL },
	};
	static const luaL_Reg clock_lib[] = {
		{ "advance", s_advance }, { "set", s_set }, { "jump", s_jump }, { "now", s_now },
		{ "iso", s_iso },
		{ NULL, NULL },
	};
	static const luaL_Reg answers_lib[] = {
		{ "add", s_answers_add }, { "decline", s_answers_decline },
		{ "timeout", s_answers_timeout }, { "fail", s_answers_fail }, { NULL, NULL },
	};
	static const luaL_Reg orders_lib[] = {
		{ "get", s_orders_get }, { "list", s_orders_list }, { NULL, NULL },
	};
	static const luaL_Reg stock_lib[] = {
		{ "set", s_stock_set }, { "receive", s_stock_receive }, { "list", s_stock_list },
		{ NULL, NULL },
	};

	lua_pushglobaltable(L);
	luaL_setfuncs(L, globals, 0);
	luaL_newlib(L, clock_lib);
	lua_setfield(L, -2, "clock");
	luaL_newlib(L, answers_lib);
	lua_setfield(L, -2, "answers");
	luaL_newlib(L, orders_lib);
	lua_setfield(L, -2, "orders");
	luaL_newlib(L, stock_lib);
	lua_setfield(L, -2, "stock");
	luaL_requiref(L, "json", l_json_open, 1);
	lua_pop(L, 2);
}

/* ------------------------------------------------------------------ */
/* Running spec files                                                  */
/* ------------------------------------------------------------------ */

static int traceback(lua_State *L)
{
	const char *msg = lua_tostring(L, 1);

	luaL_traceback(L, L, msg ? msg : "(error object is not a string)", 1);
	return 1;
}

struct tally {
	int passed, failed;
};

/* Run the test function on the stack top in a fresh world. */
static void run_test(struct ordo_config *cfg, const struct merchant_config *m, lua_State *L,
    const char *file, const char *name, struct tally *t)
{
	struct world *w = world_new(cfg, m);
	int base, rc;
	int64_t dead, failing;

	if (w == NULL) {
		lua_pop(L, 1);
		t->failed++;
		return;
	}
	lua_pushlightuserdata(L, w);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &WORLD_KEY);
	base = lua_gettop(L);
	lua_pushcfunction(L, traceback);
	lua_insert(L, base);
	rc = lua_pcall(L, 0, 0, base);
	dead = one_int(w->db, "SELECT count(*) FROM dead_letters WHERE ?1 = ?1", 0);
	failing = one_int(w->db, "SELECT count(*) FROM inbox WHERE status = 'pending'"
	    " AND last_error IS NOT NULL AND ?1 = ?1", 0);
	if (rc == LUA_OK && failing > 0) {
		sqlite3_stmt *st;

		printf("FAIL %s: %s\n  %lld event(s) failed and wait for a retry:\n", file, name,
		    (long long)failing);
		if (sqlite3_prepare_v2(db_handle(w->db), "SELECT last_error FROM inbox WHERE status ="
		    " 'pending' AND last_error IS NOT NULL ORDER BY id", -1, &st, NULL) == SQLITE_OK) {
			while (sqlite3_step(st) == SQLITE_ROW)
				printf("    %s\n", (const char *)sqlite3_column_text(st, 0));
			sqlite3_finalize(st);
		}
		t->failed++;
	} else if (rc != LUA_OK) {
		printf("FAIL %s: %s\n  %s\n", file, name, lua_tostring(L, -1));
		lua_pop(L, 1);
		t->failed++;
	} else if (dead > w->dead_seen) {
		sqlite3_stmt *st;

		printf("FAIL %s: %s\n  %lld dead letter(s) the test did not look at:\n", file, name,
		    (long long)(dead - w->dead_seen));
		if (sqlite3_prepare_v2(db_handle(w->db), "SELECT error FROM dead_letters ORDER BY id",
		    -1, &st, NULL) == SQLITE_OK) {
			while (sqlite3_step(st) == SQLITE_ROW)
				printf("    %s\n", (const char *)sqlite3_column_text(st, 0));
			sqlite3_finalize(st);
		}
		t->failed++;
	} else {
		printf("ok   %s: %s\n", file, name);
		t->passed++;
	}
	lua_pop(L, 1); /* the message handler */
	lua_pushnil(L);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &WORLD_KEY);
	world_free(w);
	clock_use_real();
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void run_file(struct ordo_config *cfg, const char *file, struct tally *t)
{
	lua_State *L = luaL_newstate();
	const struct merchant_config *m = cfg->n_merchants ? &cfg->merchants[0] : NULL;
	int specs, n = 0;

	if (L == NULL) {
		t->failed++;
		return;
	}
	luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
	luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
	luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1);
	luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 1);
	luaL_requiref(L, LUA_UTF8LIBNAME, luaopen_utf8, 1);
	lua_settop(L, 0);
	lua_pushnil(L);
	lua_setglobal(L, "dofile");
	lua_pushnil(L);
	lua_setglobal(L, "loadfile");
	open_api(L);
	lua_pushcfunction(L, traceback);
	if (luaL_loadfilex(L, file, "t") != LUA_OK || lua_pcall(L, 0, 1, 1) != LUA_OK) {
		printf("FAIL %s: cannot load: %s\n", file, lua_tostring(L, -1));
		t->failed++;
		lua_close(L);
		return;
	}
	if (!lua_istable(L, -1)) {
		printf("FAIL %s: must return a table of tests\n", file);
		t->failed++;
		lua_close(L);
		return;
	}
	specs = lua_gettop(L);
	if (lua_getfield(L, specs, "merchant") == LUA_TSTRING) {
		m = config_merchant(cfg, lua_tostring(L, -1));
		if (m == NULL) {
			printf("FAIL %s: merchant \"%s\" is not in the config\n", file, lua_tostring(L, -1));
			t->failed++;
			lua_close(L);
			return;
		}
	}
	lua_pop(L, 1);
	if (m == NULL) {
		printf("FAIL %s: the config has no merchant\n", file);
		t->failed++;
		lua_close(L);
		return;
	}
	if (lua_rawlen(L, specs) > 0) {
		/* { {"name", fn}, ... } in order */
		for (lua_Integer i = 1; lua_rawgeti(L, specs, i) == LUA_TTABLE; i++) {
			lua_rawgeti(L, -1, 1);
			lua_rawgeti(L, -2, 2);
			if (lua_type(L, -2) == LUA_TSTRING && lua_isfunction(L, -1)) {
				char *name = strdup(lua_tostring(L, -2));

				lua_remove(L, -2);
				run_test(cfg, m, L, file, name ? name : "?", t);
				free(name);
				n++;
			} else {
				lua_pop(L, 2);
			}
			lua_pop(L, 1);
		}
		lua_pop(L, 1);
	} else {
		const char *names[1024];
		size_t k = 0;

		lua_pushnil(L);
		while (lua_next(L, specs) != 0 && k < 1024) {
			if (lua_type(L, -2) == LUA_TSTRING && lua_isfunction(L, -1))
				names[k++] = lua_tostring(L, -2); /* anchored by the table */
			lua_pop(L, 1);
		}
		qsort(names, k, sizeof *names, cmp_str);
		for (size_t i = 0; i < k; i++) {
			lua_getfield(L, specs, names[i]);
			run_test(cfg, m, L, file, names[i], t);
			n++;
		}
	}
	if (n == 0) {
		printf("FAIL %s: no tests in it\n", file);
		t->failed++;
	}
	lua_close(L);
}

static int add_file(char **list, int *n, const char *path)
{
	struct stat st;

	if (*n >= MAX_SPECS || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return 0;
	for (int i = 0; i < *n; i++)
		if (strcmp(list[i], path) == 0)
			return 0;
	list[*n] = strdup(path);
	return list[*n] ? (*n)++, 1 : 0;
}

int spec_run(struct ordo_config *cfg, char **files, int nfiles)
{
	char *list[MAX_SPECS], path[4096];
	struct tally t = { 0 };
	int n = 0;

	log_set_level(LOG_ERROR);
	if (nfiles > 0) {
		for (int i = 0; i < nfiles; i++)
			if (!add_file(list, &n, files[i])) {
				fprintf(stderr, "ordo test: %s: %s\n", files[i], strerror(errno ? errno : ENOENT));
				for (int k = 0; k < n; k++)
					free(list[k]);
				return 2;
			}
	} else {
		static const char *const dirs[] = { "%s", "%s/../tests/workflows" };

		for (size_t di = 0; di < sizeof dirs / sizeof dirs[0]; di++) {
			char *names[MAX_SPECS];
			struct dirent *e;
			DIR *d;
			int k = 0;

			snprintf(path, sizeof path, dirs[di], cfg->dir);
			if ((d = opendir(path)) == NULL)
				continue;
			while ((e = readdir(d)) != NULL && k < MAX_SPECS) {
				size_t len = strlen(e->d_name);

				if (len > 9 && strcmp(e->d_name + len - 9, "_spec.lua") == 0)
					names[k++] = strdup(e->d_name);
			}
			closedir(d);
			qsort(names, (size_t)k, sizeof *names, cmp_str);
			for (int i = 0; i < k; i++) {
				char p[4400], *real;

				snprintf(p, sizeof p, "%s/%s", path, names[i]);
				if ((real = realpath(p, NULL)) != NULL) {
					add_file(list, &n, real);
					free(real);
				}
				free(names[i]);
			}
		}
		for (size_t i = 0; i < cfg->n_merchants; i++) {
			const char *wf = cfg->merchants[i].workflow;
			size_t len = strlen(wf);

			if (len > 4 && strcmp(wf + len - 4, ".lua") == 0) {
				snprintf(path, sizeof path, "%.*s_spec.lua", (int)(len - 4), wf);
				add_file(list, &n, path);
			}
		}
	}
	if (n == 0) {
		fprintf(stderr, "ordo test: no spec files (*_spec.lua in the config's folder or in"
		    " tests/workflows/ beside it, or <workflow>_spec.lua)\n");
		return 2;
	}
	for (int i = 0; i < n; i++) {
		run_file(cfg, list[i], &t);
		free(list[i]);
	}
	printf("%d passed, %d failed\n", t.passed, t.failed);
	return t.failed ? 1 : 0;
}
