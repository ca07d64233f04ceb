/*
 * payments — the money rules of gateway requests (see payments.h).
 *
 * Depends on db, orders (history, derived status), money and clock. Every
 * amount is int64 minor units of the order's currency. Nothing here talks
 * to a gateway: it decides what may be asked and records what was
 * answered; the outbox carries the request.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ordo/clock.h"
#include "ordo/db.h"
#include "ordo/money.h"
#include "ordo/orders.h"
#include "ordo/payments.h"

static const char *const op_names[PAY_OP_COUNT] = {
	"authorize", "capture", "void", "refund",
};
static const char *const op_kinds[PAY_OP_COUNT] = {
	"authorization", "capture", "void", "refund",
};
static const char *const op_events[PAY_OP_COUNT] = {
	"payment_authorized", "payment_captured", "payment_voided", "payment_refunded",
};

const char *payments_op_name(enum pay_op op)
{
	return op >= 0 && op < PAY_OP_COUNT ? op_names[op] : "?";
}

const char *payments_op_event(enum pay_op op)
{
	return op >= 0 && op < PAY_OP_COUNT ? op_events[op] : "payment_failed";
}

int payments_op_parse(const char *name)
{
	for (int i = 0; name != NULL && i < PAY_OP_COUNT; i++)
		if (strcmp(name, op_names[i]) == 0)
			return i;
	return -1;
}

static int fail(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(char *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, ORDERS_ERRLEN, fmt, ap);
	va_end(ap);
	return -1;
}

static int db_fail(struct db *db, char *err)
{
	return fail(err, "database error: %s", db_errmsg(db));
}

/* "19.99 USD" */
static const char *show(int64_t amount, const char *currency, char *buf, size_t len)
{
	char num[40];

	if (money_format(amount, currency, num, sizeof num) < 0)
		snprintf(num, sizeof num, "%" PRId64, amount);
	snprintf(buf, len, "%s %s", num, currency);
	return buf;
}

/* Money facts of one order; pending rows count as if they will succeed,
 * because a limit must hold whatever the gateway answers. */
struct facts {
	int64_t total, captured;   /* captured: succeeded, any gateway */
	int64_t refunded;          /* refunds succeeded, any gateway */
	int64_t refund_hold;       /* refunds succeeded or pending */
	int64_t capture_hold;      /* captures succeeded or pending */
	int64_t covered;           /* capture_hold - refunded: what the total has */
	int64_t auth_open;         /* authorizations pending or succeeded, minus what
	                              captures and voids (pending or succeeded) used */
};

