/*
 * lint — `ordo check`'s warnings: handlers for events that do not exist,
 * globals read but never defined.
 *
 * Depends on Lua, sandbox and log. Each file the sandbox loaded is compiled
 * again in a bare state of our own (no library, nothing runs) and dumped
 * with lua_dump; the dump is Lua 5.4's binary chunk format (ldump.c), read
 * here only as far as instructions, constants, upvalue names and line
 * numbers. A header that is not Lua 5.4's on this machine's sizes stops the
 * check with an error rather than a guess. See lint.h for the limits.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "ordo/lint.h"
#include "ordo/sandbox.h"

const char *const lint_host_events[] = {
	/* storefronts (the channel adapters) */
	"order_created", "order_updated", "order_paid", "order_cancelled", "refund_created",
	/* effect answers (outbox, payments) */
	"payment_authorized", "payment_captured", "payment_voided", "payment_refunded",
	"payment_failed", "payment_unresolved", "notification_sent", "notification_failed",
	"webhook_failed",
	/* fulfillment and carriers ("carrier_" .. status) */
	"order_shipped", "order_delivered", "shipment_canceled",
	"carrier_delivered", "carrier_in_transit", "carrier_out_for_delivery", "carrier_exception",
	/* suppliers, stock */
	"dropship_accepted", "dropship_rejected", "dropship_shipped", "backorder_allocated",
	/* returns */
	"return_requested", "return_approved", "return_rejected", "return_received",
	"return_refund_requested", "return_refunded", "return_closed", "exchange_requested",
	/* the API's requests, subscriptions */
	"cancel_requested", "edit_requested", "subscription_renewal_due", "subscription_paused",
	"subscription_resumed", "subscription_skipped", "subscription_canceled",
	"subscription_rescheduled", "subscription_changed",
	/* a renewal that did not happen, and why (subs_renew; status names) */
	"subscription_renewal_skipped", "subscription_renewal_canceled",
	"subscription_renewal_missing", "subscription_renewal_stale",
	"subscription_renewal_paused", "subscription_renewal_past_due",
	"subscription_renewal_expired", "subscription_renewal_ignored",
	NULL,
};

/* Lua 5.4 opcodes used here (lopcodes.h order) and instruction fields. */
enum {
	OP_LOADK = 3, OP_GETTABUP = 11, OP_SETTABUP = 15, OP_SETTABLE = 16, OP_SETI = 17,
	OP_SETFIELD = 18, OP_EQK = 60,
};
#define GET_OP(i) ((int)((i) & 0x7f))
#define GET_A(i)  ((int)(((i) >> 7) & 0xff))
#define GET_K(i)  ((int)(((i) >> 15) & 0x1))
#define GET_B(i)  ((int)(((i) >> 16) & 0xff))
#define GET_C(i)  ((int)(((i) >> 24) & 0xff))
#define GET_BX(i) ((int)(((i) >> 15) & 0x1ffff))

#define ABSLINEINFO (-0x80)

/* Constant tags (lobject.h makevariant). */
enum { K_NIL = 0, K_FALSE = 1, K_TRUE = 17, K_INT = 3, K_FLT = 19, K_SHRSTR = 4, K_LNGSTR = 20 };

struct strs {
	char **v;
	size_t n, cap;
};

struct read_at {
	char *name;
	size_t file;
	int line;
	int first;      /* the first read of this name in this file */
};

/* Warnings of undefined globals per check, before "and N more". */
#define MAX_GLOBAL_WARNINGS 100

/* Reads by file, then name, then the order they were made (a stable sort
 * by hand: qsort is not stable, the addresses are in read order). */
static int by_file_name(const void *a, const void *b)
{
	const struct read_at *x = *(const struct read_at *const *)a;
	const struct read_at *y = *(const struct read_at *const *)b;
	int c;

	if (x->file != y->file)
		return x->file < y->file ? -1 : 1;
	if ((c = strcmp(x->name, y->name)) != 0)
		return c;
	return x < y ? -1 : x > y;
}

