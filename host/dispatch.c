/*
 * dispatch — the path from a committed inbox row to a merchant's handler.
 *
 * Depends on db, sandbox, clock, log, metrics and libevent. Reads a batch of
 * ready rows into memory first (the connection is shared with the handlers'
 * own statements), then runs them one savepoint each inside one
 * transaction, and commits once. Must never run an event whose order has
 * an earlier event still pending, and never leave a transaction open when
 * it returns to the loop.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "ordo/clock.h"
#include "ordo/crypto.h"
#include "ordo/db.h"
#include "ordo/dispatch.h"
#include "ordo/jsonscan.h"
#include "ordo/log.h"
#include "ordo/luajson.h"
#include "ordo/metrics.h"
#include "ordo/sandbox.h"

/* Handlers' share of the loop while deliveries arrive: a slice of
 * cfg.slice_ms, then YIELD_MS for I/O. "Arriving" means one came within
 * BUSY_WINDOW_MS. When none is arriving, slices of at least IDLE_SLICE_MS:
 * more events a COMMIT (a backlog drains ~18% faster than in 2 ms slices),
 * and the first delivery to come waits for at most one of them. */
#define YIELD_MS 10
#define BUSY_WINDOW_MS 50
#define IDLE_SLICE_MS 10

struct row {
	int64_t id;
	char *merchant, *source, *channel, *topic, *order_key;
	int attempts;
	int64_t received_at;
};

struct dispatch {
	struct db *db;
	struct dispatch_config cfg;
	dispatch_lookup_fn lookup;
	void *lookup_arg;
	struct event *next_ev;  /* timer: the next batch */
	struct event *wake_ev;  /* timer: the next backoff falls due */
	int64_t last_ingress;   /* clock_mono_ms of the latest delivery */
	void (*on_commit)(void *);
	void *on_commit_arg;
};

static void run_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	dispatch_run_once(arg);
}

struct dispatch *dispatch_new(struct event_base *base, struct db *db,
    const struct dispatch_config *cfg, dispatch_lookup_fn lookup, void *arg)
{
	struct dispatch *d = calloc(1, sizeof *d);

	if (d == NULL)
		return NULL;
	d->db = db;
	d->cfg = *cfg;
	if (d->cfg.batch_size <= 0)
		d->cfg.batch_size = 64;
	if (d->cfg.slice_ms <= 0)
		d->cfg.slice_ms = 2;
	if (d->cfg.max_attempts <= 0)
		d->cfg.max_attempts = 8;
	d->lookup = lookup;
	d->lookup_arg = arg;
	d->next_ev = evtimer_new(base, run_cb, d);
	d->wake_ev = evtimer_new(base, run_cb, d);
	if (d->next_ev == NULL || d->wake_ev == NULL) {
		dispatch_free(d);
		return NULL;
	}
	return d;
}

void dispatch_free(struct dispatch *d)
{
	if (d == NULL)
		return;
	if (d->next_ev)
		event_free(d->next_ev);
	if (d->wake_ev)
		event_free(d->wake_ev);
	free(d);
}

/* Did a delivery arrive within BUSY_WINDOW_MS? */
static int ingress_busy(const struct dispatch *d)
{
	return clock_mono_ms() - d->last_ingress < BUSY_WINDOW_MS;
}

/*
 * Schedule the next batch. Never event_active: libevent runs a queue until
 * it is empty, so a batch that re-activated itself would drain the whole
 * backlog before the loop polled again. A timer fires only after the next
 * poll. While deliveries are arriving, handlers yield YIELD_MS of loop time
 * after each slice, so acknowledging a delivery (a few loop turns: commit,
 * write, read the next) is not queued behind handler slices; when ingress
 * is quiet, batches run back to back.
 */
static void schedule(struct dispatch *d)
{
	struct timeval tv = { 0, 0 };

	if (ingress_busy(d))
		tv.tv_usec = YIELD_MS * 1000;
	evtimer_add(d->next_ev, &tv);
}

