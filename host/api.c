/*
 * api — the JSON REST API under /api/v1/, per-merchant API keys.
 *
 *   GET  /api/v1/orders/{id}
 *   GET  /api/v1/orders?channel=&external_id=&status=&email=&sku=&q=&limit=&cursor=
 *                                                  q: external id, number, email or SKU
 *   GET  /api/v1/events/{id}                       one inbox event: status, attempts, error
 *   GET  /api/v1/orders/summary                    counts by status, payment, fulfillment
 *   POST /api/v1/session                           {api_key}: dashboard sign-in (cookie)
 *   GET  /api/v1/session                           who is signed in, its CSRF token
 *   DELETE /api/v1/session                         sign out
 *   GET  /api/v1/dead-letters?limit=
 *   POST /api/v1/dead-letters/{id}/retry
 *   GET  /api/v1/effects?status=&limit=
 *   POST /api/v1/effects/{id}/retry
 *   POST /api/v1/subscriptions                     create
 *   GET  /api/v1/subscriptions?status=&due_before=&email=&limit=
 *   GET  /api/v1/subscriptions/{id}
 *   POST /api/v1/subscriptions/{id}/pause|resume|skip|cancel|next|quantity
 *   GET  /api/v1/inventory?sku=&location=&low=
 *   PUT  /api/v1/inventory/{sku}                   {"locations": {"wh": n}}
 *   POST /api/v1/inventory/adjustments             Idempotency-Key required
 *   POST /api/v1/orders/{id}/shipments             {location, lines}
 *   GET  /api/v1/shipments/{id}
 *   POST /api/v1/shipments/{id}/pick|pack|ship|deliver|cancel
 *   POST /api/v1/purchase-orders                   {supplier, sku, quantity, location}; Idempotency-Key optional
 *   GET  /api/v1/purchase-orders/{id}
 *   POST /api/v1/purchase-orders/{id}/receive      {quantity}; Idempotency-Key optional
 *   POST /api/v1/orders/{id}/cancel                {reason, lines: [{line, quantity}]}: 202,
 *                                                  cancel_requested for the workflow
 *   POST /api/v1/orders/{id}/edits                 {add: [{sku, quantity, unit_price}],
 *                                                  change: [{line, quantity}]}: 202, edit_requested
 *   POST /api/v1/orders/{id}/returns               {lines: [{line, quantity}], reason}
 *   POST /api/v1/orders/{id}/exchanges             the same plus replacement: [{sku, quantity, unit_price}]
 *   GET  /api/v1/returns?status=&limit=
 *   GET  /api/v1/returns/{id}
 *   POST /api/v1/returns/{id}/approve|reject|receive|refund|close
 *   GET  /api/v1/orders/{id}/digital               its download grants and license keys
 *   GET  /api/v1/license-pools/{sku}               free, assigned and revoked keys
 *   POST /api/v1/license-pools/{sku}/keys          {keys: [...]}: import; duplicates reported
 *   GET  /api/v1/digital-products                  config's and the API's
 *   GET|PUT|DELETE /api/v1/digital-products/{sku}  PUT {file | license: true, content_type}
 *   GET  /api/v1/grants/{id}
 *   POST /api/v1/grants/{id}/revoke|extend         extend: {expires_at, downloads}
 *   GET  /api/v1/reports/kpis?from=&to=&bucket=    KPIs (reports.h)
 *
 * The api_routes table at the end is what dispatches (server_find_route):
 * a new route is one line there, and a line in api/openapi.json, which
 * tests/e2e/test_openapi.py holds to the table.
 *
 * Depends on orders, dispatch, outbox, crypto, http. A key is compared as SHA-256
 * digests with a constant-time compare, against every key of every
 * merchant, so neither timing nor an early exit tells which part matched.
 * Another merchant's resources are 404, never 403. The dashboard's session
 * cookie (session.h) authenticates too; a change made with it (any method
 * but GET and HEAD) needs the session's X-CSRF-Token, else 403.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "ordo/api.h"
#include "ordo/crypto.h"
#include "ordo/dispatch.h"
#include "ordo/http.h"
#include "ordo/orders.h"
#include "ordo/reports.h"
#include "ordo/clock.h"
#include "ordo/db.h"
#include "ordo/digital.h"
#include "ordo/edits.h"
#include "ordo/events.h"
#include "ordo/fulfillment.h"
#include "ordo/inbox.h"
#include "ordo/inventory.h"
#include "ordo/outbox.h"
#include "ordo/reload.h"
#include "ordo/returns.h"
#include "ordo/subscriptions.h"
#include "ordo/supply.h"
#include "ordo/timers.h"
#include "ordo/server.h"
#include "ordo/session.h"

/* The merchant with API key `key`, or NULL; *digest gets the key's SHA-256. */
static const struct merchant_config *key_merchant(struct server *s, const char *key,
    unsigned char digest[CRYPTO_SHA256_LEN])
{
	unsigned char want[CRYPTO_SHA256_LEN];
	const struct merchant_config *found = NULL;

	crypto_sha256(key, strlen(key), digest);
	for (size_t i = 0; i < s->cfg->n_merchants; i++) {
		const struct merchant_config *m = &s->cfg->merchants[i];

		for (size_t k = 0; k < m->n_api_keys; k++) {
			crypto_sha256(m->api_keys[k], strlen(m->api_keys[k]), want);
			if (crypto_equal(digest, want, sizeof want) && found == NULL)
				found = m;
		}
	}
	return found;
}

/* The merchant of a live session cookie whose key is still configured,
 * or NULL (also on a database error: the caller answers 401 either way). */
static const struct merchant_config *session_merchant(struct server *s, const char *token)
{
	char merchant[SESSION_MERCHANT_MAX], key_hex[SESSION_TOKEN_HEX + 1];
	char have[2 * CRYPTO_SHA256_LEN + 1];
	unsigned char d[CRYPTO_SHA256_LEN];
	const struct merchant_config *m;
	int64_t expires;
	int i, ok = 0;

	if (session_find(s->db, token, merchant, key_hex, &expires) != 1 ||
	    (i = server_merchant_index(s, merchant)) < 0)
		return NULL;
	m = &s->cfg->merchants[i];
	for (size_t k = 0; k < m->n_api_keys; k++) {
		crypto_sha256(m->api_keys[k], strlen(m->api_keys[k]), d);
		crypto_hex(d, sizeof d, have);
		ok |= crypto_equal_str(have, key_hex);
	}
	return ok ? m : NULL;
}

/* The merchant whose key (Authorization: Bearer) or dashboard session
 * (cookie) the request carries, or NULL. A request with an Authorization
 * header is judged by it alone. `token` gets the session token when the
 * cookie was used, "" otherwise. */
static const struct merchant_config *authenticate(struct server *s, struct evhttp_request *req,
    char token[SESSION_TOKEN_HEX + 1])
{
	const char *auth = http_header(req, "Authorization");
	const char *cookie = http_header(req, "Cookie");
	unsigned char got[CRYPTO_SHA256_LEN];
	const struct merchant_config *m;

	token[0] = '\0';
	if (auth != NULL)
		return strncmp(auth, "Bearer ", 7) != 0 || auth[7] == '\0' ? NULL
		    : key_merchant(s, auth + 7, got);
	if (cookie == NULL || !session_cookie_token(cookie, token))
		return NULL;
	m = session_merchant(s, token);
	if (m == NULL)
		token[0] = '\0';
	return m;
}

/* A positive int64 from decimal text, strictly. @return 0 or -1. */
static int parse_id(const char *text, int64_t *out)
{
	char *end;
	long long v;

	if (text == NULL || text[0] < '1' || text[0] > '9' || strlen(text) > 19)
		return -1;
	errno = 0;
	v = strtoll(text, &end, 10);
	if (errno != 0 || *end != '\0' || v <= 0)
		return -1;
	*out = v;
	return 0;
}

static int query_int(struct evhttp_request *req, const char *name, int64_t dflt,
    int64_t min, int64_t max, int64_t *out)
{
	int bad;
	char *v = http_query(req, name, &bad);
	int rc = 0;

	*out = dflt;
	if (bad) {
		http_reply_error(req, 400, "invalid_parameter", "the query string is malformed");
		return -1;
	}
	if (v != NULL) {
		if (parse_id(v, out) != 0 || *out < min || *out > max) {
			http_reply_error(req, 400, "invalid_parameter",
			    "%s must be an integer from %" PRId64 " to %" PRId64, name, min, max);
			rc = -1;
		}
		free(v);
	}
	return rc;
}

json_t *api_order(struct db *db, const char *merchant, int64_t id, int *dberr)
{
	json_t *o = orders_get(db, merchant, id, ORDERS_ALL), *eff;

	*dberr = 0;
	if (o == NULL)
		return NULL;
	if ((eff = outbox_list(db, merchant, NULL, id, 1000)) == NULL) {
		json_decref(o);
		*dberr = 1;
		return NULL;
	}
	json_object_set(o, "effects", json_object_get(eff, "effects"));
	json_decref(eff);
	json_object_set_new(o, "shipments", ship_list(db, merchant, id));
	/* The events that touched it, for the timeline (events.c). */
	if ((eff = events_of_order(db, merchant, id, 1000)) == NULL) {
		json_decref(o);
		*dberr = 1;
		return NULL;
	}
	json_object_set_new(o, "events", eff);
	return o;
}

/* An order id from the path. @return 0, or -1 having answered 404. */
static int order_id(struct evhttp_request *req, const char *text, int64_t *id)
{
	if (parse_id(text, id) == 0)
		return 0;
	http_reply_error(req, 404, "not_found", "no order \"%s\"", text);
	return -1;
}

static void get_order(struct server *s, struct evhttp_request *req,
    const struct merchant_config *m, const char *idtext)
{
	int64_t id;
	json_t *o;
	int dberr;

	if (order_id(req, idtext, &id) != 0)
		return;
	if ((o = api_order(s->db, m->id, id, &dberr)) == NULL) {
		if (dberr)
			http_reply_error(req, 503, "unavailable", "the database is unavailable");
		else
			http_reply_error(req, 404, "not_found", "no order %" PRId64, id);
		return;
	}
	http_reply_json(req, 200, o);
}

