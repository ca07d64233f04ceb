/*
 * faultio — an LD_PRELOAD shim for the disk-fault tests: while the file
 * named by FAULTIO_FLAG exists, every write, sync or truncate of a file
 * under FAULTIO_DIR fails with FAULTIO_ERRNO (EIO or EROFS), the way a
 * failing disk or a file system remounted read-only answers. Reads are
 * untouched. SQLite sees the real syscall failure; nothing in ordo knows.
 *
 * Built by tests/e2e/test_faults.py: cc -shared -fPIC -o faultio.so faultio.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static int failing(int fd)
{
	const char *flag = getenv("FAULTIO_FLAG"), *dir = getenv("FAULTIO_DIR");
	char link[64], path[PATH_MAX];
	ssize_t n;
	int saved = errno;

	if (flag == NULL || dir == NULL || access(flag, F_OK) != 0) {
		errno = saved;
		return 0;
	}
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof path - 1);
	errno = saved;
	if (n <= 0)
		return 0;
	path[n] = '\0';
	return strncmp(path, dir, strlen(dir)) == 0;
}

static int fault_errno(void)
{
	const char *e = getenv("FAULTIO_ERRNO");

	return e != NULL && strcmp(e, "EROFS") == 0 ? EROFS : EIO;
}

#define REAL(name) static __typeof__(name) *real_##name; \
	if (real_##name == NULL) real_##name = (__typeof__(name) *)dlsym(RTLD_NEXT, #name)

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	REAL(pwrite);
	if (failing(fd)) {
		errno = fault_errno();
		return -1;
	}
	return real_pwrite(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
	REAL(pwrite64);
	if (failing(fd)) {
		errno = fault_errno();
		return -1;
	}
	return real_pwrite64(fd, buf, n, off);
}

ssize_t write(int fd, const void *buf, size_t n)
{
	REAL(write);
	if (fd > 2 && failing(fd)) {
		errno = fault_errno();
		return -1;
	}
	return real_write(fd, buf, n);
}

int fsync(int fd)
{
	REAL(fsync);
	if (failing(fd)) {
		errno = fault_errno();
		return -1;
	}
	return real_fsync(fd);
}

int fdatasync(int fd)
{
	REAL(fdatasync);
	if (failing(fd)) {
		errno = fault_errno();
		return -1;
	}
	return real_fdatasync(fd);
}

int ftruncate(int fd, off_t len)
{
	REAL(ftruncate);
	if (failing(fd)) {
		errno = fault_errno();
		return -1;
	}
	return real_ftruncate(fd, len);
}
