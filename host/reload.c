/*
 * reload — build, check and swap a merchant's workflow (see reload.h).
 *
 * Depends on sandbox, lint, clock, log and metrics. Runs on the event loop
 * (SIGHUP, the file watch, start-up); never while a handler runs, because
 * the loop runs one callback at a time and a dispatcher batch is one.
 */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ordo/clock.h"
#include "ordo/lint.h"
#include "ordo/log.h"
#include "ordo/metrics.h"
#include "ordo/reload.h"
#include "ordo/sandbox.h"

#define MAX_SNIPPET 200

void reload_error_free(struct reload_error *e)
{
	if (e == NULL)
		return;
	free(e->file);
	free(e->message);
	free(e->snippet);
	free(e);
}

void reload_status_free(struct reload_status *st)
{
	reload_error_free(st->error);
	free(st->file);
	memset(st, 0, sizeof *st);
}

/* Line `line` (1-based) of the file, trimmed, at most MAX_SNIPPET bytes;
 * malloc'd, or NULL. */
static char *read_line(const char *path, int line)
{
	char buf[4096], *out = NULL;
	FILE *fp = fopen(path, "r");
	int at = 1;

	if (fp == NULL)
		return NULL;
	while (fgets(buf, sizeof buf, fp) != NULL) {
		size_t n = strlen(buf);
		int whole = n > 0 && buf[n - 1] == '\n';

		if (at == line) {
			char *s = buf;

			while (*s == ' ' || *s == '\t')
				s++;
			n = strlen(s);
			while (n > 0 && isspace((unsigned char)s[n - 1]))
				s[--n] = '\0';
			out = strndup(s, n > MAX_SNIPPET ? MAX_SNIPPET : n);
			break;
		}
		if (whole)
			at++;
	}
	fclose(fp);
	return out;
}

struct reload_error *reload_error_parse(const char *message, const char *root,
    const char *fallback_file)
{
	struct reload_error *e = calloc(1, sizeof *e);
	const char *lua = message ? strstr(message, ".lua:") : NULL;
	const char *space = message ? strchr(message, ' ') : NULL;
	char path[PATH_MAX];

	if (e == NULL)
		return NULL;
	e->at = clock_now_ms();
	e->message = strdup(message ? message : "unknown error");
	/* Lua's messages start with the chunk name: "workflows/w.lua:12: ..." */
	if (lua != NULL && isdigit((unsigned char)lua[5]) && (space == NULL || space > lua)) {
		char *end;
		long n = strtol(lua + 5, &end, 10);

		if (*end == ':' && n > 0 && n < INT_MAX) {
			e->file = strndup(message, (size_t)(lua + 4 - message));
			e->line = (int)n;
		}
	}
	/* Lua shortens long chunk names to "...<tail>": the workflow's is known. */
	if (e->file != NULL && strncmp(e->file, "...", 3) == 0 && fallback_file != NULL &&
	    strlen(fallback_file) >= strlen(e->file + 3) &&
	    strcmp(fallback_file + strlen(fallback_file) - strlen(e->file + 3), e->file + 3) == 0) {
		free(e->file);
		e->file = strdup(fallback_file);
	}
	if (e->file == NULL)
		e->file = strdup(fallback_file ? fallback_file : "");
	if (e->message == NULL || e->file == NULL) {
		reload_error_free(e);
		return NULL;
	}
	if (e->line > 0) {
		if (e->file[0] == '/' || root == NULL)
			snprintf(path, sizeof path, "%s", e->file);
		else
			snprintf(path, sizeof path, "%s/%s", root, e->file);
		e->snippet = read_line(path, e->line);
	}
	return e;
}

static void warn_cb(void *arg, const char *file, int line, const char *msg)
{
	const char *merchant = arg;
	char at[16];

	snprintf(at, sizeof at, "%d", line);
	log_warn("workflow warning", "merchant", merchant, "file", file, "line", at,
	    "warning", msg, NULL);
}

