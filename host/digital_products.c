/*
 * digital_products — which SKUs are digital: the merchant's config
 * (merchants[].digital.products) and, for SKUs the config does not name,
 * the digital_products table the API writes (see digital.h).
 *
 * Config wins: a SKU it names is config's alone (the API refuses to set or
 * delete it), so a reload never fights with a database row. A file set by
 * API passes the same check as config's: a relative path without "." or
 * ".." segments that, symlinks resolved, is a regular file inside
 * digital.assets; downloads check it again when they open it.
 *
 * Depends on db, config, clock. Never reads a file's content.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ordo/clock.h"
#include "ordo/config.h"
#include "ordo/db.h"
#include "ordo/digital.h"

static int fail(char *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, DIGITAL_ERRLEN, fmt, ap);
	va_end(ap);
	return code;
}

/* 1..255 bytes, no control characters (it may end up in a header). */
static int text_ok(const char *s, size_t n, size_t max)
{
	if (s == NULL || n == 0 || n > max || strlen(s) != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

const struct digital_product *digital_product(struct db *db, const struct merchant_config *m,
    const char *sku, struct digital_product_buf *buf)
{
	const struct digital_product *p = config_digital(m, sku);
	sqlite3_stmt *st;
	int rc;

	if (p != NULL || sku == NULL || db == NULL)
		return p;
	if ((st = db_prepare(db, "SELECT sku, file, license, content_type FROM digital_products"
	    " WHERE merchant = ? AND sku = ?")) == NULL)
		return NULL;
	db_bind_text(st, 1, m->id);
	db_bind_text(st, 2, sku);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		memset(buf, 0, sizeof *buf);
		snprintf(buf->sku, sizeof buf->sku, "%s", (const char *)sqlite3_column_text(st, 0));
		buf->p.sku = buf->sku;
		if (sqlite3_column_type(st, 1) != SQLITE_NULL) {
			snprintf(buf->file, sizeof buf->file, "%s", (const char *)sqlite3_column_text(st, 1));
			buf->p.file = buf->file;
		}
		buf->p.license = sqlite3_column_int(st, 2);
		if (sqlite3_column_type(st, 3) != SQLITE_NULL) {
			snprintf(buf->content_type, sizeof buf->content_type, "%s",
			    (const char *)sqlite3_column_text(st, 3));
			buf->p.content_type = buf->content_type;
		}
		p = &buf->p;
	}
	db_reset(st);
	return p;
}

static json_t *product_json(const struct digital_product *p, const char *source)
{
	return json_pack("{s:s,s:s,s:s?,s:s?,s:s}", "sku", p->sku, "kind",
	    p->license ? "license" : "file", "file", p->file, "content_type", p->content_type,
	    "source", source);
}

json_t *digital_product_get(struct db *db, const struct merchant_config *m, const char *sku)
{
	struct digital_product_buf buf;
	const struct digital_product *p = digital_product(db, m, sku, &buf);

	return p == NULL ? NULL : product_json(p, p == &buf.p ? "api" : "config");
}

json_t *digital_product_list(struct db *db, const struct merchant_config *m)
{
	json_t *out = json_array();
	sqlite3_stmt *st;
	int rc;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < m->digital.n_products; i++)
		json_array_append_new(out, product_json(&m->digital.products[i], "config"));
	if ((st = db_prepare(db, "SELECT sku, file, license, content_type FROM digital_products"
	    " WHERE merchant = ? ORDER BY sku")) == NULL) {
		json_decref(out);
		return NULL;
	}
	db_bind_text(st, 1, m->id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct digital_product p = {
			.sku = (char *)sqlite3_column_text(st, 0),
			.file = (char *)sqlite3_column_text(st, 1),
			.license = sqlite3_column_int(st, 2),
			.content_type = (char *)sqlite3_column_text(st, 3),
		};

		if (config_digital(m, p.sku) == NULL)   /* shadowed by config: not in effect */
			json_array_append_new(out, product_json(&p, "api"));
	}
	db_reset(st);
	if (rc != SQLITE_DONE) {
		json_decref(out);
		return NULL;
	}
	return json_pack("{s:o}", "products", out);
}

/* The check config's files pass (config.c check_asset), for a file named
 * by API. @return 0 or DIGITAL_EINVALID with err. */
