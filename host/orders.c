/*
 * orders — the order record and its invariants.
 *
 * Depends on db (all SQL), money (currency codes), clock, jansson, and
 * payments for the one rule of what a recorded refund is for.
 * The lifecycle status is set only through the state machine here; payment
 * and fulfillment status are derived from payment rows and line quantities
 * after every change and never set by hand, so they cannot disagree with
 * the facts. Must never trust the shape it is given: a workflow or an
 * adapter may hand it anything.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ordo/clock.h"
#include "ordo/db.h"
#include "ordo/money.h"
#include "ordo/orders.h"
#include "ordo/payments.h"

#define MAX_TEXT 4096
#define MAX_NOTE 65536 /* storefront order notes run long; bodies are bounded anyway */
#define MAX_LINES 1000
#define MAX_QUANTITY 1000000
#define MAX_AMOUNT INT64_C(1000000000000000) /* 10^15 minor units */

static int fail(char *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

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

/* ------------------------------------------------------------------ */
/* The state machine                                                   */
/* ------------------------------------------------------------------ */

static const struct { const char *from, *to; } transitions[] = {
	{ "draft", "placed" },
	{ "draft", "canceled" },
	{ "placed", "completed" },
	{ "placed", "canceled" },
};

static int status_known(const char *s)
{
	return strcmp(s, "draft") == 0 || strcmp(s, "placed") == 0 ||
	    strcmp(s, "completed") == 0 || strcmp(s, "canceled") == 0;
}

int orders_transition_ok(const char *from, const char *to)
{
	for (size_t i = 0; i < sizeof transitions / sizeof transitions[0]; i++)
		if (strcmp(transitions[i].from, from) == 0 && strcmp(transitions[i].to, to) == 0)
			return 1;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Shape validation                                                    */
/* ------------------------------------------------------------------ */

/* An optional string field; integers are accepted for ids and written as
 * decimal text (exact: json integers are int64). */
static int shape_text(const json_t *obj, const char *key, const char *path,
    int required, size_t max, char *buf, size_t buflen, const char **out, char *err)
{
	const json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		if (required)
			return fail(err, "%s%s is required", path, key);
		return 0;
	}
	if (json_is_integer(v) && buf != NULL) {
		snprintf(buf, buflen, "%" PRId64, (int64_t)json_integer_value(v));
		*out = buf;
		return 0;
	}
	if (!json_is_string(v))
		return fail(err, "%s%s must be text", path, key);
	if (json_string_length(v) > max)
		return fail(err, "%s%s is longer than %zu bytes", path, key, max);
	if (required && json_string_length(v) == 0)
		return fail(err, "%s%s must not be empty", path, key);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return fail(err, "%s%s contains a NUL byte", path, key);
	*out = json_string_value(v);
	return 0;
}

/* An integer field; a real number is refused (money never passes through
 * a double). */
static int shape_int(const json_t *obj, const char *key, const char *path,
    int required, int64_t min, int64_t max, int64_t *out, char *err)
{
	const json_t *v = json_object_get(obj, key);

	if (v == NULL || json_is_null(v)) {
		if (required)
			return fail(err, "%s%s is required", path, key);
		*out = 0;
		return 0;
	}
	if (!json_is_integer(v))
		return fail(err, "%s%s must be an integer%s", path, key,
		    json_is_real(v) || json_is_string(v) ? " (money is integer minor units)" : "");
	*out = json_integer_value(v);
	if (*out < min || *out > max)
		return fail(err, "%s%s is %" PRId64 ", outside %" PRId64 "..%" PRId64,
		    path, key, *out, min, max);
	return 0;
}

static int shape_object(const json_t *obj, const char *key, char **out, char *err)
{
	const json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return fail(err, "%s must be an object", key);
	*out = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
	return *out ? 0 : fail(err, "%s cannot be encoded", key);
}

static int shape_tags(const json_t *obj, char **out, char *err)
{
	const json_t *v = json_object_get(obj, "tags");
	size_t i;
	const json_t *t;

	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		*out = strdup("[]");
		return *out ? 0 : fail(err, "out of memory");
	}
	if (!json_is_array(v))
		return fail(err, "tags must be a list of text");
	if (json_array_size(v) > 100)
		return fail(err, "tags has more than 100 entries");
	json_array_foreach(v, i, t) {
		if (!json_is_string(t) || json_string_length(t) == 0 || json_string_length(t) > 255)
			return fail(err, "tags[%zu] must be text of 1..255 bytes", i + 1);
	}
	*out = json_dumps(v, JSON_COMPACT);
	return *out ? 0 : fail(err, "tags cannot be encoded");
}

/* ------------------------------------------------------------------ */
/* History and derived status                                          */
/* ------------------------------------------------------------------ */

static int history(struct db *db, int64_t order_id, int64_t event_id,
    const char *kind, const char *from, const char *to, const char *message);
static int refresh(struct db *db, int64_t order_id, int64_t event_id);

static orders_observer_fn observer;
static void *observer_arg;

void orders_set_observer(orders_observer_fn fn, void *arg)
{
	observer = fn;
	observer_arg = arg;
}

static int notify_observer(struct db *db, const char *merchant, int64_t order_id,
    const char *topic, int64_t event_id)
{
	return observer ? observer(observer_arg, db, merchant, order_id, topic, event_id) : 0;
}

int orders_emit(struct db *db, const char *merchant, int64_t order_id, const char *topic,
    int64_t event_id)
{
	return notify_observer(db, merchant, order_id, topic, event_id);
}

int orders_history(struct db *db, int64_t order_id, int64_t event_id,
    const char *kind, const char *from, const char *to, const char *message)
{
	return history(db, order_id, event_id, kind, from, to, message);
}

int orders_refresh(struct db *db, int64_t order_id, int64_t event_id)
{
	return refresh(db, order_id, event_id);
}