static int load_facts(struct db *db, int64_t order_id, struct facts *f)
{
	sqlite3_stmt *st = db_prepare(db,
	    "SELECT o.total,"
	    " COALESCE(SUM(CASE WHEN p.kind = 'capture' AND p.status = 'succeeded' THEN p.amount END), 0),"
	    " COALESCE(SUM(CASE WHEN p.kind = 'refund' AND p.status <> 'failed' THEN p.amount END), 0),"
	    " COALESCE(SUM(CASE WHEN p.kind = 'capture' AND p.status <> 'failed' THEN p.amount END), 0),"
	    " COALESCE(SUM(CASE WHEN p.kind = 'refund' AND p.status = 'succeeded' THEN p.amount END), 0),"
	    /* A capture in flight uses the authorization; a void frees it only
	     * once the gateway confirmed it; a capture that succeeded closes
	     * it (a partial capture releases the rest, as gateways do). */
	    " (SELECT COALESCE(SUM(CASE WHEN EXISTS (SELECT 1 FROM payments c WHERE"
	    "     c.parent_id = a.id AND c.kind = 'capture' AND c.status = 'succeeded') THEN 0"
	    "   ELSE a.amount - (SELECT COALESCE(SUM(c.amount), 0) FROM payments c WHERE"
	    "     c.parent_id = a.id AND ((c.kind = 'capture' AND c.status <> 'failed') OR"
	    "     (c.kind = 'void' AND c.status = 'succeeded'))) END), 0)"
	    "  FROM payments a WHERE a.order_id = o.id AND a.kind = 'authorization'"
	    "  AND a.status <> 'failed')"
	    " FROM orders o LEFT JOIN payments p ON p.order_id = o.id"
	    " WHERE o.id = ? GROUP BY o.id");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, order_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		f->total = sqlite3_column_int64(st, 0);
		f->captured = sqlite3_column_int64(st, 1);
		f->refund_hold = sqlite3_column_int64(st, 2);
		f->capture_hold = sqlite3_column_int64(st, 3);
		f->auth_open = sqlite3_column_int64(st, 5);
		f->refunded = sqlite3_column_int64(st, 4);
		/* What the total no longer needs: captures less succeeded
		 * refunds. Lines canceled and refunded lower the total, and a
		 * later edit that raises it again is owed only the difference. */
		f->covered = f->capture_hold - f->refunded;

	}
	db_reset(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

/*
 * The newest succeeded payment of `kind` through `gateway` with something
 * left: for an authorization, what captures and voids have not used; for a
 * capture, what refunds have not. Pending children count as used.
 * @return 1 found, 0 none, -1 database error.
 */
static int find_parent(struct db *db, int64_t order_id, const char *kind,
    const char *gateway, int64_t *id, int64_t *left, int *pending_children,
    char *ref, size_t reflen)
{
	sqlite3_stmt *st = db_prepare(db,
	    "SELECT p.id, CASE WHEN p.kind = 'authorization' AND EXISTS (SELECT 1 FROM payments c"
	    "   WHERE c.parent_id = p.id AND c.kind = 'capture' AND c.status = 'succeeded') THEN 0"
	    " ELSE p.amount - COALESCE((SELECT SUM(c.amount) FROM payments c"
	    "   WHERE c.parent_id = p.id AND c.status <> 'failed'), 0) END,"
	    " (SELECT COUNT(*) FROM payments c WHERE c.parent_id = p.id AND c.status = 'pending'),"
	    " p.reference"
	    " FROM payments p WHERE p.order_id = ? AND p.kind = ? AND p.gateway = ?"
	    "  AND p.status = 'succeeded' ORDER BY p.id DESC");
	int rc, found = 0;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, order_id);
	db_bind_text(st, 2, kind);
	db_bind_text(st, 3, gateway);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (sqlite3_column_int64(st, 1) <= 0)
			continue;
		*id = sqlite3_column_int64(st, 0);
		*left = sqlite3_column_int64(st, 1);
		*pending_children = sqlite3_column_int(st, 2);
		snprintf(ref, reflen, "%s", sqlite3_column_type(st, 3) == SQLITE_NULL ? ""
		    : (const char *)sqlite3_column_text(st, 3));
		found = 1;
		break;
	}
	db_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? found : -1;
}

