/*
 * returns — returns (RMA): a record of its own, linked to the order, of
 * which shipped units come back, why, and what happens to them.
 *
 * A return moves requested -> approved | rejected; approved -> received
 * (per line: units restocked at a location, or written off as damaged);
 * received -> refund_requested -> refunded; received | refunded | rejected
 * -> closed. The host refuses to return more of a line than was shipped
 * (less what other open returns already claim), and a refund goes through
 * payments (payments_begin: never more than captured and not yet
 * refunded). Restocking is inv_adjust(kind "return"), so returned units
 * feed the backorder queue exactly as a stock receipt does. Each step
 * writes an order history row and raises an event for the workflow
 * (return_requested, return_approved, return_rejected, return_received,
 * return_refund_requested, return_refunded, return_closed).
 *
 * Errors: "... not found" (the merchant has no such order or return),
 * "...; it cannot be ..." (the return is in the wrong state), anything
 * else is invalid input; "database error: ..." is the database. At most
 * RETURNS_ERRLEN bytes. Scoped by merchant; callers own the transaction.
 */
#ifndef ORDO_RETURNS_H
#define ORDO_RETURNS_H

#include <stdint.h>
#include <jansson.h>

struct db;
struct merchant_config;

#define RETURNS_ERRLEN 256

enum returns_error { RETURNS_EINVALID, RETURNS_ENOTFOUND, RETURNS_ECONFLICT, RETURNS_EDB };

/* What kind of error an err message from this module is. */
enum returns_error returns_error_kind(const char *err);

/* Request a return of `lines` ({{line, quantity}}, 1..1000 of them) of the
 * order, with a reason (may be NULL). @return the id, or -1 with err. */
int64_t returns_create(struct db *db, const struct merchant_config *m, int64_t order_id,
    const json_t *lines, const char *reason, int64_t event_id, char *err);

/* requested -> approved. @return 0 or -1 with err. */
int returns_approve(struct db *db, const struct merchant_config *m, int64_t id,
    int64_t event_id, char *err);

/* requested -> rejected, with a note (may be NULL). @return 0 or -1. */
int returns_reject(struct db *db, const struct merchant_config *m, int64_t id,
    const char *note, int64_t event_id, char *err);

/*
 * approved -> received. `lines` is {{line, quantity, location | damaged}}
 * or NULL (every unit of every line: restocked at `location`, or at the
 * first configured location when NULL, unless the return's reason is
 * "damaged", which writes them all off). A line given without quantity
 * takes all its units. @return 0 or -1 with err (nothing restocked).
 */
int returns_receive(struct db *db, const struct merchant_config *m, int64_t id,
    const json_t *lines, const char *location, int64_t event_id, char *err);

/*
 * How much a refund of the return would be, checked against the order's
 * payments without recording anything. `amount` < 0 means the default: the
 * unit price of every unit received. @return the amount (> 0), or -1 with
 * err (not received or refund_requested, nothing to refund, more than captured and not yet
 * refunded).
 */
int64_t returns_refund_check(struct db *db, const struct merchant_config *m, int64_t id,
    int64_t amount, char *err);

/* received -> refund_requested with the amount checked by
 * returns_refund_check; raises return_refund_requested for the workflow.
 * @return 0 or -1 with err. */
int returns_refund_request(struct db *db, const struct merchant_config *m, int64_t id,
    int64_t amount, int64_t event_id, char *err);

/* received | refund_requested -> refunded: record the refund payment
 * (from payments_begin) of `amount`. @return 0 or -1 with err. */
int returns_refunded(struct db *db, const struct merchant_config *m, int64_t id,
    int64_t payment_id, int64_t amount, int64_t event_id, char *err);

/* received | refunded | rejected -> closed. @return 0 or -1 with err. */
int returns_close(struct db *db, const struct merchant_config *m, int64_t id,
    int64_t event_id, char *err);

/* The return as JSON with its lines, the order's delivered_at (ISO 8601
 * or null) and refund_status (the refund payment's: pending, succeeded,
 * failed, or null) (caller decrefs), or NULL if the merchant has none.
 * "refunded" means the refund was sent; refund_status tells whether the
 * gateway agreed. */
json_t *returns_get(struct db *db, const char *merchant, int64_t id);

/* Newest first: {"returns": [...]}, `status` NULL for any; NULL on a
 * database error. */
json_t *returns_list(struct db *db, const char *merchant, const char *status, int limit);

/* The order the return belongs to, 0 if none, -1 on error. */
int64_t returns_order(struct db *db, const char *merchant, int64_t id);

#endif
