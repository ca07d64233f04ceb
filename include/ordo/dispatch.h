/*
 * dispatch — runs pending inbox events through the merchants' workflows.
 *
 * A batch of ready events shares one transaction; each event runs inside
 * its own savepoint, so a failing handler rolls back only its own changes.
 * Events with the same order key run in id order, one at a time: an event
 * waits while an earlier one of its order is pending (even one that is
 * backing off after a failure). A failure retries with exponential backoff
 * and jitter; after max_attempts, or at once when a sandbox limit was hit
 * (a deterministic loop or bomb would only burn the loop again), the event
 * becomes a dead letter holding the error.
 */
#ifndef ORDO_DISPATCH_H
#define ORDO_DISPATCH_H

#include <stdint.h>
#include <jansson.h>

struct db;
struct dispatch;
struct event_base;
struct sandbox;

struct dispatch_config {
	int max_attempts;       /* >= 1 */
	int64_t retry_base_ms;  /* first retry delay */
	int64_t retry_max_ms;   /* cap */
	int batch_size;         /* events per transaction */
	int64_t slice_ms;       /* max time one batch may hold the loop */
};

/* The merchant's current sandbox, or NULL if the merchant is unknown. */
typedef struct sandbox *(*dispatch_lookup_fn)(void *arg, const char *merchant);

struct dispatch *dispatch_new(struct event_base *base, struct db *db,
    const struct dispatch_config *cfg, dispatch_lookup_fn lookup, void *arg);
void dispatch_free(struct dispatch *d);

/* Call fn(arg) after every batch that committed (the outbox's kick:
 * effects leave only after the transaction that made them). */
void dispatch_on_commit(struct dispatch *d, void (*fn)(void *arg), void *arg);

/* New events may be ready: run a batch soon (from the loop). */
void dispatch_kick(struct dispatch *d);

/* A delivery just arrived: while they keep arriving, handlers run in
 * slices that leave most of the loop to acknowledging them. */
void dispatch_note_ingress(struct dispatch *d);

/* Run one batch now. @return events finished (done or dead), -1 when the
 * batch could not commit (it is retried later). */
int dispatch_run_once(struct dispatch *d);

/* The delay before attempt `attempt + 1` after `attempt` failures:
 * min(max, base * 2^(attempt-1)), then jittered into [d/2, d] by `rnd`. */
int64_t dispatch_backoff_ms(const struct dispatch_config *cfg, int attempt,
    uint32_t rnd);

/* The merchant's open dead letters, newest first:
 * {"dead_letters": [...]} or NULL on a database error. */
json_t *dispatch_dead_letters(struct db *db, const char *merchant, int limit);

/*
 * Send a dead letter's event back to the inbox as pending with fresh
 * attempts. @return 0 with *event_id set; 1 if the merchant has no such
 * open dead letter; -1 on a database error. Runs its own transaction.
 */
int dispatch_retry_dead_letter(struct db *db, const char *merchant,
    int64_t dead_letter_id, int64_t *event_id);

#endif
