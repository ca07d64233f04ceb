/*
 * calendar — renewal arithmetic in a merchant's local time: "one month after
 * this instant, in Europe/Berlin".
 *
 * Instants are int64 milliseconds UTC, as in clock.h. Time-zone rules come
 * only from the system tz database (/usr/share/zoneinfo, or $TZDIR) through
 * the C library; nothing here knows a DST rule of its own.
 *
 * Not thread-safe: each call points the process TZ at the merchant's zone
 * and restores it before returning. ordo does calendar arithmetic on its one
 * loop thread only; no other thread may read or set TZ meanwhile.
 *
 * Errors: functions taking `char *err` write a one-line message of at most
 * CALENDAR_ERRLEN bytes there (err may be NULL), in words a merchant
 * understands.
 */
#ifndef ORDO_CALENDAR_H
#define ORDO_CALENDAR_H

#include <stdint.h>
#include <time.h>

#define CALENDAR_ERRLEN 128
#define CALENDAR_MAX_COUNT 1000

enum calendar_unit { CAL_DAY, CAL_WEEK, CAL_MONTH, CAL_YEAR };

/* "day", "week", "month", "year" (exactly, lower case) -> *unit.
 * @return 0, or -1 for anything else (NULL included; *unit untouched). */
int calendar_unit_parse(const char *text, enum calendar_unit *unit);

/* CAL_MONTH -> "month"; "?" for a value outside the enum. */
const char *calendar_unit_name(enum calendar_unit unit);

/*
 * Whether `tz` names a zone of the system tz database: an IANA name such as
 * "Europe/Berlin" or "UTC" that is a TZif regular file under $TZDIR
 * (default /usr/share/zoneinfo). Refuses anything that is not a plain name
 * inside that folder (leading "/", "..", empty or dot-led components), the
 * leap-second "right/" zones (their clock counts leap seconds, ours does not)
 * and "localtime" (the host's zone, not the merchant's).
 * @return 1 if known, 0 if not (NULL included).
 */
int calendar_tz_known(const char *tz);

/*
 * The instant `count` units after `from_ms`, counted on the wall clock of
 * `tz` — the next renewal of a subscription.
 *
 * - The local time of day of `from_ms` is kept: 09:00 stays 09:00 across DST
 *   changes (a day is not always 24 hours, nor a week 168).
 * - CAL_MONTH and CAL_YEAR land on `anchor_day` (1..31; 0 means the local
 *   day of `from_ms`), clamped to the length of the target month: anchor 31
 *   gives Jan 31, Feb 28 (29), Mar 31, Apr 30. Pass the subscription's
 *   original day as the anchor on every renewal; with 0 a renewal clamped to
 *   Feb 28 would stay on the 28th. CAL_DAY and CAL_WEEK take anchor 0 only.
 * - A wall time that does not exist (spring forward) moves on by the length
 *   of the gap: 02:30 on 2026-03-29 in Europe/Berlin is 03:30 CEST. The
 *   next renewal from that result keeps 03:30; compute from the original
 *   start (count = n * interval) to avoid that drift.
 * - A wall time that occurs twice (fall back) is its first occurrence:
 *   02:30 on 2026-10-25 in Europe/Berlin is 02:30 CEST, 00:30Z.
 * - Milliseconds within the second are kept.
 *
 * count is 1..CALENDAR_MAX_COUNT. `from_ms` and the result must lie in years
 * 0000..9999 UTC (what clock_format_iso can write).
 * @return 0 with *out_ms set, or -1 with a message in err and *out_ms
 * untouched (bad count, unit or anchor, unknown zone, out of range).
 */
int calendar_add(int64_t from_ms, const char *tz, enum calendar_unit unit,
    int count, int anchor_day, int64_t *out_ms, char *err);

/*
 * The broken-down local time of `ms` in `tz` (localtime_r's fields,
 * including tm_gmtoff and tm_isdst). out->tm_zone is set to NULL: the C
 * library's abbreviation string belongs to the zone that is unloaded again
 * before this returns.
 * @return 0, or -1 for an unknown zone or an instant outside years
 * 0000..9999 (*out untouched).
 */
int calendar_local_parts(int64_t ms, const char *tz, struct tm *out);

/*
 * The instant at which the wall clock of `tz` reads `wall_ms`, counted as
 * milliseconds since 1970-01-01T00:00 of that wall clock (timegm() of the
 * local fields, times 1000) — the start of a local day for reports. The
 * rules are calendar_add's: a wall time in a spring-forward gap moves on by
 * the gap's length (a midnight that does not exist gives the instant the
 * day begins), one that occurs twice is its first occurrence.
 * @return 0 with *out_ms set, or -1 for an unknown zone or an instant
 * outside years 0000..9999 (*out_ms untouched).
 */
int calendar_wall_to_ms(int64_t wall_ms, const char *tz, int64_t *out_ms);

#endif
