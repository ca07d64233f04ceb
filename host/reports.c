/*
 * reports — KPI queries (see reports.h for what each figure means).
 *
 * Depends on db (every query), calendar (local days and weeks: the zone's
 * rules come from the system tz database, never from here), clock (RFC
 * 3339 text) and money (formatting for the terminal). Never writes, and
 * never holds a statement across a return: each query is prepared, stepped
 * and reset in one function.
 *
 * Speed on a big database comes from migration 13's indexes: the cohort is
 * an index range on (merchant, order time), so a report costs what the
 * range holds, not what the database holds; renewal orders and succeeded
 * refunds have partial indexes of their own.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ordo/calendar.h"
#include "ordo/clock.h"
#include "ordo/config.h"
#include "ordo/db.h"
#include "ordo/money.h"
#include "ordo/reports.h"

#define DAY_MS INT64_C(86400000)

/* An order's time, written exactly as in migration 13's index so SQLite
 * uses it. */
#define T "COALESCE(o.placed_at, o.created_at)"
/* The cohort: ?1 merchant, ?2 from, ?3 to. */
#define COHORT "o.merchant = ?1 AND " T " >= ?2 AND " T " < ?3" \
	" AND o.status IN ('placed', 'completed')"

static int fail(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(char *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, REPORTS_ERRLEN, fmt, ap);
	va_end(ap);
	return -1;
}

/* fail() for a function that answers an HTTP status. */
static int refuse(char *err, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int refuse(char *err, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, REPORTS_ERRLEN, fmt, ap);
	va_end(ap);
	return status;
}

static json_t *db_fail(struct db *db, char *err)
{
	fail(err, "database: %s", db_errmsg(db));
	return NULL;
}

/* db_fail for a function that returns 0 or -1. */
static int db_error(struct db *db, char *err)
{
	db_fail(db, err);
	return -1;
}

/* ------------------------------------------------------------------ */
/* Range                                                               */
/* ------------------------------------------------------------------ */

/* Local wall-clock milliseconds (timegm of the local fields) of the
 * midnight starting the local day that holds `ms`, and its weekday. */
static int local_midnight(int64_t ms, const char *tz, int64_t *wall, int *wday)
{
	struct tm lt;

	if (calendar_local_parts(ms, tz, &lt) != 0)
		return -1;
	lt.tm_hour = lt.tm_min = lt.tm_sec = 0;
	lt.tm_isdst = 0;
	*wday = lt.tm_wday;
	*wall = (int64_t)timegm(&lt) * 1000;
	return 0;
}

/* A date YYYY-MM-DD: *wall its local midnight as wall-clock ms.
 * @return 1 for a date, 0 for something else. */
static int parse_date(const char *text, int64_t *wall)
{
	char iso[32];

	if (strlen(text) != 10 || text[4] != '-' || text[7] != '-')
		return 0;
	/* clock_parse_iso is strict about the calendar (no April 31). */
	snprintf(iso, sizeof iso, "%sT00:00:00Z", text);
	return clock_parse_iso(iso, wall) == 0;
}

/* One bound into *ms: a local date's first instant (for `to`, the next
 * day's: the date is included), or an RFC 3339 instant. @return 0 or -1. */
static int parse_bound(const char *text, const char *tz, int is_to, int64_t *ms)
{
	int64_t wall;

	if (parse_date(text, &wall))
		return calendar_wall_to_ms(wall + (is_to ? DAY_MS : 0), tz, ms);
	if (strlen(text) < 20 || strchr(text, 'T') == NULL)
		return -1;
	return clock_parse_iso(text, ms);
}

