/*
 * test_payments — the money rules of gateway requests: what may be asked
 * (pending requests count), what an answer settles, merchant isolation.
 * Runs on a real in-memory SQLite database.
 */
#include <stdlib.h>

#include "ordo/db.h"
#include "ordo/log.h"
#include "ordo/orders.h"
#include "ordo/payments.h"
#include "t.h"

static struct db *fresh(int64_t *order_id)
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
	shape = json_loads("{\"channel\":\"shopify\",\"external_id\":\"1\",\"currency\":\"USD\","
	    "\"total\":2000,\"lines\":[{\"sku\":\"A\",\"quantity\":1,\"unit_price\":2000,"
	    "\"total\":2000}]}", 0, NULL);
	*order_id = orders_create(db, "m1", shape, 1, &created, e);
	json_decref(shape);
	if (*order_id <= 0) {
		fprintf(stderr, "orders_create: %s\n", e);
		exit(1);
	}
	return db;
}

static const char *pay_status(struct db *db, int64_t id)
{
	static char buf[32];
	static char err[ORDERS_ERRLEN];

	if (orders_payment_status(db, "m1", id, buf, sizeof buf, err) != 0)
		return err;
	return buf;
}

/* begin + settle(ok) in one go; @return the payment id or -1. */
static int64_t done(struct db *db, int64_t order, enum pay_op op, int64_t amount,
    const char *ref, char *err)
{
	struct payment_plan p;

	if (payments_begin(db, "m1", "stripe", order, op, amount, NULL, 2, &p, err) != 0)
		return -1;
	if (payments_settle(db, "m1", p.payment_id, 1, ref, NULL, 3, err) != 1)
		return -1;
	return p.payment_id;
}

static void test_authorize_capture_refund(void)
{
	int64_t order;
	struct db *db = fresh(&order);
	struct payment_plan p;
	char err[ORDERS_ERRLEN] = "";

	CHECK_INT(payments_begin(db, "m1", "stripe", order, PAY_AUTHORIZE, -1, NULL, 2, &p, err), 0);
	CHECK_INT(p.amount, 2000);
	CHECK_STR(p.currency, "USD");
	CHECK_STR(pay_status(db, order), "unpaid");      /* pending changes nothing */
	/* A second authorization while the first is pending: nothing left. */
	CHECK_INT(payments_begin(db, "m1", "stripe", order, PAY_AUTHORIZE, -1, NULL, 2, &p, err), -1);
	CHECK_HAS(err, "nothing left to authorize");
	CHECK_INT(payments_settle(db, "m1", 1, 1, "pi_1", NULL, 3, err), 1);
	CHECK_STR(pay_status(db, order), "authorized");
	CHECK_INT(payments_settle(db, "m1", 1, 1, "pi_1", NULL, 3, err), 0); /* a repeat: no-op */

	/* Capture: the reference is the authorization's; never more than it. */
	CHECK_INT(payments_begin(db, "m1", "stripe", order, PAY_CAPTURE, 2001, NULL, 2, &p, err), -1);
	CHECK_HAS(err, "capture of 20.01 USD is more than the 20.00 USD authorized");
	CHECK_INT(payments_begin(db, "m1", "stripe", order, PAY_CAPTURE, -1, NULL, 2, &p, err), 0);
	CHECK_STR(p.reference, "pi_1");
	CHECK_INT(p.amount, 2000);
	/* Void while the capture is pending is refused. */
	CHECK_INT(payments_begin(db, "m1", "stripe", order, PAY_VOID, -1, NULL, 2, &p, err), -1);
	CHECK_INT(payments_settle(db, "m1", 2, 1, "pi_1", NULL, 3, err), 1);
	CHECK_STR(pay_status(db, order), "paid");

	/* Refunds: pending ones count, so two in flight cannot exceed the capture. */
	CHECK_INT(payments_begin(db, "m1", "stripe", order, PAY_REFUND, 2500, NULL, 2, &p, err), -1);
	CHECK_HAS(err, "refund of 25.00 USD is more than the 20.00 USD captured and not yet refunded");
	CHECK_INT(payments_begin(db, "m1", "stripe", order, PAY_REFUND, 1500, "damaged", 2, &p, err), 0);
	CHECK_STR(p.reference, "pi_1");
	CHECK_INT(payments_begin(db, "m1", "stripe", order, PAY_REFUND, 600, NULL, 2, &p, err), -1);
	CHECK_HAS(err, "more than the 5.00 USD");
	CHECK_INT(payments_begin(db, "m1", "stripe", order, PAY_REFUND, 500, NULL, 2, &p, err), 0);
	/* The first refund fails at the gateway: its money is free again. */
	CHECK_INT(payments_settle(db, "m1", 3, 0, NULL, "insufficient funds", 3, err), 1);
	CHECK_STR(pay_status(db, order), "paid");
	CHECK_INT(payments_settle(db, "m1", 4, 1, "re_2", NULL, 3, err), 1);
	CHECK_STR(pay_status(db, order), "partially_refunded");
	CHECK(done(db, order, PAY_REFUND, 1500, "re_3", err) > 0);
	CHECK_STR(pay_status(db, order), "refunded");
	CHECK_INT(payments_begin(db, "m1", "stripe", order, PAY_REFUND, 1, NULL, 2, &p, err), -1);
	db_close(db);
}

