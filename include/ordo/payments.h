/*
 * payments — gateway payment transactions on an order: what may be asked of
 * a gateway, and what its answer means for the order.
 *
 * A request is two steps. payments_begin() checks the money (never capture
 * more than is authorized, never refund more than is captured and not yet
 * refunded, counting requests still pending) and records a pending payment
 * row; the caller then sends the request as an effect. When the answer comes
 * back, payments_settle() turns the row succeeded or failed and re-derives
 * the order's payment status. Pending rows count against the limits, so two
 * refunds in flight can never add up to more than was captured.
 *
 * Scoped by merchant like orders.h; callers own the transaction.
 */
#ifndef ORDO_PAYMENTS_H
#define ORDO_PAYMENTS_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

struct db;

enum pay_op { PAY_AUTHORIZE, PAY_CAPTURE, PAY_VOID, PAY_REFUND, PAY_OP_COUNT };

/* "authorize", "capture", "void", "refund". */
const char *payments_op_name(enum pay_op op);
/* The op named, or -1. */
int payments_op_parse(const char *name);
/* The event a successful answer raises: "payment_authorized", ... */
const char *payments_op_event(enum pay_op op);

/* What payments_begin decided. */
struct payment_plan {
	int64_t payment_id;
	int64_t order_id;
	int64_t amount;
	char currency[8];
	char reference[128];    /* gateway reference the request acts on ("" for authorize) */
};

/*
 * Check and record a pending request. `amount` < 0 means the default:
 * authorize what is outstanding and not yet authorized; capture what the
 * latest authorization has left; void that remainder; refund has no
 * default. @return 0 with *out filled, or -1 with err (ORDERS_ERRLEN bytes)
 * in a merchant's words ("refund of 30.00 USD is more than the 19.99 USD
 * captured and not yet refunded").
 */
int payments_begin(struct db *db, const char *merchant, const char *gateway,
    int64_t order_id, enum pay_op op, int64_t amount, const char *reason,
    int64_t event_id, struct payment_plan *out, char *err);

/*
 * Record the gateway's answer. `ok`: succeeded or failed; `reference` (may
 * be NULL) is the gateway's id; `error` (may be NULL) why it failed.
 * @return 1 when the row changed, 0 when it was already settled (a repeat
 * answer changes nothing), -1 with err.
 */
int payments_settle(struct db *db, const char *merchant, int64_t payment_id,
    int ok, const char *reference, const char *error, int64_t event_id, char *err);

/* Where an order's money stands, pending requests counted as if they
 * succeed: `paid` captured less refunded, `authorized` held and not yet
 * captured or voided, `due` what the total still needs beyond both (< 0:
 * more is held than the total needs). */
struct payment_balance {
	int64_t total, paid, authorized, due;
};

/* @return 0 with *out filled, or -1 with err. */
int payments_balance(struct db *db, const char *merchant, int64_t order_id,
    struct payment_balance *out, char *err);

/* The payment row as JSON (caller decrefs), or NULL if the merchant has no
 * such payment. Also reports its order id. */
json_t *payments_get(struct db *db, const char *merchant, int64_t payment_id,
    int64_t *order_id);

#endif
