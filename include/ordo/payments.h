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
 * What counts as paid toward the total is what was captured less the
 * refunds given because the total came down (each refund records that part
 * when it is recorded: payments_for_total). A refund given for another
 * reason (a goodwill gesture, a return) never makes the total owed again;
 * it only lowers what is left to give back. A canceled order needs nothing.
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
	enum pay_op op;         /* what to send: a default capture may be a void */
	char currency[8];
	char reference[128];    /* gateway reference the request acts on ("" for authorize) */
};

/*
 * Check and record a pending request. `amount` < 0 means the default:
 * authorize what is outstanding and not yet authorized; capture what the
 * order still owes from the newest open authorization (at most what it
 * holds: the gateway releases the rest), or, when the order owes nothing
 * (paid in full meanwhile, or canceled), void that authorization instead
 * (out->op says which); void what the newest open authorization holds;
 * refund has no default. An authorization is open while no capture
 * (pending or succeeded) took it and no void asked for what it holds.
 * A refund records how much of it gives back what was paid toward the
 * total beyond what the total now needs (see payments_for_total).
 * @return 0 with *out filled, or -1 with err (ORDERS_ERRLEN bytes)
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

#define PAY_MAX_RELEASE 64

/*
 * Plan voids of open `gateway` authorizations on the order, newest first:
 * every one (`all`), or only those the order does not need, i.e. while the
 * other open ones (and authorizations still on their way) cover what it
 * owes. Records up to `max` pending voids in out[].
 * @return how many were planned (0: nothing to release), or -1 with err.
 */
int payments_release(struct db *db, const char *merchant, const char *gateway,
    int64_t order_id, int all, const char *reason, int64_t event_id,
    struct payment_plan *out, int max, char *err);

/*
 * Of a refund of `amount` about to be recorded on the order, the part that
 * is "for the total": what was paid toward the total beyond what it needs
 * now (its total; nothing once canceled). Only that part lowers what counts
 * as paid toward the total; the rest (a goodwill gesture, a return) never
 * makes the total owed again. @return the part (0..amount) or -1 on a
 * database error.
 */
int64_t payments_for_total(struct db *db, int64_t order_id, int64_t amount);

/* Where an order's money stands, pending requests counted as if they
 * succeed. `paid`: captured less refunded. `authorized`: held by open
 * authorizations. `due`: what the order still needs beyond what was paid
 * toward it and what is held (< 0: more is held than it needs; a canceled
 * order needs nothing). `over`: what was paid toward the total beyond what
 * it needs and not yet given back (in flight captures included): owed back
 * to the customer. `refundable`: what a refund through `gateway` can take
 * now. `capturing`: captures still in flight. `open`: of `authorized`,
 * what a capture or void can take now (not in flight, not being voided). */
struct payment_balance {
	int64_t total, paid, authorized, due;
	int64_t over, refundable, capturing, open;
};

/* `gateway` may be NULL (then refundable is 0).
 * @return 0 with *out filled, or -1 with err. */
int payments_balance(struct db *db, const char *merchant, const char *gateway,
    int64_t order_id, struct payment_balance *out, char *err);

/* The payment row as JSON (caller decrefs), or NULL if the merchant has no
 * such payment. Also reports its order id. */
json_t *payments_get(struct db *db, const char *merchant, int64_t payment_id,
    int64_t *order_id);

#endif
