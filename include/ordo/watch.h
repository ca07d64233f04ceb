/*
 * watch — script files changing on disk, as one callback on the event loop.
 *
 * Depends on inotify (Linux) and libevent. Watches directories, not files:
 * editors that save by writing a new file and renaming it over the old one
 * replace the inode a file watch would hold. Only names ending in ".lua"
 * count (an editor's swap and backup files do not), and only a finished
 * write (close after writing), a rename into or out of the folder, or a
 * deletion: a file seen half-written would be reported as broken. Changes
 * are collected and delivered together once none came for the debounce
 * time (and at the latest a second after the first), so a save that
 * touches several files, or a checkout, is one reload.
 */
#ifndef ORDO_WATCH_H
#define ORDO_WATCH_H

#include <stddef.h>

struct event_base;
struct watch;

/* The changed files: real path of the folder + "/" + name, each once.
 * Borrowed for the call. */
typedef void (*watch_fn)(void *arg, char *const *paths, size_t n);

/* @return the watcher, or NULL with errno set (no inotify, out of memory). */
struct watch *watch_new(struct event_base *base, int debounce_ms, watch_fn fn, void *arg);

/* Watch a folder, and with `recursive` every folder below it, including
 * those created later. A folder already watched is fine.
 * @return 0, or -1 with errno set. */
int watch_add(struct watch *w, const char *dir, int recursive);

/* Stop watching and free; pending changes are dropped. NULL is fine. */
void watch_free(struct watch *w);

#endif
