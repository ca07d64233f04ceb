/*
 * fuzz_common — shared harness helpers (see fuzz_common.h).
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ordo/log.h"
#include "fuzz_common.h"

#ifndef ORDO_ROOT
#define ORDO_ROOT "."
#endif

static char tmpdir[PATH_MAX];

const char *fuzz_root(void)
{
	const char *env = getenv("ORDO_ROOT");

	return env != NULL && env[0] != '\0' ? env : ORDO_ROOT;
}

void fuzz_root_path(char *buf, size_t len, const char *rel)
{
	if ((size_t)snprintf(buf, len, "%s/%s", fuzz_root(), rel) >= len) {
		fprintf(stderr, "fuzz: path too long: %s/%s\n", fuzz_root(), rel);
		abort();
	}
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void remove_tmpdir(void)
{
	if (tmpdir[0] != '\0')
		nftw(tmpdir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Folders left by targets that crashed (abort skips atexit): those whose
 * process is gone. */
static void remove_stale(const char *base)
{
	DIR *d = opendir(base);
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		char path[PATH_MAX];
		long pid;

		if (sscanf(e->d_name, "ordo-fuzz-%ld-", &pid) != 1 || pid <= 0 ||
		    kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		if ((size_t)snprintf(path, sizeof path, "%s/%s", base, e->d_name) < sizeof path)
			nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	}
	closedir(d);
}

const char *fuzz_tmpdir(void)
{
	const char *base = getenv("TMPDIR");

	if (tmpdir[0] != '\0')
		return tmpdir;
	if (base == NULL || base[0] == '\0')
		base = "/tmp";
	remove_stale(base);
	snprintf(tmpdir, sizeof tmpdir, "%s/ordo-fuzz-%ld-XXXXXX", base, (long)getpid());
	if (mkdtemp(tmpdir) == NULL) {
		fprintf(stderr, "fuzz: mkdtemp %s: %s\n", tmpdir, strerror(errno));
		abort();
	}
	atexit(remove_tmpdir);
	return tmpdir;
}

static void make_parents(const char *path)
{
	char buf[PATH_MAX];

	snprintf(buf, sizeof buf, "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) != 0 && errno != EEXIST) {
			fprintf(stderr, "fuzz: mkdir %s: %s\n", buf, strerror(errno));
			abort();
		}
		*p = '/';
	}
}

void fuzz_write_file(const char *path, const char *text)
{
	FILE *fp;

	make_parents(path);
	if ((fp = fopen(path, "w")) == NULL || fputs(text, fp) < 0 || fclose(fp) != 0) {
		fprintf(stderr, "fuzz: cannot write %s: %s\n", path, strerror(errno));
		abort();
	}
}

void fuzz_quiet_log(int level)
{
	static FILE *sink;

	if (sink == NULL && (sink = fopen("/dev/null", "w")) == NULL) {
		fprintf(stderr, "fuzz: cannot open /dev/null: %s\n", strerror(errno));
		abort();
	}
	log_set_stream(sink);
	log_set_level((enum log_level)level);
}

int fuzz_env_flag(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' && strcmp(v, "0") != 0;
}

int fuzz_known(const char *finding)
{
	const char *list = getenv("ORDO_FUZZ_KNOWN"), *p;
	size_t n = strlen(finding);

	for (p = list; p != NULL && (p = strstr(p, finding)) != NULL; p += n)
		if ((p == list || p[-1] == ' ' || p[-1] == ',') &&
		    (p[n] == '\0' || p[n] == ' ' || p[n] == ','))
			return 1;
	return 0;
}
