/*
 * reload — swap a merchant's workflow for a new version only when the new
 * one loads, and remember what the latest attempt said.
 *
 * Depends on sandbox, lint, log, metrics and jansson. A new sandbox is
 * built beside the running one and passes the same checks as `ordo check`
 * (compiles, loads with its adapters, the check itself can read it;
 * warnings are logged, not fatal) before it replaces the old one. The swap
 * is one pointer store on the event loop, between dispatcher batches: an
 * event is handled wholly by the old state or wholly by the new one.
 */
#ifndef ORDO_RELOAD_H
#define ORDO_RELOAD_H

#include <stdint.h>
#include <jansson.h>

#include "ordo/config.h"

struct sandbox;
struct sandbox_env;

/* Where a failed load went wrong. */
struct reload_error {
	char *file;             /* display path ("workflows/w.lua") */
	int line;               /* 0 when the message names none */
	char *message;          /* the whole message, as the log has it */
	char *snippet;          /* the offending line, trimmed; NULL when unknown */
	int64_t at;             /* ms UTC */
};

/* One merchant's workflow state. Zeroed before the first load. */
struct reload_status {
	char version[13];       /* the running one; "" before any load */
	int64_t loaded_at;      /* ms UTC it was swapped in */
	char *file;             /* the workflow's display path */
	struct reload_error *error;  /* the latest attempt's failure, or NULL */
};

/*
 * Build the merchant's sandbox from env and, when it passes, swap it into
 * *slot (freeing the old one). On a failure *slot is untouched and the
 * error is logged, kept in st and flagged on /metrics. When the new build
 * has the same version as the running one and nothing failed since, it is
 * dropped quietly (a touch, an editor's save without change).
 * @return 1 swapped, 0 unchanged, -1 failed.
 */
int reload_merchant(const struct sandbox_env *env, struct sandbox **slot,
    struct reload_status *st);

/* {"version", "loaded_at" (ISO 8601 or null), "file", "error": null |
 * {"file", "line", "message", "snippet", "at"}}: new reference. */
json_t *reload_status_json(const struct reload_status *st);

void reload_status_free(struct reload_status *st);

/* Pick out "file.lua:LINE:" from a load error and read that line of the
 * file (relative paths are under root, the parent of scripts/; root may be
 * NULL). fallback_file names the file when the message does not. @return a
 * malloc'd error the caller frees with reload_error_free, or NULL. */
struct reload_error *reload_error_parse(const char *message, const char *root,
    const char *fallback_file);
void reload_error_free(struct reload_error *e);

#endif
