/*
 * inbox — durable ingestion with group commit.
 *
 * Every event that enters ordo (webhook, API call, timer, effect result) is
 * first a row in the inbox. inbox_submit() queues a row; all rows queued in
 * the same loop turn are inserted in one transaction and one COMMIT (one
 * fsync with synchronous=FULL), and only then is each submitter told the
 * outcome, so an acknowledgement always means "on disk". Deduplication is
 * the unique (merchant, dedup_key) index: a repeat reports the first row's
 * id with duplicate = 1 and stores nothing.
 */
#ifndef ORDO_INBOX_H
#define ORDO_INBOX_H

#include <stddef.h>
#include <stdint.h>

struct db;
struct event_base;
struct inbox;

struct inbox_item {
	const char *merchant;
	const char *source;     /* webhook | api | timer | effect | internal */
	const char *channel;    /* may be NULL */
	const char *topic;
	const char *dedup_key;  /* may be NULL: never a duplicate */
	const char *order_key;  /* may be NULL: no ordering constraint */
	const char *payload;    /* JSON text */
	size_t payload_len;
};

/* Outcome: status 0 stored (or duplicate), -1 not stored (database error;
 * the caller answers 503 and the sender retries). */
typedef void (*inbox_done_fn)(void *arg, int status, int64_t id, int duplicate);

/* `committed` runs after each successful commit (the dispatcher's kick). */
struct inbox *inbox_new(struct event_base *base, struct db *db,
    void (*committed)(void *arg), void *committed_arg);
void inbox_free(struct inbox *ib);

/*
 * Queue an item (copied) for the next group commit. `done` is called
 * exactly once, from the loop, after the commit or its failure.
 * @return 0, or -1 if it could not even be queued (out of memory).
 */
int inbox_submit(struct inbox *ib, const struct inbox_item *item,
    inbox_done_fn done, void *arg);

/* Commit what is queued now (also used on shutdown). */
void inbox_flush(struct inbox *ib);

/* Queued and not yet committed. */
size_t inbox_queued(const struct inbox *ib);

/*
 * Insert one row inside the caller's transaction (for events raised by
 * handlers and the API, which commit with their own work).
 * @return the row id (the first row's id for a duplicate, *duplicate = 1),
 * or -1 on a database error.
 */
int64_t inbox_insert(struct db *db, const struct inbox_item *item,
    int64_t available_at, int *duplicate);

/* Pending events (for /metrics). -1 on error. */
int64_t inbox_depth(struct db *db);

#endif
