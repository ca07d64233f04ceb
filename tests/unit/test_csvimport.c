/*
 * test_csvimport — CSV parsing (a table: quotes, embedded commas and
 * newlines, CRLF, malformed input) and the inventory import's row checks,
 * line numbers and all-or-nothing on a broken file.
 */
#include <stdlib.h>

#include "ordo/config.h"
#include "ordo/csvimport.h"
#include "ordo/db.h"
#include "ordo/log.h"
#include "t.h"

struct seen {
	char text[1024];
	size_t o;
};

static int collect(void *arg, size_t line, char **f, size_t n)
{
	struct seen *s = arg;

	s->o += (size_t)snprintf(s->text + s->o, sizeof s->text - s->o, "%zu:", line);
	for (size_t i = 0; f != NULL && i < n; i++)
		s->o += (size_t)snprintf(s->text + s->o, sizeof s->text - s->o, "%s[%s]",
		    i ? "," : "", f[i]);
	s->o += (size_t)snprintf(s->text + s->o, sizeof s->text - s->o, ";");
	return 0;
}

static void test_parse_table(void)
{
	static const struct { const char *in, *want; } cases[] = {
		{ "a,b\n1,2\n", "1:[a],[b];2:[1],[2];" },
		{ "a,b\r\n1,2\r\n", "1:[a],[b];2:[1],[2];" },
		{ "a,b\n1,2", "1:[a],[b];2:[1],[2];" },
		{ "\"x, y\",\"say \"\"hi\"\"\"\n", "1:[x, y],[say \"hi\"];" },
		{ "\"two\nlines\",z\nnext,1\n", "1:[two\nlines],[z];3:[next],[1];" },
		{ "a,,c\n", "1:[a],[],[c];" },
		{ "", "" },
		{ "\"open quote,never closed\n", NULL },
		{ "a\"b,c\n", NULL },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct seen s = { "", 0 };
		char err[256];
		int rc = csvimport_parse(cases[i].in, strlen(cases[i].in), collect, &s, err);

		if (cases[i].want == NULL) {
			CHECK_INT(rc, -1);
			CHECK_HAS(err, "line ");
		} else {
			CHECK_INT(rc, 0);
			CHECK_STR(s.text, cases[i].want);
		}
	}
}

static struct location_config locs[] = { { "wh", "WH", NULL, 1, "warehouse" } };
static struct merchant_config m = { .id = "m1", .locations = locs, .n_locations = 1 };

static int64_t q(struct db *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = -1;

	sqlite3_prepare_v2(db_handle(db), sql, -1, &st, NULL);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static int run(struct db *db, const char *text, struct csvimport_summary *sum, char *report,
    size_t rlen, char *err)
{
	FILE *in = fmemopen((void *)text, strlen(text), "r"), *out = fmemopen(report, rlen, "w");
	int rc = csvimport_inventory(db, &m, in, "t.csv", strlen(text), NULL, NULL, out, sum, err);

	fclose(in);
	fclose(out);
	return rc;
}

static void test_import(void)
{
	char *dberr = NULL, err[256], report[2048];
	struct csvimport_summary sum;
	struct db *db;

	log_set_level(LOG_WARN);
	db = db_open(":memory:", 1, &dberr);
	memset(report, 0, sizeof report);
	CHECK_INT(run(db, "location,on_hand,sku\nwh,5,A\nmars,1,B\nwh,x,C\n\nwh,2,D\n", &sum,
	    report, sizeof report, err), 0);
	CHECK_INT(sum.rows, 4);
	CHECK_INT(sum.applied, 2);
	CHECK_INT(sum.rejected, 2);
	CHECK_HAS(report, "t.csv:3: unknown location \"mars\"");
	CHECK_HAS(report, "t.csv:4: on_hand must be a whole number from 0, not \"x\"");
	CHECK_INT(q(db, "SELECT SUM(on_hand) FROM stock"), 7);
	/* A broken file applies nothing, not even its good rows. */
	CHECK_INT(run(db, "sku,location,on_hand\nE,wh,9\n\"F,wh,1\n", &sum, report, sizeof report, err), -1);
	CHECK_HAS(err, "t.csv:");
	CHECK_INT(q(db, "SELECT count(*) FROM stock WHERE sku = 'E'"), 0);
	CHECK_INT(run(db, "name,count\nA,1\n", &sum, report, sizeof report, err), -1);
	CHECK_HAS(err, "the header must name sku, location and on_hand");
	CHECK_INT(run(db, "", &sum, report, sizeof report, err), -1);
	CHECK_HAS(err, "empty");
	db_close(db);
}

T_MAIN(test_parse_table, test_import)
