/*
 * clock — the host's one notion of "now", in UTC milliseconds.
 *
 * Everything that stamps or schedules asks here, never time() directly, so
 * `ordo test` can swap in a virtual clock that a spec advances.
 */
#ifndef ORDO_CLOCK_H
#define ORDO_CLOCK_H

#include <stdint.h>

/* Milliseconds since the Unix epoch, UTC (virtual if one is set). */
int64_t clock_now_ms(void);

/* Milliseconds from a monotonic clock, for measuring durations. */
int64_t clock_mono_ms(void);
/* The same in microseconds, for durations shorter than a millisecond
 * (one handler run). */
int64_t clock_mono_us(void);

/* Switch to a virtual clock starting at `ms`; clock_advance moves it. */
void clock_set_virtual(int64_t ms);
void clock_advance(int64_t ms);
void clock_use_real(void);

/* "2026-11-22T03:23:52.123Z" into buf (at least 32 bytes). */
void clock_format_iso(int64_t ms, char *buf);

/*
 * Parse an RFC 3339 / ISO 8601 timestamp ("2026-11-22T03:23:52Z",
 * "2026-11-22T04:23:52+01:00", fractional seconds optional).
 * @return 0 and *ms on success, -1 if the text is not such a timestamp.
 */
int clock_parse_iso(const char *text, int64_t *ms);

#endif
