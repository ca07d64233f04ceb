/*
 * returns — returns (RMA) of shipped units (see returns.h).
 *
 * Depends on db, config (locations, the payment gateway), orders (history,
 * ownership), inventory (restocking: inv_adjust kind "return", which feeds
 * the backorder queue), payments (the refund limit), inbox (events for the
 * workflow) and clock. Never moves money itself: a refund is checked here
 * and sent by payments.refund.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ordo/clock.h"
#include "ordo/config.h"
#include "ordo/db.h"
#include "ordo/inbox.h"
#include "ordo/inventory.h"
#include "ordo/orders.h"
#include "ordo/payments.h"
#include "ordo/returns.h"

#define MAX_LINES 1000

static int fail(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(char *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, RETURNS_ERRLEN, fmt, ap);
	va_end(ap);
	return -1;
}

static int db_fail(struct db *db, char *err)
{
	return fail(err, "database error: %s", db_errmsg(db));
}

enum returns_error returns_error_kind(const char *err)
{
	if (strncmp(err, "database error", 14) == 0)
		return RETURNS_EDB;
	if (strstr(err, " not found") != NULL)
		return RETURNS_ENOTFOUND;
	if (strstr(err, "; it cannot be ") != NULL)
		return RETURNS_ECONFLICT;
	return RETURNS_EINVALID;
}

/* The return's order, status and reason. @return 0, or -1 with err. */
static int load(struct db *db, const char *merchant, int64_t id, int64_t *order_id,
    char *status, size_t slen, char *reason, size_t rlen, char *err)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT order_id, status, reason FROM returns"
	    " WHERE id = ? AND merchant = ?");
	int rc;

	if (st == NULL)
		return db_fail(db, err);
	sqlite3_bind_int64(st, 1, id);
	db_bind_text(st, 2, merchant);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*order_id = sqlite3_column_int64(st, 0);
		snprintf(status, slen, "%s", (const char *)sqlite3_column_text(st, 1));
		if (reason != NULL)
			snprintf(reason, rlen, "%s", sqlite3_column_type(st, 2) == SQLITE_NULL ? "" :
			    (const char *)sqlite3_column_text(st, 2));
	}
	db_reset(st);
	if (rc == SQLITE_DONE)
		return fail(err, "return %" PRId64 " not found", id);
	return rc == SQLITE_ROW ? 0 : db_fail(db, err);
}

/* An event for the workflow, under the order's key so it runs in order
 * with the order's other events. */
static int raise_event(struct db *db, const char *merchant, int64_t order_id, int64_t id,
    const char *topic, int64_t amount)
{
	char key[200] = "", dedup[96];
	sqlite3_stmt *st = db_prepare(db, "SELECT channel || ':' || external_id FROM orders WHERE id = ?");
	struct inbox_item item = { .merchant = merchant, .source = "internal", .topic = topic,
	                           .dedup_key = dedup };
	json_t *p;
	char *text;
	int dup;
	int64_t rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, order_id);
	if (sqlite3_step(st) == SQLITE_ROW)
		snprintf(key, sizeof key, "%s", (const char *)sqlite3_column_text(st, 0));
	db_reset(st);
	item.order_key = key[0] ? key : NULL;
	p = json_pack("{s:I,s:I}", "return_id", (json_int_t)id, "order_id", (json_int_t)order_id);
	if (p != NULL && amount > 0)
		json_object_set_new(p, "amount", json_integer(amount));
	text = p ? json_dumps(p, JSON_COMPACT) : NULL;
	json_decref(p);
	if (text == NULL)
		return -1;
	item.payload = text;
	item.payload_len = strlen(text);
	/* A return steps through each state once, so topic and id are unique. */
	snprintf(dedup, sizeof dedup, "%s:%" PRId64, topic, id);
	rc = inbox_insert(db, &item, 0, &dup);
	free(text);
	return rc < 0 ? -1 : 0;
}