struct lint {
	struct strs sets;       /* globals assigned anywhere */
	struct strs values;     /* string constants in value position */
	struct read_at *reads;
	size_t n_reads, cap_reads;
	size_t file;            /* index of the file being read */
	int oom;
};

struct rd {
	const unsigned char *p, *end;
	int bad;
};

struct kst {
	int tag;
	const char *s;
	size_t len;
};

/* ------------------------------------------------------------------ */
/* Small sets                                                          */
/* ------------------------------------------------------------------ */

static void strs_add(struct lint *l, struct strs *s, const char *p, size_t len)
{
	char *c, **v;

	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;

		if ((v = realloc(s->v, cap * sizeof *v)) == NULL) {
			l->oom = 1;
			return;
		}
		s->v = v;
		s->cap = cap;
	}
	if ((c = strndup(p, len)) == NULL) {
		l->oom = 1;
		return;
	}
	s->v[s->n++] = c;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void strs_sort(struct strs *s)
{
	if (s->n > 0)
		qsort(s->v, s->n, sizeof *s->v, cmp_str);
}

static int strs_has(const struct strs *s, const char *name)
{
	return s->n > 0 && bsearch(&name, s->v, s->n, sizeof *s->v, cmp_str) != NULL;
}

static void strs_free(struct strs *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof *s);
}

/* ------------------------------------------------------------------ */
/* Reading a Lua 5.4 dump                                              */
/* ------------------------------------------------------------------ */

static int rd_byte(struct rd *r)
{
	if (r->p >= r->end) {
		r->bad = 1;
		return 0;
	}
	return *r->p++;
}

static const unsigned char *rd_block(struct rd *r, size_t n)
{
	const unsigned char *p = r->p;

	if ((size_t)(r->end - r->p) < n) {
		r->bad = 1;
		r->p = r->end;
		return NULL;
	}
	r->p += n;
	return p;
}

/* ldump.c dumpSize: 7 bits a byte, most significant first, the last byte
 * marked with 0x80. */
static size_t rd_size(struct rd *r)
{
	size_t x = 0;
	int b;

	do {
		b = rd_byte(r);
		if (x > SIZE_MAX >> 7)
			r->bad = 1;
		x = (x << 7) | (size_t)(b & 0x7f);
	} while (!r->bad && !(b & 0x80));
	return x;
}

/* A string: size 0 is NULL, else size - 1 bytes. */
static const char *rd_string(struct rd *r, size_t *len)
{
	size_t n = rd_size(r);

	*len = 0;
	if (n == 0 || r->bad)
		return NULL;
	*len = n - 1;
	return (const char *)rd_block(r, n - 1);
}

static int rd_header(struct rd *r)
{
	static const unsigned char sig[] = "\x1bLua\x54\x00\x19\x93\r\n\x1a\n";
	const unsigned char *p = rd_block(r, sizeof sig - 1);

	if (p == NULL || memcmp(p, sig, sizeof sig - 1) != 0)
		return -1;
	if (rd_byte(r) != 4 || rd_byte(r) != sizeof(lua_Integer) ||
	    rd_byte(r) != sizeof(lua_Number))
		return -1;
	rd_block(r, sizeof(lua_Integer) + sizeof(lua_Number)); /* LUAC_INT, LUAC_NUM */
	rd_byte(r);                                            /* main's upvalue count */
	return r->bad ? -1 : 0;
}

static uint32_t instr_at(const unsigned char *code, size_t pc)
{
	uint32_t i;

	memcpy(&i, code + 4 * pc, 4);
	return i;
}

static const char *kstring(const struct kst *k, size_t nk, int idx, size_t *len)
{
	if (idx < 0 || (size_t)idx >= nk || (k[idx].tag != K_SHRSTR && k[idx].tag != K_LNGSTR))
		return NULL;
	*len = k[idx].len;
	return k[idx].s;
}

