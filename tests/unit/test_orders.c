/*
 * test_orders — the order record: shape validation, idempotent creation,
 * the status state machine, derived payment status, merchant isolation,
 * listing with cursors. Runs on a real in-memory SQLite database.
 */
#include <stdlib.h>

#include "ordo/db.h"
#include "ordo/log.h"
#include "ordo/orders.h"
#include "t.h"

static struct db *fresh(void)
{
	char *err = NULL;
	struct db *db;

	log_set_level(LOG_WARN);
	db = db_open(":memory:", 1, &err);

	if (db == NULL) {
		fprintf(stderr, "db_open: %s\n", err);
		exit(1);
	}
	return db;
}

static const char *good_shape =
	"{\"channel\":\"shopify\",\"external_id\":\"5912345678901234567\",\"number\":\"#1001\","
	"\"currency\":\"USD\",\"subtotal\":1998,\"shipping\":500,\"tax\":0,\"discount\":0,"
	"\"total\":2498,\"email\":\"a@example.com\",\"tags\":[\"vip\"],"
	"\"placed_at\":\"2026-11-20T10:00:00Z\","
	"\"lines\":[{\"external_id\":\"9007199254740993\",\"sku\":\"MUG\",\"title\":\"Mug\","
	"\"quantity\":2,\"unit_price\":999,\"total\":1998}]}";

static int64_t create(struct db *db, const char *merchant, const char *json, int *created, char *err)
{
	json_t *shape = json_loads(json, 0, NULL);
	int64_t id;

	if (shape == NULL) {
		fprintf(stderr, "bad test json: %s\n", json);
		exit(1);
	}
	id = orders_create(db, merchant, shape, 7, created, err);
	json_decref(shape);
	return id;
}

static void test_create_and_get(void)
{
	struct db *db = fresh();
	char err[ORDERS_ERRLEN] = "";
	int created;
	int64_t id = create(db, "m1", good_shape, &created, err);
	json_t *o, *line, *h;

	CHECK(id > 0);
	CHECK_INT(created, 1);
	o = orders_get(db, "m1", id, ORDERS_ALL);
	CHECK(o != NULL);
	CHECK_STR(json_string_value(json_object_get(o, "external_id")), "5912345678901234567");
	CHECK_STR(json_string_value(json_object_get(o, "status")), "placed");
	CHECK_STR(json_string_value(json_object_get(o, "payment_status")), "unpaid");
	CHECK_STR(json_string_value(json_object_get(o, "fulfillment_status")), "unfulfilled");
	CHECK_INT(json_integer_value(json_object_get(o, "total")), 2498);
	CHECK_STR(json_string_value(json_object_get(o, "placed_at")), "2026-11-20T10:00:00.000Z");
	line = json_array_get(json_object_get(o, "lines"), 0);
	CHECK_STR(json_string_value(json_object_get(line, "external_id")), "9007199254740993");
	CHECK_INT(json_integer_value(json_object_get(line, "quantity")), 2);
	h = json_array_get(json_object_get(o, "history"), 0);
	CHECK_STR(json_string_value(json_object_get(h, "kind")), "created");
	CHECK_INT(json_integer_value(json_object_get(h, "event_id")), 7);
	json_decref(o);

	/* Idempotent: the same order again is the same id, nothing new. */
	CHECK_INT(create(db, "m1", good_shape, &created, err), id);
	CHECK_INT(created, 0);
	/* Another merchant may hold the same storefront id. */
	CHECK(create(db, "m2", good_shape, &created, err) != id);
	CHECK_INT(created, 1);
	db_close(db);
}

