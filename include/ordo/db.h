/*
 * db — the one SQLite handle: pragmas, numbered migrations, a statement
 * cache, transactions and savepoints.
 *
 * All SQL in the host goes through here (domain modules prepare their
 * statements with db_prepare). The schema lives in migrations in db.c,
 * applied in order and recorded in PRAGMA user_version. SQL is kept
 * portable (ON CONFLICT ... DO NOTHING, RETURNING, no INSERT OR REPLACE) so
 * a PostgreSQL backend can slot in behind this interface.
 *
 * Single-threaded: the event loop is the only user, and at most one
 * transaction is open at a time, always opened and closed within one
 * callback.
 */
#ifndef ORDO_DB_H
#define ORDO_DB_H

#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>

struct db;

/*
 * Open (creating if needed) the database at `path` (":memory:" works), set
 * WAL and synchronous=FULL (durability_full) or NORMAL, and migrate.
 * @return the handle, or NULL with *err a malloc'd message the caller frees.
 */
struct db *db_open(const char *path, int durability_full, char **err);

/* Finalize cached statements and close. NULL is fine. */
void db_close(struct db *db);

/* This database's random instance id (12 hex digits, made by the first
 * migration that has it): prefixes idempotency keys sent outside, so a
 * new database never repeats a key a gateway still remembers. */
const char *db_instance(const struct db *db);

/* SQLite's data_version: it changes when another connection (another
 * process, such as the operator's command line) commits. -1 on error. */
int64_t db_data_version(struct db *db);

/* A text column as JSON: null for NULL, invalid UTF-8 shown as U+FFFD. */
struct json_t;
struct json_t *db_column_json(sqlite3_stmt *st, int col);
/* A column of UTC milliseconds as an ISO 8601 JSON string; null for NULL. */
struct json_t *db_column_time(sqlite3_stmt *st, int col);

/* The schema version after migrations. */
int db_schema_version(struct db *db);

/* SQLite's online backup of `from` into `to`, in steps (retrying while a
 * writer holds a lock), telling `progress` (may be NULL) pages done and
 * the total. @return SQLITE_OK or the SQLite error code. */
int db_copy(sqlite3 *from, sqlite3 *to, void (*progress)(void *arg, int done, int total),
    void *arg);

/*
 * Copy the database at `src` to `dst` with SQLite's online backup, while a
 * daemon may be writing to it: a consistent snapshot, written to a
 * temporary file beside `dst`, checked (PRAGMA quick_check), synced and
 * renamed into place, so `dst` is either the whole copy or untouched. The
 * source is opened read-only and not migrated. `progress` (may be NULL)
 * is told pages done and the total after each step. Refuses an existing
 * `dst`. @return 0, or -1 with *err a malloc'd message the caller frees.
 */
int db_backup(const char *src, const char *dst,
    void (*progress)(void *arg, int done, int total), void *arg, char **err);

/*
 * A cached prepared statement for `sql`, reset and with bindings cleared.
 * `sql` must have static storage (it is the cache key). The caller steps it
 * and must db_reset() it on every path. @return NULL on a prepare error
 * (logged, and db_errmsg() tells).
 */
sqlite3_stmt *db_prepare(struct db *db, const char *sql);

/* Reset a statement from db_prepare (NULL is fine). */
void db_reset(sqlite3_stmt *st);

/* Run SQL that returns no rows. @return 0 or -1 (db_errmsg tells). */
int db_exec(struct db *db, const char *sql);

int db_begin(struct db *db);            /* BEGIN IMMEDIATE */
int db_commit(struct db *db);
void db_rollback(struct db *db);        /* safe if no transaction is open */
int db_in_transaction(struct db *db);

/*
 * Storage faults (disk full, read-only file, I/O error): a BEGIN, a
 * statement inside a transaction that was then rolled back, or a COMMIT
 * that failed with one marks the database faulted; the next COMMIT that
 * succeeds clears it. @return the extended SQLite code of the fault
 * (SQLITE_FULL, ...) or 0, with *msg (may be NULL) SQLite's words for it,
 * valid until the next call into db.
 */
int db_fault(struct db *db, const char **msg);

/* Commit one tiny write (meta 'write_probe') to find out whether a fault
 * has cleared. @return 0 when it committed (the fault is cleared), -1. */
int db_probe_write(struct db *db);

/* Savepoints around one event's handler. @return 0 or -1. */
int db_savepoint(struct db *db);
int db_release(struct db *db);
void db_rollback_savepoint(struct db *db); /* ROLLBACK TO + RELEASE */

const char *db_errmsg(struct db *db);
/* The last SQLite result code (e.g. SQLITE_FULL), for fault handling. */
int db_errcode(struct db *db);
sqlite3 *db_handle(struct db *db);

/* Helpers for binding text that may be NULL. */
int db_bind_text(sqlite3_stmt *st, int idx, const char *text);

/* Step a statement expecting SQLITE_DONE, then reset it. @return 0 or -1. */
int db_step_done(sqlite3_stmt *st);

/* Last inserted rowid / rows changed by the last statement. */
int64_t db_last_id(struct db *db);
int db_changes(struct db *db);

#endif
