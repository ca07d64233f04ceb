/*
 * test_calendar — renewal arithmetic on a merchant's wall clock: month ends
 * and anchor days, DST changes (gaps and repeated hours) in several zones,
 * the error cases, and that the process TZ is left as it was.
 *
 * The expected instants were computed independently of this module, with
 * python3's zoneinfo on the same tz database (PEP 495 fold=0: a time in a
 * gap is read with the offset from before it, a repeated time is its first
 * occurrence), and spot-checked with `date -d 'TZ="Europe/Berlin" ...'`.
 * They are written with the zone's offset at that instant, so a row reads
 * as the wall clock a merchant sees; the test checks that offset too.
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "t.h"
#include "ordo/calendar.h"
#include "ordo/clock.h"

struct add_case {
	const char *from;       /* RFC 3339, at the zone's offset */
	const char *tz;
	enum calendar_unit unit;
	int count;
	int anchor;
	const char *want;       /* RFC 3339, at the zone's offset then */
};

static const struct add_case add_cases[] = {
	/* month ends 2027 (non-leap), from Jan 31 09:00 Berlin, anchor 31, count 1..12 */
	{ "2027-01-31T09:00:00+01:00", "Europe/Berlin", CAL_MONTH, 1, 31, "2027-02-28T09:00:00+01:00" },
	{ "2027-01-31T09:00:00+01:00", "Europe/Berlin", CAL_MONTH, 2, 31, "2027-03-31T09:00:00+02:00" },
	{ "2027-01-31T09:00:00+01:00", "Europe/Berlin", CAL_MONTH, 3, 31, "2027-04-30T09:00:00+02:00" },
	{ "2027-01-31T09:00:00+01:00", "Europe/Berlin", CAL_MONTH, 4, 31, "2027-05-31T09:00:00+02:00" },
	{ "2027-01-31T09:00:00+01:00", "Europe/Berlin", CAL_MONTH, 5, 31, "2027-06-30T09:00:00+02:00" },
	{ "2027-01-31T09:00:00+01:00", "Europe/Berlin", CAL_MONTH, 6, 31, "2027-07-31T09:00:00+02:00" },
	{ "2027-01-31T09:00:00+01:00", "Europe/Berlin", CAL_MONTH, 7, 31, "2027-08-31T09:00:00+02:00" },
	{ "2027-01-31T09:00:00+01:00", "Europe/Berlin", CAL_MONTH, 8, 31, "2027-09-30T09:00:00+02:00" },
	{ "2027-01-31T09:00:00+01:00", "Europe/Berlin", CAL_MONTH, 9, 31, "2027-10-31T09:00:00+01:00" },
	{ "2027-01-31T09:00:00+01:00", "Europe/Berlin", CAL_MONTH, 10, 31, "2027-11-30T09:00:00+01:00" },
	{ "2027-01-31T09:00:00+01:00", "Europe/Berlin", CAL_MONTH, 11, 31, "2027-12-31T09:00:00+01:00" },
	{ "2027-01-31T09:00:00+01:00", "Europe/Berlin", CAL_MONTH, 12, 31, "2028-01-31T09:00:00+01:00" },
	/* leap 2028 in UTC, one step at a time from the previous result, anchor 31 */
	{ "2028-01-31T09:00:00Z", "UTC", CAL_MONTH, 1, 31, "2028-02-29T09:00:00Z" },
	{ "2028-02-29T09:00:00Z", "UTC", CAL_MONTH, 1, 31, "2028-03-31T09:00:00Z" },
	{ "2028-03-31T09:00:00Z", "UTC", CAL_MONTH, 1, 31, "2028-04-30T09:00:00Z" },
	{ "2028-04-30T09:00:00Z", "UTC", CAL_MONTH, 1, 31, "2028-05-31T09:00:00Z" },
	{ "2028-05-31T09:00:00Z", "UTC", CAL_MONTH, 1, 31, "2028-06-30T09:00:00Z" },
	{ "2028-06-30T09:00:00Z", "UTC", CAL_MONTH, 1, 31, "2028-07-31T09:00:00Z" },
	{ "2028-07-31T09:00:00Z", "UTC", CAL_MONTH, 1, 31, "2028-08-31T09:00:00Z" },
	{ "2028-08-31T09:00:00Z", "UTC", CAL_MONTH, 1, 31, "2028-09-30T09:00:00Z" },
	{ "2028-09-30T09:00:00Z", "UTC", CAL_MONTH, 1, 31, "2028-10-31T09:00:00Z" },
	{ "2028-10-31T09:00:00Z", "UTC", CAL_MONTH, 1, 31, "2028-11-30T09:00:00Z" },
	{ "2028-11-30T09:00:00Z", "UTC", CAL_MONTH, 1, 31, "2028-12-31T09:00:00Z" },
	{ "2028-12-31T09:00:00Z", "UTC", CAL_MONTH, 1, 31, "2029-01-31T09:00:00Z" },
	/* anchor 0 takes the start's day: a clamped renewal stays clamped */
	{ "2027-01-31T09:00:00Z", "UTC", CAL_MONTH, 1, 0, "2027-02-28T09:00:00Z" },
	{ "2027-02-28T09:00:00Z", "UTC", CAL_MONTH, 1, 0, "2027-03-28T09:00:00Z" },
	{ "2028-01-31T09:00:00Z", "UTC", CAL_MONTH, 1, 0, "2028-02-29T09:00:00Z" },
	/* anchor 30 */
	{ "2027-01-30T09:00:00Z", "UTC", CAL_MONTH, 1, 30, "2027-02-28T09:00:00Z" },
	{ "2027-02-28T09:00:00Z", "UTC", CAL_MONTH, 1, 30, "2027-03-30T09:00:00Z" },
	{ "2028-01-30T09:00:00Z", "UTC", CAL_MONTH, 1, 30, "2028-02-29T09:00:00Z" },
	{ "2028-02-29T09:00:00Z", "UTC", CAL_MONTH, 1, 30, "2028-03-30T09:00:00Z" },
	/* anchor differs from the start's day */
	{ "2027-02-28T09:00:00Z", "UTC", CAL_MONTH, 1, 31, "2027-03-31T09:00:00Z" },
	{ "2027-04-30T09:00:00Z", "UTC", CAL_MONTH, 1, 31, "2027-05-31T09:00:00Z" },
	{ "2027-03-15T09:00:00Z", "UTC", CAL_MONTH, 1, 1, "2027-04-01T09:00:00Z" },
	{ "2027-01-01T09:00:00Z", "UTC", CAL_MONTH, 13, 31, "2028-02-29T09:00:00Z" },
	{ "2026-12-31T09:00:00Z", "UTC", CAL_MONTH, 1, 31, "2027-01-31T09:00:00Z" },
	{ "2026-01-31T09:00:00Z", "UTC", CAL_MONTH, 1000, 31, "2109-05-31T09:00:00Z" },
	/* yearly Feb 29 */
	{ "2028-02-29T09:00:00+01:00", "Europe/Berlin", CAL_YEAR, 1, 29, "2029-02-28T09:00:00+01:00" },
	{ "2029-02-28T09:00:00+01:00", "Europe/Berlin", CAL_YEAR, 1, 29, "2030-02-28T09:00:00+01:00" },
	{ "2031-02-28T09:00:00+01:00", "Europe/Berlin", CAL_YEAR, 1, 29, "2032-02-29T09:00:00+01:00" },
	{ "2028-02-29T09:00:00+01:00", "Europe/Berlin", CAL_YEAR, 4, 29, "2032-02-29T09:00:00+01:00" },
	{ "2028-02-29T09:00:00+01:00", "Europe/Berlin", CAL_YEAR, 1, 0, "2029-02-28T09:00:00+01:00" },
	{ "2096-02-29T09:00:00Z", "UTC", CAL_YEAR, 4, 29, "2100-02-28T09:00:00Z" },
	{ "2096-02-29T09:00:00Z", "UTC", CAL_YEAR, 104, 29, "2200-02-28T09:00:00Z" },
	{ "2026-06-15T12:00:00Z", "UTC", CAL_YEAR, 1000, 0, "3026-06-15T12:00:00Z" },
	/* Berlin DST 2026 (Mar 29, Oct 25) and 2027 (Mar 28, Oct 31), 09:00 stays 09:00 */
	{ "2026-03-28T09:00:00+01:00", "Europe/Berlin", CAL_DAY, 1, 0, "2026-03-29T09:00:00+02:00" },
	{ "2026-03-22T09:00:00+01:00", "Europe/Berlin", CAL_WEEK, 1, 0, "2026-03-29T09:00:00+02:00" },
	{ "2026-10-24T09:00:00+02:00", "Europe/Berlin", CAL_DAY, 1, 0, "2026-10-25T09:00:00+01:00" },
	{ "2026-10-18T09:00:00+02:00", "Europe/Berlin", CAL_WEEK, 1, 0, "2026-10-25T09:00:00+01:00" },
	{ "2027-03-27T09:00:00+01:00", "Europe/Berlin", CAL_DAY, 1, 0, "2027-03-28T09:00:00+02:00" },
	{ "2027-03-21T09:00:00+01:00", "Europe/Berlin", CAL_WEEK, 1, 0, "2027-03-28T09:00:00+02:00" },
	{ "2027-10-30T09:00:00+02:00", "Europe/Berlin", CAL_DAY, 1, 0, "2027-10-31T09:00:00+01:00" },
	{ "2027-10-24T09:00:00+02:00", "Europe/Berlin", CAL_WEEK, 1, 0, "2027-10-31T09:00:00+01:00" },
	{ "2026-03-15T09:00:00+01:00", "Europe/Berlin", CAL_MONTH, 1, 0, "2026-04-15T09:00:00+02:00" },
	{ "2026-10-15T09:00:00+02:00", "Europe/Berlin", CAL_MONTH, 1, 0, "2026-11-15T09:00:00+01:00" },
	{ "2026-01-05T09:00:00+01:00", "Europe/Berlin", CAL_WEEK, 52, 0, "2027-01-04T09:00:00+01:00" },
	{ "2026-01-01T09:00:00+01:00", "Europe/Berlin", CAL_DAY, 365, 0, "2027-01-01T09:00:00+01:00" },
	/* Berlin spring-forward gap (02:00-03:00 does not exist) */
	{ "2026-03-28T02:30:00+01:00", "Europe/Berlin", CAL_DAY, 1, 0, "2026-03-29T03:30:00+02:00" },
	{ "2026-03-22T02:30:00+01:00", "Europe/Berlin", CAL_WEEK, 1, 0, "2026-03-29T03:30:00+02:00" },
	{ "2027-03-27T02:30:00+01:00", "Europe/Berlin", CAL_DAY, 1, 0, "2027-03-28T03:30:00+02:00" },
	{ "2026-03-28T02:00:00+01:00", "Europe/Berlin", CAL_DAY, 1, 0, "2026-03-29T03:00:00+02:00" },
	{ "2026-03-28T01:59:59+01:00", "Europe/Berlin", CAL_DAY, 1, 0, "2026-03-29T01:59:59+01:00" },
	{ "2026-03-28T03:00:00+01:00", "Europe/Berlin", CAL_DAY, 1, 0, "2026-03-29T03:00:00+02:00" },
	{ "2026-02-28T02:30:00+01:00", "Europe/Berlin", CAL_MONTH, 1, 29, "2026-03-29T03:30:00+02:00" },
	{ "2026-03-29T03:30:00+02:00", "Europe/Berlin", CAL_DAY, 1, 0, "2026-03-30T03:30:00+02:00" },
	/* Berlin fall-back (02:00-03:00 twice): first occurrence */
	{ "2026-10-24T02:30:00+02:00", "Europe/Berlin", CAL_DAY, 1, 0, "2026-10-25T02:30:00+02:00" },
	{ "2026-10-18T02:30:00+02:00", "Europe/Berlin", CAL_WEEK, 1, 0, "2026-10-25T02:30:00+02:00" },
	{ "2027-10-30T02:30:00+02:00", "Europe/Berlin", CAL_DAY, 1, 0, "2027-10-31T02:30:00+02:00" },
	{ "2026-10-24T02:00:00+02:00", "Europe/Berlin", CAL_DAY, 1, 0, "2026-10-25T02:00:00+02:00" },
	{ "2026-10-24T03:00:00+02:00", "Europe/Berlin", CAL_DAY, 1, 0, "2026-10-25T03:00:00+01:00" },
	{ "2026-10-25T02:30:00+01:00", "Europe/Berlin", CAL_DAY, 1, 0, "2026-10-26T02:30:00+01:00" },
	{ "2026-10-25T02:30:00+01:00", "Europe/Berlin", CAL_WEEK, 1, 0, "2026-11-01T02:30:00+01:00" },
	{ "2026-09-25T02:30:00+02:00", "Europe/Berlin", CAL_MONTH, 1, 0, "2026-10-25T02:30:00+02:00" },
	/* New York DST 2026 (Mar 8, Nov 1) and 2027 (Mar 14, Nov 7) */
	{ "2026-03-07T09:00:00-05:00", "America/New_York", CAL_DAY, 1, 0, "2026-03-08T09:00:00-04:00" },
	{ "2026-03-01T09:00:00-05:00", "America/New_York", CAL_WEEK, 1, 0, "2026-03-08T09:00:00-04:00" },
	{ "2026-10-31T09:00:00-04:00", "America/New_York", CAL_DAY, 1, 0, "2026-11-01T09:00:00-05:00" },
	{ "2026-10-25T09:00:00-04:00", "America/New_York", CAL_WEEK, 1, 0, "2026-11-01T09:00:00-05:00" },
	{ "2027-03-07T09:00:00-05:00", "America/New_York", CAL_WEEK, 1, 0, "2027-03-14T09:00:00-04:00" },
	{ "2027-10-31T09:00:00-04:00", "America/New_York", CAL_WEEK, 1, 0, "2027-11-07T09:00:00-05:00" },
	{ "2026-01-31T09:00:00-05:00", "America/New_York", CAL_MONTH, 2, 31, "2026-03-31T09:00:00-04:00" },
	{ "2026-03-07T02:30:00-05:00", "America/New_York", CAL_DAY, 1, 0, "2026-03-08T03:30:00-04:00" },
	{ "2026-10-31T01:30:00-04:00", "America/New_York", CAL_DAY, 1, 0, "2026-11-01T01:30:00-04:00" },
	{ "2027-11-06T01:30:00-04:00", "America/New_York", CAL_DAY, 1, 0, "2027-11-07T01:30:00-04:00" },
	/* the local date, not the UTC date, decides the day */
	{ "2026-03-31T08:00:00+09:00", "Asia/Tokyo", CAL_MONTH, 1, 0, "2026-04-30T08:00:00+09:00" },
	{ "2026-03-28T09:00:00+09:00", "Asia/Tokyo", CAL_DAY, 1, 0, "2026-03-29T09:00:00+09:00" },
	{ "2026-10-24T09:00:00+09:00", "Asia/Tokyo", CAL_WEEK, 1, 0, "2026-10-31T09:00:00+09:00" },
	{ "2026-01-31T00:30:00+09:00", "Asia/Tokyo", CAL_MONTH, 1, 31, "2026-02-28T00:30:00+09:00" },
	{ "2026-01-31T23:30:00-05:00", "America/New_York", CAL_MONTH, 1, 0, "2026-02-28T23:30:00-05:00" },
	/* UTC, and the start's fraction of a second */
	{ "2026-03-28T09:00:00Z", "UTC", CAL_DAY, 1, 0, "2026-03-29T09:00:00Z" },
	{ "2026-10-24T09:00:00Z", "UTC", CAL_WEEK, 1, 0, "2026-10-31T09:00:00Z" },
	{ "2026-12-31T23:59:59Z", "UTC", CAL_DAY, 1, 0, "2027-01-01T23:59:59Z" },
	{ "2026-01-31T09:00:00.123+01:00", "Europe/Berlin", CAL_MONTH, 1, 31, "2026-02-28T09:00:00.123+01:00" },
	/* milliseconds are kept, before the epoch too */
	{ "1969-12-31T23:59:59.999Z", "UTC", CAL_DAY, 1, 0, "1970-01-01T23:59:59.999Z" },
	/* the end of the range: Dec 31 00:00Z is still Dec 30 in New York */
	{ "9999-11-30T19:00:00-05:00", "America/New_York", CAL_MONTH, 1, 0, "9999-12-30T19:00:00-05:00" },
	/* Lord Howe moves by 30 minutes: gap 02:00-02:30, repeat 01:30-02:00 */
	{ "2026-10-03T02:15:00+10:30", "Australia/Lord_Howe", CAL_DAY, 1, 0, "2026-10-04T02:45:00+11:00" },
	{ "2026-04-04T01:45:00+11:00", "Australia/Lord_Howe", CAL_DAY, 1, 0, "2026-04-05T01:45:00+11:00" },
	/* Samoa skipped 2011-12-30 whole (-10 to +14, not a DST flag change):
	 * a renewal on that day moves on by the 24-hour gap */
	{ "2011-12-29T09:00:00-10:00", "Pacific/Apia", CAL_DAY, 1, 0, "2011-12-31T09:00:00+14:00" },
	{ "2011-12-29T09:00:00-10:00", "Pacific/Apia", CAL_DAY, 2, 0, "2011-12-31T09:00:00+14:00" },
	/* southern hemisphere: DST ends in April, starts in October */
	{ "2026-04-04T02:30:00+11:00", "Australia/Sydney", CAL_DAY, 1, 0, "2026-04-05T02:30:00+11:00" },
	{ "2026-10-03T02:30:00+10:00", "Australia/Sydney", CAL_DAY, 1, 0, "2026-10-04T03:30:00+11:00" },
	{ "2026-01-31T09:00:00+11:00", "Australia/Sydney", CAL_MONTH, 3, 31, "2026-04-30T09:00:00+10:00" },
};