int reports_range_parse(const struct merchant_config *m, const char *from, const char *to,
    const char *bucket, int64_t now_ms, struct reports_range *out, char *err)
{
	const char *tz = m->timezone;
	struct reports_range r = { 0 };
	int64_t wall, n;
	int wday;

	if (bucket == NULL || bucket[0] == '\0' || strcmp(bucket, "day") == 0)
		r.bucket = REPORTS_DAY;
	else if (strcmp(bucket, "week") == 0)
		r.bucket = REPORTS_WEEK;
	else
		return refuse(err, 400, "bucket must be day or week");
	if (from != NULL && from[0] == '\0')
		from = NULL;
	if (to != NULL && to[0] == '\0')
		to = NULL;
	if (from != NULL && parse_bound(from, tz, 0, &r.from_ms) != 0)
		return refuse(err, 400, "from must be a date YYYY-MM-DD or an RFC 3339 time");
	if (to != NULL && parse_bound(to, tz, 1, &r.to_ms) != 0)
		return refuse(err, 400, "to must be a date YYYY-MM-DD or an RFC 3339 time");
	if (to == NULL) {
		/* The end of today, or of the 30th day from `from`. */
		if (local_midnight(from != NULL ? r.from_ms : now_ms, tz, &wall, &wday) != 0 ||
		    calendar_wall_to_ms(wall + (from != NULL ? REPORTS_DEFAULT_DAYS : 1) * DAY_MS,
		    tz, &r.to_ms) != 0)
			return refuse(err, 400, "from is outside the years ordo can count");
	}
	if (from == NULL) {
		/* 30 local days ending with the one `to` ends in. */
		if (local_midnight(r.to_ms - 1, tz, &wall, &wday) != 0 ||
		    calendar_wall_to_ms(wall - (REPORTS_DEFAULT_DAYS - 1) * DAY_MS, tz,
		    &r.from_ms) != 0)
			return refuse(err, 400, "to is outside the years ordo can count");
	}
	if (r.from_ms >= r.to_ms)
		return refuse(err, 422, "from must be before to");
	n = (r.to_ms - r.from_ms) / (r.bucket == REPORTS_DAY ? DAY_MS : 7 * DAY_MS);
	if (n > REPORTS_MAX_BUCKETS)
		return refuse(err, 422, "the range holds more than %d %ss; use a shorter range%s",
		    REPORTS_MAX_BUCKETS, r.bucket == REPORTS_DAY ? "day" : "week",
		    r.bucket == REPORTS_DAY ? " or bucket=week" : "");
	*out = r;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Queries                                                             */
/* ------------------------------------------------------------------ */

static void bind_range(sqlite3_stmt *st, const char *merchant, int64_t from, int64_t to)
{
	db_bind_text(st, 1, merchant);
	sqlite3_bind_int64(st, 2, from);
	sqlite3_bind_int64(st, 3, to);
}

static json_t *rate(int64_t num, int64_t den)
{
	return den > 0 ? json_real((double)num / (double)den) : json_null();
}

static json_t *seconds(double ms)
{
	return json_real(round(ms) / 1000.0);
}

static const char bucket_sql[] =
	"SELECT o.channel, COUNT(*), COALESCE(SUM(CASE WHEN o.currency = ?4 THEN o.total END), 0)"
	" FROM orders o WHERE " COHORT " GROUP BY o.channel ORDER BY o.channel";

/* One bucket's orders and revenue by channel over [from, to); adds to the
 * totals. @return the bucket object, or NULL. */
static json_t *bucket_figures(struct db *db, const struct merchant_config *m, const char *label,
    int64_t from, int64_t to, json_t *orders_by, json_t *revenue_by, int64_t *orders, int64_t *revenue,
    char *err)
{
	sqlite3_stmt *st = db_prepare(db, bucket_sql);
	json_t *b, *by;
	int64_t n = 0, sum = 0;
	int rc;

	if (st == NULL)
		return db_fail(db, err);
	b = json_object();
	json_object_set_new(b, "start", json_string(label));
	by = json_object();
	bind_range(st, m->id, from, to);
	db_bind_text(st, 4, m->currency);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *ch = (const char *)sqlite3_column_text(st, 0);
		int64_t cn = sqlite3_column_int64(st, 1), cr = sqlite3_column_int64(st, 2);
		json_t *c = json_object();

		json_object_set_new(c, "orders", json_integer(cn));
		json_object_set_new(c, "revenue", json_integer(cr));
		json_object_set_new(by, ch, c);
		json_object_set_new(orders_by, ch, json_integer(cn +
		    json_integer_value(json_object_get(orders_by, ch))));
		json_object_set_new(revenue_by, ch, json_integer(cr +
		    json_integer_value(json_object_get(revenue_by, ch))));
		n += cn;
		sum += cr;
	}
	db_reset(st);
	if (rc != SQLITE_DONE) {
		json_decref(b);
		json_decref(by);
		return db_fail(db, err);
	}
	json_object_set_new(b, "orders", json_integer(n));
	json_object_set_new(b, "revenue", json_integer(sum));
	json_object_set_new(b, "by_channel", by);
	*orders += n;
	*revenue += sum;
	return b;
}