static void test_refused_requests(void)
{
	int64_t order;
	struct db *db = fresh(&order);
	struct payment_plan p;
	char err[ORDERS_ERRLEN] = "";
	json_t *pay;

	CHECK_INT(payments_begin(db, "m1", "stripe", order, PAY_CAPTURE, -1, NULL, 2, &p, err), -1);
	CHECK_HAS(err, "no successful stripe authorization");
	CHECK_INT(payments_begin(db, "m1", "stripe", order, PAY_REFUND, -1, NULL, 2, &p, err), -1);
	CHECK_HAS(err, "needs an amount");
	CHECK_INT(payments_begin(db, "m1", "stripe", order, PAY_AUTHORIZE, 0, NULL, 2, &p, err), -1);
	CHECK_HAS(err, "positive");
	CHECK_INT(payments_begin(db, "m1", "stripe", order, PAY_AUTHORIZE, 2001, NULL, 2, &p, err), -1);
	CHECK_HAS(err, "more than the 20.00 USD");
	/* Another merchant's order does not exist. */
	CHECK_INT(payments_begin(db, "m2", "stripe", order, PAY_AUTHORIZE, -1, NULL, 2, &p, err), -1);
	CHECK_HAS(err, "not found");
	/* A storefront capture cannot be refunded through the gateway. */
	CHECK_INT(orders_mark_paid(db, "m1", order, -1, NULL, 2, err), 0);
	CHECK_INT(payments_begin(db, "m1", "stripe", order, PAY_REFUND, 100, NULL, 2, &p, err), -1);
	CHECK_HAS(err, "no stripe capture left to refund");
	/* A declined authorization is recorded with its reason. */
	{
		int64_t o2;
		struct db *db2 = fresh(&o2);

		CHECK_INT(payments_begin(db2, "m1", "stripe", o2, PAY_AUTHORIZE, -1, NULL, 2, &p, err), 0);
		CHECK_INT(payments_settle(db2, "m1", p.payment_id, 0, NULL, "card_declined", 3, err), 1);
		pay = payments_get(db2, "m1", p.payment_id, NULL);
		CHECK_STR(json_string_value(json_object_get(pay, "status")), "failed");
		CHECK_STR(json_string_value(json_object_get(pay, "error")), "card_declined");
		json_decref(pay);
		CHECK(payments_get(db2, "m2", p.payment_id, NULL) == NULL);
		CHECK_STR(pay_status(db2, o2), "unpaid");
		/* The failed authorization frees the room again. */
		CHECK_INT(payments_begin(db2, "m1", "stripe", o2, PAY_AUTHORIZE, -1, NULL, 2, &p, err), 0);
		db_close(db2);
	}
	db_close(db);
}

static void test_void_releases_the_authorization(void)
{
	int64_t order;
	struct db *db = fresh(&order);
	struct payment_plan p;
	char err[ORDERS_ERRLEN] = "";

	CHECK(done(db, order, PAY_AUTHORIZE, -1, "pi_9", err) > 0);
	CHECK_INT(payments_begin(db, "m1", "stripe", order, PAY_VOID, 100, NULL, 2, &p, err), -1);
	CHECK_HAS(err, "whole 20.00 USD");
	CHECK(done(db, order, PAY_VOID, -1, "pi_9", err) > 0);
	CHECK_STR(pay_status(db, order), "voided");
	CHECK_INT(payments_begin(db, "m1", "stripe", order, PAY_CAPTURE, -1, NULL, 2, &p, err), -1);
	db_close(db);
}

