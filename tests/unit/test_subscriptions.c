/*
 * test_subscriptions — the subscription record on a real in-memory SQLite
 * and a virtual clock: bad input refused with clear messages and nothing
 * changed, the renewal step exactly once per cycle, the actions' status
 * rules. (Calendar cases are in test_calendar.c; whole flows in the
 * workflow specs, tests/workflows/subscription_spec.lua.)
 */
#include <stdlib.h>

#include "ordo/clock.h"
#include "ordo/db.h"
#include "ordo/log.h"
#include "ordo/orders.h"
#include "ordo/subscriptions.h"
#include "ordo/timers.h"
#include "t.h"

#define T0 INT64_C(1767603600000)   /* 2026-01-05T09:00:00Z */

static struct db *fresh(void)
{
	char *err = NULL;
	struct db *db;

	log_set_level(LOG_WARN);
	clock_set_virtual(T0);
	if ((db = db_open(":memory:", 1, &err)) == NULL) {
		fprintf(stderr, "db_open: %s\n", err);
		exit(1);
	}
	return db;
}

static const char *tmpl = "{\"currency\":\"EUR\",\"total\":3000,\"subtotal\":3000,"
	"\"email\":\"a@example.com\",\"lines\":[{\"sku\":\"BOX\",\"quantity\":1,"
	"\"unit_price\":3000,\"total\":3000}]}";

static int64_t create(struct db *db, const char *extra, char *err)
{
	char text[1024];
	json_t *spec;
	int created;
	int64_t id;

	snprintf(text, sizeof text, "{\"order\":%s,\"interval\":\"month\"%s}", tmpl, extra);
	spec = json_loads(text, 0, NULL);
	if (spec == NULL) {
		fprintf(stderr, "bad test json %s\n", text);
		exit(1);
	}
	id = subs_create(db, "m1", "Europe/Berlin", spec, 1, &created, err);
	json_decref(spec);
	return id;
}

static int64_t count(struct db *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t n = -1;

	sqlite3_prepare_v2(db_handle(db), sql, -1, &st, NULL);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

static void test_bad_input(void)
{
	static const struct { const char *extra, *msg; } cases[] = {
		{ ",\"count\":0", "count must be a whole number of intervals from 1 to 366" },
		{ ",\"count\":-2", "count must be" },
		{ ",\"interval\":\"fortnight\"", "interval must be day, week, month or year" },
		{ ",\"timezone\":\"Mars/Olympus\"", "unknown time zone \"Mars/Olympus\"" },
		{ ",\"timezone\":\"../../etc/passwd\"", "unknown time zone" },
		{ ",\"anchor_day\":32", "anchor_day must be 1 to 31" },
		{ ",\"max_cycles\":0", "max_cycles must be a positive" },
	};
	struct db *db = fresh();
	char err[SUBS_ERRLEN];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		err[0] = '\0';
		CHECK_INT(create(db, cases[i].extra, err), -1);
		CHECK_HAS(err, cases[i].msg);
	}
	CHECK_INT(count(db, "SELECT count(*) FROM subscriptions"), 0);
	CHECK_INT(count(db, "SELECT count(*) FROM timers"), 0);
	db_close(db);
	clock_use_real();
}

