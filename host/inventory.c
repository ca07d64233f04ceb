/*
 * inventory — stock, reservations and the backorder queue (see inventory.h).
 *
 * Depends on db, config (locations and their priority), inbox (the
 * backorder_allocated events), orders (derived fulfillment status) and
 * clock. The no-oversell rule is held twice: by the conditional UPDATE that
 * reserves, and by the table's CHECK (reserved <= on_hand), so even a bug
 * here could only fail a transaction, never oversell.
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

#define MAX_LINES 1000

static int fail(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(char *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, INV_ERRLEN, fmt, ap);
	va_end(ap);
	return -1;
}

static int db_fail(struct db *db, char *err)
{
	return fail(err, "database error: %s", db_errmsg(db));
}

static int sku_ok(const char *sku)
{
	size_t n = sku ? strlen(sku) : 0;

	return n > 0 && n <= 255;
}

static int ledger(struct db *db, const char *merchant, const char *sku, const char *loc,
    const char *kind, int64_t dh, int64_t dr, const char *reason, int64_t order_id,
    int64_t event_id)
{
	sqlite3_stmt *st = db_prepare(db, "INSERT INTO stock_ledger (merchant, sku, location, kind,"
	    " on_hand_delta, reserved_delta, reason, order_id, event_id, at)"
	    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");

	if (st == NULL)
		return -1;
	db_bind_text(st, 1, merchant);
	db_bind_text(st, 2, sku);
	db_bind_text(st, 3, loc);
	db_bind_text(st, 4, kind);
	sqlite3_bind_int64(st, 5, dh);
	sqlite3_bind_int64(st, 6, dr);
	db_bind_text(st, 7, reason);
	if (order_id > 0)
		sqlite3_bind_int64(st, 8, order_id);
	if (event_id > 0)
		sqlite3_bind_int64(st, 9, event_id);
	sqlite3_bind_int64(st, 10, clock_now_ms());
	return db_step_done(st);
}

static int ensure_row(struct db *db, const char *merchant, const char *sku, const char *loc)
{
	sqlite3_stmt *st = db_prepare(db, "INSERT INTO stock (merchant, sku, location, updated_at)"
	    " VALUES (?, ?, ?, ?) ON CONFLICT (merchant, sku, location) DO NOTHING");

	if (st == NULL)
		return -1;
	db_bind_text(st, 1, merchant);
	db_bind_text(st, 2, sku);
	db_bind_text(st, 3, loc);
	sqlite3_bind_int64(st, 4, clock_now_ms());
	return db_step_done(st);
}

/* on_hand and reserved; both 0 when there is no row. @return 0 or -1. */
static int counts(struct db *db, const char *merchant, const char *sku, const char *loc,
    int64_t *on_hand, int64_t *reserved)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT on_hand, reserved FROM stock WHERE merchant = ?"
	    " AND sku = ? AND location = ?");
	int rc;

	*on_hand = *reserved = 0;
	if (st == NULL)
		return -1;
	db_bind_text(st, 1, merchant);
	db_bind_text(st, 2, sku);
	db_bind_text(st, 3, loc);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*on_hand = sqlite3_column_int64(st, 0);
		*reserved = sqlite3_column_int64(st, 1);
	}
	db_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/*
 * Reserve n of sku at loc for an order line, only if that many are
 * available: the check and the decrement are one UPDATE.
 * @return 1 reserved, 0 not enough available, -1 database error.
 */
static int reserve_at(struct db *db, const char *merchant, const char *sku, const char *loc,
    int64_t n, int64_t order_id, int line, int64_t event_id)
{
	sqlite3_stmt *st = db_prepare(db, "UPDATE stock SET reserved = reserved + ?1, updated_at = ?2"
	    " WHERE merchant = ?3 AND sku = ?4 AND location = ?5 AND on_hand - reserved >= ?1");

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, n);
	sqlite3_bind_int64(st, 2, clock_now_ms());
	db_bind_text(st, 3, merchant);
	db_bind_text(st, 4, sku);
	db_bind_text(st, 5, loc);
	if (db_step_done(st) != 0)
		return -1;
	if (db_changes(db) == 0)
		return 0;
	st = db_prepare(db, "INSERT INTO reservations (merchant, order_id, line_no, sku, location,"
	    " quantity, created_at, event_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
	if (st == NULL)
		return -1;
	db_bind_text(st, 1, merchant);
	sqlite3_bind_int64(st, 2, order_id);
	sqlite3_bind_int(st, 3, line);
	db_bind_text(st, 4, sku);
	db_bind_text(st, 5, loc);
	sqlite3_bind_int64(st, 6, n);
	sqlite3_bind_int64(st, 7, clock_now_ms());
	if (event_id > 0)
		sqlite3_bind_int64(st, 8, event_id);
	if (db_step_done(st) != 0 ||
	    ledger(db, merchant, sku, loc, "reserve", 0, n, NULL, order_id, event_id) != 0)
		return -1;
	return 1;
}