static void list_orders(struct server *s, struct evhttp_request *req,
    const struct merchant_config *m)
{
	struct orders_filter f = { 0 };
	char err[ORDERS_ERRLEN];
	char *channel = NULL, *ext = NULL, *status = NULL, *email = NULL, *sku = NULL;
	char *search = NULL;
	int64_t limit, cursor;
	int bad = 0, b;
	json_t *out;

	if (query_int(req, "limit", 50, 1, 200, &limit) != 0 ||
	    query_int(req, "cursor", 0, 1, INT64_MAX, &cursor) != 0)
		return;
	channel = http_query(req, "channel", &b);
	bad |= b;
	ext = http_query(req, "external_id", &b);
	bad |= b;
	status = http_query(req, "status", &b);
	bad |= b;
	email = http_query(req, "email", &b);
	bad |= b;
	sku = http_query(req, "sku", &b);
	bad |= b;
	search = http_query(req, "q", &b);
	bad |= b;
	if (bad) {
		http_reply_error(req, 400, "invalid_parameter", "the query string is malformed");
		goto out;
	}
	f.channel = channel;
	f.external_id = ext;
	f.status = status;
	f.email = email;
	f.sku = sku;
	f.q = search;
	f.before_id = cursor;
	f.limit = (int)limit;
	out = orders_list(s->db, m->id, &f, err);
	if (out == NULL)
		http_reply_error(req, strncmp(err, "database", 8) == 0 ? 503 : 400,
		    strncmp(err, "database", 8) == 0 ? "unavailable" : "invalid_parameter", "%s", err);
	else
		http_reply_json(req, 200, out);
out:
	free(channel);
	free(ext);
	free(status);
	free(email);
	free(sku);
	free(search);
}

static void dead_letters(struct server *s, struct evhttp_request *req,
    const struct merchant_config *m, char **seg, int n)
{
	enum evhttp_cmd_type cmd = http_method(req);

	if (n == 3) {
		int64_t limit;
		json_t *out;

		if (cmd != EVHTTP_REQ_GET) {
			http_reply_error(req, 405, "method_not_allowed", "use GET");
			return;
		}
		if (query_int(req, "limit", 100, 1, 1000, &limit) != 0)
			return;
		out = dispatch_dead_letters(s->db, m->id, (int)limit);
		if (out == NULL)
			http_reply_error(req, 503, "unavailable", "the database is unavailable");
		else
			http_reply_json(req, 200, out);
		return;
	}
	if (n == 5 && strcmp(seg[4], "retry") == 0) {
		int64_t id, event_id;
		int rc;

		if (cmd != EVHTTP_REQ_POST) {
			http_reply_error(req, 405, "method_not_allowed", "use POST");
			return;
		}
		if (parse_id(seg[3], &id) != 0) {
			http_reply_error(req, 404, "not_found", "no dead letter \"%s\"", seg[3]);
			return;
		}
		rc = dispatch_retry_dead_letter(s->db, m->id, id, &event_id);
		if (rc == 1) {
			http_reply_error(req, 404, "not_found", "no open dead letter %" PRId64, id);
		} else if (rc != 0) {
			http_reply_error(req, 503, "unavailable", "the database is unavailable");
		} else {
			dispatch_kick(s->dispatch);
			http_reply_json(req, 202, json_pack("{s:b,s:I}", "ok", 1, "event_id",
			    (json_int_t)event_id));
		}
		return;
	}
	http_reply_error(req, 404, "not_found", "no such route");
}

/* "failed,dead": known words only. */
static int statuses_ok(const char *list)
{
	static const char *const words[] = { "pending", "succeeded", "failed", "dead", NULL };

	while (*list) {
		size_t n = strcspn(list, ",");
		int found = 0;

		for (int i = 0; words[i] && !found; i++)
			found = strlen(words[i]) == n && strncmp(words[i], list, n) == 0;
		if (!found)
			return 0;
		list += n;
		if (*list == ',' && *++list == '\0')
			return 0;
	}
	return 1;
}

static void effects(struct server *s, struct evhttp_request *req,
    const struct merchant_config *m, char **seg, int n)
{
	enum evhttp_cmd_type cmd = http_method(req);

	if (n == 3) {
		int64_t limit;
		char *status;
		json_t *out;
		int bad;

		if (cmd != EVHTTP_REQ_GET) {
			http_reply_error(req, 405, "method_not_allowed", "use GET");
			return;
		}
		if (query_int(req, "limit", 100, 1, 1000, &limit) != 0)
			return;
		status = http_query(req, "status", &bad);
		if (bad || (status != NULL && (status[0] == '\0' || !statuses_ok(status)))) {
			http_reply_error(req, 400, "invalid_parameter", "status must be pending, succeeded,"
			    " failed or dead (or a comma list of them)");
			free(status);
			return;
		}
		out = outbox_list(s->db, m->id, status, 0, (int)limit);
		free(status);
		if (out == NULL)
			http_reply_error(req, 503, "unavailable", "the database is unavailable");
		else
			http_reply_json(req, 200, out);
		return;
	}
	if (n == 5 && strcmp(seg[4], "retry") == 0) {
		json_t *eff = NULL;
		int64_t id;
		int rc;

		if (cmd != EVHTTP_REQ_POST) {
			http_reply_error(req, 405, "method_not_allowed", "use POST");
			return;
		}
		if (parse_id(seg[3], &id) != 0) {
			http_reply_error(req, 404, "not_found", "no effect \"%s\"", seg[3]);
			return;
		}
		rc = outbox_retry(s->db, m->id, id, &eff);
		if (rc == 1) {
			http_reply_error(req, 404, "not_found", "no effect %" PRId64, id);
		} else if (rc == 2) {
			http_reply_error(req, 409, "not_retryable", "effect %" PRId64 " is %s; only a"
			    " failed or dead effect can be retried", id,
			    json_string_value(json_object_get(eff, "status")) ?
			    json_string_value(json_object_get(eff, "status")) : "not finished");
		} else if (rc != 0) {
			http_reply_error(req, 503, "unavailable", "the database is unavailable");
		} else {
			outbox_kick(s->outbox);
			http_reply_json(req, 200, json_pack("{s:O}", "effect", eff));
		}
		json_decref(eff);
		return;
	}
	http_reply_error(req, 404, "not_found", "no such route");
}

/* The request body as a JSON object (empty body: {}); NULL after a 400. */
static json_t *body_object(struct evhttp_request *req)
{
	size_t len;
	const char *body = http_body(req, &len);
	json_error_t jerr;
	json_t *v;

	if (len == 0)
		return json_object();
	v = json_loadb(body, len, 0, &jerr);
	if (v == NULL) {
		http_reply_error(req, 400, "invalid_json", "the body is not JSON: %s at byte %d",
		    jerr.text, jerr.position);
		return NULL;
	}
	if (!json_is_object(v)) {
		json_decref(v);
		http_reply_error(req, 400, "invalid_json", "the body must be a JSON object");
		return NULL;
	}
	return v;
}

/*
 * Raise `topic` for the merchant's workflow inside the caller's
 * transaction, with `payload` (stolen) as its JSON; `order_key` orders it
 * with the order's other events, `dedup` makes a repeat the same event.
 * @return the inbox id (*dup set for a repeat), or -1 (out of memory or the
 * database).
 */
static int64_t raise_event(struct db *db, const char *merchant, const char *topic,
    json_t *payload, const char *order_key, const char *dedup, int *dup)
{
	char *text = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
	struct inbox_item item = { .merchant = merchant, .source = "api", .topic = topic,
	                           .order_key = order_key, .dedup_key = dedup, .payload = text,
	                           .payload_len = text ? strlen(text) : 0 };
	int64_t id = text ? inbox_insert(db, &item, 0, dup) : -1;

	free(text);
	json_decref(payload);
	return id;
}

/*
 * The answer to a refused domain action: one status per kind of refusal,
 * whichever module refused (each has its own codes; the *_fail helpers
 * below map them here). `invalid` is the code of a 422.
 */
enum refusal { REFUSED_INVALID, REFUSED_INPUT, REFUSED_NOTFOUND, REFUSED_CONFLICT, REFUSED_DB };

static void refuse(struct evhttp_request *req, enum refusal why, const char *invalid,
    const char *err)
{
	static const struct { int status; const char *code; } answer[] = {
		[REFUSED_INVALID] = { 422, NULL }, [REFUSED_INPUT] = { 400, "invalid_request" },
		[REFUSED_NOTFOUND] = { 404, "not_found" }, [REFUSED_CONFLICT] = { 409, "conflict" },
		[REFUSED_DB] = { 503, "unavailable" },
	};

	http_reply_error(req, answer[why].status, answer[why].code ? answer[why].code : invalid,
	    "%s", err);
}

static void subs_fail(struct evhttp_request *req, const char *err)
{
	int k = subs_error_kind(err);

	refuse(req, k == SUBS_ENOTFOUND ? REFUSED_NOTFOUND : k == SUBS_ECONFLICT ? REFUSED_CONFLICT :
	    k == SUBS_EDB ? REFUSED_DB : REFUSED_INVALID, "invalid_subscription", err);
}

/* A time in a body field: ms UTC or ISO 8601. @return 1 set, 0 absent, -1 bad. */
static int body_time(const json_t *body, const char *k, int64_t *out)
{
	const json_t *v = json_object_get(body, k);

	if (v == NULL || json_is_null(v))
		return 0;
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 1;
	}
	return json_is_string(v) && clock_parse_iso(json_string_value(v), out) == 0 ? 1 : -1;
}