void dispatch_on_commit(struct dispatch *d, void (*fn)(void *arg), void *arg)
{
	d->on_commit = fn;
	d->on_commit_arg = arg;
}

void dispatch_kick(struct dispatch *d)
{
	if (!evtimer_pending(d->next_ev, NULL))
		schedule(d);
}

void dispatch_note_ingress(struct dispatch *d)
{
	d->last_ingress = clock_mono_ms();
}

int64_t dispatch_backoff_ms(const struct dispatch_config *cfg, int attempt, uint32_t rnd)
{
	int64_t delay = cfg->retry_base_ms > 0 ? cfg->retry_base_ms : 1;

	for (int i = 1; i < attempt && delay < cfg->retry_max_ms; i++)
		delay *= 2;
	if (delay > cfg->retry_max_ms)
		delay = cfg->retry_max_ms;
	/* Jitter into [delay/2, delay]: retries of a burst spread out. */
	return delay / 2 + (int64_t)(rnd % (uint32_t)(delay / 2 + 1));
}

static char *dup_col(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t ? strdup((const char *)t) : NULL;
}

static void free_row(struct row *r)
{
	free(r->merchant);
	free(r->source);
	free(r->channel);
	free(r->topic);
	free(r->order_key);
}

static void free_rows(struct row *rows, int n)
{
	for (int i = 0; i < n; i++)
		free_row(&rows[i]);
	free(rows);
}

/* What load_batch and next_of_order read of an event, in read_row's order. */
#define ROW_COLUMNS "id, merchant, source, channel, topic, order_key, attempts, received_at"

static void read_row(sqlite3_stmt *st, struct row *r)
{
	r->id = sqlite3_column_int64(st, 0);
	r->merchant = dup_col(st, 1);
	r->source = dup_col(st, 2);
	r->channel = dup_col(st, 3);
	r->topic = dup_col(st, 4);
	r->order_key = dup_col(st, 5);
	r->attempts = sqlite3_column_int(st, 6);
	r->received_at = sqlite3_column_int64(st, 7);
}

/* Ready events, oldest first, none blocked by an earlier pending event of
 * the same order. The check names its index: inbox_order (same columns,
 * every status) looks as good to the planner, but it walks the key's whole
 * history, and a supplier's deliveries share one key forever. */
static int load_batch(struct dispatch *d, int64_t now, struct row **out)
{
	sqlite3_stmt *st = db_prepare(d->db,
	    "SELECT " ROW_COLUMNS
	    " FROM inbox e WHERE status = 'pending' AND available_at <= ?1"
	    "  AND (order_key IS NULL OR NOT EXISTS (SELECT 1 FROM inbox p"
	    "    INDEXED BY inbox_pending_order"
	    "    WHERE p.status = 'pending' AND p.merchant = e.merchant"
	    "      AND p.order_key = e.order_key AND p.id < e.id))"
	    " ORDER BY id LIMIT ?2");
	struct row *rows;
	int n = 0, rc = SQLITE_DONE;

	*out = NULL;
	if (st == NULL)
		return -1;
	rows = calloc((size_t)d->cfg.batch_size, sizeof *rows);
	if (rows == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int(st, 2, d->cfg.batch_size);
	while (n < d->cfg.batch_size && (rc = sqlite3_step(st)) == SQLITE_ROW)
		read_row(st, &rows[n++]);
	db_reset(st);
	if (n < d->cfg.batch_size && rc != SQLITE_DONE) {
		log_error("dispatcher cannot read the inbox", "error", db_errmsg(d->db), NULL);
		free_rows(rows, n);
		return -1;
	}
	*out = rows;
	return n;
}

/*
 * The event of `head`'s order that comes after event `after`, if it is
 * ready: it may run next in this batch, as `after` has just finished. So a
 * burst on one order (a supplier's deliveries share one key) drains in
 * batches, not one event a batch. @return 1 (*next filled), 0 (none, or
 * not ready), -1 on a database error.
 */
static int next_of_order(struct dispatch *d, const struct row *head, int64_t after,
    int64_t now, struct row *next)
{
	sqlite3_stmt *st = db_prepare(d->db,
	    "SELECT " ROW_COLUMNS ", available_at FROM inbox INDEXED BY inbox_pending_order"
	    " WHERE status = 'pending' AND merchant = ? AND order_key = ? AND id > ?"
	    " ORDER BY id LIMIT 1");
	int rc, found = 0;

	if (st == NULL)
		return -1;
	db_bind_text(st, 1, head->merchant);
	db_bind_text(st, 2, head->order_key);
	sqlite3_bind_int64(st, 3, after);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_int64(st, 8) <= now) {
		read_row(st, next);
		found = 1;
	}
	db_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? found : -1;
}

