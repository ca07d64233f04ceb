/*
 * csvimport — inventory from CSV (see csvimport.h).
 *
 * Depends on libcsv (the parsing: quotes, escaped quotes, CRLF), inventory
 * and db. Records are collected field by field in libcsv's callbacks and
 * handed over one row at a time; a row is at most MAX_FIELDS fields of at
 * most MAX_FIELD bytes, so a hostile file cannot grow memory without bound.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <csv.h>

#include "ordo/config.h"
#include "ordo/csvimport.h"
#include "ordo/db.h"
#include "ordo/inventory.h"

#define MAX_FIELDS 64
#define MAX_FIELD 1024
#define ERRLEN 256

struct rows {
	char *f[MAX_FIELDS];
	size_t n;
	size_t line;           /* the line the current record starts on */
	size_t next_line;
	int too_many;
	int (*row)(void *, size_t, char **, size_t);
	void *arg;
	int stop;              /* row() asked to stop (an error) */
};

static void on_field(void *s, size_t len, void *data)
{
	struct rows *r = data;
	const char *text = s;

	/* Fields with newlines inside quotes move the line count too. */
	for (size_t i = 0; i < len; i++)
		if (text[i] == '\n')
			r->next_line++;
	if (r->n >= MAX_FIELDS) {
		r->too_many = 1;
		return;
	}
	if (len > MAX_FIELD)
		len = MAX_FIELD;
	r->f[r->n] = malloc(len + 1);
	if (r->f[r->n] == NULL) {
		r->stop = 1;
		return;
	}
	memcpy(r->f[r->n], s, len);
	r->f[r->n][len] = '\0';
	r->n++;
}

static void on_record(int c, void *data)
{
	struct rows *r = data;

	(void)c;
	if (!r->stop && r->row(r->arg, r->line, r->too_many ? NULL : r->f, r->n) != 0)
		r->stop = 1;
	for (size_t i = 0; i < r->n; i++)
		free(r->f[i]);
	r->n = 0;
	r->too_many = 0;
	r->next_line++;
	r->line = r->next_line;
}

/* Feed `len` bytes; @return 0, or -1 with err. */
static int feed(struct csv_parser *p, struct rows *r, const char *buf, size_t len, char *err)
{
	if (csv_parse(p, buf, len, on_field, on_record, r) != len) {
		snprintf(err, ERRLEN, "line %zu: %s", r->line, csv_strerror(csv_error(p)));
		return -1;
	}
	return r->stop ? -1 : 0;
}

int csvimport_parse(const char *buf, size_t len,
    int (*row)(void *arg, size_t line, char **fields, size_t n), void *arg, char *err)
{
	struct csv_parser p;
	struct rows r = { .line = 1, .next_line = 1, .row = row, .arg = arg };
	int rc = -1;

	if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0) {
		snprintf(err, ERRLEN, "out of memory");
		return -1;
	}
	err[0] = '\0';
	if (feed(&p, &r, buf, len, err) != 0)
		goto out;
	if (csv_fini(&p, on_field, on_record, &r) != 0) {
		snprintf(err, ERRLEN, "line %zu: %s", r.line, csv_strerror(csv_error(&p)));
		goto out;
	}
	rc = r.stop ? -1 : 0;
	if (rc != 0 && err[0] == '\0')
		snprintf(err, ERRLEN, "line %zu: stopped", r.line);
out:
	for (size_t i = 0; i < r.n; i++)
		free(r.f[i]);
	csv_free(&p);
	return rc;
}

/* ------------------------------------------------------------------ */

struct import {
	struct db *db;
	const struct merchant_config *m;
	const char *name;
	FILE *report;
	struct csvimport_summary *sum;
	int col_sku, col_loc, col_qty, col_reason;
	int header_seen;
	char *err;
	csvimport_progress_fn progress;
	void *arg;
	size_t bytes, total;
};

static int column(char **f, size_t n, const char *want)
{
	for (size_t i = 0; i < n; i++)
		if (f[i] != NULL && strcasecmp(f[i], want) == 0)
			return (int)i;
	return -1;
}

static void reject(struct import *im, size_t line, const char *fmt, const char *a)
{
	im->sum->rejected++;
	fprintf(im->report, "%s:%zu: ", im->name, line);
	fprintf(im->report, fmt, a);
	fputc('\n', im->report);
}