/* The buckets, and the orders and revenue totals. @return 0 or -1. */
static int buckets(struct db *db, const struct merchant_config *m,
    const struct reports_range *r, json_t *doc, char *err)
{
	json_t *list = json_array(), *orders_by = json_object(), *revenue_by = json_object(), *o;
	int64_t wall, start, next, orders = 0, revenue = 0;
	int wday, step_days = r->bucket == REPORTS_DAY ? 1 : 7;

	json_object_set_new(doc, "buckets", list);
	o = json_object();
	json_object_set_new(o, "total", json_integer(0));
	json_object_set_new(o, "by_channel", orders_by);
	json_object_set_new(doc, "orders", o);
	o = json_object();
	json_object_set_new(o, "total", json_integer(0));
	json_object_set_new(o, "by_channel", revenue_by);
	json_object_set_new(doc, "revenue", o);
	if (local_midnight(r->from_ms, m->timezone, &wall, &wday) != 0)
		return fail(err, "cannot read the local day of the range's start");
	if (r->bucket == REPORTS_WEEK)
		wall -= (int64_t)((wday + 6) % 7) * DAY_MS;   /* back to Monday */
	/* Each bucket's end is the next one's start: converted once. */
	if (calendar_wall_to_ms(wall, m->timezone, &next) != 0)
		return fail(err, "cannot compute a bucket's start");
	for (int i = 0; i <= REPORTS_MAX_BUCKETS + 1; i++, wall += step_days * DAY_MS) {
		char day[32];
		json_t *b;

		start = next;
		if (calendar_wall_to_ms(wall + step_days * DAY_MS, m->timezone, &next) != 0)
			return fail(err, "cannot compute a bucket's start");
		if (start >= r->to_ms)
			break;
		clock_format_iso(wall, day);
		day[10] = '\0';
		b = bucket_figures(db, m, day, start > r->from_ms ? start : r->from_ms,
		    next < r->to_ms ? next : r->to_ms, orders_by, revenue_by, &orders, &revenue, err);
		if (b == NULL)
			return -1;
		json_array_append_new(list, b);
	}
	json_object_set_new(json_object_get(doc, "orders"), "total", json_integer(orders));
	json_object_set_new(json_object_get(doc, "revenue"), "total", json_integer(revenue));
	return 0;
}

/* count, avg_s, p90_s of the values `count_sql` averages; `nth_sql` picks
 * the ?4-th smallest (nearest rank: the ceil(0.9 n)-th). */