static int mark_done(struct dispatch *d, const struct row *r, const char *name,
    const char *version, int64_t now)
{
	sqlite3_stmt *st = db_prepare(d->db,
	    "UPDATE inbox SET status = 'done', attempts = attempts + 1, done_at = ?,"
	    " event_name = ?, script_version = ?, last_error = NULL WHERE id = ?");

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, now);
	db_bind_text(st, 2, name);
	db_bind_text(st, 3, version);
	sqlite3_bind_int64(st, 4, r->id);
	return db_step_done(st);
}

static int mark_failed(struct dispatch *d, const struct row *r, const char *name,
    const char *error, int dead, int64_t now)
{
	sqlite3_stmt *st;
	uint32_t rnd = 0;
	int attempts = r->attempts + 1;

	if (dead) {
		st = db_prepare(d->db, "UPDATE inbox SET status = 'dead', attempts = ?, done_at = ?,"
		    " event_name = ?, last_error = ? WHERE id = ?");
		if (st == NULL)
			return -1;
		sqlite3_bind_int(st, 1, attempts);
		sqlite3_bind_int64(st, 2, now);
		db_bind_text(st, 3, name);
		db_bind_text(st, 4, error);
		sqlite3_bind_int64(st, 5, r->id);
		if (db_step_done(st) != 0)
			return -1;
		st = db_prepare(d->db, "INSERT INTO dead_letters (merchant, event_id, error, attempts,"
		    " created_at) VALUES (?, ?, ?, ?, ?)");
		if (st == NULL)
			return -1;
		db_bind_text(st, 1, r->merchant);
		sqlite3_bind_int64(st, 2, r->id);
		db_bind_text(st, 3, error);
		sqlite3_bind_int(st, 4, attempts);
		sqlite3_bind_int64(st, 5, now);
		return db_step_done(st);
	}
	crypto_random(&rnd, sizeof rnd);
	st = db_prepare(d->db, "UPDATE inbox SET attempts = ?, available_at = ?, event_name = ?,"
	    " last_error = ? WHERE id = ?");
	if (st == NULL)
		return -1;
	sqlite3_bind_int(st, 1, attempts);
	sqlite3_bind_int64(st, 2, now + dispatch_backoff_ms(&d->cfg, attempts, rnd));
	db_bind_text(st, 3, name);
	db_bind_text(st, 4, error);
	sqlite3_bind_int64(st, 5, r->id);
	return db_step_done(st);
}

/* The stored payload, parsed: read only when the event runs, because a
 * batch is usually cut short by its time slice. simdjson parses it (kept in
 * *doc) unless jsonscan is unsure; then jansson (in *json). @return 0, or
 * -1 with jerr->text saying why. */
