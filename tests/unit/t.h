/*
 * t.h — the unit-test harness: a few CHECK macros and a runner.
 *
 * Each tests/unit/test_<module>.c includes this, defines static test
 * functions, and ends with T_MAIN(test_a, test_b, ...). A failed CHECK
 * prints file:line and the expression, and the test goes on; the program
 * prints "<file>: N passed, N failed" and exits non-zero on any failure.
 */
#ifndef ORDO_T_H
#define ORDO_T_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int t_checks_failed;
static int t_current_failed;

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
		t_checks_failed++; t_current_failed = 1; \
	} } while (0)

#define CHECK_INT(a, b) do { \
	long long t_a_ = (long long)(a), t_b_ = (long long)(b); \
	if (t_a_ != t_b_) { \
		fprintf(stderr, "%s:%d: CHECK_INT failed: %s == %lld, expected %lld\n", \
		    __FILE__, __LINE__, #a, t_a_, t_b_); \
		t_checks_failed++; t_current_failed = 1; \
	} } while (0)

#define CHECK_STR(a, b) do { \
	const char *t_a_ = (a), *t_b_ = (b); \
	if (t_a_ == NULL || t_b_ == NULL || strcmp(t_a_, t_b_) != 0) { \
		fprintf(stderr, "%s:%d: CHECK_STR failed: %s == \"%s\", expected \"%s\"\n", \
		    __FILE__, __LINE__, #a, t_a_ ? t_a_ : "(null)", t_b_ ? t_b_ : "(null)"); \
		t_checks_failed++; t_current_failed = 1; \
	} } while (0)

/* Substring check, for error messages. */
#define CHECK_HAS(hay, needle) do { \
	const char *t_h_ = (hay), *t_n_ = (needle); \
	if (t_h_ == NULL || strstr(t_h_, t_n_) == NULL) { \
		fprintf(stderr, "%s:%d: CHECK_HAS failed: %s == \"%s\", expected to contain \"%s\"\n", \
		    __FILE__, __LINE__, #hay, t_h_ ? t_h_ : "(null)", t_n_); \
		t_checks_failed++; t_current_failed = 1; \
	} } while (0)

typedef void (*t_fn)(void);

static inline int t_run(const char *file, const t_fn *fns, const char *names)
{
	int passed = 0, failed = 0;
	char buf[4096], *save = NULL, *name;

	snprintf(buf, sizeof buf, "%s", names);
	name = strtok_r(buf, ", ", &save);
	for (const t_fn *f = fns; *f; f++) {
		t_current_failed = 0;
		(*f)();
		if (t_current_failed) {
			fprintf(stderr, "FAIL %s\n", name ? name : "?");
			failed++;
		} else {
			passed++;
		}
		name = strtok_r(NULL, ", ", &save);
	}
	printf("%s: %d passed, %d failed\n", file, passed, failed);
	return failed ? 1 : 0;
}

#define T_MAIN(...) \
	int main(void) { \
		static const t_fn fns[] = { __VA_ARGS__, NULL }; \
		return t_run(__FILE__, fns, #__VA_ARGS__); \
	}

#endif
