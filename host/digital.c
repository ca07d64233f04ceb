/*
 * digital — download grants and license keys (see digital.h).
 *
 * Depends on db, config (digital products), crypto (tokens, hashes),
 * orders (history) and clock.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ordo/clock.h"
#include "ordo/config.h"
#include "ordo/crypto.h"
#include "ordo/db.h"
#include "ordo/digital.h"
#include "ordo/orders.h"

static int fail(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(char *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, DIGITAL_ERRLEN, fmt, ap);
	va_end(ap);
	return -1;
}

static int db_fail(struct db *db, char *err)
{
	return fail(err, "database error: %s", db_errmsg(db));
}

static void token_hash(const char *token, char hex[65])
{
	unsigned char h[32];

	crypto_sha256(token, strlen(token), h);
	crypto_hex(h, sizeof h, hex);
}

/* The SKU and quantity of the merchant's order line; 0 when none. */
static int order_line(struct db *db, const char *merchant, int64_t order_id, int64_t line_no,
    char sku[256], int64_t *qty)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT COALESCE(l.sku, ''), l.quantity - l.canceled_quantity FROM order_lines l"
	    " JOIN orders o ON o.id = l.order_id WHERE l.order_id = ? AND l.line_no = ? AND"
	    " o.merchant = ?");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, order_id);
	sqlite3_bind_int64(st, 2, line_no);
	db_bind_text(st, 3, merchant);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(sku, 256, "%s", (const char *)sqlite3_column_text(st, 0));
		*qty = sqlite3_column_int64(st, 1);
	}
	db_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static const struct digital_product *line_product(struct db *db, const struct merchant_config *m,
    int64_t order_id, int64_t line_no, int64_t *qty, struct digital_product_buf *buf, char *err)
{
	const struct digital_product *p;
	char sku[256] = "";
	int rc = order_line(db, m->id, order_id, line_no, sku, qty);

	if (rc < 0) {
		db_fail(db, err);
		return NULL;
	}
	if (rc == 0) {
		fail(err, "order %" PRId64 " line %" PRId64 " not found", order_id, line_no);
		return NULL;
	}
	if ((p = digital_product(db, m, sku, buf)) == NULL)
		fail(err, "line %" PRId64 " (SKU \"%.64s\") is not a digital product", line_no, sku);
	return p;
}

