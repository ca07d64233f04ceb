/*
 * test_inventory — stock on a real in-memory SQLite: a table of plans the
 * host must refuse (each reserving nothing), set and adjust refusing what
 * would break the counts, the ledger summing to the counts, release giving
 * stock back to the queue.
 */
#include <stdlib.h>

#include "ordo/config.h"
#include "ordo/db.h"
#include "ordo/inventory.h"
#include "ordo/log.h"
#include "ordo/orders.h"
#include "t.h"

static struct location_config locs[] = {
	{ "a", "A", NULL, 1, "warehouse" },
	{ "b", "B", NULL, 2, "warehouse" },
};
static struct merchant_config m = { .id = "m1", .locations = locs, .n_locations = 2 };

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
	shape = json_loads("{\"channel\":\"api\",\"external_id\":\"1\",\"currency\":\"USD\",\"total\":0,"
	    "\"lines\":[{\"sku\":\"X\",\"quantity\":3,\"unit_price\":0,\"total\":0},"
	    "{\"sku\":\"Y\",\"quantity\":1,\"unit_price\":0,\"total\":0}]}", 0, NULL);
	*order = orders_create(db, "m1", shape, 1, &created, e);
	json_decref(shape);
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

static void test_bad_plans_reserve_nothing(void)
{
	static const struct { const char *plan, *msg; } cases[] = {
		{ "[{\"line\":9,\"location\":\"a\",\"quantity\":1}]", "the order has no line" },
		{ "[{\"line\":1,\"location\":\"mars\",\"quantity\":1}]", "unknown location \"mars\"" },
		{ "[{\"line\":1,\"location\":\"a\",\"quantity\":0}]", "quantity must be a positive" },
		{ "[{\"line\":1,\"location\":\"a\",\"quantity\":-2}]", "quantity must be a positive" },
		{ "[{\"line\":1,\"location\":\"a\",\"quantity\":4}]", "line 1 has 3 units" },
		{ "[{\"line\":1,\"location\":\"b\",\"quantity\":2}]", "asks for 2 of X at b; 1 available" },
		{ "[{\"line\":1,\"location\":\"a\",\"quantity\":2},{\"line\":1,\"location\":\"a\",\"quantity\":1}]",
		  "asks for 3 of X at a; 2 available" },
		{ "{\"line\":1}", "a plan is a list" },
	};
	int64_t order;
	struct db *db = fresh(&order);
	char err[INV_ERRLEN];

	db_begin(db);
	CHECK_INT(inv_set(db, &m, "X", "a", 2, "count", 0, err), 0);
	CHECK_INT(inv_set(db, &m, "X", "b", 1, "count", 0, err), 0);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *plan = json_loads(cases[i].plan, 0, NULL), *r;

		err[0] = '\0';
		r = inv_reserve(db, &m, order, plan, 2, err);
		CHECK(r == NULL);
		CHECK_HAS(err, cases[i].msg);
		json_decref(r);
		json_decref(plan);
	}
	CHECK_INT(q(db, "SELECT SUM(reserved) FROM stock"), 0);
	CHECK_INT(q(db, "SELECT count(*) FROM reservations"), 0);
	db_commit(db);
	db_close(db);
}

static void test_counts_and_ledger(void)
{
	int64_t order;
	struct db *db = fresh(&order);
	char err[INV_ERRLEN];
	json_t *r, *lines;

	db_begin(db);
	CHECK_INT(inv_set(db, &m, "X", "a", 2, "count", 0, err), 0);
	CHECK_INT(inv_set(db, &m, "X", "nowhere", 2, "count", 0, err), -1);
	CHECK_HAS(err, "unknown location");
	CHECK_INT(inv_set(db, &m, "", "a", 2, "count", 0, err), -1);
	CHECK_INT(inv_adjust(db, &m, "X", "a", -5, "adjust", "broken", 0, err), -1);
	CHECK_HAS(err, "cannot take 5 away");
	CHECK_INT(inv_adjust(db, &m, "X", "a", -1, "receive", "x", 0, err), -1);
	CHECK_HAS(err, "a receive adds stock");
	/* Default plan: 2 from a, the third short; Y has no stock at all. */
	r = inv_reserve(db, &m, order, NULL, 2, err);
	CHECK(r != NULL);
	CHECK_INT(json_array_size(json_object_get(r, "reserved")), 1);
	CHECK_INT(json_array_size(json_object_get(r, "short")), 2);
	json_decref(r);
	CHECK_INT(inv_set(db, &m, "X", "a", 1, "count", 0, err), -1);   /* below reserved */
	CHECK_HAS(err, "2 are reserved for orders");
	lines = json_loads("[{\"line\":1,\"quantity\":1},{\"line\":2,\"quantity\":1}]", 0, NULL);
	CHECK_INT(inv_backorder(db, &m, order, lines, 2, err), 0);
	CHECK_INT(inv_backorder(db, &m, order, lines, 2, err), -1);      /* already waiting */
	json_decref(lines);
	CHECK_INT(inv_backordered(db, order), 2);
	CHECK_INT(inv_adjust(db, &m, "X", "b", 5, "receive", "PO", 0, err), 0); /* serves line 1 */
	CHECK_INT(inv_backordered(db, order), 1);
	CHECK_INT(q(db, "SELECT count(*) FROM inbox WHERE topic = 'backorder_allocated'"), 1);
	CHECK_INT(inv_release(db, &m, order, 0, "cancel", 3, err), 3);
	CHECK_INT(inv_backordered(db, order), 0);
	CHECK_INT(q(db, "SELECT SUM(reserved) FROM stock"), 0);
	/* The ledger sums to the counts, row by row. */
	CHECK_INT(q(db, "SELECT count(*) FROM stock s WHERE s.on_hand <> (SELECT SUM(on_hand_delta)"
	    " FROM stock_ledger l WHERE l.sku = s.sku AND l.location = s.location) OR s.reserved <>"
	    " (SELECT SUM(reserved_delta) FROM stock_ledger l WHERE l.sku = s.sku AND"
	    " l.location = s.location)"), 0);
	db_commit(db);
	db_close(db);
}

T_MAIN(test_bad_plans_reserve_nothing, test_counts_and_ledger)
