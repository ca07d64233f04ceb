/*
 * inbox — durable ingestion and group commit.
 *
 * Depends on db, clock, log and libevent. Submissions are copied into a
 * queue; a flush event made active on the first submission runs after every
 * callback already ready in this loop turn, so everything that arrived
 * together shares one COMMIT. A full queue flushes at once. Must never tell
 * a submitter "stored" before the COMMIT returned.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "ordo/clock.h"
#include "ordo/db.h"
#include "ordo/inbox.h"
#include "ordo/log.h"

#define INBOX_BATCH_MAX 1024

struct queued {
	struct inbox_item item;
	char *buf;              /* one allocation holding every string */
	inbox_done_fn done;
	void *arg;
	int64_t id;
	int duplicate;
};

struct inbox {
	struct db *db;
	struct event *flush_ev;
	void (*committed)(void *);
	void *committed_arg;
	struct queued *q;
	size_t n, cap;
};

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	inbox_flush(arg);
}

struct inbox *inbox_new(struct event_base *base, struct db *db,
    void (*committed)(void *), void *committed_arg)
{
	struct inbox *ib = calloc(1, sizeof *ib);

	if (ib == NULL)
		return NULL;
	ib->db = db;
	ib->committed = committed;
	ib->committed_arg = committed_arg;
	ib->flush_ev = event_new(base, -1, 0, flush_cb, ib);
	if (ib->flush_ev == NULL) {
		free(ib);
		return NULL;
	}
	return ib;
}

void inbox_free(struct inbox *ib)
{
	if (ib == NULL)
		return;
	inbox_flush(ib);
	event_free(ib->flush_ev);
	free(ib->q);
	free(ib);
}

size_t inbox_queued(const struct inbox *ib)
{
	return ib->n;
}

static char *copy_into(char **p, const char *s, size_t len)
{
	char *start = *p;

	if (s == NULL)
		return NULL;
	memcpy(start, s, len);
	start[len] = '\0';
	*p += len + 1;
	return start;
}

#define SLEN(s) ((s) ? strlen(s) : 0)

int inbox_submit(struct inbox *ib, const struct inbox_item *item,
    inbox_done_fn done, void *arg)
{
	struct queued *e;
	size_t need;
	char *p;

	if (ib->n == ib->cap) {
		size_t cap = ib->cap ? ib->cap * 2 : 64;
		struct queued *q = realloc(ib->q, cap * sizeof *q);

		if (q == NULL)
			return -1;
		ib->q = q;
		ib->cap = cap;
	}
	need = SLEN(item->merchant) + SLEN(item->source) + SLEN(item->channel) +
	    SLEN(item->topic) + SLEN(item->dedup_key) + SLEN(item->order_key) +
	    item->payload_len + 7;
	e = &ib->q[ib->n];
	memset(e, 0, sizeof *e);
	if ((e->buf = malloc(need)) == NULL)
		return -1;
	p = e->buf;
	e->item.merchant = copy_into(&p, item->merchant, SLEN(item->merchant));
	e->item.source = copy_into(&p, item->source, SLEN(item->source));
	e->item.channel = copy_into(&p, item->channel, SLEN(item->channel));
	e->item.topic = copy_into(&p, item->topic, SLEN(item->topic));
	e->item.dedup_key = copy_into(&p, item->dedup_key, SLEN(item->dedup_key));
	e->item.order_key = copy_into(&p, item->order_key, SLEN(item->order_key));
	e->item.payload = copy_into(&p, item->payload, item->payload_len);
	e->item.payload_len = item->payload_len;
	e->done = done;
	e->arg = arg;
	ib->n++;
	if (ib->n >= INBOX_BATCH_MAX)
		inbox_flush(ib);
	else if (ib->n == 1)
		event_active(ib->flush_ev, EV_TIMEOUT, 0);
	return 0;
}

int64_t inbox_insert(struct db *db, const struct inbox_item *it,
    int64_t available_at, int *duplicate)
{
	/* No RETURNING: SQLite gathers RETURNING rows in a temporary b-tree
	 * per statement; the row count and the last rowid say the same. */
	sqlite3_stmt *st = db_prepare(db,
	    "INSERT INTO inbox (merchant, source, channel, topic, dedup_key, order_key,"
	    " payload, available_at, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
	    " ON CONFLICT (merchant, dedup_key) DO NOTHING");
	int64_t id = -1, now = clock_now_ms();
	int rc;

	*duplicate = 0;
	if (st == NULL)
		return -1;
	db_bind_text(st, 1, it->merchant);
	db_bind_text(st, 2, it->source);
	db_bind_text(st, 3, it->channel);
	db_bind_text(st, 4, it->topic);
	db_bind_text(st, 5, it->dedup_key);
	db_bind_text(st, 6, it->order_key);
	sqlite3_bind_text(st, 7, it->payload, (int)it->payload_len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, available_at > 0 ? available_at : now);
	sqlite3_bind_int64(st, 9, now);
	rc = sqlite3_step(st);
	db_reset(st);
	if (rc != SQLITE_DONE)
		return -1;
	if (db_changes(db) == 1)
		return db_last_id(db);
	if (it->dedup_key == NULL)
		return -1;

	/* Conflict: the delivery is already stored; report the first one. */
	st = db_prepare(db, "SELECT id FROM inbox WHERE merchant = ? AND dedup_key = ?");
	if (st == NULL)
		return -1;
	db_bind_text(st, 1, it->merchant);
	db_bind_text(st, 2, it->dedup_key);
	if (sqlite3_step(st) == SQLITE_ROW) {
		id = sqlite3_column_int64(st, 0);
		*duplicate = 1;
	}
	db_reset(st);
	return id;
}

void inbox_flush(struct inbox *ib)
{
	struct queued *batch = ib->q;
	size_t n = ib->n, i;
	int ok = 0, fresh = 0;

	if (n == 0)
		return;
	/* Take the batch: a done callback may submit again, into a new queue. */
	ib->q = NULL;
	ib->n = ib->cap = 0;
	event_del(ib->flush_ev);

	if (db_begin(ib->db) == 0) {
		ok = 1;
		for (i = 0; i < n && ok; i++) {
			batch[i].id = inbox_insert(ib->db, &batch[i].item, 0, &batch[i].duplicate);
			if (batch[i].id < 0)
				ok = 0;
			else if (!batch[i].duplicate)
				fresh = 1;
		}
		if (ok && db_commit(ib->db) != 0)
			ok = 0;
		if (!ok) {
			log_error("inbox commit failed; answering 503", "error", db_errmsg(ib->db), NULL);
			db_rollback(ib->db);
		}
	} else {
		log_error("inbox cannot begin a transaction", "error", db_errmsg(ib->db), NULL);
	}
	for (i = 0; i < n; i++) {
		batch[i].done(batch[i].arg, ok ? 0 : -1, batch[i].id, batch[i].duplicate);
		free(batch[i].buf);
	}
	free(batch);
	if (ok && fresh && ib->committed)
		ib->committed(ib->committed_arg);
}

int64_t inbox_depth(struct db *db)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT count(*) FROM inbox WHERE status = 'pending'");
	int64_t n = -1;

	if (st == NULL)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	db_reset(st);
	return n;
}