/* The workflow as messages name it: relative to root when under it. */
static char *display_name(const char *workflow, const char *root)
{
	char *real = realpath(workflow, NULL), *out;
	size_t n = root ? strlen(root) : 0;

	if (real != NULL && n > 0 && strncmp(real, root, n) == 0 && real[n] == '/')
		out = strdup(real + n + 1);
	else
		out = strdup(workflow);
	free(real);
	return out;
}

int reload_merchant(const struct sandbox_env *env, struct sandbox **slot,
    struct reload_status *st)
{
	const struct merchant_config *m = env->merchant;
	char *err = NULL, *root = lint_root(env->scripts_dir), labels[96], line[16];
	struct sandbox *sb = sandbox_new(env, &err);
	int rc = -1, was_failing = st->error != NULL;

	snprintf(labels, sizeof labels, "merchant=\"%s\"", m->id);
	if (st->file == NULL)
		st->file = display_name(m->workflow, root);
	/* The running version passed the checks when it loaded: an unchanged
	 * rebuild (SIGHUP, a file touched) is not checked again. */
	if (sb != NULL && !(*slot != NULL && strcmp(sandbox_version(*slot), sandbox_version(sb)) == 0) &&
	    lint_sandbox(sb, root, warn_cb, (void *)m->id, &err) < 0) {
		sandbox_free(sb);
		sb = NULL;
	}
	if (sb == NULL) {
		struct reload_error *e = reload_error_parse(err ? err : "out of memory", root, st->file);

		reload_error_free(st->error);
		st->error = e;
		snprintf(line, sizeof line, "%d", e ? e->line : 0);
		log_error(*slot ? "workflow reload failed; the previous version keeps running"
		                : "workflow failed to load",
		    "merchant", m->id, "file", e ? e->file : "", "line", line,
		    "snippet", e && e->snippet ? e->snippet : "", "error", err ? err : "out of memory",
		    NULL);
		metrics_set("ordo_workflow_load_failed", labels, 1);
		metrics_set("ordo_workflow_last_failure_timestamp_seconds", labels,
		    clock_now_ms() / 1000);
		goto out;
	}
	metrics_set("ordo_workflow_load_failed", labels, 0);
	reload_error_free(st->error);
	st->error = NULL;
	if (*slot != NULL && strcmp(sandbox_version(*slot), sandbox_version(sb)) == 0) {
		if (was_failing)
			log_info("workflow loads again; the running version is unchanged",
			    "merchant", m->id, "version", sandbox_version(sb), NULL);
		sandbox_free(sb);
		rc = 0;
		goto out;
	}
	log_info(*slot ? "workflow reloaded" : "workflow loaded", "merchant", m->id,
	    "version", sandbox_version(sb), "previous", *slot ? sandbox_version(*slot) : "", NULL);
	sandbox_free(*slot);
	*slot = sb;
	snprintf(st->version, sizeof st->version, "%s", sandbox_version(sb));
	st->loaded_at = clock_now_ms();
	metrics_set("ordo_workflow_loaded_timestamp_seconds", labels, st->loaded_at / 1000);
	rc = 1;
out:
	free(err);
	free(root);
	return rc;
}

json_t *reload_status_json(const struct reload_status *st)
{
	char at[32];
	json_t *o, *e = json_null();

	if (st->error != NULL) {
		clock_format_iso(st->error->at, at);
		e = json_pack("{s:s,s:o,s:s,s:o,s:s}", "file", st->error->file,
		    "line", st->error->line > 0 ? json_integer(st->error->line) : json_null(),
		    "message", st->error->message,
		    "snippet", st->error->snippet ? json_string(st->error->snippet) : json_null(),
		    "at", at);
	}
	if (st->loaded_at > 0)
		clock_format_iso(st->loaded_at, at);
	o = json_pack("{s:s,s:o,s:s,s:o}", "version", st->version,
	    "loaded_at", st->loaded_at > 0 ? json_string(at) : json_null(),
	    "file", st->file ? st->file : "", "error", e ? e : json_null());
	return o;
}
