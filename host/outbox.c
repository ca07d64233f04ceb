/*
 * outbox — effect rows and the runner that sends them (see outbox.h).
 *
 * Depends on db, inbox (answer events), dispatch (the backoff formula),
 * config (send-time credentials, limits), clock, log, metrics, libcurl's
 * multi interface and libevent. The runner is the hiper-style integration:
 * libcurl tells us which sockets to watch and when to call it back; libevent
 * watches them. Nothing here blocks: DNS runs in libcurl's resolver thread,
 * bodies are copied into memory.
 *
 * Bookkeeping rules:
 *  - Only committed rows are read, so an effect never leaves before the
 *    transaction that created it is durable.
 *  - A row stays 'pending' while its request is in flight; the in-flight set
 *    lives in memory and is never persisted, so a crash means "send again"
 *    with the same key.
 *  - Finished requests are queued and written together by one flush: the
 *    effect's new state and its answer event share one transaction.
 *  - A flush that cannot commit leaves the rows pending: they are sent again
 *    (at least once), never lost.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "ordo/clock.h"
#include "ordo/config.h"
#include "ordo/crypto.h"
#include "ordo/db.h"
#include "ordo/dispatch.h"
#include "ordo/inbox.h"
#include "ordo/log.h"
#include "ordo/metrics.h"
#include "ordo/outbox.h"

#define MAX_IN_FLIGHT    256        /* requests across every merchant */
#define MAX_CONNECT_MS   5000
#define RETRY_AFTER_MAX  3600       /* seconds of Retry-After we honour at most */
#define SCAN_RETRY_MS    1000       /* after a database error */
#define ERR_LEN          256

struct job {
	struct job *next;
	struct outbox *o;
	int64_t id;
	char *merchant, *kind, *endpoint, *url, *key, *meta, *order_key;
	int64_t order_id, payment_id;
	int attempts, max_attempts;
	CURL *easy;
	struct curl_slist *headers;
	char *body;
	char *resp;
	size_t resp_len, resp_cap;
	int too_big;
	int64_t retry_after;            /* seconds, -1 if none */
	int64_t started;                /* clock_mono_us */
	long status;
	CURLcode result;
	char errbuf[CURL_ERROR_SIZE];
};

struct group {
	char *merchant, *endpoint;
	int n;
};

struct sockctx {
	struct event *ev;
};

struct outbox {
	struct event_base *base;
	struct db *db;
	outbox_lookup_fn lookup;
	void (*committed)(void *);
	void *arg;
	CURLM *multi;
	struct event *curl_timer;       /* libcurl's timeout */
	struct event *scan_ev;          /* look for due effects */
	struct event *flush_ev;         /* write finished jobs */
	struct job *running;            /* in flight */
	struct job *done;               /* finished, not yet written */
	int n_running;
	struct group *groups;
	size_t n_groups, cap_groups;
};

static int curl_ready;

/* ------------------------------------------------------------------ */
/* Rows                                                                */
/* ------------------------------------------------------------------ */

int outbox_endpoint(const char *url, char *buf, size_t len)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL;
	int rc = -1;

	if (u == NULL || url == NULL)
		goto out;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
		goto out;
	if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)
		goto out;
	if ((size_t)snprintf(buf, len, "%s://%s:%s", scheme, host, port) >= len)
		goto out;
	rc = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return rc;
}

void outbox_wire_key(const struct db *db, const char *merchant, const char *kind,
    const char *key, char *buf, size_t len)
{
	snprintf(buf, len, "%s-%s-%s-%s", db_instance(db), merchant, kind, key);
}

/* Text jansson will hold (valid UTF-8, no NUL): what goes into answer
 * events must survive json_pack. */
static int utf8_ok(const char *s)
{
	json_t *v = json_string(s);

	json_decref(v);
	return v != NULL;
}

int outbox_url_allowed(const char *prefix, const char *url)
{
	CURLU *a = curl_url(), *b = curl_url();
	char *pa[5] = { 0 }, *pb[5] = { 0 };
	static const CURLUPart parts[5] = { CURLUPART_SCHEME, CURLUPART_HOST, CURLUPART_PORT,
	                                     CURLUPART_PATH, CURLUPART_USER };
	int ok = 0;

	if (a == NULL || b == NULL || prefix == NULL || url == NULL ||
	    curl_url_set(a, CURLUPART_URL, prefix, 0) != CURLUE_OK ||
	    curl_url_set(b, CURLUPART_URL, url, 0) != CURLUE_OK)
		goto out;
	for (int i = 0; i < 5; i++) {
		unsigned flags = parts[i] == CURLUPART_PORT ? CURLU_DEFAULT_PORT : 0;

		curl_url_get(a, parts[i], &pa[i], flags);
		curl_url_get(b, parts[i], &pb[i], flags);
	}
	/* No credentials in the URL (http://allowed@elsewhere/), the same
	 * scheme, host and port, and the path under the prefix's path at a
	 * segment boundary. */
	if (pb[4] != NULL || pa[0] == NULL || pb[0] == NULL || pa[1] == NULL || pb[1] == NULL ||
	    pa[2] == NULL || pb[2] == NULL || strcasecmp(pa[0], pb[0]) != 0 ||
	    strcasecmp(pa[1], pb[1]) != 0 || strcmp(pa[2], pb[2]) != 0)
		goto out;
	{
		const char *ap = pa[3] ? pa[3] : "/", *bp = pb[3] ? pb[3] : "/";
		size_t n = strlen(ap);

		ok = strncmp(ap, bp, n) == 0 &&
		    (n == 0 || ap[n - 1] == '/' || bp[n] == '\0' || bp[n] == '/');
	}
out:
	for (int i = 0; i < 5; i++) {
		curl_free(pa[i]);
		curl_free(pb[i]);
	}
	curl_url_cleanup(a);
	curl_url_cleanup(b);
	return ok;
}

