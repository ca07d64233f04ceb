/*
 * outbox — effects: outbound HTTP that a handler asked for, run after its
 * transaction commits, with the answer coming back as an inbox event.
 *
 * A handler never waits on the network. It calls outbox_add() inside its
 * event's transaction; the row exists only if that transaction commits, and
 * only committed rows are ever sent (the transactional outbox). The runner
 * sends them with libcurl's multi interface on the event loop: a timeout per
 * attempt, retries with exponential backoff and jitter on network errors,
 * 5xx, 408 and 429 (Retry-After honoured), no retry on other answers, at most
 * `concurrency` requests in flight per merchant and endpoint. When an effect
 * is finished (succeeded, failed for good, or dead after its last attempt)
 * its row and its answer event are written in one transaction, so the
 * workflow hears about it exactly once. Rows stay 'pending' while in flight:
 * after a crash they are sent again with the same idempotency key (at least
 * once outside, exactly once inside).
 *
 * Keys are per merchant and kind. Effect kinds: http (http.post), payment (payments.*), notify
 * (notify.customer), webhook (outgoing webhooks). See effects_spec in the
 * README for the wire formats.
 */
#ifndef ORDO_OUTBOX_H
#define ORDO_OUTBOX_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

struct db;
struct event_base;
struct merchant_config;
struct outbox;

/* Largest answer body kept; a bigger one fails the effect for good. */
#define OUTBOX_MAX_RESPONSE (256 * 1024)
/* Largest request body. */
#define OUTBOX_MAX_BODY (1024 * 1024)

struct outbox_effect {
	const char *merchant;
	const char *kind;         /* http | payment | notify | webhook */
	const char *key;          /* idempotency key, unique per merchant */
	int64_t order_id;         /* 0: none */
	int64_t payment_id;       /* 0: none */
	int64_t event_id;         /* the event whose handler asked; 0: none */
	const char *url;
	json_t *headers;          /* array of "Name: value" strings; may be NULL */
	const char *body;         /* may be NULL */
	size_t body_len;
	json_t *meta;             /* object: what the answer means; may be NULL */
	int64_t timeout_ms;
	int max_attempts;
};

/*
 * Queue an effect inside the caller's transaction. The row's order key is
 * the creating event's, so the answer runs in that order's sequence.
 * @return the effect id; for a key already used, the first effect's id with
 * *duplicate = 1 (nothing new is sent); -1 with a message in err (256
 * bytes): a URL that is not http(s), a body too large, a database error.
 */
int64_t outbox_add(struct db *db, const struct outbox_effect *e, int *duplicate,
    char *err);

/* The concurrency group of a URL ("http://127.0.0.1:9000"), parsed by
 * libcurl's URL API. @return 0, or -1 for a URL libcurl cannot parse. */
int outbox_endpoint(const char *url, char *buf, size_t len);

/* The key the outside world sees for an effect (Idempotency-Key,
 * X-Ordo-Delivery): "<instance>-<merchant>-<kind>-<key>". */
void outbox_wire_key(const struct db *db, const char *merchant, const char *kind,
    const char *key, char *buf, size_t len);

/* 1 when `url` is under the allowed `prefix`: the same scheme, host and
 * port (parsed by libcurl, default ports filled in), no user name or
 * password in `url`, and its path below the prefix's path at a segment
 * boundary ("http://h:9/api" allows /api and /api/x, not /apix). */
int outbox_url_allowed(const char *prefix, const char *url);

/* The merchant's configuration (for send-time credentials and limits). */
typedef const struct merchant_config *(*outbox_lookup_fn)(void *arg, const char *merchant);

/*
 * The runner. `committed` is called after answer events were committed
 * (the dispatcher's kick). @return NULL when libcurl cannot start.
 */
struct outbox *outbox_new(struct event_base *base, struct db *db,
    outbox_lookup_fn lookup, void (*committed)(void *arg), void *arg);

/* Stop: requests in flight are abandoned and stay pending (sent again at
 * the next start). NULL is fine. */
void outbox_free(struct outbox *o);

/* Effects may have been committed: look for due ones soon. */
void outbox_kick(struct outbox *o);

/* Requests in flight now. */
int outbox_in_flight(const struct outbox *o);

/* An answer given by hand (`ordo test`'s canned responses). */
struct outbox_answer {
	long status;              /* HTTP status; 0 = no answer (network error) */
	const char *body;         /* may be NULL */
	size_t body_len;
	const char *error;        /* with status 0: why ("timed out") */
	int64_t retry_after;      /* seconds, as a Retry-After header; 0: none */
};

/*
 * Treat pending effect `id` as if its request had just been answered with
 * `a`: the same verdict, retry, bookkeeping and answer event as a real
 * answer, in one transaction of its own. For `ordo test`, which answers
 * effects from a spec instead of the network. @return 0, or -1 with err.
 */
int outbox_complete(struct outbox *o, int64_t id, const struct outbox_answer *a, char *err);

/*
 * The merchant's effects, newest first, as {"effects": [...]}: all, those
 * with `status` (a comma list of pending, succeeded, failed, dead; NULL for
 * any), or those of one order (order_id > 0). NULL on a database error.
 */
json_t *outbox_list(struct db *db, const char *merchant, const char *status,
    int64_t order_id, int limit);

/*
 * Send a failed or dead effect again with fresh attempts and the same key.
 * A payment the gateway refused for good ('failed') is not sent again: it
 * was settled, and the workflow asks for a new one. Runs its own
 * transaction. @return 0 with *effect set (caller decrefs), 1 when the
 * merchant has no such effect, 2 when it cannot be retried (pending,
 * succeeded, or a refused payment; *effect is set), -1 on a database error.
 */
int outbox_retry(struct db *db, const char *merchant, int64_t id, json_t **effect);

#endif
