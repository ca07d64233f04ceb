/*
 * replay — re-run one order's recorded events against two workflows on
 * scratch copies of the database and print the difference (see replay.h).
 *
 * Depends on db, dispatch, sandbox, notify, orders and SQLite. The source
 * database is opened read-only; nothing here writes to it. The scratch
 * files live in $TMPDIR (or /tmp) and are removed on every path.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>
#include <sqlite3.h>

#include "ordo/db.h"
#include "ordo/dispatch.h"
#include "ordo/log.h"
#include "ordo/notify.h"
#include "ordo/orders.h"
#include "ordo/replay.h"
#include "ordo/sandbox.h"
#include "ordo/server.h"

#define MAX_BATCHES 10000       /* a workflow that raises events forever stops here */

/* The order as found in the original database. */
struct target {
	int64_t id;
	char channel[64];
	char external_id[128];
	char key[200];          /* its events' order_key: "<channel>:<external id>" */
};

/* Lines describing one run's outcome. */
struct lines {
	char **v;
	size_t n;
};

static void add_line(struct lines *l, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void add_line(struct lines *l, const char *fmt, ...)
{
	va_list ap;
	char *s, **v;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	if (s == NULL || (v = realloc(l->v, (l->n + 1) * sizeof *v)) == NULL) {
		free(s);
		return;
	}
	l->v = v;
	l->v[l->n++] = s;
}

static void lines_free(struct lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof *l);
}

static const char *col(sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);

	return s != NULL ? s : "";
}

/* ------------------------------------------------------------------ */
/* The scratch copies                                                  */
/* ------------------------------------------------------------------ */

static int backup(sqlite3 *from, const char *to, FILE *err)
{
	sqlite3 *dst = NULL;
	int rc = -1;

	if (sqlite3_open(to, &dst) != SQLITE_OK) {
		fprintf(err, "ordo: cannot create %s: %s\n", to, sqlite3_errmsg(dst));
		goto out;
	}
	if ((rc = db_copy(from, dst, NULL, NULL)) != SQLITE_OK) {
		fprintf(err, "ordo: cannot copy the database: %s\n", sqlite3_errstr(rc));
		rc = -1;
		goto out;
	}
	rc = 0;
out:
	sqlite3_close(dst);
	return rc;
}

/*
 * Scratch copies hold the merchant's customers: an interrupted replay
 * (Ctrl-C, SIGTERM) must not leave them in $TMPDIR. Each one's four
 * file names (the file, -wal, -shm, -journal) are kept ready, so the signal handler only calls unlink()
 * (async-signal-safe) before dying of the signal as it would have.
 */
#define MAX_SCRATCH 2

static char scratch_files[MAX_SCRATCH][4][4200];
static volatile sig_atomic_t n_scratch;