json_t *digital_grant(struct db *db, const struct merchant_config *m, int64_t order_id,
    int64_t line_no, int64_t event_id, char *err)
{
	struct digital_product_buf buf;
	const struct digital_product *p;
	unsigned char rnd[32];
	char token[DIGITAL_TOKEN_HEX + 1], hash[65], path[80], ts[32], msg[400], *url = NULL;
	int64_t qty = 0, id, now = clock_now_ms(), expires = now + m->digital.link_expiry_ms;
	sqlite3_stmt *st;
	json_t *out;

	if ((p = line_product(db, m, order_id, line_no, &qty, &buf, err)) == NULL)
		return NULL;
	if (p->file == NULL) {
		fail(err, "line %" PRId64 " (SKU \"%.64s\") is a license key, not a file:"
		    " use digital.draw_keys", line_no, p->sku);
		return NULL;
	}
	if (crypto_random(rnd, sizeof rnd) != 0) {
		fail(err, "no randomness for a token");
		return NULL;
	}
	crypto_hex(rnd, sizeof rnd, token);
	token_hash(token, hash);
	st = db_prepare(db, "INSERT INTO digital_grants (merchant, order_id, line_no, sku, file,"
	    " token_hash, expires_at, download_limit, created_at, event_id)"
	    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id");
	if (st == NULL) {
		db_fail(db, err);
		return NULL;
	}
	db_bind_text(st, 1, m->id);
	sqlite3_bind_int64(st, 2, order_id);
	sqlite3_bind_int64(st, 3, line_no);
	db_bind_text(st, 4, p->sku);
	db_bind_text(st, 5, p->file);
	db_bind_text(st, 6, hash);
	sqlite3_bind_int64(st, 7, expires);
	sqlite3_bind_int64(st, 8, m->digital.download_limit);
	sqlite3_bind_int64(st, 9, now);
	if (event_id > 0)
		sqlite3_bind_int64(st, 10, event_id);
	id = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	db_reset(st);
	if (id < 0) {
		db_fail(db, err);
		return NULL;
	}
	clock_format_iso(expires, ts);
	snprintf(msg, sizeof msg, "Download link %" PRId64 " for %.200s (line %" PRId64 "), %"
	    PRId64 " downloads until %s", id, p->file, line_no, m->digital.download_limit, ts);
	if (orders_history(db, order_id, event_id, "digital", NULL, "granted", msg) != 0) {
		db_fail(db, err);
		return NULL;
	}
	snprintf(path, sizeof path, "/d/%s", token);
	if (m->digital.base_url && asprintf(&url, "%s%s", m->digital.base_url, path) < 0)
		url = NULL;
	out = json_pack("[{s:I,s:s,s:s,s:s,s:s,s:s?,s:s,s:I}]", "id", (json_int_t)id, "sku", p->sku,
	    "file", p->file, "token", token, "path", path, "url", url, "expires_at", ts,
	    "download_limit", (json_int_t)m->digital.download_limit);
	free(url);
	if (out == NULL)
		fail(err, "out of memory");
	return out;
}

json_t *digital_draw_keys(struct db *db, const struct merchant_config *m, int64_t order_id,
    int64_t line_no, int *empty, char *err)
{
	struct digital_product_buf buf;
	const struct digital_product *p;
	int64_t qty = 0, now = clock_now_ms(), free_keys = 0, have;
	sqlite3_stmt *st;
	json_t *keys;
	char msg[200];
	int rc;

	*empty = 0;
	if ((p = line_product(db, m, order_id, line_no, &qty, &buf, err)) == NULL)
		return NULL;
	if (!p->license) {
		fail(err, "line %" PRId64 " (SKU \"%.64s\") is a file, not a license key:"
		    " use digital.grant", line_no, p->sku);
		return NULL;
	}
	/* One key per unit, once: units that have a live key already (an
	 * earlier delivery; an edit that added units) need none. */
	st = db_prepare(db, "SELECT COUNT(*) FROM license_keys WHERE merchant = ? AND order_id = ?"
	    " AND line_no = ? AND revoked_at IS NULL");
	if (st == NULL) {
		db_fail(db, err);
		return NULL;
	}
	db_bind_text(st, 1, m->id);
	sqlite3_bind_int64(st, 2, order_id);
	sqlite3_bind_int64(st, 3, line_no);
	rc = sqlite3_step(st);
	have = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	db_reset(st);
	if (have < 0) {
		db_fail(db, err);
		return NULL;
	}
	if ((qty -= have) <= 0)
		return json_array();
	/* Counted, then taken oldest first in one statement, inside the
	 * caller's write transaction: no other writer runs between the two,
	 * and a key once assigned is never free again. */
	st = db_prepare(db, "SELECT COUNT(*) FROM license_keys WHERE merchant = ? AND sku = ? AND"
	    " order_id IS NULL AND revoked_at IS NULL");
	if (st == NULL) {
		db_fail(db, err);
		return NULL;
	}
	db_bind_text(st, 1, m->id);
	db_bind_text(st, 2, p->sku);
	rc = sqlite3_step(st);
	free_keys = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	db_reset(st);
	if (free_keys < 0) {
		db_fail(db, err);
		return NULL;
	}
	if (free_keys < qty) {
		*empty = 1;
		fail(err, "license_pool_empty: the pool of \"%.64s\" has %" PRId64 " free key%s,"
		    " line %" PRId64 " needs %" PRId64, p->sku, free_keys, free_keys == 1 ? "" : "s",
		    line_no, qty);
		return NULL;
	}
	st = db_prepare(db, "UPDATE license_keys SET order_id = ?, line_no = ?, assigned_at = ?"
	    " WHERE id IN (SELECT id FROM license_keys WHERE merchant = ? AND sku = ? AND"
	    " order_id IS NULL AND revoked_at IS NULL ORDER BY id LIMIT ?) RETURNING key");
	if (st == NULL || (keys = json_array()) == NULL) {
		db_fail(db, err);
		return NULL;
	}
	sqlite3_bind_int64(st, 1, order_id);
	sqlite3_bind_int64(st, 2, line_no);
	sqlite3_bind_int64(st, 3, now);
	db_bind_text(st, 4, m->id);
	db_bind_text(st, 5, p->sku);
	sqlite3_bind_int64(st, 6, qty);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(keys, json_string((const char *)sqlite3_column_text(st, 0)));
	db_reset(st);
	if (rc != SQLITE_DONE || (int64_t)json_array_size(keys) != qty) {
		json_decref(keys);
		db_fail(db, err);
		return NULL;
	}
	snprintf(msg, sizeof msg, "%" PRId64 " license key%s of %.64s assigned to line %" PRId64,
	    qty, qty == 1 ? "" : "s", p->sku, line_no);
	if (orders_history(db, order_id, 0, "digital", NULL, "keys_assigned", msg) != 0) {
		json_decref(keys);
		db_fail(db, err);
		return NULL;
	}
	return keys;
}

int digital_revoke_order(struct db *db, const char *merchant, int64_t order_id, int keys,
    int64_t *n_grants, int64_t *n_keys, char *err)
{
	sqlite3_stmt *st;
	int64_t now = clock_now_ms();
	char msg[160];

	*n_grants = *n_keys = 0;
	st = db_prepare(db, "UPDATE digital_grants SET revoked_at = ? WHERE merchant = ? AND"
	    " order_id = ? AND revoked_at IS NULL");
	if (st == NULL)
		return db_fail(db, err);
	sqlite3_bind_int64(st, 1, now);
	db_bind_text(st, 2, merchant);
	sqlite3_bind_int64(st, 3, order_id);
	if (db_step_done(st) != 0)
		return db_fail(db, err);
	*n_grants = db_changes(db);
	if (keys) {
		st = db_prepare(db, "UPDATE license_keys SET revoked_at = ? WHERE merchant = ? AND"
		    " order_id = ? AND revoked_at IS NULL");
		if (st == NULL)
			return db_fail(db, err);
		sqlite3_bind_int64(st, 1, now);
		db_bind_text(st, 2, merchant);
		sqlite3_bind_int64(st, 3, order_id);
		if (db_step_done(st) != 0)
			return db_fail(db, err);
		*n_keys = db_changes(db);
	}
	if (*n_grants + *n_keys == 0)
		return 0;
	snprintf(msg, sizeof msg, "Revoked %" PRId64 " download link%s and %" PRId64
	    " license key%s", *n_grants, *n_grants == 1 ? "" : "s", *n_keys, *n_keys == 1 ? "" : "s");
	if (orders_history(db, order_id, 0, "digital", NULL, "revoked", msg) != 0)
		return db_fail(db, err);
	return 0;
}

int digital_revoke_line(struct db *db, const char *merchant, int64_t order_id, int64_t line_no,
    int64_t units, int64_t *n_grants, int64_t *n_keys, char *err)
{
	sqlite3_stmt *st;
	int64_t now = clock_now_ms(), left = -1;
	char msg[200];

	*n_grants = *n_keys = 0;
	st = db_prepare(db, "SELECT l.quantity - l.canceled_quantity FROM order_lines l JOIN orders o"
	    " ON o.id = l.order_id WHERE l.order_id = ? AND l.line_no = ? AND o.merchant = ?");
	if (st == NULL)
		return db_fail(db, err);
	sqlite3_bind_int64(st, 1, order_id);
	sqlite3_bind_int64(st, 2, line_no);
	db_bind_text(st, 3, merchant);
	if (sqlite3_step(st) == SQLITE_ROW)
		left = sqlite3_column_int64(st, 0);
	db_reset(st);
	if (left < 0)
		return fail(err, "order %" PRId64 " has no line %" PRId64, order_id, line_no);
	/* A link serves the whole line: it goes when no unit is left. */
	if (left == 0) {
		st = db_prepare(db, "UPDATE digital_grants SET revoked_at = ? WHERE merchant = ? AND"
		    " order_id = ? AND line_no = ? AND revoked_at IS NULL");
		if (st == NULL)
			return db_fail(db, err);
		sqlite3_bind_int64(st, 1, now);
		db_bind_text(st, 2, merchant);
		sqlite3_bind_int64(st, 3, order_id);
		sqlite3_bind_int64(st, 4, line_no);
		if (db_step_done(st) != 0)
			return db_fail(db, err);
		*n_grants = db_changes(db);
	}
	/* One key a unit: the newest go first. */
	st = db_prepare(db, "UPDATE license_keys SET revoked_at = ?1 WHERE id IN (SELECT id FROM"
	    " license_keys WHERE merchant = ?2 AND order_id = ?3 AND line_no = ?4 AND revoked_at IS NULL"
	    " ORDER BY id DESC LIMIT ?5)");
	if (st == NULL)
		return db_fail(db, err);
	sqlite3_bind_int64(st, 1, now);
	db_bind_text(st, 2, merchant);
	sqlite3_bind_int64(st, 3, order_id);
	sqlite3_bind_int64(st, 4, line_no);
	sqlite3_bind_int64(st, 5, units > 0 ? units : 0);
	if (db_step_done(st) != 0)
		return db_fail(db, err);
	*n_keys = db_changes(db);
	if (*n_grants + *n_keys == 0)
		return 0;
	snprintf(msg, sizeof msg, "Revoked %" PRId64 " download link%s and %" PRId64
	    " license key%s of line %" PRId64, *n_grants, *n_grants == 1 ? "" : "s", *n_keys,
	    *n_keys == 1 ? "" : "s", line_no);
	if (orders_history(db, order_id, 0, "digital", NULL, "revoked", msg) != 0)
		return db_fail(db, err);
	return 0;
}

#define GRANT_COLS "id, order_id, line_no, sku, file, expires_at, download_limit, downloads," \
	" revoked_at, created_at"

static json_t *grant_row(sqlite3_stmt *st)
{
	int64_t left = sqlite3_column_int64(st, 6) - sqlite3_column_int64(st, 7);

	return json_pack("{s:I,s:I,s:I,s:s,s:s,s:o,s:I,s:I,s:I,s:o,s:o}",
	    "id", (json_int_t)sqlite3_column_int64(st, 0),
	    "order_id", (json_int_t)sqlite3_column_int64(st, 1),
	    "line", (json_int_t)sqlite3_column_int64(st, 2),
	    "sku", (const char *)sqlite3_column_text(st, 3),
	    "file", (const char *)sqlite3_column_text(st, 4),
	    "expires_at", db_column_time(st, 5),
	    "download_limit", (json_int_t)sqlite3_column_int64(st, 6),
	    "downloads", (json_int_t)sqlite3_column_int64(st, 7),
	    "downloads_left", (json_int_t)(left > 0 ? left : 0),
	    "revoked_at", db_column_time(st, 8),
	    "created_at", db_column_time(st, 9));
}

json_t *digital_grant_get(struct db *db, const char *merchant, int64_t id)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT " GRANT_COLS " FROM digital_grants"
	    " WHERE id = ? AND merchant = ?");
	json_t *out = NULL;

	if (st == NULL)
		return NULL;
	sqlite3_bind_int64(st, 1, id);
	db_bind_text(st, 2, merchant);
	if (sqlite3_step(st) == SQLITE_ROW)
		out = grant_row(st);
	db_reset(st);
	return out;
}