/* "shopify:5912..." — the order key its events run under. */
static int order_key(struct db *db, int64_t order_id, char *buf, size_t len)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT channel, external_id FROM orders WHERE id = ?");
	int rc;

	buf[0] = '\0';
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, order_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		snprintf(buf, len, "%s:%s", (const char *)sqlite3_column_text(st, 0),
		    (const char *)sqlite3_column_text(st, 1));
	db_reset(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

/*
 * Offer what is available of `sku` to its backorder queue, first come
 * first served, partially when short; one backorder_allocated event per
 * backorder served. @return 0 or -1 with err.
 */
static int allocate(struct db *db, const struct merchant_config *m, const char *sku,
    int64_t event_id, char *err)
{
	/* A canceled order waits for nothing, whether or not its workflow
	 * released it: its place in the queue goes before stock is offered. */
	sqlite3_stmt *gone = db_prepare(db, "UPDATE backorders SET status = 'canceled'"
	    " WHERE merchant = ?1 AND sku = ?2 AND status = 'waiting' AND order_id IN"
	    " (SELECT id FROM orders WHERE merchant = ?1 AND status = 'canceled')");

	if (gone == NULL)
		return db_fail(db, err);
	db_bind_text(gone, 1, m->id);
	db_bind_text(gone, 2, sku);
	if (db_step_done(gone) != 0)
		return db_fail(db, err);
	for (int guard = 0; guard < 100000; guard++) {
		sqlite3_stmt *st = db_prepare(db, "SELECT id, order_id, line_no, quantity FROM backorders"
		    " WHERE merchant = ? AND sku = ? AND status = 'waiting' ORDER BY id LIMIT 1");
		int64_t bo, order_id, want, took = 0;
		int line, rc;
		char key[200], dedup[96], *text = NULL;
		/* Where it was served from: built as JSON, any number of
		 * locations, any bytes in their ids. */
		json_t *where = NULL, *p = NULL;
		struct inbox_item item = { .merchant = m->id, .source = "internal",
		    .topic = "backorder_allocated", .dedup_key = dedup, .order_key = key };
		int dup;

		if (st == NULL)
			return db_fail(db, err);
		db_bind_text(st, 1, m->id);
		db_bind_text(st, 2, sku);
		rc = sqlite3_step(st);
		if (rc != SQLITE_ROW) {
			db_reset(st);
			return rc == SQLITE_DONE ? 0 : db_fail(db, err);
		}
		bo = sqlite3_column_int64(st, 0);
		order_id = sqlite3_column_int64(st, 1);
		line = sqlite3_column_int(st, 2);
		want = sqlite3_column_int64(st, 3);
		db_reset(st);
		if ((where = json_array()) == NULL)
			return fail(err, "out of memory");
		for (size_t i = 0; i < m->n_locations && want > 0; i++) {
			const char *loc = m->locations[i].id;
			int64_t on_hand, reserved, take;

			if (counts(db, m->id, sku, loc, &on_hand, &reserved) != 0)
				goto dberr;
			take = on_hand - reserved < want ? on_hand - reserved : want;
			if (take <= 0)
				continue;
			if ((rc = reserve_at(db, m->id, sku, loc, take, order_id, line, event_id)) < 0)
				goto dberr;
			if (rc == 0)
				continue;
			want -= take;
			took += take;
			if (json_array_append_new(where, json_pack("{s:s,s:I}", "location", loc,
			    "quantity", (json_int_t)take)) != 0)
				goto encerr;
		}
		if (took == 0) {
			json_decref(where);
			return 0; /* nothing left to offer */
		}
		st = db_prepare(db, "UPDATE backorders SET quantity = ?, status = ? WHERE id = ?");
		if (st == NULL)
			goto dberr;
		sqlite3_bind_int64(st, 1, want);
		db_bind_text(st, 2, want == 0 ? "allocated" : "waiting");
		sqlite3_bind_int64(st, 3, bo);
		if (db_step_done(st) != 0 || order_key(db, order_id, key, sizeof key) != 0)
			goto dberr;
		/* The SKU is null when it is not UTF-8 (any bytes an adapter let
		 * through). */
		p = json_pack("{s:I,s:i,s:o?,s:I,s:I,s:O}", "order_id", (json_int_t)order_id,
		    "line", line, "sku", json_string(sku), "quantity", (json_int_t)took, "remaining",
		    (json_int_t)want, "locations", where);
		json_decref(where);
		where = NULL;
		if (p == NULL || (text = json_dumps(p, JSON_COMPACT)) == NULL)
			goto encerr;
		json_decref(p);
		p = NULL;
		item.payload = text;
		item.payload_len = strlen(text);
		snprintf(dedup, sizeof dedup, "backorder:%" PRId64 ":%" PRId64, bo, want);
		rc = inbox_insert(db, &item, 0, &dup) < 0 ? -1 : 0;
		free(text);
		if (rc != 0)
			return db_fail(db, err);
		if (orders_refresh(db, order_id, event_id) != 0)
			return db_fail(db, err);
		if (want > 0)
			return 0; /* served partially: the stock is gone */
		continue;
dberr:
		json_decref(where);
		return db_fail(db, err);
encerr:
		json_decref(where);
		json_decref(p);
		return fail(err, "cannot encode the allocation of backorder %" PRId64, bo);
	}
	return 0;
}

static int location_known(const struct merchant_config *m, const char *loc, char *err)
{
	if (config_location(m, loc) == NULL)
		return fail(err, "unknown location \"%.64s\" (locations in the config: %s%s)",
		    loc ? loc : "", m->n_locations ? m->locations[0].id : "none",
		    m->n_locations > 1 ? ", ..." : "");
	return 0;
}

int inv_set(struct db *db, const struct merchant_config *m, const char *sku,
    const char *location, int64_t on_hand, const char *reason, int64_t event_id, char *err)
{
	sqlite3_stmt *st;
	int64_t old, reserved;

	if (!sku_ok(sku))
		return fail(err, "a SKU must be 1 to 255 bytes");
	if (location_known(m, location, err) != 0)
		return -1;
	if (on_hand < 0 || on_hand > INV_MAX_QUANTITY)
		return fail(err, "on hand must be 0 to %d, got %" PRId64, INV_MAX_QUANTITY, on_hand);
	if (ensure_row(db, m->id, sku, location) != 0 ||
	    counts(db, m->id, sku, location, &old, &reserved) != 0)
		return db_fail(db, err);
	if (on_hand < reserved)
		return fail(err, "%s at %s: %" PRId64 " are reserved for orders; on hand cannot be"
		    " set to %" PRId64, sku, location, reserved, on_hand);
	st = db_prepare(db, "UPDATE stock SET on_hand = ?, updated_at = ? WHERE merchant = ? AND"
	    " sku = ? AND location = ?");
	if (st == NULL)
		return db_fail(db, err);
	sqlite3_bind_int64(st, 1, on_hand);
	sqlite3_bind_int64(st, 2, clock_now_ms());
	db_bind_text(st, 3, m->id);
	db_bind_text(st, 4, sku);
	db_bind_text(st, 5, location);
	if (db_step_done(st) != 0 ||
	    ledger(db, m->id, sku, location, "set", on_hand - old, 0, reason, 0, event_id) != 0)
		return db_fail(db, err);
	return on_hand > old ? allocate(db, m, sku, event_id, err) : 0;
}

int inv_adjust(struct db *db, const struct merchant_config *m, const char *sku,
    const char *location, int64_t delta, const char *kind, const char *reason,
    int64_t event_id, char *err)
{
	sqlite3_stmt *st;
	int64_t on_hand, reserved;

	if (!sku_ok(sku))
		return fail(err, "a SKU must be 1 to 255 bytes");
	if (location_known(m, location, err) != 0)
		return -1;
	if (kind == NULL || (strcmp(kind, "receive") != 0 && strcmp(kind, "adjust") != 0 &&
	    strcmp(kind, "return") != 0))
		return fail(err, "an adjustment is a receive, adjust or return");
	if (delta == 0 || delta > INV_MAX_QUANTITY || delta < -INV_MAX_QUANTITY)
		return fail(err, "the change must be a non-zero number of units, got %" PRId64, delta);
	if (strcmp(kind, "adjust") != 0 && delta < 0)
		return fail(err, "a %s adds stock; use adjust to take some away", kind);
	if (ensure_row(db, m->id, sku, location) != 0 ||
	    counts(db, m->id, sku, location, &on_hand, &reserved) != 0)
		return db_fail(db, err);
	if (on_hand + delta < reserved)
		return fail(err, "%s at %s: %" PRId64 " on hand, %" PRId64 " reserved; cannot take %"
		    PRId64 " away", sku, location, on_hand, reserved, -delta);
	if (on_hand + delta > INV_MAX_QUANTITY)
		return fail(err, "%s at %s would hold more than %d", sku, location, INV_MAX_QUANTITY);
	st = db_prepare(db, "UPDATE stock SET on_hand = on_hand + ?, updated_at = ? WHERE"
	    " merchant = ? AND sku = ? AND location = ?");
	if (st == NULL)
		return db_fail(db, err);
	sqlite3_bind_int64(st, 1, delta);
	sqlite3_bind_int64(st, 2, clock_now_ms());
	db_bind_text(st, 3, m->id);
	db_bind_text(st, 4, sku);
	db_bind_text(st, 5, location);
	if (db_step_done(st) != 0 ||
	    ledger(db, m->id, sku, location, kind, delta, 0, reason, 0, event_id) != 0)
		return db_fail(db, err);
	return delta > 0 ? allocate(db, m, sku, event_id, err) : 0;
}

/* An order's stock lines, with what is already handled (reserved,
 * shipped or waiting in the queue). */
struct line {
	int no;
	char sku[256];
	int64_t quantity, handled;
};

static int load_lines(struct db *db, const char *merchant, int64_t order_id, struct line *out,
    int max, char *err)
{
	sqlite3_stmt *st;
	int n = 0, rc, owned = orders_owned(db, merchant, order_id);

	if (owned < 0)
		return db_fail(db, err);
	if (owned == 0)
		return fail(err, "order %" PRId64 " not found", order_id);
	/* A drop-shipped line is handled whole: the supplier ships it. */
	st = db_prepare(db, "SELECT l.line_no, l.sku, l.quantity - l.canceled_quantity,"
	    " CASE WHEN l.fulfillment = 'dropship' THEN l.quantity - l.canceled_quantity ELSE"
	    " COALESCE((SELECT SUM(r.quantity) FROM reservations r WHERE r.order_id = l.order_id"
	    "   AND r.line_no = l.line_no AND r.status <> 'released'), 0) +"
	    " COALESCE((SELECT SUM(b.quantity) FROM backorders b WHERE b.order_id = l.order_id"
	    "   AND b.line_no = l.line_no AND b.status = 'waiting'), 0) END"
	    " FROM order_lines l WHERE l.order_id = ? ORDER BY l.line_no");
	if (st == NULL)
		return db_fail(db, err);
	sqlite3_bind_int64(st, 1, order_id);
	while (n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *sku = sqlite3_column_text(st, 1);

		out[n].no = sqlite3_column_int(st, 0);
		snprintf(out[n].sku, sizeof out[n].sku, "%s", sku ? (const char *)sku : "");
		out[n].quantity = sqlite3_column_int64(st, 2);
		out[n].handled = sqlite3_column_int64(st, 3);
		n++;
	}
	db_reset(st);
	return n;
}

static struct line *find_line(struct line *lines, int n, int no)
{
	for (int i = 0; i < n; i++)
		if (lines[i].no == no)
			return &lines[i];
	return NULL;
}

json_t *inv_reserve(struct db *db, const struct merchant_config *m, int64_t order_id,
    const json_t *plan, int64_t event_id, char *err)
{
	struct line *lines = calloc(MAX_LINES, sizeof *lines);
	json_t *out = NULL, *reserved = json_array(), *shortl = json_array(), *e, *empty = NULL;
	int n, rc;
	size_t i;

	if (lines == NULL || reserved == NULL || shortl == NULL) {
		fail(err, "out of memory");
		goto fail;
	}
	if ((n = load_lines(db, m->id, order_id, lines, MAX_LINES, err)) < 0)
		goto fail;
	/* An empty Lua table arrives as {}: an empty plan. */
	if (json_is_object(plan) && json_object_size(plan) == 0)
		plan = empty = json_array();
	if (plan != NULL) {
		/* Check everything first: a plan is taken whole or not at all. */
		if (!json_is_array(plan)) {
			fail(err, "a plan is a list of {line=, location=, quantity=}");
			goto fail;
		}
		json_array_foreach(plan, i, e) {
			const json_t *jl = json_object_get(e, "line"), *jq = json_object_get(e, "quantity");
			const char *loc = json_string_value(json_object_get(e, "location"));
			struct line *l = json_is_integer(jl) ? find_line(lines, n, (int)json_integer_value(jl)) : NULL;
			int64_t q = json_is_integer(jq) ? json_integer_value(jq) : 0, on_hand, res, asked = 0;
			size_t k;
			json_t *e2;

			if (l == NULL) {
				fail(err, "plan[%zu]: the order has no line %s", i + 1,
				    json_is_integer(jl) ? "by that number" : "(give line = 1, 2, ...)");
				goto fail;
			}
			if (l->sku[0] == '\0') {
				fail(err, "plan[%zu]: line %d has no SKU to reserve", i + 1, l->no);
				goto fail;
			}
			if (location_known(m, loc, err) != 0)
				goto fail;
			if (q <= 0) {
				fail(err, "plan[%zu]: quantity must be a positive whole number", i + 1);
				goto fail;
			}
			l->handled += q;
			if (l->handled > l->quantity) {
				fail(err, "plan[%zu]: line %d has %" PRId64 " units; the plan reserves more",
				    i + 1, l->no, l->quantity);
				goto fail;
			}
			/* Everything this plan asks of that SKU there. */
			json_array_foreach(plan, k, e2) {
				struct line *l2;
				const json_t *j2 = json_object_get(e2, "line");
				const char *loc2 = json_string_value(json_object_get(e2, "location"));

				if (!json_is_integer(j2) || loc2 == NULL || strcmp(loc2, loc) != 0 ||
				    (l2 = find_line(lines, n, (int)json_integer_value(j2))) == NULL ||
				    strcmp(l2->sku, l->sku) != 0)
					continue;
				asked += json_integer_value(json_object_get(e2, "quantity"));
			}
			if (counts(db, m->id, l->sku, loc, &on_hand, &res) != 0) {
				db_fail(db, err);
				goto fail;
			}
			if (asked > on_hand - res) {
				fail(err, "the plan asks for %" PRId64 " of %s at %s; %" PRId64 " available",
				    asked, l->sku, loc, on_hand - res);
				goto fail;
			}
		}
		json_array_foreach(plan, i, e) {
			int no = (int)json_integer_value(json_object_get(e, "line"));
			struct line *l = find_line(lines, n, no);
			const char *loc = json_string_value(json_object_get(e, "location"));
			int64_t q = json_integer_value(json_object_get(e, "quantity"));

			if ((rc = reserve_at(db, m->id, l->sku, loc, q, order_id, no, event_id)) != 1) {
				if (rc < 0)
					db_fail(db, err);
				else
					fail(err, "%s at %s: no longer available", l->sku, loc);
				goto fail;
			}
			json_array_append_new(reserved, json_pack("{s:i,s:s,s:s,s:I}", "line", no,
			    "sku", l->sku, "location", loc, "quantity", (json_int_t)q));
		}
		for (int k = 0; k < n; k++)
			if (lines[k].sku[0] && lines[k].handled < lines[k].quantity)
				json_array_append_new(shortl, json_pack("{s:i,s:s,s:I}", "line", lines[k].no,
				    "sku", lines[k].sku, "quantity", (json_int_t)(lines[k].quantity - lines[k].handled)));
	} else {
		for (int k = 0; k < n; k++) {
			struct line *l = &lines[k];
			int64_t need = l->quantity - l->handled;

			if (l->sku[0] == '\0' || need <= 0)
				continue;
			for (size_t li = 0; li < m->n_locations && need > 0; li++) {
				const char *loc = m->locations[li].id;
				int64_t on_hand, res, take;

				if (counts(db, m->id, l->sku, loc, &on_hand, &res) != 0) {
					db_fail(db, err);
					goto fail;
				}
				take = on_hand - res < need ? on_hand - res : need;
				if (take <= 0)
					continue;
				if ((rc = reserve_at(db, m->id, l->sku, loc, take, order_id, l->no, event_id)) < 0) {
					db_fail(db, err);
					goto fail;
				}
				if (rc == 1) {
					need -= take;
					json_array_append_new(reserved, json_pack("{s:i,s:s,s:s,s:I}", "line", l->no,
					    "sku", l->sku, "location", loc, "quantity", (json_int_t)take));
				}
			}
			if (need > 0)
				json_array_append_new(shortl, json_pack("{s:i,s:s,s:I}", "line", l->no,
				    "sku", l->sku, "quantity", (json_int_t)need));
		}
	}
	if (orders_refresh(db, order_id, event_id) != 0) {
		db_fail(db, err);
		goto fail;
	}
	out = json_pack("{s:o,s:o}", "reserved", reserved, "short", shortl);
	free(lines);
	json_decref(empty);
	return out;
fail:
	json_decref(reserved);
	json_decref(shortl);
	json_decref(empty);
	free(lines);
	return NULL;
}

int inv_backorder(struct db *db, const struct merchant_config *m, int64_t order_id,
    const json_t *want, int64_t event_id, char *err)
{
	struct line *lines = calloc(MAX_LINES, sizeof *lines);
	sqlite3_stmt *st;
	size_t i;
	json_t *e;
	int n, rc = -1;

	if (lines == NULL)
		return fail(err, "out of memory");
	if ((n = load_lines(db, m->id, order_id, lines, MAX_LINES, err)) < 0)
		goto out;
	if (json_is_object(want) && json_object_size(want) == 0) {
		rc = 0; /* nothing to queue */
		goto out;
	}
	if (!json_is_array(want)) {
		fail(err, "backorder lines are a list of {line=, quantity=}");
		goto out;
	}
	json_array_foreach(want, i, e) {
		const json_t *jl = json_object_get(e, "line"), *jq = json_object_get(e, "quantity");
		struct line *l = json_is_integer(jl) ? find_line(lines, n, (int)json_integer_value(jl)) : NULL;
		int64_t q = json_is_integer(jq) ? json_integer_value(jq) : 0;

		if (l == NULL || l->sku[0] == '\0') {
			fail(err, "lines[%zu]: no stock line by that number", i + 1);
			goto out;
		}
		if (q <= 0 || (l->handled += q) > l->quantity) {
			fail(err, "lines[%zu]: line %d has %" PRId64 " units, %" PRId64 " already reserved or"
			    " waiting; cannot backorder %" PRId64, i + 1, l->no, l->quantity,
			    l->handled - (q > 0 ? q : 0), q);
			goto out;
		}
	}
	json_array_foreach(want, i, e) {
		int no = (int)json_integer_value(json_object_get(e, "line"));

		st = db_prepare(db, "INSERT INTO backorders (merchant, sku, order_id, line_no, quantity,"
		    " created_at, event_id) VALUES (?, ?, ?, ?, ?, ?, ?)");
		if (st == NULL) {
			db_fail(db, err);
			goto out;
		}
		db_bind_text(st, 1, m->id);
		db_bind_text(st, 2, find_line(lines, n, no)->sku);
		sqlite3_bind_int64(st, 3, order_id);
		sqlite3_bind_int(st, 4, no);
		sqlite3_bind_int64(st, 5, json_integer_value(json_object_get(e, "quantity")));
		sqlite3_bind_int64(st, 6, clock_now_ms());
		if (event_id > 0)
			sqlite3_bind_int64(st, 7, event_id);
		if (db_step_done(st) != 0) {
			db_fail(db, err);
			goto out;
		}
	}
	if (orders_refresh(db, order_id, event_id) != 0) {
		db_fail(db, err);
		goto out;
	}
	rc = 0;
out:
	free(lines);
	return rc;
}

struct held {
	int64_t id, qty;
	char sku[256], loc[72];
};

int64_t inv_release(struct db *db, const struct merchant_config *m, int64_t order_id,
    int line, const char *reason, int64_t event_id, char *err)
{
	struct held *h = NULL;
	sqlite3_stmt *st;
	int64_t total = -1, sum = 0;
	int n = 0, rc, owned = orders_owned(db, m->id, order_id);

	if (owned <= 0)
		return owned < 0 ? db_fail(db, err) : fail(err, "order %" PRId64 " not found", order_id);
	if ((h = calloc(MAX_LINES, sizeof *h)) == NULL)
		return fail(err, "out of memory");
	st = db_prepare(db, "SELECT id, sku, location, quantity FROM reservations WHERE order_id = ?1"
	    " AND status = 'reserved' AND (?2 = 0 OR line_no = ?2)");
	if (st == NULL) {
		db_fail(db, err);
		goto out;
	}
	sqlite3_bind_int64(st, 1, order_id);
	sqlite3_bind_int(st, 2, line);
	while (n < MAX_LINES && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		h[n].id = sqlite3_column_int64(st, 0);
		snprintf(h[n].sku, sizeof h[n].sku, "%s", (const char *)sqlite3_column_text(st, 1));
		snprintf(h[n].loc, sizeof h[n].loc, "%s", (const char *)sqlite3_column_text(st, 2));
		h[n].qty = sqlite3_column_int64(st, 3);
		n++;
	}
	db_reset(st);
	for (int i = 0; i < n; i++) {
		st = db_prepare(db, "UPDATE stock SET reserved = reserved - ?, updated_at = ? WHERE"
		    " merchant = ? AND sku = ? AND location = ?");
		if (st == NULL) {
			db_fail(db, err);
			goto out;
		}
		sqlite3_bind_int64(st, 1, h[i].qty);
		sqlite3_bind_int64(st, 2, clock_now_ms());
		db_bind_text(st, 3, m->id);
		db_bind_text(st, 4, h[i].sku);
		db_bind_text(st, 5, h[i].loc);
		if (db_step_done(st) != 0 ||
		    (st = db_prepare(db, "UPDATE reservations SET status = 'released' WHERE id = ?")) == NULL) {
			db_fail(db, err);
			goto out;
		}
		sqlite3_bind_int64(st, 1, h[i].id);
		if (db_step_done(st) != 0 || ledger(db, m->id, h[i].sku, h[i].loc, "release", 0,
		    -h[i].qty, reason, order_id, event_id) != 0) {
			db_fail(db, err);
			goto out;
		}
		sum += h[i].qty;
	}
	st = db_prepare(db, "UPDATE backorders SET status = 'canceled' WHERE order_id = ?1"
	    " AND status = 'waiting' AND (?2 = 0 OR line_no = ?2)");
	if (st == NULL) {
		db_fail(db, err);
		goto out;
	}
	sqlite3_bind_int64(st, 1, order_id);
	sqlite3_bind_int(st, 2, line);
	if (db_step_done(st) != 0) {
		db_fail(db, err);
		goto out;
	}
	/* What was freed goes to whoever waits for it. */
	for (int i = 0; i < n; i++)
		if (allocate(db, m, h[i].sku, event_id, err) != 0)
			goto out;
	if (orders_refresh(db, order_id, event_id) != 0) {
		db_fail(db, err);
		goto out;
	}
	total = sum;
out:
	free(h);
	return total;
}

int64_t inv_shippable(struct db *db, int64_t order_id, int line, const char *location)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT (SELECT COALESCE(SUM(quantity), 0) FROM reservations"
	    " WHERE order_id = ?1 AND line_no = ?2 AND location = ?3 AND status = 'reserved') -"
	    " (SELECT COALESCE(SUM(sl.quantity), 0) FROM shipment_lines sl JOIN shipments s"
	    "   ON s.id = sl.shipment_id WHERE s.order_id = ?1 AND sl.line_no = ?2"
	    "   AND s.location = ?3 AND s.status IN ('pending','picked','packed'))");
	int64_t v = -1;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, order_id);
	sqlite3_bind_int(st, 2, line);
	db_bind_text(st, 3, location);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	db_reset(st);
	return v;
}