static void on_interrupt(int sig)
{
	for (sig_atomic_t i = 0; i < n_scratch; i++)
		for (int k = 0; k < 4; k++)
			if (scratch_files[i][k][0] != '\0')
				unlink(scratch_files[i][k]);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void remove_scratch(const char *path)
{
	if (path[0] == '\0')
		return;
	for (sig_atomic_t i = 0; i < n_scratch; i++)
		if (strcmp(scratch_files[i][0], path) == 0) {
			for (int k = 0; k < 4; k++) {
				unlink(scratch_files[i][k]);
				scratch_files[i][k][0] = '\0';
			}
			return;
		}
	unlink(path);
}

static int make_scratch(char *path, size_t len)
{
	const char *dir = getenv("TMPDIR");
	sig_atomic_t slot = -1;
	int fd;

	for (sig_atomic_t i = 0; i < n_scratch && slot < 0; i++)
		if (scratch_files[i][0][0] == '\0')
			slot = i;
	if (slot < 0 && n_scratch < MAX_SCRATCH)
		slot = n_scratch;
	snprintf(path, len, "%s/ordo-replay-XXXXXX", dir && dir[0] ? dir : "/tmp");
	if (slot < 0 || strlen(path) + 9 > sizeof scratch_files[0][0] || (fd = mkstemp(path)) < 0) {
		path[0] = '\0';
		return -1;
	}
	close(fd);
	snprintf(scratch_files[slot][0], sizeof scratch_files[slot][0], "%s", path);
	snprintf(scratch_files[slot][1], sizeof scratch_files[slot][1], "%s-wal", path);
	snprintf(scratch_files[slot][2], sizeof scratch_files[slot][2], "%s-shm", path);
	snprintf(scratch_files[slot][3], sizeof scratch_files[slot][3], "%s-journal", path);
	if (slot == n_scratch) {
		n_scratch++;
		signal(SIGINT, on_interrupt);
		signal(SIGTERM, on_interrupt);
		signal(SIGHUP, on_interrupt);
	}
	return 0;
}

/* Find the order (by id, then by external id) in the original. */
static int find_order(sqlite3 *h, const char *merchant, const char *ref, struct target *t,
    FILE *err)
{
	sqlite3_stmt *st = NULL;
	char *end;
	long long id = strtoll(ref, &end, 10);
	int rc = -1;

	if (sqlite3_prepare_v2(h, "SELECT id, channel, external_id FROM orders WHERE merchant = ?1"
	    " AND (id = ?2 OR external_id = ?3) ORDER BY id = ?2 DESC, id LIMIT 1",
	    -1, &st, NULL) != SQLITE_OK) {
		fprintf(err, "ordo: cannot read the database: %s\n", sqlite3_errmsg(h));
		return -1;
	}
	sqlite3_bind_text(st, 1, merchant, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, *end == '\0' && end != ref ? id : -1);
	sqlite3_bind_text(st, 3, ref, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		t->id = sqlite3_column_int64(st, 0);
		snprintf(t->channel, sizeof t->channel, "%s", col(st, 1));
		snprintf(t->external_id, sizeof t->external_id, "%s", col(st, 2));
		snprintf(t->key, sizeof t->key, "%s:%s", t->channel, t->external_id);
		rc = 0;
	} else {
		fprintf(err, "ordo: merchant %s has no order \"%s\"\n", merchant, ref);
	}
	sqlite3_finalize(st);
	return rc;
}

/*
 * On a scratch copy: undo the order's stock movements, delete its rows
 * (every table with an order_id, then whatever pointed at a deleted row),
 * put its recorded events back as pending and park everything else.
 * @return the number of events to replay, or -1.
 */
static int prepare(struct db *db, const char *merchant, const struct target *t, FILE *err)
{
	sqlite3 *h = db_handle(db);
	sqlite3_stmt *st = NULL, *fk = NULL;
	char sql[128], *msg = NULL;
	int n = -1, changed;

	/* The recorded events; the stock the order moved back; its effects,
	 * timers and dead letters gone; other pending events parked. */
	{
		char *q = sqlite3_mprintf(
		    "PRAGMA foreign_keys = OFF;"
		    "CREATE TEMP TABLE replay_events AS SELECT id FROM inbox WHERE merchant = %Q AND"
		    "  status IN ('done','dead') AND (order_key = %Q OR id IN"
		    "  (SELECT event_id FROM order_history WHERE order_id = %lld));"
		    "UPDATE stock SET"
		    "  on_hand = on_hand - (SELECT COALESCE(SUM(l.on_hand_delta), 0) FROM stock_ledger l"
		    "    WHERE l.order_id = %lld AND l.merchant = stock.merchant AND l.sku = stock.sku"
		    "    AND l.location = stock.location),"
		    "  reserved = reserved - (SELECT COALESCE(SUM(l.reserved_delta), 0) FROM stock_ledger l"
		    "    WHERE l.order_id = %lld AND l.merchant = stock.merchant AND l.sku = stock.sku"
		    "    AND l.location = stock.location)"
		    "  WHERE merchant = %Q;"
		    "DELETE FROM effects WHERE merchant = %Q AND order_key = %Q;"
		    "DELETE FROM timers WHERE merchant = %Q AND order_key = %Q;"
		    "DELETE FROM dead_letters WHERE event_id IN (SELECT id FROM replay_events);"
		    "UPDATE inbox SET status = 'done' WHERE status = 'pending';"
		    "UPDATE inbox SET status = 'pending', attempts = 0, available_at = 0, done_at = NULL,"
		    "  event_name = NULL, script_version = NULL, last_error = NULL"
		    "  WHERE id IN (SELECT id FROM replay_events);",
		    merchant, t->key, (long long)t->id, (long long)t->id, (long long)t->id, merchant,
		    merchant, t->key, merchant, t->key);

		if (q == NULL || sqlite3_exec(h, q, NULL, NULL, &msg) != SQLITE_OK) {
			fprintf(err, "ordo: cannot prepare the scratch copy: %s\n", msg ? msg : "out of memory");
			sqlite3_free(q);
			goto out;
		}
		sqlite3_free(q);
	}
	/* Every table with an order_id column loses the order's rows, and the
	 * rows made after its first one: the run then makes its rows again with
	 * the ids they had, which the recorded effect answers name
	 * (payment_id). Newer orders are gone from the copy (the report is
	 * about this order only). A license key goes back to the pool. */
	if (sqlite3_prepare_v2(h, "SELECT m.name, EXISTS (SELECT 1 FROM pragma_table_info(m.name) k"
	    " WHERE k.name = 'id' AND k.pk = 1) FROM sqlite_schema m, pragma_table_info(m.name) c"
	    " WHERE m.type = 'table' AND c.name = 'order_id'", -1, &st, NULL) != SQLITE_OK)
		goto dberr;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *table = col(st, 0);
		char *q;

		if (strcmp(table, "license_keys") == 0)
			q = sqlite3_mprintf("UPDATE license_keys SET order_id = NULL, line_no = NULL,"
			    " assigned_at = NULL, revoked_at = NULL WHERE order_id = %lld", (long long)t->id);
		else if (sqlite3_column_int(st, 1))
			q = sqlite3_mprintf("DELETE FROM \"%w\" WHERE id >= (SELECT MIN(id) FROM \"%w\""
			    " WHERE order_id = %lld) OR order_id >= %lld", table, table,
			    (long long)t->id, (long long)t->id);
		else
			q = sqlite3_mprintf("DELETE FROM \"%w\" WHERE order_id >= %lld", table,
			    (long long)t->id);
		if (q == NULL || sqlite3_exec(h, q, NULL, NULL, NULL) != SQLITE_OK) {
			sqlite3_free(q);
			goto dberr;
		}
		sqlite3_free(q);
	}
	sqlite3_finalize(st);
	st = NULL;
	snprintf(sql, sizeof sql, "DELETE FROM orders WHERE id >= %lld", (long long)t->id);
	if (sqlite3_exec(h, sql, NULL, NULL, NULL) != SQLITE_OK)
		goto dberr;
	/* Then rows that pointed at a deleted row (shipment lines, downloads,
	 * refunds of a payment, ...), until nothing changes. */
	if (sqlite3_prepare_v2(h, "SELECT m.name, f.\"from\", f.\"table\", COALESCE(f.\"to\", 'id')"
	    " FROM sqlite_schema m, pragma_foreign_key_list(m.name) f WHERE m.type = 'table'",
	    -1, &fk, NULL) != SQLITE_OK)
		goto dberr;
	do {
		changed = 0;
		while (sqlite3_step(fk) == SQLITE_ROW) {
			char *q = sqlite3_mprintf("DELETE FROM \"%w\" WHERE \"%w\" IS NOT NULL AND \"%w\""
			    " NOT IN (SELECT \"%w\" FROM \"%w\")", col(fk, 0), col(fk, 1), col(fk, 1),
			    col(fk, 3), col(fk, 2));

			if (q == NULL || sqlite3_exec(h, q, NULL, NULL, NULL) != SQLITE_OK) {
				sqlite3_free(q);
				goto dberr;
			}
			sqlite3_free(q);
			changed += sqlite3_changes(h);
		}
		sqlite3_reset(fk);
	} while (changed > 0);
	if (sqlite3_prepare_v2(h, "SELECT COUNT(*) FROM replay_events", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW)
		goto dberr;
	n = sqlite3_column_int(st, 0);
	goto out;
dberr:
	fprintf(err, "ordo: cannot prepare the scratch copy: %s\n", sqlite3_errmsg(h));
	n = -1;
out:
	sqlite3_free(msg);
	sqlite3_finalize(st);
	sqlite3_finalize(fk);
	return n;
}

/* ------------------------------------------------------------------ */
/* One run                                                             */
/* ------------------------------------------------------------------ */

struct run {
	const char *merchant;
	struct sandbox *sb;
};

static struct sandbox *run_lookup(void *arg, const char *merchant)
{
	struct run *r = arg;

	return strcmp(merchant, r->merchant) == 0 ? r->sb : NULL;
}

/* What a merchant would look at, as lines that do not depend on row ids
 * or times: the order's statuses and history, each event's outcome, the
 * effects (payments with their amounts, notifications, webhooks, calls)
 * and the timers set. */
static int collect(struct db *db, const char *merchant, const struct target *t,
    struct lines *out)
{
	sqlite3 *h = db_handle(db);
	sqlite3_stmt *st = NULL;
	int64_t oid = -1;
	int rc = -1;

#define PREP(sql) do { sqlite3_finalize(st); st = NULL; \
	if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK) goto out; } while (0)

	PREP("SELECT id, status, payment_status, fulfillment_status, total, currency FROM orders"
	    " WHERE merchant = ? AND channel = ? AND external_id = ?");
	sqlite3_bind_text(st, 1, merchant, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, t->channel, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, t->external_id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		oid = sqlite3_column_int64(st, 0);
		add_line(out, "order: status %s, payment %s, fulfillment %s, total %lld %s",
		    col(st, 1), col(st, 2), col(st, 3), (long long)sqlite3_column_int64(st, 4),
		    col(st, 5));
	} else {
		add_line(out, "order: not created");
	}

	PREP("SELECT kind, COALESCE(from_value, ''), COALESCE(to_value, ''), COALESCE(message, '')"
	    " FROM order_history WHERE order_id = ? AND kind <> 'created' ORDER BY id");
	sqlite3_bind_int64(st, 1, oid);
	while (sqlite3_step(st) == SQLITE_ROW)
		add_line(out, "history: %s%s%s%s%s%s%s", col(st, 0), col(st, 1)[0] || col(st, 2)[0] ?
		    " " : "", col(st, 1), col(st, 1)[0] ? " -> " : "", col(st, 2),
		    col(st, 3)[0] ? ": " : "", col(st, 3));

	PREP("SELECT topic, COALESCE(event_name, ''), status, COALESCE(last_error, '')"
	    " FROM inbox WHERE merchant = ? AND (id IN (SELECT id FROM replay_events)"
	    " OR (order_key = ? AND id > (SELECT MAX(id) FROM replay_events))) ORDER BY id");
	sqlite3_bind_text(st, 1, merchant, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, t->key, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *status = col(st, 2);

		add_line(out, "event %s%s%s: %s%s%s", col(st, 0), col(st, 1)[0] &&
		    strcmp(col(st, 0), col(st, 1)) != 0 ? " as " : "",
		    strcmp(col(st, 0), col(st, 1)) != 0 ? col(st, 1) : "",
		    strcmp(status, "done") == 0 ? "handled" : strcmp(status, "dead") == 0 ?
		    "failed" : "not run", col(st, 3)[0] ? ": " : "", col(st, 3));
	}

	PREP("SELECT e.kind, e.url, json_extract(e.meta, '$.op'), p.kind, p.amount, p.currency,"
	    " json_extract(e.meta, '$.template'), json_extract(e.meta, '$.to'),"
	    " json_extract(e.meta, '$.topic')"
	    " FROM effects e LEFT JOIN payments p ON p.id = e.payment_id"
	    " WHERE e.merchant = ? AND (e.order_id = ? OR (e.order_id IS NULL AND e.order_key = ?))"
	    " ORDER BY e.id");
	sqlite3_bind_text(st, 1, merchant, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, oid);
	sqlite3_bind_text(st, 3, t->key, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *kind = col(st, 0);

		if (strcmp(kind, "payment") == 0)
			add_line(out, "effect: payment %s %lld %s (%s)", col(st, 2),
			    (long long)sqlite3_column_int64(st, 4), col(st, 5), col(st, 1));
		else if (strcmp(kind, "notify") == 0)
			add_line(out, "notification: %s to %s", col(st, 6), col(st, 7));
		else if (strcmp(kind, "webhook") == 0)
			add_line(out, "effect: webhook %s to %s", col(st, 8), col(st, 1));
		else
			add_line(out, "effect: %s %s", kind, col(st, 1));
	}

	PREP("SELECT event, key FROM timers WHERE merchant = ? AND order_key = ? ORDER BY id");
	sqlite3_bind_text(st, 1, merchant, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, t->key, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW)
		add_line(out, "timer: %s (%s)", col(st, 0), col(st, 1));
	rc = 0;
