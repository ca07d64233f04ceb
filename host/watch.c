/*
 * watch — inotify on the event loop, debounced (see watch.h).
 *
 * Depends on libevent and clock. Owns the inotify descriptor, one read
 * event, one timer, and the list of watched folders (by watch descriptor).
 * Never calls back from inside the read: the callback runs from the timer,
 * so it may rebuild whatever it likes.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "ordo/clock.h"
#include "ordo/log.h"
#include "ordo/watch.h"

#define MAX_WAIT_MS 1000        /* deliver at the latest this long after the first change */
#define MAX_DEPTH 16            /* folders below a recursive root */
#define DIR_MASK (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE | \
                  IN_DELETE_SELF | IN_ONLYDIR)

struct wdir {
	int wd;
	int recursive;
	int root;               /* added by watch_add (not found below a root) */
	char *path;             /* real path */
};

/* A root folder that went away (deleted, or replaced by a new one at the
 * same path): tried again each second until it is back. */
struct lost {
	char *path;
	int recursive;
};

struct watch {
	int fd;
	struct event *read_ev, *timer_ev;
	int debounce_ms;
	watch_fn fn;
	void *arg;
	struct wdir *dirs;
	size_t n_dirs;
	char **pending;
	size_t n_pending;
	int64_t first_at;       /* clock_mono_ms of the first pending change */
	struct lost *lost;
	size_t n_lost;
	struct event *retry_ev;
};

static struct wdir *find_wd(struct watch *w, int wd)
{
	for (size_t i = 0; i < w->n_dirs; i++)
		if (w->dirs[i].wd == wd)
			return &w->dirs[i];
	return NULL;
}

static int add_one(struct watch *w, const char *dir, int recursive, int depth)
{
	char *real = realpath(dir, NULL);
	struct wdir *d;
	const char *base;
	DIR *dp;
	struct dirent *de;
	int wd;

	if (real == NULL)
		return -1;
	if ((wd = inotify_add_watch(w->fd, real, DIR_MASK)) < 0) {
		free(real);
		return -1;
	}
	if ((d = find_wd(w, wd)) != NULL) {
		/* Watched already (again through a symlink, or a loop of them):
		 * its subfolders were walked then, if it was recursive. */
		int walked = d->recursive;

		d->recursive |= recursive;
		free(real);
		if (walked)
			return 0;
	} else {
		if ((d = realloc(w->dirs, (w->n_dirs + 1) * sizeof *d)) == NULL) {
			free(real);
			errno = ENOMEM;
			return -1;
		}
		w->dirs = d;
		w->dirs[w->n_dirs++] = (struct wdir){ .wd = wd, .recursive = recursive,
		    .root = depth == 0, .path = real };
		d = &w->dirs[w->n_dirs - 1];
	}
	if (!recursive || depth >= MAX_DEPTH)
		return 0;
	if ((dp = opendir(d->path)) == NULL)
		return 0;
	/* The entry may move when a subfolder's is added (realloc); its path
	 * string does not. */
	base = d->path;
	while ((de = readdir(dp)) != NULL) {
		char sub[PATH_MAX];
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		if (snprintf(sub, sizeof sub, "%s/%s", base, de->d_name) >= (int)sizeof sub)
			continue;
		if (stat(sub, &st) == 0 && S_ISDIR(st.st_mode))
			add_one(w, sub, 1, depth + 1);
	}
	closedir(dp);
	return 0;
}

int watch_add(struct watch *w, const char *dir, int recursive)
{
	return add_one(w, dir, recursive, 0);
}

static int is_lua(const char *name)
{
	size_t n = strlen(name);

	return n > 4 && name[0] != '.' && strcmp(name + n - 4, ".lua") == 0;
}

static void note(struct watch *w, const char *dir, const char *name)
{
	char *path, **p;

	if (asprintf(&path, "%s/%s", dir, name) < 0)
		return;
	for (size_t i = 0; i < w->n_pending; i++)
		if (strcmp(w->pending[i], path) == 0) {
			free(path);
			return;
		}
	if ((p = realloc(w->pending, (w->n_pending + 1) * sizeof *p)) == NULL) {
		free(path);
		return;
	}
	w->pending = p;
	w->pending[w->n_pending++] = path;
	if (w->n_pending == 1)
		w->first_at = clock_mono_ms();
}

static void arm(struct watch *w)
{
	int64_t left = w->first_at + MAX_WAIT_MS - clock_mono_ms();
	int64_t ms = left < w->debounce_ms ? (left > 0 ? left : 0) : w->debounce_ms;
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	evtimer_add(w->timer_ev, &tv);  /* re-adding moves the deadline */
}

