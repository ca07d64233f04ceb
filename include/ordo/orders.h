/*
 * orders — the order record: creation from the internal shape, the status
 * state machine, derived payment and fulfillment status, notes, tags,
 * payment transactions and the history that audits all of it.
 *
 * Every function is scoped by merchant: an id that belongs to another
 * merchant is "not found", never an error that reveals it exists. Every
 * change writes an order_history row naming the inbox event that caused it.
 * Callers own the transaction; nothing here begins or commits.
 *
 * Errors: functions taking `char *err` write a one-line message of at most
 * ORDERS_ERRLEN bytes there, in words a merchant understands.
 */
#ifndef ORDO_ORDERS_H
#define ORDO_ORDERS_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#define ORDERS_ERRLEN 256

struct db;

/*
 * Called inside the caller's transaction when an order changes in a way
 * outside systems subscribe to: "order.created", "order.paid",
 * "order.refunded", "order.cancelled", "order.completed",
 * "order.fulfilled". A non-zero return fails the change (and so the
 * event). One observer per process (the daemon's outgoing webhooks);
 * NULL removes it.
 */
typedef int (*orders_observer_fn)(void *arg, struct db *db, const char *merchant,
    int64_t order_id, const char *topic, int64_t event_id);
void orders_set_observer(orders_observer_fn fn, void *arg);

/* For sibling domain modules: tell the observer (outgoing webhooks) about
 * `topic` ("order.shipped"). @return 0 or -1. */
int orders_emit(struct db *db, const char *merchant, int64_t order_id, const char *topic,
    int64_t event_id);

/* For sibling domain modules (payments): write a history row, and
 * re-derive payment and fulfillment status. @return 0 or -1 (database). */
int orders_history(struct db *db, int64_t order_id, int64_t event_id,
    const char *kind, const char *from, const char *to, const char *message);
int orders_refresh(struct db *db, int64_t order_id, int64_t event_id);

/* Order lifecycle: draft -> placed -> completed; draft|placed -> canceled. */
int orders_transition_ok(const char *from, const char *to);

/*
 * Create an order from the internal shape (see README "The order shape").
 * Idempotent on (merchant, channel, external_id): an existing order is
 * returned with *created = 0 and is not changed.
 * @return the order id (> 0), or -1 with err set (invalid shape, database).
 */
int64_t orders_create(struct db *db, const char *merchant, const json_t *shape,
    int64_t event_id, int *created, char *err);

/* @return 1 when order `id` is the merchant's, 0 when not, -1 on error. */
int orders_owned(struct db *db, const char *merchant, int64_t id);

/* @return the id of the merchant's order from `channel` with that external
 * id, 0 if there is none, -1 on a database error. */
int64_t orders_find(struct db *db, const char *merchant, const char *channel,
    const char *external_id);

enum { ORDERS_LINES = 1, ORDERS_HISTORY = 2, ORDERS_PAYMENTS = 4,
       ORDERS_ALL = 7 };

/* The order as a new JSON object (caller decrefs), with the parts asked
 * for; NULL if the merchant has no such order (or on a database error). */
json_t *orders_get(struct db *db, const char *merchant, int64_t id,
    unsigned parts);

/* Move to `status` if the state machine allows it; the same status is a
 * no-op. @return 0, or -1 with err (illegal transition, unknown order). */
int orders_set_status(struct db *db, const char *merchant, int64_t id,
    const char *status, const char *reason, int64_t event_id, char *err);

/* History note. @return 0 or -1 with err. */
int orders_note(struct db *db, const char *merchant, int64_t id,
    const char *text, int64_t event_id, char *err);

/* Add a tag (no duplicates). @return 0 or -1 with err. */
int orders_tag(struct db *db, const char *merchant, int64_t id,
    const char *tag, int64_t event_id, char *err);

/*
 * Record a payment transaction and re-derive the payment status.
 * kind: authorization | capture | refund | void; status: pending |
 * succeeded | failed. A refund above what was captured and not yet refunded,
 * or a capture above the order total, is refused.
 * @return the payment id, or -1 with err.
 */
/*
 * A refund the storefront reports (Shopify refunds/create), recorded once:
 * a repeat of `external_id` is "duplicate"; a refund ordo itself sent
 * through `gateway` and not yet echoed, whose gateway reference is one of
 * `refs` (or, when the storefront names none, of the same amount), is
 * "matched" and moves no money twice; anything else is "recorded" as a
 * refund row (never more than captured and not yet refunded).
 * @return the outcome (static text), or NULL with err.
 */
const char *orders_storefront_refund(struct db *db, const char *merchant, int64_t id,
    const char *external_id, int64_t amount, const char *const *refs, size_t n_refs,
    const char *gateway, int64_t event_id, char *err);

int64_t orders_record_payment(struct db *db, const char *merchant, int64_t id,
    const char *kind, int64_t amount, const char *status, const char *gateway,
    const char *reference, int64_t event_id, char *err);

/*
 * The storefront says it took payment: record a succeeded capture of
 * `amount` (or of everything still outstanding when amount < 0). Nothing is
 * recorded when nothing is outstanding, so repeating it is harmless.
 * `gateway` NULL means the order's own channel.
 * @return 0 or -1 with err.
 */
int orders_mark_paid(struct db *db, const char *merchant, int64_t id,
    int64_t amount, const char *gateway, int64_t event_id, char *err);

/* The derived payment status into buf. @return 0 or -1 with err. */
int orders_payment_status(struct db *db, const char *merchant, int64_t id,
    char *buf, size_t len, char *err);

struct orders_filter {
	const char *channel;      /* NULL: any */
	const char *external_id;  /* NULL: any */
	const char *status;       /* NULL: any */
	const char *email;        /* NULL: any; matched without regard to case */
	const char *sku;          /* NULL: any; orders with a line of this SKU */
	const char *q;            /* NULL: any; its external id, email or a line's SKU */
	int64_t before_id;        /* cursor: only ids below it; 0: from the newest */
	int limit;                /* 1..200 */
};

/* Newest first: {"orders": [...], "next_cursor": "<id>" | null}.
 * @return a new reference, or NULL with err. */
json_t *orders_list(struct db *db, const char *merchant,
    const struct orders_filter *f, char *err);

/* Counts of the merchant's orders: {"total": n, "status": {"placed": n, ...},
 * "fulfillment_status": {"unfulfilled": n, ...}}.
 * @return a new reference, or NULL on a database error. */
json_t *orders_summary(struct db *db, const char *merchant);

#endif