/* The offset written at the end of an RFC 3339 stamp, in seconds east. */
static long stamp_offset(const char *s)
{
	size_t n = strlen(s);
	long h, m;

	if (n > 0 && s[n - 1] == 'Z')
		return 0;
	h = (s[n - 5] - '0') * 10 + (s[n - 4] - '0');
	m = (s[n - 2] - '0') * 10 + (s[n - 1] - '0');
	return (s[n - 6] == '-' ? -1 : 1) * (h * 3600 + m * 60);
}

static void test_add_table(void)
{
	for (size_t i = 0; i < sizeof add_cases / sizeof add_cases[0]; i++) {
		const struct add_case *c = &add_cases[i];
		int64_t from = 0, want = 0, got = 42;
		char err[CALENDAR_ERRLEN] = "", got_iso[32], want_iso[32];
		struct tm lt;
		int rc;

		CHECK_INT(clock_parse_iso(c->from, &from), 0);
		CHECK_INT(clock_parse_iso(c->want, &want), 0);
		rc = calendar_add(from, c->tz, c->unit, c->count, c->anchor, &got, err);
		if (rc != 0 || got != want) {
			clock_format_iso(got, got_iso);
			clock_format_iso(want, want_iso);
			fprintf(stderr, "  case %zu: %s %s +%d %s anchor %d: rc %d "
			    "(%s), got %s, want %s (%s)\n", i, c->from, c->tz,
			    c->count, calendar_unit_name(c->unit), c->anchor, rc,
			    err, got_iso, want_iso, c->want);
		}
		CHECK_INT(rc, 0);
		CHECK_INT(got, want);
		/* and the wall clock there shows the offset the row says */
		CHECK_INT(calendar_local_parts(got, c->tz, &lt), 0);
		CHECK_INT(lt.tm_gmtoff, stamp_offset(c->want));
	}
}