static void test_isolation(void)
{
	struct db *db = fresh();
	char err[ORDERS_ERRLEN] = "";
	int created;
	int64_t id = create(db, "m1", good_shape, &created, err);

	CHECK(orders_get(db, "m2", id, ORDERS_ALL) == NULL);
	CHECK_INT(orders_set_status(db, "m2", id, "canceled", NULL, 0, err), -1);
	CHECK_HAS(err, "not found");
	CHECK_INT(orders_note(db, "m2", id, "x", 0, err), -1);
	CHECK_INT(orders_mark_paid(db, "m2", id, -1, "shopify", 0, err), -1);
	CHECK_INT(orders_find(db, "m2", "shopify", "5912345678901234567"), 0);
	CHECK_INT(orders_find(db, "m1", "shopify", "5912345678901234567"), id);
	db_close(db);
}

static const struct {
	const char *json;
	const char *error;
} bad_shapes[] = {
	{ "{\"external_id\":\"1\",\"currency\":\"USD\",\"total\":1}", "channel is required" },
	{ "{\"channel\":\"x\",\"currency\":\"USD\",\"total\":1}", "external_id is required" },
	{ "{\"channel\":\"x\",\"external_id\":\"\",\"currency\":\"USD\",\"total\":1}", "must not be empty" },
	{ "{\"channel\":\"x\",\"external_id\":1.5,\"currency\":\"USD\",\"total\":1}", "external_id must be text" },
	{ "{\"channel\":\"x\",\"external_id\":\"1\",\"currency\":\"XXY\",\"total\":1}", "not an ISO 4217" },
	{ "{\"channel\":\"x\",\"external_id\":\"1\",\"currency\":\"USD\"}", "total is required" },
	{ "{\"channel\":\"x\",\"external_id\":\"1\",\"currency\":\"USD\",\"total\":19.99}", "minor units" },
	{ "{\"channel\":\"x\",\"external_id\":\"1\",\"currency\":\"USD\",\"total\":\"19.99\"}", "minor units" },
	{ "{\"channel\":\"x\",\"external_id\":\"1\",\"currency\":\"USD\",\"total\":-1}", "outside" },
	{ "{\"channel\":\"x\",\"external_id\":\"1\",\"currency\":\"USD\",\"total\":1,\"placed_at\":\"yesterday\"}", "ISO 8601" },
	{ "{\"channel\":\"x\",\"external_id\":\"1\",\"currency\":\"USD\",\"total\":1,\"status\":\"completed\"}", "placed or draft" },
	{ "{\"channel\":\"x\",\"external_id\":\"1\",\"currency\":\"USD\",\"total\":1,\"tags\":\"a,b\"}", "tags must be a list" },
	{ "{\"channel\":\"x\",\"external_id\":\"1\",\"currency\":\"USD\",\"total\":1,\"customer\":[1]}", "customer must be an object" },
	{ "{\"channel\":\"x\",\"external_id\":\"1\",\"currency\":\"USD\",\"total\":1,\"lines\":{}}", "lines must be a list" },
	{ "{\"channel\":\"x\",\"external_id\":\"1\",\"currency\":\"USD\",\"total\":1,\"lines\":[{\"quantity\":0,\"unit_price\":1,\"total\":1}]}", "lines[1].quantity is 0" },
	{ "{\"channel\":\"x\",\"external_id\":\"1\",\"currency\":\"USD\",\"total\":1,\"lines\":[{\"quantity\":1,\"total\":1}]}", "lines[1].unit_price is required" },
	{ "{\"channel\":\"x\",\"external_id\":\"1\",\"currency\":\"USD\",\"total\":1,\"lines\":[{\"quantity\":1,\"unit_price\":1,\"total\":1},7]}", "lines[2] must be an object" },
};

static void test_bad_shapes(void)
{
	struct db *db = fresh();
	char err[ORDERS_ERRLEN];
	int created;

	for (size_t i = 0; i < sizeof bad_shapes / sizeof bad_shapes[0]; i++) {
		err[0] = '\0';
		CHECK_INT(create(db, "m1", bad_shapes[i].json, &created, err), -1);
		CHECK_HAS(err, bad_shapes[i].error);
		CHECK_INT(created, 0);
		/* Nothing half-applied: no order row survives a rejected shape. */
		CHECK_INT(orders_find(db, "m1", "x", "1"), 0);
	}
	db_close(db);
}