static int import_row(void *arg, size_t line, char **f, size_t n)
{
	struct import *im = arg;
	char inverr[INV_ERRLEN], *end;
	const char *sku, *loc, *qty;
	long long v;

	if (!im->header_seen) {
		if (f == NULL) {
			snprintf(im->err, ERRLEN, "%s:%zu: the header has more than %d columns", im->name,
			    line, MAX_FIELDS);
			return -1;
		}
		im->col_sku = column(f, n, "sku");
		im->col_loc = column(f, n, "location");
		im->col_qty = column(f, n, "on_hand");
		im->col_reason = column(f, n, "reason");
		if (im->col_sku < 0 || im->col_loc < 0 || im->col_qty < 0) {
			snprintf(im->err, ERRLEN, "%s:%zu: the header must name sku, location and"
			    " on_hand columns", im->name, line);
			return -1;
		}
		im->header_seen = 1;
		return 0;
	}
	if (n == 0 || (n == 1 && f != NULL && f[0][0] == '\0'))
		return 0; /* a blank line */
	im->sum->rows++;
	if (im->progress && im->sum->rows % 500 == 0)
		im->progress(im->arg, im->sum->rows, im->bytes, im->total);
	if (f == NULL) {
		reject(im, line, "more than %s columns", "64");
		return 0;
	}
	sku = (size_t)im->col_sku < n ? f[im->col_sku] : NULL;
	loc = (size_t)im->col_loc < n ? f[im->col_loc] : NULL;
	qty = (size_t)im->col_qty < n ? f[im->col_qty] : NULL;
	if (sku == NULL || sku[0] == '\0') {
		reject(im, line, "the sku is empty%s", "");
		return 0;
	}
	if (loc == NULL || config_location(im->m, loc) == NULL) {
		reject(im, line, "unknown location \"%s\"", loc ? loc : "");
		return 0;
	}
	errno = 0;
	v = qty ? strtoll(qty, &end, 10) : -1;
	if (qty == NULL || qty[0] == '\0' || *end != '\0' || errno != 0 || v < 0 ||
	    v > INV_MAX_QUANTITY) {
		reject(im, line, "on_hand must be a whole number from 0, not \"%s\"", qty ? qty : "");
		return 0;
	}
	if (inv_set(im->db, im->m, sku, loc, v, (size_t)im->col_reason < n && im->col_reason >= 0 &&
	    f[im->col_reason] ? f[im->col_reason] : "csv import", 0, inverr) != 0) {
		if (strncmp(inverr, "database error", 14) == 0) {
			snprintf(im->err, ERRLEN, "%.40s:%zu: %.200s", im->name, line, inverr);
			return -1;
		}
		reject(im, line, "%s", inverr);
		return 0;
	}
	im->sum->applied++;
	return 0;
}

int csvimport_inventory(struct db *db, const struct merchant_config *m, FILE *fp,
    const char *name, size_t total, csvimport_progress_fn progress, void *arg, FILE *report,
    struct csvimport_summary *sum, char *err)
{
	struct import im = { .db = db, .m = m, .name = name, .report = report, .sum = sum,
	                     .err = err, .progress = progress, .arg = arg, .total = total };
	struct rows r = { .line = 1, .next_line = 1, .row = import_row, .arg = &im };
	struct csv_parser p;
	char buf[65536], perr[ERRLEN];
	size_t got;
	int rc = -1;

	memset(sum, 0, sizeof *sum);
	err[0] = '\0';
	if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0) {
		snprintf(err, ERRLEN, "out of memory");
		return -1;
	}
	if (db_begin(db) != 0) {
		snprintf(err, ERRLEN, "database error: %s", db_errmsg(db));
		csv_free(&p);
		return -1;
	}
	while ((got = fread(buf, 1, sizeof buf, fp)) > 0) {
		im.bytes += got;
		if (feed(&p, &r, buf, got, perr) != 0) {
			if (err[0] == '\0')
				snprintf(err, ERRLEN, "%.40s:%.200s", name, perr);
			goto out;
		}
	}
	if (ferror(fp)) {
		snprintf(err, ERRLEN, "%s: cannot read: %s", name, strerror(errno));
		goto out;
	}
	if (csv_fini(&p, on_field, on_record, &r) != 0 || r.stop) {
		if (err[0] == '\0')
			snprintf(err, ERRLEN, "%s:%zu: %s", name, r.line, csv_strerror(csv_error(&p)));
		goto out;
	}
	if (!im.header_seen) {
		snprintf(err, ERRLEN, "%s: empty: expected a header with sku, location, on_hand", name);
		goto out;
	}
	if (db_commit(db) != 0) {
		snprintf(err, ERRLEN, "database error: %s", db_errmsg(db));
		goto out;
	}
	if (progress)
		progress(arg, sum->rows, im.bytes, total);
	rc = 0;
out:
	if (rc != 0) {
		db_rollback(db);
		sum->applied = 0;
	}
	for (size_t i = 0; i < r.n; i++)
		free(r.f[i]);
	csv_free(&p);
	return rc;
}