/* Renewing from each renewal with the subscription's anchor gives the same
 * dates as counting from the start: Jan 31 stays a month-end subscription. */
static void test_month_end_chain(void)
{
	static const char *const want[] = {
		"2028-02-29T09:00:00+01:00", "2028-03-31T09:00:00+02:00",
		"2028-04-30T09:00:00+02:00", "2028-05-31T09:00:00+02:00",
		"2028-06-30T09:00:00+02:00", "2028-07-31T09:00:00+02:00",
		"2028-08-31T09:00:00+02:00", "2028-09-30T09:00:00+02:00",
		"2028-10-31T09:00:00+01:00", "2028-11-30T09:00:00+01:00",
		"2028-12-31T09:00:00+01:00", "2029-01-31T09:00:00+01:00",
	};
	int64_t start = 0, at, direct, w;

	CHECK_INT(clock_parse_iso("2028-01-31T09:00:00+01:00", &start), 0);
	at = start;
	for (int k = 1; k <= 12; k++) {
		CHECK_INT(calendar_add(at, "Europe/Berlin", CAL_MONTH, 1, 31, &at, NULL), 0);
		CHECK_INT(calendar_add(start, "Europe/Berlin", CAL_MONTH, k, 31, &direct, NULL), 0);
		CHECK_INT(clock_parse_iso(want[k - 1], &w), 0);
		CHECK_INT(at, w);
		CHECK_INT(direct, w);
	}
}