static void add_read(struct lint *l, const char *name, size_t len, int line)
{
	struct read_at *r;

	if (l->n_reads == l->cap_reads) {
		size_t cap = l->cap_reads ? 2 * l->cap_reads : 64;

		if ((r = realloc(l->reads, cap * sizeof *r)) == NULL) {
			l->oom = 1;
			return;
		}
		l->reads = r;
		l->cap_reads = cap;
	}
	r = &l->reads[l->n_reads];
	if ((r->name = strndup(name, len)) == NULL) {
		l->oom = 1;
		return;
	}
	r->file = l->file;
	r->line = line;
	l->n_reads++;
}

/* One function: its instructions are read once the debug section (line
 * numbers, upvalue names) that follows its nested functions is known. */
static void rd_function(struct lint *l, struct rd *r, int depth)
{
	const unsigned char *code, *lineinfo;
	struct kst *k = NULL;
	size_t ncode, nk, nup, nproto, nline, nabs, nloc, nupname, len;
	size_t *abs_pc = NULL;
	int *abs_line = NULL, linedefined, line, env[256] = { 0 };

	if (depth > 200) {
		r->bad = 1;
		return;
	}
	rd_string(r, &len);                     /* source */
	linedefined = (int)rd_size(r);
	rd_size(r);                             /* lastlinedefined */
	rd_block(r, 3);                         /* numparams, is_vararg, maxstacksize */
	ncode = rd_size(r);
	if (r->bad || ncode > (size_t)(r->end - r->p) / 4) {
		r->bad = 1;
		return;
	}
	code = rd_block(r, 4 * ncode);
	nk = rd_size(r);
	if (r->bad || nk > (size_t)(r->end - r->p) || (k = calloc(nk ? nk : 1, sizeof *k)) == NULL) {
		r->bad = 1;
		return;
	}
	for (size_t i = 0; i < nk && !r->bad; i++) {
		k[i].tag = rd_byte(r);
		switch (k[i].tag) {
		case K_NIL: case K_FALSE: case K_TRUE:
			break;
		case K_INT:
			rd_block(r, sizeof(lua_Integer));
			break;
		case K_FLT:
			rd_block(r, sizeof(lua_Number));
			break;
		case K_SHRSTR: case K_LNGSTR:
			k[i].s = rd_string(r, &k[i].len);
			break;
		default:
			r->bad = 1;
		}
	}
	nup = rd_size(r);
	rd_block(r, 3 * nup);                   /* instack, idx, kind */
	nproto = rd_size(r);
	for (size_t i = 0; i < nproto && !r->bad; i++)
		rd_function(l, r, depth + 1);
	nline = rd_size(r);
	lineinfo = rd_block(r, nline);
	nabs = rd_size(r);
	if (!r->bad && nabs <= (size_t)(r->end - r->p)) {
		abs_pc = calloc(nabs ? nabs : 1, sizeof *abs_pc);
		abs_line = calloc(nabs ? nabs : 1, sizeof *abs_line);
		if (abs_pc == NULL || abs_line == NULL)
			l->oom = 1;
	} else {
		r->bad = 1;
	}
	for (size_t i = 0; i < nabs && !r->bad && !l->oom; i++) {
		abs_pc[i] = rd_size(r);
		abs_line[i] = (int)rd_size(r);
	}
	nloc = rd_size(r);
	for (size_t i = 0; i < nloc && !r->bad; i++) {
		rd_string(r, &len);
		rd_size(r);
		rd_size(r);
	}
	nupname = rd_size(r);
	for (size_t i = 0; i < nupname && !r->bad; i++) {
		const char *name = rd_string(r, &len);

		if (i < 256 && name != NULL && len == 4 && memcmp(name, "_ENV", 4) == 0)
			env[i] = 1;
	}
	if (r->bad || l->oom || (nline != 0 && nline != ncode))
		goto out;
	line = linedefined;

	for (size_t pc = 0, a = 0; pc < ncode; pc++) {
		uint32_t i = instr_at(code, pc);
		const char *s;

		if (nline != 0) {
			if ((signed char)lineinfo[pc] == ABSLINEINFO) {
				while (a < nabs && abs_pc[a] < pc)
					a++;
				if (a < nabs && abs_pc[a] == pc)
					line = abs_line[a];
			} else {
				line += (signed char)lineinfo[pc];
			}
		}
		switch (GET_OP(i)) {
		case OP_GETTABUP:
			if (env[GET_B(i)] && (s = kstring(k, nk, GET_C(i), &len)) != NULL)
				add_read(l, s, len, nline ? line : 0);
			break;
		case OP_SETTABUP:
			if (env[GET_A(i)] && (s = kstring(k, nk, GET_B(i), &len)) != NULL)
				strs_add(l, &l->sets, s, len);
			if (GET_K(i) && (s = kstring(k, nk, GET_C(i), &len)) != NULL)
				strs_add(l, &l->values, s, len);
			break;
		case OP_SETTABLE: case OP_SETI: case OP_SETFIELD:
			if (GET_K(i) && (s = kstring(k, nk, GET_C(i), &len)) != NULL)
				strs_add(l, &l->values, s, len);
			break;
		case OP_LOADK:
			if ((s = kstring(k, nk, GET_BX(i), &len)) != NULL)
				strs_add(l, &l->values, s, len);
			break;
		case OP_EQK:
			if ((s = kstring(k, nk, GET_B(i), &len)) != NULL)
				strs_add(l, &l->values, s, len);
			break;
		}
	}
out:
	free(k);
	free(abs_pc);
	free(abs_line);
}

