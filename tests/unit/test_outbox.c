/*
 * test_outbox — effect rows (endpoint, dedup, list, retry) and the runner
 * against a real HTTP server on 127.0.0.1 in the same event loop: retry
 * then success, a permanent 4xx, the per-endpoint concurrency cap, and the
 * answer events written with the effect's final state.
 */
#include <stdlib.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "ordo/clock.h"
#include "ordo/config.h"
#include "ordo/db.h"
#include "ordo/log.h"
#include "ordo/outbox.h"
#include "t.h"

struct fake {
	struct event_base *base;
	int hits, in_flight, max_in_flight, fail_first;
	int status;                     /* answer to /status */
};

struct held {
	struct evhttp_request *req;
	struct fake *f;
	struct event *ev;
};

static void answer_later(evutil_socket_t fd, short what, void *arg)
{
	struct held *h = arg;
	struct evbuffer *b = evbuffer_new();

	(void)fd;
	(void)what;
	evbuffer_add_printf(b, "{\"ok\":true}");
	evhttp_send_reply(h->req, 200, "OK", b);
	evbuffer_free(b);
	h->f->in_flight--;
	event_free(h->ev);
	free(h);
}

static void serve(struct evhttp_request *req, void *arg)
{
	struct fake *f = arg;
	const char *uri = evhttp_request_get_uri(req);
	struct evbuffer *b = evbuffer_new();

	f->hits++;
	if (strcmp(uri, "/slow") == 0) {
		struct held *h = calloc(1, sizeof *h);
		struct timeval tv = { 0, 50000 };

		h->req = req;
		h->f = f;
		h->ev = evtimer_new(f->base, answer_later, h);
		evtimer_add(h->ev, &tv);
		if (++f->in_flight > f->max_in_flight)
			f->max_in_flight = f->in_flight;
		evbuffer_free(b);
		return;
	}
	if (strcmp(uri, "/flaky") == 0 && f->fail_first-- > 0) {
		evbuffer_add_printf(b, "busy");
		evhttp_send_reply(req, 503, "Busy", b);
	} else if (strcmp(uri, "/status") == 0) {
		evbuffer_add_printf(b, "{\"error\":\"no\"}");
		evhttp_send_reply(req, f->status, "X", b);
	} else {
		evbuffer_add_printf(b, "{\"ok\":true,\"n\":%d}", f->hits);
		evhttp_send_reply(req, 200, "OK", b);
	}
	evbuffer_free(b);
}

static struct merchant_config merchant = {
	.id = "m1",
	.effects = { .timeout_ms = 2000, .max_attempts = 3, .base_delay_ms = 10,
	             .max_delay_ms = 20, .concurrency = 2 },
};

static const struct merchant_config *lookup(void *arg, const char *id)
{
	(void)arg;
	return strcmp(id, "m1") == 0 ? &merchant : NULL;
}

static void committed(void *arg)
{
	(*(int *)arg)++;
}

static int64_t add(struct db *db, const char *url, const char *key, const char *meta_json)
{
	json_t *meta = meta_json ? json_loads(meta_json, 0, NULL) : NULL;
	struct outbox_effect e = {
		.merchant = "m1", .kind = "http", .key = key, .url = url, .body = "{}",
		.body_len = 2, .meta = meta, .timeout_ms = 2000, .max_attempts = 3,
	};
	char err[256];
	int dup;
	int64_t id;

	db_begin(db);
	id = outbox_add(db, &e, &dup, err);
	db_commit(db);
	json_decref(meta);
	return id;
}

static const char *status_of(struct db *db, int64_t id)
{
	static char buf[16];
	sqlite3_stmt *st = db_prepare(db, "SELECT status FROM effects WHERE id = ?");

	buf[0] = '\0';
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW)
		snprintf(buf, sizeof buf, "%s", (const char *)sqlite3_column_text(st, 0));
	db_reset(st);
	return buf;
}

