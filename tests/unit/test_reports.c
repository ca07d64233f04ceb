/*
 * test_reports — the KPI range parser as a table of parameters and the
 * range or error each gives, and the definitions the end-to-end test does
 * not reach, on rows written straight into an in-memory database: a line
 * delivered by a download grant or by license keys counts as fulfilled,
 * an order in another currency counts as an order but not as revenue,
 * drafts and canceled orders are not in the cohort, and p90 is by nearest
 * rank.
 */
#include <stdlib.h>
#include <string.h>

#include "ordo/clock.h"
#include "ordo/config.h"
#include "ordo/db.h"
#include "ordo/log.h"
#include "ordo/reports.h"
#include "t.h"

static struct merchant_config berlin = { .id = "m1", .currency = "EUR",
                                         .timezone = "Europe/Berlin" };

static int64_t at(const char *iso)
{
	int64_t ms = 0;

	if (clock_parse_iso(iso, &ms) != 0) {
		fprintf(stderr, "bad time in the test: %s\n", iso);
		exit(1);
	}
	return ms;
}

static void test_range_table(void)
{
	/* now: 2026-11-04T12:00Z, a Wednesday; Berlin is UTC+1 in winter,
	 * UTC+2 in summer (the change is on 2026-10-25). */
	static const struct {
		const char *from, *to, *bucket;
		int status;
		const char *want_from, *want_to, *words;
	} cases[] = {
		{ "2026-11-02", "2026-11-04", NULL, 0,
		  "2026-11-01T23:00:00Z", "2026-11-04T23:00:00Z", NULL },
		{ "2026-10-24", "2026-10-25", "day", 0,          /* 25 hours on the 25th */
		  "2026-10-23T22:00:00Z", "2026-10-25T23:00:00Z", NULL },
		{ "2026-11-02T10:00:00Z", "2026-11-02T11:00:00+01:00", "week", 422, /* empty */
		  NULL, NULL, "from must be before to" },
		{ "2026-11-02T10:00:00Z", "2026-11-02T12:00:00+01:00", "week", 0,
		  "2026-11-02T10:00:00Z", "2026-11-02T11:00:00Z", NULL },
		{ NULL, NULL, NULL, 0,                          /* 30 days ending today */
		  "2026-10-05T22:00:00Z", "2026-11-04T23:00:00Z", NULL },
		{ "", "", "", 0,                                /* empty is absent */
		  "2026-10-05T22:00:00Z", "2026-11-04T23:00:00Z", NULL },
		{ "2026-11-01", NULL, NULL, 0,                  /* 30 days from it */
		  "2026-10-31T23:00:00Z", "2026-11-30T23:00:00Z", NULL },
		{ NULL, "2026-11-30", NULL, 0,                  /* 30 days to it */
		  "2026-10-31T23:00:00Z", "2026-11-30T23:00:00Z", NULL },
		{ NULL, NULL, "month", 400, NULL, NULL, "bucket must be day or week" },
		{ NULL, NULL, "Day", 400, NULL, NULL, "bucket must be day or week" },
		{ "2026-02-29", NULL, NULL, 400, NULL, NULL, "from must be a date" },
		{ "2026-1-01", NULL, NULL, 400, NULL, NULL, "from must be a date" },
		{ "2026-11-01T10:00:00", NULL, NULL, 400, NULL, NULL, "from must be a date" },
		{ NULL, "tomorrow", NULL, 400, NULL, NULL, "to must be a date" },
		{ "2026-11-05", "2026-11-04", NULL, 422, NULL, NULL, "from must be before to" },
		{ "2025-01-01", "2026-03-01", NULL, 422, NULL, NULL, "more than 400 days" },
		{ "2020-01-01", "2026-03-01", "week", 0,
		  "2019-12-31T23:00:00Z", "2026-03-01T23:00:00Z", NULL },
		{ "1990-01-01", "2026-03-01", "week", 422, NULL, NULL, "more than 400 weeks" },
	};
	const int64_t now = at("2026-11-04T12:00:00Z");

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct reports_range r = { 0 };
		char err[REPORTS_ERRLEN] = "";
		int rc = reports_range_parse(&berlin, cases[i].from, cases[i].to, cases[i].bucket,
		    now, &r, err);

		CHECK_INT(rc, cases[i].status);
		if (rc != 0) {
			CHECK_HAS(err, cases[i].words);
			continue;
		}
		CHECK_INT(r.from_ms, at(cases[i].want_from));
		CHECK_INT(r.to_ms, at(cases[i].want_to));
		CHECK_INT(r.bucket, cases[i].bucket != NULL && strcmp(cases[i].bucket, "week") == 0 ?
		    REPORTS_WEEK : REPORTS_DAY);
	}
}

static struct db *fresh(void)
{
	char *err = NULL;
	struct db *db;

	log_set_level(LOG_WARN);
	if ((db = db_open(":memory:", 1, &err)) == NULL) {
		fprintf(stderr, "db_open: %s\n", err);
		exit(1);
	}
	return db;
}

