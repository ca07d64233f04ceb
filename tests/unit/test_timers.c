/*
 * test_timers — durable timers on a real in-memory SQLite: set, move by
 * key, cancel, fire in due order in batches, exactly once, with the
 * lateness in the event; bad arguments.
 */
#include <stdlib.h>

#include "ordo/db.h"
#include "ordo/log.h"
#include "ordo/timers.h"
#include "t.h"

static struct db *fresh(void)
{
	char *err = NULL;
	struct db *db;

	log_set_level(LOG_WARN);
	if ((db = db_open(":memory:", 1, &err)) == NULL) {
		fprintf(stderr, "db_open: %s\n", err);
		exit(1);
	}
	return db;
}

static int set(struct db *db, const char *key, const char *event, int64_t due, const char *payload)
{
	struct timer_spec t = { .merchant = "m1", .key = key, .event = event, .payload = payload,
	                        .due_at = due };
	char err[TIMERS_ERRLEN];

	return timers_set(db, &t, err);
}

static void test_fire_in_order_once(void)
{
	struct db *db = fresh();
	sqlite3_stmt *st;
	const char *want[] = { "a", "b", "c" };
	int i = 0;
	int64_t next = -1;

	CHECK_INT(set(db, "k3", "c", 3000, "{\"n\":3}"), 0);
	CHECK_INT(set(db, "k1", "a", 1000, NULL), 0);
	CHECK_INT(set(db, "k2", "b", 9000, "{\"n\":2}"), 0);
	CHECK_INT(set(db, "k2", "b", 2000, "{\"n\":22}"), 0);      /* moved, not added */
	CHECK_INT(set(db, "k4", "d", 99000, NULL), 0);
	CHECK_INT(timers_pending(db), 4);
	CHECK_INT(timers_next(db, &next), 1);
	CHECK_INT(next, 1000);
	CHECK_INT(timers_cancel(db, "m1", "k4"), 1);
	CHECK_INT(timers_cancel(db, "m1", "k4"), 0);
	CHECK_INT(timers_cancel(db, "m2", "k1"), 0);                /* another merchant's key */

	CHECK_INT(timers_fire(db, 500, 100), 0);                     /* nothing due yet */
	CHECK_INT(timers_fire(db, 5000, 2), 2);                      /* a batch of two */
	CHECK_INT(timers_fire(db, 5000, 2), 1);
	CHECK_INT(timers_fire(db, 5000, 2), 0);                      /* each fires once */
	CHECK_INT(timers_pending(db), 0);
	CHECK_INT(timers_next(db, &next), 0);                        /* none, not "due at 0" */

	sqlite3_prepare_v2(db_handle(db), "SELECT topic, source, json_extract(payload, '$.timer.key'),"
	    " json_extract(payload, '$.timer.late_ms'), json_extract(payload, '$.n') FROM inbox"
	    " ORDER BY id", -1, &st, NULL);
	while (sqlite3_step(st) == SQLITE_ROW && i < 3) {
		CHECK_STR((const char *)sqlite3_column_text(st, 0), want[i]);
		CHECK_STR((const char *)sqlite3_column_text(st, 1), "timer");
		if (i == 0)
			CHECK_INT(sqlite3_column_int64(st, 3), 4000);       /* due 1000, fired at 5000 */
		if (i == 1) {
			CHECK_STR((const char *)sqlite3_column_text(st, 2), "k2");
			CHECK_INT(sqlite3_column_int(st, 4), 22);            /* the moved payload */
		}
		i++;
	}
	CHECK_INT(i, 3);
	sqlite3_finalize(st);
	db_close(db);
}

static void test_bad_timers(void)
{
	struct db *db = fresh();
	char key[TIMERS_MAX_KEY + 2];

	memset(key, 'k', sizeof key - 1);
	key[sizeof key - 1] = '\0';
	CHECK_INT(set(db, "", "a", 1, NULL), -1);
	CHECK_INT(set(db, key, "a", 1, NULL), -1);
	CHECK_INT(set(db, "k", "", 1, NULL), -1);
	CHECK_INT(set(db, "k", "a", -5, NULL), -1);
	CHECK_INT(set(db, "k", "a", 0, NULL), -1);     /* 0 read as "no timers" once */
	CHECK_INT(timers_pending(db), 0);
	db_close(db);
}

/* A row due at 0 (written before 0 was refused) is due, not "nothing
 * pending": the runner stopped every merchant's timers on it. */
static void test_due_at_zero_is_due(void)
{
	struct db *db = fresh();
	int64_t next = -1;

	CHECK_INT(set(db, "k1", "a", 5000, NULL), 0);
	CHECK_INT(sqlite3_exec(db_handle(db), "UPDATE timers SET due_at = 0", NULL, NULL, NULL), SQLITE_OK);
	CHECK_INT(timers_next(db, &next), 1);
	CHECK_INT(next, 0);
	CHECK_INT(timers_fire(db, 10, 100), 1);
	CHECK_INT(timers_next(db, &next), 0);
	db_close(db);
}

T_MAIN(test_fire_in_order_once, test_bad_timers, test_due_at_zero_is_due)
