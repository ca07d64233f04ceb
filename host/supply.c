/*
 * supply — purchase orders and drop-shipped lines (see supply.h).
 *
 * Depends on db, config (suppliers, locations), inventory (receiving),
 * notify (the signed POST), orders (history, derived status), inbox
 * (order_shipped for a drop-shipped shipment) and clock.
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
#include "ordo/notify.h"
#include "ordo/orders.h"
#include "ordo/outbox.h"
#include "ordo/supply.h"

#define DAY_MS INT64_C(86400000)

static int fail(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(char *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, SUPPLY_ERRLEN, fmt, ap);
	va_end(ap);
	return -1;
}

static int db_fail(struct db *db, char *err)
{
	return fail(err, "database error: %s", db_errmsg(db));
}

/* Send `body` (stolen) to the supplier, signed. */
static int send(struct db *db, const struct merchant_config *m, const struct supplier_config *sp,
    const char *event, json_t *body, int64_t order_id, int64_t event_id, const char *key, char *err)
{
	char delivery[400], nerr[NOTIFY_ERRLEN];
	json_t *meta = json_pack("{s:s,s:s}", "purpose", event, "supplier", sp->id);
	int64_t id;

	outbox_wire_key(db, m->id, "http", key, delivery, sizeof delivery);
	id = body && meta ? notify_post_signed(db, m, "http", sp->url, sp->secret, event, body, meta,
	    order_id, event_id, key, delivery, nerr) : -1;
	if (body == NULL || meta == NULL)
		snprintf(nerr, sizeof nerr, "out of memory");
	json_decref(body);
	json_decref(meta);
	return id < 0 ? fail(err, "%s", nerr) : 0;
}

int64_t supply_po_create(struct db *db, const struct merchant_config *m, const char *supplier,
    const char *sku, int64_t qty, const char *location, int64_t event_id, const char *key,
    char *err)
{
	const struct supplier_config *sp = config_supplier(m, supplier);
	sqlite3_stmt *st;
	int64_t id, expected;
	char ts[32], ref[96];

	if (sp == NULL)
		return fail(err, "unknown supplier \"%.64s\"", supplier ? supplier : "");
	if (sku == NULL || sku[0] == '\0' || strlen(sku) > 255)
		return fail(err, "a SKU must be 1 to 255 bytes");
	if (qty <= 0 || qty > INV_MAX_QUANTITY)
		return fail(err, "quantity must be a positive whole number, got %" PRId64, qty);
	if (location == NULL)
		location = sp->location ? sp->location : m->n_locations ? m->locations[0].id : NULL;
	if (location == NULL || config_location(m, location) == NULL)
		return fail(err, "unknown location \"%.64s\" to receive at", location ? location : "");
	expected = clock_now_ms() + (int64_t)sp->lead_time_days * DAY_MS;
	st = db_prepare(db, "INSERT INTO purchase_orders (merchant, supplier, sku, quantity, location,"
	    " expected_at, created_at, event_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id");
	if (st == NULL)
		return db_fail(db, err);
	db_bind_text(st, 1, m->id);
	db_bind_text(st, 2, sp->id);
	db_bind_text(st, 3, sku);
	sqlite3_bind_int64(st, 4, qty);
	db_bind_text(st, 5, location);
	sqlite3_bind_int64(st, 6, expected);
	sqlite3_bind_int64(st, 7, clock_now_ms());
	if (event_id > 0)
		sqlite3_bind_int64(st, 8, event_id);
	id = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	db_reset(st);
	if (id < 0)
		return db_fail(db, err);
	clock_format_iso(expected, ts);
	snprintf(ref, sizeof ref, "%s-po-%" PRId64, m->id, id);
	if (send(db, m, sp, "purchase_order.created", json_pack("{s:s,s:s,s:I,s:s,s:I,s:s,s:s}",
	    "type", "purchase_order", "reference", ref, "purchase_order_id", (json_int_t)id,
	    "sku", sku, "quantity", (json_int_t)qty, "deliver_to", location, "expected_at", ts),
	    0, event_id, key, err) != 0)
		return -1;
	return id;
}