static void test_review_regressions(void)
{
	int64_t order;
	struct db *db = fresh(&order);
	struct payment_plan p;
	char err[ORDERS_ERRLEN] = "";

	/* A void still in flight does not free the authorization's money. */
	CHECK(done(db, order, PAY_AUTHORIZE, -1, "pi_1", err) > 0);
	CHECK_INT(payments_begin(db, "m1", "stripe", order, PAY_VOID, -1, NULL, 2, &p, err), 0);
	CHECK_INT(payments_begin(db, "m1", "stripe", order, PAY_AUTHORIZE, -1, NULL, 2, &p, err), -1);
	CHECK_HAS(err, "nothing left to authorize");
	/* A canceled order is not captured. */
	{
		int64_t o2;
		struct db *db2 = fresh(&o2);

		CHECK(done(db2, o2, PAY_AUTHORIZE, -1, "pi_2", err) > 0);
		CHECK_INT(orders_set_status(db2, "m1", o2, "canceled", "test", 3, err), 0);
		CHECK_INT(payments_begin(db2, "m1", "stripe", o2, PAY_CAPTURE, 2000, NULL, 2, &p, err), -1);
		CHECK_HAS(err, "is canceled; void its authorization");
		/* The default capture of a canceled order voids it instead. */
		CHECK_INT(payments_begin(db2, "m1", "stripe", o2, PAY_CAPTURE, -1, NULL, 2, &p, err), 0);
		CHECK_INT(p.op, PAY_VOID);
		CHECK_INT(p.amount, 2000);
		CHECK_STR(p.reference, "pi_2");
		CHECK_INT(payments_begin(db2, "m1", "stripe", o2, PAY_VOID, -1, NULL, 2, &p, err), -1);
		db_close(db2);
	}
	db_close(db);
}

static void set_total(struct db *db, int64_t order, int64_t total)
{
	char sql[96];

	snprintf(sql, sizeof sql, "UPDATE orders SET total = %lld WHERE id = %lld",
	    (long long)total, (long long)order);
	CHECK_INT(db_exec(db, sql), 0);
}

static void balance(struct db *db, int64_t order, struct payment_balance *b)
{
	char err[ORDERS_ERRLEN];

	CHECK_INT(payments_balance(db, "m1", "stripe", order, b, err), 0);
}

/* Only refunds given because the total came down lower what counts as paid
 * toward it; a goodwill refund is never charged again. */
static void test_goodwill_refund_is_not_owed_again(void)
{
	int64_t order;
	struct db *db = fresh(&order);
	struct payment_plan p;
	struct payment_balance b;
	char err[ORDERS_ERRLEN] = "";

	CHECK(done(db, order, PAY_AUTHORIZE, -1, "pi_1", err) > 0);
	CHECK(done(db, order, PAY_CAPTURE, -1, "pi_1", err) > 0);
	/* 8.00 back on the storefront, a goodwill gesture. */
	CHECK_STR(orders_storefront_refund(db, "m1", order, "r-1", 800, NULL, 0, "stripe", 4, err),
	    "recorded");
	balance(db, order, &b);
	CHECK_INT(b.paid, 1200);
	CHECK_INT(b.due, 0);                  /* not owed again */
	CHECK_INT(b.over, 0);
	CHECK_INT(b.refundable, 1200);        /* 20.00 ours, 8.00 of it back already */
	/* The total comes down 5.00: 5.00 is owed back, whatever the gesture. */
	set_total(db, order, 1500);
	balance(db, order, &b);
	CHECK_INT(b.over, 500);
	CHECK_INT(b.due, -500);
	CHECK_INT(payments_begin(db, "m1", "stripe", order, PAY_REFUND, 500, NULL, 2, &p, err), 0);
	CHECK_INT(payments_settle(db, "m1", p.payment_id, 1, "re_1", NULL, 3, err), 1);
	balance(db, order, &b);
	CHECK_INT(b.over, 0);
	CHECK_INT(b.due, 0);
	CHECK_INT(b.paid, 700);
	/* Raised back to 20.00: 5.00 owed, not the 8.00 given away too. */
	set_total(db, order, 2000);
	balance(db, order, &b);
	CHECK_INT(b.due, 500);
	/* Lowered to 5.00 after 13.00 went back: only the 7.00 left can be. */
	set_total(db, order, 500);
	balance(db, order, &b);
	CHECK_INT(b.over, 700);
	CHECK_INT(b.refundable, 700);
	/* A canceled order needs nothing: all that is left is owed back. */
	set_total(db, order, 1500);
	CHECK_INT(orders_set_status(db, "m1", order, "canceled", "test", 5, err), 0);
	balance(db, order, &b);
	CHECK_INT(b.over, 700);
	CHECK_INT(b.refundable, 700);
	db_close(db);
}

/* A capture in flight closes its authorization; a default capture of an
 * order that owes nothing is a void; release voids what is not needed. */