#undef PREP
out:
	sqlite3_finalize(st);
	return rc;
}

/* Copy `from` to a new scratch file, replay the order there with the
 * workflow of `m`, and describe the outcome. @return 0 or -1. */
static int run_one(const struct ordo_config *cfg, const struct merchant_config *m,
    sqlite3 *from, const struct target *t, struct lines *out, char *version, int *events,
    FILE *err)
{
	char path[4096], *msg = NULL;
	struct db *db = NULL;
	struct event_base *base = NULL;
	struct dispatch *d = NULL;
	struct dispatch_config dc = { .max_attempts = 1, .retry_base_ms = 1, .retry_max_ms = 1 };
	struct sandbox_env env = {
		.merchant = m, .scripts_dir = cfg->server.scripts_dir, .modules = server_modules,
		.translators = server_translators,
	};
	struct run r = { .merchant = m->id };
	int rc = -1, batches = 0, ran;

	if (make_scratch(path, sizeof path) != 0) {
		fprintf(err, "ordo: cannot create a scratch file: %s\n", strerror(errno));
		return -1;
	}
	if (backup(from, path, err) != 0)
		goto out;
	if ((db = db_open(path, 0, &msg)) == NULL) {
		fprintf(err, "ordo: cannot open the scratch copy: %s\n", msg ? msg : "?");
		goto out;
	}
	if ((*events = prepare(db, m->id, t, err)) < 0)
		goto out;
	env.db = db;
	if ((r.sb = sandbox_new(&env, &msg)) == NULL) {
		fprintf(err, "ordo: %s\n", msg ? msg : "the workflow does not load");
		goto out;
	}
	snprintf(version, 13, "%s", sandbox_version(r.sb));
	if ((base = event_base_new()) == NULL ||
	    (d = dispatch_new(base, db, &dc, run_lookup, &r)) == NULL) {
		fprintf(err, "ordo: out of memory\n");
		goto out;
	}
	orders_set_observer(notify_order_changed, (void *)cfg);
	/* Events the handlers raise (a shipment's, an allocation's) run too. */
	while ((ran = dispatch_run_once(d)) > 0 && ++batches < MAX_BATCHES)
		;
	orders_set_observer(NULL, NULL);
	if (ran < 0) {
		fprintf(err, "ordo: the replay failed: %s\n", db_errmsg(db));
		goto out;
	}
	if (collect(db, m->id, t, out) != 0) {
		fprintf(err, "ordo: cannot read the replay's outcome: %s\n", db_errmsg(db));
		goto out;
	}
	rc = 0;
out:
	free(msg);
	dispatch_free(d);
	sandbox_free(r.sb);
	if (base != NULL)
		event_base_free(base);
	db_close(db);
	remove_scratch(path);
	return rc;
}