/* The inbox row's order key, so the answer joins that order's sequence. */
static int event_order_key(struct db *db, int64_t event_id, char *buf, size_t len)
{
	sqlite3_stmt *st;
	int rc;

	buf[0] = '\0';
	if (event_id <= 0)
		return 0;
	if ((st = db_prepare(db, "SELECT order_key FROM inbox WHERE id = ?")) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, event_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		snprintf(buf, len, "%s", (const char *)sqlite3_column_text(st, 0));
	db_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int64_t outbox_add(struct db *db, const struct outbox_effect *e, int *duplicate,
    char *err)
{
	char endpoint[300], order_key[200], stored[256];
	char *headers = NULL, *meta = NULL;
	sqlite3_stmt *st;
	int64_t id = -1, now = clock_now_ms();

	*duplicate = 0;
	if (!config_url_ok(e->url) || outbox_endpoint(e->url, endpoint, sizeof endpoint) != 0) {
		snprintf(err, ERR_LEN, "\"%.120s\" is not an http:// or https:// URL", e->url ? e->url : "");
		return -1;
	}
	if (e->body_len > OUTBOX_MAX_BODY) {
		snprintf(err, ERR_LEN, "request body of %zu bytes is over the %d KiB limit",
		    e->body_len, OUTBOX_MAX_BODY / 1024);
		return -1;
	}
	if (e->key == NULL || e->key[0] == '\0' || strlen(e->key) > 200) {
		snprintf(err, ERR_LEN, "an effect needs an idempotency key of 1..200 bytes");
		return -1;
	}
	if (!utf8_ok(e->key) || !utf8_ok(e->url)) {
		snprintf(err, ERR_LEN, "the key and the URL must be UTF-8 text");
		return -1;
	}
	/* Keys are stored per kind ("http:post-1", "payment:pay-7"): a
	 * script's own key can never take the place of a payment's. */
	snprintf(stored, sizeof stored, "%s:%s", e->kind, e->key);
	if (event_order_key(db, e->event_id, order_key, sizeof order_key) != 0)
		goto dberr;
	headers = e->headers ? json_dumps(e->headers, JSON_COMPACT) : strdup("[]");
	meta = e->meta ? json_dumps(e->meta, JSON_COMPACT) : strdup("{}");
	if (headers == NULL || meta == NULL) {
		snprintf(err, ERR_LEN, "out of memory");
		goto out;
	}
	st = db_prepare(db, "INSERT INTO effects (merchant, kind, idem_key, order_id, payment_id,"
	    " event_id, order_key, endpoint, url, headers, body, meta, max_attempts, timeout_ms,"
	    " available_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,"
	    " ?13, ?14, ?15, ?15) ON CONFLICT (merchant, idem_key) DO NOTHING RETURNING id");
	if (st == NULL)
		goto dberr;
	db_bind_text(st, 1, e->merchant);
	db_bind_text(st, 2, e->kind);
	db_bind_text(st, 3, stored);
	if (e->order_id > 0)
		sqlite3_bind_int64(st, 4, e->order_id);
	if (e->payment_id > 0)
		sqlite3_bind_int64(st, 5, e->payment_id);
	if (e->event_id > 0)
		sqlite3_bind_int64(st, 6, e->event_id);
	db_bind_text(st, 7, order_key[0] ? order_key : NULL);
	db_bind_text(st, 8, endpoint);
	db_bind_text(st, 9, e->url);
	db_bind_text(st, 10, headers);
	sqlite3_bind_text(st, 11, e->body ? e->body : "", e->body ? (int)e->body_len : 0,
	    SQLITE_TRANSIENT);
	db_bind_text(st, 12, meta);
	sqlite3_bind_int(st, 13, e->max_attempts > 0 ? e->max_attempts : 8);
	sqlite3_bind_int64(st, 14, e->timeout_ms > 0 ? e->timeout_ms : 10000);
	sqlite3_bind_int64(st, 15, now);
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		id = sqlite3_column_int64(st, 0);
		db_reset(st);
		break;
	case SQLITE_DONE:
		db_reset(st);
		st = db_prepare(db, "SELECT id FROM effects WHERE merchant = ? AND idem_key = ?");
		if (st == NULL)
			goto dberr;
		db_bind_text(st, 1, e->merchant);
		db_bind_text(st, 2, stored);
		if (sqlite3_step(st) == SQLITE_ROW) {
			id = sqlite3_column_int64(st, 0);
			*duplicate = 1;
		}
		db_reset(st);
		if (id < 0)
			goto dberr;
		break;
	default:
		db_reset(st);
		goto dberr;
	}
	goto out;
dberr:
	snprintf(err, ERR_LEN, "database error: %s", db_errmsg(db));
	id = -1;
out:
	free(headers);
	free(meta);
	return id;
}


static json_t *col_int(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? json_null()
	    : json_integer(sqlite3_column_int64(st, i));
}

#define EFFECT_COLUMNS "id, kind, status, attempts, max_attempts, url, idem_key, last_status," \
	" last_error, created_at, completed_at, available_at, order_id, payment_id, event_id, latency_ms"

/* A stored key "kind:key" -> the key part. */
static const char *key_part(const char *stored)
{
	const char *c = stored ? strchr(stored, ':') : NULL;

	return c ? c + 1 : stored ? stored : "";
}

/* The key as the outside world sees it (Idempotency-Key, X-Ordo-Delivery). */
static json_t *wire_key(struct db *db, const char *merchant, const char *kind,
    const char *stored)
{
	char buf[512];

	outbox_wire_key(db, merchant, kind ? kind : "", key_part(stored), buf, sizeof buf);
	return json_string(buf);
}

static json_t *effect_row(struct db *db, const char *merchant, sqlite3_stmt *st)
{
	json_t *o = json_object();

	json_object_set_new(o, "id", json_integer(sqlite3_column_int64(st, 0)));
	json_object_set_new(o, "kind", db_column_json(st, 1));
	json_object_set_new(o, "status", db_column_json(st, 2));
	json_object_set_new(o, "attempts", json_integer(sqlite3_column_int(st, 3)));
	json_object_set_new(o, "max_attempts", json_integer(sqlite3_column_int(st, 4)));
	json_object_set_new(o, "url", db_column_json(st, 5));
	json_object_set_new(o, "key", json_string(key_part((const char *)sqlite3_column_text(st, 6))));
	json_object_set_new(o, "idempotency_key", wire_key(db, merchant,
	    (const char *)sqlite3_column_text(st, 1), (const char *)sqlite3_column_text(st, 6)));
	json_object_set_new(o, "last_status", col_int(st, 7));
	json_object_set_new(o, "last_error", db_column_json(st, 8));
	json_object_set_new(o, "created_at", db_column_time(st, 9));
	json_object_set_new(o, "completed_at", db_column_time(st, 10));
	json_object_set_new(o, "next_attempt_at", sqlite3_column_text(st, 2) &&
	    strcmp((const char *)sqlite3_column_text(st, 2), "pending") == 0
	    ? db_column_time(st, 11) : json_null());
	json_object_set_new(o, "order_id", col_int(st, 12));
	json_object_set_new(o, "payment_id", col_int(st, 13));
	json_object_set_new(o, "event_id", col_int(st, 14));
	json_object_set_new(o, "latency_ms", col_int(st, 15));
	return o;
}

json_t *outbox_list(struct db *db, const char *merchant, const char *status,
    int64_t order_id, int limit)
{
	/* One statement per filter, each served by its own index (an OR of
	 * optional filters would scan every effect of the merchant). */
	static const char *const words[] = { "pending", "succeeded", "failed", "dead" };
	const char *want[4] = { "", "", "", "" };
	sqlite3_stmt *st;
	json_t *arr, *out;
	int rc;

	if (order_id > 0) {
		st = db_prepare(db, "SELECT " EFFECT_COLUMNS " FROM effects WHERE order_id = ?2"
		    " AND merchant = ?1 ORDER BY id DESC LIMIT ?3");
	} else if (status != NULL) {
		const char *p = status;
		int k = 0;

		while (*p && k < 4) {
			size_t n = strcspn(p, ",");

			for (int i = 0; i < 4; i++)
				if (strlen(words[i]) == n && strncmp(words[i], p, n) == 0)
					want[k++] = words[i];
			p += n;
			if (*p == ',')
				p++;
		}
		st = db_prepare(db, "SELECT " EFFECT_COLUMNS " FROM effects WHERE merchant = ?1"
		    " AND status IN (?4, ?5, ?6, ?7) ORDER BY id DESC LIMIT ?3");
	} else {
		st = db_prepare(db, "SELECT " EFFECT_COLUMNS " FROM effects WHERE merchant = ?1"
		    " ORDER BY id DESC LIMIT ?3");
	}
	if (st == NULL)
		return NULL;
	db_bind_text(st, 1, merchant);
	if (order_id > 0)
		sqlite3_bind_int64(st, 2, order_id);
	sqlite3_bind_int(st, 3, limit > 0 ? limit : 100);
	if (order_id <= 0 && status != NULL)
		for (int i = 0; i < 4; i++)
			db_bind_text(st, 4 + i, want[i]);
	arr = json_array();
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(arr, effect_row(db, merchant, st));
	db_reset(st);
	if (rc != SQLITE_DONE) {
		json_decref(arr);
		return NULL;
	}
	out = json_object();
	json_object_set_new(out, "effects", arr);
	return out;
}

static json_t *effect_get(struct db *db, const char *merchant, int64_t id)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT " EFFECT_COLUMNS
	    " FROM effects WHERE id = ? AND merchant = ?");
	json_t *o = NULL;

	if (st == NULL)
		return NULL;
	sqlite3_bind_int64(st, 1, id);
	db_bind_text(st, 2, merchant);
	if (sqlite3_step(st) == SQLITE_ROW)
		o = effect_row(db, merchant, st);
	db_reset(st);
	return o;
}

