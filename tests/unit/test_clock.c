/*
 * test_clock — RFC 3339 formatting and strict parsing, and the virtual
 * clock that `ordo test` advances.
 */
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "t.h"
#include "ordo/clock.h"

/* 2026-11-22T03:23:52.000Z */
#define T0 INT64_C(1795317832000)

struct parse_case {
	const char *text;
	int ok;
	int64_t ms;
};

static const struct parse_case parse_cases[] = {
	{ "2026-11-22T03:23:52Z", 1, T0 },
	{ "2026-11-22T03:23:52.123Z", 1, T0 + 123 },
	{ "2026-11-22T03:23:52.1Z", 1, T0 + 100 },
	{ "2026-11-22T03:23:52.12Z", 1, T0 + 120 },
	{ "2026-11-22T03:23:52.000Z", 1, T0 },
	{ "2026-11-22T03:23:52.123999999Z", 1, T0 + 123 }, /* truncated to ms */
	{ "2026-11-22T04:23:52+01:00", 1, T0 },
	{ "2026-11-22T04:23:52.5+01:00", 1, T0 + 500 },
	{ "2026-11-21T22:23:52-05:00", 1, T0 },
	{ "2026-11-22T09:53:52+06:30", 1, T0 },
	{ "2026-11-22T03:23:52+00:00", 1, T0 },
	{ "2026-11-22T03:23:52-00:00", 1, T0 },
	{ "2026-11-22T04:23:52+0100", 1, T0 },
	{ "2026-11-22t03:23:52z", 1, T0 },
	{ "1970-01-01T00:00:00Z", 1, 0 },
	{ "1969-12-31T23:59:59Z", 1, -1000 },     /* timegm's -1 */
	{ "1969-12-31T23:59:59.999Z", 1, -1 },
	{ "1970-01-01T00:59:59+01:00", 1, -1000 },
	{ "1900-01-01T00:00:00Z", 1, INT64_C(-2208988800000) },
	{ "2024-02-29T00:00:00Z", 1, INT64_C(1709164800000) },
	{ "2000-02-29T12:00:00Z", 1, INT64_C(951825600000) },
	{ "2026-12-31T23:59:59.999Z", 1, INT64_C(1798761599999) },
	{ "0000-01-01T00:00:00Z", 1, INT64_C(-62167219200000) },
	{ "9999-12-31T23:59:59.999Z", 1, INT64_C(253402300799999) },
	/* out-of-range fields */
	{ "2026-13-01T00:00:00Z", 0, 0 },
	{ "2026-00-10T00:00:00Z", 0, 0 },
	{ "2026-01-00T00:00:00Z", 0, 0 },
	{ "2026-01-32T00:00:00Z", 0, 0 },
	{ "2026-02-30T00:00:00Z", 0, 0 },
	{ "2026-02-29T00:00:00Z", 0, 0 },
	{ "1900-02-29T00:00:00Z", 0, 0 },
	{ "2026-04-31T00:00:00Z", 0, 0 },
	{ "2026-11-22T24:00:00Z", 0, 0 },
	{ "2026-11-22T23:60:00Z", 0, 0 },
	{ "2026-11-22T23:59:60Z", 0, 0 },
	{ "2026-11-22T03:23:52+24:00", 0, 0 },
	{ "2026-11-22T03:23:52+01:60", 0, 0 },
	/* not the format */
	{ "", 0, 0 },
	{ "2026-11-22", 0, 0 },
	{ "2026-11-22T03:23:52", 0, 0 },          /* no offset: zone unknown */
	{ "2026-11-22T03:23:52.123", 0, 0 },
	{ "2026-11-22 03:23:52Z", 0, 0 },
	{ "2026-11-22T03:23Z", 0, 0 },
	{ "2026-11-22T03:23:52.Z", 0, 0 },
	{ "2026-11-22T03:23:52,5Z", 0, 0 },
	{ "2026-11-22T03:23:52+1:00", 0, 0 },
	{ "2026-11-22T03:23:52+01:0", 0, 0 },
	{ "2026-11-22T03:23:52+01", 0, 0 },
	{ "2026-11-22T03:23:52 Z", 0, 0 },
	{ "26-11-22T03:23:52Z", 0, 0 },
	{ "2026-1-22T03:23:52Z", 0, 0 },
	{ "2026/11/22T03:23:52Z", 0, 0 },
	{ "+2026-11-22T03:23:52Z", 0, 0 },
	{ " 2026-11-22T03:23:52Z", 0, 0 },
	{ "20261122T032352Z", 0, 0 },
	{ "2026-11-22T03:23:5xZ", 0, 0 },
	/* trailing junk */
	{ "2026-11-22T03:23:52Zjunk", 0, 0 },
	{ "2026-11-22T03:23:52ZZ", 0, 0 },
	{ "2026-11-22T03:23:52Z ", 0, 0 },
	{ "2026-11-22T03:23:52Z\n", 0, 0 },
	{ "2026-11-22T03:23:52+01:00x", 0, 0 },
	{ "2026-11-22T03:23:52+01:00:00", 0, 0 },
};

