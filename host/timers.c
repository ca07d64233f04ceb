/*
 * timers — durable timers and their runner (see timers.h).
 *
 * Depends on db, clock, log, metrics and libevent. Firing is set-based: one
 * INSERT ... SELECT moves a batch of due rows into the inbox and one DELETE
 * removes the same rows, both inside one transaction, so a timer can never
 * fire twice or be lost between the two. The batch is taken in (due_at, id)
 * order, so events enter the inbox, and run, in due order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "ordo/clock.h"
#include "ordo/db.h"
#include "ordo/log.h"
#include "ordo/metrics.h"
#include "ordo/timers.h"

#define FIRE_BATCH     5000     /* timers per transaction */
#define MAX_SLEEP_MS   60000    /* re-check at least this often (clock jumps) */
#define RETRY_MS       1000     /* after a database error */

int timers_set(struct db *db, const struct timer_spec *t, char *err)
{
	sqlite3_stmt *st;
	size_t klen = t->key ? strlen(t->key) : 0;

	if (klen == 0 || klen > TIMERS_MAX_KEY) {
		snprintf(err, TIMERS_ERRLEN, "a timer key must be 1 to %d bytes", TIMERS_MAX_KEY);
		return -1;
	}
	if (t->event == NULL || t->event[0] == '\0' || strlen(t->event) > 64) {
		snprintf(err, TIMERS_ERRLEN, "a timer needs an event name of 1 to 64 bytes");
		return -1;
	}
	if (t->due_at <= 0) {
		snprintf(err, TIMERS_ERRLEN, "a timer's time must be after 1970-01-01T00:00:00Z"
		    " (ms UTC greater than 0)");
		return -1;
	}
	/* The order key comes from the setting event, read here so callers
	 * need not know it. */
	st = db_prepare(db,
	    "INSERT INTO timers (merchant, key, event, payload, order_key, due_at, created_at, event_id)"
	    " VALUES (?1, ?2, ?3, ?4, (SELECT order_key FROM inbox WHERE id = ?7), ?5, ?6, ?7)"
	    " ON CONFLICT (merchant, key) DO UPDATE SET event = excluded.event,"
	    "  payload = excluded.payload, order_key = excluded.order_key,"
	    "  due_at = excluded.due_at, created_at = excluded.created_at,"
	    "  event_id = excluded.event_id");
	if (st == NULL)
		goto dberr;
	db_bind_text(st, 1, t->merchant);
	db_bind_text(st, 2, t->key);
	db_bind_text(st, 3, t->event);
	db_bind_text(st, 4, t->payload ? t->payload : "{}");
	sqlite3_bind_int64(st, 5, t->due_at);
	sqlite3_bind_int64(st, 6, clock_now_ms());
	if (t->event_id > 0)
		sqlite3_bind_int64(st, 7, t->event_id);
	if (db_step_done(st) != 0)
		goto dberr;
	return 0;
dberr:
	snprintf(err, TIMERS_ERRLEN, "database error: %s", db_errmsg(db));
	return -1;
}

int timers_cancel(struct db *db, const char *merchant, const char *key)
{
	sqlite3_stmt *st = db_prepare(db, "DELETE FROM timers WHERE merchant = ? AND key = ?");

	if (st == NULL)
		return -1;
	db_bind_text(st, 1, merchant);
	db_bind_text(st, 2, key);
	if (db_step_done(st) != 0)
		return -1;
	return db_changes(db) > 0;
}