json_t *digital_order(struct db *db, const char *merchant, int64_t order_id)
{
	json_t *grants = json_array(), *keys = json_array();
	sqlite3_stmt *st = db_prepare(db, "SELECT " GRANT_COLS " FROM digital_grants"
	    " WHERE order_id = ? AND merchant = ? ORDER BY id");

	if (st != NULL && grants != NULL) {
		sqlite3_bind_int64(st, 1, order_id);
		db_bind_text(st, 2, merchant);
		while (sqlite3_step(st) == SQLITE_ROW)
			json_array_append_new(grants, grant_row(st));
		db_reset(st);
	}
	st = db_prepare(db, "SELECT sku, key, line_no, assigned_at, revoked_at FROM license_keys"
	    " WHERE order_id = ? AND merchant = ? ORDER BY id");
	if (st != NULL && keys != NULL) {
		sqlite3_bind_int64(st, 1, order_id);
		db_bind_text(st, 2, merchant);
		while (sqlite3_step(st) == SQLITE_ROW)
			json_array_append_new(keys, json_pack("{s:s,s:s,s:I,s:o,s:o}",
			    "sku", (const char *)sqlite3_column_text(st, 0),
			    "key", (const char *)sqlite3_column_text(st, 1),
			    "line", (json_int_t)sqlite3_column_int64(st, 2),
			    "assigned_at", db_column_time(st, 3), "revoked_at", db_column_time(st, 4)));
		db_reset(st);
	}
	return json_pack("{s:o*,s:o*}", "grants", grants, "keys", keys);
}