int supply_po_receive(struct db *db, const struct merchant_config *m, int64_t id, int64_t qty,
    int64_t event_id, char *err)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT sku, location, quantity, received, status FROM"
	    " purchase_orders WHERE id = ? AND merchant = ?");
	char sku[256] = "", loc[72] = "", status[24] = "", reason[64], why[INV_ERRLEN];
	int64_t want = 0, got = 0;
	int rc;

	if (st == NULL)
		return db_fail(db, err);
	sqlite3_bind_int64(st, 1, id);
	db_bind_text(st, 2, m->id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(sku, sizeof sku, "%s", (const char *)sqlite3_column_text(st, 0));
		snprintf(loc, sizeof loc, "%s", (const char *)sqlite3_column_text(st, 1));
		want = sqlite3_column_int64(st, 2);
		got = sqlite3_column_int64(st, 3);
		snprintf(status, sizeof status, "%s", (const char *)sqlite3_column_text(st, 4));
	}
	db_reset(st);
	if (rc == SQLITE_DONE)
		return fail(err, "purchase order %" PRId64 " not found", id);
	if (rc != SQLITE_ROW)
		return db_fail(db, err);
	if (strcmp(status, "received") == 0 || strcmp(status, "canceled") == 0)
		return fail(err, "purchase order %" PRId64 " is %s; it cannot be received", id, status);
	if (qty <= 0 || qty > want - got)
		return fail(err, "purchase order %" PRId64 " has %" PRId64 " of %" PRId64 " still to come;"
		    " cannot receive %" PRId64, id, want - got, want, qty);
	snprintf(reason, sizeof reason, "purchase order %" PRId64, id);
	if (inv_adjust(db, m, sku, loc, qty, "receive", reason, event_id, why) != 0)
		return fail(err, "%s", why);
	st = db_prepare(db, "UPDATE purchase_orders SET received = received + ?1, status = CASE"
	    " WHEN received + ?1 >= quantity THEN 'received' ELSE 'partially_received' END WHERE id = ?2");
	if (st == NULL)
		return db_fail(db, err);
	sqlite3_bind_int64(st, 1, qty);
	sqlite3_bind_int64(st, 2, id);
	return db_step_done(st) == 0 ? 0 : db_fail(db, err);
}

json_t *supply_po_get(struct db *db, const char *merchant, int64_t id)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT id, supplier, sku, quantity, received, location,"
	    " status, expected_at FROM purchase_orders WHERE id = ? AND merchant = ?");
	json_t *o = NULL;
	char ts[32];

	if (st == NULL)
		return NULL;
	sqlite3_bind_int64(st, 1, id);
	db_bind_text(st, 2, merchant);
	if (sqlite3_step(st) == SQLITE_ROW) {
		clock_format_iso(sqlite3_column_int64(st, 7), ts);
		o = json_pack("{s:I,s:s,s:s,s:I,s:I,s:s,s:s,s:s}",
		    "id", (json_int_t)sqlite3_column_int64(st, 0),
		    "supplier", (const char *)sqlite3_column_text(st, 1),
		    "sku", (const char *)sqlite3_column_text(st, 2),
		    "quantity", (json_int_t)sqlite3_column_int64(st, 3),
		    "received", (json_int_t)sqlite3_column_int64(st, 4),
		    "location", (const char *)sqlite3_column_text(st, 5),
		    "status", (const char *)sqlite3_column_text(st, 6), "expected_at", ts);
	}
	db_reset(st);
	return o;
}

/* ------------------------------------------------------------------ */
/* Drop-shipping                                                       */
/* ------------------------------------------------------------------ */

