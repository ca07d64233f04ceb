/*
 * test_edits — canceled units and order edits on a real in-memory SQLite:
 * a table of requests the host must refuse (each changing nothing), the
 * value of canceled units (shares that add up to the line), edits moving
 * the total, and the payment rules that follow a lowered or raised total
 * (capture no more than the new total; authorize only the difference).
 */
#include <stdlib.h>
#include <string.h>

#include "ordo/config.h"
#include "ordo/db.h"
#include "ordo/edits.h"
#include "ordo/log.h"
#include "ordo/orders.h"
#include "ordo/payments.h"
#include "t.h"

static struct merchant_config m = { .id = "m1" };

/* Line 1: 3 x A for 1000 (shares of 333, 333, 334); line 2: 1 x B for 500;
 * shipping 500: total 2000. */
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
	shape = json_loads("{\"channel\":\"api\",\"external_id\":\"1\",\"currency\":\"USD\","
	    "\"subtotal\":1500,\"shipping\":500,\"total\":2000,"
	    "\"lines\":[{\"sku\":\"A\",\"quantity\":3,\"unit_price\":333,\"total\":1000},"
	    "{\"sku\":\"B\",\"quantity\":1,\"unit_price\":500,\"total\":500}]}", 0, NULL);
	*order = orders_create(db, "m1", shape, 1, &created, e);
	json_decref(shape);
	if (*order <= 0) {
		fprintf(stderr, "orders_create: %s\n", e);
		exit(1);
	}
	return db;
}

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

/* Everything a refusal must leave as it was, as one number. */
static int64_t fingerprint(struct db *db)
{
	return q(db, "SELECT (SELECT total FROM orders) * 1000000 + (SELECT COUNT(*) FROM order_lines)"
	    " * 10000 + (SELECT SUM(canceled_quantity) + SUM(quantity) FROM order_lines) * 100 +"
	    " (SELECT COUNT(*) FROM order_history)");
}

static int cancel(struct db *db, int64_t order, const char *lines, int dry, json_t **out, char *err)
{
	json_t *l = json_loads(lines, 0, NULL);
	int rc = edits_cancel_lines(db, &m, order, l, "test", dry, 5, out, err);

	json_decref(l);
	return rc;
}

static int edit(struct db *db, int64_t order, const char *text, int dry, json_t **out, char *err)
{
	json_t *e = json_loads(text, 0, NULL);
	int rc = edits_apply(db, &m, order, e, dry, 5, out, err);

	json_decref(e);
	return rc;
}

static void test_refusals_change_nothing(void)
{
	static const struct { const char *lines; int code; const char *msg; } cancels[] = {
		{ "[]", EDITS_EINPUT, "lines must be a list" },
		{ "{}", EDITS_EINPUT, "lines must be a list" },
		{ "[{\"line\":1}]", EDITS_EINPUT, "whole numbers" },
		{ "[{\"line\":1,\"quantity\":\"2\"}]", EDITS_EINPUT, "whole numbers" },
		{ "[{\"line\":1,\"quantity\":0}]", EDITS_EINVALID, "quantity must be" },
		{ "[{\"line\":9,\"quantity\":1}]", EDITS_EINVALID, "has no line 9" },
		{ "[{\"line\":1,\"quantity\":4}]", EDITS_EINVALID, "has 3 units not shipped" },
		{ "[{\"line\":1,\"quantity\":1},{\"line\":1,\"quantity\":1}]", EDITS_EINVALID, "twice" },
		/* One bad entry refuses the good one before it. */
		{ "[{\"line\":2,\"quantity\":1},{\"line\":1,\"quantity\":5}]", EDITS_EINVALID, "lines[1]" },
	};
	static const struct { const char *edit; int code; const char *msg; } edits[] = {
		{ "{}", EDITS_EINPUT, "something" },
		{ "{\"add\":{}}", EDITS_EINPUT, "something" },
		{ "{\"add\":[1]}", EDITS_EINPUT, "add[0]" },
		{ "{\"add\":[{\"sku\":\"C\",\"quantity\":1}]}", EDITS_EINPUT, "unit_price" },
		{ "{\"add\":[{\"sku\":\"C\",\"quantity\":1,\"unit_price\":1.5}]}", EDITS_EINPUT, "unit_price" },
		{ "{\"add\":[{\"sku\":\"C\",\"quantity\":0,\"unit_price\":1}]}", EDITS_EINVALID, "quantity" },
		{ "{\"add\":[{\"sku\":\"C\",\"quantity\":1000,\"unit_price\":1000000000000000}]}",
		  EDITS_EINVALID, "10^15" },
		{ "{\"change\":[{\"line\":3,\"quantity\":1}]}", EDITS_EINVALID, "has no line 3" },
		{ "{\"change\":[{\"line\":1,\"quantity\":-1}]}", EDITS_EINVALID, "from 0" },
		{ "{\"change\":[{\"line\":1,\"quantity\":0},{\"line\":2,\"quantity\":0}]}", EDITS_EINVALID,
		  "without any unit" },
	};
	int64_t order, before;
	struct db *db = fresh(&order);
	char err[EDITS_ERRLEN];
	json_t *out = NULL;

	before = fingerprint(db);
	for (size_t i = 0; i < sizeof cancels / sizeof cancels[0]; i++) {
		err[0] = '\0';
		CHECK_INT(cancel(db, order, cancels[i].lines, 0, &out, err), cancels[i].code);
		CHECK_HAS(err, cancels[i].msg);
		CHECK(out == NULL);
	}
	for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
		err[0] = '\0';
		CHECK_INT(edit(db, order, edits[i].edit, 0, &out, err), edits[i].code);
		CHECK_HAS(err, edits[i].msg);
	}
	CHECK_INT(cancel(db, order + 1, "[{\"line\":1,\"quantity\":1}]", 0, NULL, err), EDITS_ENOTFOUND);
	/* A dry run checks and writes nothing. */
	CHECK_INT(cancel(db, order, "[{\"line\":1,\"quantity\":2}]", 1, NULL, err), 0);
	CHECK_INT(edit(db, order, "{\"change\":[{\"line\":1,\"quantity\":9}]}", 1, NULL, err), 0);
	CHECK_INT(fingerprint(db), before);
	/* Another merchant's order does not exist. */
	{
		struct merchant_config other = { .id = "m2" };
		json_t *l = json_loads("[{\"line\":1,\"quantity\":1}]", 0, NULL);

		CHECK_INT(edits_cancel_lines(db, &other, order, l, NULL, 0, 5, NULL, err), EDITS_ENOTFOUND);
		json_decref(l);
	}
	CHECK_INT(fingerprint(db), before);
	db_close(db);
}

