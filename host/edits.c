/*
 * edits — canceled units and order edits (see edits.h). Depends on db,
 * orders (history, refresh), money (formatting), config. Never moves stock
 * or money itself: it only changes the lines and totals the workflow then
 * acts on.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ordo/clock.h"
#include "ordo/config.h"
#include "ordo/db.h"
#include "ordo/edits.h"
#include "ordo/money.h"
#include "ordo/orders.h"

#define MAX_LINES 1000
#define MAX_QUANTITY 1000000
#define MAX_AMOUNT INT64_C(1000000000000000) /* 10^15 minor units, as orders.c */

static int fail(char *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, EDITS_ERRLEN, fmt, ap);
	va_end(ap);
	return code;
}

static int db_fail(struct db *db, char *err)
{
	return fail(err, EDITS_EDB, "database error: %s", db_errmsg(db));
}

struct eline {
	int64_t no, qty, canceled, fulfilled, unit, total, open;
	int dropship;
	char sku[256];
};

struct eorder {
	char status[16], currency[8];
	int64_t total;
	struct eline *lines;
	int n;
};

/* The order and its lines, with the units each has in open shipments.
 * @return 0, or an EDITS_E* code with err (o->lines freed by the caller). */
static int load(struct db *db, const char *merchant, int64_t order_id, struct eorder *o,
    char *err)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT status, currency, total FROM orders WHERE id = ?"
	    " AND merchant = ?");
	int rc;

	memset(o, 0, sizeof *o);
	if (st == NULL)
		return db_fail(db, err);
	sqlite3_bind_int64(st, 1, order_id);
	db_bind_text(st, 2, merchant);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(o->status, sizeof o->status, "%s", (const char *)sqlite3_column_text(st, 0));
		snprintf(o->currency, sizeof o->currency, "%s", (const char *)sqlite3_column_text(st, 1));
		o->total = sqlite3_column_int64(st, 2);
	}
	db_reset(st);
	if (rc == SQLITE_DONE)
		return fail(err, EDITS_ENOTFOUND, "no order %" PRId64, order_id);
	if (rc != SQLITE_ROW)
		return db_fail(db, err);
	if ((o->lines = calloc(MAX_LINES, sizeof *o->lines)) == NULL)
		return fail(err, EDITS_EDB, "out of memory");
	st = db_prepare(db, "SELECT l.line_no, COALESCE(l.sku, ''), l.quantity, l.canceled_quantity,"
	    " l.fulfilled_quantity, l.unit_price, l.total, l.fulfillment = 'dropship',"
	    " (SELECT COALESCE(SUM(sl.quantity), 0) FROM shipment_lines sl JOIN shipments s"
	    "   ON s.id = sl.shipment_id WHERE s.order_id = l.order_id AND sl.line_no = l.line_no"
	    "   AND s.status IN ('pending','picked','packed'))"
	    " FROM order_lines l WHERE l.order_id = ? ORDER BY l.line_no");
	if (st == NULL)
		return db_fail(db, err);
	sqlite3_bind_int64(st, 1, order_id);
	while (o->n < MAX_LINES && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct eline *l = &o->lines[o->n++];

		l->no = sqlite3_column_int64(st, 0);
		snprintf(l->sku, sizeof l->sku, "%s", (const char *)sqlite3_column_text(st, 1));
		l->qty = sqlite3_column_int64(st, 2);
		l->canceled = sqlite3_column_int64(st, 3);
		l->fulfilled = sqlite3_column_int64(st, 4);
		l->unit = sqlite3_column_int64(st, 5);
		l->total = sqlite3_column_int64(st, 6);
		l->dropship = sqlite3_column_int(st, 7);
		l->open = sqlite3_column_int64(st, 8);
	}
	db_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_fail(db, err);
}

static struct eline *find(struct eorder *o, int64_t no)
{
	for (int i = 0; i < o->n; i++)
		if (o->lines[i].no == no)
			return &o->lines[i];
	return NULL;
}