int64_t supply_dropship(struct db *db, const struct merchant_config *m, int64_t order_id,
    const json_t *lines, const char *supplier, int64_t event_id, const char *key, char *err)
{
	const struct supplier_config *sp = config_supplier(m, supplier);
	json_t *order, *items, *out_lines, *e;
	sqlite3_stmt *st;
	char *text = NULL, ref[96];
	int64_t id = -1;
	size_t i;

	if (sp == NULL)
		return fail(err, "unknown supplier \"%.64s\"", supplier ? supplier : "");
	if (!json_is_array(lines) || json_array_size(lines) == 0)
		return fail(err, "lines are a list of {line=, quantity=}");
	if ((order = orders_get(db, m->id, order_id, ORDERS_LINES)) == NULL)
		return fail(err, "order %" PRId64 " not found", order_id);
	items = json_object_get(order, "lines");
	out_lines = json_array();
	json_array_foreach(lines, i, e) {
		const json_t *jl = json_object_get(e, "line"), *jq = json_object_get(e, "quantity");
		json_t *l = NULL, *x;
		size_t k;
		int64_t q = json_is_integer(jq) ? json_integer_value(jq) : 0, free_units;

		json_array_foreach(items, k, x)
			if (json_is_integer(jl) && json_integer_value(json_object_get(x, "line_no")) ==
			    json_integer_value(jl))
				l = x;
		if (l == NULL) {
			fail(err, "lines[%zu]: the order has no such line", i + 1);
			goto out;
		}
		/* Each entry is checked against what the line has free; a line
		 * given twice would pass twice. */
		for (k = 0; k < i; k++)
			if (json_integer_value(json_object_get(json_array_get(lines, k), "line")) ==
			    json_integer_value(jl)) {
				fail(err, "lines[%zu]: line %d is listed twice (also lines[%zu]); give each"
				    " line once with its whole quantity", i + 1, (int)json_integer_value(jl),
				    k + 1);
				goto out;
			}
		free_units = json_integer_value(json_object_get(l, "quantity")) -
		    json_integer_value(json_object_get(l, "fulfilled_quantity")) -
		    json_integer_value(json_object_get(l, "canceled_quantity")) -
		    json_integer_value(json_object_get(l, "reserved")) -
		    json_integer_value(json_object_get(l, "backordered"));
		if (strcmp(json_string_value(json_object_get(l, "fulfillment")), "dropship") == 0)
			free_units = 0;
		if (q <= 0 || q > free_units) {
			fail(err, "lines[%zu]: line %d has %" PRId64 " units not yet shipped, reserved,"
			    " backordered or drop-shipped; cannot forward %" PRId64, i + 1,
			    (int)json_integer_value(jl), free_units, q);
			goto out;
		}
		json_array_append_new(out_lines, json_pack("{s:I,s:O,s:O,s:I}", "line",
		    json_integer_value(jl), "sku", json_object_get(l, "sku"), "title",
		    json_object_get(l, "title"), "quantity", (json_int_t)q));
	}
	if ((text = json_dumps(lines, JSON_COMPACT)) == NULL) {
		fail(err, "out of memory");
		goto out;
	}
	st = db_prepare(db, "INSERT INTO dropships (merchant, order_id, supplier, lines, created_at,"
	    " updated_at, event_id) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id");
	if (st == NULL) {
		db_fail(db, err);
		goto out;
	}
	db_bind_text(st, 1, m->id);
	sqlite3_bind_int64(st, 2, order_id);
	db_bind_text(st, 3, sp->id);
	db_bind_text(st, 4, text);
	sqlite3_bind_int64(st, 5, clock_now_ms());
	sqlite3_bind_int64(st, 6, clock_now_ms());
	if (event_id > 0)
		sqlite3_bind_int64(st, 7, event_id);
	id = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	db_reset(st);
	if (id < 0) {
		db_fail(db, err);
		goto out;
	}
	json_array_foreach(lines, i, e) {
		st = db_prepare(db, "UPDATE order_lines SET fulfillment = 'dropship' WHERE order_id = ?"
		    " AND line_no = ?");
		if (st == NULL) {
			id = db_fail(db, err);
			goto out;
		}
		sqlite3_bind_int64(st, 1, order_id);
		sqlite3_bind_int64(st, 2, json_integer_value(json_object_get(e, "line")));
		if (db_step_done(st) != 0) {
			id = db_fail(db, err);
			goto out;
		}
	}
	snprintf(ref, sizeof ref, "%s-ds-%" PRId64, m->id, id);
	if (orders_history(db, order_id, event_id, "dropship", NULL, sp->id, "lines forwarded to"
	    " the supplier") != 0) {
		id = db_fail(db, err);
		goto out;
	}
	if (send(db, m, sp, "dropship.requested", json_pack("{s:s,s:s,s:I,s:O,s:O,s:O,s:o}",
	    "type", "dropship", "reference", ref, "dropship_id", (json_int_t)id,
	    "order_number", json_object_get(order, "number"),
	    "email", json_object_get(order, "email"),
	    "shipping_address", json_object_get(order, "shipping_address"),
	    "lines", out_lines), order_id, event_id, key, err) != 0) {
		out_lines = NULL;
		id = -1;
		goto out;
	}
	out_lines = NULL;
out:
	json_decref(out_lines);
	json_decref(order);
	free(text);
	return id;
}