/* One action in its own transaction, with the event the workflow hears. */
static void subs_action(struct server *s, struct evhttp_request *req,
    const struct merchant_config *m, int64_t id, const char *action, const json_t *body)
{
	char err[SUBS_ERRLEN] = "", topic[64];
	int64_t t = 0;
	int rc = -1, dup;
	json_t *out;

	if (db_begin(s->db) != 0) {
		http_reply_error(req, 503, "unavailable", "the database is unavailable");
		return;
	}
	if (strcmp(action, "pause") == 0) {
		if (body_time(body, "until", &t) < 0)
			snprintf(err, sizeof err, "until must be a time (ms UTC or ISO 8601)");
		else
			rc = subs_pause(s->db, m->id, id, t, 0, err);
	} else if (strcmp(action, "resume") == 0) {
		rc = subs_resume(s->db, m->id, id, 0, err);
	} else if (strcmp(action, "skip") == 0) {
		rc = subs_skip(s->db, m->id, id, 0, err);
	} else if (strcmp(action, "cancel") == 0) {
		rc = subs_cancel(s->db, m->id, id, json_is_true(json_object_get(body, "at_period_end")),
		    json_string_value(json_object_get(body, "reason")), 0, err);
	} else if (strcmp(action, "next") == 0) {
		if (body_time(body, "at", &t) != 1)
			snprintf(err, sizeof err, "at must be the next renewal's time (ms UTC or ISO 8601)");
		else
			rc = subs_set_next(s->db, m->id, id, t, 0, err);
	} else if (strcmp(action, "quantity") == 0) {
		const json_t *line = json_object_get(body, "line"), *q = json_object_get(body, "quantity");

		if (!json_is_integer(q))
			snprintf(err, sizeof err, "quantity must be a whole number");
		else
			rc = subs_set_quantity(s->db, m->id, id, json_is_integer(line)
			    ? (int)json_integer_value(line) : 1, json_integer_value(q), 0, err);
	} else {
		db_rollback(s->db);
		http_reply_error(req, 404, "not_found", "no subscription action \"%s\"", action);
		return;
	}
	if (rc == 0) {
		static const char *const past[][2] = {
			{ "pause", "paused" }, { "resume", "resumed" }, { "skip", "skipped" },
			{ "cancel", "canceled" }, { "next", "rescheduled" }, { "quantity", "changed" },
		};
		const char *done = action;

		for (size_t i = 0; i < sizeof past / sizeof past[0]; i++)
			if (strcmp(past[i][0], action) == 0)
				done = past[i][1];
		snprintf(topic, sizeof topic, "subscription_%s", done);
		if (raise_event(s->db, m->id, topic, json_pack("{s:I,s:s}", "subscription_id",
		    (json_int_t)id, "action", action), NULL, NULL, &dup) < 0 ||
		    db_commit(s->db) != 0) {
			db_rollback(s->db);
			http_reply_error(req, 503, "unavailable", "the database is unavailable");
			return;
		}
		dispatch_kick(s->dispatch);
		timers_kick(s->timers);   /* the renewal timer moved */
		out = subs_get(s->db, m->id, id);
		http_reply_json(req, 200, json_pack("{s:o}", "subscription", out ? out : json_null()));
		return;
	}
	db_rollback(s->db);
	subs_fail(req, err);
}

static void subscriptions_route(struct server *s, struct evhttp_request *req,
    const struct merchant_config *m, char **seg, int n)
{
	enum evhttp_cmd_type cmd = http_method(req);
	char err[SUBS_ERRLEN] = "";
	json_t *body, *out;
	int64_t id;

	if (n == 3 && cmd == EVHTTP_REQ_POST) {
		int created;

		if ((body = body_object(req)) == NULL)
			return;
		if (db_begin(s->db) != 0) {
			json_decref(body);
			http_reply_error(req, 503, "unavailable", "the database is unavailable");
			return;
		}
		id = subs_create(s->db, m->id, m->timezone, body, 0, &created, err);
		json_decref(body);
		if (id < 0 || db_commit(s->db) != 0) {
			db_rollback(s->db);
			subs_fail(req, err[0] ? err : "database error");
			return;
		}
		timers_kick(s->timers);   /* the renewal timer moved */
		out = subs_get(s->db, m->id, id);
		http_reply_json(req, created ? 201 : 200, json_pack("{s:o,s:b}", "subscription",
		    out ? out : json_null(), "created", created));
		return;
	}
	if (n == 3 && cmd == EVHTTP_REQ_GET) {
		char *status, *email, *due;
		int64_t limit, due_ms = 0;
		int b1, b2, b3;

		if (query_int(req, "limit", 100, 1, 1000, &limit) != 0)
			return;
		status = http_query(req, "status", &b1);
		email = http_query(req, "email", &b2);
		due = http_query(req, "due_before", &b3);
		if (b1 || b2 || b3 || (due != NULL && clock_parse_iso(due, &due_ms) != 0)) {
			http_reply_error(req, 400, "invalid_parameter", "due_before must be an ISO 8601 time");
		} else if ((out = subs_list(s->db, m->id, status, due_ms, email, (int)limit)) == NULL) {
			http_reply_error(req, 503, "unavailable", "the database is unavailable");
		} else {
			http_reply_json(req, 200, out);
		}
		free(status);
		free(email);
		free(due);
		return;
	}
	if (n < 4 || parse_id(seg[3], &id) != 0) {
		http_reply_error(req, n < 4 ? 405 : 404, n < 4 ? "method_not_allowed" : "not_found",
		    n < 4 ? "use GET or POST" : "no subscription \"%s\"", n < 4 ? "" : seg[3]);
		return;
	}
	if (n == 4) {
		if (cmd != EVHTTP_REQ_GET) {
			http_reply_error(req, 405, "method_not_allowed", "use GET");
			return;
		}
		if ((out = subs_get(s->db, m->id, id)) == NULL)
			http_reply_error(req, 404, "not_found", "no subscription %" PRId64, id);
		else
			http_reply_json(req, 200, out);
		return;
	}
	if (n == 5) {
		if (cmd != EVHTTP_REQ_POST) {
			http_reply_error(req, 405, "method_not_allowed", "use POST");
			return;
		}
		if ((body = body_object(req)) == NULL)
			return;
		subs_action(s, req, m, id, seg[4], body);
		json_decref(body);
		return;
	}
	http_reply_error(req, 404, "not_found", "no such route");
}

static void inventory_fail(struct evhttp_request *req, const char *err)
{
	refuse(req, strncmp(err, "database error", 14) == 0 ? REFUSED_DB : REFUSED_INVALID,
	    "invalid_inventory", err);
}

/* PUT /inventory/{sku}: set on-hand counts, all or none. */
static void inventory_put(struct server *s, struct evhttp_request *req,
    const struct merchant_config *m, const char *sku)
{
	json_t *body = body_object(req), *locs, *v, *out;
	const char *loc, *reason;
	char err[INV_ERRLEN + 64];

	if (body == NULL)
		return;
	locs = json_object_get(body, "locations");
	reason = json_string_value(json_object_get(body, "reason"));
	if (!json_is_object(locs) || json_object_size(locs) == 0) {
		json_decref(body);
		http_reply_error(req, 400, "invalid_parameter", "give {\"locations\": {\"<location>\": <on hand>, ...}}");
		return;
	}
	if (db_begin(s->db) != 0) {
		json_decref(body);
		http_reply_error(req, 503, "unavailable", "the database is unavailable");
		return;
	}
	json_object_foreach(locs, loc, v) {
		char why[INV_ERRLEN];

		if (!json_is_integer(v)) {
			snprintf(err, sizeof err, "locations.%s: on hand must be a whole number", loc);
			goto fail;
		}
		if (inv_set(s->db, m, sku, loc, json_integer_value(v), reason ? reason : "api",
		    0, why) != 0) {
			snprintf(err, sizeof err, "locations.%s: %s", loc, why);
			goto fail;
		}
	}
	if (db_commit(s->db) != 0) {
		snprintf(err, sizeof err, "database error: %s", db_errmsg(s->db));
		goto fail;
	}
	json_decref(body);
	dispatch_kick(s->dispatch);
	out = inv_list(s->db, m->id, sku, NULL, 0);
	http_reply_json(req, 200, out);
	return;
fail:
	db_rollback(s->db);
	json_decref(body);
	inventory_fail(req, err);
}

/*
 * Idempotency-Key for API writes: the answer of the first request is kept
 * (inventory_requests, keyed by merchant and `scope` + key) in the same
 * transaction as its writes, so a retry answers it again, marked
 * "replayed": true, and applies nothing. `scope` keeps one route's keys
 * from answering another's ("" for adjustments, which came first).
 */
static int idem_key(char *buf, size_t len, const char *scope, const char *key)
{
	return snprintf(buf, len, "%s%s", scope, key) < (int)len ? 0 : -1;
}

/* 1 when a prior answer was sent for this key. */
static int idem_replay(struct server *s, struct evhttp_request *req,
    const struct merchant_config *m, const char *scope, const char *key)
{
	sqlite3_stmt *st;
	json_t *prior = NULL;
	char k[256];

	if (key == NULL || idem_key(k, sizeof k, scope, key) != 0 ||
	    (st = db_prepare(s->db, "SELECT response FROM inventory_requests WHERE merchant = ?"
	    " AND idem_key = ?")) == NULL)
		return 0;
	db_bind_text(st, 1, m->id);
	db_bind_text(st, 2, k);
	if (sqlite3_step(st) == SQLITE_ROW)
		prior = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
	db_reset(st);
	if (prior == NULL)
		return 0;
	json_object_set_new(prior, "replayed", json_true());
	http_reply_json(req, 200, prior);
	return 1;
}

/* Keep `answer` (borrowed) for the key, inside the caller's transaction.
 * A NULL key keeps nothing. @return 0 or -1 (db_errmsg tells). */
static int idem_store(struct server *s, const struct merchant_config *m, const char *scope,
    const char *key, json_t *answer)
{
	sqlite3_stmt *st;
	char k[256], *text;
	int rc;

	if (key == NULL)
		return 0;
	if (idem_key(k, sizeof k, scope, key) != 0 || (text = json_dumps(answer, JSON_COMPACT)) == NULL)
		return -1;
	st = db_prepare(s->db, "INSERT INTO inventory_requests (merchant, idem_key, response, created_at)"
	    " VALUES (?, ?, ?, ?)");
	if (st == NULL) {
		free(text);
		return -1;
	}
	db_bind_text(st, 1, m->id);
	db_bind_text(st, 2, k);
	db_bind_text(st, 3, text);
	sqlite3_bind_int64(st, 4, clock_now_ms());
	rc = db_step_done(st);
	free(text);
	return rc;
}