static json_t *lead_time(struct db *db, const struct merchant_config *m,
    const struct reports_range *r, const char *count_sql, const char *nth_sql, char *err)
{
	sqlite3_stmt *st = db_prepare(db, count_sql);
	int64_t n = 0, p90 = 0;
	double avg = 0;
	json_t *o;
	int rc;

	if (st == NULL)
		return db_fail(db, err);
	bind_range(st, m->id, r->from_ms, r->to_ms);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		n = sqlite3_column_int64(st, 0);
		avg = sqlite3_column_double(st, 1);
	}
	db_reset(st);
	if (rc != SQLITE_ROW)
		return db_fail(db, err);
	if (n > 0) {
		if ((st = db_prepare(db, nth_sql)) == NULL)
			return db_fail(db, err);
		bind_range(st, m->id, r->from_ms, r->to_ms);
		sqlite3_bind_int64(st, 4, (n * 9 + 9) / 10 - 1);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			p90 = sqlite3_column_int64(st, 0);
		db_reset(st);
		if (rc != SQLITE_ROW)
			return db_fail(db, err);
	}
	o = json_object();
	json_object_set_new(o, "count", json_integer(n));
	json_object_set_new(o, "avg_s", n > 0 ? seconds(avg) : json_null());
	json_object_set_new(o, "p90_s", n > 0 ? seconds((double)p90) : json_null());
	return o;
}

#define SHIPPED_FROM " FROM orders o JOIN shipments s ON s.order_id = o.id" \
	" WHERE " COHORT " AND s.shipped_at IS NOT NULL"
static const char placed_shipped_count[] =
	"SELECT COUNT(*), AVG(s.shipped_at - " T ")" SHIPPED_FROM;
static const char placed_shipped_nth[] =
	"SELECT s.shipped_at - " T " AS v" SHIPPED_FROM " ORDER BY v LIMIT 1 OFFSET ?4";
static const char shipped_delivered_count[] =
	"SELECT COUNT(*), AVG(s.delivered_at - s.shipped_at)" SHIPPED_FROM
	" AND s.delivered_at IS NOT NULL";
static const char shipped_delivered_nth[] =
	"SELECT s.delivered_at - s.shipped_at AS v" SHIPPED_FROM
	" AND s.delivered_at IS NOT NULL ORDER BY v LIMIT 1 OFFSET ?4";

static int lead_times(struct db *db, const struct merchant_config *m,
    const struct reports_range *r, json_t *doc, char *err)
{
	json_t *lt = json_object(), *a, *b = NULL;

	json_object_set_new(doc, "lead_time", lt);
	if ((a = lead_time(db, m, r, placed_shipped_count, placed_shipped_nth, err)) == NULL ||
	    (b = lead_time(db, m, r, shipped_delivered_count, shipped_delivered_nth, err)) == NULL) {
		json_decref(a);
		return -1;
	}
	json_object_set_new(lt, "placed_to_shipped", a);
	json_object_set_new(lt, "shipped_to_delivered", b);
	return 0;
}

/* Cohort orders, and those without a line left to fulfill (canceled
 * units are not owed: a line whose every unit was canceled is done). */
static const char fulfilled_sql[] =
	"SELECT COUNT(*), COALESCE(SUM(NOT EXISTS (SELECT 1 FROM order_lines l"
	"   WHERE l.order_id = o.id AND l.fulfilled_quantity < l.quantity - l.canceled_quantity"
	"   AND NOT EXISTS (SELECT 1 FROM digital_grants g"
	"     WHERE g.order_id = o.id AND g.line_no = l.line_no)"
	"   AND (SELECT COUNT(*) FROM license_keys k"
	"     WHERE k.order_id = o.id AND k.line_no = l.line_no) < l.quantity - l.canceled_quantity)), 0)"
	" FROM orders o WHERE " COHORT;

static const char backorders_sql[] =
	"SELECT COUNT(*), AVG(?2 - created_at), MAX(?2 - created_at) FROM backorders"
	" WHERE merchant = ?1 AND status = 'waiting' AND quantity > 0";

static const char refunds_sql[] =
	"SELECT COALESCE(SUM(p.amount), 0), COUNT(*) FROM payments p"
	" CROSS JOIN orders o ON o.id = p.order_id"   /* refunds by time first */
	" WHERE p.kind = 'refund' AND p.status = 'succeeded'"
	" AND p.created_at >= ?2 AND p.created_at < ?3 AND o.merchant = ?1 AND p.currency = ?4";