static int history(struct db *db, int64_t order_id, int64_t event_id,
    const char *kind, const char *from, const char *to, const char *message)
{
	sqlite3_stmt *st = db_prepare(db,
	    "INSERT INTO order_history (order_id, at, event_id, kind, from_value, to_value, message)"
	    " VALUES (?, ?, ?, ?, ?, ?, ?)");

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, order_id);
	sqlite3_bind_int64(st, 2, clock_now_ms());
	if (event_id > 0)
		sqlite3_bind_int64(st, 3, event_id);
	db_bind_text(st, 4, kind);
	db_bind_text(st, 5, from);
	db_bind_text(st, 6, to);
	db_bind_text(st, 7, message);
	return db_step_done(st);
}

struct money_facts {
	int64_t total, authorized, captured, refunded, voided;
};

static int load_facts(struct db *db, int64_t order_id, struct money_facts *f)
{
	sqlite3_stmt *st = db_prepare(db,
	    "SELECT o.total,"
	    " COALESCE(SUM(CASE WHEN p.kind = 'authorization' THEN p.amount END), 0),"
	    " COALESCE(SUM(CASE WHEN p.kind = 'capture' THEN p.amount END), 0),"
	    " COALESCE(SUM(CASE WHEN p.kind = 'refund' THEN p.amount END), 0),"
	    " COALESCE(SUM(CASE WHEN p.kind = 'void' THEN p.amount END), 0)"
	    " FROM orders o LEFT JOIN payments p"
	    "   ON p.order_id = o.id AND p.status = 'succeeded'"
	    " WHERE o.id = ? GROUP BY o.id");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, order_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		f->total = sqlite3_column_int64(st, 0);
		f->authorized = sqlite3_column_int64(st, 1);
		f->captured = sqlite3_column_int64(st, 2);
		f->refunded = sqlite3_column_int64(st, 3);
		f->voided = sqlite3_column_int64(st, 4);
	}
	db_reset(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

static const char *payment_status(const struct money_facts *f)
{
	/* A refund for canceled lines that leaves the (lowered) total fully
	 * paid leaves the order paid. */
	if (f->refunded > 0)
		return f->refunded >= f->captured ? "refunded" :
		    f->total > 0 && f->captured - f->refunded >= f->total ? "paid" : "partially_refunded";
	if (f->captured > 0)
		return f->captured >= f->total ? "paid" : "partially_paid";
	if (f->authorized > f->voided)
		return "authorized";
	if (f->voided > 0)
		return "voided";
	return f->total == 0 ? "paid" : "unpaid";
}

/* Re-derive payment and fulfillment status; write history for changes. */
static int refresh(struct db *db, int64_t order_id, int64_t event_id)
{
	struct money_facts f;
	const char *pay, *ful;
	char old_pay[32] = "", old_ful[32] = "", merchant[80] = "";
	int64_t qty = 0, done = 0;
	sqlite3_stmt *st;
	int rc;

	if (load_facts(db, order_id, &f) != 0)
		return -1;
	pay = payment_status(&f);

	st = db_prepare(db, "SELECT COALESCE(SUM(quantity - canceled_quantity), 0),"
	    " COALESCE(SUM(fulfilled_quantity), 0) FROM order_lines WHERE order_id = ?");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, order_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		qty = sqlite3_column_int64(st, 0);
		done = sqlite3_column_int64(st, 1);
	}
	db_reset(st);
	if (rc != SQLITE_ROW)
		return -1;
	ful = done == 0 ? "unfulfilled" : done >= qty ? "fulfilled" : "partially_fulfilled";
	if (done >= qty && qty > 0) {
		/* Fulfilled, and every shipment that left has arrived. */
		st = db_prepare(db, "SELECT COALESCE(SUM(status = 'delivered'), 0),"
		    " COALESCE(SUM(status NOT IN ('delivered', 'canceled')), 0)"
		    " FROM shipments WHERE order_id = ?");
		if (st == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, order_id);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW && sqlite3_column_int64(st, 0) > 0 && sqlite3_column_int64(st, 1) == 0)
			ful = "delivered";
		db_reset(st);
		if (rc != SQLITE_ROW)
			return -1;
	}
	if (done == 0) {
		/* Lines waiting in the backorder queue. */
		st = db_prepare(db, "SELECT COALESCE(SUM(quantity), 0) FROM backorders"
		    " WHERE order_id = ? AND status = 'waiting'");
		if (st == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, order_id);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW && sqlite3_column_int64(st, 0) > 0)
			ful = "backordered";
		db_reset(st);
		if (rc != SQLITE_ROW)
			return -1;
	}

	st = db_prepare(db, "SELECT payment_status, fulfillment_status, merchant FROM orders"
	    " WHERE id = ?");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, order_id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(old_pay, sizeof old_pay, "%s", (const char *)sqlite3_column_text(st, 0));
		snprintf(old_ful, sizeof old_ful, "%s", (const char *)sqlite3_column_text(st, 1));
		snprintf(merchant, sizeof merchant, "%s", (const char *)sqlite3_column_text(st, 2));
	}
	db_reset(st);

	if (strcmp(old_pay, pay) == 0 && strcmp(old_ful, ful) == 0)
		return 0;
	st = db_prepare(db, "UPDATE orders SET payment_status = ?, fulfillment_status = ?,"
	    " updated_at = ? WHERE id = ?");
	if (st == NULL)
		return -1;
	db_bind_text(st, 1, pay);
	db_bind_text(st, 2, ful);
	sqlite3_bind_int64(st, 3, clock_now_ms());
	sqlite3_bind_int64(st, 4, order_id);
	if (db_step_done(st) != 0)
		return -1;
	if (strcmp(old_pay, pay) != 0 &&
	    history(db, order_id, event_id, "payment_status", old_pay, pay, NULL) != 0)
		return -1;
	if (strcmp(old_ful, ful) != 0 &&
	    history(db, order_id, event_id, "fulfillment_status", old_ful, ful, NULL) != 0)
		return -1;
	if (strcmp(old_pay, pay) != 0) {
		const char *topic = strcmp(pay, "paid") == 0 ? "order.paid" :
		    strstr(pay, "refunded") != NULL ? "order.refunded" : NULL;

		if (topic != NULL && notify_observer(db, merchant, order_id, topic, event_id) != 0)
			return -1;
	}
	if (strcmp(old_ful, ful) != 0 && strcmp(ful, "fulfilled") == 0 &&
	    notify_observer(db, merchant, order_id, "order.fulfilled", event_id) != 0)
		return -1;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Create                                                              */