/* An optional Idempotency-Key: NULL when absent; -1 (answered 400) when
 * malformed. */
static int idem_optional(struct evhttp_request *req, const char **key)
{
	*key = http_header(req, "Idempotency-Key");
	if (*key != NULL && ((*key)[0] == '\0' || strlen(*key) > 200)) {
		http_reply_error(req, 400, "invalid_parameter", "Idempotency-Key must be 1 to 200 bytes");
		return -1;
	}
	return 0;
}

/* POST /inventory/adjustments: deltas with reasons, all or none, once per
 * Idempotency-Key (a repeat answers what the first did). */
static void inventory_adjust(struct server *s, struct evhttp_request *req,
    const struct merchant_config *m)
{
	const char *key = http_header(req, "Idempotency-Key");
	json_t *body, *list, *e, *out;
	char err[INV_ERRLEN + 64];
	size_t i;

	if (key == NULL || key[0] == '\0' || strlen(key) > 200) {
		http_reply_error(req, 400, "missing_header", "adjustments need an Idempotency-Key header"
		    " (1 to 200 bytes), so a retried request applies once");
		return;
	}
	if (idem_replay(s, req, m, "", key))
		return;
	if ((body = body_object(req)) == NULL)
		return;
	list = json_object_get(body, "adjustments");
	if (!json_is_array(list) || json_array_size(list) == 0 || json_array_size(list) > 10000) {
		json_decref(body);
		http_reply_error(req, 400, "invalid_parameter",
		    "give {\"adjustments\": [{\"sku\", \"location\", \"delta\", \"reason\"}, ...]} (1 to 10000)");
		return;
	}
	if (db_begin(s->db) != 0) {
		json_decref(body);
		http_reply_error(req, 503, "unavailable", "the database is unavailable");
		return;
	}
	json_array_foreach(list, i, e) {
		const char *sku = json_string_value(json_object_get(e, "sku"));
		const char *loc = json_string_value(json_object_get(e, "location"));
		const char *kind = json_string_value(json_object_get(e, "kind"));
		const json_t *d = json_object_get(e, "delta");
		char why[INV_ERRLEN];

		if (sku == NULL || loc == NULL || !json_is_integer(d)) {
			snprintf(err, sizeof err, "adjustments[%zu]: sku and location are text, delta a"
			    " whole number", i);
			goto fail;
		}
		if (inv_adjust(s->db, m, sku, loc, json_integer_value(d), kind ? kind :
		    json_integer_value(d) > 0 ? "receive" : "adjust",
		    json_string_value(json_object_get(e, "reason")), 0, why) != 0) {
			snprintf(err, sizeof err, "adjustments[%zu]: %s", i, why);
			goto fail;
		}
	}
	out = json_pack("{s:b,s:I}", "ok", 1, "applied", (json_int_t)json_array_size(list));
	if (idem_store(s, m, "", key, out) != 0 || db_commit(s->db) != 0) {
		json_decref(out);
		snprintf(err, sizeof err, "database error: %s", db_errmsg(s->db));
		goto fail;
	}
	json_decref(body);
	dispatch_kick(s->dispatch);
	http_reply_json(req, 200, out);
	return;
fail:
	db_rollback(s->db);
	json_decref(body);
	inventory_fail(req, err);
}

static void inventory_route(struct server *s, struct evhttp_request *req,
    const struct merchant_config *m, char **seg, int n)
{
	enum evhttp_cmd_type cmd = http_method(req);

	if (n == 3 && cmd == EVHTTP_REQ_GET) {
		char *sku, *loc;
		int64_t low;
		int b1, b2;
		json_t *out;

		if (query_int(req, "low", 0, 0, INV_MAX_QUANTITY, &low) != 0)
			return;
		sku = http_query(req, "sku", &b1);
		loc = http_query(req, "location", &b2);
		if (b1 || b2)
			http_reply_error(req, 400, "invalid_parameter", "the query string is malformed");
		else if ((out = inv_list(s->db, m->id, sku, loc, low)) == NULL)
			http_reply_error(req, 503, "unavailable", "the database is unavailable");
		else
			http_reply_json(req, 200, out);
		free(sku);
		free(loc);
		return;
	}
	if (n == 4 && strcmp(seg[3], "adjustments") == 0 && cmd == EVHTTP_REQ_POST) {
		inventory_adjust(s, req, m);
		return;
	}
	if (n == 4 && cmd == EVHTTP_REQ_PUT) {
		inventory_put(s, req, m, seg[3]);
		return;
	}
	http_reply_error(req, n <= 4 ? 405 : 404, n <= 4 ? "method_not_allowed" : "not_found",
	    n <= 4 ? "GET /inventory, PUT /inventory/{sku}, POST /inventory/adjustments" : "no such route");
}

/* A domain module's error as a status: "database error..." 503, "... not
 * found" 404, "...; it cannot be ..." 409, anything else 422 `invalid`. */
static void domain_fail(struct evhttp_request *req, const char *err, const char *invalid)
{
	refuse(req, strncmp(err, "database error", 14) == 0 ? REFUSED_DB :
	    strstr(err, " not found") != NULL ? REFUSED_NOTFOUND :
	    strstr(err, "; it cannot be ") != NULL ? REFUSED_CONFLICT : REFUSED_INVALID, invalid, err);
}

static void ship_fail(struct evhttp_request *req, const char *err)
{
	domain_fail(req, err, "invalid_shipment");
}

/* POST /orders/{id}/shipments */
static void shipment_create(struct server *s, struct evhttp_request *req,
    const struct merchant_config *m, int64_t order_id)
{
	json_t *body = body_object(req), *out;
	char err[SHIP_ERRLEN] = "";
	int64_t id;

	if (body == NULL)
		return;
	if (db_begin(s->db) != 0) {
		json_decref(body);
		http_reply_error(req, 503, "unavailable", "the database is unavailable");
		return;
	}
	id = ship_create(s->db, m, order_id, json_string_value(json_object_get(body, "location")),
	    json_object_get(body, "lines"), 0, err);
	json_decref(body);
	if (id < 0 || db_commit(s->db) != 0) {
		db_rollback(s->db);
		ship_fail(req, err[0] ? err : "database error");
		return;
	}
	out = ship_get(s->db, m->id, id);
	http_reply_json(req, 201, json_pack("{s:o}", "shipment", out ? out : json_null()));
}

static void shipments_route(struct server *s, struct evhttp_request *req,
    const struct merchant_config *m, char **seg, int n)
{
	static const char *const verbs[][2] = {
		{ "pick", "picked" }, { "pack", "packed" }, { "ship", "shipped" },
		{ "deliver", "delivered" }, { "cancel", "canceled" },
	};
	enum evhttp_cmd_type cmd = http_method(req);
	char err[SHIP_ERRLEN] = "";
	const char *to = NULL;
	json_t *body, *out;
	int64_t id;

	if (n < 4 || parse_id(seg[3], &id) != 0) {
		http_reply_error(req, 404, "not_found", "no such shipment");
		return;
	}
	if (n == 4) {
		if (cmd != EVHTTP_REQ_GET) {
			http_reply_error(req, 405, "method_not_allowed", "use GET");
		} else if ((out = ship_get(s->db, m->id, id)) == NULL) {
			http_reply_error(req, 404, "not_found", "no shipment %" PRId64, id);
		} else {
			http_reply_json(req, 200, out);
		}
		return;
	}
	for (size_t i = 0; n == 5 && i < sizeof verbs / sizeof verbs[0]; i++)
		if (strcmp(seg[4], verbs[i][0]) == 0)
			to = verbs[i][1];
	if (to == NULL) {
		http_reply_error(req, 404, "not_found", "no shipment action \"%s\" (pick, pack, ship,"
		    " deliver, cancel)", n == 5 ? seg[4] : "");
		return;
	}
	if (cmd != EVHTTP_REQ_POST) {
		http_reply_error(req, 405, "method_not_allowed", "use POST");
		return;
	}
	if ((body = body_object(req)) == NULL)
		return;
	if (db_begin(s->db) != 0) {
		json_decref(body);
		http_reply_error(req, 503, "unavailable", "the database is unavailable");
		return;
	}
	if (ship_advance(s->db, m, id, to, json_string_value(json_object_get(body, "carrier")),
	    json_string_value(json_object_get(body, "tracking_number")),
	    json_string_value(json_object_get(body, "tracking_url")), 0, err) != 0 ||
	    db_commit(s->db) != 0) {
		db_rollback(s->db);
		json_decref(body);
		ship_fail(req, err[0] ? err : "database error");
		return;
	}
	json_decref(body);
	dispatch_kick(s->dispatch);
	outbox_kick(s->outbox);
	out = ship_get(s->db, m->id, id);
	http_reply_json(req, 200, json_pack("{s:o}", "shipment", out ? out : json_null()));
}