int outbox_retry(struct db *db, const char *merchant, int64_t id, json_t **effect)
{
	sqlite3_stmt *st;
	char status[16] = "", kind[16] = "";
	int rc;

	*effect = NULL;
	if (db_begin(db) != 0)
		return -1;
	if ((st = db_prepare(db, "SELECT status, kind FROM effects WHERE id = ? AND merchant = ?")) == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, id);
	db_bind_text(st, 2, merchant);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(status, sizeof status, "%s", (const char *)sqlite3_column_text(st, 0));
		snprintf(kind, sizeof kind, "%s", (const char *)sqlite3_column_text(st, 1));
	}
	db_reset(st);
	if (rc == SQLITE_DONE) {
		db_rollback(db);
		return 1;
	}
	if (rc != SQLITE_ROW)
		goto fail;
	if ((strcmp(status, "failed") != 0 && strcmp(status, "dead") != 0) ||
	    (strcmp(kind, "payment") == 0 && strcmp(status, "failed") == 0)) {
		/* A payment the gateway refused for good was settled failed: sent
		 * again with its key, the gateway could only repeat itself, or
		 * move money the books no longer expect. A dead one (no answer)
		 * was left pending and may go again. */
		db_rollback(db);
		*effect = effect_get(db, merchant, id);
		return 2;
	}
	/* Fresh attempts on top of those made: attempts only ever grow, so
	 * every answer event's dedup key stays distinct. */
	st = db_prepare(db, "UPDATE effects SET status = 'pending', max_attempts = attempts +"
	    " max_attempts, available_at = ?, completed_at = NULL WHERE id = ?");
	if (st == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, clock_now_ms());
	sqlite3_bind_int64(st, 2, id);
	if (db_step_done(st) != 0 || db_commit(db) != 0)
		goto fail;
	*effect = effect_get(db, merchant, id);
	return *effect ? 0 : -1;
fail:
	db_rollback(db);
	return -1;
}

/* ------------------------------------------------------------------ */
/* Runner: groups and jobs                                             */
/* ------------------------------------------------------------------ */

static struct group *group_of(struct outbox *o, const char *merchant, const char *endpoint,
    int create)
{
	for (size_t i = 0; i < o->n_groups; i++)
		if (strcmp(o->groups[i].merchant, merchant) == 0 &&
		    strcmp(o->groups[i].endpoint, endpoint) == 0)
			return &o->groups[i];
	if (!create)
		return NULL;
	if (o->n_groups == o->cap_groups) {
		size_t cap = o->cap_groups ? o->cap_groups * 2 : 8;
		struct group *g = realloc(o->groups, cap * sizeof *g);

		if (g == NULL)
			return NULL;
		o->groups = g;
		o->cap_groups = cap;
	}
	o->groups[o->n_groups].merchant = strdup(merchant);
	o->groups[o->n_groups].endpoint = strdup(endpoint);
	o->groups[o->n_groups].n = 0;
	if (o->groups[o->n_groups].merchant == NULL || o->groups[o->n_groups].endpoint == NULL) {
		free(o->groups[o->n_groups].merchant);
		free(o->groups[o->n_groups].endpoint);
		return NULL;
	}
	return &o->groups[o->n_groups++];
}

