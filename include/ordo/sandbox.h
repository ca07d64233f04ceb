/*
 * sandbox — one Lua 5.4 state per merchant, and the one door into it.
 *
 * A state gets only base (no dofile/loadfile; print goes to the log tagged
 * with the merchant; load takes text only), string, table, math, utf8,
 * coroutine, the host's own modules (log, money, json, now, and whatever
 * the caller registers: orders, ...), and a `require` confined to the
 * scripts folder and the workflow's folder. No io, os, debug, package.
 *
 * Limits: an instruction budget per handler run (count hook; once spent,
 * every further instruction raises, so pcall cannot swallow it) and a memory
 * cap per state (an allocator that refuses past it; this is what stops C
 * functions like string.rep that run without hooks).
 *
 * The event loop enters Lua only through sandbox_handle(), which runs in
 * protected mode with a traceback; no Lua error ever reaches the loop.
 */
#ifndef ORDO_SANDBOX_H
#define ORDO_SANDBOX_H

#include <stdint.h>
#include <jansson.h>
#include <lua.h>

#include "ordo/config.h"

struct db;
struct sandbox;

/* A host module: `open` pushes the module's table (luaopen_ style);
 * the sandbox stores it as a global named `name`. */
struct sandbox_module {
	const char *name;
	lua_CFunction open;
};

/*
 * A host step that turns an event from the outbox, a timer or the host
 * itself (source "effect", "timer" or "internal") into
 * the event the workflow sees, before its handler runs: `fn` is called with
 * the event table (built from the payload) and returns one value, the
 * event's name. It may raise (a gateway adapter's error is the event's
 * error). Chosen by the event's topic ("payment_result"); "*" matches any
 * topic no earlier entry did.
 */
struct sandbox_translator {
	const char *topic;
	lua_CFunction fn;
};

struct sandbox_env {
	const struct merchant_config *merchant;
	const char *scripts_dir;                /* absolute */
	struct db *db;                          /* may be NULL (ordo check) */
	const struct sandbox_module *modules;   /* ends with {NULL, NULL}; may be NULL */
	const struct sandbox_translator *translators; /* ends with {NULL, NULL}; may be NULL */
	int64_t fail_allocations_from;          /* tests: as sandbox_fail_allocations(), for the load */
};

/*
 * Create the merchant's state, load its workflow (which must return a table
 * of handlers) and require the channel adapter of every enabled channel.
 * The env's pointers must outlive the sandbox.
 * @return the sandbox, or NULL with *err a malloc'd message the caller frees
 * ("workflows/x.lua:12: ..." for script errors).
 */
struct sandbox *sandbox_new(const struct sandbox_env *env, char **err);

/* Close the state and free everything. NULL is fine. */
void sandbox_free(struct sandbox *sb);

/* One event to handle. */
struct jsonscan_doc;

struct sandbox_event {
	int64_t id;             /* inbox id */
	const char *source;     /* "webhook", "api", "timer", "effect", "internal" */
	const char *channel;    /* storefront channel for webhooks, else NULL */
	const char *topic;      /* storefront topic, or the event name */
	const json_t *payload;  /* the parsed body, or NULL with doc set */
	const struct jsonscan_doc *doc; /* the body parsed by jsonscan_load */
	const char *order_key;  /* the inbox row's (may be NULL); "supplier:<id>" names
	                           a supplier's deliveries */
	int attempt;            /* 1 on the first run */
	int64_t received_at;    /* ms UTC */
};

enum sandbox_status {
	SB_HANDLED = 0,   /* a handler ran and returned */
	SB_UNHANDLED = 1, /* no handler for the event, or the adapter ignored it */
	SB_ERROR = -1,    /* adapter or handler raised, or the system refused memory; *err says */
	SB_LIMIT = -2,    /* instruction budget or memory cap hit; *err names it */
};

/*
 * Handle one event. For a webhook the channel adapter
 * (require("channels.<channel>").translate(topic, payload, ctx)) turns it
 * into an event table with a `name`; other sources use the topic as the
 * name and the payload as the table. Then handlers[name](event) runs.
 * The event table also carries id, source, channel, topic, attempt,
 * received_at and payload.
 * @return an enum sandbox_status. *name is set to a malloc'd copy of the
 * event name when one was determined (else NULL); *err is a malloc'd
 * message on SB_ERROR and SB_LIMIT ("order_created: workflows/w.lua:7:
 * ..."). The caller frees both.
 */
int sandbox_handle(struct sandbox *sb, const struct sandbox_event *ev,
    char **name, char **err);

/* For bindings: the sandbox that owns L (any thread of it). Never NULL
 * inside a state made by sandbox_new(). */
struct sandbox *sandbox_of(lua_State *L);
const struct merchant_config *sandbox_merchant(const struct sandbox *sb);
struct db *sandbox_db(const struct sandbox *sb);
/* The inbox id of the event being handled, or 0 outside a handler. */
int64_t sandbox_event_id(const struct sandbox *sb);
/* Short content hash (12 hex chars) of the workflow file and of every
 * module it loaded (scripts/ and the workflow's folder), in load order: an
 * edit to any file the state runs changes it. A module first required
 * inside a handler, after the load, is folded in then. */
const char *sandbox_version(const struct sandbox *sb);

/* The real path of the i-th file the state loaded (0 is the workflow),
 * or NULL past the end. Borrowed from the sandbox. */
const char *sandbox_file(const struct sandbox *sb, size_t i);
/* 1 when the state loaded the file at this real path. */
int sandbox_uses_file(const struct sandbox *sb, const char *path);

/* A handler of the workflow's table, where its function is defined. */
struct sandbox_handler {
	char *name;
	char *file;             /* display path ("workflows/standard.lua") */
	int line;               /* the function's first line; 0 for a C function */
};

/* What `ordo check` inspects: the handlers and the names the global table
 * holds after the load (libraries, host modules, globals the scripts set). */
struct sandbox_info {
	struct sandbox_handler *handlers;
	size_t n_handlers;
	char **globals;
	size_t n_globals;
};

/* Fill *info (the caller frees it with sandbox_info_free). Runs in
 * protected mode; never raises. @return 0, or -1 (out of memory, or
 * called from inside a handler) with *info empty. */
int sandbox_describe(struct sandbox *sb, struct sandbox_info *info);
void sandbox_info_free(struct sandbox_info *info);

/* Tests: from the n-th allocation that grows memory during the next runs
 * on, the allocator refuses every one (a real out-of-memory at that point
 * of the handler); 0 stops it. The count restarts here. */
void sandbox_fail_allocations(struct sandbox *sb, int64_t n);
/* 1, 2, 3... for each effect a handler run asks for (reset per run). */
int sandbox_next_effect(struct sandbox *sb);
/* Push require(name) as the sandbox's own require does (scripts/ and the
 * workflow's folder only), whatever the script did to the global. Raises. */
void sandbox_require(lua_State *L, const char *name);
/* Bytes the state holds now. */
size_t sandbox_memory(const struct sandbox *sb);

#endif
