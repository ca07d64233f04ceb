/*
 * lint — the warnings `ordo check` (and a reload) gives on a workflow that
 * loads: handlers for events nothing raises, and globals that are read but
 * never defined.
 *
 * Depends on Lua (lua_dump of each file, compiled again in a scratch state
 * of its own: nothing runs) and sandbox (the loaded files, the handlers and
 * the global table after the load). The instructions are read from the
 * dump of Lua 5.4's binary chunk format; another Lua version's dump is
 * refused, never guessed at.
 *
 * Limits, by design:
 *  - A global is "defined" when the global table holds it after the load
 *    (libraries, host modules, what the top level set) or when any loaded
 *    file assigns it anywhere (even in a branch that never runs). Reads
 *    through _ENV or _G tables (`_G[name]`, rawget) are not seen, nor
 *    names longer than 40 bytes or in functions with more than 255
 *    constants (Lua compiles those to another instruction).
 *  - An event "exists" when the host raises it (lint_host_events), or when
 *    its name appears as a string value in a loaded file: an adapter's
 *    mapping table, a timer's name given to timers.after. A name built at
 *    run time ("carrier_" .. status) is only known through the host list.
 */
#ifndef ORDO_LINT_H
#define ORDO_LINT_H

#include <stddef.h>

struct sandbox;

/* One warning: file is the display path ("workflows/w.lua"), line 0 when
 * unknown; msg names the handler or global. Both are borrowed for the call. */
typedef void (*lint_warn_fn)(void *arg, const char *file, int line, const char *msg);

/*
 * Check the workflow a sandbox loaded. root is the folder display paths
 * are relative to (the parent of scripts/); may be NULL.
 * @return the number of warnings passed to warn, or -1 with *err a
 * malloc'd message (a file that no longer compiles, out of memory) the
 * caller frees.
 */
int lint_sandbox(struct sandbox *sb, const char *root, lint_warn_fn warn, void *arg,
    char **err);

/* The folder display paths are relative to: the real path of the parent
 * of scripts_dir, malloc'd (the caller frees), or NULL. */
char *lint_root(const char *scripts_dir);

/* The events the host itself raises (effect answers, fulfillment, returns,
 * the API's requests, ...), NULL-terminated. */
extern const char *const lint_host_events[];

#endif