static int load_payload(struct dispatch *d, int64_t id, const struct jsonscan_doc **doc,
    json_t **json, json_error_t *jerr)
{
	sqlite3_stmt *st = db_prepare(d->db, "SELECT payload FROM inbox WHERE id = ?");
	const char *text;
	size_t len;

	*doc = NULL;
	*json = NULL;
	snprintf(jerr->text, sizeof jerr->text, "cannot read it");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		text = sqlite3_column_blob(st, 0);
		len = (size_t)sqlite3_column_bytes(st, 0);
		if ((*doc = jsonscan_load(text, len, LUAJSON_MAX_DEPTH)) == NULL)
			*json = json_loadb(text, len, JSON_DECODE_ANY, jerr);
	}
	db_reset(st);
	return *doc != NULL || *json != NULL ? 0 : -1;
}

/* Outcome of one event for the batch's bookkeeping. */
enum outcome { OUT_DONE, OUT_RETRY, OUT_DEAD, OUT_ABORT };

static enum outcome process(struct dispatch *d, const struct row *r)
{
	struct sandbox *sb = d->lookup(d->lookup_arg, r->merchant);
	char *name = NULL, *err = NULL, labels[160];
	json_error_t jerr;
	json_t *payload = NULL;
	const struct jsonscan_doc *doc = NULL;
	int64_t start = clock_mono_us(), now;
	enum outcome out;
	int rc, dead;

	/* SQLite rolls back the whole transaction on some errors (SQLITE_FULL,
	 * IOERR, NOMEM). Then a savepoint would silently start a transaction of
	 * its own and commit this event apart from its bookkeeping: abort. */
	if (!db_in_transaction(d->db) || db_savepoint(d->db) != 0)
		return OUT_ABORT;
	if (sb == NULL) {
		rc = SB_ERROR;
		if (asprintf(&err, "merchant \"%s\" is not in the configuration", r->merchant) < 0)
			err = NULL;
	} else if (load_payload(d, r->id, &doc, &payload, &jerr) != 0) {
		rc = SB_LIMIT; /* a stored payload that does not parse will never parse */
		if (asprintf(&err, "stored payload is not JSON: %s", jerr.text) < 0)
			err = NULL;
	} else {
		struct sandbox_event ev = {
			.id = r->id, .source = r->source, .channel = r->channel,
			.topic = r->topic, .order_key = r->order_key, .payload = payload, .doc = doc,
			.attempt = r->attempts + 1,
			.received_at = r->received_at,
		};
		rc = sandbox_handle(sb, &ev, &name, &err);
	}
	now = clock_now_ms();
	snprintf(labels, sizeof labels, "merchant=\"%s\"", r->merchant);
	metrics_observe("ordo_handler_seconds", labels, (double)(clock_mono_us() - start) / 1e6);

	if (!db_in_transaction(d->db)) {
		out = OUT_ABORT;
	} else if (rc >= 0) {
		if (db_release(d->db) != 0 ||
		    mark_done(d, r, name, sb ? sandbox_version(sb) : NULL, now) != 0)
			out = OUT_ABORT;
		else
			out = OUT_DONE;
		metrics_inc("ordo_events_processed_total", labels, 1);
	} else {
		db_rollback_savepoint(d->db);
		dead = rc == SB_LIMIT || r->attempts + 1 >= d->cfg.max_attempts;
		log_warn(dead ? "event dead-lettered" : "event failed; will retry",
		    "merchant", r->merchant, "event", name ? name : r->topic,
		    "error", err ? err : "unknown error", NULL);
		if (mark_failed(d, r, name, err ? err : "unknown error", dead, now) != 0)
			out = OUT_ABORT;
		else
			out = dead ? OUT_DEAD : OUT_RETRY;
		metrics_inc("ordo_events_failed_total", labels, 1);
		if (dead)
			metrics_inc("ordo_events_dead_lettered_total", labels, 1);
	}
	json_decref(payload);
	free(name);
	free(err);
	return out;
}

