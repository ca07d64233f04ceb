/*
 * fuzz_csv — the CSV import, from raw bytes.
 *
 * Input: a CSV file. It goes through csvimport_parse (rows handed over must
 * have NUL-terminated fields within the size limits and line numbers that
 * only grow), and through csvimport_inventory against an in-memory database
 * with two locations: the summary must add up (applied + rejected = rows),
 * a failed import must apply nothing, and the stock table must hold exactly
 * the rows applied, never a negative count.
 */
#include <string.h>

#include "ordo/config.h"
#include "ordo/csvimport.h"
#include "ordo/db.h"
#include "ordo/log.h"
#include "fuzz_common.h"

struct check {
	size_t last_line;
	size_t rows;
};

static int on_row(void *arg, size_t line, char **fields, size_t n)
{
	struct check *c = arg;

	FUZZ_CHECK(line > c->last_line || (line == c->last_line && c->rows == 0),
	    "line %zu after %zu", line, c->last_line);
	c->last_line = line;
	c->rows++;
	for (size_t i = 0; fields != NULL && i < n; i++)
		FUZZ_CHECK(strlen(fields[i]) <= 1024, "field %zu is %zu bytes", i, strlen(fields[i]));
	return 0;
}

static struct location_config locs[] = {
	{ "wh", "WH", NULL, 1, "warehouse" }, { "shop", "Shop", NULL, 2, "store" },
};
static struct merchant_config merchant = { .id = "fuzz", .locations = locs, .n_locations = 2 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct db *db;
	struct check c = { 0, 0 };
	struct csvimport_summary sum;
	char err[256], *dberr = NULL;
	FILE *in, *sink;
	int rc;

	if (db == NULL) {
		log_set_level(LOG_ERROR);
		db = db_open(":memory:", 0, &dberr);
		FUZZ_CHECK(db != NULL, "db_open: %s", dberr ? dberr : "?");
	}
	csvimport_parse((const char *)data, size, on_row, &c, err);

	db_exec(db, "DELETE FROM stock; DELETE FROM stock_ledger;");
	in = fmemopen((void *)(size ? data : (const uint8_t *)""), size ? size : 1, "r");
	sink = fopen("/dev/null", "w");
	FUZZ_CHECK(in != NULL && sink != NULL, "fmemopen");
	if (size == 0)
		fgetc(in); /* an empty file: fmemopen needs a byte */
	rc = csvimport_inventory(db, &merchant, in, "fuzz.csv", size, NULL, NULL, sink, &sum, err);
	fclose(in);
	fclose(sink);
	{
		sqlite3_stmt *st;
		int64_t rows = -1, negative = -1;

		sqlite3_prepare_v2(db_handle(db), "SELECT count(*), COALESCE(SUM(on_hand < 0 OR"
		    " reserved < 0), 0) FROM stock", -1, &st, NULL);
		if (sqlite3_step(st) == SQLITE_ROW) {
			rows = sqlite3_column_int64(st, 0);
			negative = sqlite3_column_int64(st, 1);
		}
		sqlite3_finalize(st);
		FUZZ_CHECK(negative == 0, "negative stock");
		if (rc != 0) {
			FUZZ_CHECK(rows == 0, "a failed import left %lld rows (%s)", (long long)rows, err);
		} else {
			FUZZ_CHECK(sum.applied + sum.rejected == sum.rows, "summary %zu + %zu != %zu",
			    sum.applied, sum.rejected, sum.rows);
			FUZZ_CHECK((size_t)rows <= sum.applied, "%lld stock rows for %zu applied",
			    (long long)rows, sum.applied);
		}
	}
	FUZZ_CHECK(!db_in_transaction(db), "a transaction left open");
	return 0;
}