static int in_flight(const struct outbox *o, int64_t id)
{
	for (const struct job *j = o->running; j; j = j->next)
		if (j->id == id)
			return 1;
	for (const struct job *j = o->done; j; j = j->next)
		if (j->id == id)
			return 1;
	return 0;
}

static void job_free(struct job *j)
{
	if (j == NULL)
		return;
	if (j->easy) {
		if (j->o && j->o->multi)
			curl_multi_remove_handle(j->o->multi, j->easy);
		curl_easy_cleanup(j->easy);
	}
	curl_slist_free_all(j->headers);
	free(j->merchant);
	free(j->kind);
	free(j->endpoint);
	free(j->url);
	free(j->key);
	free(j->meta);
	free(j->order_key);
	free(j->body);
	free(j->resp);
	free(j);
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct job *j = arg;
	size_t n = size * nmemb;

	if (j->resp_len + n > OUTBOX_MAX_RESPONSE) {
		j->too_big = 1;
		return 0; /* abort the transfer: CURLE_WRITE_ERROR */
	}
	if (j->resp_len + n + 1 > j->resp_cap) {
		size_t cap = j->resp_cap ? j->resp_cap : 4096;
		char *p;

		while (cap < j->resp_len + n + 1)
			cap *= 2;
		if ((p = realloc(j->resp, cap)) == NULL)
			return 0;
		j->resp = p;
		j->resp_cap = cap;
	}
	memcpy(j->resp + j->resp_len, ptr, n);
	j->resp_len += n;
	j->resp[j->resp_len] = '\0';
	return n;
}

/* Retry-After: delay-seconds (an HTTP-date is treated as absent). */
static size_t on_header(char *buf, size_t size, size_t nitems, void *arg)
{
	struct job *j = arg;
	size_t n = size * nitems;
	static const char name[] = "retry-after:";

	if (n > sizeof name - 1 && strncasecmp(buf, name, sizeof name - 1) == 0) {
		const char *p = buf + sizeof name - 1, *end = buf + n;
		int64_t v = 0;
		int digits = 0;

		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		while (p < end && isdigit((unsigned char)*p) && digits < 10) {
			v = v * 10 + (*p++ - '0');
			digits++;
		}
		if (digits > 0)
			j->retry_after = v > RETRY_AFTER_MAX ? RETRY_AFTER_MAX : v;
	}
	return n;
}

/* Headers stored with the row, plus what is added at send time: the
 * gateway's credentials (never stored), and no "Expect: 100-continue",
 * which would cost a round trip on every body over 1 KiB. */
static int build_headers(struct job *j, const char *stored, const struct merchant_config *m)
{
	json_t *arr = json_loads(stored, 0, NULL), *auth;
	json_t *meta = json_loads(j->meta, 0, NULL);
	struct curl_slist *l;
	size_t i;
	json_t *v;
	int rc = -1;

	if (!json_is_array(arr))
		goto out;
	json_array_foreach(arr, i, v) {
		if (!json_is_string(v) || (l = curl_slist_append(j->headers, json_string_value(v))) == NULL)
			goto out;
		j->headers = l;
	}
	auth = json_object_get(meta, "auth");
	if (json_is_string(auth) && strcmp(json_string_value(auth), "gateway") == 0 &&
	    m != NULL && m->pay_api_key != NULL) {
		char *h = NULL;

		if (asprintf(&h, "Authorization: Bearer %s", m->pay_api_key) < 0)
			goto out;
		l = curl_slist_append(j->headers, h);
		free(h);
		if (l == NULL)
			goto out;
		j->headers = l;
	}
	if ((l = curl_slist_append(j->headers, "Expect:")) == NULL)
		goto out;
	j->headers = l;
	rc = 0;
out:
	json_decref(arr);
	json_decref(meta);
	return rc;
}