static void order(struct db *db, int64_t id, const char *status, const char *currency,
    int64_t total, const char *placed)
{
	char sql[512];

	snprintf(sql, sizeof sql, "INSERT INTO orders (id, merchant, channel, external_id, status,"
	    " currency, total, placed_at, created_at, updated_at) VALUES (%lld, 'm1', 'api', '%lld',"
	    " '%s', '%s', %lld, %lld, 0, 0)", (long long)id, (long long)id, status, currency,
	    (long long)total, (long long)at(placed));
	CHECK_INT(db_exec(db, sql), 0);
}

static void line(struct db *db, int64_t order_id, int no, const char *sku, int qty, int done)
{
	char sql[512];

	snprintf(sql, sizeof sql, "INSERT INTO order_lines (order_id, line_no, sku, quantity,"
	    " unit_price, total, fulfilled_quantity) VALUES (%lld, %d, '%s', %d, 100, %d, %d)",
	    (long long)order_id, no, sku, qty, qty * 100, done);
	CHECK_INT(db_exec(db, sql), 0);
}

static void test_definitions(void)
{
	struct db *db = fresh();
	struct reports_range r;
	char err[REPORTS_ERRLEN];
	json_t *doc, *lt;

	/* 1: two lines, one shipped in full, one a download: fulfilled.
	 * 2: two license keys for a line of two: fulfilled.
	 * 3: one key for a line of two: not.
	 * 4: in USD: an order, no revenue; nothing shipped: not fulfilled.
	 * 5 (draft), 6 (canceled): not in the cohort at all. */
	order(db, 1, "placed", "EUR", 1000, "2026-11-02T10:00:00Z");
	line(db, 1, 1, "BOOK", 1, 1);
	line(db, 1, 2, "EBOOK", 1, 0);
	CHECK_INT(db_exec(db, "INSERT INTO digital_grants (merchant, order_id, line_no, sku, file,"
	    " token_hash, expires_at, download_limit, created_at) VALUES ('m1', 1, 2, 'EBOOK',"
	    " 'e.pdf', 'h1', 0, 5, 0)"), 0);
	order(db, 2, "completed", "EUR", 2000, "2026-11-02T11:00:00Z");
	line(db, 2, 1, "KEY", 2, 0);
	order(db, 3, "placed", "EUR", 4000, "2026-11-03T11:00:00Z");
	line(db, 3, 1, "KEY", 2, 0);
	CHECK_INT(db_exec(db, "INSERT INTO license_keys (merchant, sku, key, order_id, line_no,"
	    " assigned_at, added_at) VALUES ('m1', 'KEY', 'k1', 2, 1, 0, 0),"
	    " ('m1', 'KEY', 'k2', 2, 1, 0, 0), ('m1', 'KEY', 'k3', 3, 1, 0, 0)"), 0);
	order(db, 4, "placed", "USD", 8000, "2026-11-03T12:00:00Z");
	line(db, 4, 1, "BOOK", 1, 0);
	order(db, 5, "draft", "EUR", 16000, "2026-11-03T12:00:00Z");
	order(db, 6, "canceled", "EUR", 32000, "2026-11-03T12:00:00Z");
	/* Shipments of 1 after 10, 20, ..., 100 s: p90 by nearest rank is the
	 * 9th smallest, 90 s. */
	for (int i = 1; i <= 10; i++) {
		char sql[256];

		snprintf(sql, sizeof sql, "INSERT INTO shipments (merchant, order_id, location, status,"
		    " created_at, updated_at, shipped_at) VALUES ('m1', 1, 'a', 'shipped', 0, 0, %lld)",
		    (long long)(at("2026-11-02T10:00:00Z") + i * 10000));
		CHECK_INT(db_exec(db, sql), 0);
	}

	CHECK_INT(reports_range_parse(&berlin, "2026-11-02", "2026-11-03", NULL,
	    at("2026-11-04T00:00:00Z"), &r, err), 0);
	doc = reports_kpis(db, &berlin, &r, at("2026-11-04T00:00:00Z"), err);
	CHECK(doc != NULL);
	if (doc == NULL) {
		db_close(db);
		return;
	}
	CHECK_INT(json_integer_value(json_object_get(json_object_get(doc, "orders"), "total")), 4);
	CHECK_INT(json_integer_value(json_object_get(json_object_get(doc, "revenue"), "total")),
	    7000);
	CHECK(json_real_value(json_object_get(doc, "fulfillment_rate")) == 0.5);
	lt = json_object_get(json_object_get(doc, "lead_time"), "placed_to_shipped");
	CHECK_INT(json_integer_value(json_object_get(lt, "count")), 10);
	CHECK(json_real_value(json_object_get(lt, "avg_s")) == 55.0);
	CHECK(json_real_value(json_object_get(lt, "p90_s")) == 90.0);
	CHECK(json_is_null(json_object_get(json_object_get(doc, "renewals"), "success_rate")));
	CHECK_INT(json_array_size(json_object_get(doc, "buckets")), 2);
	json_decref(doc);
	db_close(db);
}

T_MAIN(test_range_table, test_definitions)
