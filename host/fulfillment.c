/*
 * fulfillment — shipments and the stock-out (see fulfillment.h).
 *
 * Depends on db, config (locations), inbox (events), orders (history,
 * derived status, outgoing-webhook topics) and clock. Shipping moves
 * reserved units out in one statement per line, under the same CHECKs
 * that keep stock from going negative.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ordo/clock.h"
#include "ordo/config.h"
#include "ordo/db.h"
#include "ordo/fulfillment.h"
#include "ordo/inbox.h"
#include "ordo/inventory.h"
#include "ordo/orders.h"

#define MAX_LINES 1000

static const char *const states[] = { "pending", "picked", "packed", "shipped", "delivered", NULL };

static int fail(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(char *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, SHIP_ERRLEN, fmt, ap);
	va_end(ap);
	return -1;
}

static int db_fail(struct db *db, char *err)
{
	return fail(err, "database error: %s", db_errmsg(db));
}

static int rank(const char *status)
{
	for (int i = 0; states[i]; i++)
		if (strcmp(states[i], status) == 0)
			return i;
	return strcmp(status, "canceled") == 0 ? 100 : -1;
}

static int raise_event(struct db *db, const char *merchant, int64_t order_id, int64_t ship_id,
    const char *topic, int64_t event_id)
{
	char key[200] = "", payload[128], dedup[64];
	sqlite3_stmt *st = db_prepare(db, "SELECT channel || ':' || external_id FROM orders WHERE id = ?");
	struct inbox_item item = { .merchant = merchant, .source = "internal", .topic = topic,
	                           .payload = payload, .dedup_key = dedup };
	int dup;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, order_id);
	if (sqlite3_step(st) == SQLITE_ROW)
		snprintf(key, sizeof key, "%s", (const char *)sqlite3_column_text(st, 0));
	db_reset(st);
	item.order_key = key[0] ? key : NULL;
	snprintf(payload, sizeof payload, "{\"order_id\":%" PRId64 ",\"shipment_id\":%" PRId64 "}",
	    order_id, ship_id);
	item.payload_len = strlen(payload);
	snprintf(dedup, sizeof dedup, "%s:%" PRId64, topic, ship_id);
	(void)event_id;
	return inbox_insert(db, &item, 0, &dup) < 0 ? -1 : 0;
}

int64_t ship_create(struct db *db, const struct merchant_config *m, int64_t order_id,
    const char *location, const json_t *lines, int64_t event_id, char *err)
{
	struct { int line; int64_t qty; } want[MAX_LINES];
	sqlite3_stmt *st;
	int n = 0, owned = orders_owned(db, m->id, order_id);
	int64_t id;
	size_t i;
	json_t *e;
	char msg[160];

	if (owned <= 0)
		return owned < 0 ? db_fail(db, err) : fail(err, "order %" PRId64 " not found", order_id);
	if (config_location(m, location) == NULL)
		return fail(err, "unknown location \"%.64s\"", location ? location : "");
	if (lines == NULL || (json_is_object(lines) && json_object_size(lines) == 0)) {
		/* Everything reserved there and not yet in a shipment. */
		st = db_prepare(db, "SELECT DISTINCT line_no FROM reservations WHERE order_id = ?"
		    " AND location = ? AND status = 'reserved' ORDER BY line_no");
		if (st == NULL)
			return db_fail(db, err);
		sqlite3_bind_int64(st, 1, order_id);
		db_bind_text(st, 2, location);
		while (n < MAX_LINES && sqlite3_step(st) == SQLITE_ROW)
			want[n++].line = sqlite3_column_int(st, 0);
		db_reset(st);
		for (int k = 0; k < n; k++)
			want[k].qty = inv_shippable(db, order_id, want[k].line, location);
	} else {
		if (!json_is_array(lines))
			return fail(err, "shipment lines are a list of {line=, quantity=}");
		json_array_foreach(lines, i, e) {
			const json_t *jl = json_object_get(e, "line"), *jq = json_object_get(e, "quantity");
			int64_t can;

			if (n >= MAX_LINES || !json_is_integer(jl) || !json_is_integer(jq) ||
			    json_integer_value(jq) <= 0)
				return fail(err, "lines[%zu]: give line = n and a positive quantity", i + 1);
			want[n].line = (int)json_integer_value(jl);
			want[n].qty = json_integer_value(jq);
			/* Each entry is checked against what the line has; a line
			 * given twice would pass twice. */
			for (int k = 0; k < n; k++)
				if (want[k].line == want[n].line)
					return fail(err, "lines[%zu]: line %d is listed twice (also lines[%d]);"
					    " give each line once with its whole quantity", i + 1, want[n].line,
					    k + 1);
			can = inv_shippable(db, order_id, want[n].line, location);
			if (can < 0)
				return db_fail(db, err);
			if (want[n].qty > can)
				return fail(err, "lines[%zu]: line %d has %" PRId64 " unit%s reserved at %s and"
				    " not yet in a shipment; cannot ship %" PRId64, i + 1, want[n].line, can,
				    can == 1 ? "" : "s", location, want[n].qty);
			n++;
		}
	}
	{
		int64_t total = 0;

		for (int k = 0; k < n; k++)
			total += want[k].qty > 0 ? want[k].qty : 0;
		if (total == 0)
			return fail(err, "nothing reserved at %s is left to ship for order %" PRId64,
			    location, order_id);
	}
	st = db_prepare(db, "INSERT INTO shipments (merchant, order_id, location, created_at,"
	    " updated_at, event_id) VALUES (?, ?, ?, ?, ?, ?) RETURNING id");
	if (st == NULL)
		return db_fail(db, err);
	db_bind_text(st, 1, m->id);
	sqlite3_bind_int64(st, 2, order_id);
	db_bind_text(st, 3, location);
	sqlite3_bind_int64(st, 4, clock_now_ms());
	sqlite3_bind_int64(st, 5, clock_now_ms());
	if (event_id > 0)
		sqlite3_bind_int64(st, 6, event_id);
	id = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	db_reset(st);
	if (id < 0)
		return db_fail(db, err);
	for (int k = 0; k < n; k++) {
		if (want[k].qty <= 0)
			continue;
		st = db_prepare(db, "INSERT INTO shipment_lines (shipment_id, line_no, quantity) VALUES (?, ?, ?)"
		    " ON CONFLICT (shipment_id, line_no) DO UPDATE SET quantity = quantity + excluded.quantity");
		if (st == NULL)
			return db_fail(db, err);
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int(st, 2, want[k].line);
		sqlite3_bind_int64(st, 3, want[k].qty);
		if (db_step_done(st) != 0)
			return db_fail(db, err);
	}
	snprintf(msg, sizeof msg, "shipment %" PRId64 " from %s created", id, location);
	if (orders_history(db, order_id, event_id, "shipment", NULL, "pending", msg) != 0)
		return db_fail(db, err);
	return id;
}

