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
/* Money facts of one order; pending rows count as if they will succeed,
 * because a limit must hold whatever the gateway answers. */
struct facts {
	int64_t total, captured;   /* captured: succeeded, any gateway */
	int64_t need;              /* what the order still needs paid: its total,
	                              0 once it is canceled */
	int64_t refund_hold;       /* refunds succeeded or pending */
	int64_t capture_hold;      /* captures succeeded or pending */
	int64_t capturing;         /* captures pending */
	int64_t for_total;         /* of the refunds succeeded or pending, what was
	                              given back because the total came down */
	int64_t covered;           /* capture_hold - for_total: paid toward the total */
	int64_t auth_open;         /* authorizations pending or succeeded that no
	                              capture (pending or succeeded) closed, minus
	                              what voids confirmed */
	int64_t auth_pending;      /* authorizations still on their way */
	int64_t auth_free;         /* what open authorizations (succeeded, no capture,
	                              no void asked) hold: a capture or void can take it */
};

/* SQL: a capture, in flight or done, took authorization `a` (an alias).
 * Such an authorization holds nothing any more: a partial capture
 * releases the rest, as gateways do. */
#define CAPTURED(a) "EXISTS (SELECT 1 FROM payments c WHERE c.parent_id = " a ".id" \
	" AND c.kind = 'capture' AND c.status <> 'failed')"

