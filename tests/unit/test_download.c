/*
 * test_download — the Range header of a download: one range served, the
 * rest ignored (the whole file), and what is past the end refused.
 */
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>

#include "t.h"
#include "ordo/download.h"

struct range_case {
	const char *h;
	int64_t size;
	int rc;
	int64_t first, last;
};

static const struct range_case cases[] = {
	{ NULL, 100, 0, 0, 0 },
	{ "bytes=0-", 100, 1, 0, 99 },
	{ "bytes=0-0", 100, 1, 0, 0 },
	{ "bytes=10-19", 100, 1, 10, 19 },
	{ "bytes=90-200", 100, 1, 90, 99 },        /* the end is clamped */
	{ "bytes=99-", 100, 1, 99, 99 },
	{ "bytes=-10", 100, 1, 90, 99 },           /* the last 10 bytes */
	{ "bytes=-500", 100, 1, 0, 99 },           /* more than the file: all of it */
	{ "bytes=100-", 100, -1, 0, 0 },           /* past the end: 416 */
	{ "bytes=100-200", 100, -1, 0, 0 },
	{ "bytes=-0", 100, -1, 0, 0 },
	{ "bytes=0-", 0, -1, 0, 0 },               /* an empty file has no byte 0 */
	{ "bytes=20-10", 100, 0, 0, 0 },           /* invalid: ignored */
	{ "bytes=0-1,5-6", 100, 0, 0, 0 },         /* several: the whole file */
	{ "items=0-1", 100, 0, 0, 0 },
	{ "bytes= 0-1", 100, 0, 0, 0 },
	{ "bytes=0-1x", 100, 0, 0, 0 },
	{ "bytes=-", 100, 0, 0, 0 },
	{ "bytes=--5", 100, 0, 0, 0 },
	{ "bytes=+5-", 100, 0, 0, 0 },
	{ "bytes=99999999999999999999-", 100, 0, 0, 0 },  /* overflow: ignored */
	{ "bytes=5-99999999999999999999", 100, 0, 0, 0 },
	{ "bytes=", 100, 0, 0, 0 },
	{ "", 100, 0, 0, 0 },
};

static void test_ranges(void)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int64_t first = -7, last = -7;
		int rc = download_range(cases[i].h, cases[i].size, &first, &last);

		CHECK_INT(rc, cases[i].rc);
		if (rc == 1) {
			CHECK_INT(first, cases[i].first);
			CHECK_INT(last, cases[i].last);
		}
		if (rc != cases[i].rc || (rc == 1 && (first != cases[i].first ||
		    last != cases[i].last)))
			fprintf(stderr, "  case %zu: \"%s\"\n", i, cases[i].h ? cases[i].h : "(none)");
	}
}

T_MAIN(test_ranges)