/* The stock-out of one shipment line: reservations at the location turn
 * shipped (split when partly), stock leaves on hand and reserved.
 * @return 0, -2 when fewer units are reserved than the line ships, -1 on
 * a database error. */
static int stock_out(struct db *db, const char *merchant, int64_t order_id, const char *loc,
    int line, int64_t qty, int64_t event_id)
{
	sqlite3_stmt *st;
	int64_t need = qty;
	char sku[256] = "";
	int rc;

	while (need > 0) {
		int64_t rid, rq;

		st = db_prepare(db, "SELECT id, quantity, sku FROM reservations WHERE order_id = ? AND"
		    " line_no = ? AND location = ? AND status = 'reserved' ORDER BY id LIMIT 1");
		if (st == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, order_id);
		sqlite3_bind_int(st, 2, line);
		db_bind_text(st, 3, loc);
		if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
			db_reset(st);
			/* Fewer reserved than when the shipment was made: its
			 * stock was released since. */
			return rc == SQLITE_DONE ? -2 : -1;
		}
		rid = sqlite3_column_int64(st, 0);
		rq = sqlite3_column_int64(st, 1);
		snprintf(sku, sizeof sku, "%s", (const char *)sqlite3_column_text(st, 2));
		db_reset(st);
		if (rq <= need) {
			st = db_prepare(db, "UPDATE reservations SET status = 'shipped' WHERE id = ?");
			if (st == NULL)
				return -1;
			sqlite3_bind_int64(st, 1, rid);
			if (db_step_done(st) != 0)
				return -1;
			need -= rq;
		} else {
			st = db_prepare(db, "UPDATE reservations SET quantity = quantity - ? WHERE id = ?");
			if (st == NULL)
				return -1;
			sqlite3_bind_int64(st, 1, need);
			sqlite3_bind_int64(st, 2, rid);
			if (db_step_done(st) != 0)
				return -1;
			st = db_prepare(db, "INSERT INTO reservations (merchant, order_id, line_no, sku,"
			    " location, quantity, status, created_at, event_id) VALUES (?, ?, ?, ?, ?, ?,"
			    " 'shipped', ?, ?)");
			if (st == NULL)
				return -1;
			db_bind_text(st, 1, merchant);
			sqlite3_bind_int64(st, 2, order_id);
			sqlite3_bind_int(st, 3, line);
			db_bind_text(st, 4, sku);
			db_bind_text(st, 5, loc);
			sqlite3_bind_int64(st, 6, need);
			sqlite3_bind_int64(st, 7, clock_now_ms());
			if (event_id > 0)
				sqlite3_bind_int64(st, 8, event_id);
			if (db_step_done(st) != 0)
				return -1;
			need = 0;
		}
	}
	st = db_prepare(db, "UPDATE stock SET on_hand = on_hand - ?1, reserved = reserved - ?1,"
	    " updated_at = ?2 WHERE merchant = ?3 AND sku = ?4 AND location = ?5");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, qty);
	sqlite3_bind_int64(st, 2, clock_now_ms());
	db_bind_text(st, 3, merchant);
	db_bind_text(st, 4, sku);
	db_bind_text(st, 5, loc);
	if (db_step_done(st) != 0)
		return -1;
	st = db_prepare(db, "INSERT INTO stock_ledger (merchant, sku, location, kind, on_hand_delta,"
	    " reserved_delta, reason, order_id, event_id, at) VALUES (?, ?, ?, 'ship', ?, ?, 'shipped',"
	    " ?, ?, ?)");
	if (st == NULL)
		return -1;
	db_bind_text(st, 1, merchant);
	db_bind_text(st, 2, sku);
	db_bind_text(st, 3, loc);
	sqlite3_bind_int64(st, 4, -qty);
	sqlite3_bind_int64(st, 5, -qty);
	sqlite3_bind_int64(st, 6, order_id);
	if (event_id > 0)
		sqlite3_bind_int64(st, 7, event_id);
	sqlite3_bind_int64(st, 8, clock_now_ms());
	if (db_step_done(st) != 0)
		return -1;
	st = db_prepare(db, "UPDATE order_lines SET fulfilled_quantity = fulfilled_quantity + ?"
	    " WHERE order_id = ? AND line_no = ?");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, qty);
	sqlite3_bind_int64(st, 2, order_id);
	sqlite3_bind_int(st, 3, line);
	return db_step_done(st);
}