/* Units of a line not shipped and not canceled. */
static int64_t active(const struct eline *l)
{
	return l->qty - l->canceled - l->fulfilled;
}

/* The value of q of the line's uncanceled units: all of the total for all
 * of them, else its share, rounded down (128-bit: 10^15 x 10^6 overflows). */
static int64_t share(const struct eline *l, int64_t q)
{
	int64_t n = l->qty - l->canceled;

	if (q >= n)
		return l->total;
	return (int64_t)((__int128)l->total * q / n);
}

/* The checks every cancel of q units of line l passes. `what` names the
 * entry ("lines[2]"). @return 0 or a code with err. */
static int check_cancel(const struct eline *l, int64_t q, const char *what, char *err)
{
	if (l->dropship)
		return fail(err, EDITS_ECONFLICT, "%s: line %" PRId64 " is drop-shipped by a supplier;"
		    " it cannot be canceled here", what, l->no);
	if (active(l) == 0 && l->canceled == 0)
		return fail(err, EDITS_ECONFLICT, "%s: line %" PRId64 " has shipped; return it instead",
		    what, l->no);
	if (active(l) == 0 && l->fulfilled == 0)
		return fail(err, EDITS_ECONFLICT, "%s: line %" PRId64 " is already canceled", what, l->no);
	if (active(l) == 0)
		return fail(err, EDITS_ECONFLICT, "%s: line %" PRId64 " has no unit left to cancel (%"
		    PRId64 " shipped, %" PRId64 " canceled)", what, l->no, l->fulfilled, l->canceled);
	if (q > active(l))
		return fail(err, EDITS_EINVALID, "%s: line %" PRId64 " has %" PRId64 " unit%s not"
		    " shipped or canceled; cannot cancel %" PRId64, what, l->no, active(l),
		    active(l) == 1 ? "" : "s", q);
	if (q > active(l) - l->open)
		return fail(err, EDITS_ECONFLICT, "%s: %" PRId64 " unit%s of line %" PRId64 " %s packed"
		    " into an open shipment; cancel the shipment first", what, l->open,
		    l->open == 1 ? "" : "s", l->no, l->open == 1 ? "is" : "are");
	return 0;
}

/* Take q units' value off line l: canceled units counted, the total
 * lowered. @return the amount, or -1. */
static int64_t cancel_units(struct db *db, int64_t order_id, struct eline *l, int64_t q)
{
	int64_t amount = share(l, q);
	sqlite3_stmt *st = db_prepare(db, "UPDATE order_lines SET canceled_quantity ="
	    " canceled_quantity + ?, total = total - ? WHERE order_id = ? AND line_no = ?");

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, q);
	sqlite3_bind_int64(st, 2, amount);
	sqlite3_bind_int64(st, 3, order_id);
	sqlite3_bind_int64(st, 4, l->no);
	if (db_step_done(st) != 0)
		return -1;
	l->canceled += q;
	l->total -= amount;
	return amount;
}

/* Move the order's subtotal and total by delta (the total never below 0).
 * @return the new total, or -1. */
static int64_t move_total(struct db *db, int64_t order_id, int64_t delta)
{
	sqlite3_stmt *st = db_prepare(db, "UPDATE orders SET subtotal = subtotal + ?1,"
	    " total = MAX(total + ?1, 0), updated_at = ?2 WHERE id = ?3 RETURNING total");
	int64_t total = -1;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, delta);
	sqlite3_bind_int64(st, 2, clock_now_ms());
	sqlite3_bind_int64(st, 3, order_id);
	if (sqlite3_step(st) == SQLITE_ROW)
		total = sqlite3_column_int64(st, 0);
	db_reset(st);
	return total;
}

/* A whole number field. @return 1 set, 0 absent, -1 not an integer. */
static int member(const json_t *obj, const char *key, int64_t *out)
{
	const json_t *v = json_object_get(obj, key);

	if (v == NULL)
		return 0;
	if (!json_is_integer(v))
		return -1;
	*out = json_integer_value(v);
	return 1;
}