static int count(struct db *db, const char *sql)
{
	sqlite3_stmt *st;
	int n = -1;

	sqlite3_prepare_v2(db_handle(db), sql, -1, &st, NULL);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* Run the loop until no effect is pending, or 10 s. */
static void run_until_settled(struct event_base *base, struct db *db)
{
	int64_t deadline = clock_mono_ms() + 10000;

	while (clock_mono_ms() < deadline &&
	    count(db, "SELECT COUNT(*) FROM effects WHERE status = 'pending'") > 0)
		event_base_loop(base, EVLOOP_ONCE);
	/* Let the last flush run. */
	for (int i = 0; i < 5; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
}

static void test_rows(void)
{
	char *err = NULL, ep[300], e[256];
	struct db *db;
	json_t *list, *out = NULL;
	int dup;
	int64_t id;

	log_set_level(LOG_ERROR);
	db = db_open(":memory:", 1, &err);
	CHECK_INT(outbox_endpoint("http://127.0.0.1/x", ep, sizeof ep), 0);
	CHECK_STR(ep, "http://127.0.0.1:80");
	CHECK_INT(outbox_endpoint("https://pay.example:8443/v1?a=b", ep, sizeof ep), 0);
	CHECK_STR(ep, "https://pay.example:8443");
	CHECK_INT(outbox_endpoint("ftp://x/", ep, sizeof ep), -1);
	CHECK_INT(outbox_endpoint("not a url", ep, sizeof ep), -1);

	id = add(db, "http://127.0.0.1:9/a", "k1", NULL);
	CHECK(id > 0);
	CHECK_INT(add(db, "http://127.0.0.1:9/other", "k1", NULL), id); /* same key: same effect */
	CHECK_INT(count(db, "SELECT COUNT(*) FROM effects"), 1);
	{
		struct outbox_effect bad = { .merchant = "m1", .kind = "http", .key = "k2",
		                             .url = "file:///etc/passwd" };

		CHECK_INT(outbox_add(db, &bad, &dup, e), -1);
		CHECK_HAS(e, "is not an http:// or https:// URL");
		bad.url = "http://127.0.0.1/";
		bad.key = "";
		CHECK_INT(outbox_add(db, &bad, &dup, e), -1);
		CHECK_HAS(e, "idempotency key");
	}
	list = outbox_list(db, "m1", "pending", 0, 10);
	CHECK_INT(json_array_size(json_object_get(list, "effects")), 1);
	json_decref(list);
	list = outbox_list(db, "m1", "failed,dead", 0, 10);
	CHECK_INT(json_array_size(json_object_get(list, "effects")), 0);
	json_decref(list);
	list = outbox_list(db, "m2", NULL, 0, 10);
	CHECK_INT(json_array_size(json_object_get(list, "effects")), 0);
	json_decref(list);
	/* Only failed or dead effects are retried; another merchant's is not found. */
	CHECK_INT(outbox_retry(db, "m1", id, &out), 2);
	json_decref(out);
	CHECK_INT(outbox_retry(db, "m2", id, &out), 1);
	db_exec(db, "UPDATE effects SET status = 'dead', attempts = 3");
	CHECK_INT(outbox_retry(db, "m1", id, &out), 0);
	CHECK_STR(json_string_value(json_object_get(out, "status")), "pending");
	CHECK_INT(json_integer_value(json_object_get(out, "max_attempts")), 6);
	json_decref(out);
	db_close(db);
}

static void test_runner(void)
{
	struct fake f = { .fail_first = 2, .status = 400 };
	char *err = NULL, url[128];
	struct evhttp *http;
	struct evhttp_bound_socket *sock;
	struct outbox *o;
	struct db *db;
	int commits = 0, port;
	int64_t flaky, bad, slow[6];
	struct sockaddr_in sin;
	socklen_t len = sizeof sin;

	log_set_level(LOG_ERROR);
	f.base = event_base_new();
	http = evhttp_new(f.base);
	evhttp_set_gencb(http, serve, &f);
	sock = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
	CHECK(sock != NULL);
	getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&sin, &len);
	port = ntohs(sin.sin_port);
	db = db_open(":memory:", 1, &err);
	o = outbox_new(f.base, db, lookup, committed, &commits);
	CHECK(o != NULL);

	snprintf(url, sizeof url, "http://127.0.0.1:%d/flaky", port);
	flaky = add(db, url, "flaky", "{\"on_success\":\"done\",\"on_failure\":\"failed\"}");
	snprintf(url, sizeof url, "http://127.0.0.1:%d/status", port);
	bad = add(db, url, "bad", "{\"on_success\":\"done\",\"on_failure\":\"failed\"}");
	outbox_kick(o);
	run_until_settled(f.base, db);
	CHECK_STR(status_of(db, flaky), "succeeded");
	CHECK_INT(count(db, "SELECT attempts FROM effects WHERE idem_key = 'http:flaky'"), 3);
	CHECK_STR(status_of(db, bad), "failed");        /* 400: no retry */
	CHECK_INT(count(db, "SELECT attempts FROM effects WHERE idem_key = 'http:bad'"), 1);
	CHECK_INT(count(db, "SELECT last_status FROM effects WHERE idem_key = 'http:bad'"), 400);
	/* One answer event each, with what came back. */
	CHECK_INT(count(db, "SELECT COUNT(*) FROM inbox WHERE source = 'effect' AND topic = 'done'"
	    " AND json_extract(payload, '$.status') = 200 AND json_extract(payload, '$.json.ok') = 1"), 1);
	CHECK_INT(count(db, "SELECT COUNT(*) FROM inbox WHERE source = 'effect' AND topic = 'failed'"
	    " AND json_extract(payload, '$.status') = 400 AND json_extract(payload, '$.error') = 'HTTP 400'"), 1);
	CHECK(commits > 0);

	/* A dead end: every attempt 503 -> dead after max_attempts, one failure event. */
	f.fail_first = 100;
	snprintf(url, sizeof url, "http://127.0.0.1:%d/flaky", port);
	flaky = add(db, url, "flaky-dead", "{\"on_failure\":\"failed\"}");
	outbox_kick(o);
	run_until_settled(f.base, db);
	CHECK_STR(status_of(db, flaky), "dead");
	CHECK_INT(count(db, "SELECT COUNT(*) FROM inbox WHERE topic = 'failed'"), 2);

	/* The concurrency cap: six slow answers, never more than two at once. */
	snprintf(url, sizeof url, "http://127.0.0.1:%d/slow", port);
	for (int i = 0; i < 6; i++) {
		char key[16];

		snprintf(key, sizeof key, "slow%d", i);
		slow[i] = add(db, url, key, NULL);
	}
	outbox_kick(o);
	run_until_settled(f.base, db);
	for (int i = 0; i < 6; i++)
		CHECK_STR(status_of(db, slow[i]), "succeeded");
	CHECK_INT(f.max_in_flight, 2);
	CHECK_INT(outbox_in_flight(o), 0);

	outbox_free(o);
	evhttp_free(http);
	db_close(db);
	event_base_free(f.base);
}

static void test_url_allowed(void)
{
	static const struct { const char *prefix, *url; int ok; } cases[] = {
		{ "http://127.0.0.1:9000/", "http://127.0.0.1:9000/hook", 1 },
		{ "http://127.0.0.1:9000/", "http://127.0.0.1:9000/", 1 },
		{ "http://127.0.0.1:9000", "http://127.0.0.1:9000/any/path", 1 },
		{ "http://127.0.0.1:9000/api", "http://127.0.0.1:9000/api", 1 },
		{ "http://127.0.0.1:9000/api", "http://127.0.0.1:9000/api/x?y=1", 1 },
		{ "http://127.0.0.1:9000/api", "http://127.0.0.1:9000/apix", 0 },
		{ "http://127.0.0.1:9000/", "http://127.0.0.1:90001/", 0 },
		{ "http://127.0.0.1:9000/", "http://127.0.0.1:9001/", 0 },
		{ "http://127.0.0.1:9000/", "http://127.0.0.1:9000@127.0.0.2:9000/", 0 },
		{ "http://127.0.0.1:9000/", "http://user:pw@127.0.0.1:9000/", 0 },
		{ "https://api.stripe.com", "https://api.stripe.com.evil.example/", 0 },
		{ "https://api.stripe.com", "https://API.STRIPE.COM/v1/refunds", 1 },
		{ "https://api.stripe.com", "https://api.stripe.com:443/v1", 1 },
		{ "https://api.stripe.com", "http://api.stripe.com/v1", 0 },
		{ "http://h/", "not a url", 0 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int got = outbox_url_allowed(cases[i].prefix, cases[i].url);

		if (got != cases[i].ok)
			fprintf(stderr, "  case %zu: %s under %s: got %d\n", i, cases[i].url,
			    cases[i].prefix, got);
		CHECK_INT(got, cases[i].ok);
	}
}

T_MAIN(test_rows, test_runner, test_url_allowed)