static void test_parse_table(void)
{
	for (size_t i = 0; i < sizeof parse_cases / sizeof parse_cases[0]; i++) {
		const struct parse_case *c = &parse_cases[i];
		int64_t ms = 42;
		int rc = clock_parse_iso(c->text, &ms);

		if (rc != (c->ok ? 0 : -1) || (c->ok && ms != c->ms))
			fprintf(stderr, "  case \"%s\": rc %d, ms %" PRId64 "\n",
			    c->text, rc, ms);
		if (c->ok) {
			CHECK_INT(rc, 0);
			CHECK_INT(ms, c->ms);
		} else {
			CHECK_INT(rc, -1);
			CHECK_INT(ms, 42); /* untouched on error */
		}
	}
	CHECK_INT(clock_parse_iso(NULL, &(int64_t){ 0 }), -1);
}

static void test_format(void)
{
	static const struct { int64_t ms; const char *text; } cases[] = {
		{ 0, "1970-01-01T00:00:00.000Z" },
		{ T0 + 123, "2026-11-22T03:23:52.123Z" },
		{ T0 + 7, "2026-11-22T03:23:52.007Z" },
		{ -1, "1969-12-31T23:59:59.999Z" },
		{ -1000, "1969-12-31T23:59:59.000Z" },
		{ -1001, "1969-12-31T23:59:58.999Z" },
		{ INT64_C(951825600000), "2000-02-29T12:00:00.000Z" },
		{ INT64_C(-62167219200000), "0000-01-01T00:00:00.000Z" },
		{ INT64_C(253402300799999), "9999-12-31T23:59:59.999Z" },
		/* beyond four-digit years: saturated, still parseable */
		{ INT64_MAX, "9999-12-31T23:59:59.999Z" },
		{ INT64_MIN, "0000-01-01T00:00:00.000Z" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char buf[32];

		memset(buf, 'x', sizeof buf);
		clock_format_iso(cases[i].ms, buf);
		CHECK_STR(buf, cases[i].text);
	}
}

static void test_round_trip(void)
{
	static const int64_t values[] = { 0, 1, 999, 1000, -1, -999, -1000,
	    T0, T0 + 1, T0 + 999, INT64_C(951825600000), INT64_C(4102444799999),
	    INT64_C(-2208988800001), INT64_C(-62167219200000),
	    INT64_C(253402300799999) };

	for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
		char buf[32];
		int64_t back = 0;

		clock_format_iso(values[i], buf);
		CHECK_INT(clock_parse_iso(buf, &back), 0);
		CHECK_INT(back, values[i]);
	}
	/* every millisecond of a second, across the epoch */
	for (int64_t ms = -1500; ms <= 1500; ms++) {
		char buf[32];
		int64_t back = 0;

		clock_format_iso(ms, buf);
		if (clock_parse_iso(buf, &back) != 0 || back != ms) {
			CHECK_INT(back, ms);
			break;
		}
	}
}

/* The process time zone must not leak into UTC stamps. */
static void test_ignores_tz(void)
{
	char buf[32];
	int64_t ms = 0;
	char *old = getenv("TZ");
	char *saved = old != NULL ? strdup(old) : NULL;

	setenv("TZ", "America/New_York", 1);
	tzset();
	CHECK_INT(clock_parse_iso("2026-11-22T03:23:52Z", &ms), 0);
	CHECK_INT(ms, T0);
	clock_format_iso(T0, buf);
	CHECK_STR(buf, "2026-11-22T03:23:52.000Z");
	if (saved != NULL)
		setenv("TZ", saved, 1);
	else
		unsetenv("TZ");
	tzset();
	free(saved);
}

static void test_virtual(void)
{
	int64_t real = (int64_t)time(NULL) * 1000, now, m0, m1;

	clock_set_virtual(T0);
	CHECK_INT(clock_now_ms(), T0);
	CHECK_INT(clock_now_ms(), T0); /* it does not move by itself */
	clock_advance(1500);
	CHECK_INT(clock_now_ms(), T0 + 1500);
	clock_advance(INT64_C(30) * 24 * 3600 * 1000);
	CHECK_INT(clock_now_ms(), T0 + 1500 + INT64_C(2592000000));
	clock_advance(0);
	clock_advance(-5000); /* never backwards */
	CHECK_INT(clock_now_ms(), T0 + 1500 + INT64_C(2592000000));
	clock_set_virtual(0); /* but an explicit set may go anywhere */
	CHECK_INT(clock_now_ms(), 0);
	clock_set_virtual(INT64_MAX - 10);
	clock_advance(100);
	CHECK_INT(clock_now_ms(), INT64_MAX);

	/* durations stay real under a virtual clock */
	m0 = clock_mono_ms();
	m1 = clock_mono_ms();
	CHECK(m0 > 0);
	CHECK(m1 >= m0 && m1 - m0 < 1000);

	clock_use_real();
	now = clock_now_ms();
	CHECK(now >= real - 1000 && now <= real + 5000);
	clock_advance(INT64_C(1000000000)); /* the real clock cannot be pushed */
	CHECK(clock_now_ms() < real + 5000);
}

T_MAIN(test_parse_table, test_format, test_round_trip, test_ignores_tz,
    test_virtual)