static void po_route(struct server *s, struct evhttp_request *req,
    const struct merchant_config *m, char **seg, int n)
{
	enum evhttp_cmd_type cmd = http_method(req);
	char err[SUPPLY_ERRLEN] = "", scope[64];
	const char *idem = NULL;
	json_t *body, *out;
	int64_t id;
	int rc;

	/* Creating and receiving take an optional Idempotency-Key. */
	if (cmd == EVHTTP_REQ_POST && (n == 3 || (n == 5 && strcmp(seg[4], "receive") == 0))) {
		if (n == 3)
			snprintf(scope, sizeof scope, "po:create:");
		else
			snprintf(scope, sizeof scope, "po:%.40s:receive:", seg[3]);
		if (idem_optional(req, &idem) != 0 || idem_replay(s, req, m, scope, idem))
			return;
	}
	if (n == 3 && cmd == EVHTTP_REQ_POST) {
		unsigned char rnd[8];
		char key[40], hex[17];
		const json_t *q;

		if ((body = body_object(req)) == NULL)
			return;
		q = json_object_get(body, "quantity");
		crypto_random(rnd, sizeof rnd);
		crypto_hex(rnd, sizeof rnd, hex);
		snprintf(key, sizeof key, "api-po-%s", hex);
		if (db_begin(s->db) != 0) {
			json_decref(body);
			http_reply_error(req, 503, "unavailable", "the database is unavailable");
			return;
		}
		id = supply_po_create(s->db, m, json_string_value(json_object_get(body, "supplier")),
		    json_string_value(json_object_get(body, "sku")), json_is_integer(q) ?
		    json_integer_value(q) : 0, json_string_value(json_object_get(body, "location")), 0,
		    key, err);
		json_decref(body);
		out = id < 0 ? NULL : json_pack("{s:o}", "purchase_order", supply_po_get(s->db, m->id, id));
		if (id < 0 || out == NULL || idem_store(s, m, scope, idem, out) != 0 ||
		    db_commit(s->db) != 0) {
			db_rollback(s->db);
			json_decref(out);
			ship_fail(req, err[0] ? err : "database error");
			return;
		}
		outbox_kick(s->outbox);
		http_reply_json(req, 201, out);
		return;
	}
	if (n < 4 || parse_id(seg[3], &id) != 0) {
		http_reply_error(req, 404, "not_found", "no such purchase order");
		return;
	}
	if (n == 4 && cmd == EVHTTP_REQ_GET) {
		if ((out = supply_po_get(s->db, m->id, id)) == NULL)
			http_reply_error(req, 404, "not_found", "no purchase order %" PRId64, id);
		else
			http_reply_json(req, 200, out);
		return;
	}
	if (n == 5 && strcmp(seg[4], "receive") == 0 && cmd == EVHTTP_REQ_POST) {
		const json_t *q;

		if ((body = body_object(req)) == NULL)
			return;
		q = json_object_get(body, "quantity");
		if (db_begin(s->db) != 0) {
			json_decref(body);
			http_reply_error(req, 503, "unavailable", "the database is unavailable");
			return;
		}
		rc = supply_po_receive(s->db, m, id, json_is_integer(q) ? json_integer_value(q) : 0, 0, err);
		json_decref(body);
		out = rc != 0 ? NULL : json_pack("{s:o}", "purchase_order", supply_po_get(s->db, m->id, id));
		if (rc != 0 || out == NULL || idem_store(s, m, scope, idem, out) != 0 ||
		    db_commit(s->db) != 0) {
			db_rollback(s->db);
			json_decref(out);
			ship_fail(req, err[0] ? err : "database error");
			return;
		}
		dispatch_kick(s->dispatch);
		http_reply_json(req, 200, out);
		return;
	}
	http_reply_error(req, 404, "not_found", "no such route");
}

/* ------------------------------------------------------------------ */
/* Returns                                                             */
/* ------------------------------------------------------------------ */

static void returns_fail(struct evhttp_request *req, const char *err)
{
	enum returns_error k = returns_error_kind(err);

	refuse(req, k == RETURNS_ENOTFOUND ? REFUSED_NOTFOUND : k == RETURNS_ECONFLICT ?
	    REFUSED_CONFLICT : k == RETURNS_EDB ? REFUSED_DB : REFUSED_INVALID, "invalid_return", err);
}

/* Commit the return's step and answer with the return; or roll back. */
static void returns_finish(struct server *s, struct evhttp_request *req,
    const struct merchant_config *m, int64_t id, int rc, int status, char *err)
{
	json_t *out;

	if (rc != 0 || db_commit(s->db) != 0) {
		db_rollback(s->db);
		returns_fail(req, err[0] ? err : "database error");
		return;
	}
	dispatch_kick(s->dispatch);
	out = returns_get(s->db, m->id, id);
	http_reply_json(req, status, json_pack("{s:o}", "return", out ? out : json_null()));
}

/* An exchange's replacement lines: 1 to 100 of {sku, quantity, unit_price}
 * (minor units, 0 for free). @return NULL if fine, else the message. */
static const char *replacement_error(const json_t *r, size_t *at)
{
	const json_t *l, *sku, *q, *p;
	size_t i;

	if (!json_is_array(r) || json_array_size(r) == 0 || json_array_size(r) > 100)
		return "replacement must be a list of 1 to 100 lines";
	json_array_foreach(r, i, l) {
		*at = i;
		sku = json_object_get(l, "sku");
		q = json_object_get(l, "quantity");
		p = json_object_get(l, "unit_price");
		if (!json_is_string(sku) || json_string_length(sku) == 0 ||
		    json_string_length(sku) > 255)
			return "sku must be text of 1 to 255 bytes";
		if (!json_is_integer(q) || json_integer_value(q) <= 0 ||
		    json_integer_value(q) > INV_MAX_QUANTITY)
			return "quantity must be a positive whole number";
		if (!json_is_integer(p) || json_integer_value(p) < 0 ||
		    json_integer_value(p) > INT64_C(1000000000000))
			return "unit_price must be whole minor units, 0 or more";
	}
	return NULL;
}

/* POST /orders/{id}/returns, and /orders/{id}/exchanges (a return plus
 * "replacement" lines: exchange_requested goes to the workflow, which
 * creates the replacement order and settles the difference) */
static void return_create(struct server *s, struct evhttp_request *req,
    const struct merchant_config *m, int64_t order_id, int exchange)
{
	json_t *body = body_object(req), *reason;
	char err[RETURNS_ERRLEN] = "";
	int64_t id;
	const char *bad;
	size_t at = 0;

	if (body == NULL)
		return;
	reason = json_object_get(body, "reason");
	if (!json_is_array(json_object_get(body, "lines")) ||
	    (reason != NULL && !json_is_string(reason) && !json_is_null(reason))) {
		json_decref(body);
		http_reply_error(req, 400, "invalid_parameter", "give {\"lines\": [{\"line\": n,"
		    " \"quantity\": n}, ...], \"reason\": \"...\"}");
		return;
	}
	if (db_begin(s->db) != 0) {
		json_decref(body);
		http_reply_error(req, 503, "unavailable", "the database is unavailable");
		return;
	}
	if (exchange && (bad = replacement_error(json_object_get(body, "replacement"), &at))) {
		db_rollback(s->db);
		json_decref(body);
		http_reply_error(req, 422, "invalid_return", "replacement[%zu]: %s", at, bad);
		return;
	}
	id = returns_create(s->db, m, order_id, json_object_get(body, "lines"),
	    json_string_value(reason), 0, err);
	if (id > 0 && exchange) {
		char dedup[40];
		int dup;

		snprintf(dedup, sizeof dedup, "exchange:%" PRId64, id);
		if (raise_event(s->db, m->id, "exchange_requested", json_pack("{s:I,s:I,s:O}",
		    "return_id", (json_int_t)id, "order_id", (json_int_t)order_id, "replacement",
		    json_object_get(body, "replacement")), NULL, dedup, &dup) < 0) {
			snprintf(err, sizeof err, "database error: %s", db_errmsg(s->db));
			id = -1;
		}
	}
	json_decref(body);
	returns_finish(s, req, m, id, id < 0 ? -1 : 0, 201, err);
}

static void returns_route(struct server *s, struct evhttp_request *req,
    const struct merchant_config *m, char **seg, int n)
{
	enum evhttp_cmd_type cmd = http_method(req);
	char err[RETURNS_ERRLEN] = "";
	const json_t *v;
	json_t *body, *out;
	int64_t id, amount;
	int rc;

	if (n == 3) {
		static const char *const words[] = { "requested", "approved", "rejected", "received",
		                                     "refund_requested", "refunded", "closed", NULL };
		char *status;
		int64_t limit;
		int bad, known = 0;

		if (cmd != EVHTTP_REQ_GET) {
			http_reply_error(req, 405, "method_not_allowed", "use GET (a return is requested"
			    " with POST /api/v1/orders/{id}/returns)");
			return;
		}
		if (query_int(req, "limit", 100, 1, 1000, &limit) != 0)
			return;
		status = http_query(req, "status", &bad);
		for (int i = 0; status != NULL && words[i]; i++)
			known |= strcmp(words[i], status) == 0;
		if (bad || (status != NULL && !known))
			http_reply_error(req, 400, "invalid_parameter", "status must be requested, approved,"
			    " rejected, received, refund_requested, refunded or closed");
		else if ((out = returns_list(s->db, m->id, status, (int)limit)) == NULL)
			http_reply_error(req, 503, "unavailable", "the database is unavailable");
		else
			http_reply_json(req, 200, out);
		free(status);
		return;
	}
	if (parse_id(seg[3], &id) != 0) {
		http_reply_error(req, 404, "not_found", "no return \"%s\"", seg[3]);
		return;
	}
	if (n == 4) {
		if (cmd != EVHTTP_REQ_GET)
			http_reply_error(req, 405, "method_not_allowed", "use GET");
		else if ((out = returns_get(s->db, m->id, id)) == NULL)
			http_reply_error(req, 404, "not_found", "no return %" PRId64, id);
		else
			http_reply_json(req, 200, out);
		return;
	}
	if (n != 5 || (strcmp(seg[4], "approve") != 0 && strcmp(seg[4], "reject") != 0 &&
	    strcmp(seg[4], "receive") != 0 && strcmp(seg[4], "refund") != 0 &&
	    strcmp(seg[4], "close") != 0)) {
		http_reply_error(req, 404, "not_found", "no return action \"%s\" (approve, reject,"
		    " receive, refund, close)", n == 5 ? seg[4] : "");
		return;
	}
	if (cmd != EVHTTP_REQ_POST) {
		http_reply_error(req, 405, "method_not_allowed", "use POST");
		return;
	}
	if ((body = body_object(req)) == NULL)
		return;
	/* The shape of the body is checked before anything is written. */
	v = json_object_get(body, "amount");
	if ((strcmp(seg[4], "receive") == 0 && ((json_object_get(body, "lines") != NULL &&
	    !json_is_array(json_object_get(body, "lines")) &&
	    !json_is_null(json_object_get(body, "lines"))) ||
	    (json_object_get(body, "location") != NULL &&
	    !json_is_string(json_object_get(body, "location"))))) ||
	    (strcmp(seg[4], "refund") == 0 && v != NULL && !json_is_null(v) &&
	    (!json_is_integer(v) || json_integer_value(v) <= 0)) ||
	    (strcmp(seg[4], "reject") == 0 && json_object_get(body, "note") != NULL &&
	    !json_is_string(json_object_get(body, "note")))) {
		json_decref(body);
		http_reply_error(req, 400, "invalid_parameter", "receive takes {\"lines\": [{\"line\","
		    " \"quantity\", \"location\" | \"damaged\": true}], \"location\"}; refund takes"
		    " {\"amount\": <positive minor units>}; reject takes {\"note\"}");
		return;
	}
	amount = json_is_integer(v) ? json_integer_value(v) : -1;
	if (db_begin(s->db) != 0) {
		json_decref(body);
		http_reply_error(req, 503, "unavailable", "the database is unavailable");
		return;
	}
	if (strcmp(seg[4], "approve") == 0)
		rc = returns_approve(s->db, m, id, 0, err);
	else if (strcmp(seg[4], "reject") == 0)
		rc = returns_reject(s->db, m, id, json_string_value(json_object_get(body, "note")), 0, err);
	else if (strcmp(seg[4], "receive") == 0)
		rc = returns_receive(s->db, m, id, json_object_get(body, "lines"),
		    json_string_value(json_object_get(body, "location")), 0, err);
	else if (strcmp(seg[4], "refund") == 0)
		rc = returns_refund_request(s->db, m, id, amount, 0, err);
	else
		rc = returns_close(s->db, m, id, 0, err);
	json_decref(body);
	returns_finish(s, req, m, id, rc, 200, err);
}