/* The grant's state for a change: 1 found (revoked set when it is), 0 none. */
static int grant_state(struct db *db, const char *merchant, int64_t id, int *revoked,
    int64_t *order_id)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT revoked_at IS NOT NULL, order_id FROM"
	    " digital_grants WHERE id = ? AND merchant = ?");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	db_bind_text(st, 2, merchant);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*revoked = sqlite3_column_int(st, 0);
		*order_id = sqlite3_column_int64(st, 1);
	}
	db_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int digital_grant_revoke(struct db *db, const char *merchant, int64_t id, char *err)
{
	int revoked = 0, rc;
	int64_t order_id = 0;
	sqlite3_stmt *st;
	char msg[80];

	if ((rc = grant_state(db, merchant, id, &revoked, &order_id)) < 0)
		return db_fail(db, err);
	if (rc == 0)
		return fail(err, "download grant %" PRId64 " not found", id);
	if (revoked)
		return fail(err, "download grant %" PRId64 " is revoked; it cannot be revoked again", id);
	if ((st = db_prepare(db, "UPDATE digital_grants SET revoked_at = ? WHERE id = ?")) == NULL)
		return db_fail(db, err);
	sqlite3_bind_int64(st, 1, clock_now_ms());
	sqlite3_bind_int64(st, 2, id);
	snprintf(msg, sizeof msg, "Download link %" PRId64 " revoked", id);
	if (db_step_done(st) != 0 || orders_history(db, order_id, 0, "digital", NULL, "revoked",
	    msg) != 0)
		return db_fail(db, err);
	return 0;
}