static int asset_ok(const struct merchant_config *m, const char *file, size_t n, char *err)
{
	char *path = NULL, *real = NULL, *copy, *seg, *save = NULL;
	size_t alen;
	struct stat st;
	int bad = !text_ok(file, n, 1024) || file[0] == '/', rc = DIGITAL_EINVALID;

	if (!bad) {
		if ((copy = strdup(file)) == NULL)
			return fail(err, DIGITAL_EDB, "out of memory");
		for (seg = strtok_r(copy, "/", &save); !bad && seg; seg = strtok_r(NULL, "/", &save))
			bad = strcmp(seg, ".") == 0 || strcmp(seg, "..") == 0;
		free(copy);
	}
	if (bad)
		return fail(err, DIGITAL_EINVALID, "file must be a relative path of 1 to 1024 bytes inside"
		    " digital.assets, without \"..\", \".\" or a leading \"/\"");
	if (m->digital.assets == NULL)
		return fail(err, DIGITAL_EINVALID, "merchant %s has no digital.assets folder for files",
		    m->id);
	alen = strlen(m->digital.assets);
	if (asprintf(&path, "%s/%s", m->digital.assets, file) < 0)
		return fail(err, DIGITAL_EDB, "out of memory");
	/* The folder's own path is never shown: only the name asked for. */
	if ((real = realpath(path, NULL)) == NULL)
		fail(err, rc, "no file \"%.200s\" in digital.assets (%s)", file, strerror(errno));
	else if (strncmp(real, m->digital.assets, alen) != 0 || real[alen] != '/')
		fail(err, rc, "\"%.200s\" leads outside digital.assets", file);
	else if (stat(real, &st) != 0 || !S_ISREG(st.st_mode))
		fail(err, rc, "\"%.200s\" is not a file", file);
	else
		rc = 0;
	free(path);
	free(real);
	return rc;
}

int digital_product_put(struct db *db, const struct merchant_config *m, const char *sku,
    const json_t *body, int *created, char *err)
{
	const json_t *file = json_object_get(body, "file"), *lic = json_object_get(body, "license");
	const json_t *ct = json_object_get(body, "content_type");
	int license = json_is_true(lic), rc;
	sqlite3_stmt *st;

	*created = 0;
	if (!text_ok(sku, sku ? strlen(sku) : 0, 255))
		return fail(err, DIGITAL_EINPUT, "the SKU must be 1 to 255 bytes without control"
		    " characters");
	if ((file != NULL && !json_is_string(file)) || (lic != NULL && !json_is_boolean(lic)) ||
	    (ct != NULL && !json_is_null(ct) && !json_is_string(ct)))
		return fail(err, DIGITAL_EINPUT, "give {\"file\": \"name under digital.assets\"} or"
		    " {\"license\": true}, and optionally \"content_type\": text");
	if ((file != NULL) == license)
		return fail(err, DIGITAL_EINVALID, "a digital product is either a file (\"file\") or a"
		    " license key (\"license\": true), exactly one of them");
	if (license && ct != NULL && !json_is_null(ct))
		return fail(err, DIGITAL_EINVALID, "content_type is for files; a license key has none");
	if (ct != NULL && json_is_string(ct) && !text_ok(json_string_value(ct), json_string_length(ct),
	    255))
		return fail(err, DIGITAL_EINVALID, "content_type must be 1 to 255 bytes without control"
		    " characters");
	if (config_digital(m, sku) != NULL)
		return fail(err, DIGITAL_ECONFLICT, "SKU \"%.64s\" is a digital product in the config;"
		    " change it there", sku);
	if (file != NULL && (rc = asset_ok(m, json_string_value(file), json_string_length(file), err)) != 0)
		return rc;
	if ((st = db_prepare(db, "SELECT 1 FROM digital_products WHERE merchant = ? AND sku = ?")) == NULL)
		return fail(err, DIGITAL_EDB, "database error: %s", db_errmsg(db));
	db_bind_text(st, 1, m->id);
	db_bind_text(st, 2, sku);
	*created = sqlite3_step(st) != SQLITE_ROW;
	db_reset(st);
	st = db_prepare(db, "INSERT INTO digital_products (merchant, sku, file, license, content_type,"
	    " created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) ON CONFLICT (merchant, sku)"
	    " DO UPDATE SET file = excluded.file, license = excluded.license,"
	    " content_type = excluded.content_type, updated_at = excluded.updated_at");
	if (st == NULL)
		return fail(err, DIGITAL_EDB, "database error: %s", db_errmsg(db));
	db_bind_text(st, 1, m->id);
	db_bind_text(st, 2, sku);
	db_bind_text(st, 3, file ? json_string_value(file) : NULL);
	sqlite3_bind_int(st, 4, license);
	db_bind_text(st, 5, json_string_value(ct));
	sqlite3_bind_int64(st, 6, clock_now_ms());
	if (db_step_done(st) != 0)
		return fail(err, DIGITAL_EDB, "database error: %s", db_errmsg(db));
	return 0;
}

int digital_product_delete(struct db *db, const struct merchant_config *m, const char *sku,
    char *err)
{
	sqlite3_stmt *st;

	if (config_digital(m, sku) != NULL)
		return fail(err, DIGITAL_ECONFLICT, "SKU \"%.64s\" is a digital product in the config;"
		    " remove it there", sku);
	if ((st = db_prepare(db, "DELETE FROM digital_products WHERE merchant = ? AND sku = ?")) == NULL)
		return fail(err, DIGITAL_EDB, "database error: %s", db_errmsg(db));
	db_bind_text(st, 1, m->id);
	db_bind_text(st, 2, sku);
	if (db_step_done(st) != 0)
		return fail(err, DIGITAL_EDB, "database error: %s", db_errmsg(db));
	if (db_changes(db) == 0)
		return fail(err, DIGITAL_ENOTFOUND, "no digital product \"%.64s\"", sku);
	return 0;
}