static void digital_fail(struct evhttp_request *req, const char *err)
{
	domain_fail(req, err, "invalid_request");
}

/* POST /license-pools/{sku}/keys {"keys": [...]}, GET /license-pools/{sku} */
static void pools_route(struct server *s, struct evhttp_request *req,
    const struct merchant_config *m, char **seg, int n)
{
	enum evhttp_cmd_type cmd = http_method(req);
	struct digital_product_buf pbuf;
	const struct digital_product *p = n >= 4 ? digital_product(s->db, m, seg[3], &pbuf) : NULL;
	char err[DIGITAL_ERRLEN] = "";
	json_t *body, *out;

	if (p == NULL || !p->license || n > 5 || (n == 5 && strcmp(seg[4], "keys") != 0)) {
		http_reply_error(req, 404, "not_found", "no license pool \"%s\": the SKU must be a"
		    " digital product with license: true", n >= 4 ? seg[3] : "");
		return;
	}
	if (n == 4 && cmd == EVHTTP_REQ_GET) {
		out = digital_pool(s->db, m->id, p->sku);
		if (out == NULL)
			http_reply_error(req, 503, "unavailable", "the database is unavailable");
		else
			http_reply_json(req, 200, out);
		return;
	}
	if (n != 5 || cmd != EVHTTP_REQ_POST) {
		http_reply_error(req, 405, "method_not_allowed", "GET /license-pools/{sku},"
		    " POST /license-pools/{sku}/keys");
		return;
	}
	if ((body = body_object(req)) == NULL)
		return;
	if (db_begin(s->db) != 0) {
		json_decref(body);
		http_reply_error(req, 503, "unavailable", "the database is unavailable");
		return;
	}
	out = digital_import_keys(s->db, m, p->sku, json_object_get(body, "keys"), err);
	json_decref(body);
	if (out == NULL || db_commit(s->db) != 0) {
		db_rollback(s->db);
		json_decref(out);
		digital_fail(req, err[0] ? err : "database error");
		return;
	}
	http_reply_json(req, 200, out);
}

/* GET /grants/{id}, POST /grants/{id}/revoke, POST /grants/{id}/extend
 * {"expires_at": t, "downloads": n} */
static void grants_route(struct server *s, struct evhttp_request *req,
    const struct merchant_config *m, char **seg, int n)
{
	enum evhttp_cmd_type cmd = http_method(req);
	char err[DIGITAL_ERRLEN] = "";
	int64_t id, at = -1, more = 0;
	const json_t *v;
	json_t *body, *out;
	int rc;

	if (n < 4 || parse_id(seg[3], &id) != 0 || n > 5) {
		http_reply_error(req, 404, "not_found", "no such download grant");
		return;
	}
	if (n == 4) {
		if (cmd != EVHTTP_REQ_GET)
			http_reply_error(req, 405, "method_not_allowed", "use GET");
		else if ((out = digital_grant_get(s->db, m->id, id)) == NULL)
			http_reply_error(req, 404, "not_found", "no download grant %" PRId64, id);
		else
			http_reply_json(req, 200, json_pack("{s:o}", "grant", out));
		return;
	}
	if (strcmp(seg[4], "revoke") != 0 && strcmp(seg[4], "extend") != 0) {
		http_reply_error(req, 404, "not_found", "no grant action \"%s\" (revoke, extend)",
		    seg[4]);
		return;
	}
	if (cmd != EVHTTP_REQ_POST) {
		http_reply_error(req, 405, "method_not_allowed", "use POST");
		return;
	}
	if ((body = body_object(req)) == NULL)
		return;
	if (strcmp(seg[4], "extend") == 0) {
		if ((v = json_object_get(body, "expires_at")) != NULL &&
		    (!json_is_string(v) || clock_parse_iso(json_string_value(v), &at) != 0)) {
			json_decref(body);
			http_reply_error(req, 422, "invalid_request", "expires_at must be an ISO 8601"
			    " time such as 2026-12-31T23:59:59Z");
			return;
		}
		if ((v = json_object_get(body, "downloads")) != NULL && !json_is_integer(v)) {
			json_decref(body);
			http_reply_error(req, 422, "invalid_request", "downloads must be a whole number");
			return;
		}
		more = v ? json_integer_value(v) : 0;
	}
	json_decref(body);
	if (db_begin(s->db) != 0) {
		http_reply_error(req, 503, "unavailable", "the database is unavailable");
		return;
	}
	rc = strcmp(seg[4], "revoke") == 0 ? digital_grant_revoke(s->db, m->id, id, err)
	    : digital_grant_extend(s->db, m->id, id, at, more, err);
	if (rc != 0 || db_commit(s->db) != 0) {
		db_rollback(s->db);
		digital_fail(req, err[0] ? err : "database error");
		return;
	}
	out = digital_grant_get(s->db, m->id, id);
	http_reply_json(req, 200, json_pack("{s:o*}", "grant", out));
}

static int fail_db(char *err, size_t len, struct db *db)
{
	snprintf(err, len, "database error: %s", db_errmsg(db));
	return DIGITAL_EDB;
}

/*
 * GET /digital-products, GET|PUT|DELETE /digital-products/{sku}: the SKUs
 * sold digitally. PUT {"file": "name under digital.assets" | "license":
 * true, "content_type"} answers 201 for a new one, 200 for a change; a SKU
 * in the config is config's (409).
 */
static void products_route(struct server *s, struct evhttp_request *req,
    const struct merchant_config *m, char **seg, int n)
{
	enum evhttp_cmd_type cmd = http_method(req);
	char err[DIGITAL_ERRLEN];
	json_t *body, *out;
	int rc, created = 0;

	if (n == 3 && cmd == EVHTTP_REQ_GET) {
		if ((out = digital_product_list(s->db, m)) == NULL)
			http_reply_error(req, 503, "unavailable", "the database is unavailable");
		else
			http_reply_json(req, 200, out);
		return;
	}
	if (n != 4) {
		http_reply_error(req, 404, "not_found", "no such route");
		return;
	}
	if (cmd == EVHTTP_REQ_GET) {
		if ((out = digital_product_get(s->db, m, seg[3])) == NULL)
			http_reply_error(req, 404, "not_found", "no digital product \"%.64s\"", seg[3]);
		else
			http_reply_json(req, 200, json_pack("{s:o}", "product", out));
		return;
	}
	if (cmd != EVHTTP_REQ_PUT && cmd != EVHTTP_REQ_DELETE) {
		http_reply_error(req, 405, "method_not_allowed", "use GET, PUT or DELETE");
		return;
	}
	body = NULL;
	if (cmd == EVHTTP_REQ_PUT && (body = body_object(req)) == NULL)
		return;
	if (db_begin(s->db) != 0) {
		json_decref(body);
		http_reply_error(req, 503, "unavailable", "the database is unavailable");
		return;
	}
	rc = cmd == EVHTTP_REQ_PUT ? digital_product_put(s->db, m, seg[3], body, &created, err)
	    : digital_product_delete(s->db, m, seg[3], err);
	json_decref(body);
	if (rc == 0 && db_commit(s->db) != 0)
		rc = fail_db(err, sizeof err, s->db);
	if (rc != 0)
		db_rollback(s->db);
	switch (rc) {
	case 0:
		if (cmd == EVHTTP_REQ_DELETE)
			http_reply_json(req, 200, json_pack("{s:b}", "deleted", 1));
		else
			http_reply_json(req, created ? 201 : 200, json_pack("{s:o*}", "product",
			    digital_product_get(s->db, m, seg[3])));
		break;
	case DIGITAL_EINPUT:
		http_reply_error(req, 400, "invalid_request", "%s", err);
		break;
	case DIGITAL_ECONFLICT:
		http_reply_error(req, 409, "conflict", "%s", err);
		break;
	case DIGITAL_ENOTFOUND:
		http_reply_error(req, 404, "not_found", "%s", err);
		break;
	case DIGITAL_EDB:
		http_reply_error(req, 503, "unavailable", "%s", err);
		break;
	default:
		http_reply_error(req, 422, "invalid_request", "%s", err);
	}
}

static void edits_fail(struct evhttp_request *req, int code, const char *err)
{
	refuse(req, code == EDITS_EINPUT ? REFUSED_INPUT : code == EDITS_ECONFLICT ? REFUSED_CONFLICT :
	    code == EDITS_ENOTFOUND ? REFUSED_NOTFOUND : code == EDITS_EDB ? REFUSED_DB :
	    REFUSED_INVALID, "invalid_request", err);
}

