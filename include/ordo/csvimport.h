/*
 * csvimport — `ordo import inventory FILE.csv`: on-hand counts from a
 * spreadsheet, parsed by libcsv.
 *
 * The file has a header row naming at least sku, location and on_hand (in
 * any order; a reason column is optional; other columns are ignored). Every
 * data row is checked (a known location, a SKU, a whole number from 0); good
 * rows are applied with inv_set in one transaction, so stock that grows
 * serves the backorder queue as it would through the API; bad rows are
 * reported with their line number and change nothing. A database error
 * rolls the whole import back.
 */
#ifndef ORDO_CSVIMPORT_H
#define ORDO_CSVIMPORT_H

#include <stddef.h>
#include <stdio.h>

struct db;
struct merchant_config;

struct csvimport_summary {
	size_t rows;        /* data rows read */
	size_t applied;
	size_t rejected;
};

/* Called every few hundred rows: bytes read so far of `total` (0 when the
 * size is unknown). */
typedef void (*csvimport_progress_fn)(void *arg, size_t rows, size_t bytes, size_t total);

/*
 * Import from `fp` (named `name` in messages). Rejected rows are written to
 * `report` as "name:LINE: why". @return 0 (rows may have been rejected:
 * see the summary), or -1 with err (256 bytes): no header, an unreadable
 * file, a database error — then nothing was applied.
 */
int csvimport_inventory(struct db *db, const struct merchant_config *m, FILE *fp,
    const char *name, size_t total, csvimport_progress_fn progress, void *arg, FILE *report,
    struct csvimport_summary *sum, char *err);

/*
 * Parse CSV text into rows without touching a database: row(arg, line,
 * fields, n) for each record. For the fuzzer and tests.
 * @return 0, or -1 for malformed CSV (err says where).
 */
int csvimport_parse(const char *buf, size_t len,
    int (*row)(void *arg, size_t line, char **fields, size_t n), void *arg, char *err);

#endif