static void test_renewal_once_and_actions(void)
{
	struct db *db = fresh();
	char err[SUBS_ERRLEN] = "";
	int64_t id = create(db, ",\"external_id\":\"s-1\"", err), order = 0, again = 0;
	const char *why;
	json_t *s;

	CHECK(id > 0);
	CHECK_INT(create(db, ",\"external_id\":\"s-1\"", err), id);     /* idempotent */
	s = subs_get(db, "m1", id);
	CHECK_STR(json_string_value(json_object_get(s, "next_renewal")), "2026-02-05T09:00:00.000Z");
	CHECK_INT(json_integer_value(json_object_get(s, "anchor_day")), 5);
	json_decref(s);
	CHECK_INT(count(db, "SELECT count(*) FROM timers WHERE key = 'sub-1'"), 1);

	/* The renewal step: one order per cycle, however often it runs. */
	CHECK_INT(subs_renew(db, "m1", id, 1, 0, 5, &order, &why, err), 1);
	CHECK(order > 0);
	CHECK_INT(subs_renew(db, "m1", id, 1, 0, 6, &again, &why, err), 0);   /* stale: cycle moved on */
	CHECK_STR(why, "stale");
	/* Cycle 2 is next, but due at another time than this timer was: it was
	 * moved (set_next, a pause) while the event waited in the inbox. */
	CHECK_INT(subs_renew(db, "m1", id, 2, T0 + 1000, 6, &again, &why, err), 0);
	CHECK_STR(why, "stale");
	CHECK_INT(count(db, "SELECT count(*) FROM orders WHERE channel = 'subscription'"), 1);
	CHECK_INT(count(db, "SELECT subscription_id FROM orders WHERE channel = 'subscription'"), id);

	/* Status rules. */
	CHECK_INT(subs_resume(db, "m1", id, 7, err), -1);
	CHECK_HAS(err, "is active; it cannot be resumed");
	CHECK_INT(subs_set_quantity(db, "m1", id, 1, -3, 7, err), -1);
	CHECK_HAS(err, "quantity must be");
	CHECK_INT(subs_set_quantity(db, "m1", id, 2, 1, 7, err), -1);
	CHECK_HAS(err, "has no line 2");
	CHECK_INT(subs_set_quantity(db, "m1", id, 1, 2, 7, err), 0);
	s = subs_get(db, "m1", id);
	CHECK_INT(json_integer_value(json_object_get(json_object_get(s, "order"), "total")), 6000);
	json_decref(s);
	CHECK_INT(subs_pause(db, "m1", id, T0 - 1, 7, err), -1);
	CHECK_HAS(err, "a pause must end in the future");
	CHECK_INT(subs_set_status(db, "m1", id, "canceled", NULL, 7, err), -1);
	CHECK_INT(subs_cancel(db, "m1", id, 0, "customer", 7, err), 0);
	CHECK_INT(count(db, "SELECT count(*) FROM timers"), 0);
	CHECK_INT(subs_pause(db, "m1", id, 0, 7, err), -1);
	CHECK_HAS(err, "is canceled; it cannot be paused");
	CHECK_INT(subs_skip(db, "m1", id, 7, err), -1);
	CHECK_INT(subs_cancel(db, "m2", id, 0, NULL, 7, err), -1);          /* another merchant's */
	CHECK_HAS(err, "not found");
	CHECK(subs_get(db, "m2", id) == NULL);
	db_close(db);
	clock_use_real();
}

/* A pause that ends by itself leaves paused_until NULL (it was stored as 0,
 * read back as "paused until 1970"). */
static void test_pause_ends_clears_until(void)
{
	struct db *db = fresh();
	char err[SUBS_ERRLEN] = "";
	int64_t id = create(db, "", err), order = 0, next;
	const char *why;
	json_t *s;

	CHECK(id > 0);
	CHECK_INT(subs_pause(db, "m1", id, T0 + INT64_C(40) * 86400000, 7, err), 0);
	s = subs_get(db, "m1", id);
	CHECK_STR(json_string_value(json_object_get(s, "status")), "paused");
	next = json_integer_value(json_object_get(s, "next_renewal_ms"));
	CHECK_STR(json_string_value(json_object_get(s, "next_renewal")), "2026-03-05T09:00:00.000Z");
	json_decref(s);
	clock_set_virtual(next);
	CHECK_INT(subs_renew(db, "m1", id, 1, next, 8, &order, &why, err), 1);
	s = subs_get(db, "m1", id);
	CHECK_STR(json_string_value(json_object_get(s, "status")), "active");
	CHECK(json_is_null(json_object_get(s, "paused_until")));
	json_decref(s);
	CHECK_INT(count(db, "SELECT count(*) FROM subscriptions WHERE paused_until IS NULL"), 1);
	db_close(db);
	clock_use_real();
}

/* A subscription whose base was left far behind (renewed under the old
 * code, which never moved it) can still be paused: the base moves up. */
static void test_pause_far_from_base(void)
{
	struct db *db = fresh();
	char err[SUBS_ERRLEN] = "";
	int64_t id = create(db, ",\"count\":90", err);

	CHECK(id > 0);
	CHECK_INT(sqlite3_exec(db_handle(db), "UPDATE subscriptions SET cycle = 11, base_cycle = 0",
	    NULL, NULL, NULL), SQLITE_OK);
	CHECK_INT(subs_pause(db, "m1", id, T0 + 86400000, 7, err), 0);
	CHECK_INT(count(db, "SELECT count(*) FROM timers WHERE key = 'sub-1'"), 1);
	CHECK_INT(count(db, "SELECT base_cycle FROM subscriptions"), 12);
	db_close(db);
	clock_use_real();
}

T_MAIN(test_bad_input, test_renewal_once_and_actions, test_pause_ends_clears_until,
    test_pause_far_from_base)