/*
 * POST /orders/{id}/cancel {"reason": "...", "lines": [{line, quantity}]}:
 * refused (409) for an order already canceled or with a shipped line (or,
 * with lines, what edits_cancel_lines refuses); otherwise raises
 * cancel_requested for the workflow (flows/cancel.lua does the work in the
 * event's transaction) and answers 202. POST /orders/{id}/edits {add,
 * change} raises edit_requested the same way (flows/edits.lua). An
 * Idempotency-Key makes a retry the same event (answered 202, replayed).
 */
static void order_change(struct server *s, struct evhttp_request *req,
    const struct merchant_config *m, const char *idtext, int is_edit)
{
	const char *idem = http_header(req, "Idempotency-Key");
	json_t *body, *order, *line, *payload;
	const json_t *reason, *lines;
	char dedup[200], okey[400], err[EDITS_ERRLEN];
	int64_t oid, eid;
	size_t i;
	int dup = 0, rc;

	if (parse_id(idtext, &oid) != 0 ||
	    (order = orders_get(s->db, m->id, oid, ORDERS_LINES)) == NULL) {
		http_reply_error(req, 404, "not_found", "no order \"%s\"", idtext);
		return;
	}
	if ((body = body_object(req)) == NULL) {
		json_decref(order);
		return;
	}
	reason = json_object_get(body, "reason");
	lines = json_object_get(body, "lines");
	if (reason != NULL && (!json_is_string(reason) || json_string_length(reason) == 0 ||
	    json_string_length(reason) > 500)) {
		http_reply_error(req, 422, "invalid_request", "reason must be text of 1 to 500 bytes");
		goto out;
	}
	if (idem != NULL && (idem[0] == '\0' || strlen(idem) > 128)) {
		http_reply_error(req, 400, "invalid_parameter", "Idempotency-Key must be 1 to 128 bytes");
		goto out;
	}
	snprintf(dedup, sizeof dedup, "%s:%s", is_edit ? "edit" : "cancel", idem ? idem : "");
	if (idem != NULL) {
		/* A repeat answers what the first did, whatever changed since. */
		sqlite3_stmt *st = db_prepare(s->db, "SELECT id FROM inbox WHERE merchant = ? AND"
		    " dedup_key = ?");

		eid = 0;
		if (st != NULL) {
			db_bind_text(st, 1, m->id);
			db_bind_text(st, 2, dedup);
			if (sqlite3_step(st) == SQLITE_ROW)
				eid = sqlite3_column_int64(st, 0);
			db_reset(st);
		}
		if (eid > 0) {
			http_reply_json(req, 202, json_pack("{s:I,s:b}", "event_id", (json_int_t)eid,
			    "replayed", 1));
			goto out;
		}
	}
	if (is_edit) {
		rc = edits_apply(s->db, m, oid, body, 1, 0, NULL, err);
	} else if (lines != NULL) {
		rc = edits_cancel_lines(s->db, m, oid, lines, json_string_value(reason), 1, 0, NULL, err);
	} else {
		rc = 0;
		if (strcmp(json_string_value(json_object_get(order, "status")), "canceled") == 0) {
			http_reply_error(req, 409, "conflict", "order %" PRId64 " is already canceled", oid);
			goto out;
		}
		json_array_foreach(json_object_get(order, "lines"), i, line) {
			if (json_integer_value(json_object_get(line, "fulfilled_quantity")) > 0) {
				http_reply_error(req, 409, "conflict", "order %" PRId64 " line %"
				    JSON_INTEGER_FORMAT " has shipped; it cannot be canceled (return it"
				    " instead)", oid, json_integer_value(json_object_get(line, "line_no")));
				goto out;
			}
		}
	}
	if (rc != 0) {
		edits_fail(req, rc, err);
		goto out;
	}
	snprintf(okey, sizeof okey, "%s:%s", json_string_value(json_object_get(order, "channel")),
	    json_string_value(json_object_get(order, "external_id")));
	payload = is_edit ? json_pack("{s:I,s:O*,s:O*,s:O*}", "order_id", (json_int_t)oid, "add",
	    json_object_get(body, "add"), "change", json_object_get(body, "change"), "reason", reason)
	    : json_pack("{s:I,s:O*,s:O*}", "order_id", (json_int_t)oid, "reason", reason, "lines", lines);
	if (db_begin(s->db) != 0 || (eid = raise_event(s->db, m->id, is_edit ? "edit_requested" :
	    "cancel_requested", payload, okey, idem ? dedup : NULL, &dup)) < 0 ||
	    db_commit(s->db) != 0) {
		db_rollback(s->db);
		http_reply_error(req, 503, "unavailable", "the database is unavailable");
		goto out;
	}
	dispatch_kick(s->dispatch);
	http_reply_json(req, 202, json_pack("{s:I,s:b}", "event_id", (json_int_t)eid, "replayed", dup));
out:
	json_decref(body);
	json_decref(order);
}

static void kpis(struct server *s, struct evhttp_request *req, const struct merchant_config *m)
{
	char *from, *to, *bucket, err[REPORTS_ERRLEN];
	struct reports_range r;
	int64_t now = clock_now_ms();
	int bad = 0, b, status;
	json_t *out;

	from = http_query(req, "from", &b);
	bad |= b;
	to = http_query(req, "to", &b);
	bad |= b;
	bucket = http_query(req, "bucket", &b);
	bad |= b;
	if (bad)
		http_reply_error(req, 400, "invalid_parameter", "the query string is malformed");
	else if ((status = reports_range_parse(m, from, to, bucket, now, &r, err)) != 0)
		http_reply_error(req, status, status == 400 ? "invalid_parameter" : "invalid_range",
		    "%s", err);
	else if ((out = reports_kpis(s->db, m, &r, now, err)) == NULL)
		http_reply_error(req, 503, "unavailable", "%s", err);
	else
		http_reply_json(req, 200, out);
	free(from);
	free(to);
	free(bucket);
}

/* ------------------------------------------------------------------ */
/* Routes                                                              */
/* ------------------------------------------------------------------ */

static void r_list_orders(struct server *s, struct evhttp_request *req,
    const struct merchant_config *m, char **seg, int n)
{
	(void)seg;
	(void)n;
	list_orders(s, req, m);
}

static void r_get_order(struct server *s, struct evhttp_request *req,
    const struct merchant_config *m, char **seg, int n)
{
	(void)n;
	get_order(s, req, m, seg[3]);
}

/* POST /orders/{id}/cancel and /orders/{id}/edits */
static void r_order_change(struct server *s, struct evhttp_request *req,
    const struct merchant_config *m, char **seg, int n)
{
	(void)n;
	order_change(s, req, m, seg[3], strcmp(seg[4], "edits") == 0);
}

static void r_order_shipment(struct server *s, struct evhttp_request *req,
    const struct merchant_config *m, char **seg, int n)
{
	int64_t oid;

	(void)n;
	if (order_id(req, seg[3], &oid) == 0)
		shipment_create(s, req, m, oid);
}

/* POST /orders/{id}/returns and /orders/{id}/exchanges */
static void r_order_return(struct server *s, struct evhttp_request *req,
    const struct merchant_config *m, char **seg, int n)
{
	int64_t oid;

	(void)n;
	if (order_id(req, seg[3], &oid) == 0)
		return_create(s, req, m, oid, strcmp(seg[4], "exchanges") == 0);
}

static void r_order_digital(struct server *s, struct evhttp_request *req,
    const struct merchant_config *m, char **seg, int n)
{
	int64_t oid;
	json_t *out;

	(void)n;
	if (parse_id(seg[3], &oid) != 0 || (out = orders_get(s->db, m->id, oid, 0)) == NULL) {
		http_reply_error(req, 404, "not_found", "no order \"%s\"", seg[3]);
		return;
	}
	json_decref(out);
	http_reply_json(req, 200, digital_order(s->db, m->id, oid));
}

/* Every API route, in the order they are tried. The handlers of a
 * resource (subscriptions_route, ...) look at seg themselves; this table
 * is what decides which paths exist, and what `ordo routes` lists. */
/* GET /workflow: the running script version and the latest load error
 * (reload.c). */
static void r_workflow(struct server *s, struct evhttp_request *req,
    const struct merchant_config *m, char **seg, int n)
{
	(void)seg;
	(void)n;
	http_reply_json(req, 200, reload_status_json(&s->wf[server_merchant_index(s, m->id)]));
}

static void r_kpis(struct server *s, struct evhttp_request *req,
    const struct merchant_config *m, char **seg, int n)
{
	(void)seg;
	(void)n;
	kpis(s, req, m);
}

/* ------------------------------------------------------------------ */
/* Dashboard sessions                                                  */
/* ------------------------------------------------------------------ */

static json_t *session_json(const struct merchant_config *m, const char *token,
    int64_t expires_at)
{
	char csrf[SESSION_TOKEN_HEX + 1], ts[32];

	clock_format_iso(expires_at, ts);
	session_csrf(token, csrf);
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "merchant", m->id, "name",
	    m->name ? m->name : m->id, "currency", m->currency, "timezone", m->timezone,
	    "csrf_token", csrf, "expires_at", ts);
}

static void set_cookie(struct evhttp_request *req, const char *value, int64_t max_age_s)
{
	const char *proto = http_header(req, "X-Forwarded-Proto");
	char c[200];

	/* Secure when a TLS proxy in front says the browser used https. */
	snprintf(c, sizeof c, SESSION_COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict;"
	    " Max-Age=%lld%s", value, (long long)max_age_s,
	    proto != NULL && strcmp(proto, "https") == 0 ? "; Secure" : "");
	evhttp_add_header(evhttp_request_get_output_headers(req), "Set-Cookie", c);
}

/* POST /api/v1/session {"api_key": "..."}: 201 with the session (and its
 * cookie); a wrong key 401 and no cookie. JSON only, so a cross-site form
 * cannot sign a browser in to someone else's account. */