static int load_facts(struct db *db, int64_t order_id, struct facts *f)
{
	sqlite3_stmt *st = db_prepare(db,
	    "SELECT o.total, o.status = 'canceled',"
	    " COALESCE(SUM(CASE WHEN p.kind = 'capture' AND p.status = 'succeeded' THEN p.amount END), 0),"
	    " COALESCE(SUM(CASE WHEN p.kind = 'refund' AND p.status <> 'failed' THEN p.amount END), 0),"
	    " COALESCE(SUM(CASE WHEN p.kind = 'capture' AND p.status <> 'failed' THEN p.amount END), 0),"
	    " COALESCE(SUM(CASE WHEN p.kind = 'capture' AND p.status = 'pending' THEN p.amount END), 0),"
	    " COALESCE(SUM(CASE WHEN p.kind = 'refund' AND p.status <> 'failed' THEN p.for_total END), 0),"
	    " COALESCE(SUM(CASE WHEN p.kind = 'authorization' AND p.status = 'pending' THEN p.amount END), 0),"
	    /* A capture, in flight or done, closes its authorization (a
	     * partial capture releases the rest, as gateways do); a void frees
	     * it only once the gateway confirmed it. */
	    " (SELECT COALESCE(SUM(CASE WHEN " CAPTURED("a") " THEN 0"
	    "   ELSE a.amount - (SELECT COALESCE(SUM(c.amount), 0) FROM payments c WHERE"
	    "     c.parent_id = a.id AND c.kind = 'void' AND c.status = 'succeeded') END), 0)"
	    "  FROM payments a WHERE a.order_id = o.id AND a.kind = 'authorization'"
	    "  AND a.status <> 'failed'),"
	    " (SELECT COALESCE(SUM(CASE WHEN " CAPTURED("a") " THEN 0"
	    "   ELSE MAX(a.amount - (SELECT COALESCE(SUM(c.amount), 0) FROM payments c WHERE"
	    "     c.parent_id = a.id AND c.status <> 'failed'), 0) END), 0)"
	    "  FROM payments a WHERE a.order_id = o.id AND a.kind = 'authorization'"
	    "  AND a.status = 'succeeded')"
	    " FROM orders o LEFT JOIN payments p ON p.order_id = o.id"
	    " WHERE o.id = ? GROUP BY o.id");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, order_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		f->total = sqlite3_column_int64(st, 0);
		f->need = sqlite3_column_int(st, 1) ? 0 : f->total;
		f->captured = sqlite3_column_int64(st, 2);
		f->refund_hold = sqlite3_column_int64(st, 3);
		f->capture_hold = sqlite3_column_int64(st, 4);
		f->capturing = sqlite3_column_int64(st, 5);
		f->for_total = sqlite3_column_int64(st, 6);
		f->auth_pending = sqlite3_column_int64(st, 7);
		f->auth_open = sqlite3_column_int64(st, 8);
		f->auth_free = sqlite3_column_int64(st, 9);
		/* What the total has: captures less what was refunded because
		 * the total came down (canceled lines, edits). Other refunds (a
		 * goodwill gesture, a return) are the merchant's to give: they
		 * never make the total owed again. */
		f->covered = f->capture_hold - f->for_total;
	}
	db_reset(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

/* Of a refund of `amount` about to be recorded, the part that gives back
 * what was paid toward the total beyond what it now needs. */
static int64_t share_for_total(const struct facts *f, int64_t amount)
{
	int64_t over = f->covered - f->need;

	return over <= 0 ? 0 : over < amount ? over : amount;
}

int64_t payments_for_total(struct db *db, int64_t order_id, int64_t amount)
{
	struct facts f;

	if (load_facts(db, order_id, &f) != 0)
		return -1;
	return share_for_total(&f, amount);
}

/*
 * The newest succeeded payment of `kind` through `gateway` with something
 * left: for an authorization, what voids have not used, and nothing once a
 * capture (pending or succeeded) took it; for a capture, what refunds have
 * not. Pending children count as used.
 * @return 1 found, 0 none, -1 database error.
 */
static int find_parent(struct db *db, int64_t order_id, const char *kind,
    const char *gateway, int64_t *id, int64_t *left, int *pending_children,
    char *ref, size_t reflen)
{
	sqlite3_stmt *st = db_prepare(db,
	    "SELECT p.id, CASE WHEN p.kind = 'authorization' AND " CAPTURED("p") " THEN 0"
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

/* Insert the pending row of a request and its history line. */
static int record(struct db *db, int64_t order_id, enum pay_op op, int64_t amount,
    int64_t for_total, const char *gateway, int64_t parent, const char *reason,
    int64_t event_id, struct payment_plan *out, char *err)
{
	sqlite3_stmt *st;
	char a[64], msg[256];

	st = db_prepare(db, "INSERT INTO payments (order_id, kind, amount, currency, status, gateway,"
	    " event_id, created_at, updated_at, parent_id, error, for_total) VALUES"
	    " (?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?) RETURNING id");
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
	sqlite3_bind_int64(st, 11, for_total);
	out->payment_id = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	db_reset(st);
	if (out->payment_id < 0)
		return db_fail(db, err);
	out->order_id = order_id;
	out->amount = amount;
	out->op = op;
	snprintf(msg, sizeof msg, "%s of %s requested from %s%s%s", op_kinds[op],
	    money_show(amount, out->currency, a, sizeof a), gateway,
	    reason && reason[0] ? ": " : "", reason ? reason : "");
	if (orders_history(db, order_id, event_id, "payment", NULL, op_kinds[op], msg) != 0)
		return db_fail(db, err);
	return 0;
}

/* The order's currency, status and money facts, for `merchant` only. */
static int load_order(struct db *db, const char *merchant, int64_t order_id, char *currency,
    size_t clen, char *status, size_t slen, struct facts *f, char *err)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT currency, status FROM orders WHERE id = ?"
	    " AND merchant = ?");
	int rc;

	if (st == NULL)
		return db_fail(db, err);
	sqlite3_bind_int64(st, 1, order_id);
	db_bind_text(st, 2, merchant);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(currency, clen, "%s", (const char *)sqlite3_column_text(st, 0));
		snprintf(status, slen, "%s", (const char *)sqlite3_column_text(st, 1));
	}
	db_reset(st);
	if (rc == SQLITE_DONE)
		return fail(err, "order %" PRId64 " not found", order_id);
	if (rc != SQLITE_ROW || load_facts(db, order_id, f) != 0)
		return db_fail(db, err);
	return 0;
}