/* A daily 09:00 renewal through two years in two DST zones: every result
 * reads 09:00:00 locally, one local day after the previous one, and equals
 * counting the days from the start. */
static void test_daily_walk(void)
{
	static const char *const zones[] = { "Europe/Berlin", "America/New_York" };
	static const char *const starts[] = { "2026-01-01T09:00:00+01:00",
	    "2026-01-01T09:00:00-05:00" };

	for (size_t z = 0; z < 2; z++) {
		int64_t start = 0, at, direct = 0;
		struct tm prev, lt;
		int bad = 0;

		CHECK_INT(clock_parse_iso(starts[z], &start), 0);
		CHECK_INT(calendar_local_parts(start, zones[z], &prev), 0);
		at = start;
		for (int k = 1; k <= 730 && !bad; k++) {
			if (calendar_add(at, zones[z], CAL_DAY, 1, 0, &at, NULL) != 0 ||
			    calendar_add(start, zones[z], CAL_DAY, k, 0, &direct, NULL) != 0 ||
			    calendar_local_parts(at, zones[z], &lt) != 0)
				bad = 1;
			else if (at != direct || lt.tm_hour != 9 || lt.tm_min != 0 ||
			    lt.tm_sec != 0 || lt.tm_wday != (prev.tm_wday + 1) % 7 ||
			    !(lt.tm_yday == prev.tm_yday + 1 ||
			    (lt.tm_yday == 0 && lt.tm_year == prev.tm_year + 1)))
				bad = 1;
			if (bad)
				fprintf(stderr, "  %s day %d: at %" PRId64 ", direct %"
				    PRId64 ", %02d:%02d yday %d\n", zones[z], k, at,
				    direct, lt.tm_hour, lt.tm_min, lt.tm_yday);
			prev = lt;
		}
		CHECK(!bad);
	}
}