/* ------------------------------------------------------------------ */

/* Validate a line, and insert it unless `dry`: creation checks every line
 * first so an invalid one leaves nothing behind, whatever the caller's
 * transaction does. */
static int insert_line(struct db *db, int64_t order_id, size_t no, const json_t *line,
    int dry, char *err)
{
	char path[48], idbuf[32];
	const char *ext, *sku, *title;
	int64_t qty, unit, total;
	sqlite3_stmt *st;

	snprintf(path, sizeof path, "lines[%zu].", no);
	if (!json_is_object(line))
		return fail(err, "lines[%zu] must be an object", no);
	if (shape_text(line, "external_id", path, 0, 255, idbuf, sizeof idbuf, &ext, err) ||
	    shape_text(line, "sku", path, 0, 255, NULL, 0, &sku, err) ||
	    shape_text(line, "title", path, 0, 1024, NULL, 0, &title, err) ||
	    shape_int(line, "quantity", path, 1, 1, MAX_QUANTITY, &qty, err) ||
	    shape_int(line, "unit_price", path, 1, 0, MAX_AMOUNT, &unit, err) ||
	    shape_int(line, "total", path, 1, -MAX_AMOUNT, MAX_AMOUNT, &total, err))
		return -1;
	if (dry)
		return 0;
	st = db_prepare(db, "INSERT INTO order_lines (order_id, line_no, external_id, sku, title,"
	    " quantity, unit_price, total) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
	if (st == NULL)
		return db_fail(db, err);
	sqlite3_bind_int64(st, 1, order_id);
	sqlite3_bind_int64(st, 2, (int64_t)no);
	db_bind_text(st, 3, ext);
	db_bind_text(st, 4, sku);
	db_bind_text(st, 5, title);
	sqlite3_bind_int64(st, 6, qty);
	sqlite3_bind_int64(st, 7, unit);
	sqlite3_bind_int64(st, 8, total);
	return db_step_done(st) == 0 ? 0 : db_fail(db, err);
}

int orders_owned(struct db *db, const char *merchant, int64_t id)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT 1 FROM orders WHERE id = ? AND merchant = ?");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	db_bind_text(st, 2, merchant);
	rc = sqlite3_step(st);
	db_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int64_t orders_find(struct db *db, const char *merchant, const char *channel,
    const char *external_id)
{
	sqlite3_stmt *st = db_prepare(db,
	    "SELECT id FROM orders WHERE merchant = ? AND channel = ? AND external_id = ?");
	int64_t id = 0;
	int rc;

	if (st == NULL)
		return -1;
	db_bind_text(st, 1, merchant);
	db_bind_text(st, 2, channel);
	db_bind_text(st, 3, external_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	else if (rc != SQLITE_DONE)
		id = -1;
	db_reset(st);
	return id;
}

int64_t orders_create(struct db *db, const char *merchant, const json_t *shape,
    int64_t event_id, int *created, char *err)
{
	char idbuf[32], msg[512];
	const char *ext, *channel, *currency, *number, *email, *fin, *placed, *status, *note;
	int64_t subtotal, shipping, tax, discount, total, placed_ms = 0, id = -1, now;
	char *customer = NULL, *address = NULL, *tags = NULL;
	const json_t *lines;
	sqlite3_stmt *st;
	size_t i;

	*created = 0;
	if (!json_is_object(shape)) {
		fail(err, "the order must be a table");
		goto out;
	}
	if (shape_text(shape, "channel", "", 1, 32, NULL, 0, &channel, err) ||
	    shape_text(shape, "external_id", "", 1, 255, idbuf, sizeof idbuf, &ext, err) ||
	    shape_text(shape, "currency", "", 1, 3, NULL, 0, &currency, err) ||
	    shape_text(shape, "number", "", 0, 64, NULL, 0, &number, err) ||
	    shape_text(shape, "email", "", 0, 320, NULL, 0, &email, err) ||
	    shape_text(shape, "financial_status", "", 0, 64, NULL, 0, &fin, err) ||
	    shape_text(shape, "placed_at", "", 0, 64, NULL, 0, &placed, err) ||
	    shape_text(shape, "status", "", 0, 16, NULL, 0, &status, err) ||
	    shape_text(shape, "note", "", 0, MAX_NOTE, NULL, 0, &note, err) ||
	    shape_int(shape, "subtotal", "", 0, -MAX_AMOUNT, MAX_AMOUNT, &subtotal, err) ||
	    shape_int(shape, "shipping", "", 0, -MAX_AMOUNT, MAX_AMOUNT, &shipping, err) ||
	    shape_int(shape, "tax", "", 0, -MAX_AMOUNT, MAX_AMOUNT, &tax, err) ||
	    shape_int(shape, "discount", "", 0, -MAX_AMOUNT, MAX_AMOUNT, &discount, err) ||
	    shape_int(shape, "total", "", 1, 0, MAX_AMOUNT, &total, err) ||
	    shape_object(shape, "customer", &customer, err) ||
	    shape_object(shape, "shipping_address", &address, err) ||
	    shape_tags(shape, &tags, err))
		goto out;
	if (money_exponent(currency) < 0) {
		fail(err, "currency \"%s\" is not an ISO 4217 code", currency);
		goto out;
	}
	if (status == NULL)
		status = "placed";
	else if (strcmp(status, "placed") != 0 && strcmp(status, "draft") != 0) {
		fail(err, "status of a new order must be placed or draft, not \"%s\"", status);
		goto out;
	}
	if (placed != NULL && clock_parse_iso(placed, &placed_ms) != 0) {
		fail(err, "placed_at \"%s\" is not an ISO 8601 time", placed);
		goto out;
	}
	lines = json_object_get(shape, "lines");
	if (lines != NULL && !json_is_null(lines) &&
	    (!json_is_array(lines) || json_array_size(lines) > MAX_LINES)) {
		fail(err, "lines must be a list of at most %d lines", MAX_LINES);
		goto out;
	}
	for (i = 0; lines != NULL && i < json_array_size(lines); i++)
		if (insert_line(db, 0, i + 1, json_array_get(lines, i), 1, err) != 0)
			goto out;

	id = orders_find(db, merchant, channel, ext);
	if (id != 0) {
		if (id < 0)
			db_fail(db, err);
		goto out; /* already recorded: idempotent */
	}

	now = clock_now_ms();
	st = db_prepare(db, "INSERT INTO orders (merchant, channel, external_id, number, status,"
	    " currency, subtotal, shipping, tax, discount, total, email, customer,"
	    " shipping_address, tags, financial_status, placed_at, created_at, updated_at)"
	    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id");
	if (st == NULL) {
		id = db_fail(db, err);
		goto out;
	}
	db_bind_text(st, 1, merchant);
	db_bind_text(st, 2, channel);
	db_bind_text(st, 3, ext);
	db_bind_text(st, 4, number);
	db_bind_text(st, 5, status);
	db_bind_text(st, 6, currency);
	sqlite3_bind_int64(st, 7, subtotal);
	sqlite3_bind_int64(st, 8, shipping);
	sqlite3_bind_int64(st, 9, tax);
	sqlite3_bind_int64(st, 10, discount);
	sqlite3_bind_int64(st, 11, total);
	db_bind_text(st, 12, email);
	db_bind_text(st, 13, customer);
	db_bind_text(st, 14, address);
	db_bind_text(st, 15, tags);
	db_bind_text(st, 16, fin);
	if (placed != NULL)
		sqlite3_bind_int64(st, 17, placed_ms);
	sqlite3_bind_int64(st, 18, now);
	sqlite3_bind_int64(st, 19, now);
	if (sqlite3_step(st) == SQLITE_ROW) {
		id = sqlite3_column_int64(st, 0);
		db_reset(st);
	} else {
		db_reset(st);
		id = db_fail(db, err);
		goto out;
	}

	for (i = 0; lines != NULL && i < json_array_size(lines); i++) {
		if (insert_line(db, id, i + 1, json_array_get(lines, i), 0, err) != 0) {
			id = -1;
			goto out;
		}
	}
	snprintf(msg, sizeof msg, "order %s%s from %s", number ? number : ext,
	    strcmp(status, "draft") == 0 ? " drafted" : " placed", channel);
	if (history(db, id, event_id, "created", NULL, status, msg) != 0 ||
	    (note != NULL && note[0] && history(db, id, event_id, "note", NULL, NULL, note) != 0) ||
	    notify_observer(db, merchant, id, "order.created", event_id) != 0 ||
	    refresh(db, id, event_id) != 0) {
		id = db_fail(db, err);
		goto out;
	}
	*created = 1;
out:
	free(customer);
	free(address);
	free(tags);
	return id;
}

/* ------------------------------------------------------------------ */
/* Changes                                                             */
/* ------------------------------------------------------------------ */

/* The order's current status, or -1 with err when the merchant has none. */
static int current_status(struct db *db, const char *merchant, int64_t id,
    char *status, size_t len, char *err)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT status FROM orders WHERE id = ? AND merchant = ?");
	int rc;

	if (st == NULL)
		return db_fail(db, err);
	sqlite3_bind_int64(st, 1, id);
	db_bind_text(st, 2, merchant);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		snprintf(status, len, "%s", (const char *)sqlite3_column_text(st, 0));
	db_reset(st);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return fail(err, "order %" PRId64 " not found", id);
	return db_fail(db, err);
}

int orders_set_status(struct db *db, const char *merchant, int64_t id,
    const char *status, const char *reason, int64_t event_id, char *err)
{
	char cur[16];
	sqlite3_stmt *st;

	if (status == NULL || !status_known(status))
		return fail(err, "unknown order status \"%s\" (draft, placed, completed, canceled)",
		    status ? status : "");
	if (current_status(db, merchant, id, cur, sizeof cur, err) != 0)
		return -1;
	if (strcmp(cur, status) == 0)
		return 0;
	if (!orders_transition_ok(cur, status))
		return fail(err, "order %" PRId64 " cannot go from %s to %s", id, cur, status);
	st = db_prepare(db, "UPDATE orders SET status = ?, updated_at = ? WHERE id = ?");
	if (st == NULL)
		return db_fail(db, err);
	db_bind_text(st, 1, status);
	sqlite3_bind_int64(st, 2, clock_now_ms());
	sqlite3_bind_int64(st, 3, id);
	if (db_step_done(st) != 0 ||
	    history(db, id, event_id, "status", cur, status, reason) != 0)
		return db_fail(db, err);
	if (strcmp(status, "canceled") == 0 || strcmp(status, "completed") == 0) {
		if (notify_observer(db, merchant, id, strcmp(status, "canceled") == 0
		    ? "order.cancelled" : "order.completed", event_id) != 0)
			return db_fail(db, err);
	}
	return 0;
}

int orders_note(struct db *db, const char *merchant, int64_t id,
    const char *text, int64_t event_id, char *err)
{
	char cur[16];

	if (text == NULL || text[0] == '\0' || strlen(text) > MAX_NOTE)
		return fail(err, "a note must be text of 1..%d bytes", MAX_NOTE);
	if (current_status(db, merchant, id, cur, sizeof cur, err) != 0)
		return -1;
	return history(db, id, event_id, "note", NULL, NULL, text) == 0 ? 0 : db_fail(db, err);
}

int orders_tag(struct db *db, const char *merchant, int64_t id,
    const char *tag, int64_t event_id, char *err)
{
	char cur[16];
	sqlite3_stmt *st;

	if (tag == NULL || tag[0] == '\0' || strlen(tag) > 255)
		return fail(err, "a tag must be text of 1..255 bytes");
	if (current_status(db, merchant, id, cur, sizeof cur, err) != 0)
		return -1;
	/* json_each keeps this one portable statement; no read-modify-write in C. */
	st = db_prepare(db, "UPDATE orders SET tags = json_insert(tags, '$[#]', ?2), updated_at = ?3"
	    " WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM json_each(orders.tags) WHERE value = ?2)"
	    "   AND json_array_length(tags) < 100");
	if (st == NULL)
		return db_fail(db, err);
	sqlite3_bind_int64(st, 1, id);
	db_bind_text(st, 2, tag);
	sqlite3_bind_int64(st, 3, clock_now_ms());
	if (db_step_done(st) != 0)
		return db_fail(db, err);
	if (db_changes(db) > 0 && history(db, id, event_id, "tag", NULL, tag, NULL) != 0)
		return db_fail(db, err);
	return 0;
}

static int kind_known(const char *k)
{
	return k && (strcmp(k, "authorization") == 0 || strcmp(k, "capture") == 0 ||
	    strcmp(k, "refund") == 0 || strcmp(k, "void") == 0);
}

static int pay_status_known(const char *s)
{
	return s && (strcmp(s, "pending") == 0 || strcmp(s, "succeeded") == 0 ||
	    strcmp(s, "failed") == 0);
}

int64_t orders_record_payment(struct db *db, const char *merchant, int64_t id,
    const char *kind, int64_t amount, const char *status, const char *gateway,
    const char *reference, int64_t event_id, char *err)
{
	struct money_facts f;
	char msg[160], amt[48], currency[8] = "";
	sqlite3_stmt *st;
	int64_t pid, for_total;
	int rc;

	if (!kind_known(kind))
		return fail(err, "unknown payment kind \"%s\" (authorization, capture, refund, void)",
		    kind ? kind : "");
	if (!pay_status_known(status))
		return fail(err, "unknown payment status \"%s\" (pending, succeeded, failed)",
		    status ? status : "");
	if (amount < 0 || amount > MAX_AMOUNT)
		return fail(err, "payment amount %" PRId64 " is out of range", amount);
	if (gateway == NULL || gateway[0] == '\0' || strlen(gateway) > 64)
		return fail(err, "a payment needs a gateway name of 1..64 bytes");
	st = db_prepare(db, "SELECT currency FROM orders WHERE id = ? AND merchant = ?");
	if (st == NULL)
		return db_fail(db, err);
	sqlite3_bind_int64(st, 1, id);
	db_bind_text(st, 2, merchant);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		snprintf(currency, sizeof currency, "%s", (const char *)sqlite3_column_text(st, 0));
	db_reset(st);
	if (rc == SQLITE_DONE)
		return fail(err, "order %" PRId64 " not found", id);
	if (rc != SQLITE_ROW || load_facts(db, id, &f) != 0)
		return db_fail(db, err);
	if (strcmp(status, "succeeded") == 0) {
		if (strcmp(kind, "refund") == 0 && amount > f.captured - f.refunded)
			return fail(err, "refund of %" PRId64 " is more than the %" PRId64
			    " captured and not yet refunded", amount, f.captured - f.refunded);
		if (strcmp(kind, "capture") == 0 && amount > f.total - f.captured)
			return fail(err, "capture of %" PRId64 " is more than the %" PRId64
			    " still outstanding", amount, f.total - f.captured);
	}
	/* A refund gives back first what was paid toward the total beyond a
	 * lowered total (payments.h): only that part lowers what counts as
	 * paid; the rest (goodwill, a return) is never owed again. */
	for_total = strcmp(kind, "refund") == 0 && strcmp(status, "failed") != 0 ?
	    payments_for_total(db, id, amount) : 0;
	if (for_total < 0)
		return db_fail(db, err);
	st = db_prepare(db, "INSERT INTO payments (order_id, kind, amount, currency, status, gateway,"
	    " reference, event_id, created_at, for_total) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	    " RETURNING id");
	if (st == NULL)
		return db_fail(db, err);
	sqlite3_bind_int64(st, 1, id);
	db_bind_text(st, 2, kind);
	sqlite3_bind_int64(st, 3, amount);
	db_bind_text(st, 4, currency);
	db_bind_text(st, 5, status);
	db_bind_text(st, 6, gateway);
	db_bind_text(st, 7, reference);
	if (event_id > 0)
		sqlite3_bind_int64(st, 8, event_id);
	sqlite3_bind_int64(st, 9, clock_now_ms());
	sqlite3_bind_int64(st, 10, for_total);
	pid = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	db_reset(st);
	if (pid < 0)
		return db_fail(db, err);
	if (money_format(amount, currency, amt, sizeof amt) < 0)
		snprintf(amt, sizeof amt, "%" PRId64, amount);
	snprintf(msg, sizeof msg, "%s of %s %s %s via %s", kind, amt, currency, status, gateway);
	if (history(db, id, event_id, "payment", NULL, kind, msg) != 0 ||
	    refresh(db, id, event_id) != 0)
		return db_fail(db, err);
	return pid;
}

/* The oldest refund of ours through `gateway` on the order that no
 * storefront refund echoes yet: with reference `ref`, or else of `amount`.
 * @return its id, 0 when none, -1 on a database error. */
static int64_t unechoed_refund(struct db *db, int64_t id, const char *gateway, const char *ref,
    int64_t amount)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT p.id FROM payments p WHERE p.order_id = ?"
	    " AND p.kind = 'refund' AND p.gateway = ? AND p.status <> 'failed'"
	    " AND (CASE WHEN ? IS NULL THEN p.amount = ? ELSE p.reference = ? END)"
	    " AND NOT EXISTS (SELECT 1 FROM storefront_refunds s WHERE s.matched_id = p.id)"
	    " ORDER BY p.id LIMIT 1");
	int64_t out;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	db_bind_text(st, 2, gateway);
	db_bind_text(st, 3, ref);
	sqlite3_bind_int64(st, 4, amount);
	db_bind_text(st, 5, ref);
	rc = sqlite3_step(st);
	out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : rc == SQLITE_DONE ? 0 : -1;
	db_reset(st);
	return out;
}

const char *orders_storefront_refund(struct db *db, const char *merchant, int64_t id,
    const char *external_id, int64_t amount, const char *const *refs, size_t n_refs,
    const char *gateway, int64_t event_id, char *err)
{
	sqlite3_stmt *st;
	int64_t match = 0, pid = 0;
	char channel[40] = "", msg[300];
	int rc;

	if (external_id == NULL || external_id[0] == '\0' || strlen(external_id) > 255)
		return fail(err, "a storefront refund needs its id (1 to 255 bytes)"), NULL;
	if (amount <= 0)
		return fail(err, "a refund amount must be positive minor units, got %" PRId64, amount),
		    NULL;
	st = db_prepare(db, "SELECT o.channel, EXISTS (SELECT 1 FROM storefront_refunds s WHERE"
	    " s.merchant = o.merchant AND s.order_id = o.id AND s.external_id = ?) FROM orders o"
	    " WHERE o.id = ? AND o.merchant = ?");
	if (st == NULL)
		return db_fail(db, err), NULL;
	db_bind_text(st, 1, external_id);
	sqlite3_bind_int64(st, 2, id);
	db_bind_text(st, 3, merchant);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		snprintf(channel, sizeof channel, "%s", (const char *)sqlite3_column_text(st, 0));
	if (rc == SQLITE_ROW && sqlite3_column_int(st, 1)) {
		db_reset(st);
		return "duplicate";
	}
	db_reset(st);
	if (rc == SQLITE_DONE)
		return fail(err, "order %" PRId64 " not found", id), NULL;
	if (rc != SQLITE_ROW)
		return db_fail(db, err), NULL;
	for (size_t i = 0; gateway != NULL && match == 0 && i < n_refs; i++)
		if (refs[i] != NULL && refs[i][0] != '\0')
			match = unechoed_refund(db, id, gateway, refs[i], amount);
	if (gateway != NULL && match == 0 && n_refs == 0)
		match = unechoed_refund(db, id, gateway, NULL, amount);
	if (match < 0)
		return db_fail(db, err), NULL;
	if (match == 0 && (pid = orders_record_payment(db, merchant, id, "refund", amount,
	    "succeeded", channel, external_id, event_id, err)) < 0)
		return NULL;
	st = db_prepare(db, "INSERT INTO storefront_refunds (merchant, order_id, external_id, amount,"
	    " payment_id, matched_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)");
	if (st == NULL)
		return db_fail(db, err), NULL;
	db_bind_text(st, 1, merchant);
	sqlite3_bind_int64(st, 2, id);
	db_bind_text(st, 3, external_id);
	sqlite3_bind_int64(st, 4, amount);
	if (pid > 0)
		sqlite3_bind_int64(st, 5, pid);
	if (match > 0)
		sqlite3_bind_int64(st, 6, match);
	sqlite3_bind_int64(st, 7, clock_now_ms());
	if (db_step_done(st) != 0)
		return db_fail(db, err), NULL;
	if (match > 0) {
		snprintf(msg, sizeof msg, "Storefront refund %.200s is payment %" PRId64
		    " of ours, reported back: not counted twice", external_id, match);
		if (history(db, id, event_id, "payment", NULL, "refund_matched", msg) != 0)
			return db_fail(db, err), NULL;
		return "matched";
	}
	return "recorded";
}

int orders_mark_paid(struct db *db, const char *merchant, int64_t id,
    int64_t amount, const char *gateway, int64_t event_id, char *err)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT channel FROM orders WHERE id = ? AND merchant = ?");
	struct money_facts f;
	char channel[40] = "";
	int rc;

	if (st == NULL)
		return db_fail(db, err);
	sqlite3_bind_int64(st, 1, id);
	db_bind_text(st, 2, merchant);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		snprintf(channel, sizeof channel, "%s", (const char *)sqlite3_column_text(st, 0));
	db_reset(st);
	if (rc == SQLITE_DONE)
		return fail(err, "order %" PRId64 " not found", id);
	if (rc != SQLITE_ROW || load_facts(db, id, &f) != 0)
		return db_fail(db, err);
	if (amount < 0)
		amount = f.total - f.captured;
	if (amount <= 0)
		return 0;
	return orders_record_payment(db, merchant, id, "capture", amount, "succeeded",
	    gateway ? gateway : channel, NULL, event_id, err) < 0 ? -1 : 0;
}