static void start_job(struct outbox *o, sqlite3_stmt *st, struct group *g)
{
	struct job *j = calloc(1, sizeof *j);
	const struct merchant_config *m;
	int64_t timeout;

	if (j == NULL)
		return;
	j->o = o;
	j->id = sqlite3_column_int64(st, 0);
	j->merchant = strdup((const char *)sqlite3_column_text(st, 1));
	j->kind = strdup((const char *)sqlite3_column_text(st, 2));
	j->url = strdup((const char *)sqlite3_column_text(st, 3));
	j->body = malloc((size_t)sqlite3_column_bytes(st, 5) + 1);
	j->meta = strdup((const char *)sqlite3_column_text(st, 6));
	j->attempts = sqlite3_column_int(st, 7);
	j->max_attempts = sqlite3_column_int(st, 8);
	timeout = sqlite3_column_int64(st, 9);
	j->key = strdup((const char *)sqlite3_column_text(st, 10));
	j->order_id = sqlite3_column_int64(st, 11);
	j->payment_id = sqlite3_column_int64(st, 12);
	j->order_key = sqlite3_column_type(st, 13) == SQLITE_NULL ? NULL
	    : strdup((const char *)sqlite3_column_text(st, 13));
	j->endpoint = strdup(g->endpoint);
	j->retry_after = -1;
	if (!j->merchant || !j->kind || !j->url || !j->body || !j->meta || !j->key || !j->endpoint)
		goto fail;
	if (sqlite3_column_bytes(st, 5) > 0)     /* an empty body's blob is NULL (a void) */
		memcpy(j->body, sqlite3_column_blob(st, 5), (size_t)sqlite3_column_bytes(st, 5));
	j->body[sqlite3_column_bytes(st, 5)] = '\0';
	m = o->lookup(o->arg, j->merchant);
	if (build_headers(j, (const char *)sqlite3_column_text(st, 4), m) != 0)
		goto fail;
	if ((j->easy = curl_easy_init()) == NULL)
		goto fail;
	curl_easy_setopt(j->easy, CURLOPT_URL, j->url);
	curl_easy_setopt(j->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(j->easy, CURLOPT_POST, 1L);
	curl_easy_setopt(j->easy, CURLOPT_POSTFIELDS, j->body);
	curl_easy_setopt(j->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)sqlite3_column_bytes(st, 5));
	curl_easy_setopt(j->easy, CURLOPT_HTTPHEADER, j->headers);
	curl_easy_setopt(j->easy, CURLOPT_TIMEOUT_MS, (long)timeout);
	curl_easy_setopt(j->easy, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)(timeout < MAX_CONNECT_MS ? timeout : MAX_CONNECT_MS));
	curl_easy_setopt(j->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(j->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(j->easy, CURLOPT_USERAGENT, "ordo/0.1");
	curl_easy_setopt(j->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(j->easy, CURLOPT_WRITEDATA, j);
	curl_easy_setopt(j->easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(j->easy, CURLOPT_HEADERDATA, j);
	curl_easy_setopt(j->easy, CURLOPT_ERRORBUFFER, j->errbuf);
	curl_easy_setopt(j->easy, CURLOPT_PRIVATE, j);
	j->started = clock_mono_us();
	if (curl_multi_add_handle(o->multi, j->easy) != CURLM_OK)
		goto fail;
	j->next = o->running;
	o->running = j;
	o->n_running++;
	g->n++;
	metrics_set("ordo_effects_in_flight", NULL, o->n_running);
	return;
fail:
	log_error("cannot start an effect", "merchant", j->merchant, "url", j->url, NULL);
	if (j->easy) {
		curl_easy_cleanup(j->easy);
		j->easy = NULL;
	}
	job_free(j);
}

/* ------------------------------------------------------------------ */
/* Runner: scanning for due effects                                    */
/* ------------------------------------------------------------------ */

static void arm(struct event *ev, int64_t ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	if (ms < 0)
		tv.tv_sec = tv.tv_usec = 0;
	evtimer_add(ev, &tv);
}

/* Start what is due in one (merchant, endpoint) group, up to its cap. */
static int scan_group(struct outbox *o, const char *merchant, const char *endpoint, int64_t now)
{
	const struct merchant_config *m = o->lookup(o->arg, merchant);
	struct group *g = group_of(o, merchant, endpoint, 1);
	sqlite3_stmt *st;
	int cap = m ? m->effects.concurrency : 1, rc;

	if (g == NULL)
		return -1;
	if (g->n >= cap || o->n_running >= MAX_IN_FLIGHT)
		return 0;
	st = db_prepare(o->db, "SELECT id, merchant, kind, url, headers, body, meta, attempts,"
	    " max_attempts, timeout_ms, idem_key, order_id, payment_id, order_key FROM effects"
	    " WHERE merchant = ? AND endpoint = ? AND status = 'pending' AND available_at <= ?"
	    " ORDER BY available_at, id LIMIT ?");
	if (st == NULL)
		return -1;
	db_bind_text(st, 1, merchant);
	db_bind_text(st, 2, endpoint);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_int(st, 4, cap + g->n);
	while (g->n < cap && o->n_running < MAX_IN_FLIGHT && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (in_flight(o, sqlite3_column_int64(st, 0)))
			continue;
		start_job(o, st, g);
	}
	db_reset(st);
	return 0;
}

/*
 * Start what is due, group by group. The groups are found by skipping
 * through the pending index one (merchant, endpoint) at a time, so a scan
 * costs a few index seeks per group, not a pass over every pending row:
 * with a backlog of 100,000 effects it runs after every flush.
 */
static void scan(struct outbox *o)
{
	sqlite3_stmt *st;
	int64_t now = clock_now_ms(), next = -1;
	char merchant[128] = "", endpoint[320] = "";
	int rc, failed = 0;

	/* While the database cannot write, an answer could not be recorded
	 * and the request would go out again on every scan: one resend a
	 * second to a gateway or a mailer for as long as the disk is full.
	 * Wait; the server's write probe kicks us when writes work again. */
	if (db_fault(o->db, NULL) != 0) {
		arm(o->scan_ev, SCAN_RETRY_MS);
		return;
	}
	for (int guard = 0; o->n_running < MAX_IN_FLIGHT && guard < 10000; guard++) {
		/* Three columns, the last at its maximum: the seek lands past the
		 * whole group at once (a two-column row value would step through
		 * every row of the group to get past it). */
		st = db_prepare(o->db, "SELECT merchant, endpoint FROM effects"
		    " WHERE status = 'pending' AND (merchant, endpoint, available_at) >"
		    " (?1, ?2, 9223372036854775807)"
		    " ORDER BY merchant, endpoint, available_at LIMIT 1");
		if (st == NULL) {
			failed = 1;
			break;
		}
		db_bind_text(st, 1, merchant);
		db_bind_text(st, 2, endpoint);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			snprintf(merchant, sizeof merchant, "%s", (const char *)sqlite3_column_text(st, 0));
			snprintf(endpoint, sizeof endpoint, "%s", (const char *)sqlite3_column_text(st, 1));
		}
		db_reset(st);
		if (rc != SQLITE_ROW) {
			failed = rc != SQLITE_DONE;
			break;
		}
		if (scan_group(o, merchant, endpoint, now) != 0)
			failed = 1;
	}
	if (failed) {
		arm(o->scan_ev, SCAN_RETRY_MS);
		return;
	}
	/* The next backoff that falls due. */
	st = db_prepare(o->db, "SELECT MIN(available_at) FROM effects WHERE status = 'pending'"
	    " AND available_at > ?");
	if (st == NULL) {
		arm(o->scan_ev, SCAN_RETRY_MS);
		return;
	}
	sqlite3_bind_int64(st, 1, now);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		next = sqlite3_column_int64(st, 0);
	db_reset(st);
	if (next > 0)
		arm(o->scan_ev, next - now);
}

static void scan_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	scan(arg);
}

void outbox_kick(struct outbox *o)
{
	if (o != NULL)
		arm(o->scan_ev, 0);
}

int outbox_in_flight(const struct outbox *o)
{
	return o ? o->n_running : 0;
}

/* ------------------------------------------------------------------ */
/* Runner: finishing                                                   */
/* ------------------------------------------------------------------ */

enum verdict { V_SUCCEEDED, V_RETRY, V_FAILED };

static enum verdict judge(const struct job *j, char *why, size_t len)
{
	if (j->too_big) {
		snprintf(why, len, "the answer is larger than %d KiB", OUTBOX_MAX_RESPONSE / 1024);
		return V_FAILED;
	}
	if (j->result != CURLE_OK) {
		snprintf(why, len, "%s", j->errbuf[0] ? j->errbuf : curl_easy_strerror(j->result));
		switch (j->result) {
		case CURLE_UNSUPPORTED_PROTOCOL:
		case CURLE_URL_MALFORMAT:
			return V_FAILED;
		default:
			return V_RETRY; /* connect, resolve, timeout, reset, TLS... */
		}
	}
	if (j->status >= 200 && j->status < 300) {
		why[0] = '\0';
		return V_SUCCEEDED;
	}
	snprintf(why, len, "HTTP %ld", j->status);
	if (j->status == 408 || j->status == 429 || j->status >= 500)
		return V_RETRY;
	return V_FAILED;
}

/* The answer event's name, or NULL when nobody listens. */
static const char *answer_topic(const struct job *j, json_t *meta, int ok)
{
	const char *k = j->kind;
	json_t *v;

	if (strcmp(k, "payment") == 0)
		return "payment_result";
	if (strcmp(k, "notify") == 0)
		return ok ? "notification_sent" : "notification_failed";
	if (strcmp(k, "webhook") == 0)
		return ok ? NULL : "webhook_failed";
	v = json_object_get(meta, ok ? "on_success" : "on_failure");
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Write one finished job: its row, a history line for notifications, and
 * its answer event. @return 1 when an event was queued, 0 when not, -1 on
 * a database error. */
static int finish(struct outbox *o, struct job *j, int64_t now)
{
	char why[CURL_ERROR_SIZE + 64], dedup[64];
	enum verdict v = judge(j, why, sizeof why);
	json_t *meta = json_loads(j->meta, 0, NULL), *payload = NULL, *eff;
	const char *topic, *final;
	int attempts = j->attempts + 1, rc = -1, dup = 0;
	int64_t took_us = clock_mono_us() - j->started, latency = took_us / 1000;
	sqlite3_stmt *st;
	char labels[96];

	snprintf(labels, sizeof labels, "kind=\"%s\"", j->kind);
	metrics_observe("ordo_effect_seconds", labels, (double)took_us / 1e6);
	if (v == V_RETRY && attempts < j->max_attempts) {
		const struct merchant_config *m = o->lookup(o->arg, j->merchant);
		struct dispatch_config dc = {
			.retry_base_ms = m ? m->effects.base_delay_ms : 1000,
			.retry_max_ms = m ? m->effects.max_delay_ms : 3600000,
		};
		uint32_t rnd = 0;
		int64_t delay;

		crypto_random(&rnd, sizeof rnd);
		delay = dispatch_backoff_ms(&dc, attempts, rnd);
		if (j->retry_after >= 0 && j->retry_after * 1000 > delay)
			delay = j->retry_after * 1000;
		st = db_prepare(o->db, "UPDATE effects SET attempts = ?, available_at = ?,"
		    " last_status = ?, last_error = ?, latency_ms = ? WHERE id = ? AND status = 'pending'");
		if (st == NULL)
			goto out;
		sqlite3_bind_int(st, 1, attempts);
		sqlite3_bind_int64(st, 2, now + delay);
		if (j->result == CURLE_OK)
			sqlite3_bind_int64(st, 3, j->status);
		db_bind_text(st, 4, why);
		sqlite3_bind_int64(st, 5, latency);
		sqlite3_bind_int64(st, 6, j->id);
		if (db_step_done(st) != 0)
			goto out;
		metrics_inc("ordo_effects_total", (snprintf(labels, sizeof labels,
		    "kind=\"%s\",outcome=\"retry\"", j->kind), labels), 1);
		log_info("effect will be retried", "merchant", j->merchant, "kind", j->kind,
		    "url", j->url, "error", why, NULL);
		rc = 0;
		goto out;
	}
	final = v == V_SUCCEEDED ? "succeeded" : v == V_FAILED ? "failed" : "dead";
	st = db_prepare(o->db, "UPDATE effects SET status = ?, attempts = ?, completed_at = ?,"
	    " last_status = ?, last_error = ?, latency_ms = ? WHERE id = ? AND status = 'pending'");
	if (st == NULL)
		goto out;
	db_bind_text(st, 1, final);
	sqlite3_bind_int(st, 2, attempts);
	sqlite3_bind_int64(st, 3, now);
	if (j->result == CURLE_OK)
		sqlite3_bind_int64(st, 4, j->status);
	db_bind_text(st, 5, v == V_SUCCEEDED ? NULL : why);
	sqlite3_bind_int64(st, 6, latency);
	sqlite3_bind_int64(st, 7, j->id);
	if (db_step_done(st) != 0)
		goto out;
	if (db_changes(o->db) == 0) {
		rc = 0; /* retried by the API meanwhile, or gone: nothing to say */
		goto out;
	}
	snprintf(labels, sizeof labels, "kind=\"%s\",outcome=\"%s\"", j->kind, final);
	metrics_inc("ordo_effects_total", labels, 1);
	if (v != V_SUCCEEDED)
		log_warn(v == V_FAILED ? "effect failed" : "effect dead after its last attempt",
		    "merchant", j->merchant, "kind", j->kind, "url", j->url, "error", why, NULL);

	if (strcmp(j->kind, "notify") == 0 && j->order_id > 0) {
		json_t *t = json_object_get(meta, "template"), *to = json_object_get(meta, "to");
		char msg[512];

		snprintf(msg, sizeof msg, "notification %s to %s %s%s%s",
		    json_is_string(t) ? json_string_value(t) : "?",
		    json_is_string(to) ? json_string_value(to) : "?",
		    v == V_SUCCEEDED ? "sent" : "failed", v == V_SUCCEEDED ? "" : ": ",
		    v == V_SUCCEEDED ? "" : why);
		st = db_prepare(o->db, "INSERT INTO order_history (order_id, at, kind, to_value, message)"
		    " VALUES (?, ?, 'notification', ?, ?)");
		if (st == NULL)
			goto out;
		sqlite3_bind_int64(st, 1, j->order_id);
		sqlite3_bind_int64(st, 2, now);
		db_bind_text(st, 3, v == V_SUCCEEDED ? "sent" : "failed");
		db_bind_text(st, 4, msg);
		if (db_step_done(st) != 0)
			goto out;
	}

	if ((topic = answer_topic(j, meta, v == V_SUCCEEDED)) == NULL) {
		rc = 0;
		goto out;
	}
	eff = json_pack("{s:I,s:s,s:s,s:o,s:s,s:i}", "id", (json_int_t)j->id, "kind", j->kind,
	    "key", key_part(j->key), "idempotency_key", wire_key(o->db, j->merchant, j->kind, j->key),
	    "url", j->url, "attempts", attempts);
	payload = json_pack("{s:o,s:b,s:s}", "effect", eff, "ok", v == V_SUCCEEDED, "final", final);
	if (payload == NULL) {
		/* Not a database failure: the row is written; say so, send no
		 * answer, and let the rest of the flush commit. */
		log_error("effect answer cannot be encoded; no answer event", "merchant", j->merchant,
		    "kind", j->kind, NULL);
		rc = 0;
		goto out;
	}
	if (j->result == CURLE_OK)
		json_object_set_new(payload, "status", json_integer(j->status));
	if (v != V_SUCCEEDED)
		json_object_set_new(payload, "error", json_string(why));
	if (j->resp != NULL && !j->too_big &&
	    (strcmp(j->kind, "http") == 0 || strcmp(j->kind, "payment") == 0)) {
		json_t *b = json_stringn(j->resp, j->resp_len);

		/* Not UTF-8 (or holding NULs): the answer is garbage to us. */
		json_object_set_new(payload, "body", b ? b : json_null());
		if (b == NULL)
			json_object_set_new(payload, "body_error",
			    json_string("the answer body is not UTF-8 text"));
		/* A JSON answer also arrives decoded, as ev.json. */
		if (b != NULL && strcmp(j->kind, "http") == 0) {
			json_t *doc = json_loadb(j->resp, j->resp_len, JSON_DECODE_ANY, NULL);

			if (doc != NULL)
				json_object_set_new(payload, "json", doc);
		}
	}
	if (j->order_id > 0)
		json_object_set_new(payload, "order_id", json_integer(j->order_id));
	if (j->payment_id > 0)
		json_object_set_new(payload, "payment_id", json_integer(j->payment_id));
	{
		const char *k;
		json_t *val;

		json_object_foreach(meta, k, val)
			if (strcmp(k, "auth") != 0 && strcmp(k, "on_success") != 0 &&
			    strcmp(k, "on_failure") != 0)
				json_object_set(payload, k, val);
	}
	{
		char *text = json_dumps(payload, JSON_COMPACT);
		struct inbox_item item = {
			.merchant = j->merchant, .source = "effect", .topic = topic,
			.dedup_key = dedup, .order_key = j->order_key,
			.payload = text, .payload_len = text ? strlen(text) : 0,
		};

		snprintf(dedup, sizeof dedup, "effect:%" PRId64 ":%d", j->id, attempts);
		if (text == NULL)
			goto out;
		rc = inbox_insert(o->db, &item, now, &dup) < 0 ? -1 : 1;
		free(text);
	}
out:
	json_decref(meta);
	json_decref(payload);
	return rc;
}

static void flush(struct outbox *o)
{
	struct job *list = o->done, *j, *next;
	int64_t now = clock_now_ms();
	int events = 0, failed = 0;

	o->done = NULL;
	if (list == NULL)
		return;
	if (db_begin(o->db) != 0) {
		failed = 1;
	} else {
		for (j = list; j != NULL && !failed; j = j->next) {
			int rc = finish(o, j, now);

			if (rc < 0)
				failed = 1;
			else
				events += rc;
		}
		if (failed || db_commit(o->db) != 0) {
			failed = 1;
			db_rollback(o->db);
		}
	}
	if (failed)
		log_error("effect results could not be written; they will be sent again",
		    "error", db_errmsg(o->db), NULL);
	for (j = list; j != NULL; j = next) {
		struct group *g = group_of(o, j->merchant, j->endpoint, 0);

		next = j->next;
		if (g != NULL && g->n > 0)
			g->n--;
		job_free(j);
	}
	if (events > 0 && o->committed)
		o->committed(o->arg);
	arm(o->scan_ev, failed ? SCAN_RETRY_MS : 0);
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	flush(arg);
}

int outbox_complete(struct outbox *o, int64_t id, const struct outbox_answer *a, char *err)
{
	sqlite3_stmt *st = db_prepare(o->db, "SELECT id, merchant, kind, url, headers, body, meta,"
	    " attempts, max_attempts, timeout_ms, idem_key, order_id, payment_id, order_key, endpoint"
	    " FROM effects WHERE id = ? AND status = 'pending'");
	struct job *j;
	int rc = -1;

	if (st == NULL) {
		snprintf(err, ERR_LEN, "database error: %s", db_errmsg(o->db));
		return -1;
	}
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) != SQLITE_ROW) {
		db_reset(st);
		snprintf(err, ERR_LEN, "effect %lld is not pending", (long long)id);
		return -1;
	}
	if ((j = calloc(1, sizeof *j)) == NULL) {
		db_reset(st);
		snprintf(err, ERR_LEN, "out of memory");
		return -1;
	}
	j->o = o;
	j->id = id;
	j->merchant = strdup((const char *)sqlite3_column_text(st, 1));
	j->kind = strdup((const char *)sqlite3_column_text(st, 2));
	j->url = strdup((const char *)sqlite3_column_text(st, 3));
	j->meta = strdup((const char *)sqlite3_column_text(st, 6));
	j->attempts = sqlite3_column_int(st, 7);
	j->max_attempts = sqlite3_column_int(st, 8);
	j->key = strdup((const char *)sqlite3_column_text(st, 10));
	j->order_id = sqlite3_column_int64(st, 11);
	j->payment_id = sqlite3_column_int64(st, 12);
	j->order_key = sqlite3_column_type(st, 13) == SQLITE_NULL ? NULL
	    : strdup((const char *)sqlite3_column_text(st, 13));
	j->endpoint = strdup((const char *)sqlite3_column_text(st, 14));
	db_reset(st);
	j->retry_after = a->retry_after > 0 ? a->retry_after : -1;
	j->started = clock_mono_us();
	if (a->status > 0) {
		j->result = CURLE_OK;
		j->status = a->status;
		if (a->body != NULL && on_body((char *)a->body, 1, a->body_len, j) != a->body_len &&
		    !j->too_big)
			goto oom;
	} else {
		j->result = CURLE_OPERATION_TIMEDOUT;
		snprintf(j->errbuf, sizeof j->errbuf, "%s", a->error ? a->error : "no answer");
	}
	if (!j->merchant || !j->kind || !j->url || !j->meta || !j->key || !j->endpoint)
		goto oom;
	if (db_begin(o->db) != 0 || finish(o, j, clock_now_ms()) < 0 || db_commit(o->db) != 0) {
		snprintf(err, ERR_LEN, "database error: %s", db_errmsg(o->db));
		db_rollback(o->db);
		goto out;
	}
	rc = 0;
	goto out;
oom:
	snprintf(err, ERR_LEN, "out of memory");
out:
	job_free(j);
	return rc;
}