static void retry_later(struct watch *w)
{
	struct timeval tv = { 1, 0 };

	if (w->retry_ev != NULL)
		evtimer_add(w->retry_ev, &tv);
}

/* The kernel dropped a folder's watch: drop the entry; a root is tried
 * again each second, since a deploy replaces it (rm, then copy). */
static void forget(struct watch *w, struct wdir *d)
{
	struct lost *l;

	if (d->root && (l = realloc(w->lost, (w->n_lost + 1) * sizeof *l)) != NULL) {
		w->lost = l;
		w->lost[w->n_lost++] = (struct lost){ .path = d->path, .recursive = d->recursive };
		d->path = NULL;
		log_warn("file watch: a watched folder went away; watching for it to come back",
		    "path", w->lost[w->n_lost - 1].path, NULL);
		retry_later(w);
	}
	free(d->path);
	*d = w->dirs[--w->n_dirs];
}

/* A lost root is back: watch it again, and reload whatever used it (its
 * files are all new). */
static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct watch *w = arg;
	size_t i = 0;

	(void)fd;
	(void)what;
	while (i < w->n_lost) {
		if (add_one(w, w->lost[i].path, w->lost[i].recursive, 0) == 0) {
			log_info("file watch: a watched folder is back", "path", w->lost[i].path, NULL);
			note(w, w->lost[i].path, "*.lua");
			free(w->lost[i].path);
			w->lost[i] = w->lost[--w->n_lost];
		} else {
			i++;
		}
	}
	if (w->n_pending > 0)
		arm(w);
	if (w->n_lost > 0)
		retry_later(w);
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	struct watch *w = arg;
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	(void)what;
	while ((n = read(fd, buf, sizeof buf)) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			struct wdir *d = find_wd(w, ev->wd);

			p += sizeof *ev + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				/* Events were lost: say every watched folder changed. */
				log_warn("file watch: events lost; reloading every workflow", NULL);
				for (size_t i = 0; i < w->n_dirs; i++)
					note(w, w->dirs[i].path, "*.lua");
				continue;
			}
			if (d != NULL && (ev->mask & IN_IGNORED)) {
				forget(w, d);       /* the folder is gone */
				continue;
			}
			if (d == NULL || ev->len == 0)
				continue;
			if (ev->mask & IN_ISDIR) {
				char sub[PATH_MAX];

				if ((ev->mask & (IN_CREATE | IN_MOVED_TO)) && d->recursive &&
				    snprintf(sub, sizeof sub, "%s/%s", d->path, ev->name) < (int)sizeof sub)
					add_one(w, sub, 1, 1);
				continue;
			}
			if ((ev->mask & IN_CREATE) || !is_lua(ev->name))
				continue;
			note(w, d->path, ev->name);
		}
	}
	if (w->n_pending > 0)
		arm(w);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct watch *w = arg;
	char **paths = w->pending;
	size_t n = w->n_pending;

	(void)fd;
	(void)what;
	w->pending = NULL;
	w->n_pending = 0;
	if (n > 0)
		w->fn(w->arg, paths, n);
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
}

struct watch *watch_new(struct event_base *base, int debounce_ms, watch_fn fn, void *arg)
{
	struct watch *w = calloc(1, sizeof *w);

	if (w == NULL)
		return NULL;
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	w->debounce_ms = debounce_ms > 0 ? debounce_ms : 1;
	w->fn = fn;
	w->arg = arg;
	if (w->fd < 0) {
		free(w);
		return NULL;
	}
	w->read_ev = event_new(base, w->fd, EV_READ | EV_PERSIST, on_read, w);
	w->timer_ev = evtimer_new(base, on_timer, w);
	w->retry_ev = evtimer_new(base, on_retry, w);
	if (w->read_ev == NULL || w->timer_ev == NULL || w->retry_ev == NULL ||
	    event_add(w->read_ev, NULL) != 0) {
		watch_free(w);
		errno = ENOMEM;
		return NULL;
	}
	return w;
}

void watch_free(struct watch *w)
{
	if (w == NULL)
		return;
	if (w->read_ev)
		event_free(w->read_ev);
	if (w->timer_ev)
		event_free(w->timer_ev);
	if (w->retry_ev)
		event_free(w->retry_ev);
	for (size_t i = 0; i < w->n_lost; i++)
		free(w->lost[i].path);
	free(w->lost);
	if (w->fd >= 0)
		close(w->fd);
	for (size_t i = 0; i < w->n_dirs; i++)
		free(w->dirs[i].path);
	free(w->dirs);
	for (size_t i = 0; i < w->n_pending; i++)
		free(w->pending[i]);
	free(w->pending);
	free(w);
}