struct buf {
	unsigned char *p;
	size_t n, cap;
	int oom;
};

static int dump_writer(lua_State *L, const void *p, size_t sz, void *ud)
{
	struct buf *b = ud;
	unsigned char *q;

	(void)L;
	if (b->n + sz > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;

		while (cap < b->n + sz)
			cap *= 2;
		if ((q = realloc(b->p, cap)) == NULL) {
			b->oom = 1;
			return 1;
		}
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->n, p, sz);
	b->n += sz;
	return 0;
}

/* How a file is named in warnings: relative to root when under it. */
static const char *display(const char *root, const char *path)
{
	size_t n = root != NULL ? strlen(root) : 0;

	if (n > 0 && strncmp(path, root, n) == 0 && path[n] == '/')
		return path + n + 1;
	return path;
}

/* Compile one file (nothing runs) and read its dump. @return 0, or -1
 * with *err set. */
static int read_file(struct lint *l, lua_State *L, const char *path, const char *name,
    char **err)
{
	struct buf b = { 0 };
	struct rd r;
	char chunk[4096 + 1];
	int rc = -1;

	snprintf(chunk, sizeof chunk, "@%s", name);
	lua_settop(L, 0);
	if (luaL_loadfilex(L, path, "t") != LUA_OK) {
		if (asprintf(err, "%s", lua_tostring(L, -1)) < 0)
			*err = NULL;
		goto out;
	}
	if (lua_dump(L, dump_writer, &b, 0) != 0 || b.oom) {
		*err = strdup("out of memory");
		goto out;
	}
	r = (struct rd){ .p = b.p, .end = b.p + b.n };
	if (rd_header(&r) != 0) {
		if (asprintf(err, "%s: not a Lua 5.4 chunk this check can read", name) < 0)
			*err = NULL;
		goto out;
	}
	rd_function(l, &r, 0);
	if (l->oom) {
		*err = strdup("out of memory");
		goto out;
	}
	if (r.bad || r.p != r.end) {
		if (asprintf(err, "%s: cannot read the compiled chunk", name) < 0)
			*err = NULL;
		goto out;
	}
	rc = 0;
out:
	if (rc != 0 && *err == NULL)
		*err = strdup("out of memory");
	lua_settop(L, 0);
	free(b.p);
	return rc;
}

char *lint_root(const char *scripts_dir)
{
	char *real, *slash;

	if (scripts_dir == NULL || (real = realpath(scripts_dir, NULL)) == NULL)
		return NULL;
	slash = strrchr(real, '/');
	if (slash != NULL && slash != real)
		*slash = '\0';
	else if (slash != NULL)
		slash[1] = '\0';
	return real;
}