struct err_case {
	const char *from;
	const char *tz;
	int unit;               /* int, so that bad values fit */
	int count;
	int anchor;
	const char *msg;        /* expected in the message */
};

static const struct err_case err_cases[] = {
	/* interval */
	{ "2026-01-31T09:00:00Z", "UTC", CAL_MONTH, 0, 0, "1 to 1000 months, got 0" },
	{ "2026-01-31T09:00:00Z", "UTC", CAL_MONTH, -1, 0, "got -1" },
	{ "2026-01-31T09:00:00Z", "UTC", CAL_DAY, 1001, 0, "1 to 1000 days, got 1001" },
	{ "2026-01-31T09:00:00Z", "UTC", CAL_WEEK, INT_MIN, 0, "1 to 1000 weeks" },
	{ "2026-01-31T09:00:00Z", "UTC", CAL_YEAR, INT_MAX, 0, "1 to 1000 years" },
	/* unit */
	{ "2026-01-31T09:00:00Z", "UTC", 4, 1, 0, "unknown calendar unit 4" },
	{ "2026-01-31T09:00:00Z", "UTC", -1, 1, 0, "unknown calendar unit -1" },
	/* anchor */
	{ "2026-01-31T09:00:00Z", "UTC", CAL_MONTH, 1, 32, "anchor day must be 1 to 31" },
	{ "2026-01-31T09:00:00Z", "UTC", CAL_YEAR, 1, -1, "got -1" },
	{ "2026-01-31T09:00:00Z", "UTC", CAL_DAY, 1, 5, "not to days" },
	{ "2026-01-31T09:00:00Z", "UTC", CAL_WEEK, 1, 31, "not to weeks" },
	/* zone */
	{ "2026-01-31T09:00:00Z", "Mars/Olympus", CAL_MONTH, 1, 0,
	  "unknown time zone \"Mars/Olympus\"" },
	{ "2026-01-31T09:00:00Z", "../etc/passwd", CAL_MONTH, 1, 0,
	  "unknown time zone \"../etc/passwd\"" },
	{ "2026-01-31T09:00:00Z", "/etc/passwd", CAL_MONTH, 1, 0, "unknown time zone" },
	{ "2026-01-31T09:00:00Z", "/usr/share/zoneinfo/Europe/Berlin", CAL_DAY, 1, 0,
	  "unknown time zone" },
	{ "2026-01-31T09:00:00Z", "Europe/../Europe/Berlin", CAL_DAY, 1, 0, "unknown time zone" },
	{ "2026-01-31T09:00:00Z", "", CAL_DAY, 1, 0, "unknown time zone \"\"" },
	{ "2026-01-31T09:00:00Z", "europe/berlin", CAL_DAY, 1, 0, "unknown time zone" },
	{ "2026-01-31T09:00:00Z", "CET-1CEST", CAL_DAY, 1, 0, "unknown time zone" },
	{ "2026-01-31T09:00:00Z", "right/Europe/Berlin", CAL_DAY, 1, 0, "unknown time zone" },
	{ "2026-01-31T09:00:00Z", "Europe/Berlin\n", CAL_DAY, 1, 0,
	  "unknown time zone \"Europe/Berlin?\"" },
	{ "2026-01-31T09:00:00Z", "Zone/With/A/Really/Long/Name/That/Goes/On/And/On", CAL_DAY, 1, 0,
	  "\"Zone/With/A/Really/Long/Name/That/Goes/O...\":" },
	{ "2026-01-31T09:00:00Z", NULL, CAL_DAY, 1, 0, "unknown time zone \"(null)\"" },
	/* range */
	{ "9999-06-01T00:00:00Z", "UTC", CAL_YEAR, 1, 0, "after the year 9999" },
	{ "9999-12-31T00:00:00Z", "UTC", CAL_DAY, 1, 0, "after the year 9999" },
	{ "9999-12-31T12:00:00Z", "Asia/Tokyo", CAL_DAY, 1, 0, "after the year 9999" },
	{ "9000-01-01T00:00:00Z", "Europe/Berlin", CAL_YEAR, 1000, 0, "after the year 9999" },
	{ "9999-12-15T00:00:00Z", "America/New_York", CAL_MONTH, 1, 0, "after the year 9999" },
};

