/*
 * reports — a merchant's KPIs over a range of days: orders and revenue by
 * channel and by day or week, lead times, fulfillment rate, backorders,
 * returns, refunds, renewals and dunning. Served by
 * GET /api/v1/reports/kpis and printed by `ordo report`.
 *
 * Read-only: every figure is a query through db on the stored facts, and
 * nothing here writes. Days and weeks are the merchant's (its time zone,
 * through calendar); money stays integer minor units of the merchant's
 * currency; a rate whose denominator is zero is JSON null.
 *
 * What each figure means (the cohort is "orders placed in the range": an
 * order's time is its placed_at, or when ordo recorded it if the storefront
 * sent none; drafts and canceled orders are not in it):
 *
 *   orders, revenue     cohort count and sum of order totals (orders in
 *                       another currency count as orders, not as revenue),
 *                       per bucket and channel
 *   lead_time           per shipment of a cohort order: placed to shipped
 *                       (shipments.shipped_at), shipped to delivered
 *                       (shipments.delivered_at); avg and nearest-rank p90
 *   fulfillment_rate    cohort orders with every line done / cohort orders;
 *                       a line is done when all its units shipped, or it
 *                       has a download grant, or a license key per unit
 *   backorders          backorder lines waiting now (whatever the range),
 *                       their average and oldest age at `as_of`
 *   returns             of cohort orders, not rejected: units returned /
 *                       units sold per SKU, and returns by reason
 *   refunds             succeeded refund payments created in the range
 *   renewals            renewal orders (subscription_id set) in the range
 *                       with a charge attempt; succeeded = one authorization
 *                       or capture succeeded, in the end
 *   dunning             those renewals whose authorization was declined at
 *                       least once (dunning starts at the first decline);
 *                       recovered = a charge succeeded after it
 */
#ifndef ORDO_REPORTS_H
#define ORDO_REPORTS_H

#include <stdint.h>
#include <stdio.h>
#include <jansson.h>

struct db;
struct merchant_config;

#define REPORTS_ERRLEN 256
#define REPORTS_MAX_BUCKETS 400   /* a longer range is refused (422) */
#define REPORTS_DEFAULT_DAYS 30

enum reports_bucket { REPORTS_DAY, REPORTS_WEEK };

struct reports_range {
	int64_t from_ms;              /* first instant, inclusive */
	int64_t to_ms;                /* end, exclusive */
	enum reports_bucket bucket;
};

/*
 * Read the query parameters (NULL or "" = absent). `from`, `to`: a local
 * date YYYY-MM-DD in the merchant's time zone (from: its first instant;
 * to: the whole day is included) or an RFC 3339 instant (to is then the
 * exclusive end). Defaults: the 30 local days ending with today (now_ms);
 * one bound alone gives 30 days from or to it. `bucket`: "day" (default)
 * or "week" (ISO weeks, Monday first).
 * @return 0 with *out set; 400 with err naming the parameter for a value
 * that does not parse; 422 when from is not before to or the range has
 * more than REPORTS_MAX_BUCKETS buckets.
 */
int reports_range_parse(const struct merchant_config *m, const char *from, const char *to,
    const char *bucket, int64_t now_ms, struct reports_range *out, char *err);

/*
 * The KPI document for merchant `m` over `r` (the shape is in
 * tests/e2e/test_reports.py and the README); ages are counted at now_ms,
 * which the document names as "as_of".
 * @return a new reference the caller owns, or NULL with err ("database:
 * ..." for a database error, else a bucket computation that failed).
 */
json_t *reports_kpis(struct db *db, const struct merchant_config *m,
    const struct reports_range *r, int64_t now_ms, char *err);

/* Print a KPI document from reports_kpis as tables for a terminal.
 * @return 0, or -1 if `kpis` is not such a document. */
int reports_print(FILE *out, const json_t *kpis);

#endif
