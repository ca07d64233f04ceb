/*
 * timers — durable timers: "raise this event at that time", surviving
 * restarts.
 *
 * A timer is a row (merchant, key, event, payload, due_at) written inside
 * the transaction of the handler that set it, so it exists exactly when that
 * handler's other changes do. The runner arms one libevent timer for the
 * earliest due row (an index seek: start-up cost and memory do not grow with
 * the number of timers). When rows fall due, one transaction turns a batch
 * of them into inbox events, in due order, and deletes them: each fires
 * exactly once. The event carries `timer = {key, due_at, late_ms}`, so a
 * workflow can tell a timer that fired on time from one that waited out a
 * downtime and decide to skip a missed window.
 *
 * Keys are unique per merchant: setting a timer with a key that exists
 * moves it (new time, event and payload).
 */
#ifndef ORDO_TIMERS_H
#define ORDO_TIMERS_H

#include <stddef.h>
#include <stdint.h>

struct db;
struct event_base;
struct timers;

#define TIMERS_ERRLEN 256
#define TIMERS_MAX_KEY 200

struct timer_spec {
	const char *merchant;
	const char *key;          /* 1..TIMERS_MAX_KEY bytes */
	const char *event;        /* the event name handlers see */
	const char *payload;      /* a JSON object (text); NULL: {} */
	int64_t due_at;           /* ms UTC, > 0 */
	int64_t event_id;         /* the event whose handler set it; 0: none */
};

/*
 * Set (or move) a timer inside the caller's transaction. Its order key is
 * the setting event's, so the timer's event runs in that order's sequence.
 * @return 0, or -1 with err.
 */
int timers_set(struct db *db, const struct timer_spec *t, char *err);

/* Cancel the merchant's timer `key` inside the caller's transaction.
 * @return 1 cancelled, 0 no such timer, -1 database error. */
int timers_cancel(struct db *db, const char *merchant, const char *key);

/*
 * Turn up to `limit` timers due at `now` into inbox events, inside the
 * caller's transaction. @return how many fired, or -1.
 */
int timers_fire(struct db *db, int64_t now, int limit);

/* The earliest due time into *due_at. @return 1 (set), 0 when there is no
 * timer (*due_at untouched), -1 on a database error. */
int timers_next(struct db *db, int64_t *due_at);

/* Pending timers (for /metrics and tests). -1 on error. */
int64_t timers_pending(struct db *db);

/*
 * The runner: arms the loop for the earliest timer and fires due batches,
 * each in its own transaction; `committed` (the dispatcher's kick) runs
 * after each batch that fired something.
 */
struct timers *timers_new(struct event_base *base, struct db *db,
    void (*committed)(void *arg), void *arg);
void timers_free(struct timers *t);

/* Timers may have changed (a handler's commit): re-arm soon. */
void timers_kick(struct timers *t);

#endif