int orders_payment_status(struct db *db, const char *merchant, int64_t id,
    char *buf, size_t len, char *err)
{
	sqlite3_stmt *st = db_prepare(db,
	    "SELECT payment_status FROM orders WHERE id = ? AND merchant = ?");
	int rc;

	if (st == NULL)
		return db_fail(db, err);
	sqlite3_bind_int64(st, 1, id);
	db_bind_text(st, 2, merchant);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		snprintf(buf, len, "%s", (const char *)sqlite3_column_text(st, 0));
	db_reset(st);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? fail(err, "order %" PRId64 " not found", id) : db_fail(db, err);
}

/* ------------------------------------------------------------------ */
/* Reading                                                             */
/* ------------------------------------------------------------------ */

#define ORDER_COLUMNS \
	"id, channel, external_id, number, status, payment_status, fulfillment_status," \
	" currency, subtotal, shipping, tax, discount, total, email, customer," \
	" shipping_address, tags, financial_status, placed_at, created_at, updated_at," \
	" subscription_id, renewal_cycle"


static json_t *col_json(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	json_t *v = t ? json_loads((const char *)t, 0, NULL) : NULL;

	return v ? v : json_null();
}

static json_t *order_row(sqlite3_stmt *st)
{
	json_t *o = json_object();

	json_object_set_new(o, "id", json_integer(sqlite3_column_int64(st, 0)));
	json_object_set_new(o, "channel", db_column_json(st, 1));
	json_object_set_new(o, "external_id", db_column_json(st, 2));
	json_object_set_new(o, "number", db_column_json(st, 3));
	json_object_set_new(o, "status", db_column_json(st, 4));
	json_object_set_new(o, "payment_status", db_column_json(st, 5));
	json_object_set_new(o, "fulfillment_status", db_column_json(st, 6));
	json_object_set_new(o, "currency", db_column_json(st, 7));
	json_object_set_new(o, "subtotal", json_integer(sqlite3_column_int64(st, 8)));
	json_object_set_new(o, "shipping", json_integer(sqlite3_column_int64(st, 9)));
	json_object_set_new(o, "tax", json_integer(sqlite3_column_int64(st, 10)));
	json_object_set_new(o, "discount", json_integer(sqlite3_column_int64(st, 11)));
	json_object_set_new(o, "total", json_integer(sqlite3_column_int64(st, 12)));
	json_object_set_new(o, "email", db_column_json(st, 13));
	json_object_set_new(o, "customer", col_json(st, 14));
	json_object_set_new(o, "shipping_address", col_json(st, 15));
	json_object_set_new(o, "tags", col_json(st, 16));
	json_object_set_new(o, "financial_status", db_column_json(st, 17));
	json_object_set_new(o, "placed_at", db_column_time(st, 18));
	json_object_set_new(o, "created_at", db_column_time(st, 19));
	json_object_set_new(o, "updated_at", db_column_time(st, 20));
	if (sqlite3_column_type(st, 21) != SQLITE_NULL) {
		json_object_set_new(o, "subscription_id", json_integer(sqlite3_column_int64(st, 21)));
		json_object_set_new(o, "renewal_cycle", json_integer(sqlite3_column_int64(st, 22)));
	}
	return o;
}