int supply_dropship_update(struct db *db, const struct merchant_config *m, int64_t id,
    const char *sender, const char *status, const char *reason, const char *carrier,
    const char *tracking_number, const char *tracking_url, int64_t event_id, char *err)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT order_id, supplier, lines, status FROM dropships"
	    " WHERE id = ? AND merchant = ?");
	char cur[16] = "", supplier[72] = "", msg[200];
	json_t *lines = NULL, *e;
	int64_t order_id = 0, ship = 0;
	size_t i;
	int rc = -1;

	if (st == NULL)
		return db_fail(db, err);
	sqlite3_bind_int64(st, 1, id);
	db_bind_text(st, 2, m->id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		order_id = sqlite3_column_int64(st, 0);
		snprintf(supplier, sizeof supplier, "%s", (const char *)sqlite3_column_text(st, 1));
		lines = json_loads((const char *)sqlite3_column_text(st, 2), 0, NULL);
		snprintf(cur, sizeof cur, "%s", (const char *)sqlite3_column_text(st, 3));
	}
	db_reset(st);
	if (order_id == 0 || (sender != NULL && strcmp(sender, supplier) != 0)) {
		json_decref(lines);
		return fail(err, "dropship %" PRId64 " not found%s", id,
		    order_id ? " for this supplier" : "");
	}
	if (status == NULL || (strcmp(status, "accepted") != 0 && strcmp(status, "rejected") != 0 &&
	    strcmp(status, "shipped") != 0)) {
		fail(err, "a supplier answers accepted, rejected or shipped");
		goto out;
	}
	if (strcmp(cur, status) == 0) {
		rc = 0; /* a repeated answer */
		goto out;
	}
	if (strcmp(cur, "shipped") == 0 || strcmp(cur, "rejected") == 0 ||
	    (strcmp(status, "accepted") == 0 && strcmp(cur, "requested") != 0)) {
		fail(err, "dropship %" PRId64 " is %s; it cannot become %s", id, cur, status);
		goto out;
	}
	if (strcmp(status, "shipped") == 0) {
		/* A shipment on the order, from the supplier: no stock of ours moves. */
		st = db_prepare(db, "INSERT INTO shipments (merchant, order_id, location, status, carrier,"
		    " tracking_number, tracking_url, created_at, updated_at, shipped_at, event_id)"
		    " VALUES (?1, ?2, ?3, 'shipped', ?4, ?5, ?6, ?7, ?7, ?7, ?8) RETURNING id");
		if (st == NULL) {
			db_fail(db, err);
			goto out;
		}
		db_bind_text(st, 1, m->id);
		sqlite3_bind_int64(st, 2, order_id);
		db_bind_text(st, 3, supplier);
		db_bind_text(st, 4, carrier);
		db_bind_text(st, 5, tracking_number);
		db_bind_text(st, 6, tracking_url);
		sqlite3_bind_int64(st, 7, clock_now_ms());
		if (event_id > 0)
			sqlite3_bind_int64(st, 8, event_id);
		ship = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
		db_reset(st);
		if (ship < 0) {
			db_fail(db, err);
			goto out;
		}
		json_array_foreach(lines, i, e) {
			int64_t line = json_integer_value(json_object_get(e, "line"));
			int64_t q = json_integer_value(json_object_get(e, "quantity"));

			if ((st = db_prepare(db, "INSERT INTO shipment_lines (shipment_id, line_no, quantity)"
			    " VALUES (?, ?, ?)")) == NULL) {
				db_fail(db, err);
				goto out;
			}
			sqlite3_bind_int64(st, 1, ship);
			sqlite3_bind_int64(st, 2, line);
			sqlite3_bind_int64(st, 3, q);
			if (db_step_done(st) != 0 ||
			    (st = db_prepare(db, "UPDATE order_lines SET fulfilled_quantity ="
			    " fulfilled_quantity + ? WHERE order_id = ? AND line_no = ?")) == NULL) {
				db_fail(db, err);
				goto out;
			}
			sqlite3_bind_int64(st, 1, q);
			sqlite3_bind_int64(st, 2, order_id);
			sqlite3_bind_int64(st, 3, line);
			if (db_step_done(st) != 0) {
				db_fail(db, err);
				goto out;
			}
		}
	} else if (strcmp(status, "rejected") == 0) {
		/* The lines are ours to place again. */
		json_array_foreach(lines, i, e) {
			if ((st = db_prepare(db, "UPDATE order_lines SET fulfillment = 'stock' WHERE"
			    " order_id = ? AND line_no = ?")) == NULL) {
				db_fail(db, err);
				goto out;
			}
			sqlite3_bind_int64(st, 1, order_id);
			sqlite3_bind_int64(st, 2, json_integer_value(json_object_get(e, "line")));
			if (db_step_done(st) != 0) {
				db_fail(db, err);
				goto out;
			}
		}
	}
	st = db_prepare(db, "UPDATE dropships SET status = ?, reason = ?, shipment_id = NULLIF(?, 0),"
	    " updated_at = ? WHERE id = ?");
	if (st == NULL) {
		db_fail(db, err);
		goto out;
	}
	db_bind_text(st, 1, status);
	db_bind_text(st, 2, reason);
	sqlite3_bind_int64(st, 3, ship);
	sqlite3_bind_int64(st, 4, clock_now_ms());
	sqlite3_bind_int64(st, 5, id);
	snprintf(msg, sizeof msg, "dropship %" PRId64 " %s by %s%s%s", id, status, supplier,
	    reason ? ": " : "", reason ? reason : "");
	if (db_step_done(st) != 0 ||
	    orders_history(db, order_id, event_id, "dropship", cur, status, msg) != 0 ||
	    orders_refresh(db, order_id, event_id) != 0) {
		db_fail(db, err);
		goto out;
	}
	if (ship > 0) {
		char key[200] = "", payload[128], dedup[64];
		struct inbox_item item = { .merchant = m->id, .source = "internal",
		                           .topic = "order_shipped", .payload = payload,
		                           .dedup_key = dedup };
		int dup;

		if ((st = db_prepare(db, "SELECT channel || ':' || external_id FROM orders WHERE id = ?")) == NULL) {
			db_fail(db, err);
			goto out;
		}
		sqlite3_bind_int64(st, 1, order_id);
		if (sqlite3_step(st) == SQLITE_ROW)
			snprintf(key, sizeof key, "%s", (const char *)sqlite3_column_text(st, 0));
		db_reset(st);
		item.order_key = key[0] ? key : NULL;
		snprintf(payload, sizeof payload, "{\"order_id\":%" PRId64 ",\"shipment_id\":%" PRId64 "}",
		    order_id, ship);
		item.payload_len = strlen(payload);
		snprintf(dedup, sizeof dedup, "order_shipped:%" PRId64, ship);
		if (inbox_insert(db, &item, 0, &dup) < 0 ||
		    orders_emit(db, m->id, order_id, "order.shipped", event_id) != 0) {
			db_fail(db, err);
			goto out;
		}
	}
	rc = 0;