static void test_canceled_units_add_up_to_the_line(void)
{
	int64_t order;
	struct db *db = fresh(&order);
	char err[EDITS_ERRLEN];
	json_t *out = NULL;

	CHECK_INT(cancel(db, order, "[{\"line\":1,\"quantity\":1}]", 0, &out, err), 0);
	CHECK_INT(json_integer_value(json_object_get(out, "amount")), 333);
	CHECK_INT(json_integer_value(json_object_get(out, "total")), 1667);
	CHECK(json_is_false(json_object_get(out, "all")));
	json_decref(out);
	CHECK_INT(cancel(db, order, "[{\"line\":1,\"quantity\":1}]", 0, &out, err), 0);
	CHECK_INT(json_integer_value(json_object_get(out, "amount")), 333);
	json_decref(out);
	/* The last unit takes what is left of the line: 334, the line is 0. */
	CHECK_INT(cancel(db, order, "[{\"line\":1,\"quantity\":1}]", 0, &out, err), 0);
	CHECK_INT(json_integer_value(json_object_get(out, "amount")), 334);
	json_decref(out);
	CHECK_INT(q(db, "SELECT total FROM order_lines WHERE line_no = 1"), 0);
	CHECK_INT(q(db, "SELECT canceled_quantity FROM order_lines WHERE line_no = 1"), 3);
	CHECK_INT(q(db, "SELECT quantity FROM order_lines WHERE line_no = 1"), 3);
	CHECK_INT(q(db, "SELECT total FROM orders"), 1000);
	CHECK_INT(q(db, "SELECT subtotal FROM orders"), 500);
	CHECK_INT(cancel(db, order, "[{\"line\":1,\"quantity\":1}]", 0, NULL, err), EDITS_ECONFLICT);
	CHECK_HAS(err, "already canceled");
	/* The last line: a whole cancel, nothing written here. */
	CHECK_INT(cancel(db, order, "[{\"line\":2,\"quantity\":1}]", 0, &out, err), 0);
	CHECK(json_is_true(json_object_get(out, "all")));
	json_decref(out);
	CHECK_INT(q(db, "SELECT canceled_quantity FROM order_lines WHERE line_no = 2"), 0);
	/* Units that shipped are not canceled. */
	CHECK_INT(q(db, "SELECT COUNT(*) FROM order_history WHERE kind = 'edit'"), 3);
	sqlite3_exec(db_handle(db), "UPDATE order_lines SET fulfilled_quantity = 1 WHERE line_no = 2",
	    NULL, NULL, NULL);
	CHECK_INT(cancel(db, order, "[{\"line\":2,\"quantity\":1}]", 0, NULL, err), EDITS_ECONFLICT);
	CHECK_HAS(err, "has shipped");
	CHECK_INT(edit(db, order, "{\"change\":[{\"line\":2,\"quantity\":2}]}", 0, NULL, err),
	    EDITS_ECONFLICT);
	CHECK_HAS(err, "has shipped");
	db_close(db);
}