static int add_lines(struct db *db, json_t *o, int64_t id)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT l.id, l.external_id, l.sku, l.title, l.quantity,"
	    " l.unit_price, l.total, l.fulfilled_quantity, l.fulfillment, l.line_no,"
	    " COALESCE((SELECT SUM(r.quantity) FROM reservations r WHERE r.order_id = l.order_id"
	    "   AND r.line_no = l.line_no AND r.status = 'reserved'), 0),"
	    " COALESCE((SELECT SUM(b.quantity) FROM backorders b WHERE b.order_id = l.order_id"
	    "   AND b.line_no = l.line_no AND b.status = 'waiting'), 0),"
	    " (SELECT MIN(p.expected_at) FROM purchase_orders p JOIN orders o ON o.id = l.order_id"
	    "   WHERE p.merchant = o.merchant AND p.sku = l.sku"
	    "   AND p.status IN ('open', 'partially_received')),"
	    " l.canceled_quantity"
	    " FROM order_lines l WHERE l.order_id = ? ORDER BY l.line_no");
	json_t *arr = json_array();
	int rc;

	if (st == NULL) {
		json_decref(arr);
		return -1;
	}
	sqlite3_bind_int64(st, 1, id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *l = json_object();

		json_object_set_new(l, "id", json_integer(sqlite3_column_int64(st, 0)));
		json_object_set_new(l, "external_id", db_column_json(st, 1));
		json_object_set_new(l, "sku", db_column_json(st, 2));
		json_object_set_new(l, "title", db_column_json(st, 3));
		json_object_set_new(l, "quantity", json_integer(sqlite3_column_int64(st, 4)));
		json_object_set_new(l, "unit_price", json_integer(sqlite3_column_int64(st, 5)));
		json_object_set_new(l, "total", json_integer(sqlite3_column_int64(st, 6)));
		json_object_set_new(l, "fulfilled_quantity", json_integer(sqlite3_column_int64(st, 7)));
		json_object_set_new(l, "canceled_quantity", json_integer(sqlite3_column_int64(st, 13)));
		json_object_set_new(l, "fulfillment", db_column_json(st, 8));
		json_object_set_new(l, "line_no", json_integer(sqlite3_column_int64(st, 9)));
		json_object_set_new(l, "reserved", json_integer(sqlite3_column_int64(st, 10)));
		json_object_set_new(l, "backordered", json_integer(sqlite3_column_int64(st, 11)));
		/* A waiting line expects what the earliest open purchase order brings. */
		if (sqlite3_column_int64(st, 11) > 0 && sqlite3_column_type(st, 12) != SQLITE_NULL)
			json_object_set_new(l, "expected_at", db_column_time(st, 12));
		json_array_append_new(arr, l);
	}
	db_reset(st);
	json_object_set_new(o, "lines", arr);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int add_history(struct db *db, json_t *o, int64_t id)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT at, event_id, kind, from_value, to_value, message"
	    " FROM order_history WHERE order_id = ? ORDER BY id");
	json_t *arr = json_array();
	int rc;

	if (st == NULL) {
		json_decref(arr);
		return -1;
	}
	sqlite3_bind_int64(st, 1, id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *h = json_object();

		json_object_set_new(h, "at", db_column_time(st, 0));
		json_object_set_new(h, "event_id", sqlite3_column_type(st, 1) == SQLITE_NULL
		    ? json_null() : json_integer(sqlite3_column_int64(st, 1)));
		json_object_set_new(h, "kind", db_column_json(st, 2));
		json_object_set_new(h, "from", db_column_json(st, 3));
		json_object_set_new(h, "to", db_column_json(st, 4));
		json_object_set_new(h, "message", db_column_json(st, 5));
		json_array_append_new(arr, h);
	}
	db_reset(st);
	json_object_set_new(o, "history", arr);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int add_payments(struct db *db, json_t *o, int64_t id)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT id, kind, amount, currency, status, gateway,"
	    " reference, event_id, created_at, error, parent_id FROM payments WHERE order_id = ?"
	    " ORDER BY id");
	json_t *arr = json_array();
	int rc;

	if (st == NULL) {
		json_decref(arr);
		return -1;
	}
	sqlite3_bind_int64(st, 1, id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *p = json_object();

		json_object_set_new(p, "id", json_integer(sqlite3_column_int64(st, 0)));
		json_object_set_new(p, "kind", db_column_json(st, 1));
		json_object_set_new(p, "amount", json_integer(sqlite3_column_int64(st, 2)));
		json_object_set_new(p, "currency", db_column_json(st, 3));
		json_object_set_new(p, "status", db_column_json(st, 4));
		json_object_set_new(p, "gateway", db_column_json(st, 5));
		json_object_set_new(p, "reference", db_column_json(st, 6));
		json_object_set_new(p, "event_id", sqlite3_column_type(st, 7) == SQLITE_NULL
		    ? json_null() : json_integer(sqlite3_column_int64(st, 7)));
		json_object_set_new(p, "created_at", db_column_time(st, 8));
		json_object_set_new(p, "error", db_column_json(st, 9));
		json_object_set_new(p, "parent_id", sqlite3_column_type(st, 10) == SQLITE_NULL
		    ? json_null() : json_integer(sqlite3_column_int64(st, 10)));
		json_array_append_new(arr, p);
	}
	db_reset(st);
	json_object_set_new(o, "payments", arr);
	return rc == SQLITE_DONE ? 0 : -1;
}