/* Move `id` from `from` to `to`, with the history row and the event. */
static int step(struct db *db, const char *merchant, int64_t id, int64_t order_id,
    const char *from, const char *to, const char *topic, const char *detail,
    int64_t amount, int64_t event_id, char *err)
{
	sqlite3_stmt *st = db_prepare(db, "UPDATE returns SET status = ?, updated_at = ?"
	    " WHERE id = ? AND status = ?");
	char msg[RETURNS_ERRLEN + 64];

	if (st == NULL)
		return db_fail(db, err);
	db_bind_text(st, 1, to);
	sqlite3_bind_int64(st, 2, clock_now_ms());
	sqlite3_bind_int64(st, 3, id);
	db_bind_text(st, 4, from);
	if (db_step_done(st) != 0)
		return db_fail(db, err);
	snprintf(msg, sizeof msg, "return %" PRId64 " %s%s%s", id, to,
	    detail && detail[0] ? ": " : "", detail ? detail : "");
	if (orders_history(db, order_id, event_id, "return", from, to, msg) != 0 ||
	    raise_event(db, merchant, order_id, id, topic, amount) != 0)
		return db_fail(db, err);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Request, approve, reject                                            */
/* ------------------------------------------------------------------ */

/* A whole number member, or `dflt` when absent. @return 0, -1 when present
 * and not an integer. */
static int member_int(const json_t *o, const char *k, int64_t dflt, int64_t *out)
{
	const json_t *v = json_object_get(o, k);

	*out = dflt;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_integer(v))
		return -1;
	*out = json_integer_value(v);
	return 0;
}

