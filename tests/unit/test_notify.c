/*
 * test_notify — template rendering (a table of cases), customer
 * notifications and outgoing webhooks queued as signed effects, topic
 * patterns. Real in-memory SQLite.
 */
#include <stdlib.h>

#include "ordo/config.h"
#include "ordo/crypto.h"
#include "ordo/db.h"
#include "ordo/log.h"
#include "ordo/notify.h"
#include "ordo/orders.h"
#include "t.h"

static void test_render_table(void)
{
	static const struct { const char *tmpl, *want, *err; } cases[] = {
		{ "plain text", "plain text", NULL },
		{ "", "", NULL },
		{ "Hi {{order.customer.first_name}}!", "Hi Ada!", NULL },
		{ "{{ order.number }}/{{order.total}}", "#7/2499", NULL },
		{ "{{order.lines.1.sku}} x{{order.lines.1.quantity}}", "MUG x2", NULL },
		{ "{{data.flag}}", "true", NULL },
		{ "{{order.missing}}", NULL, "{{order.missing}} is not set" },
		{ "{{order.lines.2.sku}}", NULL, "{{order.lines.2.sku}} is not set" },
		{ "{{order.customer}}", NULL, "is a table" },
		{ "{{order.lines}}", NULL, "is a list" },
		{ "{{data.none}}", NULL, "is not set" },
		{ "broken {{order.number", NULL, "bad placeholder at byte 7" },
		{ "{{}}", NULL, "bad placeholder" },
		{ "{{a b}}", NULL, "bad placeholder" },
		{ "{ {order.number}}", "{ {order.number}}", NULL },
	};
	json_t *ctx = json_loads("{\"order\":{\"number\":\"#7\",\"total\":2499,"
	    "\"customer\":{\"first_name\":\"Ada\"},\"lines\":[{\"sku\":\"MUG\",\"quantity\":2}]},"
	    "\"data\":{\"flag\":true,\"none\":null}}", 0, NULL);

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *out = NULL, err[NOTIFY_ERRLEN] = "";
		int rc = notify_render(cases[i].tmpl, ctx, &out, err);

		if (cases[i].want != NULL) {
			CHECK_INT(rc, 0);
			CHECK_STR(out, cases[i].want);
		} else {
			CHECK_INT(rc, -1);
			CHECK(out == NULL);
			CHECK_HAS(err, cases[i].err);
		}
		free(out);
	}
	json_decref(ctx);
}

static void test_render_limit(void)
{
	size_t n = NOTIFY_MAX_TEXT / 4 + 10;
	char *tmpl = malloc(n * 13 + 1), *out = NULL, err[NOTIFY_ERRLEN];
	json_t *ctx = json_pack("{s:{s:s}}", "data", "x", "abcd");

	tmpl[0] = '\0';
	for (size_t i = 0; i < n; i++)
		strcat(tmpl, "{{data.x}}");
	CHECK_INT(notify_render(tmpl, ctx, &out, err), -1);
	CHECK_HAS(err, "over 64 KiB");
	free(tmpl);
	json_decref(ctx);
}

static void test_topics(void)
{
	CHECK(notify_topic_match("*", "order.paid"));
	CHECK(notify_topic_match("order.paid", "order.paid"));
	CHECK(notify_topic_match("order.*", "order.paid"));
	CHECK(!notify_topic_match("order.*", "subscription.renewed"));
	CHECK(!notify_topic_match("order.paid", "order.paid.late"));
	CHECK(!notify_topic_match("order", "order.paid"));
}

static int64_t one_order(struct db *db, const char *email)
{
	char shape[512], err[ORDERS_ERRLEN];
	json_t *v;
	int created;
	int64_t id;

	snprintf(shape, sizeof shape, "{\"channel\":\"shopify\",\"external_id\":\"9\","
	    "\"number\":\"#9\",\"currency\":\"USD\",\"total\":100,%s\"lines\":[{\"sku\":\"A\","
	    "\"quantity\":1,\"unit_price\":100,\"total\":100}]}", email);
	v = json_loads(shape, 0, NULL);
	id = orders_create(db, "m1", v, 1, &created, err);
	json_decref(v);
	return id;
}

/* The stored effect row's column as text (caller frees). */
static char *effect_col(struct db *db, int64_t id, const char *col)
{
	char sql[128];
	sqlite3_stmt *st;
	char *v = NULL;

	snprintf(sql, sizeof sql, "SELECT %s FROM effects WHERE id = %lld", col, (long long)id);
	sqlite3_prepare_v2(db_handle(db), sql, -1, &st, NULL);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		v = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return v;
}