int digital_grant_extend(struct db *db, const char *merchant, int64_t id, int64_t expires_at,
    int64_t more, char *err)
{
	int revoked = 0, rc;
	int64_t order_id = 0;
	sqlite3_stmt *st;
	char msg[160], ts[32] = "unchanged";

	if (expires_at < 0 && more <= 0)
		return fail(err, "give expires_at (a time after now) and/or downloads (more to allow)");
	if (expires_at >= 0 && expires_at <= clock_now_ms())
		return fail(err, "expires_at must be after now");
	if (more < 0 || more > 1000000)
		return fail(err, "downloads must be 1 to 1000000 more");
	if ((rc = grant_state(db, merchant, id, &revoked, &order_id)) < 0)
		return db_fail(db, err);
	if (rc == 0)
		return fail(err, "download grant %" PRId64 " not found", id);
	if (revoked)
		return fail(err, "download grant %" PRId64 " is revoked; it cannot be extended", id);
	st = db_prepare(db, "UPDATE digital_grants SET expires_at = COALESCE(?, expires_at),"
	    " download_limit = download_limit + ? WHERE id = ?");
	if (st == NULL)
		return db_fail(db, err);
	if (expires_at >= 0)
		sqlite3_bind_int64(st, 1, expires_at);
	sqlite3_bind_int64(st, 2, more);
	sqlite3_bind_int64(st, 3, id);
	if (expires_at >= 0)
		clock_format_iso(expires_at, ts);
	snprintf(msg, sizeof msg, "Download link %" PRId64 " extended: expiry %s, %" PRId64
	    " more downloads", id, ts, more);
	if (db_step_done(st) != 0 || orders_history(db, order_id, 0, "digital", NULL, "extended",
	    msg) != 0)
		return db_fail(db, err);
	return 0;
}

static int key_ok(const char *k, size_t len)
{
	if (len == 0 || len > DIGITAL_MAX_KEY)
		return 0;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)k[i] < 0x20 || k[i] == 0x7f)
			return 0;
	return 1;
}