int64_t returns_create(struct db *db, const struct merchant_config *m, int64_t order_id,
    const json_t *lines, const char *reason, int64_t event_id, char *err)
{
	struct { int64_t line, qty; } want[MAX_LINES];
	sqlite3_stmt *st;
	char currency[8] = "", msg[RETURNS_ERRLEN];
	int owned = orders_owned(db, m->id, order_id);
	size_t n = 0, i;
	const json_t *e;
	int64_t id, units = 0;

	if (owned < 0)
		return db_fail(db, err);
	if (owned == 0)
		return fail(err, "order %" PRId64 " not found", order_id);
	if (!json_is_array(lines) || json_array_size(lines) == 0 ||
	    json_array_size(lines) > MAX_LINES)
		return fail(err, "lines must be a list of 1 to %d {line, quantity}", MAX_LINES);
	if (reason != NULL && strlen(reason) > 500)
		return fail(err, "a reason is at most 500 bytes");
	json_array_foreach(lines, i, e) {
		int64_t line, qty, shipped = -1, claimed = -1;

		if (!json_is_object(e) || member_int(e, "line", 0, &line) != 0 ||
		    member_int(e, "quantity", 0, &qty) != 0 || line <= 0)
			return fail(err, "lines[%zu]: give {line, quantity} as whole numbers", i);
		if (qty <= 0 || qty > INV_MAX_QUANTITY)
			return fail(err, "lines[%zu]: quantity must be a positive whole number", i);
		for (size_t k = 0; k < n; k++)
			if (want[k].line == line)
				return fail(err, "lines[%zu]: line %" PRId64 " is given twice", i, line);
		st = db_prepare(db, "SELECT fulfilled_quantity FROM order_lines"
		    " WHERE order_id = ? AND line_no = ?");
		if (st == NULL)
			return db_fail(db, err);
		sqlite3_bind_int64(st, 1, order_id);
		sqlite3_bind_int64(st, 2, line);
		if (sqlite3_step(st) == SQLITE_ROW)
			shipped = sqlite3_column_int64(st, 0);
		db_reset(st);
		if (shipped < 0)
			return fail(err, "lines[%zu]: order %" PRId64 " has no line %" PRId64, i,
			    order_id, line);
		/* Units already claimed by other returns that were not rejected. */
		st = db_prepare(db, "SELECT COALESCE(SUM(rl.quantity), 0) FROM return_lines rl"
		    " JOIN returns r ON r.id = rl.return_id WHERE r.order_id = ? AND rl.line_no = ?"
		    " AND r.status <> 'rejected'");
		if (st == NULL)
			return db_fail(db, err);
		sqlite3_bind_int64(st, 1, order_id);
		sqlite3_bind_int64(st, 2, line);
		if (sqlite3_step(st) == SQLITE_ROW)
			claimed = sqlite3_column_int64(st, 0);
		db_reset(st);
		if (claimed < 0)
			return db_fail(db, err);
		if (qty > shipped - claimed)
			return fail(err, "lines[%zu]: cannot return %" PRId64 " of line %" PRId64 ":"
			    " %" PRId64 " shipped, %" PRId64 " already in other returns", i, qty, line,
			    shipped, claimed);
		want[n].line = line;
		want[n].qty = qty;
		units += qty;
		n++;
	}
	st = db_prepare(db, "SELECT currency FROM orders WHERE id = ?");
	if (st == NULL)
		return db_fail(db, err);
	sqlite3_bind_int64(st, 1, order_id);
	if (sqlite3_step(st) == SQLITE_ROW)
		snprintf(currency, sizeof currency, "%s", (const char *)sqlite3_column_text(st, 0));
	db_reset(st);
	st = db_prepare(db, "INSERT INTO returns (merchant, order_id, reason, currency, created_at,"
	    " updated_at, event_id) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id");
	if (st == NULL)
		return db_fail(db, err);
	db_bind_text(st, 1, m->id);
	sqlite3_bind_int64(st, 2, order_id);
	db_bind_text(st, 3, reason && reason[0] ? reason : NULL);
	db_bind_text(st, 4, currency);
	sqlite3_bind_int64(st, 5, clock_now_ms());
	sqlite3_bind_int64(st, 6, clock_now_ms());
	if (event_id > 0)
		sqlite3_bind_int64(st, 7, event_id);
	id = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	db_reset(st);
	if (id < 0)
		return db_fail(db, err);
	for (i = 0; i < n; i++) {
		st = db_prepare(db, "INSERT INTO return_lines (return_id, line_no, sku, quantity)"
		    " SELECT ?1, line_no, sku, ?2 FROM order_lines WHERE order_id = ?3 AND line_no = ?4");
		if (st == NULL)
			return db_fail(db, err);
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, want[i].qty);
		sqlite3_bind_int64(st, 3, order_id);
		sqlite3_bind_int64(st, 4, want[i].line);
		if (db_step_done(st) != 0)
			return db_fail(db, err);
	}
	snprintf(msg, sizeof msg, "return %" PRId64 " requested: %" PRId64 " unit%s%s%.200s", id,
	    units, units == 1 ? "" : "s", reason && reason[0] ? ", " : "", reason ? reason : "");
	if (orders_history(db, order_id, event_id, "return", NULL, "requested", msg) != 0 ||
	    raise_event(db, m->id, order_id, id, "return_requested", 0) != 0)
		return db_fail(db, err);
	return id;
}

/* Check that `id` is in `from` before moving it. */
static int expect(struct db *db, const char *merchant, int64_t id, const char *const *from,
    const char *verb, int64_t *order_id, char *status, size_t slen, char *reason, size_t rlen,
    char *err)
{
	if (load(db, merchant, id, order_id, status, slen, reason, rlen, err) != 0)
		return -1;
	for (int i = 0; from[i]; i++)
		if (strcmp(from[i], status) == 0)
			return 0;
	return fail(err, "return %" PRId64 " is %s; it cannot be %s", id, status, verb);
}

int returns_approve(struct db *db, const struct merchant_config *m, int64_t id,
    int64_t event_id, char *err)
{
	static const char *const from[] = { "requested", NULL };
	char status[24];
	int64_t oid;

	if (expect(db, m->id, id, from, "approved", &oid, status, sizeof status, NULL, 0, err) != 0)
		return -1;
	return step(db, m->id, id, oid, status, "approved", "return_approved", NULL, 0, event_id, err);
}