static void test_edit_moves_lines_and_total(void)
{
	int64_t order;
	struct db *db = fresh(&order);
	char err[EDITS_ERRLEN];
	json_t *out = NULL;

	CHECK_INT(edit(db, order, "{\"add\":[{\"sku\":\"C\",\"quantity\":2,\"unit_price\":250}],"
	    "\"change\":[{\"line\":2,\"quantity\":3},{\"line\":1,\"quantity\":2}]}", 0, &out, err), 0);
	/* +500 (C), +1000 (2 more B), -333 (one A) */
	CHECK_INT(json_integer_value(json_object_get(out, "delta")), 1167);
	CHECK_INT(json_integer_value(json_object_get(out, "old_total")), 2000);
	CHECK_INT(json_integer_value(json_object_get(out, "total")), 3167);
	CHECK_INT((int64_t)json_array_size(json_object_get(out, "added")), 1);
	CHECK_INT(json_integer_value(json_object_get(json_array_get(json_object_get(out, "added"), 0),
	    "line")), 3);
	CHECK_INT(json_integer_value(json_object_get(json_array_get(json_object_get(out, "decreased"), 0),
	    "quantity")), 1);
	json_decref(out);
	CHECK_INT(q(db, "SELECT quantity * 10000 + total FROM order_lines WHERE line_no = 2"), 31500);
	CHECK_INT(q(db, "SELECT quantity * 10000 + total FROM order_lines WHERE line_no = 3"), 20500);
	CHECK_INT(q(db, "SELECT canceled_quantity FROM order_lines WHERE line_no = 1"), 1);
	CHECK_INT(q(db, "SELECT total FROM orders"), 3167);
	CHECK_INT(q(db, "SELECT COUNT(*) FROM order_history WHERE kind = 'edit' AND message LIKE"
	    "'%total 20.00 USD -> 31.67 USD'"), 1);
	CHECK_INT(orders_set_status(db, "m1", order, "canceled", "test", 6, err), 0);
	CHECK_INT(edit(db, order, "{\"change\":[{\"line\":2,\"quantity\":1}]}", 0, NULL, err),
	    EDITS_ECONFLICT);
	CHECK_HAS(err, "is canceled");
	db_close(db);
}

/* begin + settle(ok). @return the plan's amount, or -1. */
static int64_t pay(struct db *db, int64_t order, enum pay_op op, int64_t amount, char *err)
{
	struct payment_plan p;

	if (payments_begin(db, "m1", "stripe", order, op, amount, NULL, 2, &p, err) != 0 ||
	    payments_settle(db, "m1", p.payment_id, 1, "ref", NULL, 3, err) != 1)
		return -1;
	return p.amount;
}

static void test_payment_follows_the_total(void)
{
	int64_t order;
	struct db *db = fresh(&order);
	char err[EDITS_ERRLEN], perr[ORDERS_ERRLEN];
	struct payment_balance b;

	/* Authorized for 20.00, then a line canceled: captured for 15.00. */
	CHECK_INT(pay(db, order, PAY_AUTHORIZE, -1, perr), 2000);
	CHECK_INT(cancel(db, order, "[{\"line\":2,\"quantity\":1}]", 0, NULL, err), 0);
	CHECK_INT(payments_balance(db, "m1", "stripe", order, &b, perr), 0);
	CHECK_INT(b.total, 1500);
	CHECK_INT(b.due, -500);
	CHECK_INT(pay(db, order, PAY_CAPTURE, -1, perr), 1500);
	CHECK_INT(pay(db, order, PAY_CAPTURE, -1, perr), -1);
	CHECK_HAS(perr, "authorization with anything left to capture");   /* closed by the capture */
	{
		char st[32];

		CHECK_INT(orders_payment_status(db, "m1", order, st, sizeof st, perr), 0);
		CHECK_STR(st, "paid");
	}
	/* One A canceled after capture: 3.33 refunded, still paid in full. */
	CHECK_INT(cancel(db, order, "[{\"line\":1,\"quantity\":1}]", 0, NULL, err), 0);
	CHECK_INT(payments_balance(db, "m1", "stripe", order, &b, perr), 0);
	CHECK_INT(b.paid - b.total, 333);
	CHECK_INT(pay(db, order, PAY_REFUND, 333, perr), 333);
	{
		char st[32];

		CHECK_INT(orders_payment_status(db, "m1", order, st, sizeof st, perr), 0);
		CHECK_STR(st, "paid");
	}
	/* An edit raising the total owes only the difference, refund counted. */
	CHECK_INT(edit(db, order, "{\"change\":[{\"line\":1,\"quantity\":3}]}", 0, NULL, err), 0);
	CHECK_INT(payments_balance(db, "m1", "stripe", order, &b, perr), 0);
	CHECK_INT(b.total, 1500);
	/* The 5.00 the capture did not take was released with it. */
	CHECK_INT(b.authorized, 0);
	CHECK_INT(b.due, 333);
	CHECK_INT(pay(db, order, PAY_AUTHORIZE, 334, perr), -1);
	CHECK_HAS(perr, "more than the 3.33 USD");
	CHECK_INT(pay(db, order, PAY_AUTHORIZE, -1, perr), 333);
	CHECK_INT(pay(db, order, PAY_CAPTURE, -1, perr), 333);
	CHECK_INT(payments_balance(db, "m1", "stripe", order, &b, perr), 0);
	CHECK_INT(b.due, 0);
	CHECK_INT(b.paid, b.total);
	db_close(db);
}

T_MAIN(test_refusals_change_nothing, test_canceled_units_add_up_to_the_line,
    test_edit_moves_lines_and_total, test_payment_follows_the_total)