int timers_fire(struct db *db, int64_t now, int limit)
{
	sqlite3_stmt *st;
	int n;

	/* The dedup key makes a timer's event unique even if a row were ever
	 * moved into the inbox twice. It names this setting of the timer (row
	 * id, when and by which event it was set), not only key and time: a
	 * timer set again with the same key and time after it fired is a new
	 * timer, and must fire again rather than be dropped as a duplicate.
	 * "WHERE true" is SQLite's required spelling for an upsert after a
	 * SELECT. */
	st = db_prepare(db,
	    "INSERT INTO inbox (merchant, source, topic, dedup_key, order_key, payload,"
	    "  available_at, received_at)"
	    " SELECT merchant, 'timer', event, 'timer:' || key || ':' || due_at || ':' || id"
	    "  || ':' || created_at || ':' || ifnull(event_id, 0), order_key,"
	    "  json_set(payload, '$.timer', json_object('key', key, 'due_at', due_at,"
	    "   'late_ms', ?1 - due_at)), ?1, ?1"
	    " FROM (SELECT * FROM timers WHERE due_at <= ?1 ORDER BY due_at, id LIMIT ?2)"
	    " WHERE true ON CONFLICT (merchant, dedup_key) DO NOTHING");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int(st, 2, limit);
	if (db_step_done(st) != 0)
		return -1;
	st = db_prepare(db, "DELETE FROM timers WHERE id IN (SELECT id FROM timers"
	    " WHERE due_at <= ?1 ORDER BY due_at, id LIMIT ?2)");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int(st, 2, limit);
	if (db_step_done(st) != 0)
		return -1;
	n = db_changes(db);
	return n;
}

int timers_next(struct db *db, int64_t *due_at)
{
	/* MIN() of no rows is NULL: "no timer" is told apart from any time,
	 * 0 and earlier included (rows written before times <= 0 were
	 * refused are simply due). */
	sqlite3_stmt *st = db_prepare(db, "SELECT MIN(due_at) FROM timers");
	int rc = -1;

	if (st == NULL)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW) {
		rc = sqlite3_column_type(st, 0) != SQLITE_NULL;
		if (rc)
			*due_at = sqlite3_column_int64(st, 0);
	}
	db_reset(st);
	return rc;
}

int64_t timers_pending(struct db *db)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT count(*) FROM timers");
	int64_t v = -1;

	if (st == NULL)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	db_reset(st);
	return v;
}

/* ------------------------------------------------------------------ */
/* The runner                                                          */
/* ------------------------------------------------------------------ */

struct timers {
	struct db *db;
	struct event *ev;
	void (*committed)(void *);
	void *arg;
};

static void arm_in(struct timers *t, int64_t ms)
{
	struct timeval tv;

	if (ms < 0)
		ms = 0;
	if (ms > MAX_SLEEP_MS)
		ms = MAX_SLEEP_MS;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(t->ev, &tv);
}

/* Fire one batch if due; arm for the next. */
static void run(struct timers *t)
{
	int64_t now = clock_now_ms(), next = 0;
	int n = 0, any;

	any = timers_next(t->db, &next);
	if (any < 0) {
		arm_in(t, RETRY_MS);
		return;
	}
	if (any == 0)
		return; /* nothing pending: a commit that sets one kicks us */
	if (next > now) {
		arm_in(t, next - now);
		return;
	}
	if (db_begin(t->db) != 0 || (n = timers_fire(t->db, now, FIRE_BATCH)) < 0 ||
	    db_commit(t->db) != 0) {
		log_error("timers could not fire; retrying", "error", db_errmsg(t->db), NULL);
		db_rollback(t->db);
		arm_in(t, RETRY_MS);
		return;
	}
	if (n > 0) {
		metrics_inc("ordo_timers_fired_total", NULL, n);
		if (t->committed)
			t->committed(t->arg);
	}
	/* Again at once: more may be due (a full batch), else this arms for
	 * the next. A timer fires after the loop has polled, so I/O is served
	 * between batches. */
	arm_in(t, 0);
}

static void run_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	run(arg);
}

struct timers *timers_new(struct event_base *base, struct db *db,
    void (*committed)(void *arg), void *arg)
{
	struct timers *t = calloc(1, sizeof *t);

	if (t == NULL)
		return NULL;
	t->db = db;
	t->committed = committed;
	t->arg = arg;
	if ((t->ev = evtimer_new(base, run_cb, t)) == NULL) {
		free(t);
		return NULL;
	}
	metrics_help("ordo_timers_fired_total", "Timers turned into inbox events.");
	metrics_inc("ordo_timers_fired_total", NULL, 0);
	return t;
}

void timers_free(struct timers *t)
{
	if (t == NULL)
		return;
	event_free(t->ev);
	free(t);
}

void timers_kick(struct timers *t)
{
	if (t != NULL)
		arm_in(t, 0);
}
