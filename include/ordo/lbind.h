/*
 * lbind — what the Lua binding files (l_orders.c, l_payments.c, ...) share:
 * the handler context, order references, and a box that owns a jansson
 * value while calls that can raise run.
 *
 * Every function here may raise a Lua error (they are for bindings); none
 * holds a C-owned resource across the raise.
 */
#ifndef ORDO_LBIND_H
#define ORDO_LBIND_H

#include <stdint.h>
#include <jansson.h>
#include <lua.h>

struct db;
struct merchant_config;
struct sandbox;

struct lbind_ctx {
	struct sandbox *sb;
	struct db *db;
	const struct merchant_config *m;
	const char *merchant;   /* m->id */
	int64_t event_id;
};

/* The context of a primitive `module.fn`. Raises when called outside a
 * handler (while the workflow loads there is no event and no transaction). */
struct lbind_ctx lbind_context(lua_State *L, const char *module, const char *fn);

/* The order id a ref names (an id, an order table, or {channel=,
 * external_id=}), or 0 when the merchant has no such order. Raises on a ref
 * of the wrong type. */
int64_t lbind_order_ref(lua_State *L, const struct lbind_ctx *c, int idx,
    const char *module, const char *fn);
/* The same, raising "no such order" unless the merchant has that order. */
int64_t lbind_order(lua_State *L, const struct lbind_ctx *c, int idx,
    const char *module, const char *fn);

/* An optional positive integer amount at idx (-1 when absent). Raises on a
 * float, a string or a value <= 0. */
int64_t lbind_amount(lua_State *L, int idx, const char *module, const char *fn);

/* A userdata that owns one json_t; its __gc frees it. */
struct lbind_jbox {
	json_t *v;
};

/* Push a new empty box (may raise: out of memory; owns nothing yet). */
struct lbind_jbox *lbind_jbox_new(lua_State *L);
/* Push the box's value as Lua (replacing nothing on the stack), then free
 * the value. May raise; the box still owns the value until converted. */
void lbind_jbox_push(lua_State *L, struct lbind_jbox *b);
/* Register the box metatable; call once from a module opener. */
void lbind_jbox_register(lua_State *L);

/* Push the order as Lua (orders_get with `parts`), or nil. */
int lbind_push_order(lua_State *L, const struct lbind_ctx *c, int64_t id, unsigned parts);

/* A stable idempotency key for the next effect of this handler run:
 * "e<event id>-<n>" (the n-th effect the run asked for), so a retried run
 * that asks again in the same order reuses the same keys. */
void lbind_effect_key(lua_State *L, const struct lbind_ctx *c, char *buf, size_t len);

/*
 * Run `body` with this call's arguments inside a savepoint of its own:
 * whatever it wrote is rolled back if it raises, and the error is raised
 * again, so a primitive that fails half-way leaves nothing behind even when
 * the script catches the error with pcall. @return body's results.
 */
int lbind_atomic(lua_State *L, struct db *db, lua_CFunction body);

/* 1 for a name a handler can be called by: [a-z_][a-z0-9_]{0,63}. */
int lbind_event_name_ok(const char *s);

#endif
