/*
 * events — inbox rows as JSON for the API (see events.h).
 *
 * Depends on db and clock. Reads only; the payload is not shown (it can
 * be large, and the order itself says what it held).
 */
#include <sqlite3.h>

#include "ordo/clock.h"
#include "ordo/db.h"
#include "ordo/events.h"

#define EVENT_COLUMNS "i.id, i.source, i.channel, i.topic, i.event_name, i.status," \
	" i.attempts, i.received_at, i.done_at, i.last_error, i.script_version"


static json_t *event_row(sqlite3_stmt *st)
{
	json_t *e = json_object();

	json_object_set_new(e, "id", json_integer(sqlite3_column_int64(st, 0)));
	json_object_set_new(e, "source", db_column_json(st, 1));
	json_object_set_new(e, "channel", db_column_json(st, 2));
	json_object_set_new(e, "topic", db_column_json(st, 3));
	json_object_set_new(e, "event", db_column_json(st, 4));
	json_object_set_new(e, "status", db_column_json(st, 5));
	json_object_set_new(e, "attempts", json_integer(sqlite3_column_int64(st, 6)));
	json_object_set_new(e, "received_at", db_column_time(st, 7));
	json_object_set_new(e, "done_at", db_column_time(st, 8));
	json_object_set_new(e, "error", db_column_json(st, 9));
	json_object_set_new(e, "script_version", db_column_json(st, 10));
	return e;
}

json_t *events_get(struct db *db, const char *merchant, int64_t id, int *db_error)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT " EVENT_COLUMNS " FROM inbox i"
	    " WHERE i.id = ? AND i.merchant = ?");
	json_t *e = NULL;
	int rc;

	*db_error = st == NULL;
	if (st == NULL)
		return NULL;
	sqlite3_bind_int64(st, 1, id);
	db_bind_text(st, 2, merchant);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		e = event_row(st);
	else
		*db_error = rc != SQLITE_DONE;
	db_reset(st);
	return e;
}

json_t *events_of_order(struct db *db, const char *merchant, int64_t order_id, int limit)
{
	/* The ids first, each from an index (the key from inbox_order, the
	 * others from the order's own rows), then the rows by primary key;
	 * the unary + keeps the planner off a scan of the merchant's inbox. */
	sqlite3_stmt *st = db_prepare(db, "SELECT " EVENT_COLUMNS " FROM inbox i WHERE i.id IN ("
	    "   SELECT id FROM inbox WHERE merchant = ?1 AND order_key ="
	    "     (SELECT channel || ':' || external_id FROM orders WHERE id = ?2 AND merchant = ?1)"
	    "   UNION SELECT event_id FROM order_history WHERE order_id = ?2"
	    "   UNION SELECT event_id FROM payments WHERE order_id = ?2"
	    "   UNION SELECT event_id FROM effects WHERE order_id = ?2)"
	    " AND +i.merchant = ?1 ORDER BY i.id LIMIT ?3");
	json_t *arr;
	int rc;

	if (st == NULL)
		return NULL;
	db_bind_text(st, 1, merchant);
	sqlite3_bind_int64(st, 2, order_id);
	sqlite3_bind_int(st, 3, limit);
	arr = json_array();
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(arr, event_row(st));
	db_reset(st);
	if (rc != SQLITE_DONE) {
		json_decref(arr);
		return NULL;
	}
	return arr;
}
