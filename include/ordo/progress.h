/*
 * progress — a progress report for long operations (import, migrations,
 * replay): a bar redrawn in place on a terminal, plain lines otherwise
 * (one each tenth of the way), so a log file reads well.
 *
 * No allocation; the caller owns the struct. Writes only to `out`.
 */
#ifndef ORDO_PROGRESS_H
#define ORDO_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

struct progress {
	FILE *out;
	const char *label;   /* "import", "migrate": borrowed */
	uint64_t total;      /* 0: unknown (a count is shown, no bar) */
	int tty;             /* out is a terminal */
	int last;            /* the last tenth printed (plain), or -1 */
	uint64_t done;       /* the latest count */
};

/* Start a report on `out` (a terminal gets the bar). */
void progress_init(struct progress *p, FILE *out, const char *label, uint64_t total);

/* `done` of `total` so far; `detail` ("1200 rows") is shown beside it
 * (NULL: none). */
void progress_update(struct progress *p, uint64_t done, const char *detail);

/* The end: the bar at 100% and a newline (tty), or a last plain line. */
void progress_finish(struct progress *p, const char *detail);

#endif