static int host_event(const char *name)
{
	for (const char *const *e = lint_host_events; *e != NULL; e++)
		if (strcmp(*e, name) == 0)
			return 1;
	return 0;
}

int lint_sandbox(struct sandbox *sb, const char *root, lint_warn_fn warn, void *arg,
    char **err)
{
	struct lint l = { 0 };
	struct sandbox_info info = { 0 };
	struct strs defined = { 0 };
	struct read_at **order = NULL;
	int globals = 0;
	lua_State *L = NULL;
	const char *path;
	char msg[300];
	size_t nfiles = 0;
	int count = 0;

	*err = NULL;
	if ((L = luaL_newstate()) == NULL || sandbox_describe(sb, &info) != 0) {
		*err = strdup("out of memory");
		goto fail;
	}
	for (nfiles = 0; (path = sandbox_file(sb, nfiles)) != NULL; nfiles++) {
		l.file = nfiles;
		if (read_file(&l, L, path, display(root, path), err) != 0)
			goto fail;
	}
	for (size_t i = 0; i < info.n_globals; i++)
		strs_add(&l, &defined, info.globals[i], strlen(info.globals[i]));
	for (size_t i = 0; i < l.sets.n; i++)
		strs_add(&l, &defined, l.sets.v[i], strlen(l.sets.v[i]));
	if (l.oom) {
		*err = strdup("out of memory");
		goto fail;
	}
	strs_sort(&defined);
	strs_sort(&l.values);

	for (size_t i = 0; i < info.n_handlers; i++) {
		const struct sandbox_handler *h = &info.handlers[i];

		if (host_event(h->name) || strs_has(&l.values, h->name))
			continue;
		snprintf(msg, sizeof msg, "handler '%s' is for an event that nothing raises "
		    "(not a host event, and no adapter or timer names it)", h->name);
		warn(arg, h->file, h->line, msg);
		count++;
	}
	/* Once per file and name, at the first read: sort the reads by (file,
	 * name, order) once, keep the first of each run, then report in the
	 * order they were read. At most MAX_GLOBAL_WARNINGS, then a count. */
	if (l.n_reads > 0 && (order = malloc(l.n_reads * sizeof *order)) == NULL)
		goto fail;
	for (size_t i = 0; i < l.n_reads; i++)
		order[i] = &l.reads[i];
	if (l.n_reads > 0)
		qsort(order, l.n_reads, sizeof *order, by_file_name);
	for (size_t i = 0; i < l.n_reads; i++)
		order[i]->first = i == 0 || order[i - 1]->file != order[i]->file ||
		    strcmp(order[i - 1]->name, order[i]->name) != 0;
	free(order);
	for (size_t i = 0; i < l.n_reads; i++) {
		const struct read_at *r = &l.reads[i];

		if (!r->first || strs_has(&defined, r->name))
			continue;
		if (globals++ >= MAX_GLOBAL_WARNINGS)
			continue;
		snprintf(msg, sizeof msg, "global '%s' is read but never defined "
		    "(a typo, or a missing local?)", r->name);
		warn(arg, display(root, sandbox_file(sb, r->file)), r->line, msg);
		count++;
	}
	if (globals > MAX_GLOBAL_WARNINGS) {
		snprintf(msg, sizeof msg, "and %d more globals read but never defined",
		    globals - MAX_GLOBAL_WARNINGS);
		warn(arg, display(root, sandbox_file(sb, 0)), 0, msg);
		count++;
	}
	goto out;
fail:
	count = -1;
out:
	for (size_t i = 0; i < l.n_reads; i++)
		free(l.reads[i].name);
	free(l.reads);
	strs_free(&l.sets);
	strs_free(&l.values);
	strs_free(&defined);
	sandbox_info_free(&info);
	if (L != NULL)
		lua_close(L);
	return count;
}