int payments_begin(struct db *db, const char *merchant, const char *gateway,
    int64_t order_id, enum pay_op op, int64_t amount, const char *reason,
    int64_t event_id, struct payment_plan *out, char *err)
{
	sqlite3_stmt *st;
	struct facts f;
	char a[64], b[64], msg[256], status[16] = "";
	int64_t parent = 0, left = 0;
	int rc, pending = 0;

	memset(out, 0, sizeof *out);
	if (op < 0 || op >= PAY_OP_COUNT)
		return fail(err, "unknown payment operation");
	st = db_prepare(db, "SELECT currency, status FROM orders WHERE id = ? AND merchant = ?");
	if (st == NULL)
		return db_fail(db, err);
	sqlite3_bind_int64(st, 1, order_id);
	db_bind_text(st, 2, merchant);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(out->currency, sizeof out->currency, "%s", (const char *)sqlite3_column_text(st, 0));
		snprintf(status, sizeof status, "%s", (const char *)sqlite3_column_text(st, 1));
	}
	db_reset(st);
	if (rc == SQLITE_DONE)
		return fail(err, "order %" PRId64 " not found", order_id);
	if (rc != SQLITE_ROW || load_facts(db, order_id, &f) != 0)
		return db_fail(db, err);
	if (amount == 0 || amount < -1)
		return fail(err, "%s amount must be a positive number of minor units, got %" PRId64,
		    op_names[op], amount);

	switch (op) {
	case PAY_AUTHORIZE: {
		int64_t room = f.total - f.covered - f.auth_open;

		if (strcmp(status, "canceled") == 0)
			return fail(err, "order %" PRId64 " is canceled; nothing to authorize", order_id);
		if (amount < 0)
			amount = room;
		if (room <= 0)
			return fail(err, "order %" PRId64 " has nothing left to authorize (total %s,"
			    " captured or authorized %s)", order_id, show(f.total, out->currency, a, sizeof a),
			    show(f.covered + f.auth_open, out->currency, b, sizeof b));
		if (amount > room)
			return fail(err, "authorization of %s is more than the %s not yet captured"
			    " or authorized", show(amount, out->currency, a, sizeof a),
			    show(room, out->currency, b, sizeof b));
		break;
	}
	case PAY_CAPTURE:
	case PAY_VOID:
		if (op == PAY_CAPTURE && strcmp(status, "canceled") == 0)
			return fail(err, "order %" PRId64 " is canceled; void its authorization instead"
			    " of capturing it", order_id);
		rc = find_parent(db, order_id, "authorization", gateway, &parent, &left, &pending,
		    out->reference, sizeof out->reference);
		if (rc < 0)
			return db_fail(db, err);
		if (rc == 0)
			return fail(err, "order %" PRId64 " has no successful %s authorization with"
			    " anything left to %s", order_id, gateway, op_names[op]);
		if (op == PAY_VOID) {
			if (pending > 0)
				return fail(err, "order %" PRId64 ": a capture of its authorization is"
				    " still pending; void after it settles", order_id);
			if (amount >= 0 && amount != left)
				return fail(err, "a void releases the whole %s left on the authorization",
				    show(left, out->currency, a, sizeof a));
			amount = left;
		} else {
			/* By default what the authorization has left, but never more
			 * than the total still needs: an order whose lines were
			 * canceled while only authorized is captured for less. */
			if (amount < 0)
				amount = left < f.total - f.covered ? left : f.total - f.covered;
			if (amount <= 0)
				return fail(err, "order %" PRId64 " has nothing left to capture (total %s,"
				    " captured %s)", order_id, show(f.total, out->currency, a, sizeof a),
				    show(f.covered, out->currency, b, sizeof b));
			if (amount > left)
				return fail(err, "capture of %s is more than the %s authorized and not yet"
				    " captured", show(amount, out->currency, a, sizeof a),
				    show(left, out->currency, b, sizeof b));
			if (amount > f.total - f.covered)
				return fail(err, "capture of %s is more than the %s still outstanding",
				    show(amount, out->currency, a, sizeof a),
				    show(f.total - f.covered, out->currency, b, sizeof b));
		}
		break;
	case PAY_REFUND:
		if (amount < 0)
			return fail(err, "a refund needs an amount");
		if (amount > f.captured - f.refund_hold)
			return fail(err, "refund of %s is more than the %s captured and not yet refunded",
			    show(amount, out->currency, a, sizeof a),
			    show(f.captured - f.refund_hold, out->currency, b, sizeof b));
		rc = find_parent(db, order_id, "capture", gateway, &parent, &left, &pending,
		    out->reference, sizeof out->reference);
		if (rc < 0)
			return db_fail(db, err);
		if (rc == 0)
			return fail(err, "order %" PRId64 " has no %s capture left to refund (a"
			    " storefront's own capture is refunded on the storefront)", order_id, gateway);
		if (amount > left)
			return fail(err, "refund of %s is more than the %s left on the latest %s capture",
			    show(amount, out->currency, a, sizeof a), show(left, out->currency, b, sizeof b),
			    gateway);
		break;
	default:
		break;
	}

	st = db_prepare(db, "INSERT INTO payments (order_id, kind, amount, currency, status, gateway,"
	    " event_id, created_at, updated_at, parent_id, error) VALUES"
	    " (?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?) RETURNING id");
	if (st == NULL)
		return db_fail(db, err);
	sqlite3_bind_int64(st, 1, order_id);
	db_bind_text(st, 2, op_kinds[op]);
	sqlite3_bind_int64(st, 3, amount);
	db_bind_text(st, 4, out->currency);
	db_bind_text(st, 5, gateway);
	if (event_id > 0)
		sqlite3_bind_int64(st, 6, event_id);
	sqlite3_bind_int64(st, 7, clock_now_ms());
	sqlite3_bind_int64(st, 8, clock_now_ms());
	if (parent > 0)
		sqlite3_bind_int64(st, 9, parent);
	db_bind_text(st, 10, NULL);
	out->payment_id = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	db_reset(st);
	if (out->payment_id < 0)
		return db_fail(db, err);
	out->order_id = order_id;
	out->amount = amount;
	snprintf(msg, sizeof msg, "%s of %s requested from %s%s%s", op_kinds[op],
	    show(amount, out->currency, a, sizeof a), gateway,
	    reason && reason[0] ? ": " : "", reason ? reason : "");
	if (orders_history(db, order_id, event_id, "payment", NULL, op_kinds[op], msg) != 0)
		return db_fail(db, err);
	return 0;
}

int payments_balance(struct db *db, const char *merchant, int64_t order_id,
    struct payment_balance *out, char *err)
{
	struct facts f;
	int owned = orders_owned(db, merchant, order_id);

	memset(out, 0, sizeof *out);
	if (owned <= 0)
		return owned < 0 ? db_fail(db, err) : fail(err, "order %" PRId64 " not found", order_id);
	if (load_facts(db, order_id, &f) != 0)
		return db_fail(db, err);
	out->total = f.total;
	out->paid = f.capture_hold - f.refund_hold;
	out->authorized = f.auth_open;
	out->due = f.total - f.covered - f.auth_open;
	return 0;
}