int returns_reject(struct db *db, const struct merchant_config *m, int64_t id,
    const char *note, int64_t event_id, char *err)
{
	static const char *const from[] = { "requested", NULL };
	sqlite3_stmt *st;
	char status[24];
	int64_t oid;

	if (note != NULL && strlen(note) > 500)
		return fail(err, "a note is at most 500 bytes");
	if (expect(db, m->id, id, from, "rejected", &oid, status, sizeof status, NULL, 0, err) != 0)
		return -1;
	if ((st = db_prepare(db, "UPDATE returns SET note = ? WHERE id = ?")) == NULL)
		return db_fail(db, err);
	db_bind_text(st, 1, note);
	sqlite3_bind_int64(st, 2, id);
	if (db_step_done(st) != 0)
		return db_fail(db, err);
	return step(db, m->id, id, oid, status, "rejected", "return_rejected", note, 0, event_id, err);
}

/* ------------------------------------------------------------------ */
/* Receive                                                             */
/* ------------------------------------------------------------------ */

struct rline {
	int64_t line, qty, restock, damaged;
	char sku[256], location[72];
};

/* The return's lines. @return how many, or -1 with err. */
static int load_lines(struct db *db, int64_t id, struct rline *out, char *err)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT line_no, quantity, sku FROM return_lines"
	    " WHERE return_id = ? ORDER BY line_no");
	int n = 0, rc;

	if (st == NULL)
		return db_fail(db, err);
	sqlite3_bind_int64(st, 1, id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < MAX_LINES) {
		memset(&out[n], 0, sizeof out[n]);
		out[n].line = sqlite3_column_int64(st, 0);
		out[n].qty = sqlite3_column_int64(st, 1);
		if (sqlite3_column_type(st, 2) != SQLITE_NULL)
			snprintf(out[n].sku, sizeof out[n].sku, "%s", (const char *)sqlite3_column_text(st, 2));
		n++;
	}
	db_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? n : db_fail(db, err);
}