/* ------------------------------------------------------------------ */
/* The difference                                                      */
/* ------------------------------------------------------------------ */

/* A line diff (longest common subsequence; outcomes are short). */
static int print_diff(const struct lines *a, const struct lines *b, FILE *out)
{
	size_t n = a->n, m = b->n, i, j;
	unsigned *L = calloc((n + 1) * (m + 1), sizeof *L);
	int differ = 0;

	if (L == NULL)
		return -1;
#define AT(x, y) L[(x) * (m + 1) + (y)]
	for (i = n; i-- > 0;)
		for (j = m; j-- > 0;)
			AT(i, j) = strcmp(a->v[i], b->v[j]) == 0 ? AT(i + 1, j + 1) + 1 :
			    AT(i + 1, j) > AT(i, j + 1) ? AT(i + 1, j) : AT(i, j + 1);
	for (i = 0, j = 0; i < n || j < m;) {
		if (i < n && j < m && strcmp(a->v[i], b->v[j]) == 0) {
			fprintf(out, "  %s\n", a->v[i]);
			i++, j++;
		} else if (i < n && (j == m || AT(i + 1, j) >= AT(i, j + 1))) {
			fprintf(out, "- %s\n", a->v[i++]);
			differ = 1;
		} else {
			fprintf(out, "+ %s\n", b->v[j++]);
			differ = 1;
		}
	}
#undef AT
	free(L);
	return differ;
}