int ship_advance(struct db *db, const struct merchant_config *m, int64_t id,
    const char *status, const char *carrier, const char *tracking_number,
    const char *tracking_url, int64_t event_id, char *err)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT order_id, location, status FROM shipments"
	    " WHERE id = ? AND merchant = ?");
	char cur[16] = "", loc[72] = "", msg[300];
	int64_t order_id = 0;
	int rc, from, to;

	if (st == NULL)
		return db_fail(db, err);
	sqlite3_bind_int64(st, 1, id);
	db_bind_text(st, 2, m->id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		order_id = sqlite3_column_int64(st, 0);
		snprintf(loc, sizeof loc, "%s", (const char *)sqlite3_column_text(st, 1));
		snprintf(cur, sizeof cur, "%s", (const char *)sqlite3_column_text(st, 2));
	}
	db_reset(st);
	if (rc == SQLITE_DONE)
		return fail(err, "shipment %" PRId64 " not found", id);
	if (rc != SQLITE_ROW)
		return db_fail(db, err);
	from = rank(cur);
	to = status ? rank(status) : -1;
	if (to < 0 || to == 0)
		return fail(err, "a shipment moves to picked, packed, shipped, delivered or canceled");
	if (strcmp(cur, status) == 0)
		return 0;
	if (from >= 100 || (to == 100 && from >= 3) || (to < 100 && to < from))
		return fail(err, "shipment %" PRId64 " is %s; it cannot be %s", id, cur, status);
	if (to == 3 || (to == 4 && from < 3)) {
		/* Shipping (or delivering something never marked shipped). */
		st = db_prepare(db, "SELECT line_no, quantity FROM shipment_lines WHERE shipment_id = ?");
		struct { int line; int64_t q; } ls[MAX_LINES];
		int n = 0;

		if (st == NULL)
			return db_fail(db, err);
		sqlite3_bind_int64(st, 1, id);
		while (n < MAX_LINES && sqlite3_step(st) == SQLITE_ROW) {
			ls[n].line = sqlite3_column_int(st, 0);
			ls[n].q = sqlite3_column_int64(st, 1);
			n++;
		}
		db_reset(st);
		for (int k = 0; k < n; k++) {
			rc = stock_out(db, m->id, order_id, loc, ls[k].line, ls[k].q, event_id);
			if (rc == -2)
				return fail(err, "shipment %" PRId64 " line %d: fewer than its %" PRId64
				    " units are still reserved at %s (stock was released after the shipment"
				    " was made); it cannot be %s: cancel it and make a new one", id,
				    ls[k].line, ls[k].q, loc, status);
			if (rc != 0)
				return db_fail(db, err);
		}
	}
	st = db_prepare(db, "UPDATE shipments SET status = ?1, carrier = COALESCE(?2, carrier),"
	    " tracking_number = COALESCE(?3, tracking_number), tracking_url = COALESCE(?4, tracking_url),"
	    " updated_at = ?5, shipped_at = CASE WHEN ?6 THEN ?5 ELSE shipped_at END,"
	    " delivered_at = CASE WHEN ?7 THEN ?5 ELSE delivered_at END WHERE id = ?8");
	if (st == NULL)
		return db_fail(db, err);
	db_bind_text(st, 1, status);
	db_bind_text(st, 2, carrier);
	db_bind_text(st, 3, tracking_number);
	db_bind_text(st, 4, tracking_url);
	sqlite3_bind_int64(st, 5, clock_now_ms());
	sqlite3_bind_int(st, 6, to == 3 || (to == 4 && from < 3));
	sqlite3_bind_int(st, 7, to == 4);
	sqlite3_bind_int64(st, 8, id);
	if (db_step_done(st) != 0)
		return db_fail(db, err);
	snprintf(msg, sizeof msg, "shipment %" PRId64 " %s%s%s", id, status,
	    tracking_number ? ", tracking " : "", tracking_number ? tracking_number : "");
	if (orders_history(db, order_id, event_id, "shipment", cur, status, msg) != 0 ||
	    orders_refresh(db, order_id, event_id) != 0)
		return db_fail(db, err);
	if (to == 3 || to == 4 || to == 100) {
		const char *topic = to == 3 ? "order_shipped" : to == 4 ? "order_delivered" : "shipment_canceled";

		if (raise_event(db, m->id, order_id, id, topic, event_id) != 0 ||
		    (to != 100 && orders_emit(db, m->id, order_id, to == 3 ? "order.shipped" :
		    "order.delivered", event_id) != 0))
			return db_fail(db, err);
	}
	return 0;
}