int returns_receive(struct db *db, const struct merchant_config *m, int64_t id,
    const json_t *lines, const char *location, int64_t event_id, char *err)
{
	static const char *const from[] = { "approved", NULL };
	static struct rline rl[MAX_LINES];   /* one event at a time: the loop is single-threaded */
	char status[24], reason[512], why[INV_ERRLEN], label[64], detail[96];
	int64_t oid, restocked = 0, damaged = 0;
	sqlite3_stmt *st;
	const json_t *e;
	size_t i;
	int n;

	if (expect(db, m->id, id, from, "received", &oid, status, sizeof status, reason,
	    sizeof reason, err) != 0)
		return -1;
	if ((n = load_lines(db, id, rl, err)) < 0)
		return -1;
	if (location == NULL && m->n_locations > 0)
		location = m->locations[0].id;
	if (lines == NULL || json_is_null(lines)) {
		int all_damaged = strcmp(reason, "damaged") == 0;

		for (int k = 0; k < n; k++) {
			if (all_damaged || rl[k].sku[0] == '\0') {
				rl[k].damaged = rl[k].qty;
			} else {
				rl[k].restock = rl[k].qty;
				snprintf(rl[k].location, sizeof rl[k].location, "%s", location ? location : "");
			}
		}
	} else {
		if (!json_is_array(lines) || json_array_size(lines) > MAX_LINES)
			return fail(err, "lines must be a list of {line, quantity, location | damaged}");
		json_array_foreach(lines, i, e) {
			const json_t *jd = json_object_get(e, "damaged");
			const char *loc = json_string_value(json_object_get(e, "location"));
			int64_t line, qty;
			struct rline *r = NULL;

			if (!json_is_object(e) || member_int(e, "line", 0, &line) != 0 ||
			    member_int(e, "quantity", -1, &qty) != 0 ||
			    (jd != NULL && !json_is_boolean(jd)) ||
			    (json_object_get(e, "location") != NULL && loc == NULL))
				return fail(err, "lines[%zu]: give {line, quantity, location} or {line,"
				    " quantity, damaged: true}", i);
			for (int k = 0; k < n && r == NULL; k++)
				if (rl[k].line == line)
					r = &rl[k];
			if (r == NULL)
				return fail(err, "lines[%zu]: line %" PRId64 " is not in return %" PRId64,
				    i, line, id);
			if (qty < 0)
				qty = r->qty - r->restock - r->damaged;
			if (qty <= 0 || qty > r->qty - r->restock - r->damaged)
				return fail(err, "lines[%zu]: cannot receive %" PRId64 " of line %" PRId64
				    "; %" PRId64 " returned, %" PRId64 " received already", i, qty, line,
				    r->qty, r->restock + r->damaged);
			if (json_is_true(jd)) {
				r->damaged += qty;
				continue;
			}
			if (loc == NULL)
				loc = location;
			if (r->restock > 0 && strcmp(r->location, loc ? loc : "") != 0)
				return fail(err, "lines[%zu]: line %" PRId64 " is restocked at one"
				    " location per return", i, line);
			r->restock += qty;
			snprintf(r->location, sizeof r->location, "%s", loc ? loc : "");
		}
	}
	snprintf(label, sizeof label, "return %" PRId64, id);
	for (int k = 0; k < n; k++) {
		if (rl[k].restock > 0) {
			if (rl[k].sku[0] == '\0')
				return fail(err, "line %" PRId64 " has no SKU to restock; write it off"
				    " with damaged: true", rl[k].line);
			if (rl[k].location[0] == '\0' || config_location(m, rl[k].location) == NULL)
				return fail(err, "line %" PRId64 ": unknown location \"%.64s\" to restock at",
				    rl[k].line, rl[k].location);
			if (inv_adjust(db, m, rl[k].sku, rl[k].location, rl[k].restock, "return", label,
			    event_id, why) != 0)
				return fail(err, "line %" PRId64 ": %s", rl[k].line, why);
		}
		st = db_prepare(db, "UPDATE return_lines SET restocked = ?, damaged = ?, location = ?"
		    " WHERE return_id = ? AND line_no = ?");
		if (st == NULL)
			return db_fail(db, err);
		sqlite3_bind_int64(st, 1, rl[k].restock);
		sqlite3_bind_int64(st, 2, rl[k].damaged);
		db_bind_text(st, 3, rl[k].restock > 0 ? rl[k].location : NULL);
		sqlite3_bind_int64(st, 4, id);
		sqlite3_bind_int64(st, 5, rl[k].line);
		if (db_step_done(st) != 0)
			return db_fail(db, err);
		restocked += rl[k].restock;
		damaged += rl[k].damaged;
	}
	snprintf(detail, sizeof detail, "%" PRId64 " restocked, %" PRId64 " written off as damaged",
	    restocked, damaged);
	return step(db, m->id, id, oid, status, "received", "return_received", detail, 0,
	    event_id, err);
}

/* ------------------------------------------------------------------ */
/* Refund and close                                                    */
/* ------------------------------------------------------------------ */

int64_t returns_refund_check(struct db *db, const struct merchant_config *m, int64_t id,
    int64_t amount, char *err)
{
	static const char *const from[] = { "received", "refund_requested", NULL };
	char status[24], perr[ORDERS_ERRLEN];
	struct payment_plan plan;
	sqlite3_stmt *st;
	int64_t oid, value = -1;
	int rc;

	if (expect(db, m->id, id, from, "refunded", &oid, status, sizeof status, NULL, 0, err) != 0)
		return -1;
	st = db_prepare(db, "SELECT COALESCE(SUM((rl.restocked + rl.damaged) * ol.unit_price), 0)"
	    " FROM return_lines rl JOIN returns r ON r.id = rl.return_id"
	    " JOIN order_lines ol ON ol.order_id = r.order_id AND ol.line_no = rl.line_no"
	    " WHERE rl.return_id = ?");
	if (st == NULL)
		return db_fail(db, err);
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW)
		value = sqlite3_column_int64(st, 0);
	db_reset(st);
	if (value < 0)
		return db_fail(db, err);
	if (amount < 0)
		amount = value;
	if (amount == 0)
		return fail(err, "return %" PRId64 " has nothing received to refund", id);
	if (m->pay_gateway == NULL)
		return fail(err, "merchant %s has no payment gateway to refund through", m->id);
	/* The payments rules decide, on a savepoint that is always rolled
	 * back: the same check the refund itself will pass, nothing kept. */
	if (db_savepoint(db) != 0)
		return db_fail(db, err);
	rc = payments_begin(db, m->id, m->pay_gateway, oid, PAY_REFUND, amount, NULL, 0, &plan, perr);
	db_rollback_savepoint(db);
	if (rc != 0)
		return fail(err, "%s", perr);
	return amount;
}

