/*
 * fuzz_common — what every libFuzzer target in tests/fuzz/ shares: where
 * the repository is, a scratch folder for files a target needs (workflows,
 * config layouts), a quiet log, and the check that turns a broken
 * invariant into a crash libFuzzer records.
 *
 * Harness code only: nothing here is linked into the daemon. A target must
 * never work around a host bug; it reports it by crashing (FUZZ_CHECK).
 */
#ifndef ORDO_FUZZ_COMMON_H
#define ORDO_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* An invariant of the code under test. On failure print why and abort,
 * so libFuzzer saves the input as a crash. */
#define FUZZ_CHECK(cond, ...) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: invariant broken: %s\n  ", __FILE__, __LINE__, #cond); \
		fprintf(stderr, __VA_ARGS__); \
		fputc('\n', stderr); \
		abort(); \
	} } while (0)

/* The repository root: $ORDO_ROOT, else the folder the fuzzers were built
 * from (ORDO_ROOT, set by fuzz.mk). */
const char *fuzz_root(void);

/* "<root>/<rel>" into buf; aborts if it does not fit. */
void fuzz_root_path(char *buf, size_t len, const char *rel);

/* A fresh folder under $TMPDIR (or /tmp), made on first use and removed
 * with everything in it when the process exits normally; folders of
 * earlier runs that crashed are removed when the next one makes its own. */
const char *fuzz_tmpdir(void);

/* Write `text` to `path`, making the folders on the way. Aborts on failure
 * (the harness cannot run without its files). */
void fuzz_write_file(const char *path, const char *text);

/* Send the host log to /dev/null (still formatted, so the log's escaping
 * of hostile text is exercised) at `level`. */
void fuzz_quiet_log(int level);

/* Whether env var `name` is set to something other than "" or "0". */
int fuzz_env_flag(const char *name);

/* Whether `finding` is listed (space-separated) in $ORDO_FUZZ_KNOWN: a
 * reported host bug, not yet fixed, whose check a long exploratory run may
 * skip to look past it. Never set in fuzz-smoke: there every check holds. */
int fuzz_known(const char *finding);

#endif