static const struct {
	const char *from, *to;
	int ok;
} moves[] = {
	{ "draft", "placed", 1 }, { "draft", "canceled", 1 }, { "placed", "completed", 1 },
	{ "placed", "canceled", 1 }, { "completed", "placed", 0 }, { "completed", "canceled", 0 },
	{ "canceled", "placed", 0 }, { "canceled", "completed", 0 }, { "placed", "draft", 0 },
	{ "draft", "completed", 0 },
};

static void test_state_machine(void)
{
	struct db *db = fresh();
	char err[ORDERS_ERRLEN];
	int created;
	int64_t id = create(db, "m1", good_shape, &created, err);
	json_t *o, *hist, *last;

	for (size_t i = 0; i < sizeof moves / sizeof moves[0]; i++)
		CHECK_INT(orders_transition_ok(moves[i].from, moves[i].to), moves[i].ok);

	CHECK_INT(orders_set_status(db, "m1", id, "placed", NULL, 0, err), 0); /* same: no-op */
	CHECK_INT(orders_set_status(db, "m1", id, "shipped", NULL, 0, err), -1);
	CHECK_HAS(err, "unknown order status");
	CHECK_INT(orders_set_status(db, "m1", id, "canceled", "customer asked", 9, err), 0);
	CHECK_INT(orders_set_status(db, "m1", id, "placed", NULL, 0, err), -1);
	CHECK_HAS(err, "cannot go from canceled to placed");
	o = orders_get(db, "m1", id, ORDERS_HISTORY);
	CHECK_STR(json_string_value(json_object_get(o, "status")), "canceled");
	hist = json_object_get(o, "history");
	last = json_array_get(hist, json_array_size(hist) - 1);
	CHECK_STR(json_string_value(json_object_get(last, "kind")), "status");
	CHECK_STR(json_string_value(json_object_get(last, "from")), "placed");
	CHECK_STR(json_string_value(json_object_get(last, "to")), "canceled");
	CHECK_STR(json_string_value(json_object_get(last, "message")), "customer asked");
	CHECK_INT(json_integer_value(json_object_get(last, "event_id")), 9);
	json_decref(o);
	db_close(db);
}

static const char *status_of(struct db *db, int64_t id)
{
	static char buf[32];
	json_t *o = orders_get(db, "m1", id, 0);

	snprintf(buf, sizeof buf, "%s", json_string_value(json_object_get(o, "payment_status")));
	json_decref(o);
	return buf;
}

static void test_payments_derived(void)
{
	struct db *db = fresh();
	char err[ORDERS_ERRLEN];
	int created;
	int64_t id = create(db, "m1", good_shape, &created, err); /* total 2498 */

	CHECK(orders_record_payment(db, "m1", id, "authorization", 2498, "succeeded", "gw", "pi_1", 0, err) > 0);
	CHECK_STR(status_of(db, id), "authorized");
	CHECK(orders_record_payment(db, "m1", id, "capture", 1000, "succeeded", "gw", NULL, 0, err) > 0);
	CHECK_STR(status_of(db, id), "partially_paid");
	CHECK_INT(orders_record_payment(db, "m1", id, "capture", 2000, "succeeded", "gw", NULL, 0, err), -1);
	CHECK_HAS(err, "more than the 1498 still outstanding");
	CHECK_INT(orders_mark_paid(db, "m1", id, -1, "shopify", 0, err), 0);
	CHECK_STR(status_of(db, id), "paid");
	CHECK_INT(orders_mark_paid(db, "m1", id, -1, "shopify", 0, err), 0); /* nothing outstanding */
	CHECK_INT(orders_record_payment(db, "m1", id, "refund", 2499, "succeeded", "gw", NULL, 0, err), -1);
	CHECK_HAS(err, "more than the 2498 captured");
	CHECK(orders_record_payment(db, "m1", id, "refund", 498, "succeeded", "gw", NULL, 0, err) > 0);
	CHECK_STR(status_of(db, id), "partially_refunded");
	CHECK(orders_record_payment(db, "m1", id, "refund", 2000, "succeeded", "gw", NULL, 0, err) > 0);
	CHECK_STR(status_of(db, id), "refunded");
	CHECK_INT(orders_record_payment(db, "m1", id, "refund", 1, "succeeded", "gw", NULL, 0, err), -1);
	CHECK_INT(orders_record_payment(db, "m1", id, "gift", 1, "succeeded", "gw", NULL, 0, err), -1);
	CHECK_HAS(err, "unknown payment kind");
	/* A failed attempt is recorded but changes nothing derived. */
	CHECK(orders_record_payment(db, "m1", id, "capture", 5, "failed", "gw", NULL, 0, err) > 0);
	CHECK_STR(status_of(db, id), "refunded");
	db_close(db);
}