int returns_refund_request(struct db *db, const struct merchant_config *m, int64_t id,
    int64_t amount, int64_t event_id, char *err)
{
	static const char *const from[] = { "received", NULL };
	sqlite3_stmt *st;
	int64_t oid = 0;
	char status[24], detail[64];

	if (expect(db, m->id, id, from, "refunded", &oid, status, sizeof status, NULL, 0, err) != 0)
		return -1;
	if ((amount = returns_refund_check(db, m, id, amount, err)) < 0)
		return -1;
	if ((st = db_prepare(db, "UPDATE returns SET refund_amount = ? WHERE id = ?")) == NULL)
		return db_fail(db, err);
	sqlite3_bind_int64(st, 1, amount);
	sqlite3_bind_int64(st, 2, id);
	if (db_step_done(st) != 0)
		return db_fail(db, err);
	snprintf(detail, sizeof detail, "%" PRId64 " minor units", amount);
	return step(db, m->id, id, oid, status, "refund_requested", "return_refund_requested",
	    detail, amount, event_id, err);
}

int returns_refunded(struct db *db, const struct merchant_config *m, int64_t id,
    int64_t payment_id, int64_t amount, int64_t event_id, char *err)
{
	static const char *const from[] = { "received", "refund_requested", NULL };
	sqlite3_stmt *st;
	int64_t oid;
	char status[24], detail[64];

	if (expect(db, m->id, id, from, "refunded", &oid, status, sizeof status, NULL, 0, err) != 0)
		return -1;
	if ((st = db_prepare(db, "UPDATE returns SET refund_amount = ?, payment_id = ? WHERE id = ?"))
	    == NULL)
		return db_fail(db, err);
	sqlite3_bind_int64(st, 1, amount);
	sqlite3_bind_int64(st, 2, payment_id);
	sqlite3_bind_int64(st, 3, id);
	if (db_step_done(st) != 0)
		return db_fail(db, err);
	snprintf(detail, sizeof detail, "payment %" PRId64, payment_id);
	return step(db, m->id, id, oid, status, "refunded", "return_refunded", detail, amount,
	    event_id, err);
}

int returns_close(struct db *db, const struct merchant_config *m, int64_t id,
    int64_t event_id, char *err)
{
	static const char *const from[] = { "received", "refunded", "rejected", NULL };
	char status[24];
	int64_t oid;

	if (expect(db, m->id, id, from, "closed", &oid, status, sizeof status, NULL, 0, err) != 0)
		return -1;
	return step(db, m->id, id, oid, status, "closed", "return_closed", NULL, 0, event_id, err);
}

/* ------------------------------------------------------------------ */
/* Reading                                                             */
/* ------------------------------------------------------------------ */