int replay_order(const struct ordo_config *cfg, const struct merchant_config *m,
    const char *db_path, const char *order, const char *new_workflow, FILE *out, FILE *err)
{
	struct merchant_config changed = *m;
	struct lines cur = { 0 }, next = { 0 };
	struct target t = { 0 };
	sqlite3 *src = NULL;
	char scratch[4096] = "", vcur[13] = "", vnew[13] = "", *real = NULL;
	int rc = 2, events = 0, differ;

	if ((real = realpath(new_workflow, NULL)) == NULL) {
		fprintf(err, "ordo: %s: %s\n", new_workflow, strerror(errno));
		return 2;
	}
	changed.workflow = real;
	if (sqlite3_open_v2(db_path, &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		fprintf(err, "ordo: cannot open %s: %s\n", db_path, sqlite3_errmsg(src));
		goto out;
	}
	if (find_order(src, m->id, order, &t, err) != 0)
		goto out;
	/* One consistent snapshot of the original, which both runs copy. */
	if (make_scratch(scratch, sizeof scratch) != 0 || backup(src, scratch, err) != 0) {
		fprintf(err, "ordo: cannot copy the database\n");
		goto out;
	}
	sqlite3_close(src);
	src = NULL;
	if (sqlite3_open_v2(scratch, &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		goto out;
	if (run_one(cfg, m, src, &t, &cur, vcur, &events, err) != 0 ||
	    run_one(cfg, &changed, src, &t, &next, vnew, &events, err) != 0)
		goto out;
	fprintf(out, "order %" PRId64 " (%s), %d recorded event%s replayed\n"
	    "  current: %s (version %s)\n  new:     %s (version %s)\n\n",
	    t.id, t.key, events, events == 1 ? "" : "s", m->workflow, vcur, real, vnew);
	if ((differ = print_diff(&cur, &next, out)) < 0) {
		fprintf(err, "ordo: out of memory\n");
		goto out;
	}
	if (!differ)
		fprintf(out, "\nno difference\n");
	rc = differ ? 1 : 0;
out:
	if (src != NULL)
		sqlite3_close(src);
	remove_scratch(scratch);
	lines_free(&cur);
	lines_free(&next);
	free(real);
	return rc;
}
