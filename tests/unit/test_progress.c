/*
 * progress: plain lines off a terminal (one each tenth, and the end once),
 * a bar redrawn in place on one.
 */
#include <stdlib.h>

#include "t.h"
#include "ordo/progress.h"

/* Everything written to `f` so far, as a string the caller frees. */
static char *contents(FILE *f)
{
	long n;
	char *s;

	fflush(f);
	n = ftell(f);
	rewind(f);
	s = calloc(1, (size_t)n + 1);
	if (s != NULL && fread(s, 1, (size_t)n, f) != (size_t)n)
		s[0] = '\0';
	fseek(f, 0, SEEK_END);
	return s;
}

static void test_plain_lines_each_tenth(void)
{
	FILE *f = tmpfile();
	struct progress p;
	char *s;

	progress_init(&p, f, "import", 1000);
	CHECK_INT(p.tty, 0);
	for (uint64_t done = 0; done <= 1000; done += 50)
		progress_update(&p, done, "rows");
	progress_finish(&p, "1000 rows");
	s = contents(f);
	CHECK_HAS(s, "import: 0% (rows)\nimport: 10% (rows)\nimport: 20% (rows)\n");
	CHECK_HAS(s, "import: 90% (rows)\nimport: 100% (rows)\n");
	CHECK(strstr(s, "import: 100% (1000 rows)") == NULL);   /* 100% once, not twice */
	CHECK(strchr(s, '\r') == NULL);
	free(s);
	fclose(f);
}

static void test_finish_prints_the_end_once(void)
{
	FILE *f = tmpfile();
	struct progress p;
	char *s;

	progress_init(&p, f, "migrate", 4);
	progress_update(&p, 1, NULL);
	progress_finish(&p, "to schema 12");
	s = contents(f);
	CHECK_STR(s, "migrate: 25%\nmigrate: 100% (to schema 12)\n");
	free(s);
	fclose(f);
}

static void test_unknown_total(void)
{
	FILE *f = tmpfile();
	struct progress p;
	char *s;

	progress_init(&p, f, "replay", 0);
	progress_update(&p, 7, NULL);
	progress_finish(&p, "7 orders");
	s = contents(f);
	CHECK_STR(s, "replay: done, 7 orders\n");
	free(s);
	fclose(f);
}

static void test_bar_on_a_terminal(void)
{
	FILE *f = tmpfile();
	struct progress p;
	char *s;

	progress_init(&p, f, "import", 200);
	p.tty = 1;   /* as isatty() would say */
	progress_update(&p, 100, "50 rows");
	progress_finish(&p, "100 rows");
	s = contents(f);
	CHECK_HAS(s, "\rimport [###############               ]  50%  50 rows\033[K");
	CHECK_HAS(s, "\rimport [##############################] 100%  100 rows\033[K\n");
	free(s);
	fclose(f);
}

T_MAIN(test_plain_lines_each_tenth, test_finish_prints_the_end_once, test_unknown_total,
    test_bar_on_a_terminal)