static void test_errors(void)
{
	for (size_t i = 0; i < sizeof err_cases / sizeof err_cases[0]; i++) {
		const struct err_case *c = &err_cases[i];
		int64_t from = 0, out = 42;
		char err[CALENDAR_ERRLEN];
		int rc;

		memset(err, 'x', sizeof err);
		CHECK_INT(clock_parse_iso(c->from, &from), 0);
		rc = calendar_add(from, c->tz, (enum calendar_unit)c->unit,
		    c->count, c->anchor, &out, err);
		if (rc != -1 || strstr(err, c->msg) == NULL)
			fprintf(stderr, "  error case %zu (%s): rc %d\n", i,
			    c->tz ? c->tz : "(null)", rc);
		CHECK_INT(rc, -1);
		CHECK_INT(out, 42); /* untouched */
		CHECK(memchr(err, '\0', sizeof err) != NULL);
		CHECK_HAS(err, c->msg);
		/* a NULL err is allowed */
		CHECK_INT(calendar_add(from, c->tz, (enum calendar_unit)c->unit,
		    c->count, c->anchor, &out, NULL), -1);
	}
}

/* Instants outside what RFC 3339 can write are refused, not wrapped. */
static void test_range(void)
{
	static const int64_t bad[] = { INT64_MAX, INT64_MIN,
	    INT64_C(253402300800000), INT64_C(-62167219200001) };
	char err[CALENDAR_ERRLEN];
	int64_t out = 42;
	struct tm lt;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		CHECK_INT(calendar_add(bad[i], "UTC", CAL_DAY, 1, 0, &out, err), -1);
		CHECK_HAS(err, "outside the years 0000 to 9999");
		CHECK_INT(calendar_local_parts(bad[i], "UTC", &lt), -1);
	}
	CHECK_INT(out, 42);
	/* the very edges still work */
	CHECK_INT(calendar_add(INT64_C(-62167219200000), "America/New_York",
	    CAL_MONTH, 1, 0, &out, err), 0);
	CHECK_INT(out, INT64_C(-62167219200000) + INT64_C(31) * 86400 * 1000);
	CHECK_INT(calendar_add(INT64_C(253402214399999), "UTC", CAL_DAY, 1, 0,
	    &out, err), 0);
	CHECK_INT(out, INT64_C(253402300799999));
}