/* Move finished transfers from running to done; one flush writes them. */
static void check_done(struct outbox *o)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(o->multi, &left)) != NULL) {
		struct job *j = NULL, **pp;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&j);
		if (j == NULL)
			continue;
		j->result = msg->data.result;
		curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &j->status);
		curl_multi_remove_handle(o->multi, j->easy);
		curl_easy_cleanup(j->easy);
		j->easy = NULL;
		for (pp = &o->running; *pp != NULL; pp = &(*pp)->next)
			if (*pp == j) {
				*pp = j->next;
				break;
			}
		o->n_running--;
		j->next = o->done;
		o->done = j;
		event_active(o->flush_ev, 0, 0);
	}
	metrics_set("ordo_effects_in_flight", NULL, o->n_running);
}

/* ------------------------------------------------------------------ */
/* Runner: libcurl <-> libevent                                        */
/* ------------------------------------------------------------------ */

static void sock_cb(evutil_socket_t fd, short what, void *arg)
{
	struct outbox *o = arg;
	int action = (what & EV_READ ? CURL_CSELECT_IN : 0) | (what & EV_WRITE ? CURL_CSELECT_OUT : 0);
	int running;

	curl_multi_socket_action(o->multi, fd, action, &running);
	check_done(o);
}

static int curl_sock(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct outbox *o = userp;
	struct sockctx *sc = socketp;
	short kind;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (sc != NULL) {
			event_free(sc->ev);
			free(sc);
			curl_multi_assign(o->multi, s, NULL);
		}
		return 0;
	}
	kind = (short)((what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0) |
	    EV_PERSIST);
	if (sc == NULL) {
		if ((sc = calloc(1, sizeof *sc)) == NULL)
			return -1;
		curl_multi_assign(o->multi, s, sc);
	} else {
		event_free(sc->ev);
	}
	sc->ev = event_new(o->base, s, kind, sock_cb, o);
	if (sc->ev == NULL)
		return -1;
	event_add(sc->ev, NULL);
	return 0;
}