int64_t ship_by_tracking(struct db *db, const char *merchant, const char *tracking_number)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT id FROM shipments WHERE merchant = ? AND"
	    " tracking_number = ? ORDER BY id DESC LIMIT 1");
	int64_t id = 0;
	int rc;

	if (st == NULL)
		return -1;
	db_bind_text(st, 1, merchant);
	db_bind_text(st, 2, tracking_number);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	db_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? id : -1;
}

static json_t *ship_row(struct db *db, sqlite3_stmt *st)
{
	json_t *o = json_object(), *lines = json_array();
	sqlite3_stmt *ls;
	char ts[32];

	json_object_set_new(o, "id", json_integer(sqlite3_column_int64(st, 0)));
	json_object_set_new(o, "order_id", json_integer(sqlite3_column_int64(st, 1)));
	json_object_set_new(o, "location", json_string((const char *)sqlite3_column_text(st, 2)));
	json_object_set_new(o, "status", json_string((const char *)sqlite3_column_text(st, 3)));
	for (int i = 4; i <= 6; i++) {
		static const char *const names[] = { "carrier", "tracking_number", "tracking_url" };
		const unsigned char *t = sqlite3_column_text(st, i);

		json_object_set_new(o, names[i - 4], t ? json_string((const char *)t) : json_null());
	}
	if (sqlite3_column_type(st, 7) != SQLITE_NULL) {
		clock_format_iso(sqlite3_column_int64(st, 7), ts);
		json_object_set_new(o, "shipped_at", json_string(ts));
	}
	if (sqlite3_column_type(st, 8) != SQLITE_NULL) {
		clock_format_iso(sqlite3_column_int64(st, 8), ts);
		json_object_set_new(o, "delivered_at", json_string(ts));
	}
	ls = db_prepare(db, "SELECT line_no, quantity FROM shipment_lines WHERE shipment_id = ?"
	    " ORDER BY line_no");
	if (ls != NULL) {
		sqlite3_bind_int64(ls, 1, sqlite3_column_int64(st, 0));
		while (sqlite3_step(ls) == SQLITE_ROW)
			json_array_append_new(lines, json_pack("{s:i,s:I}", "line", sqlite3_column_int(ls, 0),
			    "quantity", (json_int_t)sqlite3_column_int64(ls, 1)));
		db_reset(ls);
	}
	json_object_set_new(o, "lines", lines);
	return o;
}

#define SHIP_COLUMNS "id, order_id, location, status, carrier, tracking_number, tracking_url," \
	" shipped_at, delivered_at"

json_t *ship_get(struct db *db, const char *merchant, int64_t id)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT " SHIP_COLUMNS " FROM shipments WHERE id = ? AND merchant = ?");
	json_t *o = NULL;

	if (st == NULL)
		return NULL;
	sqlite3_bind_int64(st, 1, id);
	db_bind_text(st, 2, merchant);
	if (sqlite3_step(st) == SQLITE_ROW)
		o = ship_row(db, st);  /* reads its lines with another statement */
	db_reset(st);
	return o;
}

json_t *ship_list(struct db *db, const char *merchant, int64_t order_id)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT " SHIP_COLUMNS " FROM shipments WHERE order_id = ?"
	    " AND merchant = ? ORDER BY id");
	json_t *arr = json_array();

	if (st == NULL) {
		json_decref(arr);
		return NULL;
	}
	sqlite3_bind_int64(st, 1, order_id);
	db_bind_text(st, 2, merchant);
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(arr, ship_row(db, st));
	db_reset(st);
	return arr;
}