static json_t *row(struct db *db, sqlite3_stmt *st)
{
	char created[32], updated[32], delivered[32];
	int64_t id = sqlite3_column_int64(st, 0);
	json_t *o, *lines;
	sqlite3_stmt *ls;

	clock_format_iso(sqlite3_column_int64(st, 8), created);
	clock_format_iso(sqlite3_column_int64(st, 9), updated);
	if (sqlite3_column_type(st, 10) != SQLITE_NULL)
		clock_format_iso(sqlite3_column_int64(st, 10), delivered);
	o = json_pack("{s:I,s:I,s:s,s:o,s:o,s:s,s:I,s:o,s:s,s:s,s:o}",
	    "id", (json_int_t)id, "order_id", (json_int_t)sqlite3_column_int64(st, 1),
	    "status", (const char *)sqlite3_column_text(st, 2), "reason", db_column_json(st, 3),
	    "note", db_column_json(st, 4), "currency", (const char *)sqlite3_column_text(st, 5),
	    "refund_amount", (json_int_t)sqlite3_column_int64(st, 6),
	    "payment_id", sqlite3_column_type(st, 7) == SQLITE_NULL ? json_null() :
	        json_integer(sqlite3_column_int64(st, 7)),
	    "created_at", created, "updated_at", updated,
	    "delivered_at", sqlite3_column_type(st, 10) == SQLITE_NULL ? json_null() :
	        json_string(delivered));
	if (o != NULL)   /* the refund's own outcome: pending, succeeded or failed */
		json_object_set_new(o, "refund_status", db_column_json(st, 11));
	if (o == NULL)
		return NULL;
	lines = json_array();
	ls = db_prepare(db, "SELECT line_no, sku, quantity, restocked, damaged, location"
	    " FROM return_lines WHERE return_id = ? ORDER BY line_no");
	if (lines == NULL || ls == NULL) {
		json_decref(lines);
		json_decref(o);
		return NULL;
	}
	sqlite3_bind_int64(ls, 1, id);
	while (sqlite3_step(ls) == SQLITE_ROW)
		json_array_append_new(lines, json_pack("{s:I,s:o,s:I,s:I,s:I,s:o}",
		    "line", (json_int_t)sqlite3_column_int64(ls, 0), "sku", db_column_json(ls, 1),
		    "quantity", (json_int_t)sqlite3_column_int64(ls, 2),
		    "restocked", (json_int_t)sqlite3_column_int64(ls, 3),
		    "damaged", (json_int_t)sqlite3_column_int64(ls, 4),
		    "location", db_column_json(ls, 5)));
	db_reset(ls);
	json_object_set_new(o, "lines", lines);
	return o;
}

#define RETURN_COLS "r.id, r.order_id, r.status, r.reason, r.note, r.currency," \
	" r.refund_amount, r.payment_id, r.created_at, r.updated_at," \
	" (SELECT MAX(s.delivered_at) FROM shipments s WHERE s.order_id = r.order_id" \
	"   AND s.status = 'delivered'),"	\
	" (SELECT p.status FROM payments p WHERE p.id = r.payment_id)"

json_t *returns_get(struct db *db, const char *merchant, int64_t id)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT " RETURN_COLS " FROM returns r"
	    " WHERE r.id = ? AND r.merchant = ?");
	json_t *o = NULL;

	if (st == NULL)
		return NULL;
	sqlite3_bind_int64(st, 1, id);
	db_bind_text(st, 2, merchant);
	if (sqlite3_step(st) == SQLITE_ROW) {
		/* row() prepares other statements; this one stays stepped and
		 * is reset right after. */
		o = row(db, st);
	}
	db_reset(st);
	return o;
}

json_t *returns_list(struct db *db, const char *merchant, const char *status, int limit)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT " RETURN_COLS " FROM returns r"
	    " WHERE r.merchant = ?1 AND (?2 IS NULL OR r.status = ?2) ORDER BY r.id DESC LIMIT ?3");
	json_t *list = json_array(), *o;
	int rc;

	if (st == NULL || list == NULL) {
		json_decref(list);
		return NULL;
	}
	db_bind_text(st, 1, merchant);
	db_bind_text(st, 2, status);
	sqlite3_bind_int(st, 3, limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((o = row(db, st)) == NULL) {
			rc = SQLITE_ERROR;
			break;
		}
		json_array_append_new(list, o);
	}
	db_reset(st);
	if (rc != SQLITE_DONE) {
		json_decref(list);
		return NULL;
	}
	return json_pack("{s:o}", "returns", list);
}

int64_t returns_order(struct db *db, const char *merchant, int64_t id)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT order_id FROM returns WHERE id = ? AND merchant = ?");
	int64_t oid = -1;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	db_bind_text(st, 2, merchant);
	rc = sqlite3_step(st);
	oid = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : rc == SQLITE_DONE ? 0 : -1;
	db_reset(st);
	return oid;
}
