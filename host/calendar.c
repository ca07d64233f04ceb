/*
 * calendar — renewal arithmetic on a merchant's wall clock.
 *
 * Depends on libc and the system tz database only: the zone's rules are
 * whatever /usr/share/zoneinfo (or $TZDIR) says, read by glibc after pointing
 * TZ at the zone. This file never encodes a DST rule, never leaves TZ
 * changed when it returns, and never lets a name climb out of the zoneinfo
 * folder.
 *
 * The date arithmetic itself (add months, clamp to the month's length) is
 * done on plain proleptic-Gregorian day numbers, so only the two conversions
 * between an instant and a wall time touch the zone.
 *
 * Single-threaded by contract (see calendar.h): setenv/tzset change process
 * state that localtime_r in another thread would read.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ordo/calendar.h"

_Static_assert(sizeof(time_t) >= 8, "ordo needs a 64-bit time_t");

#define TZ_DEFAULT_DIR "/usr/share/zoneinfo"

/* 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z, as in clock.c. */
#define RANGE_MIN_MS INT64_C(-62167219200000)
#define RANGE_MAX_MS INT64_C(253402300799999)

#define DAY_SECS INT64_C(86400)

static const char *const unit_names[] = { "day", "week", "month", "year" };

/* ------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------ */

__attribute__((format(printf, 2, 3)))
static int fail(char *err, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL) {
		va_start(ap, fmt);
		vsnprintf(err, CALENDAR_ERRLEN, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* A zone name as it may appear in a message: at most 40 bytes, control and
 * non-ASCII bytes as '?', so a hostile name cannot forge log lines. */
static const char *show(const char *s, char *buf, size_t len)
{
	size_t i = 0;

	for (; s[i] != '\0' && i < 40 && i + 4 < len; i++)
		buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (s[i] != '\0' && i + 4 <= len) {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
	return buf;
}

/* Floor division and the matching remainder, so instants before 1970 keep
 * their milliseconds in 0..999. */
static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q--;
	return q;
}

static int is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (m 1..12). Howard
 * Hinnant's days_from_civil: exact for any year, no tables, no time zone. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = floor_div(y, 400);
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* ------------------------------------------------------------------------
 * The tz database
 * ------------------------------------------------------------------------ */

/* A plain relative name: components of [A-Za-z0-9_+-.], none empty or led
 * by a dot, so that joined to the zoneinfo folder it stays inside it. */
static int tz_name_ok(const char *name)
{
	size_t n = strlen(name);
	const char *p = name;

	if (n == 0 || n > 255 || strstr(name, "..") != NULL)
		return 0;
	/* right/ zones count leap seconds in time_t, which Unix milliseconds
	 * do not; "localtime" is the host's zone, whatever that is today. */
	if (strncmp(name, "right/", 6) == 0 || strcmp(name, "localtime") == 0)
		return 0;
	for (;;) {
		if (*p == '\0' || *p == '/' || *p == '.')
			return 0;
		for (; *p != '\0' && *p != '/'; p++)
			if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			    (*p >= '0' && *p <= '9') || strchr("_+-.", *p) != NULL))
				return 0;
		if (*p == '\0')
			return 1;
		p++;
	}
}

int calendar_tz_known(const char *tz)
{
	const char *dir = getenv("TZDIR");
	char path[PATH_MAX], magic[4];
	struct stat st;
	int fd, ok;

	if (tz == NULL)
		return 0;
	/* glibc knows UTC without tzdata; so should we. */
	if (strcmp(tz, "UTC") == 0)
		return 1;
	if (!tz_name_ok(tz))
		return 0;
	if (dir == NULL || dir[0] == '\0')
		dir = TZ_DEFAULT_DIR;
	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, tz) >= sizeof path)
		return 0;
	/* A regular file (links followed: "UTC" is one) that starts with the
	 * TZif magic, so that zone.tab, tzdata.zi and friends do not pass:
	 * glibc would silently fall back to UTC for them. */
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	ok = read(fd, magic, sizeof magic) == (ssize_t)sizeof magic &&
	    memcmp(magic, "TZif", 4) == 0;
	close(fd);
	return ok;
}

/* The process TZ from before tz_enter, for tz_leave to put back. */
struct tz_prev {
	char *value;   /* malloc'd copy; NULL when TZ was unset */
	int switched;  /* 0: TZ already named the zone, nothing to restore */
};

/*
 * Point the C library at zone `tz` (already checked by calendar_tz_known).
 * tzset() is required, not a formality: glibc's localtime_r does not look
 * at TZ again by itself (only localtime() and mktime() do), so without it
 * conversions would quietly use the previous zone.
 * @return 0, or -1 when out of memory (TZ unchanged).
 */