/* A batch that held the loop long delays every acknowledgement: say so. */
static void slow_warning(const char *what, int64_t start, int64_t commit_start, int events)
{
	int64_t now = clock_mono_ms();
	char total[24], commit[24], n[16];

	if (now - start < 100)
		return;
	snprintf(total, sizeof total, "%lld", (long long)(now - start));
	snprintf(commit, sizeof commit, "%lld", (long long)(now - commit_start));
	snprintf(n, sizeof n, "%d", events);
	log_warn("slow batch", "what", what, "ms", total, "commit_ms", commit, "events", n, NULL);
}

/* Something failed: look again in a second rather than wait for the next
 * delivery to kick us. */
static void retry_later(struct dispatch *d)
{
	struct timeval tv = { 1, 0 };

	evtimer_add(d->wake_ev, &tv);
}

/*
 * Nothing is ready: arm the wake timer for the earliest event due in the
 * future. Only the future counts: an event that is due but waits behind an
 * earlier event of its order becomes ready when that one runs, and that
 * run schedules another batch; counting it here would arm a 0 ms timer
 * that finds nothing, forever.
 */
static void arm_wake(struct dispatch *d, int64_t now)
{
	sqlite3_stmt *st = db_prepare(d->db, "SELECT MIN(available_at) FROM inbox"
	    " WHERE status = 'pending' AND available_at > ?");
	int64_t next = -1;
	int rc;

	if (st == NULL) {
		retry_later(d);
		return;
	}
	sqlite3_bind_int64(st, 1, now);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		next = sqlite3_column_int64(st, 0);
	db_reset(st);
	if (rc != SQLITE_ROW) {
		retry_later(d);
		return;
	}
	if (next < 0)
		return;
	int64_t ms = next - now;
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	evtimer_add(d->wake_ev, &tv);
}

int dispatch_run_once(struct dispatch *d)
{
	struct row *rows = NULL;
	int n, i, finished = 0, ran = 0, abort = 0;
	int64_t now = clock_now_ms(), start = clock_mono_ms(), slice;

	n = load_batch(d, now, &rows);
	if (n <= 0) {
		free_rows(rows, 0);
		if (n == 0)
			arm_wake(d, now);
		else
			retry_later(d);
		return n;
	}
	/* An order's events run one at a time, in order: load_batch takes
	 * only the first pending event of each order, and once that one is
	 * done the next ready one of its order may follow it here. */
	if (db_begin(d->db) != 0) {
		log_error("dispatcher cannot begin a transaction", "error", db_errmsg(d->db), NULL);
		abort = 1;
		goto out;
	}
	slice = ingress_busy(d) || d->cfg.slice_ms > IDLE_SLICE_MS ? d->cfg.slice_ms : IDLE_SLICE_MS;
	for (i = 0; i < n; i++) {
		enum outcome o;

		if (ran > 0 && clock_mono_ms() - start > slice)
			break; /* keep the loop responsive; the rest runs next turn */
		o = process(d, &rows[i]);
		ran++;
		if (o == OUT_ABORT) {
			abort = 1;
			break;
		}
		if (o != OUT_RETRY)
			finished++;
		for (int64_t after = rows[i].id; o == OUT_DONE && rows[i].order_key != NULL &&
		    clock_mono_ms() - start <= slice;) {
			struct row next = { 0 };
			int k = next_of_order(d, &rows[i], after, now, &next);

			if (k < 0) {
				log_error("dispatcher cannot read the inbox", "error", db_errmsg(d->db),
				    NULL);
				abort = 1;
			}
			if (k <= 0)
				break;
			o = process(d, &next);
			ran++;
			after = next.id;
			free_row(&next);
			if (o == OUT_ABORT)
				abort = 1;
			else if (o != OUT_RETRY)
				finished++;
		}
		if (abort)
			break;
	}
	int64_t commit_start = clock_mono_ms();

	if (abort || db_commit(d->db) != 0) {
		log_error("dispatcher batch rolled back; retrying", "error", db_errmsg(d->db), NULL);
		db_rollback(d->db);
		abort = 1;
	}
	slow_warning("dispatcher batch", start, commit_start, ran);
	if (!abort && d->on_commit != NULL)
		d->on_commit(d->on_commit_arg);
out:
	free_rows(rows, n);
	if (abort) {
		retry_later(d);
		return -1;
	}
	/* Look again: rows past this batch, and events that waited behind the
	 * ones just finished, may be ready. A run that finds none arms the
	 * wake timer. */
	schedule(d);
	return finished;
}

