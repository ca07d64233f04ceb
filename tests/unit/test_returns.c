/*
 * test_returns — returns on a real in-memory SQLite: a table of requests
 * the host must refuse (each writing nothing), the state machine's
 * conflicts, receiving that restocks through the ledger or writes off, and
 * refunds checked by the payments rules without recording anything.
 */
#include <stdlib.h>

#include "ordo/config.h"
#include "ordo/db.h"
#include "ordo/log.h"
#include "ordo/orders.h"
#include "ordo/returns.h"
#include "t.h"

static struct location_config locs[] = {
	{ "a", "A", NULL, 1, "warehouse" },
};
static struct merchant_config m = { .id = "m1", .locations = locs, .n_locations = 1,
                                    .pay_gateway = "manual" };

static int64_t q(struct db *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = -1;

	sqlite3_prepare_v2(db_handle(db), sql, -1, &st, NULL);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* An order of 3 X at 5.00 (2 shipped) and 1 Y, 10.00 captured by manual. */
static struct db *fresh(int64_t *order)
{
	char *err = NULL, e[ORDERS_ERRLEN];
	struct db *db;
	json_t *shape;
	int created;

	log_set_level(LOG_WARN);
	if ((db = db_open(":memory:", 1, &err)) == NULL) {
		fprintf(stderr, "db_open: %s\n", err);
		exit(1);
	}
	shape = json_loads("{\"channel\":\"api\",\"external_id\":\"1\",\"currency\":\"USD\",\"total\":2000,"
	    "\"lines\":[{\"sku\":\"X\",\"quantity\":3,\"unit_price\":500,\"total\":1500},"
	    "{\"sku\":\"Y\",\"quantity\":1,\"unit_price\":500,\"total\":500}]}", 0, NULL);
	*order = orders_create(db, "m1", shape, 1, &created, e);
	json_decref(shape);
	db_exec(db, "UPDATE order_lines SET fulfilled_quantity = 2 WHERE line_no = 1");
	orders_record_payment(db, "m1", *order, "capture", 1000, "succeeded", "manual", "ref1", 1, e);
	return db;
}

static void test_error_kinds(void)
{
	CHECK_INT(returns_error_kind("return 4 not found"), RETURNS_ENOTFOUND);
	CHECK_INT(returns_error_kind("return 4 is closed; it cannot be approved"), RETURNS_ECONFLICT);
	CHECK_INT(returns_error_kind("database error: disk I/O"), RETURNS_EDB);
	CHECK_INT(returns_error_kind("lines[0]: cannot return 3 of line 1"), RETURNS_EINVALID);
}

static void test_bad_requests_write_nothing(void)
{
	static const struct { const char *lines, *msg; } cases[] = {
		{ "[]", "lines must be a list of 1 to" },
		{ "{\"line\":1}", "lines must be a list" },
		{ "[{\"line\":1}]", "quantity must be a positive" },
		{ "[{\"line\":1,\"quantity\":1.5}]", "give {line, quantity}" },
		{ "[{\"line\":9,\"quantity\":1}]", "has no line 9" },
		{ "[{\"line\":1,\"quantity\":3}]", "cannot return 3 of line 1: 2 shipped" },
		{ "[{\"line\":2,\"quantity\":1}]", "0 shipped" },
		{ "[{\"line\":1,\"quantity\":1},{\"line\":1,\"quantity\":1}]", "line 1 is given twice" },
	};
	int64_t order;
	struct db *db = fresh(&order);
	char err[RETURNS_ERRLEN];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *lines = json_loads(cases[i].lines, JSON_DECODE_ANY, NULL);

		err[0] = '\0';
		CHECK_INT(returns_create(db, &m, order, lines, NULL, 2, err), -1);
		CHECK_HAS(err, cases[i].msg);
		json_decref(lines);
	}
	CHECK_INT(returns_create(db, &m, order + 1, NULL, NULL, 2, err), -1);
	CHECK_HAS(err, "not found");
	CHECK_INT(q(db, "SELECT COUNT(*) FROM returns"), 0);
	CHECK_INT(q(db, "SELECT COUNT(*) FROM return_lines"), 0);
	db_close(db);
}

static void test_lifecycle(void)
{
	int64_t order, id;
	struct db *db = fresh(&order);
	char err[RETURNS_ERRLEN];
	json_t *lines = json_loads("[{\"line\":1,\"quantity\":2}]", 0, NULL), *r;

	id = returns_create(db, &m, order, lines, "too big", 2, err);
	json_decref(lines);
	CHECK(id > 0);
	CHECK_INT(returns_refund_check(db, &m, id, -1, err), -1);
	CHECK_HAS(err, "is requested; it cannot be refunded");
	CHECK_INT(returns_receive(db, &m, id, NULL, NULL, 3, err), -1);
	CHECK_HAS(err, "it cannot be received");
	CHECK_INT(returns_approve(db, &m, id, 3, err), 0);
	CHECK_INT(returns_approve(db, &m, id, 3, err), -1);
	CHECK_INT(returns_reject(db, &m, id, NULL, 3, err), -1);
	lines = json_loads("[{\"line\":1,\"quantity\":1,\"location\":\"a\"},"
	    "{\"line\":1,\"damaged\":true}]", 0, NULL);
	CHECK_INT(returns_receive(db, &m, id, lines, NULL, 4, err), 0);
	json_decref(lines);
	CHECK_INT(q(db, "SELECT on_hand FROM stock WHERE sku = 'X' AND location = 'a'"), 1);
	CHECK_INT(q(db, "SELECT COUNT(*) FROM stock_ledger WHERE kind = 'return'"), 1);
	r = returns_get(db, "m1", id);
	CHECK_STR(json_string_value(json_object_get(r, "status")), "received");
	CHECK_INT(json_integer_value(json_object_get(json_array_get(json_object_get(r, "lines"), 0),
	    "damaged")), 1);
	json_decref(r);
	CHECK(returns_get(db, "other", id) == NULL);

	/* Default: both received units at 5.00; over what was captured: refused. */
	CHECK_INT(returns_refund_check(db, &m, id, -1, err), 1000);
	CHECK_INT(returns_refund_check(db, &m, id, 1001, err), -1);
	CHECK_HAS(err, "more than the 10.00 USD captured");
	CHECK_INT(q(db, "SELECT COUNT(*) FROM payments WHERE kind = 'refund'"), 0);
	CHECK_INT(returns_refund_request(db, &m, id, 400, 5, err), 0);
	CHECK_INT(returns_refund_request(db, &m, id, 400, 5, err), -1);
	CHECK_HAS(err, "is refund_requested; it cannot be refunded");
	CHECK_INT(returns_close(db, &m, id, 6, err), -1);
	CHECK_INT(returns_refunded(db, &m, id, 1, 400, 6, err), 0);
	CHECK_INT(returns_close(db, &m, id, 7, err), 0);
	CHECK_INT(q(db, "SELECT COUNT(*) FROM inbox WHERE topic LIKE 'return_%'"), 6);
	CHECK_INT(q(db, "SELECT COUNT(*) FROM order_history WHERE kind = 'return'"), 6);
	db_close(db);
}

T_MAIN(test_error_kinds, test_bad_requests_write_nothing, test_lifecycle)