/* Renewal orders in the range with a charge attempt: succeeded, declined
 * at least once, and charged after the first decline. */
static const char renewals_sql[] =
	"SELECT COUNT(*), COALESCE(SUM(ok), 0), COALESCE(SUM(first_decline IS NOT NULL), 0),"
	"  COALESCE(SUM(first_decline IS NOT NULL AND EXISTS (SELECT 1 FROM payments p"
	"    WHERE p.order_id = x.id AND p.kind IN ('authorization', 'capture')"
	"    AND p.status = 'succeeded' AND p.id > x.first_decline)), 0)"
	" FROM (SELECT o.id,"
	"   EXISTS (SELECT 1 FROM payments p WHERE p.order_id = o.id"
	"     AND p.kind IN ('authorization', 'capture') AND p.status = 'succeeded') AS ok,"
	"   (SELECT MIN(p.id) FROM payments p WHERE p.order_id = o.id"
	"     AND p.kind = 'authorization' AND p.status = 'failed') AS first_decline"
	"  FROM orders o WHERE o.merchant = ?1 AND o.subscription_id IS NOT NULL"
	"  AND " T " >= ?2 AND " T " < ?3"
	"  AND EXISTS (SELECT 1 FROM payments p WHERE p.order_id = o.id"
	"    AND p.kind IN ('authorization', 'capture'))) x";

/* Step a one-row statement into up to 4 int64 columns (NULL is 0).
 * @return 0 or -1 (the statement is reset either way). */