int payments_settle(struct db *db, const char *merchant, int64_t payment_id,
    int ok, const char *reference, const char *error, int64_t event_id, char *err)
{
	sqlite3_stmt *st = db_prepare(db,
	    "SELECT p.order_id, p.kind, p.amount, p.currency, p.status, p.gateway"
	    " FROM payments p JOIN orders o ON o.id = p.order_id"
	    " WHERE p.id = ? AND o.merchant = ?");
	char kind[16] = "", currency[8] = "", status[16] = "", gateway[80] = "";
	char a[64], msg[512];
	int64_t order_id = 0, amount = 0;
	int rc;

	if (st == NULL)
		return db_fail(db, err);
	sqlite3_bind_int64(st, 1, payment_id);
	db_bind_text(st, 2, merchant);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		order_id = sqlite3_column_int64(st, 0);
		snprintf(kind, sizeof kind, "%s", (const char *)sqlite3_column_text(st, 1));
		amount = sqlite3_column_int64(st, 2);
		snprintf(currency, sizeof currency, "%s", (const char *)sqlite3_column_text(st, 3));
		snprintf(status, sizeof status, "%s", (const char *)sqlite3_column_text(st, 4));
		snprintf(gateway, sizeof gateway, "%s", (const char *)sqlite3_column_text(st, 5));
	}
	db_reset(st);
	if (rc == SQLITE_DONE)
		return fail(err, "payment %" PRId64 " not found", payment_id);
	if (rc != SQLITE_ROW)
		return db_fail(db, err);
	if (strcmp(status, "pending") != 0)
		return 0;
	st = db_prepare(db, "UPDATE payments SET status = ?, reference = COALESCE(?, reference),"
	    " error = ?, updated_at = ? WHERE id = ?");
	if (st == NULL)
		return db_fail(db, err);
	db_bind_text(st, 1, ok ? "succeeded" : "failed");
	db_bind_text(st, 2, reference && reference[0] ? reference : NULL);
	db_bind_text(st, 3, ok ? NULL : (error ? error : "declined"));
	sqlite3_bind_int64(st, 4, clock_now_ms());
	sqlite3_bind_int64(st, 5, payment_id);
	if (db_step_done(st) != 0)
		return db_fail(db, err);
	snprintf(msg, sizeof msg, "%s of %s %s via %s%s%s", kind, show(amount, currency, a, sizeof a),
	    ok ? "succeeded" : "failed", gateway, ok ? "" : ": ",
	    ok ? "" : (error ? error : "declined"));
	if (orders_history(db, order_id, event_id, "payment", NULL, kind, msg) != 0 ||
	    orders_refresh(db, order_id, event_id) != 0)
		return db_fail(db, err);
	return 1;
}

json_t *payments_get(struct db *db, const char *merchant, int64_t payment_id,
    int64_t *order_id)
{
	sqlite3_stmt *st = db_prepare(db,
	    "SELECT p.id, p.order_id, p.kind, p.amount, p.currency, p.status, p.gateway,"
	    " p.reference, p.error, p.parent_id"
	    " FROM payments p JOIN orders o ON o.id = p.order_id WHERE p.id = ? AND o.merchant = ?");
	json_t *p = NULL;

	if (st == NULL)
		return NULL;
	sqlite3_bind_int64(st, 1, payment_id);
	db_bind_text(st, 2, merchant);
	if (sqlite3_step(st) == SQLITE_ROW) {
		const char *ref = (const char *)sqlite3_column_text(st, 7);
		const char *e = (const char *)sqlite3_column_text(st, 8);

		if (order_id)
			*order_id = sqlite3_column_int64(st, 1);
		p = json_pack("{s:I,s:I,s:s,s:I,s:s,s:s,s:s}",
		    "id", (json_int_t)sqlite3_column_int64(st, 0),
		    "order_id", (json_int_t)sqlite3_column_int64(st, 1),
		    "kind", (const char *)sqlite3_column_text(st, 2),
		    "amount", (json_int_t)sqlite3_column_int64(st, 3),
		    "currency", (const char *)sqlite3_column_text(st, 4),
		    "status", (const char *)sqlite3_column_text(st, 5),
		    "gateway", (const char *)sqlite3_column_text(st, 6));
		if (p != NULL && ref != NULL)
			json_object_set_new(p, "reference", json_string(ref));
		if (p != NULL && e != NULL)
			json_object_set_new(p, "error", json_string(e));
	}
	db_reset(st);
	return p;
}