json_t *orders_get(struct db *db, const char *merchant, int64_t id, unsigned parts)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT " ORDER_COLUMNS
	    " FROM orders WHERE id = ? AND merchant = ?");
	json_t *o = NULL;

	if (st == NULL)
		return NULL;
	sqlite3_bind_int64(st, 1, id);
	db_bind_text(st, 2, merchant);
	if (sqlite3_step(st) == SQLITE_ROW)
		o = order_row(st);
	db_reset(st);
	if (o == NULL)
		return NULL;
	if (((parts & ORDERS_LINES) && add_lines(db, o, id) != 0) ||
	    ((parts & ORDERS_HISTORY) && add_history(db, o, id) != 0) ||
	    ((parts & ORDERS_PAYMENTS) && add_payments(db, o, id) != 0)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *orders_list(struct db *db, const char *merchant,
    const struct orders_filter *f, char *err)
{
	/* Two static statements: NULL parameters mean "any", so the cache and
	 * the planner each see one shape. A search (q) first gathers the ids
	 * it names from indexes (orders_external, orders_email, order_lines_sku)
	 * and reads those rows only: without it a search is a scan of every
	 * order of the merchant. The unary + keeps the planner on that list. */
#define ORDERS_FILTERS \
	" AND (?2 IS NULL OR channel = ?2)" \
	" AND (?3 IS NULL OR external_id = ?3) AND (?4 IS NULL OR status = ?4)" \
	" AND (?7 IS NULL OR email = ?7 COLLATE NOCASE)" \
	" AND (?8 IS NULL OR id IN (SELECT order_id FROM order_lines WHERE sku = ?8))" \
	" AND id < ?5 ORDER BY id DESC LIMIT ?6"
	sqlite3_stmt *st = f->q == NULL
	    ? db_prepare(db, "SELECT " ORDER_COLUMNS " FROM orders WHERE merchant = ?1"
	        " AND ?9 IS NULL" ORDERS_FILTERS)
	    : db_prepare(db, "SELECT " ORDER_COLUMNS " FROM orders WHERE id IN ("
	        "   SELECT id FROM orders WHERE merchant = ?1 AND external_id = ?9"
	        "   UNION SELECT id FROM orders WHERE merchant = ?1 AND email = ?9 COLLATE NOCASE"
	        "   UNION SELECT order_id FROM order_lines WHERE sku = ?9)"
	        " AND +merchant = ?1" ORDERS_FILTERS);
#undef ORDERS_FILTERS
	json_t *out, *arr;
	int64_t last = 0;
	int rc, n = 0;
	char cursor[32];

	if (f->limit < 1 || f->limit > 200) {
		fail(err, "limit must be 1..200");
		return NULL;
	}
	if (f->status != NULL && !status_known(f->status)) {
		fail(err, "unknown status \"%s\" (draft, placed, completed, canceled)", f->status);
		return NULL;
	}
	if (st == NULL) {
		db_fail(db, err);
		return NULL;
	}
	db_bind_text(st, 1, merchant);
	db_bind_text(st, 2, f->channel);
	db_bind_text(st, 3, f->external_id);
	db_bind_text(st, 4, f->status);
	sqlite3_bind_int64(st, 5, f->before_id > 0 ? f->before_id : INT64_MAX);
	sqlite3_bind_int(st, 6, f->limit + 1);
	db_bind_text(st, 7, f->email);
	db_bind_text(st, 8, f->sku);
	db_bind_text(st, 9, f->q);
	arr = json_array();
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == f->limit)
			break;
		last = sqlite3_column_int64(st, 0);
		json_array_append_new(arr, order_row(st));
		n++;
	}
	db_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		json_decref(arr);
		db_fail(db, err);
		return NULL;
	}
	out = json_object();
	json_object_set_new(out, "orders", arr);
	if (rc == SQLITE_ROW) {
		snprintf(cursor, sizeof cursor, "%" PRId64, last);
		json_object_set_new(out, "next_cursor", json_string(cursor));
	} else {
		json_object_set_new(out, "next_cursor", json_null());
	}
	return out;
}

json_t *orders_summary(struct db *db, const char *merchant)
{
	/* One pass over the covering index orders_pipeline, never the rows. */
	static const char *const cols[] = { "status", "fulfillment_status" };
	sqlite3_stmt *st = db_prepare(db, "SELECT status, fulfillment_status, COUNT(*)"
	    " FROM orders WHERE merchant = ? GROUP BY 1, 2");
	json_t *out, *by[2];
	json_int_t total = 0;
	int rc;

	if (st == NULL)
		return NULL;
	out = json_object();
	for (int i = 0; i < 2; i++) {
		by[i] = json_object();
		json_object_set_new(out, cols[i], by[i]);
	}
	db_bind_text(st, 1, merchant);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_int_t n = sqlite3_column_int64(st, 2);

		for (int i = 0; i < 2; i++) {
			const char *k = (const char *)sqlite3_column_text(st, i);
			json_t *cur = json_object_get(by[i], k);

			json_object_set_new(by[i], k, json_integer(json_integer_value(cur) + n));
		}
		total += n;
	}
	db_reset(st);
	if (rc != SQLITE_DONE) {
		json_decref(out);
		return NULL;
	}
	json_object_set_new(out, "total", json_integer(total));
	return out;
}