static void test_unit_parse(void)
{
	static const struct { const char *text; int unit; } cases[] = {
		{ "day", CAL_DAY }, { "week", CAL_WEEK }, { "month", CAL_MONTH },
		{ "year", CAL_YEAR },
		{ "Day", -1 }, { "days", -1 }, { "monthly", -1 }, { "", -1 },
		{ " month", -1 }, { "month ", -1 }, { "yr", -1 },
	};
	enum calendar_unit u;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		u = (enum calendar_unit)99;
		if (cases[i].unit < 0) {
			CHECK_INT(calendar_unit_parse(cases[i].text, &u), -1);
			CHECK_INT(u, 99);
		} else {
			CHECK_INT(calendar_unit_parse(cases[i].text, &u), 0);
			CHECK_INT(u, cases[i].unit);
			CHECK_STR(calendar_unit_name(u), cases[i].text);
		}
	}
	CHECK_INT(calendar_unit_parse(NULL, &u), -1);
	CHECK_STR(calendar_unit_name((enum calendar_unit)4), "?");
	CHECK_STR(calendar_unit_name((enum calendar_unit)-1), "?");
}

static void test_tz_known(void)
{
	static const char *const known[] = { "UTC", "Europe/Berlin",
	    "America/New_York", "Asia/Tokyo", "Etc/GMT+5", "GB", "EST5EDT",
	    "America/Argentina/Buenos_Aires", "America/Port-au-Prince" };
	static const char *const unknown[] = { "Mars/Olympus", "../etc/passwd",
	    "/etc/passwd", "Europe/../Europe/Berlin", "..", ".", "./UTC",
	    "Europe", "Europe/", "Europe/Berlin/", "Europe//Berlin", "/UTC",
	    "", "zone.tab", "tzdata.zi", "leap-seconds.list", "right/UTC",
	    "localtime", "europe/berlin", "CET-1CEST", "UTC ", "Europe/Berlin\n",
	    "Europe/Berlin;rm", "Europe\\Berlin" };
	char *old = getenv("TZDIR");
	char *saved = old != NULL ? strdup(old) : NULL;

	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		if (!calendar_tz_known(known[i])) {
			fprintf(stderr, "  \"%s\" should be known\n", known[i]);
			CHECK(0);
		}
	for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
		if (calendar_tz_known(unknown[i])) {
			fprintf(stderr, "  \"%s\" should be unknown\n", unknown[i]);
			CHECK(0);
		}
	CHECK(!calendar_tz_known(NULL));

	/* $TZDIR is where the zones are, as for glibc; UTC needs no file */
	setenv("TZDIR", "/nonexistent/zoneinfo", 1);
	CHECK(!calendar_tz_known("Europe/Berlin"));
	CHECK(calendar_tz_known("UTC"));
	setenv("TZDIR", "/usr/share/zoneinfo", 1);
	CHECK(calendar_tz_known("Europe/Berlin"));
	if (saved != NULL)
		setenv("TZDIR", saved, 1);
	else
		unsetenv("TZDIR");
	free(saved);
}

static void test_local_parts(void)
{
	static const struct {
		const char *at, *tz;
		int year, mon, mday, hour, min, wday, isdst;
		long gmtoff;
	} cases[] = {
		{ "2026-03-29T00:59:59Z", "Europe/Berlin", 2026, 3, 29, 1, 59, 0, 0, 3600 },
		{ "2026-03-29T01:00:00Z", "Europe/Berlin", 2026, 3, 29, 3, 0, 0, 1, 7200 },
		{ "2026-10-25T00:30:00Z", "Europe/Berlin", 2026, 10, 25, 2, 30, 0, 1, 7200 },
		{ "2026-10-25T01:30:00Z", "Europe/Berlin", 2026, 10, 25, 2, 30, 0, 0, 3600 },
		{ "2026-11-01T05:30:00Z", "America/New_York", 2026, 11, 1, 1, 30, 0, 1, -14400 },
		{ "2026-11-01T06:30:00Z", "America/New_York", 2026, 11, 1, 1, 30, 0, 0, -18000 },
		{ "2026-12-31T15:00:00Z", "Asia/Tokyo", 2027, 1, 1, 0, 0, 5, 0, 32400 },
		{ "2026-12-31T15:00:00Z", "UTC", 2026, 12, 31, 15, 0, 4, 0, 0 },
		{ "1969-12-31T23:59:59.999Z", "UTC", 1969, 12, 31, 23, 59, 3, 0, 0 },
	};
	struct tm lt;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int64_t ms = 0;

		CHECK_INT(clock_parse_iso(cases[i].at, &ms), 0);
		memset(&lt, 0, sizeof lt);
		CHECK_INT(calendar_local_parts(ms, cases[i].tz, &lt), 0);
		CHECK_INT(lt.tm_year + 1900, cases[i].year);
		CHECK_INT(lt.tm_mon + 1, cases[i].mon);
		CHECK_INT(lt.tm_mday, cases[i].mday);
		CHECK_INT(lt.tm_hour, cases[i].hour);
		CHECK_INT(lt.tm_min, cases[i].min);
		CHECK_INT(lt.tm_wday, cases[i].wday);
		CHECK_INT(lt.tm_isdst, cases[i].isdst);
		CHECK_INT(lt.tm_gmtoff, cases[i].gmtoff);
		CHECK(lt.tm_zone == NULL);
	}
	lt.tm_hour = 77;
	CHECK_INT(calendar_local_parts(0, "Mars/Olympus", &lt), -1);
	CHECK_INT(calendar_local_parts(0, NULL, &lt), -1);
	CHECK_INT(lt.tm_hour, 77); /* untouched */
}