static void test_authorizations_never_left_holding(void)
{
	int64_t order;
	struct db *db = fresh(&order);
	struct payment_plan p, plans[PAY_MAX_RELEASE];
	struct payment_balance b;
	char err[ORDERS_ERRLEN] = "";

	CHECK(done(db, order, PAY_AUTHORIZE, -1, "pi_1", err) > 0);
	set_total(db, order, 1500);
	CHECK_INT(payments_begin(db, "m1", "stripe", order, PAY_CAPTURE, -1, NULL, 2, &p, err), 0);
	CHECK_INT(p.op, PAY_CAPTURE);
	CHECK_INT(p.amount, 1500);
	balance(db, order, &b);
	CHECK_INT(b.authorized, 0);          /* the gateway releases the other 5.00 */
	CHECK_INT(b.capturing, 1500);
	CHECK_INT(b.due, 0);
	{
		struct payment_plan again;

		CHECK_INT(payments_begin(db, "m1", "stripe", order, PAY_CAPTURE, -1, NULL, 2, &again,
		    err), -1);
		CHECK_HAS(err, "a capture of it is still pending");
	}
	CHECK_INT(payments_settle(db, "m1", p.payment_id, 1, "pi_1", NULL, 3, err), 1);
	/* Raised twice: two more authorizations, then lowered back. */
	set_total(db, order, 2500);
	CHECK(done(db, order, PAY_AUTHORIZE, 500, "pi_2", err) > 0);
	set_total(db, order, 3000);
	CHECK(done(db, order, PAY_AUTHORIZE, 500, "pi_3", err) > 0);
	set_total(db, order, 2000);
	balance(db, order, &b);
	CHECK_INT(b.authorized, 1000);
	CHECK_INT(b.open, 1000);
	CHECK_INT(b.due, -500);
	/* Release keeps one 5.00 (still owed), voids the newest. */
	CHECK_INT(payments_release(db, "m1", "stripe", order, 0, NULL, 2, plans, PAY_MAX_RELEASE,
	    err), 1);
	CHECK_STR(plans[0].reference, "pi_3");
	CHECK_INT(plans[0].op, PAY_VOID);
	balance(db, order, &b);
	CHECK_INT(b.authorized, 1000);       /* held until the gateway confirms the void */
	CHECK_INT(b.open, 500);              /* but nothing more can take it */
	CHECK_INT(payments_release(db, "m1", "stripe", order, 0, NULL, 2, plans, PAY_MAX_RELEASE,
	    err), 0);
	/* Lowered to what was captured: the default capture voids pi_2. */
	set_total(db, order, 1500);
	CHECK_INT(payments_begin(db, "m1", "stripe", order, PAY_CAPTURE, -1, NULL, 2, &p, err), 0);
	CHECK_INT(p.op, PAY_VOID);
	CHECK_STR(p.reference, "pi_2");
	CHECK_INT(payments_release(db, "m1", "stripe", order, 1, NULL, 2, plans, PAY_MAX_RELEASE,
	    err), 0);                          /* nothing else open */
	db_close(db);
}

/* A storefront refund counts toward a lowered total first. */
static void test_storefront_refund_of_a_lowered_total(void)
{
	int64_t order;
	struct db *db = fresh(&order);
	struct payment_balance b;
	char err[ORDERS_ERRLEN] = "";

	CHECK_INT(orders_mark_paid(db, "m1", order, -1, NULL, 2, err), 0);
	set_total(db, order, 1500);
	balance(db, order, &b);
	CHECK_INT(b.over, 500);
	CHECK_INT(b.refundable, 0);          /* the storefront took it */
	CHECK_STR(orders_storefront_refund(db, "m1", order, "r-1", 800, NULL, 0, "stripe", 4, err),
	    "recorded");
	balance(db, order, &b);
	CHECK_INT(b.over, 0);
	CHECK_INT(b.due, 0);                 /* 5.00 for the total, 3.00 a gift */
	set_total(db, order, 2000);
	balance(db, order, &b);
	CHECK_INT(b.due, 500);
	db_close(db);
}

static void test_op_names(void)
{
	CHECK_INT(payments_op_parse("capture"), PAY_CAPTURE);
	CHECK_INT(payments_op_parse("charge"), -1);
	CHECK_INT(payments_op_parse(NULL), -1);
	CHECK_STR(payments_op_event(PAY_REFUND), "payment_refunded");
	CHECK_STR(payments_op_name(PAY_VOID), "void");
}

T_MAIN(test_authorize_capture_refund, test_refused_requests, test_void_releases_the_authorization,
    test_review_regressions, test_goodwill_refund_is_not_owed_again,
    test_authorizations_never_left_holding, test_storefront_refund_of_a_lowered_total, test_op_names)
