/*
 * rawinbox — the second baseline for `make bench`: the durable part of
 * acknowledging a webhook, with nothing else. No HTTP, no signature, no
 * JSON: SQLite alone, inserting the bench's bodies into a table made from
 * ordo's own inbox schema (read from the database ordo just ran on, so it
 * cannot drift), with ordo's INSERT, in transactions of BATCH rows, WAL,
 * synchronous=FULL, ordo's page cache size (SQLite's default) and
 * checkpoint interval (500 pages), on the same disk.
 *
 * With C keep-alive connections a group commit holds at most C deliveries
 * (each connection waits for its answer), so BATCH = C is the best case
 * for acknowledging after a COMMIT of this inbox, on one thread. (Most of
 * its cost is SQLite's b-tree, index and WAL work, not the fsync: another
 * store, an append-only log say, would have another ceiling.)
 *
 * Usage: rawinbox SCHEMA_DB OUT_DB PAYLOADS.tsv BATCH SECONDS
 * Prints one line: {"rows": N, "seconds": S, "cpu_seconds": C}.
 * Depends only on SQLite. Exit status 0, or 1 with a message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

static double clock_s(clockid_t id)
{
	struct timespec t;

	clock_gettime(id, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int fail(sqlite3 *db, const char *what)
{
	fprintf(stderr, "rawinbox: %s: %s\n", what, db ? sqlite3_errmsg(db) : "failed");
	return 1;
}

/* The bodies: the part after the tab of each line. */
static char **read_bodies(const char *path, int *n)
{
	FILE *f = fopen(path, "r");
	char *line = NULL, **out = NULL;
	size_t cap = 0;
	ssize_t len;
	int k = 0, room = 0;

	if (f == NULL)
		return NULL;
	while ((len = getline(&line, &cap, f)) > 0) {
		char *tab = strchr(line, '\t');

		if (tab == NULL)
			continue;
		if (line[len - 1] == '\n')
			line[--len] = '\0';
		if (k == room) {
			char **grown = realloc(out, (size_t)(room = room ? 2 * room : 1024) * sizeof *out);

			if (grown == NULL)
				break;
			out = grown;
		}
		if ((out[k] = strdup(tab + 1)) == NULL)
			break;
		k++;
	}
	free(line);
	fclose(f);
	*n = k;
	return out;
}

int main(int argc, char **argv)
{
	sqlite3 *src = NULL, *db = NULL;
	sqlite3_stmt *ddl, *ins;
	char **bodies, key[64], okey[64];
	int nbodies = 0, batch;
	long rows = 0;
	double seconds, t0, c0, end;

	if (argc != 6 || (batch = atoi(argv[4])) < 1 || (seconds = atof(argv[5])) <= 0) {
		fprintf(stderr, "usage: rawinbox SCHEMA_DB OUT_DB PAYLOADS.tsv BATCH SECONDS\n");
		return 2;
	}
	if ((bodies = read_bodies(argv[3], &nbodies)) == NULL || nbodies == 0)
		return fail(NULL, "reading the payloads");
	if (sqlite3_open_v2(argv[1], &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		return fail(src, "opening the schema database");
	if (sqlite3_open(argv[2], &db) != SQLITE_OK ||
	    sqlite3_exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
	    " PRAGMA wal_autocheckpoint = 500;", NULL, NULL, NULL) != SQLITE_OK)
		return fail(db, "opening the database");
	if (sqlite3_prepare_v2(src, "SELECT sql FROM sqlite_master WHERE tbl_name = 'inbox'"
	    " AND sql IS NOT NULL ORDER BY type = 'index'", -1, &ddl, NULL) != SQLITE_OK)
		return fail(src, "reading the schema");
	while (sqlite3_step(ddl) == SQLITE_ROW)
		if (sqlite3_exec(db, (const char *)sqlite3_column_text(ddl, 0), NULL, NULL,
		    NULL) != SQLITE_OK)
			return fail(db, "creating the inbox");
	sqlite3_finalize(ddl);
	sqlite3_close(src);
	if (sqlite3_prepare_v2(db,
	    "INSERT INTO inbox (merchant, source, channel, topic, dedup_key, order_key,"
	    " payload, available_at, received_at) VALUES ('bench', 'webhook', 'shopify',"
	    " 'orders/create', ?, ?, ?, ?, ?) ON CONFLICT (merchant, dedup_key) DO NOTHING",
	    -1, &ins, NULL) != SQLITE_OK)
		return fail(db, "preparing the insert");

	t0 = clock_s(CLOCK_MONOTONIC);
	c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
	end = t0 + seconds;
	while (clock_s(CLOCK_MONOTONIC) < end) {
		if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
			return fail(db, "BEGIN");
		for (int i = 0; i < batch; i++, rows++) {
			const char *b = bodies[rows % nbodies];
			sqlite3_int64 now = (sqlite3_int64)(clock_s(CLOCK_REALTIME) * 1000);

			snprintf(key, sizeof key, "shopify:raw-%ld", rows);
			snprintf(okey, sizeof okey, "shopify:%ld", rows % nbodies);
			sqlite3_bind_text(ins, 1, key, -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(ins, 2, okey, -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(ins, 3, b, (int)strlen(b), SQLITE_STATIC);
			sqlite3_bind_int64(ins, 4, now);
			sqlite3_bind_int64(ins, 5, now);
			if (sqlite3_step(ins) != SQLITE_DONE || sqlite3_changes(db) != 1)
				return fail(db, "INSERT");
			sqlite3_reset(ins);
		}
		if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
			return fail(db, "COMMIT");
	}
	printf("{\"rows\": %ld, \"seconds\": %.3f, \"cpu_seconds\": %.3f}\n", rows,
	    clock_s(CLOCK_MONOTONIC) - t0, clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0);
	sqlite3_finalize(ins);
	sqlite3_close(db);
	for (int i = 0; i < nbodies; i++)
		free(bodies[i]);
	free(bodies);
	return 0;
}