json_t *dispatch_dead_letters(struct db *db, const char *merchant, int limit)
{
	sqlite3_stmt *st = db_prepare(db,
	    "SELECT d.id, d.event_id, i.channel, i.topic, i.event_name, d.error, d.attempts,"
	    " d.created_at, i.received_at FROM dead_letters d JOIN inbox i ON i.id = d.event_id"
	    " WHERE d.merchant = ? AND d.retried_at IS NULL ORDER BY d.id DESC LIMIT ?");
	json_t *arr, *out;
	char ts[32];
	int rc;

	if (st == NULL)
		return NULL;
	db_bind_text(st, 1, merchant);
	sqlite3_bind_int(st, 2, limit);
	arr = json_array();
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *o = json_object();
		const char *s;

		json_object_set_new(o, "id", json_integer(sqlite3_column_int64(st, 0)));
		json_object_set_new(o, "event_id", json_integer(sqlite3_column_int64(st, 1)));
		s = (const char *)sqlite3_column_text(st, 2);
		json_object_set_new(o, "channel", s ? json_string(s) : json_null());
		json_object_set_new(o, "topic", json_string((const char *)sqlite3_column_text(st, 3)));
		s = (const char *)sqlite3_column_text(st, 4);
		json_object_set_new(o, "event", s ? json_string(s) : json_null());
		json_object_set_new(o, "error", db_column_json(st, 5));
		json_object_set_new(o, "attempts", json_integer(sqlite3_column_int(st, 6)));
		clock_format_iso(sqlite3_column_int64(st, 7), ts);
		json_object_set_new(o, "created_at", json_string(ts));
		clock_format_iso(sqlite3_column_int64(st, 8), ts);
		json_object_set_new(o, "received_at", json_string(ts));
		json_array_append_new(arr, o);
	}
	db_reset(st);
	if (rc != SQLITE_DONE) {
		json_decref(arr);
		return NULL;
	}
	out = json_object();
	json_object_set_new(out, "dead_letters", arr);
	return out;
}

int dispatch_retry_dead_letter(struct db *db, const char *merchant,
    int64_t dead_letter_id, int64_t *event_id)
{
	sqlite3_stmt *st;
	int64_t now = clock_now_ms();
	int rc;

	*event_id = 0;
	if (db_begin(db) != 0)
		return -1;
	st = db_prepare(db, "SELECT event_id FROM dead_letters"
	    " WHERE id = ? AND merchant = ? AND retried_at IS NULL");
	if (st == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, dead_letter_id);
	db_bind_text(st, 2, merchant);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*event_id = sqlite3_column_int64(st, 0);
	db_reset(st);
	if (rc == SQLITE_DONE) {
		db_rollback(db);
		return 1;
	}
	if (rc != SQLITE_ROW)
		goto fail;
	st = db_prepare(db, "UPDATE dead_letters SET retried_at = ? WHERE id = ?");
	if (st == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, dead_letter_id);
	if (db_step_done(st) != 0)
		goto fail;
	st = db_prepare(db, "UPDATE inbox SET status = 'pending', attempts = 0, available_at = ?,"
	    " last_error = NULL, done_at = NULL WHERE id = ? AND status = 'dead'");
	if (st == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, *event_id);
	if (db_step_done(st) != 0 || db_commit(db) != 0)
		goto fail;
	return 0;
fail:
	db_rollback(db);
	return -1;
}
