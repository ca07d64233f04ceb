/*
 * clock — the host's one notion of "now", and RFC 3339 text for it.
 *
 * Real time comes from clock_gettime(CLOCK_REALTIME); `ordo test` swaps in a
 * virtual clock that only moves when a spec says so. Depends on libc only.
 * Parsing is strict because timestamps arrive from storefront payloads: it
 * must never guess (no missing offsets, no day 31 of April, no trailing
 * bytes), and it never reads the process time zone.
 *
 * The clock state is plain statics: ordo runs one loop thread, and the
 * virtual clock exists only for single-threaded `ordo test` runs.
 */
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "ordo/clock.h"

/* Years up to 9999 and the virtual clock's range need it. */
_Static_assert(sizeof(time_t) >= 8, "ordo needs a 64-bit time_t");

static bool virtual_on;
static int64_t virtual_ms;

int64_t clock_now_ms(void)
{
	struct timespec ts;

	if (virtual_on)
		return virtual_ms;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clock_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t clock_mono_ms(void)
{
	struct timespec ts;

	/* Durations stay real under a virtual clock: they measure our own work
	 * (batch slices, handler time), not the merchant's calendar. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void clock_set_virtual(int64_t ms)
{
	virtual_on = true;
	virtual_ms = ms;
}

void clock_advance(int64_t ms)
{
	/* The real clock cannot be pushed, and a virtual one only moves
	 * forward: timers assume time never runs backwards. A jump back is an
	 * explicit clock_set_virtual(). Saturate rather than wrap. */
	if (!virtual_on || ms <= 0)
		return;
	if (virtual_ms > INT64_MAX - ms)
		virtual_ms = INT64_MAX;
	else
		virtual_ms += ms;
}

void clock_use_real(void)
{
	virtual_on = false;
}

/* 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z: what RFC 3339's
 * four-digit year can say. */
#define ISO_MIN_MS INT64_C(-62167219200000)
#define ISO_MAX_MS INT64_C(253402300799999)

/* Floor division, so instants before 1970 still get ms in 0..999. */
static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q--;
	return q;
}

static char *put_digits(char *p, int v, int n)
{
	for (int i = n - 1; i >= 0; i--, v /= 10)
		p[i] = (char)('0' + v % 10);
	return p + n;
}

void clock_format_iso(int64_t ms, char *buf)
{
	int64_t secs;
	time_t t;
	struct tm tm;
	char *p = buf;

	/* Saturate: a stamp outside years 0000-9999 cannot be written in the
	 * format at all, and a clamped one still parses back. */
	if (ms < ISO_MIN_MS)
		ms = ISO_MIN_MS;
	else if (ms > ISO_MAX_MS)
		ms = ISO_MAX_MS;
	secs = floor_div(ms, 1000);
	t = (time_t)secs;
	gmtime_r(&t, &tm); /* cannot fail within years 0000-9999 */
	p = put_digits(p, tm.tm_year + 1900, 4);
	*p++ = '-';
	p = put_digits(p, tm.tm_mon + 1, 2);
	*p++ = '-';
	p = put_digits(p, tm.tm_mday, 2);
	*p++ = 'T';
	p = put_digits(p, tm.tm_hour, 2);
	*p++ = ':';
	p = put_digits(p, tm.tm_min, 2);
	*p++ = ':';
	p = put_digits(p, tm.tm_sec, 2);
	*p++ = '.';
	p = put_digits(p, (int)(ms - secs * 1000), 3);
	*p++ = 'Z';
	*p = '\0';
}

/* Exactly n ASCII digits at *p, advancing *p; -1 if any is not a digit. */
static int digits(const char **p, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		char c = (*p)[i];

		if (c < '0' || c > '9')
			return -1;
		v = v * 10 + (c - '0');
	}
	*p += n;
	return v;
}

static bool is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

int clock_parse_iso(const char *text, int64_t *ms)
{
	const char *p = text;
	int year, mon, day, hour, min, sec, frac = 0, off = 0;
	struct tm tm = { 0 };
	time_t t;

	if (p == NULL || ms == NULL)
		return -1;
	if ((year = digits(&p, 4)) < 0 || *p++ != '-' ||
	    (mon = digits(&p, 2)) < 0 || *p++ != '-' ||
	    (day = digits(&p, 2)) < 0)
		return -1;
	/* RFC 3339 5.6 allows a lower-case 't' and 'z'. */
	if (*p != 'T' && *p != 't')
		return -1;
	p++;
	if ((hour = digits(&p, 2)) < 0 || *p++ != ':' ||
	    (min = digits(&p, 2)) < 0 || *p++ != ':' ||
	    (sec = digits(&p, 2)) < 0)
		return -1;
	if (*p == '.') {
		int n = 0;

		/* Any number of digits; we keep milliseconds and drop the rest,
		 * which is a floor because the fraction is never negative. */
		for (p++; *p >= '0' && *p <= '9'; p++, n++)
			if (n < 3)
				frac = frac * 10 + (*p - '0');
		if (n == 0)
			return -1;
		for (; n < 3; n++)
			frac *= 10;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1, oh, om;

		/* "+01:00", and "+0100" as PHP's DATE_ISO8601 writes it. */
		if ((oh = digits(&p, 2)) < 0)
			return -1;
		if (*p == ':')
			p++;
		if ((om = digits(&p, 2)) < 0 || oh > 23 || om > 59)
			return -1;
		off = sign * (oh * 60 + om);
	} else {
		/* No offset: a local time of unknown zone. Guessing UTC would
		 * shift it silently by hours, so refuse. */
		return -1;
	}
	if (*p != '\0')
		return -1;
	/* Second 60 is refused too: leap seconds never appear in Unix time,
	 * and timegm would quietly turn it into the next minute. */
	if (mon < 1 || mon > 12 ||
	    day < 1 || day > days_in_month(year, mon) ||
	    hour > 23 || min > 59 || sec > 59)
		return -1;

	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec;
	t = timegm(&tm);
	/* -1 is both the error value and 1969-12-31T23:59:59Z. */
	if (t == (time_t)-1 && !(year == 1969 && mon == 12 && day == 31 &&
	    hour == 23 && min == 59 && sec == 59))
		return -1;
	*ms = ((int64_t)t - (int64_t)off * 60) * 1000 + frac;
	return 0;
}