static int tz_enter(const char *tz, struct tz_prev *prev)
{
	const char *cur = getenv("TZ");

	prev->value = NULL;
	prev->switched = 0;
	if (cur != NULL && strcmp(cur, tz) == 0) {
		tzset();
		return 0;
	}
	/* Copy: setenv may invalidate what getenv returned. */
	if (cur != NULL && (prev->value = strdup(cur)) == NULL)
		return -1;
	if (setenv("TZ", tz, 1) != 0) {
		free(prev->value);
		prev->value = NULL;
		return -1;
	}
	prev->switched = 1;
	tzset();
	return 0;
}

static void tz_leave(struct tz_prev *prev)
{
	if (!prev->switched)
		return;
	/* Restoring an unset TZ cannot fail; putting back a value can only
	 * fail for memory, and then nothing better is left to do. */
	if (prev->value != NULL)
		(void)setenv("TZ", prev->value, 1);
	else
		(void)unsetenv("TZ");
	tzset();
	free(prev->value);
	prev->value = NULL;
	prev->switched = 0;
}

/* The UTC offset (seconds east) in force at instant t in the current zone. */
static int offset_at(int64_t t, long *off)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (localtime_r(&tt, &tm) == NULL)
		return -1;
	*off = tm.tm_gmtoff;
	return 0;
}

/*
 * The instant (seconds UTC) at which the current zone's wall clock reads
 * `wall` (seconds since 1970-01-01T00:00 of that wall clock).
 *
 * mktime() is not used on purpose. With tm_isdst = -1, glibc resolves an
 * ambiguous time from a hint left by its previous call: 02:30 on 2026-10-25
 * in Europe/Berlin comes out as 00:30Z after converting a summer date and
 * as 01:30Z after a winter one. With tm_isdst = 0 or 1 it can only tell
 * offsets apart by the DST flag, which says nothing about zones that change
 * their standard offset (Pacific/Apia skipping 2011-12-30).
 *
 * Instead: the offsets in force 48 hours either side of `wall` are the only
 * candidates, because an offset is within +-26 h and no zone changes its
 * offset twice within 96 hours (checked against tzdata 2025b, 1970-2100).
 * A candidate t = wall - offset is an occurrence if the zone's offset at t
 * is that offset. Two occurrences: fall back, take the earlier. None: the
 * wall time is in a spring-forward gap; reading it with the offset from
 * before the gap moves it on by exactly the gap's length (02:30 CET is
 * 03:30 CEST).
 */
static int wall_to_utc(int64_t wall, int64_t *out)
{
	const int64_t probe = 2 * DAY_SECS;
	long offs[2], got;
	int found = 0;
	int64_t best = 0;

	if (offset_at(wall - probe, &offs[0]) != 0 ||
	    offset_at(wall + probe, &offs[1]) != 0)
		return -1;
	for (int i = 0; i < 2; i++) {
		int64_t t = wall - offs[i];

		if (offset_at(t, &got) != 0)
			return -1;
		if (got == offs[i] && (!found || t < best)) {
			best = t;
			found = 1;
		}
	}
	*out = found ? best : wall - offs[0];
	return 0;
}

/* ------------------------------------------------------------------------
 * Public API
 * ------------------------------------------------------------------------ */

int calendar_unit_parse(const char *text, enum calendar_unit *unit)
{
	if (text == NULL)
		return -1;
	for (size_t i = 0; i < sizeof unit_names / sizeof unit_names[0]; i++)
		if (strcmp(text, unit_names[i]) == 0) {
			*unit = (enum calendar_unit)i;
			return 0;
		}
	return -1;
}

const char *calendar_unit_name(enum calendar_unit unit)
{
	if ((unsigned)unit >= sizeof unit_names / sizeof unit_names[0])
		return "?";
	return unit_names[unit];
}

/* The local day number `count` units after the local date in lt, with
 * monthly and yearly steps landing on `anchor` (0: lt's day) clamped to
 * the target month. */
static int64_t step_day(const struct tm *lt, enum calendar_unit unit,
    int count, int anchor)
{
	int64_t y = (int64_t)lt->tm_year + 1900;
	int m = lt->tm_mon, d = anchor != 0 ? anchor : lt->tm_mday;

	switch (unit) {
	case CAL_DAY:
		return days_from_civil(y, m + 1, lt->tm_mday) + count;
	case CAL_WEEK:
		return days_from_civil(y, m + 1, lt->tm_mday) + 7 * (int64_t)count;
	case CAL_MONTH:
		y += (m + count) / 12;
		m = (m + count) % 12;
		break;
	case CAL_YEAR:
		y += count;
		break;
	}
	if (d > days_in_month(y, m + 1))
		d = days_in_month(y, m + 1);
	return days_from_civil(y, m + 1, d);
}