static void curl_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct outbox *o = arg;
	int running;

	(void)fd;
	(void)what;
	curl_multi_socket_action(o->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(o);
}

static int curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct outbox *o = userp;

	(void)multi;
	if (timeout_ms < 0)
		evtimer_del(o->curl_timer);
	else
		arm(o->curl_timer, timeout_ms);
	return 0;
}

struct outbox *outbox_new(struct event_base *base, struct db *db,
    outbox_lookup_fn lookup, void (*committed)(void *arg), void *arg)
{
	struct outbox *o;

	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return NULL;
		curl_ready = 1;
	}
	if ((o = calloc(1, sizeof *o)) == NULL)
		return NULL;
	o->base = base;
	o->db = db;
	o->lookup = lookup;
	o->committed = committed;
	o->arg = arg;
	o->multi = curl_multi_init();
	o->curl_timer = evtimer_new(base, curl_timer_cb, o);
	o->scan_ev = evtimer_new(base, scan_cb, o);
	o->flush_ev = event_new(base, -1, 0, flush_cb, o);
	if (o->multi == NULL || o->curl_timer == NULL || o->scan_ev == NULL || o->flush_ev == NULL) {
		outbox_free(o);
		return NULL;
	}
	curl_multi_setopt(o->multi, CURLMOPT_SOCKETFUNCTION, curl_sock);
	curl_multi_setopt(o->multi, CURLMOPT_SOCKETDATA, o);
	curl_multi_setopt(o->multi, CURLMOPT_TIMERFUNCTION, curl_timer);
	curl_multi_setopt(o->multi, CURLMOPT_TIMERDATA, o);
	metrics_help("ordo_effects_total", "Effects finished or retried, by kind and outcome.");
	metrics_help("ordo_effect_seconds", "Duration of one effect attempt.");
	metrics_help("ordo_effects_in_flight", "Effect requests in flight.");
	metrics_set("ordo_effects_in_flight", NULL, 0);
	return o;
}

void outbox_free(struct outbox *o)
{
	struct job *j, *next;

	if (o == NULL)
		return;
	/* Results already received are still worth writing. */
	flush(o);
	for (j = o->running; j != NULL; j = next) {
		next = j->next;
		job_free(j); /* removes the handle; its sockets are closed by libcurl */
	}
	o->running = NULL;
	if (o->multi)
		curl_multi_cleanup(o->multi);
	o->multi = NULL;
	if (o->curl_timer)
		event_free(o->curl_timer);
	if (o->scan_ev)
		event_free(o->scan_ev);
	if (o->flush_ev)
		event_free(o->flush_ev);
	for (size_t i = 0; i < o->n_groups; i++) {
		free(o->groups[i].merchant);
		free(o->groups[i].endpoint);
	}
	free(o->groups);
	free(o);
}