static void session_create(struct server *s, struct evhttp_request *req)
{
	const char *type = http_header(req, "Content-Type");
	unsigned char digest[CRYPTO_SHA256_LEN];
	char hex[2 * CRYPTO_SHA256_LEN + 1], token[SESSION_TOKEN_HEX + 1];
	const struct merchant_config *m;
	const char *key;
	int64_t expires;
	json_t *body;

	if (type == NULL || strncmp(type, "application/json", 16) != 0) {
		http_reply_error(req, 400, "invalid_request", "send {\"api_key\": \"...\"} as"
		    " Content-Type: application/json");
		return;
	}
	if ((body = body_object(req)) == NULL)
		return;
	key = json_string_value(json_object_get(body, "api_key"));
	if (key == NULL || key[0] == '\0') {
		json_decref(body);
		http_reply_error(req, 400, "invalid_request", "api_key: a merchant API key is required");
		return;
	}
	m = key_merchant(s, key, digest);
	json_decref(body);
	if (m == NULL) {
		http_reply_error(req, 401, "unauthorized", "that is not a merchant API key");
		return;
	}
	crypto_hex(digest, sizeof digest, hex);
	if (session_open(s->db, m->id, hex, SESSION_TTL_MS, token, &expires) != 0) {
		http_reply_error(req, 503, "unavailable", "the database is unavailable");
		return;
	}
	set_cookie(req, token, SESSION_TTL_MS / 1000);
	http_reply_json(req, 201, session_json(m, token, expires));
}

/* GET /api/v1/session: who is signed in (and the CSRF token again);
 * DELETE: sign out. */
static void session_route(struct server *s, struct evhttp_request *req,
    const struct merchant_config *m, const char *token)
{
	enum evhttp_cmd_type cmd = http_method(req);
	char merchant[SESSION_MERCHANT_MAX], key_hex[SESSION_TOKEN_HEX + 1];
	int64_t expires = 0;

	if (token[0] == '\0') {
		http_reply_error(req, 404, "not_found", "no session: this request used an API key");
		return;
	}
	if (cmd == EVHTTP_REQ_GET) {
		if (session_find(s->db, token, merchant, key_hex, &expires) != 1)
			http_reply_error(req, 503, "unavailable", "the database is unavailable");
		else
			http_reply_json(req, 200, session_json(m, token, expires));
	} else if (cmd == EVHTTP_REQ_DELETE) {
		if (session_close(s->db, token) != 0) {
			http_reply_error(req, 503, "unavailable", "the database is unavailable");
			return;
		}
		set_cookie(req, "", 0);
		http_reply_json(req, 200, json_pack("{s:b}", "ok", 1));
	} else {
		http_reply_error(req, 405, "method_not_allowed", "use POST, GET or DELETE");
	}
}

/* POST /api/v1/session needs no key (it is how one signs in): served from
 * server.c's table of routes without a key. */
void api_session_create(struct server *s, struct evhttp_request *req,
    const struct merchant_config *m, char **seg, int n)
{
	(void)m;
	(void)seg;
	(void)n;
	evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
	session_create(s, req);
}

/* GET /session, DELETE /session: the session the cookie names ("" when
 * the request used an API key). */
static void r_session(struct server *s, struct evhttp_request *req,
    const struct merchant_config *m, char **seg, int n)
{
	const char *cookie = http_header(req, "Cookie");
	char token[SESSION_TOKEN_HEX + 1] = "";

	(void)seg;
	(void)n;
	if (http_header(req, "Authorization") == NULL && cookie != NULL &&
	    !session_cookie_token(cookie, token))
		token[0] = '\0';
	session_route(s, req, m, token);
}

static void r_orders_summary(struct server *s, struct evhttp_request *req,
    const struct merchant_config *m, char **seg, int n)
{
	json_t *out = orders_summary(s->db, m->id);

	(void)seg;
	(void)n;
	if (out == NULL)
		http_reply_error(req, 503, "unavailable", "the database is unavailable");
	else
		http_reply_json(req, 200, out);
}

/* GET /events/{id}: one inbox event of the merchant's. */
static void r_event(struct server *s, struct evhttp_request *req,
    const struct merchant_config *m, char **seg, int n)
{
	int64_t eid;
	int dberr = 0;
	json_t *out = parse_id(seg[3], &eid) == 0 ? events_get(s->db, m->id, eid, &dberr) : NULL;

	(void)n;
	if (out != NULL)
		http_reply_json(req, 200, out);
	else if (dberr)
		http_reply_error(req, 503, "unavailable", "the database is unavailable");
	else
		http_reply_error(req, 404, "not_found", "no event \"%s\"", seg[3]);
}

const struct route api_routes[] = {
	{ "GET", "/api/v1/orders", r_list_orders },
	{ "GET", "/api/v1/orders/summary", r_orders_summary },
	{ "GET", "/api/v1/orders/{id}", r_get_order },
	{ "POST", "/api/v1/orders/{id}/cancel", r_order_change },
	{ "POST", "/api/v1/orders/{id}/edits", r_order_change },
	{ "POST", "/api/v1/orders/{id}/shipments", r_order_shipment },
	{ "POST", "/api/v1/orders/{id}/returns", r_order_return },
	{ "POST", "/api/v1/orders/{id}/exchanges", r_order_return },
	{ "GET", "/api/v1/orders/{id}/digital", r_order_digital },
	{ "GET", "/api/v1/dead-letters", dead_letters },
	{ "POST", "/api/v1/dead-letters/{id}/retry", dead_letters },
	{ "GET", "/api/v1/effects", effects },
	{ "POST", "/api/v1/effects/{id}/retry", effects },
	{ "GET", "/api/v1/subscriptions", subscriptions_route },
	{ "POST", "/api/v1/subscriptions", subscriptions_route },
	{ "GET", "/api/v1/subscriptions/{id}", subscriptions_route },
	{ "POST", "/api/v1/subscriptions/{id}/pause", subscriptions_route },
	{ "POST", "/api/v1/subscriptions/{id}/resume", subscriptions_route },
	{ "POST", "/api/v1/subscriptions/{id}/skip", subscriptions_route },
	{ "POST", "/api/v1/subscriptions/{id}/cancel", subscriptions_route },
	{ "POST", "/api/v1/subscriptions/{id}/next", subscriptions_route },
	{ "POST", "/api/v1/subscriptions/{id}/quantity", subscriptions_route },
	{ "GET", "/api/v1/inventory", inventory_route },
	{ "POST", "/api/v1/inventory/adjustments", inventory_route },
	{ "PUT", "/api/v1/inventory/{sku}", inventory_route },
	{ "GET", "/api/v1/shipments/{id}", shipments_route },
	{ "POST", "/api/v1/shipments/{id}/pick", shipments_route },
	{ "POST", "/api/v1/shipments/{id}/pack", shipments_route },
	{ "POST", "/api/v1/shipments/{id}/ship", shipments_route },
	{ "POST", "/api/v1/shipments/{id}/deliver", shipments_route },
	{ "POST", "/api/v1/shipments/{id}/cancel", shipments_route },
	{ "POST", "/api/v1/purchase-orders", po_route },
	{ "GET", "/api/v1/purchase-orders/{id}", po_route },
	{ "POST", "/api/v1/purchase-orders/{id}/receive", po_route },
	{ "GET", "/api/v1/returns", returns_route },
	{ "GET", "/api/v1/returns/{id}", returns_route },
	{ "POST", "/api/v1/returns/{id}/approve", returns_route },
	{ "POST", "/api/v1/returns/{id}/reject", returns_route },
	{ "POST", "/api/v1/returns/{id}/receive", returns_route },
	{ "POST", "/api/v1/returns/{id}/refund", returns_route },
	{ "POST", "/api/v1/returns/{id}/close", returns_route },
	{ "GET", "/api/v1/license-pools/{sku}", pools_route },
	{ "POST", "/api/v1/license-pools/{sku}/keys", pools_route },
	{ "GET", "/api/v1/digital-products", products_route },
	{ "GET", "/api/v1/digital-products/{sku}", products_route },
	{ "PUT", "/api/v1/digital-products/{sku}", products_route },
	{ "DELETE", "/api/v1/digital-products/{sku}", products_route },
	{ "GET", "/api/v1/grants/{id}", grants_route },
	{ "POST", "/api/v1/grants/{id}/revoke", grants_route },
	{ "POST", "/api/v1/grants/{id}/extend", grants_route },
	{ "GET", "/api/v1/workflow", r_workflow },
	{ "GET", "/api/v1/reports/kpis", r_kpis },
	{ "GET", "/api/v1/events/{id}", r_event },
	{ "GET", "/api/v1/session", r_session },
	{ "DELETE", "/api/v1/session", r_session },
};
const size_t api_n_routes = sizeof api_routes / sizeof api_routes[0];

void api_handle(struct server *s, struct evhttp_request *req, char **seg, int n)
{
	enum evhttp_cmd_type cmd = http_method(req);
	char token[SESSION_TOKEN_HEX + 1];
	const struct merchant_config *m;
	const struct route *r;

	/* Answers name orders and customers, and a session's CSRF token. */
	evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
	m = authenticate(s, req, token);
	if (m == NULL) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
		    "Bearer");
		http_reply_error(req, 401, "unauthorized",
		    "send a merchant API key as \"Authorization: Bearer <key>\"");
		return;
	}
	/* A browser sends the cookie with any request to this origin: a change
	 * made with it must also prove it comes from the dashboard's page. */
	if (token[0] != '\0' && cmd != EVHTTP_REQ_GET) {
		const char *sent = http_header(req, "X-CSRF-Token");
		char want[SESSION_TOKEN_HEX + 1];

		session_csrf(token, want);
		if (sent == NULL || !crypto_equal_str(sent, want)) {
			http_reply_error(req, 403, "csrf_failed", "a change made with the dashboard's"
			    " session needs its X-CSRF-Token header");
			return;
		}
	}
	if ((r = server_find_route(api_routes, api_n_routes, req, seg, n)) != NULL)
		r->fn(s, req, m, seg, n);
}