int calendar_add(int64_t from_ms, const char *tz, enum calendar_unit unit,
    int count, int anchor_day, int64_t *out_ms, char *err)
{
	struct tz_prev prev;
	struct tm lt;
	char shown[48];
	int64_t secs, sub, wall, t = 0, ms;
	time_t tt;
	int rc = -1;

	if ((unsigned)unit > CAL_YEAR)
		return fail(err, "unknown calendar unit %d: expected day, week, "
		    "month or year", (int)unit);
	if (count < 1 || count > CALENDAR_MAX_COUNT)
		return fail(err, "renewal interval must be 1 to %d %ss, got %d",
		    CALENDAR_MAX_COUNT, unit_names[unit], count);
	if (anchor_day < 0 || anchor_day > 31)
		return fail(err, "anchor day must be 1 to 31 (or 0 for the start's "
		    "day), got %d", anchor_day);
	if (anchor_day != 0 && (unit == CAL_DAY || unit == CAL_WEEK))
		return fail(err, "an anchor day applies to month and year "
		    "intervals, not to %ss", unit_names[unit]);
	if (!calendar_tz_known(tz))
		return fail(err, "unknown time zone \"%s\": expected an IANA name "
		    "like \"Europe/Berlin\"", tz != NULL ? show(tz, shown,
		    sizeof shown) : "(null)");
	if (from_ms < RANGE_MIN_MS || from_ms > RANGE_MAX_MS)
		return fail(err, "start time is outside the years 0000 to 9999");

	secs = floor_div(from_ms, 1000);
	sub = from_ms - secs * 1000;
	tt = (time_t)secs;
	if (tz_enter(tz, &prev) != 0)
		return fail(err, "out of memory");
	if (localtime_r(&tt, &lt) == NULL) {
		fail(err, "cannot read the local time in \"%s\"", tz);
		goto out;
	}
	wall = step_day(&lt, unit, count, anchor_day) * DAY_SECS +
	    lt.tm_hour * 3600 + lt.tm_min * 60 + lt.tm_sec;
	if (wall_to_utc(wall, &t) != 0) {
		fail(err, "cannot convert the local time in \"%s\"", tz);
		goto out;
	}
	rc = 0;
out:
	tz_leave(&prev);
	if (rc != 0)
		return rc;
	/* t is within a few thousand years of 9999: no overflow here. */
	ms = t * 1000 + sub;
	if (ms < RANGE_MIN_MS || ms > RANGE_MAX_MS)
		return fail(err, "the renewal would fall after the year 9999");
	*out_ms = ms;
	return 0;
}

int calendar_local_parts(int64_t ms, const char *tz, struct tm *out)
{
	struct tz_prev prev;
	struct tm lt;
	time_t tt;
	int rc = -1;

	if (!calendar_tz_known(tz) || ms < RANGE_MIN_MS || ms > RANGE_MAX_MS)
		return -1;
	tt = (time_t)floor_div(ms, 1000);
	if (tz_enter(tz, &prev) != 0)
		return -1;
	if (localtime_r(&tt, &lt) != NULL) {
		lt.tm_zone = NULL;
		*out = lt;
		rc = 0;
	}
	tz_leave(&prev);
	return rc;
}

int calendar_wall_to_ms(int64_t wall_ms, const char *tz, int64_t *out_ms)
{
	struct tz_prev prev;
	int64_t secs, sub, t, ms;
	int rc;

	/* Two days of margin: wall_to_utc probes 48 hours either side. */
	if (!calendar_tz_known(tz) || wall_ms < RANGE_MIN_MS + 2 * DAY_SECS * 1000 ||
	    wall_ms > RANGE_MAX_MS - 2 * DAY_SECS * 1000)
		return -1;
	secs = floor_div(wall_ms, 1000);
	sub = wall_ms - secs * 1000;
	if (tz_enter(tz, &prev) != 0)
		return -1;
	rc = wall_to_utc(secs, &t);
	tz_leave(&prev);
	if (rc != 0)
		return -1;
	ms = t * 1000 + sub;
	if (ms < RANGE_MIN_MS || ms > RANGE_MAX_MS)
		return -1;
	*out_ms = ms;
	return 0;
}