static int one_row(sqlite3_stmt *st, int n, int64_t *v)
{
	int rc = sqlite3_step(st);

	for (int i = 0; i < n; i++)
		v[i] = rc == SQLITE_ROW ? sqlite3_column_int64(st, i) : 0;
	db_reset(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

static int scalars(struct db *db, const struct merchant_config *m,
    const struct reports_range *r, int64_t now_ms, json_t *doc, char *err)
{
	sqlite3_stmt *st;
	int64_t v[4];
	double avg_age = 0;
	json_t *o;

	if ((st = db_prepare(db, fulfilled_sql)) == NULL)
		return db_error(db, err);
	bind_range(st, m->id, r->from_ms, r->to_ms);
	if (one_row(st, 2, v) != 0)
		return db_error(db, err);
	json_object_set_new(doc, "fulfillment_rate", rate(v[1], v[0]));

	if ((st = db_prepare(db, backorders_sql)) == NULL)
		return db_error(db, err);
	db_bind_text(st, 1, m->id);
	sqlite3_bind_int64(st, 2, now_ms);
	if (sqlite3_step(st) == SQLITE_ROW) {
		v[0] = sqlite3_column_int64(st, 0);
		avg_age = sqlite3_column_double(st, 1);
		v[1] = sqlite3_column_int64(st, 2);
		db_reset(st);
	} else {
		db_reset(st);
		return db_error(db, err);
	}
	o = json_object();
	json_object_set_new(o, "open", json_integer(v[0]));
	json_object_set_new(o, "avg_age_s", v[0] > 0 ? seconds(avg_age) : json_null());
	json_object_set_new(o, "oldest_age_s", v[0] > 0 ? seconds((double)v[1]) : json_null());
	json_object_set_new(doc, "backorders", o);

	if ((st = db_prepare(db, refunds_sql)) == NULL)
		return db_error(db, err);
	bind_range(st, m->id, r->from_ms, r->to_ms);
	db_bind_text(st, 4, m->currency);
	if (one_row(st, 2, v) != 0)
		return db_error(db, err);
	o = json_object();
	json_object_set_new(o, "total", json_integer(v[0]));
	json_object_set_new(o, "count", json_integer(v[1]));
	json_object_set_new(doc, "refunds", o);

	if ((st = db_prepare(db, renewals_sql)) == NULL)
		return db_error(db, err);
	bind_range(st, m->id, r->from_ms, r->to_ms);
	if (one_row(st, 4, v) != 0)
		return db_error(db, err);
	o = json_object();
	json_object_set_new(o, "attempted", json_integer(v[0]));
	json_object_set_new(o, "succeeded", json_integer(v[1]));
	json_object_set_new(o, "success_rate", rate(v[1], v[0]));
	json_object_set_new(doc, "renewals", o);
	o = json_object();
	json_object_set_new(o, "entered", json_integer(v[2]));
	json_object_set_new(o, "recovered", json_integer(v[3]));
	json_object_set_new(o, "recovery_rate", rate(v[3], v[2]));
	json_object_set_new(doc, "dunning", o);
	return 0;
}

static const char sold_sql[] =
	"SELECT l.sku, SUM(l.quantity - l.canceled_quantity) FROM orders o"
	" JOIN order_lines l ON l.order_id = o.id"
	" WHERE " COHORT " AND l.sku IS NOT NULL GROUP BY l.sku ORDER BY l.sku";
static const char returned_sql[] =
	"SELECT rl.sku, SUM(rl.quantity) FROM orders o JOIN returns r ON r.order_id = o.id"
	" JOIN return_lines rl ON rl.return_id = r.id"
	" WHERE " COHORT " AND r.status <> 'rejected' AND rl.sku IS NOT NULL GROUP BY rl.sku";
static const char reasons_sql[] =
	"SELECT COALESCE(NULLIF(r.reason, ''), 'unspecified'), COUNT(*)"
	" FROM orders o JOIN returns r ON r.order_id = o.id"
	" WHERE " COHORT " AND r.status <> 'rejected' GROUP BY 1 ORDER BY 1";

/* Rows of (text, int64) into an object. @return 0 or -1. */
static int text_counts(struct db *db, const struct merchant_config *m,
    const struct reports_range *r, const char *sql, json_t *into)
{
	sqlite3_stmt *st = db_prepare(db, sql);
	int rc;

	if (st == NULL)
		return -1;
	bind_range(st, m->id, r->from_ms, r->to_ms);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_object_set_new(into, (const char *)sqlite3_column_text(st, 0),
		    json_integer(sqlite3_column_int64(st, 1)));
	db_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int returns(struct db *db, const struct merchant_config *m,
    const struct reports_range *r, json_t *doc, char *err)
{
	json_t *o = json_object(), *list = json_array(), *by = json_object();
	json_t *sold = json_object(), *back = json_object();
	const char *sku;
	json_t *n;
	int rc = -1;

	json_object_set_new(o, "rate_by_sku", list);
	json_object_set_new(o, "by_reason", by);
	json_object_set_new(doc, "returns", o);
	if (text_counts(db, m, r, sold_sql, sold) != 0 ||
	    text_counts(db, m, r, returned_sql, back) != 0 ||
	    text_counts(db, m, r, reasons_sql, by) != 0) {
		db_fail(db, err);
		goto out;
	}
	/* SKU order (jansson keeps insertion order, and sold_sql sorts). */
	json_object_foreach(sold, sku, n) {
		json_t *row = json_object();
		int64_t s = json_integer_value(n);
		int64_t b = json_integer_value(json_object_get(back, sku));

		json_object_set_new(row, "sku", json_string(sku));
		json_object_set_new(row, "sold", json_integer(s));
		json_object_set_new(row, "returned", json_integer(b));
		json_object_set_new(row, "rate", rate(b, s));
		json_array_append_new(list, row);
	}
	rc = 0;
out:
	json_decref(sold);
	json_decref(back);
	return rc;
}

json_t *reports_kpis(struct db *db, const struct merchant_config *m,
    const struct reports_range *r, int64_t now_ms, char *err)
{
	json_t *doc = json_object();
	char buf[32];

	json_object_set_new(doc, "merchant", json_string(m->id));
	json_object_set_new(doc, "currency", json_string(m->currency));
	json_object_set_new(doc, "timezone", json_string(m->timezone));
	clock_format_iso(r->from_ms, buf);
	json_object_set_new(doc, "from", json_string(buf));
	clock_format_iso(r->to_ms, buf);
	json_object_set_new(doc, "to", json_string(buf));
	json_object_set_new(doc, "bucket", json_string(r->bucket == REPORTS_DAY ? "day" : "week"));
	clock_format_iso(now_ms, buf);
	json_object_set_new(doc, "as_of", json_string(buf));
	if (buckets(db, m, r, doc, err) != 0 || lead_times(db, m, r, doc, err) != 0 ||
	    scalars(db, m, r, now_ms, doc, err) != 0 || returns(db, m, r, doc, err) != 0) {
		json_decref(doc);
		return NULL;
	}
	return doc;
}

/* ------------------------------------------------------------------ */
/* Terminal                                                            */
/* ------------------------------------------------------------------ */

/* Minor units as decimal text of the document's currency. */
static const char *money(const json_t *v, const char *currency, char *buf, size_t len)
{
	if (money_format(json_integer_value(v), currency, buf, len) < 0)
		snprintf(buf, len, "%" PRId64, (int64_t)json_integer_value(v));
	return buf;
}

/* A rate as a percentage with one decimal, or "-" for null. */
static const char *pct(const json_t *v, char *buf, size_t len)
{
	if (!json_is_number(v))
		return "-";
	snprintf(buf, len, "%.1f%%", json_number_value(v) * 100.0);
	return buf;
}

/* Seconds as "1d 02:03:04" (or "-" for null). */
static const char *dur(const json_t *v, char *buf, size_t len)
{
	int64_t s;

	if (!json_is_number(v))
		return "-";
	s = (int64_t)llround(json_number_value(v));
	if (s < 0)
		snprintf(buf, len, "%" PRId64 "s", s);
	else if (s >= 86400)
		snprintf(buf, len, "%" PRId64 "d %02d:%02d:%02d", s / 86400, (int)(s % 86400 / 3600),
		    (int)(s % 3600 / 60), (int)(s % 60));
	else
		snprintf(buf, len, "%02d:%02d:%02d", (int)(s / 3600), (int)(s % 3600 / 60),
		    (int)(s % 60));
	return buf;
}

static int64_t ival(const json_t *doc, const char *a, const char *b)
{
	return json_integer_value(json_object_get(json_object_get(doc, a), b));
}

int reports_print(FILE *out, const json_t *doc)
{
	const char *cur = json_string_value(json_object_get(doc, "currency"));
	const json_t *bks = json_object_get(doc, "buckets"), *b, *lt, *x, *v;
	const json_t *orders_by = json_object_get(json_object_get(doc, "orders"), "by_channel");
	const json_t *revenue_by = json_object_get(json_object_get(doc, "revenue"), "by_channel");
	const char *ch;
	char m1[48], m2[48];
	size_t i;

	if (cur == NULL || !json_is_array(bks) || !json_is_object(orders_by))
		return -1;
	fprintf(out, "KPIs for %s (%s, %s), %s to %s, by %s (as of %s)\n\n",
	    json_string_value(json_object_get(doc, "merchant")), cur,
	    json_string_value(json_object_get(doc, "timezone")),
	    json_string_value(json_object_get(doc, "from")),
	    json_string_value(json_object_get(doc, "to")),
	    json_string_value(json_object_get(doc, "bucket")),
	    json_string_value(json_object_get(doc, "as_of")));

	fprintf(out, "%-12s %8s %14s\n", json_string_value(json_object_get(doc, "bucket")),
	    "orders", "revenue");
	json_array_foreach(bks, i, b)
		fprintf(out, "%-12s %8" PRId64 " %14s\n", json_string_value(json_object_get(b, "start")),
		    (int64_t)json_integer_value(json_object_get(b, "orders")),
		    money(json_object_get(b, "revenue"), cur, m1, sizeof m1));
	fprintf(out, "%-12s %8" PRId64 " %14s\n\n", "total", ival(doc, "orders", "total"),
	    money(json_object_get(json_object_get(doc, "revenue"), "total"), cur, m1, sizeof m1));

	fprintf(out, "%-12s %8s %14s\n", "channel", "orders", "revenue");
	json_object_foreach((json_t *)orders_by, ch, v)
		fprintf(out, "%-12s %8" PRId64 " %14s\n", ch, (int64_t)json_integer_value(v),
		    money(json_object_get(revenue_by, ch), cur, m1, sizeof m1));

	lt = json_object_get(doc, "lead_time");
	fprintf(out, "\n%-22s %8s %14s %14s\n", "lead time", "count", "average", "p90");
	for (int k = 0; k < 2; k++) {
		const char *name = k == 0 ? "placed_to_shipped" : "shipped_to_delivered";

		x = json_object_get(lt, name);
		fprintf(out, "%-22s %8" PRId64 " %14s %14s\n", k == 0 ? "placed to shipped" :
		    "shipped to delivered", (int64_t)json_integer_value(json_object_get(x, "count")),
		    dur(json_object_get(x, "avg_s"), m1, sizeof m1),
		    dur(json_object_get(x, "p90_s"), m2, sizeof m2));
	}

	fprintf(out, "\nfulfillment rate       %s\n",
	    pct(json_object_get(doc, "fulfillment_rate"), m1, sizeof m1));
	x = json_object_get(doc, "backorders");
	fprintf(out, "backorders open        %" PRId64 " (average age %s, oldest %s)\n",
	    ival(doc, "backorders", "open"), dur(json_object_get(x, "avg_age_s"), m1, sizeof m1),
	    dur(json_object_get(x, "oldest_age_s"), m2, sizeof m2));
	x = json_object_get(doc, "refunds");
	fprintf(out, "refunds                %s in %" PRId64 "\n",
	    money(json_object_get(x, "total"), cur, m1, sizeof m1), ival(doc, "refunds", "count"));
	x = json_object_get(doc, "renewals");
	fprintf(out, "renewals               %" PRId64 " of %" PRId64 " succeeded (%s)\n",
	    ival(doc, "renewals", "succeeded"), ival(doc, "renewals", "attempted"),
	    pct(json_object_get(x, "success_rate"), m1, sizeof m1));
	x = json_object_get(doc, "dunning");
	fprintf(out, "dunning                %" PRId64 " of %" PRId64 " recovered (%s)\n",
	    ival(doc, "dunning", "recovered"), ival(doc, "dunning", "entered"),
	    pct(json_object_get(x, "recovery_rate"), m1, sizeof m1));

	x = json_object_get(doc, "returns");
	fprintf(out, "\n%-24s %8s %8s %8s\n", "returns by SKU", "sold", "returned", "rate");
	json_array_foreach(json_object_get(x, "rate_by_sku"), i, b)
		fprintf(out, "%-24s %8" PRId64 " %8" PRId64 " %8s\n",
		    json_string_value(json_object_get(b, "sku")),
		    (int64_t)json_integer_value(json_object_get(b, "sold")),
		    (int64_t)json_integer_value(json_object_get(b, "returned")),
		    pct(json_object_get(b, "rate"), m1, sizeof m1));
	fprintf(out, "\n%-24s %8s\n", "returns by reason", "returns");
	json_object_foreach((json_t *)json_object_get(x, "by_reason"), ch, v)
		fprintf(out, "%-24s %8" PRId64 "\n", ch, (int64_t)json_integer_value(v));
	return 0;
}