static void test_customer_and_webhooks(void)
{
	char *dberr = NULL, err[NOTIFY_ERRLEN] = "", *body, *headers;
	struct db *db;
	struct notify_template t = { "thanks", "Order {{order.number}}", "Hi, {{data.who}}" };
	char *topics[] = { "order.*" };
	struct webhook_sub sub = { "http://127.0.0.1:9/hook", "s3cret", topics, 1 };
	struct merchant_config m = {
		.id = "m1", .name = "M One", .notify_url = "http://127.0.0.1:9/n",
		.notify_secret = "nsecret", .templates = &t, .n_templates = 1,
		.webhooks = &sub, .n_webhooks = 1,
		.effects = { .timeout_ms = 1000, .max_attempts = 3 },
	};
	json_t *data = json_pack("{s:s}", "who", "Ada"), *b;
	unsigned char mac[CRYPTO_SHA256_LEN];
	char hex[65], want[128];
	int64_t order, id;

	log_set_level(LOG_WARN);
	db = db_open(":memory:", 1, &dberr);
	order = one_order(db, "\"email\":\"ada@example.com\",");
	id = notify_customer(db, &m, order, "thanks", data, 1, "e1-1", err);
	CHECK(id > 0);
	body = effect_col(db, id, "body");
	headers = effect_col(db, id, "headers");
	b = json_loads(body, 0, NULL);
	CHECK_STR(json_string_value(json_object_get(b, "to")), "ada@example.com");
	CHECK_STR(json_string_value(json_object_get(b, "subject")), "Order #9");
	CHECK_STR(json_string_value(json_object_get(b, "body")), "Hi, Ada");
	crypto_hmac_sha256("nsecret", 7, body, strlen(body), mac);
	crypto_hex(mac, sizeof mac, hex);
	snprintf(want, sizeof want, "X-Ordo-Signature: sha256=%s", hex);
	CHECK_HAS(headers, want);
	CHECK_HAS(headers, "X-Ordo-Delivery: ");
	json_decref(b);
	free(body);
	free(headers);

	/* The same key again is the same effect (a retried handler). */
	CHECK_INT(notify_customer(db, &m, order, "thanks", data, 1, "e1-1", err), id);
	CHECK_INT(notify_customer(db, &m, order, "nope", data, 1, "e1-2", err), -1);
	CHECK_HAS(err, "no template \"nope\"");
	CHECK_INT(notify_customer(db, &m, order, "thanks", NULL, 1, "e1-3", err), -1);
	CHECK_HAS(err, "template thanks: {{data.who}} is not set");
	CHECK_INT(notify_customer(db, &m, order + 100, "thanks", data, 1, "e1-4", err), -1);
	CHECK_HAS(err, "not found");
	m.notify_url = NULL;
	CHECK_INT(notify_customer(db, &m, order, "thanks", data, 1, "e1-5", err), -1);
	CHECK_HAS(err, "no notifications endpoint");

	/* Webhooks: matching topics only; the payload is the order. */
	CHECK_INT(notify_webhooks(db, &m, "order.paid", order, NULL, 1, "w1", err), 1);
	CHECK_INT(notify_webhooks(db, &m, "subscription.renewed", order, NULL, 1, "w2", err), 0);
	body = effect_col(db, id + 1, "body");
	b = json_loads(body, 0, NULL);
	CHECK_STR(json_string_value(json_object_get(b, "topic")), "order.paid");
	CHECK_STR(json_string_value(json_object_get(json_object_get(b, "data"), "number")), "#9");
	CHECK_HAS(json_string_value(json_object_get(b, "id")), "-m1-webhook-w1-1");
	json_decref(b);
	free(body);
	json_decref(data);
	db_close(db);
}

static void test_no_email(void)
{
	char *dberr = NULL, err[NOTIFY_ERRLEN] = "";
	struct notify_template t = { "thanks", NULL, "Hi" };
	struct merchant_config m = {
		.id = "m1", .notify_url = "http://127.0.0.1:9/n", .notify_secret = "x",
		.templates = &t, .n_templates = 1,
	};
	struct db *db = db_open(":memory:", 1, &dberr);
	int64_t order = one_order(db, "");

	CHECK_INT(notify_customer(db, &m, order, "thanks", NULL, 1, "k", err), -1);
	CHECK_HAS(err, "has no customer email");
	db_close(db);
}

T_MAIN(test_render_table, test_render_limit, test_topics, test_customer_and_webhooks, test_no_email)