json_t *digital_import_keys(struct db *db, const struct merchant_config *m, const char *sku,
    const json_t *keys, char *err)
{
	struct digital_product_buf buf;
	const struct digital_product *p = digital_product(db, m, sku, &buf);
	json_t *dups, *out, *pool;
	sqlite3_stmt *st;
	int64_t added = 0, now = clock_now_ms();
	size_t i;
	json_t *k;

	if (p == NULL || !p->license) {
		fail(err, "license pool \"%.64s\" not found: the SKU must be a digital product with"
		    " license: true", sku ? sku : "");
		return NULL;
	}
	if (!json_is_array(keys) || json_array_size(keys) == 0 || json_array_size(keys) > 100000) {
		fail(err, "keys must be a list of 1 to 100000 strings");
		return NULL;
	}
	json_array_foreach(keys, i, k) {
		if (!json_is_string(k) || !key_ok(json_string_value(k), json_string_length(k))) {
			fail(err, "keys[%zu]: expected a key of 1 to %d printable bytes", i,
			    DIGITAL_MAX_KEY);
			return NULL;
		}
	}
	st = db_prepare(db, "INSERT INTO license_keys (merchant, sku, key, added_at)"
	    " VALUES (?, ?, ?, ?) ON CONFLICT (merchant, sku, key) DO NOTHING");
	if (st == NULL || (dups = json_array()) == NULL) {
		db_fail(db, err);
		return NULL;
	}
	json_array_foreach(keys, i, k) {
		db_bind_text(st, 1, m->id);
		db_bind_text(st, 2, p->sku);
		sqlite3_bind_text(st, 3, json_string_value(k), (int)json_string_length(k),
		    SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 4, now);
		if (db_step_done(st) != 0) {
			json_decref(dups);
			db_fail(db, err);
			return NULL;
		}
		if (db_changes(db) == 1)
			added++;
		else
			json_array_append(dups, k);
	}
	if ((pool = digital_pool(db, m->id, p->sku)) == NULL) {
		json_decref(dups);
		db_fail(db, err);
		return NULL;
	}
	out = json_pack("{s:s,s:I,s:o,s:O}", "sku", p->sku, "added", (json_int_t)added,
	    "duplicates", dups, "available", json_object_get(pool, "available"));
	json_decref(pool);
	return out;
}

json_t *digital_pool(struct db *db, const char *merchant, const char *sku)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT"
	    " COALESCE(SUM(order_id IS NULL AND revoked_at IS NULL), 0),"
	    " COALESCE(SUM(order_id IS NOT NULL), 0), COALESCE(SUM(revoked_at IS NOT NULL), 0)"
	    " FROM license_keys WHERE merchant = ? AND sku = ?");
	json_t *out = NULL;

	if (st == NULL)
		return NULL;
	db_bind_text(st, 1, merchant);
	db_bind_text(st, 2, sku);
	if (sqlite3_step(st) == SQLITE_ROW)
		out = json_pack("{s:s,s:I,s:I,s:I}", "sku", sku,
		    "available", (json_int_t)sqlite3_column_int64(st, 0),
		    "assigned", (json_int_t)sqlite3_column_int64(st, 1),
		    "revoked", (json_int_t)sqlite3_column_int64(st, 2));
	db_reset(st);
	return out;
}

int digital_lookup(struct db *db, const char *token, struct digital_hit *hit)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT id, merchant, sku, file, expires_at,"
	    " download_limit, downloads, COALESCE(revoked_at, 0) FROM digital_grants"
	    " WHERE token_hash = ?");
	char hash[65];
	int rc;

	if (st == NULL)
		return -1;
	token_hash(token, hash);
	db_bind_text(st, 1, hash);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		hit->grant_id = sqlite3_column_int64(st, 0);
		snprintf(hit->merchant, sizeof hit->merchant, "%s", sqlite3_column_text(st, 1));
		snprintf(hit->sku, sizeof hit->sku, "%s", sqlite3_column_text(st, 2));
		snprintf(hit->file, sizeof hit->file, "%s", sqlite3_column_text(st, 3));
		hit->expires_at = sqlite3_column_int64(st, 4);
		hit->download_limit = sqlite3_column_int64(st, 5);
		hit->downloads = sqlite3_column_int64(st, 6);
		hit->revoked_at = sqlite3_column_int64(st, 7);
	}
	db_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int digital_record(struct db *db, int64_t grant_id, const char *remote, int64_t first,
    int64_t bytes, int counts)
{
	sqlite3_stmt *st;

	if (counts) {
		st = db_prepare(db, "UPDATE digital_grants SET downloads = downloads + 1"
		    " WHERE id = ? AND downloads < download_limit");
		if (st == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, grant_id);
		if (db_step_done(st) != 0)
			return -1;
		if (db_changes(db) != 1)
			return 0;
	}
	st = db_prepare(db, "INSERT INTO digital_downloads (grant_id, at, remote, first_byte, bytes)"
	    " VALUES (?, ?, ?, ?, ?)");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, grant_id);
	sqlite3_bind_int64(st, 2, clock_now_ms());
	db_bind_text(st, 3, remote ? remote : "");
	sqlite3_bind_int64(st, 4, first);
	sqlite3_bind_int64(st, 5, bytes);
	return db_step_done(st) != 0 ? -1 : 1;
}