int64_t inv_release_units(struct db *db, const struct merchant_config *m, int64_t order_id,
    int line, int64_t units, const char *reason, int64_t event_id, char *err)
{
	int64_t need = units, freed = 0;
	char sku[256] = "";
	sqlite3_stmt *st;
	int owned = orders_owned(db, m->id, order_id);

	if (owned <= 0)
		return owned < 0 ? db_fail(db, err) : fail(err, "order %" PRId64 " not found", order_id);
	if (line <= 0 || units <= 0)
		return fail(err, "give a line and a positive number of units");
	/* Units still waiting in the queue go first: newest entry first. */
	while (need > 0) {
		int64_t id, q, take;

		st = db_prepare(db, "SELECT id, quantity FROM backorders WHERE order_id = ? AND"
		    " line_no = ? AND status = 'waiting' ORDER BY id DESC LIMIT 1");
		if (st == NULL)
			return db_fail(db, err);
		sqlite3_bind_int64(st, 1, order_id);
		sqlite3_bind_int(st, 2, line);
		if (sqlite3_step(st) != SQLITE_ROW) {
			db_reset(st);
			break;
		}
		id = sqlite3_column_int64(st, 0);
		q = sqlite3_column_int64(st, 1);
		db_reset(st);
		take = q < need ? q : need;
		st = db_prepare(db, "UPDATE backorders SET quantity = ?1, status = CASE WHEN ?1 = 0"
		    " THEN 'canceled' ELSE status END WHERE id = ?2");
		if (st == NULL)
			return db_fail(db, err);
		sqlite3_bind_int64(st, 1, q - take);
		sqlite3_bind_int64(st, 2, id);
		if (db_step_done(st) != 0)
			return db_fail(db, err);
		need -= take;
		freed += take;
	}
	/* Then reservations not packed into an open shipment, newest first. */
	while (need > 0) {
		int64_t id, q, take, free_here;
		char loc[72];

		st = db_prepare(db, "SELECT r.id, r.quantity, r.sku, r.location FROM reservations r"
		    " WHERE r.order_id = ?1 AND r.line_no = ?2 AND r.status = 'reserved'"
		    " AND (SELECT COALESCE(SUM(x.quantity), 0) FROM reservations x WHERE x.order_id = ?1"
		    "   AND x.line_no = ?2 AND x.location = r.location AND x.status = 'reserved') >"
		    " (SELECT COALESCE(SUM(sl.quantity), 0) FROM shipment_lines sl JOIN shipments s"
		    "   ON s.id = sl.shipment_id WHERE s.order_id = ?1 AND sl.line_no = ?2"
		    "   AND s.location = r.location AND s.status IN ('pending','picked','packed'))"
		    " ORDER BY r.id DESC LIMIT 1");
		if (st == NULL)
			return db_fail(db, err);
		sqlite3_bind_int64(st, 1, order_id);
		sqlite3_bind_int(st, 2, line);
		if (sqlite3_step(st) != SQLITE_ROW) {
			db_reset(st);
			break;
		}
		id = sqlite3_column_int64(st, 0);
		q = sqlite3_column_int64(st, 1);
		snprintf(sku, sizeof sku, "%s", (const char *)sqlite3_column_text(st, 2));
		snprintf(loc, sizeof loc, "%s", (const char *)sqlite3_column_text(st, 3));
		db_reset(st);
		if ((free_here = inv_shippable(db, order_id, line, loc)) < 0)
			return db_fail(db, err);
		take = q < need ? q : need;
		if (take > free_here)
			take = free_here;
		st = db_prepare(db, take == q ? "UPDATE reservations SET status = 'released' WHERE id = ?2"
		    : "UPDATE reservations SET quantity = quantity - ?1 WHERE id = ?2");
		if (st == NULL)
			return db_fail(db, err);
		sqlite3_bind_int64(st, 1, take);
		sqlite3_bind_int64(st, 2, id);
		if (db_step_done(st) != 0)
			return db_fail(db, err);
		st = db_prepare(db, "UPDATE stock SET reserved = reserved - ?, updated_at = ? WHERE"
		    " merchant = ? AND sku = ? AND location = ?");
		if (st == NULL)
			return db_fail(db, err);
		sqlite3_bind_int64(st, 1, take);
		sqlite3_bind_int64(st, 2, clock_now_ms());
		db_bind_text(st, 3, m->id);
		db_bind_text(st, 4, sku);
		db_bind_text(st, 5, loc);
		if (db_step_done(st) != 0 || ledger(db, m->id, sku, loc, "release", 0, -take, reason,
		    order_id, event_id) != 0)
			return db_fail(db, err);
		need -= take;
		freed += take;
		/* What was freed goes to whoever waits for it. */
		if (allocate(db, m, sku, event_id, err) != 0)
			return -1;
	}
	if (orders_refresh(db, order_id, event_id) != 0)
		return db_fail(db, err);
	return freed;
}