int payments_begin(struct db *db, const char *merchant, const char *gateway,
    int64_t order_id, enum pay_op op, int64_t amount, const char *reason,
    int64_t event_id, struct payment_plan *out, char *err)
{
	struct facts f;
	char a[64], b[64], status[16] = "";
	int64_t parent = 0, left = 0, for_total = 0, owed;
	int rc, pending = 0;

	memset(out, 0, sizeof *out);
	if (op < 0 || op >= PAY_OP_COUNT)
		return fail(err, "unknown payment operation");
	if (load_order(db, merchant, order_id, out->currency, sizeof out->currency, status,
	    sizeof status, &f, err) != 0)
		return -1;
	if (amount == 0 || amount < -1)
		return fail(err, "%s amount must be a positive number of minor units, got %" PRId64,
		    op_names[op], amount);
	owed = f.need - f.covered;

	switch (op) {
	case PAY_AUTHORIZE: {
		int64_t room = owed - f.auth_open;

		if (strcmp(status, "canceled") == 0)
			return fail(err, "order %" PRId64 " is canceled; nothing to authorize", order_id);
		if (amount < 0)
			amount = room;
		if (room <= 0)
			return fail(err, "order %" PRId64 " has nothing left to authorize (total %s,"
			    " captured or authorized %s)", order_id, money_show(f.total, out->currency, a, sizeof a),
			    money_show(f.covered + f.auth_open, out->currency, b, sizeof b));
		if (amount > room)
			return fail(err, "authorization of %s is more than the %s not yet captured"
			    " or authorized", money_show(amount, out->currency, a, sizeof a),
			    money_show(room, out->currency, b, sizeof b));
		break;
	}
	case PAY_CAPTURE:
	case PAY_VOID:
		if (op == PAY_CAPTURE && amount >= 0 && strcmp(status, "canceled") == 0)
			return fail(err, "order %" PRId64 " is canceled; void its authorization instead"
			    " of capturing it", order_id);
		rc = find_parent(db, order_id, "authorization", gateway, &parent, &left, &pending,
		    out->reference, sizeof out->reference);
		if (rc < 0)
			return db_fail(db, err);
		if (rc == 0)
			return fail(err, "order %" PRId64 " has no successful %s authorization with"
			    " anything left to %s%s", order_id, gateway, op_names[op],
			    f.capturing > 0 ? " (a capture of it is still pending)" : "");
		/* The default capture takes what the order still owes. When it
		 * owes nothing (paid in full meanwhile, or canceled), holding the
		 * customer's money any longer is wrong: void it instead. */
		if (op == PAY_CAPTURE && amount < 0 && owed <= 0)
			op = PAY_VOID;
		if (op == PAY_VOID) {
			if (amount >= 0 && amount != left)
				return fail(err, "a void releases the whole %s left on the authorization",
				    money_show(left, out->currency, a, sizeof a));
			amount = left;
		} else {
			/* By default what the authorization has left, but never more
			 * than the total still needs: an order whose lines were
			 * canceled while only authorized is captured for less (the
			 * gateway releases the rest). */
			if (amount < 0)
				amount = left < owed ? left : owed;
			if (amount > left)
				return fail(err, "capture of %s is more than the %s authorized and not yet"
				    " captured", money_show(amount, out->currency, a, sizeof a),
				    money_show(left, out->currency, b, sizeof b));
			if (amount > owed)
				return fail(err, "capture of %s is more than the %s still outstanding",
				    money_show(amount, out->currency, a, sizeof a),
				    money_show(owed > 0 ? owed : 0, out->currency, b, sizeof b));
		}
		break;
	case PAY_REFUND:
		if (amount < 0)
			return fail(err, "a refund needs an amount");
		if (amount > f.captured - f.refund_hold)
			return fail(err, "refund of %s is more than the %s captured and not yet refunded",
			    money_show(amount, out->currency, a, sizeof a),
			    money_show(f.captured - f.refund_hold, out->currency, b, sizeof b));
		rc = find_parent(db, order_id, "capture", gateway, &parent, &left, &pending,
		    out->reference, sizeof out->reference);
		if (rc < 0)
			return db_fail(db, err);
		if (rc == 0)
			return fail(err, "order %" PRId64 " has no %s capture left to refund (a"
			    " storefront's own capture is refunded on the storefront)", order_id, gateway);
		if (amount > left)
			return fail(err, "refund of %s is more than the %s left on the latest %s capture",
			    money_show(amount, out->currency, a, sizeof a), money_show(left, out->currency, b, sizeof b),
			    gateway);
		for_total = share_for_total(&f, amount);
		break;
	default:
		break;
	}
	return record(db, order_id, op, amount, for_total, gateway, parent, reason, event_id, out,
	    err);
}

int payments_release(struct db *db, const char *merchant, const char *gateway,
    int64_t order_id, int all, const char *reason, int64_t event_id,
    struct payment_plan *out, int max, char *err)
{
	sqlite3_stmt *st;
	struct facts f;
	struct { int64_t id, left; char ref[128]; } open[PAY_MAX_RELEASE];
	char currency[8], status[16];
	int64_t held = 0, owed;
	int n = 0, planned = 0, rc;

