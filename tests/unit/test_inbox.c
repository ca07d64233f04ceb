/*
 * test_inbox — group commit: everything submitted in one loop turn shares
 * one COMMIT (counted with SQLite's commit hook), duplicates are reported
 * with the first row's id, and a failing commit tells every submitter.
 */
#include <stdlib.h>

#include <event2/event.h>

#include "ordo/db.h"
#include "ordo/inbox.h"
#include "ordo/log.h"
#include "t.h"

static int commits;
static int kicks;

static int on_commit(void *arg)
{
	(void)arg;
	commits++;
	return 0;
}

static void on_kick(void *arg)
{
	(void)arg;
	kicks++;
}

struct answer {
	int called, status, duplicate;
	int64_t id;
};

static void done(void *arg, int status, int64_t id, int duplicate)
{
	struct answer *a = arg;

	a->called++;
	a->status = status;
	a->id = id;
	a->duplicate = duplicate;
}

static struct db *fresh(void)
{
	char *err = NULL;
	struct db *db;

	log_set_level(LOG_ERROR + 1);
	db = db_open(":memory:", 1, &err);
	if (db == NULL) {
		fprintf(stderr, "%s\n", err);
		exit(1);
	}
	sqlite3_commit_hook(db_handle(db), on_commit, NULL);
	return db;
}

static struct inbox_item item(const char *key)
{
	return (struct inbox_item){
		.merchant = "m1", .source = "webhook", .channel = "shopify",
		.topic = "orders/create", .dedup_key = key, .order_key = "shopify:1",
		.payload = "{\"id\":1}", .payload_len = 8,
	};
}

static void test_group_commit(void)
{
	struct event_base *base = event_base_new();
	struct db *db = fresh();
	struct inbox *ib = inbox_new(base, db, on_kick, NULL);
	struct answer a[50] = { 0 };
	char key[32];

	commits = kicks = 0;
	for (int i = 0; i < 50; i++) {
		snprintf(key, sizeof key, "k%d", i);
		struct inbox_item it = item(key);
		CHECK_INT(inbox_submit(ib, &it, done, &a[i]), 0);
	}
	CHECK_INT(inbox_queued(ib), 50);
	CHECK_INT(a[0].called, 0); /* nobody is answered before the commit */
	event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	CHECK_INT(commits, 1);
	CHECK_INT(kicks, 1);
	for (int i = 0; i < 50; i++) {
		CHECK_INT(a[i].called, 1);
		CHECK_INT(a[i].status, 0);
		CHECK_INT(a[i].duplicate, 0);
	}
	CHECK(a[49].id > a[0].id);
	CHECK_INT(inbox_depth(db), 50);
	inbox_free(ib);
	db_close(db);
	event_base_free(base);
}

static void test_duplicates(void)
{
	struct event_base *base = event_base_new();
	struct db *db = fresh();
	struct inbox *ib = inbox_new(base, db, on_kick, NULL);
	struct answer a = { 0 }, b = { 0 }, c = { 0 };
	struct inbox_item it = item("same");

	kicks = 0;
	inbox_submit(ib, &it, done, &a);
	inbox_submit(ib, &it, done, &b); /* same batch */
	event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	inbox_submit(ib, &it, done, &c); /* later batch */
	event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	CHECK_INT(a.duplicate, 0);
	CHECK_INT(b.duplicate, 1);
	CHECK_INT(c.duplicate, 1);
	CHECK_INT(b.id, a.id);
	CHECK_INT(c.id, a.id);
	CHECK_INT(inbox_depth(db), 1);
	CHECK_INT(kicks, 1); /* a batch of only duplicates wakes nobody */
	inbox_free(ib);
	db_close(db);
	event_base_free(base);
}

static void test_commit_failure(void)
{
	struct event_base *base = event_base_new();
	struct db *db = fresh();
	struct inbox *ib = inbox_new(base, db, on_kick, NULL);
	struct answer a = { 0 }, b = { 0 };
	struct inbox_item it = item("x");

	db_exec(db, "PRAGMA query_only = 1"); /* every write now fails */
	inbox_submit(ib, &it, done, &a);
	it.dedup_key = "y";
	inbox_submit(ib, &it, done, &b);
	event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	CHECK_INT(a.called, 1);
	CHECK_INT(a.status, -1);
	CHECK_INT(b.status, -1);
	db_exec(db, "PRAGMA query_only = 0");
	CHECK_INT(inbox_depth(db), 0);
	CHECK(!db_in_transaction(db));
	/* Recovered: the same delivery is stored on the next try. */
	inbox_submit(ib, &it, done, &b);
	event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	CHECK_INT(b.status, 0);
	CHECK_INT(inbox_depth(db), 1);
	inbox_free(ib);
	db_close(db);
	event_base_free(base);
}

/* The id each insert reports is its row's, whether or not it has a dedup
 * key, and a conflict leaves the last insert's id alone. */
static void test_ids(void)
{
	struct db *db = fresh();
	struct inbox_item keyed = item("k1"), unkeyed = item(NULL);
	sqlite3_stmt *st;
	int64_t a, b, c, d;
	int dup;

	CHECK_INT(db_begin(db), 0);
	a = inbox_insert(db, &keyed, 0, &dup);
	CHECK_INT(dup, 0);
	b = inbox_insert(db, &unkeyed, 0, &dup);
	CHECK_INT(dup, 0);
	c = inbox_insert(db, &keyed, 0, &dup);
	CHECK_INT(dup, 1);
	d = inbox_insert(db, &unkeyed, 0, &dup);
	CHECK_INT(dup, 0);
	CHECK_INT(db_commit(db), 0);
	CHECK(a > 0);
	CHECK_INT(c, a);
	CHECK(b > a && d > b);
	st = db_prepare(db, "SELECT group_concat(id) FROM (SELECT id FROM inbox ORDER BY id)");
	CHECK_INT(sqlite3_step(st), SQLITE_ROW);
	{
		char want[80];

		snprintf(want, sizeof want, "%lld,%lld,%lld", (long long)a, (long long)b,
		    (long long)d);
		CHECK_STR((const char *)sqlite3_column_text(st, 0), want);
	}
	db_reset(st);
	db_close(db);
}

/* Every index on the inbox costs each stored delivery an entry and a
 * page at commit: these four and no more. inbox_pending_order looks like
 * inbox_order for pending rows only, but it is what keeps the dispatcher's
 * "earlier pending event of this order?" check from walking a key's whole
 * history (test_dispatch's test_long_history_is_not_walked). */
static void test_indexes(void)
{
	struct db *db = fresh();
	sqlite3_stmt *st = db_prepare(db, "SELECT group_concat(name) FROM (SELECT name"
	    " FROM sqlite_master WHERE type = 'index' AND tbl_name = 'inbox' ORDER BY name)");

	CHECK_INT(sqlite3_step(st), SQLITE_ROW);
	CHECK_STR((const char *)sqlite3_column_text(st, 0), "inbox_dedup,inbox_order,inbox_pending,inbox_pending_order");
	db_reset(st);
	db_close(db);
}

T_MAIN(test_group_commit, test_duplicates, test_commit_failure, test_ids, test_indexes)