/* ------------------------------------------------------------------ */
/* Canceling units                                                     */
/* ------------------------------------------------------------------ */

int edits_cancel_lines(struct db *db, const struct merchant_config *m, int64_t order_id,
    const json_t *lines, const char *reason, int dry, int64_t event_id, json_t **out, char *err)
{
	struct eorder o;
	struct { int64_t line, qty; } want[64];
	json_t *res = NULL, *done = NULL;
	int64_t left = 0, shipped = 0, sum = 0, total;
	size_t i, n;
	char what[32], a[64], msg[700];
	int rc;

	if (out)
		*out = NULL;
	if (!json_is_array(lines) || (n = json_array_size(lines)) == 0 || n > 64)
		return fail(err, EDITS_EINPUT, "lines must be a list of 1 to 64 {\"line\": n,"
		    " \"quantity\": q}");
	for (i = 0; i < n; i++) {
		const json_t *e = json_array_get(lines, i);

		if (!json_is_object(e) || member(e, "line", &want[i].line) != 1 ||
		    member(e, "quantity", &want[i].qty) != 1)
			return fail(err, EDITS_EINPUT, "lines[%zu]: give {\"line\": n, \"quantity\": q}"
			    " as whole numbers", i);
		if (want[i].qty <= 0 || want[i].qty > MAX_QUANTITY)
			return fail(err, EDITS_EINVALID, "lines[%zu]: quantity must be from 1 to %d", i,
			    MAX_QUANTITY);
		for (size_t k = 0; k < i; k++)
			if (want[k].line == want[i].line)
				return fail(err, EDITS_EINVALID, "lines[%zu]: line %" PRId64 " is given twice"
				    " (also lines[%zu])", i, want[i].line, k);
	}
	if ((rc = load(db, m->id, order_id, &o, err)) != 0)
		goto out;
	if (strcmp(o.status, "canceled") == 0) {
		rc = fail(err, EDITS_ECONFLICT, "order %" PRId64 " is already canceled", order_id);
		goto out;
	}
	for (i = 0; i < n; i++) {
		struct eline *l = find(&o, want[i].line);

		snprintf(what, sizeof what, "lines[%zu]", i);
		if (l == NULL) {
			rc = fail(err, EDITS_EINVALID, "%s: order %" PRId64 " has no line %" PRId64, what,
			    order_id, want[i].line);
			goto out;
		}
		if ((rc = check_cancel(l, want[i].qty, what, err)) != 0)
			goto out;
	}
	for (int k = 0; k < o.n; k++) {
		left += active(&o.lines[k]);
		shipped += o.lines[k].fulfilled;
	}
	for (i = 0; i < n; i++)
		left -= want[i].qty;
	res = json_pack("{s:b,s:I,s:I,s:[]}", "all", left == 0 && shipped == 0, "amount",
	    (json_int_t)0, "total", (json_int_t)o.total, "lines");
	if (res == NULL) {
		rc = fail(err, EDITS_EDB, "out of memory");
		goto out;
	}
	if (dry || (left == 0 && shipped == 0))
		goto done;
	done = json_object_get(res, "lines");
	msg[0] = '\0';
	for (i = 0; i < n; i++) {
		struct eline *l = find(&o, want[i].line);
		int64_t amount = cancel_units(db, order_id, l, want[i].qty);
		size_t used = strlen(msg);

		if (amount < 0) {
			rc = db_fail(db, err);
			goto out;
		}
		sum += amount;
		json_array_append_new(done, json_pack("{s:I,s:s,s:I,s:I}", "line", (json_int_t)l->no,
		    "sku", l->sku, "quantity", (json_int_t)want[i].qty, "amount", (json_int_t)amount));
		snprintf(msg + used, sizeof msg - used, "%s%" PRId64 " x %.60s (line %" PRId64 ")",
		    i ? ", " : "Canceled ", want[i].qty, l->sku[0] ? l->sku : "(no SKU)", l->no);
	}
	if ((total = move_total(db, order_id, -sum)) < 0) {
		rc = db_fail(db, err);
		goto out;
	}
	{
		size_t used = strlen(msg);

		snprintf(msg + used, sizeof msg - used, "; total now %s%s%.200s",
		    money_show(total, o.currency, a, sizeof a), reason ? ": " : "", reason ? reason : "");
	}
	json_object_set_new(res, "amount", json_integer(sum));
	json_object_set_new(res, "total", json_integer(total));
	if (orders_history(db, order_id, event_id, "edit", NULL, "lines_canceled", msg) != 0 ||
	    orders_refresh(db, order_id, event_id) != 0) {
		rc = db_fail(db, err);
		goto out;
	}
done:
	if (out) {
		*out = res;
		res = NULL;
	}
	rc = 0;
out:
	json_decref(res);
	free(o.lines);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Edits                                                               */
/* ------------------------------------------------------------------ */

int edits_apply(struct db *db, const struct merchant_config *m, int64_t order_id,
    const json_t *edit, int dry, int64_t event_id, json_t **out, char *err)
{
	const json_t *add = json_object_get(edit, "add"), *change = json_object_get(edit, "change");
	struct eorder o;
	struct { int64_t line, qty; } chg[64];
	json_t *res = NULL;
	int64_t left = 0, delta = 0, total, next = 0;
	size_t i, n_add = 0, n_chg = 0;
	char what[32], a[64], b[64], msg[800];
	int rc;

	if (out)
		*out = NULL;
	memset(&o, 0, sizeof o);
	/* An empty Lua table arrives as {}: no entries. */
	if (json_is_object(add) && json_object_size(add) == 0)
		add = NULL;
	if (json_is_object(change) && json_object_size(change) == 0)
		change = NULL;
	if (!json_is_object(edit) || (add != NULL && !json_is_array(add)) ||
	    (change != NULL && !json_is_array(change)))
		return fail(err, EDITS_EINPUT, "give {\"add\": [{sku, quantity, unit_price}], \"change\":"
		    " [{line, quantity}]}");
	n_add = add ? json_array_size(add) : 0;
	n_chg = change ? json_array_size(change) : 0;
	if (n_add + n_chg == 0)
		return fail(err, EDITS_EINPUT, "an edit needs something in \"add\" or \"change\"");
	if (n_add > 64 || n_chg > 64)
		return fail(err, EDITS_EINPUT, "at most 64 entries each in \"add\" and \"change\"");
	for (i = 0; i < n_add; i++) {
		const json_t *e = json_array_get(add, i), *sku = json_object_get(e, "sku");
		const json_t *title = json_object_get(e, "title");
		int64_t q = 0, u = 0;

		if (!json_is_object(e) || !json_is_string(sku) || member(e, "quantity", &q) != 1 ||
		    member(e, "unit_price", &u) != 1 || (title != NULL && !json_is_string(title)))
			return fail(err, EDITS_EINPUT, "add[%zu]: give {\"sku\": text, \"quantity\": n,"
			    " \"unit_price\": minor units [, \"title\": text]}", i);
		if (json_string_length(sku) == 0 || json_string_length(sku) > 255 ||
		    strlen(json_string_value(sku)) != json_string_length(sku))
			return fail(err, EDITS_EINVALID, "add[%zu]: sku must be 1 to 255 bytes of text", i);
		if (title != NULL && (json_string_length(title) > 1024 ||
		    strlen(json_string_value(title)) != json_string_length(title)))
			return fail(err, EDITS_EINVALID, "add[%zu]: title must be text of at most 1024"
			    " bytes", i);
		if (q <= 0 || q > MAX_QUANTITY)
			return fail(err, EDITS_EINVALID, "add[%zu]: quantity must be from 1 to %d", i,
			    MAX_QUANTITY);
		if (u < 0 || u > MAX_AMOUNT / q)
			return fail(err, EDITS_EINVALID, "add[%zu]: unit_price must be from 0 minor units,"
			    " and quantity x unit_price at most 10^15", i);
		delta += q * u;
	}
	for (i = 0; i < n_chg; i++) {
		const json_t *e = json_array_get(change, i);

		if (!json_is_object(e) || member(e, "line", &chg[i].line) != 1 ||
		    member(e, "quantity", &chg[i].qty) != 1)
			return fail(err, EDITS_EINPUT, "change[%zu]: give {\"line\": n, \"quantity\": q}"
			    " as whole numbers", i);
		if (chg[i].qty < 0 || chg[i].qty > MAX_QUANTITY)
			return fail(err, EDITS_EINVALID, "change[%zu]: quantity must be from 0 to %d", i,
			    MAX_QUANTITY);
		for (size_t k = 0; k < i; k++)
			if (chg[k].line == chg[i].line)
				return fail(err, EDITS_EINVALID, "change[%zu]: line %" PRId64 " is given twice"
				    " (also change[%zu])", i, chg[i].line, k);
	}
	if ((rc = load(db, m->id, order_id, &o, err)) != 0)
		goto out;
	if (strcmp(o.status, "canceled") == 0 || strcmp(o.status, "completed") == 0) {
		rc = fail(err, EDITS_ECONFLICT, "order %" PRId64 " is %s; it cannot be edited", order_id,
		    o.status);
		goto out;
	}
	for (int k = 0; k < o.n; k++) {
		if (o.lines[k].fulfilled > 0) {
			rc = fail(err, EDITS_ECONFLICT, "order %" PRId64 " line %" PRId64 " has shipped;"
			    " only an order nothing of which has shipped can be edited", order_id,
			    o.lines[k].no);
			goto out;
		}
		left += active(&o.lines[k]);
		if (o.lines[k].no > next)
			next = o.lines[k].no;
	}
	if (o.n + (int)n_add > MAX_LINES) {
		rc = fail(err, EDITS_EINVALID, "an order has at most %d lines", MAX_LINES);
		goto out;
	}
	for (i = 0; i < n_chg; i++) {
		struct eline *l = find(&o, chg[i].line);

		snprintf(what, sizeof what, "change[%zu]", i);
		if (l == NULL) {
			rc = fail(err, EDITS_EINVALID, "%s: order %" PRId64 " has no line %" PRId64, what,
			    order_id, chg[i].line);
			goto out;
		}
		if (chg[i].qty < active(l) && (rc = check_cancel(l, active(l) - chg[i].qty, what, err)) != 0)
			goto out;
		if (chg[i].qty > active(l)) {
			if (l->dropship || active(l) == 0) {
				rc = fail(err, EDITS_ECONFLICT, "%s: line %" PRId64 " is %s; it cannot be"
				    " changed", what, l->no, l->dropship ? "drop-shipped" : "canceled");
				goto out;
			}
			if (l->unit > 0 && chg[i].qty - active(l) > (MAX_AMOUNT - l->total) / l->unit) {
				rc = fail(err, EDITS_EINVALID, "%s: the line's total would pass 10^15", what);
				goto out;
			}
		}
		left += chg[i].qty - active(l);
	}
	for (i = 0; i < n_add; i++)
		left += json_integer_value(json_object_get(json_array_get(add, i), "quantity"));
	if (left <= 0) {
		rc = fail(err, EDITS_EINVALID, "the edit leaves order %" PRId64 " without any unit;"
		    " cancel the order instead", order_id);
		goto out;
	}
	res = json_pack("{s:I,s:I,s:I,s:[],s:[],s:[]}", "delta", (json_int_t)0, "old_total",
	    (json_int_t)o.total, "total", (json_int_t)o.total, "added", "increased", "decreased");
	if (res == NULL) {
		rc = fail(err, EDITS_EDB, "out of memory");
		goto out;
	}
	if (dry)
		goto done;

	delta = 0;
	snprintf(msg, sizeof msg, "Edited:");
	for (i = 0; i < n_chg; i++) {
		struct eline *l = find(&o, chg[i].line);
		int64_t was = active(l), d = chg[i].qty - was, amount;
		size_t used = strlen(msg);
		sqlite3_stmt *st;

		if (d == 0)
			continue;
		if (d < 0) {
			if ((amount = cancel_units(db, order_id, l, -d)) < 0) {
				rc = db_fail(db, err);
				goto out;
			}
			delta -= amount;
		} else {
			amount = d * l->unit;
			st = db_prepare(db, "UPDATE order_lines SET quantity = quantity + ?, total = total + ?"
			    " WHERE order_id = ? AND line_no = ?");
			if (st == NULL) {
				rc = db_fail(db, err);
				goto out;
			}
			sqlite3_bind_int64(st, 1, d);
			sqlite3_bind_int64(st, 2, amount);
			sqlite3_bind_int64(st, 3, order_id);
			sqlite3_bind_int64(st, 4, l->no);
			if (db_step_done(st) != 0) {
				rc = db_fail(db, err);
				goto out;
			}
			delta += amount;
		}
		json_array_append_new(json_object_get(res, d < 0 ? "decreased" : "increased"),
		    json_pack("{s:I,s:s,s:I}", "line", (json_int_t)l->no, "sku", l->sku, "quantity",
		    (json_int_t)(d < 0 ? -d : d)));
		snprintf(msg + used, sizeof msg - used, " line %" PRId64 " %" PRId64 " -> %" PRId64 ";",
		    l->no, was, chg[i].qty);
	}
	for (i = 0; i < n_add; i++) {
		const json_t *e = json_array_get(add, i);
		const char *sku = json_string_value(json_object_get(e, "sku"));
		const char *title = json_string_value(json_object_get(e, "title"));
		int64_t q = json_integer_value(json_object_get(e, "quantity"));
		int64_t u = json_integer_value(json_object_get(e, "unit_price"));
		size_t used = strlen(msg);
		sqlite3_stmt *st = db_prepare(db, "INSERT INTO order_lines (order_id, line_no, sku, title,"
		    " quantity, unit_price, total) VALUES (?, ?, ?, ?, ?, ?, ?)");

		if (st == NULL) {
			rc = db_fail(db, err);
			goto out;
		}
		next++;
		sqlite3_bind_int64(st, 1, order_id);
		sqlite3_bind_int64(st, 2, next);
		db_bind_text(st, 3, sku);
		db_bind_text(st, 4, title ? title : sku);
		sqlite3_bind_int64(st, 5, q);
		sqlite3_bind_int64(st, 6, u);
		sqlite3_bind_int64(st, 7, q * u);
		if (db_step_done(st) != 0) {
			rc = db_fail(db, err);
			goto out;
		}
		delta += q * u;
		json_array_append_new(json_object_get(res, "added"), json_pack("{s:I,s:s,s:I}", "line",
		    (json_int_t)next, "sku", sku, "quantity", (json_int_t)q));
		snprintf(msg + used, sizeof msg - used, " added %" PRId64 " x %.60s (line %" PRId64 ");",
		    q, sku, next);
	}
	if ((total = move_total(db, order_id, delta)) < 0) {
		rc = db_fail(db, err);
		goto out;
	}
	{
		size_t used = strlen(msg);

		snprintf(msg + used, sizeof msg - used, " total %s -> %s",
		    money_show(o.total, o.currency, a, sizeof a), money_show(total, o.currency, b, sizeof b));
	}
	json_object_set_new(res, "delta", json_integer(total - o.total));
	json_object_set_new(res, "total", json_integer(total));
	if (orders_history(db, order_id, event_id, "edit", NULL, "edited", msg) != 0 ||
	    orders_refresh(db, order_id, event_id) != 0) {
		rc = db_fail(db, err);
		goto out;
	}
done:
	if (out) {
		*out = res;
		res = NULL;
	}
	rc = 0;
out:
	json_decref(res);
	free(o.lines);
	return rc;
}