	if (load_order(db, merchant, order_id, currency, sizeof currency, status, sizeof status,
	    &f, err) != 0)
		return -1;
	/* Open: succeeded, no capture took it, something left no void asked for. */
	st = db_prepare(db, "SELECT p.id, p.amount - COALESCE((SELECT SUM(c.amount) FROM payments c"
	    "   WHERE c.parent_id = p.id AND c.status <> 'failed'), 0), COALESCE(p.reference, '')"
	    " FROM payments p WHERE p.order_id = ? AND p.kind = 'authorization' AND p.gateway = ?"
	    "  AND p.status = 'succeeded' AND NOT " CAPTURED("p")
	    " ORDER BY p.id DESC");
	if (st == NULL)
		return db_fail(db, err);
	sqlite3_bind_int64(st, 1, order_id);
	db_bind_text(st, 2, gateway);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < PAY_MAX_RELEASE) {
		if (sqlite3_column_int64(st, 1) <= 0)
			continue;
		open[n].id = sqlite3_column_int64(st, 0);
		open[n].left = sqlite3_column_int64(st, 1);
		snprintf(open[n].ref, sizeof open[n].ref, "%s", (const char *)sqlite3_column_text(st, 2));
		held += open[n].left;
		n++;
	}
	db_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_fail(db, err);
	/* What the open ones must still cover: the order's debt less what
	 * authorizations on their way ask for (their answer's handler
	 * captures or voids them). */
	owed = f.need - f.covered - f.auth_pending;
	for (int i = 0; i < n && planned < max; i++) {
		if (!all && held - open[i].left < owed)
			continue;
		memset(&out[planned], 0, sizeof out[planned]);
		snprintf(out[planned].currency, sizeof out[planned].currency, "%s", currency);
		snprintf(out[planned].reference, sizeof out[planned].reference, "%s", open[i].ref);
		if (record(db, order_id, PAY_VOID, open[i].left, 0, gateway, open[i].id, reason,
		    event_id, &out[planned], err) != 0)
			return -1;
		held -= open[i].left;
		planned++;
	}
	return planned;
}

int payments_balance(struct db *db, const char *merchant, const char *gateway,
    int64_t order_id, struct payment_balance *out, char *err)
{
	struct facts f;
	sqlite3_stmt *st;
	int64_t left_back, ours = 0;
	char currency[8], status[16];

	memset(out, 0, sizeof *out);
	if (load_order(db, merchant, order_id, currency, sizeof currency, status, sizeof status,
	    &f, err) != 0)
		return -1;
	if (gateway != NULL) {
		st = db_prepare(db, "SELECT COALESCE(SUM(p.amount - (SELECT COALESCE(SUM(r.amount), 0)"
		    "   FROM payments r WHERE r.parent_id = p.id AND r.kind = 'refund'"
		    "   AND r.status <> 'failed')), 0)"
		    " FROM payments p WHERE p.order_id = ? AND p.kind = 'capture'"
		    "  AND p.status = 'succeeded' AND p.gateway = ?");
		if (st == NULL)
			return db_fail(db, err);
		sqlite3_bind_int64(st, 1, order_id);
		db_bind_text(st, 2, gateway);
		ours = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
		db_reset(st);
		if (ours < 0)
			return db_fail(db, err);
	}
	left_back = f.captured - f.refund_hold;     /* what can be given back at all */
	out->total = f.total;
	out->paid = f.capture_hold - f.refund_hold;
	out->authorized = f.auth_open;
	out->due = f.need - f.covered - f.auth_open;
	out->capturing = f.capturing;
	out->open = f.auth_free;
	out->refundable = ours < left_back ? ours : left_back;
	if (out->refundable < 0)
		out->refundable = 0;
	/* Paid toward the total beyond what it needs, as far as the money
	 * taken (landed or in flight) was not given back some other way. */
	out->over = f.covered - f.need;
	if (out->over > f.capture_hold - f.refund_hold)
		out->over = f.capture_hold - f.refund_hold;
	if (out->over < 0)
		out->over = 0;
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
	snprintf(msg, sizeof msg, "%s of %s %s via %s%s%s", kind, money_show(amount, currency, a, sizeof a),
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