out:
	json_decref(lines);
	return rc;
}

json_t *supply_dropship_get(struct db *db, const char *merchant, int64_t id)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT id, order_id, supplier, status, reason, lines,"
	    " shipment_id FROM dropships WHERE id = ? AND merchant = ?");
	json_t *o = NULL;

	if (st == NULL)
		return NULL;
	sqlite3_bind_int64(st, 1, id);
	db_bind_text(st, 2, merchant);
	if (sqlite3_step(st) == SQLITE_ROW) {
		const unsigned char *reason = sqlite3_column_text(st, 4);

		o = json_pack("{s:I,s:I,s:s,s:s,s:o}", "id", (json_int_t)sqlite3_column_int64(st, 0),
		    "order_id", (json_int_t)sqlite3_column_int64(st, 1),
		    "supplier", (const char *)sqlite3_column_text(st, 2),
		    "status", (const char *)sqlite3_column_text(st, 3),
		    "lines", json_loads((const char *)sqlite3_column_text(st, 5), 0, NULL));
		if (o != NULL) {
			json_object_set_new(o, "reason", reason ? json_string((const char *)reason) : json_null());
			if (sqlite3_column_type(st, 6) != SQLITE_NULL)
				json_object_set_new(o, "shipment_id", json_integer(sqlite3_column_int64(st, 6)));
		}
	}
	db_reset(st);
	return o;
}