static void test_note_and_tag(void)
{
	struct db *db = fresh();
	char err[ORDERS_ERRLEN];
	int created;
	int64_t id = create(db, "m1", good_shape, &created, err);
	json_t *o;

	CHECK_INT(orders_note(db, "m1", id, "", 0, err), -1);
	CHECK_INT(orders_note(db, "m1", id, "gift wrap", 0, err), 0);
	CHECK_INT(orders_tag(db, "m1", id, "gift", 0, err), 0);
	CHECK_INT(orders_tag(db, "m1", id, "gift", 0, err), 0); /* no duplicate */
	CHECK_INT(orders_tag(db, "m1", id, "vip", 0, err), 0);  /* from the shape */
	o = orders_get(db, "m1", id, ORDERS_HISTORY);
	CHECK_INT(json_array_size(json_object_get(o, "tags")), 2);
	CHECK_STR(json_string_value(json_array_get(json_object_get(o, "tags"), 1)), "gift");
	json_decref(o);
	db_close(db);
}

static void test_list_cursor(void)
{
	struct db *db = fresh();
	char err[ORDERS_ERRLEN], json[256];
	struct orders_filter f = { .limit = 2 };
	int created, seen = 0;
	json_t *page;

	for (int i = 1; i <= 5; i++) {
		snprintf(json, sizeof json, "{\"channel\":\"%s\",\"external_id\":\"%d\","
		    "\"currency\":\"USD\",\"total\":%d}", i % 2 ? "shopify" : "woocommerce", i, i);
		CHECK(create(db, "m1", json, &created, err) > 0);
	}
	for (;;) {
		const char *cur;

		page = orders_list(db, "m1", &f, err);
		CHECK(page != NULL);
		if (page == NULL)
			break;
		seen += (int)json_array_size(json_object_get(page, "orders"));
		cur = json_string_value(json_object_get(page, "next_cursor"));
		if (cur == NULL) {
			json_decref(page);
			break;
		}
		f.before_id = atoll(cur);
		json_decref(page);
	}
	CHECK_INT(seen, 5);

	f = (struct orders_filter){ .limit = 50, .channel = "woocommerce" };
	page = orders_list(db, "m1", &f, err);
	CHECK_INT(json_array_size(json_object_get(page, "orders")), 2);
	json_decref(page);
	f = (struct orders_filter){ .limit = 50, .external_id = "3" };
	page = orders_list(db, "m1", &f, err);
	CHECK_INT(json_array_size(json_object_get(page, "orders")), 1);
	json_decref(page);
	f = (struct orders_filter){ .limit = 0 };
	CHECK(orders_list(db, "m1", &f, err) == NULL);
	f = (struct orders_filter){ .limit = 5, .status = "bogus" };
	CHECK(orders_list(db, "m1", &f, err) == NULL);
	CHECK_HAS(err, "unknown status");
	db_close(db);
}

T_MAIN(test_create_and_get, test_isolation, test_bad_shapes, test_state_machine,
    test_payments_derived, test_note_and_tag, test_list_cursor)