/* What the process's own local time says at two instants (summer, winter),
 * to tell one TZ setting from another after the calls. */
static void local_offsets(long off[2])
{
	static const time_t at[2] = { 1782900000, 1798700000 };
	struct tm tm;

	for (int i = 0; i < 2; i++) {
		localtime_r(&at[i], &tm);
		off[i] = tm.tm_gmtoff;
	}
}

/* Every call leaves TZ as it found it, set or unset, and the C library's
 * zone reloaded to match, whether the call succeeded or failed. */
static void test_tz_restored(void)
{
	static const char *const before[] = { NULL, "Asia/Kolkata",
	    "America/Sao_Paulo", "XYZ-3", ":Australia/Adelaide",
	    "Europe/Berlin", "Mars/Olympus" };
	char *old = getenv("TZ");
	char *saved = old != NULL ? strdup(old) : NULL;
	int64_t from = 0, out;
	struct tm lt;

	CHECK_INT(clock_parse_iso("2026-03-28T09:00:00+01:00", &from), 0);
	for (size_t i = 0; i < sizeof before / sizeof before[0]; i++) {
		long want[2], got[2];
		const char *now;

		if (before[i] != NULL)
			setenv("TZ", before[i], 1);
		else
			unsetenv("TZ");
		tzset();
		local_offsets(want);

		CHECK_INT(calendar_add(from, "Europe/Berlin", CAL_DAY, 1, 0, &out, NULL), 0);
		CHECK_INT(calendar_add(from, "America/New_York", CAL_MONTH, 1, 0, &out, NULL), 0);
		CHECK_INT(calendar_add(from, "Mars/Olympus", CAL_DAY, 1, 0, &out, NULL), -1);
		CHECK_INT(calendar_add(from, "UTC", CAL_DAY, 0, 0, &out, NULL), -1);
		CHECK_INT(calendar_add(INT64_C(253402214399999), "Asia/Tokyo",
		    CAL_YEAR, 1, 0, &out, NULL), -1);
		CHECK_INT(calendar_local_parts(from, "Asia/Tokyo", &lt), 0);

		now = getenv("TZ");
		if (before[i] == NULL)
			CHECK(now == NULL);
		else
			CHECK_STR(now, before[i]);
		local_offsets(got);
		CHECK_INT(got[0], want[0]);
		CHECK_INT(got[1], want[1]);
	}
	if (saved != NULL)
		setenv("TZ", saved, 1);
	else
		unsetenv("TZ");
	tzset();
	free(saved);
}

/* Local midnights for report buckets: ordinary days, a midnight that does
 * not exist (America/Sao_Paulo's spring forward at 00:00 in 2018), a day
 * of 23 and one of 25 hours. */
static void test_wall_to_ms(void)
{
	static const struct { const char *wall, *tz, *want; } cases[] = {
		{ "2026-11-02T00:00:00Z", "America/New_York", "2026-11-02T05:00:00Z" },
		{ "2026-11-01T00:00:00Z", "America/New_York", "2026-11-01T04:00:00Z" },
		{ "2026-03-29T00:00:00Z", "Europe/Berlin", "2026-03-28T23:00:00Z" },
		{ "2026-03-30T00:00:00Z", "Europe/Berlin", "2026-03-29T22:00:00Z" },
		{ "2026-10-25T02:30:00Z", "Europe/Berlin", "2026-10-25T00:30:00Z" },
		{ "2018-11-04T00:00:00Z", "America/Sao_Paulo", "2018-11-04T03:00:00Z" },
		{ "2026-01-01T00:00:00Z", "UTC", "2026-01-01T00:00:00Z" },
	};
	int64_t wall, want, got;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		CHECK_INT(clock_parse_iso(cases[i].wall, &wall), 0);
		CHECK_INT(clock_parse_iso(cases[i].want, &want), 0);
		got = 0;
		CHECK_INT(calendar_wall_to_ms(wall, cases[i].tz, &got), 0);
		CHECK_INT(got, want);
	}
	CHECK_INT(calendar_wall_to_ms(wall, "Mars/Olympus", &got), -1);
	CHECK_INT(calendar_wall_to_ms(INT64_C(253402300799999), "UTC", &got), -1);
}

T_MAIN(test_wall_to_ms, test_add_table, test_month_end_chain, test_daily_walk, test_errors,
    test_range, test_unit_parse, test_tz_known, test_local_parts,
    test_tz_restored)