json_t *inv_list(struct db *db, const char *merchant, const char *sku, const char *location,
    int64_t low)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT s.sku, s.location, s.on_hand, s.reserved,"
	    " COALESCE((SELECT SUM(b.quantity) FROM backorders b WHERE b.merchant = s.merchant"
	    "   AND b.sku = s.sku AND b.status = 'waiting'), 0)"
	    " FROM stock s WHERE s.merchant = ?1 AND (?2 IS NULL OR s.sku = ?2)"
	    " AND (?3 IS NULL OR s.location = ?3) AND (?4 = 0 OR s.on_hand - s.reserved < ?4)"
	    " ORDER BY s.sku, s.location LIMIT 10000");
	json_t *arr, *out;
	int rc;

	if (st == NULL)
		return NULL;
	db_bind_text(st, 1, merchant);
	db_bind_text(st, 2, sku);
	db_bind_text(st, 3, location);
	sqlite3_bind_int64(st, 4, low > 0 ? low : 0);
	arr = json_array();
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t on = sqlite3_column_int64(st, 2), res = sqlite3_column_int64(st, 3);

		json_array_append_new(arr, json_pack("{s:s,s:s,s:I,s:I,s:I,s:I}",
		    "sku", (const char *)sqlite3_column_text(st, 0),
		    "location", (const char *)sqlite3_column_text(st, 1),
		    "on_hand", (json_int_t)on, "reserved", (json_int_t)res,
		    "available", (json_int_t)(on - res),
		    "backordered", (json_int_t)sqlite3_column_int64(st, 4)));
	}
	db_reset(st);
	if (rc != SQLITE_DONE) {
		json_decref(arr);
		return NULL;
	}
	out = json_object();
	json_object_set_new(out, "stock", arr);
	return out;
}

json_t *inv_available(struct db *db, const struct merchant_config *m, const char *sku)
{
	json_t *o = json_object();

	for (size_t i = 0; i < m->n_locations; i++) {
		int64_t on_hand, res;

		if (counts(db, m->id, sku, m->locations[i].id, &on_hand, &res) != 0) {
			json_decref(o);
			return NULL;
		}
		json_object_set_new(o, m->locations[i].id, json_integer(on_hand - res));
	}
	return o;
}

int64_t inv_backordered(struct db *db, int64_t order_id)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT COALESCE(SUM(quantity), 0) FROM backorders"
	    " WHERE order_id = ? AND status = 'waiting'");
	int64_t n = -1;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, order_id);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	db_reset(st);
	return n;
}
