/*
 * db — the SQLite handle, schema migrations and the statement cache.
 *
 * Depends on SQLite only (and log for prepare failures). Never holds a
 * transaction open across a return to the event loop: callers open and
 * close them inside one callback. Statements from db_prepare are cached by
 * the address of their SQL text, which is why that text must be static.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "ordo/clock.h"
#include "ordo/db.h"
#include "ordo/log.h"
#include "ordo/progress.h"

#define DB_CACHE_SIZE 256 /* power of two, far above the statements we have */

struct db_cached {
	const char *sql;
	sqlite3_stmt *st;
};

struct db {
	sqlite3 *h;
	struct db_cached cache[DB_CACHE_SIZE];
	int last_rc;
	char instance[24];      /* meta 'instance', read once after migrating */
	int fault;              /* storage fault of the last write transaction, 0 = none */
	char fault_msg[160];
	int64_t changes_at_begin; /* sqlite3_total_changes64 when the transaction began */
};

/*
 * Migrations: append only. Each entry runs in its own transaction and bumps
 * user_version to its 1-based index. Never edit a migration that shipped.
 */
static const char *const migrations[] = {
	/* 1: the core: inbox, orders, lines, history, payments, dead letters */
	"CREATE TABLE inbox ("
	"  id INTEGER PRIMARY KEY,"
	"  merchant TEXT NOT NULL,"
	"  source TEXT NOT NULL,"            /* webhook | api | timer | effect | internal */
	"  channel TEXT,"
	"  topic TEXT NOT NULL,"
	"  dedup_key TEXT,"
	"  order_key TEXT,"                  /* events with the same key run in order */
	"  payload TEXT NOT NULL,"
	"  status TEXT NOT NULL DEFAULT 'pending'"
	"    CHECK (status IN ('pending','done','dead')),"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  available_at INTEGER NOT NULL,"
	"  received_at INTEGER NOT NULL,"
	"  done_at INTEGER,"
	"  event_name TEXT,"
	"  script_version TEXT,"
	"  last_error TEXT"
	") STRICT;"
	"CREATE UNIQUE INDEX inbox_dedup ON inbox(merchant, dedup_key);"
	"CREATE INDEX inbox_pending ON inbox(id, available_at) WHERE status = 'pending';"
	"CREATE INDEX inbox_pending_order ON inbox(merchant, order_key, id)"
	"  WHERE status = 'pending';"

	"CREATE TABLE orders ("
	"  id INTEGER PRIMARY KEY,"
	"  merchant TEXT NOT NULL,"
	"  channel TEXT NOT NULL,"
	"  external_id TEXT NOT NULL,"
	"  number TEXT,"
	"  status TEXT NOT NULL"
	"    CHECK (status IN ('draft','placed','completed','canceled')),"
	"  payment_status TEXT NOT NULL DEFAULT 'unpaid',"
	"  fulfillment_status TEXT NOT NULL DEFAULT 'unfulfilled',"
	"  currency TEXT NOT NULL,"
	"  subtotal INTEGER NOT NULL DEFAULT 0,"
	"  shipping INTEGER NOT NULL DEFAULT 0,"
	"  tax INTEGER NOT NULL DEFAULT 0,"
	"  discount INTEGER NOT NULL DEFAULT 0,"
	"  total INTEGER NOT NULL,"
	"  email TEXT,"
	"  customer TEXT,"                   /* JSON object */
	"  shipping_address TEXT,"           /* JSON object */
	"  tags TEXT NOT NULL DEFAULT '[]',"  /* JSON array of strings */
	"  financial_status TEXT,"           /* the storefront's own word */
	"  placed_at INTEGER,"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL,"
	"  UNIQUE (merchant, channel, external_id)"
	") STRICT;"
	"CREATE INDEX orders_merchant ON orders(merchant, id);"
	"CREATE INDEX orders_status ON orders(merchant, status, id);"

	"CREATE TABLE order_lines ("
	"  id INTEGER PRIMARY KEY,"
	"  order_id INTEGER NOT NULL REFERENCES orders(id),"
	"  line_no INTEGER NOT NULL,"
	"  external_id TEXT,"
	"  sku TEXT,"
	"  title TEXT,"
	"  quantity INTEGER NOT NULL CHECK (quantity > 0),"
	"  unit_price INTEGER NOT NULL,"
	"  total INTEGER NOT NULL,"
	"  fulfilled_quantity INTEGER NOT NULL DEFAULT 0"
	"    CHECK (fulfilled_quantity >= 0 AND fulfilled_quantity <= quantity),"
	"  fulfillment TEXT NOT NULL DEFAULT 'stock',"
	"  UNIQUE (order_id, line_no)"
	") STRICT;"
	"CREATE INDEX order_lines_sku ON order_lines(sku);"

	"CREATE TABLE order_history ("
	"  id INTEGER PRIMARY KEY,"
	"  order_id INTEGER NOT NULL REFERENCES orders(id),"
	"  at INTEGER NOT NULL,"
	"  event_id INTEGER,"                /* the inbox event that caused it */
	"  kind TEXT NOT NULL,"              /* created | status | payment_status | fulfillment_status | note | tag | payment */
	"  from_value TEXT,"
	"  to_value TEXT,"
	"  message TEXT"
	") STRICT;"
	"CREATE INDEX order_history_order ON order_history(order_id, id);"

	"CREATE TABLE payments ("
	"  id INTEGER PRIMARY KEY,"
	"  order_id INTEGER NOT NULL REFERENCES orders(id),"
	"  kind TEXT NOT NULL CHECK (kind IN ('authorization','capture','refund','void')),"
	"  amount INTEGER NOT NULL CHECK (amount >= 0),"
	"  currency TEXT NOT NULL,"
	"  status TEXT NOT NULL CHECK (status IN ('pending','succeeded','failed')),"
	"  gateway TEXT NOT NULL,"
	"  reference TEXT,"
	"  event_id INTEGER,"
	"  created_at INTEGER NOT NULL"
	") STRICT;"
	"CREATE INDEX payments_order ON payments(order_id, id);"

	"CREATE TABLE dead_letters ("
	"  id INTEGER PRIMARY KEY,"
	"  merchant TEXT NOT NULL,"
	"  event_id INTEGER NOT NULL REFERENCES inbox(id),"
	"  error TEXT NOT NULL,"
	"  attempts INTEGER NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  retried_at INTEGER"
	") STRICT;"
	"CREATE INDEX dead_letters_merchant ON dead_letters(merchant, id);",

	/* 2: the outbox (effects), payment outcomes, and this database's
	 * instance id, which prefixes idempotency keys sent to the outside
	 * world so a fresh database never reuses a key a gateway remembers */
	"CREATE TABLE meta ("
	"  key TEXT PRIMARY KEY,"
	"  value TEXT NOT NULL"
	") STRICT;"
	"INSERT INTO meta (key, value) VALUES ('instance', lower(hex(randomblob(6))));"

	"ALTER TABLE payments ADD COLUMN parent_id INTEGER REFERENCES payments(id);"
	"ALTER TABLE payments ADD COLUMN error TEXT;"
	"ALTER TABLE payments ADD COLUMN updated_at INTEGER;"
	"CREATE INDEX payments_pending ON payments(order_id) WHERE status = 'pending';"

	"CREATE TABLE effects ("
	"  id INTEGER PRIMARY KEY,"
	"  merchant TEXT NOT NULL,"
	"  kind TEXT NOT NULL CHECK (kind IN ('http','payment','notify','webhook')),"
	"  idem_key TEXT NOT NULL,"          /* stable across attempts and restarts */
	"  order_id INTEGER REFERENCES orders(id),"
	"  payment_id INTEGER REFERENCES payments(id),"
	"  event_id INTEGER,"                /* the inbox event whose handler made it */
	"  order_key TEXT,"                  /* its answer runs in this order's sequence */
	"  endpoint TEXT NOT NULL,"          /* scheme://host:port: the concurrency group */
	"  url TEXT NOT NULL,"
	"  headers TEXT NOT NULL DEFAULT '[]'," /* JSON array of "Name: value" (no secrets) */
	"  body TEXT NOT NULL DEFAULT '',"
	"  meta TEXT NOT NULL DEFAULT '{}',"  /* JSON: what the answer means (op, on_success...) */
	"  status TEXT NOT NULL DEFAULT 'pending'"
	"    CHECK (status IN ('pending','succeeded','failed','dead')),"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  max_attempts INTEGER NOT NULL,"
	"  timeout_ms INTEGER NOT NULL,"
	"  available_at INTEGER NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  completed_at INTEGER,"
	"  last_status INTEGER,"             /* HTTP status of the last answer */
	"  last_error TEXT,"
	"  latency_ms INTEGER,"              /* the last attempt's duration */
	"  UNIQUE (merchant, idem_key)"
	") STRICT;"
	"CREATE INDEX effects_due ON effects(merchant, endpoint, available_at)"
	"  WHERE status = 'pending';"
	"CREATE INDEX effects_next ON effects(available_at) WHERE status = 'pending';"
	"CREATE INDEX effects_order ON effects(order_id, id);"
	"CREATE INDEX effects_status ON effects(merchant, status, id);",

	/* 3: durable timers */
	"CREATE TABLE timers ("
	"  id INTEGER PRIMARY KEY,"
	"  merchant TEXT NOT NULL,"
	"  key TEXT NOT NULL,"                /* unique per merchant: cancel and move by it */
	"  event TEXT NOT NULL,"              /* the event name raised */
	"  payload TEXT NOT NULL DEFAULT '{}',"  /* a JSON object */
	"  order_key TEXT,"                  /* the setting event's: runs in that order's sequence */
	"  due_at INTEGER NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  event_id INTEGER,"                /* the event whose handler set it */
	"  UNIQUE (merchant, key)"
	") STRICT;"
	"CREATE INDEX timers_due ON timers(due_at, id);",

	/* 4: captures, voids and refunds are found by their parent */
	"CREATE INDEX payments_parent ON payments(parent_id) WHERE parent_id IS NOT NULL;",

	/* 5: subscriptions */
	"CREATE TABLE subscriptions ("
	"  id INTEGER PRIMARY KEY,"
	"  merchant TEXT NOT NULL,"
	"  external_id TEXT,"
	"  status TEXT NOT NULL"
	"    CHECK (status IN ('active','paused','past_due','canceled','expired')),"
	"  template TEXT NOT NULL,"            /* the renewal order's shape, JSON */
	"  currency TEXT NOT NULL,"
	"  interval_unit TEXT NOT NULL CHECK (interval_unit IN ('day','week','month','year')),"
	"  interval_count INTEGER NOT NULL CHECK (interval_count BETWEEN 1 AND 366),"
	"  anchor_day INTEGER NOT NULL DEFAULT 0,"
	"  timezone TEXT NOT NULL,"
	"  start_at INTEGER NOT NULL,"
	"  base_at INTEGER NOT NULL,"         /* renewal c falls at base_at + (c - base_cycle) intervals */
	"  base_cycle INTEGER NOT NULL,"
	"  cycle INTEGER NOT NULL DEFAULT 0,"  /* renewals done (or skipped) */
	"  max_cycles INTEGER,"
	"  next_renewal_at INTEGER,"
	"  paused_until INTEGER,"
	"  skip_next INTEGER NOT NULL DEFAULT 0,"
	"  cancel_at_period_end INTEGER NOT NULL DEFAULT 0,"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL,"
	"  UNIQUE (merchant, external_id)"
	") STRICT;"
	"CREATE INDEX subscriptions_merchant ON subscriptions(merchant, status, id);"
	"CREATE TABLE subscription_history ("
	"  id INTEGER PRIMARY KEY,"
	"  subscription_id INTEGER NOT NULL REFERENCES subscriptions(id),"
	"  at INTEGER NOT NULL,"
	"  event_id INTEGER,"
	"  kind TEXT NOT NULL,"
	"  from_value TEXT,"
	"  to_value TEXT,"
	"  message TEXT"
	") STRICT;"
	"CREATE INDEX subscription_history_sub ON subscription_history(subscription_id, id);"
	"ALTER TABLE orders ADD COLUMN subscription_id INTEGER REFERENCES subscriptions(id);"
	"ALTER TABLE orders ADD COLUMN renewal_cycle INTEGER;",

	/* 6: stock, its ledger, reservations and the backorder queue */
	"CREATE TABLE stock ("
	"  merchant TEXT NOT NULL,"
	"  sku TEXT NOT NULL,"
	"  location TEXT NOT NULL,"
	"  on_hand INTEGER NOT NULL DEFAULT 0,"
	"  reserved INTEGER NOT NULL DEFAULT 0,"
	"  updated_at INTEGER NOT NULL,"
	"  CHECK (on_hand >= 0 AND reserved >= 0 AND reserved <= on_hand),"
	"  PRIMARY KEY (merchant, sku, location)"
	") STRICT, WITHOUT ROWID;"
	"CREATE TABLE stock_ledger ("
	"  id INTEGER PRIMARY KEY,"
	"  merchant TEXT NOT NULL,"
	"  sku TEXT NOT NULL,"
	"  location TEXT NOT NULL,"
	"  kind TEXT NOT NULL CHECK (kind IN ('set','receive','adjust','reserve','release','ship','return')),"
	"  on_hand_delta INTEGER NOT NULL,"
	"  reserved_delta INTEGER NOT NULL,"
	"  reason TEXT,"
	"  order_id INTEGER,"
	"  event_id INTEGER,"
	"  at INTEGER NOT NULL"
	") STRICT;"
	"CREATE INDEX stock_ledger_sku ON stock_ledger(merchant, sku, location, id);"
	"CREATE TABLE reservations ("
	"  id INTEGER PRIMARY KEY,"
	"  merchant TEXT NOT NULL,"
	"  order_id INTEGER NOT NULL REFERENCES orders(id),"
	"  line_no INTEGER NOT NULL,"
	"  sku TEXT NOT NULL,"
	"  location TEXT NOT NULL,"
	"  quantity INTEGER NOT NULL CHECK (quantity > 0),"
	"  status TEXT NOT NULL DEFAULT 'reserved' CHECK (status IN ('reserved','released','shipped')),"
	"  created_at INTEGER NOT NULL,"
	"  event_id INTEGER"
	") STRICT;"
	"CREATE INDEX reservations_order ON reservations(order_id, line_no);"
	"CREATE TABLE backorders ("
	"  id INTEGER PRIMARY KEY,"           /* the queue's order: first come, first served */
	"  merchant TEXT NOT NULL,"
	"  sku TEXT NOT NULL,"
	"  order_id INTEGER NOT NULL REFERENCES orders(id),"
	"  line_no INTEGER NOT NULL,"
	"  quantity INTEGER NOT NULL CHECK (quantity >= 0),"   /* still wanted */
	"  status TEXT NOT NULL DEFAULT 'waiting' CHECK (status IN ('waiting','allocated','canceled')),"
	"  created_at INTEGER NOT NULL,"
	"  event_id INTEGER"
	") STRICT;"
	"CREATE INDEX backorders_queue ON backorders(merchant, sku, id) WHERE status = 'waiting';"
	"CREATE INDEX backorders_order ON backorders(order_id);"
	"CREATE TABLE inventory_requests ("   /* Idempotency-Key of API adjustments */
	"  merchant TEXT NOT NULL,"
	"  idem_key TEXT NOT NULL,"
	"  response TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  PRIMARY KEY (merchant, idem_key)"
	") STRICT, WITHOUT ROWID;",

	/* 7: shipments */
	"CREATE TABLE shipments ("
	"  id INTEGER PRIMARY KEY,"
	"  merchant TEXT NOT NULL,"
	"  order_id INTEGER NOT NULL REFERENCES orders(id),"
	"  location TEXT NOT NULL,"
	"  status TEXT NOT NULL DEFAULT 'pending'"
	"    CHECK (status IN ('pending','picked','packed','shipped','delivered','canceled')),"
	"  carrier TEXT,"
	"  tracking_number TEXT,"
	"  tracking_url TEXT,"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL,"
	"  shipped_at INTEGER,"
	"  delivered_at INTEGER,"
	"  event_id INTEGER"
	") STRICT;"
	"CREATE INDEX shipments_order ON shipments(order_id, id);"
	"CREATE INDEX shipments_tracking ON shipments(merchant, tracking_number);"
	"CREATE TABLE shipment_lines ("
	"  shipment_id INTEGER NOT NULL REFERENCES shipments(id),"
	"  line_no INTEGER NOT NULL,"
	"  quantity INTEGER NOT NULL CHECK (quantity > 0),"
	"  PRIMARY KEY (shipment_id, line_no)"
	") STRICT, WITHOUT ROWID;",

	/* 8: purchase orders and drop-shipped lines */
	"CREATE TABLE purchase_orders ("
	"  id INTEGER PRIMARY KEY,"
	"  merchant TEXT NOT NULL,"
	"  supplier TEXT NOT NULL,"
	"  sku TEXT NOT NULL,"
	"  quantity INTEGER NOT NULL CHECK (quantity > 0),"
	"  received INTEGER NOT NULL DEFAULT 0 CHECK (received >= 0 AND received <= quantity),"
	"  location TEXT NOT NULL,"
	"  status TEXT NOT NULL DEFAULT 'open'"
	"    CHECK (status IN ('open','partially_received','received','canceled')),"
	"  expected_at INTEGER NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  event_id INTEGER"
	") STRICT;"
	"CREATE INDEX purchase_orders_open ON purchase_orders(merchant, sku, expected_at)"
	"  WHERE status IN ('open', 'partially_received');"
	"CREATE TABLE dropships ("
	"  id INTEGER PRIMARY KEY,"
	"  merchant TEXT NOT NULL,"
	"  order_id INTEGER NOT NULL REFERENCES orders(id),"
	"  supplier TEXT NOT NULL,"
	"  lines TEXT NOT NULL,"              /* [{line, quantity}] */
	"  status TEXT NOT NULL DEFAULT 'requested'"
	"    CHECK (status IN ('requested','accepted','rejected','shipped')),"
	"  reason TEXT,"
	"  shipment_id INTEGER,"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL,"
	"  event_id INTEGER"
	") STRICT;"
	"CREATE INDEX dropships_order ON dropships(order_id);",

	/* 9: digital delivery: download grants, their downloads, license keys */
	"CREATE TABLE digital_grants ("
	"  id INTEGER PRIMARY KEY,"
	"  merchant TEXT NOT NULL,"
	"  order_id INTEGER NOT NULL REFERENCES orders(id),"
	"  line_no INTEGER NOT NULL,"
	"  sku TEXT NOT NULL,"
	"  file TEXT NOT NULL,"               /* relative to the merchant's digital.assets */
	"  token_hash TEXT NOT NULL UNIQUE,"  /* SHA-256 of the token, hex; never the token */
	"  expires_at INTEGER NOT NULL,"
	"  download_limit INTEGER NOT NULL CHECK (download_limit > 0),"
	"  downloads INTEGER NOT NULL DEFAULT 0 CHECK (downloads >= 0 AND downloads <= download_limit),"
	"  revoked_at INTEGER,"
	"  created_at INTEGER NOT NULL,"
	"  event_id INTEGER"
	") STRICT;"
	"CREATE INDEX digital_grants_order ON digital_grants(order_id);"
	"CREATE TABLE digital_downloads ("
	"  id INTEGER PRIMARY KEY,"
	"  grant_id INTEGER NOT NULL REFERENCES digital_grants(id),"
	"  at INTEGER NOT NULL,"
	"  remote TEXT NOT NULL,"
	"  first_byte INTEGER NOT NULL,"
	"  bytes INTEGER NOT NULL"
	") STRICT;"
	"CREATE INDEX digital_downloads_grant ON digital_downloads(grant_id);"
	"CREATE TABLE license_keys ("
	"  id INTEGER PRIMARY KEY,"
	"  merchant TEXT NOT NULL,"
	"  sku TEXT NOT NULL,"
	"  key TEXT NOT NULL,"
	"  order_id INTEGER REFERENCES orders(id),"
	"  line_no INTEGER,"
	"  assigned_at INTEGER,"
	"  revoked_at INTEGER,"
	"  added_at INTEGER NOT NULL,"
	"  UNIQUE (merchant, sku, key)"
	") STRICT;"
	"CREATE INDEX license_keys_free ON license_keys(merchant, sku, id)"
	"  WHERE order_id IS NULL AND revoked_at IS NULL;"
	"CREATE INDEX license_keys_order ON license_keys(order_id) WHERE order_id IS NOT NULL;",

	/* 10: returns (RMA) and their lines */
	"CREATE TABLE returns ("
	"  id INTEGER PRIMARY KEY,"
	"  merchant TEXT NOT NULL,"
	"  order_id INTEGER NOT NULL REFERENCES orders(id),"
	"  status TEXT NOT NULL DEFAULT 'requested'"
	"    CHECK (status IN ('requested','approved','rejected','received','refund_requested',"
	"      'refunded','closed')),"
	"  reason TEXT,"
	"  note TEXT,"                        /* why it was rejected, or a merchant's note */
	"  currency TEXT NOT NULL,"
	"  refund_amount INTEGER NOT NULL DEFAULT 0 CHECK (refund_amount >= 0),"
	"  payment_id INTEGER REFERENCES payments(id),"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL,"
	"  event_id INTEGER"
	") STRICT;"
	"CREATE INDEX returns_merchant ON returns(merchant, status, id);"
	"CREATE INDEX returns_order ON returns(order_id);"
	"CREATE TABLE return_lines ("
	"  return_id INTEGER NOT NULL REFERENCES returns(id),"
	"  line_no INTEGER NOT NULL,"
	"  sku TEXT,"
	"  quantity INTEGER NOT NULL CHECK (quantity > 0),"
	"  restocked INTEGER NOT NULL DEFAULT 0 CHECK (restocked >= 0),"
	"  damaged INTEGER NOT NULL DEFAULT 0 CHECK (damaged >= 0),"
	"  location TEXT,"                    /* where the restocked units went */
	"  CHECK (restocked + damaged <= quantity),"
	"  PRIMARY KEY (return_id, line_no)"
	") STRICT, WITHOUT ROWID;",

	/* 11: refunds the storefront reported, and which of ours each echoes */
	"CREATE TABLE storefront_refunds ("
	"  merchant TEXT NOT NULL,"
	"  order_id INTEGER NOT NULL REFERENCES orders(id),"
	"  external_id TEXT NOT NULL,"
	"  amount INTEGER NOT NULL,"
	"  payment_id INTEGER REFERENCES payments(id),"  /* the refund row it recorded */
	"  matched_id INTEGER REFERENCES payments(id),"  /* or the refund of ours it echoes */
	"  created_at INTEGER NOT NULL,"
	"  PRIMARY KEY (merchant, order_id, external_id)"
	") STRICT, WITHOUT ROWID;",

	/* 12: units of a line canceled before they shipped (quantity keeps
	 * what was ordered: it must stay > 0), and digital products set by API */
	"ALTER TABLE order_lines ADD COLUMN canceled_quantity INTEGER NOT NULL DEFAULT 0"
	"  CHECK (canceled_quantity >= 0 AND canceled_quantity + fulfilled_quantity <= quantity);"
	"CREATE TABLE digital_products ("
	"  merchant TEXT NOT NULL,"
	"  sku TEXT NOT NULL,"
	"  file TEXT,"                        /* relative to digital.assets; NULL for a key */
	"  license INTEGER NOT NULL DEFAULT 0 CHECK (license IN (0, 1)),"
	"  content_type TEXT,"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL,"
	"  CHECK ((file IS NULL) = (license = 1)),"
	"  PRIMARY KEY (merchant, sku)"
	") STRICT, WITHOUT ROWID;",

	/* 13: KPI reports (reports.c): orders by their time (the expression is
	 * the one reports.c writes), renewal orders, refunds by time. Only the
	 * first is written on the webhook path; SQLite 3.40 cannot use an
	 * expression index as covering, so it stays narrow. */
	"CREATE INDEX orders_placed ON orders(merchant, COALESCE(placed_at, created_at));"
	"CREATE INDEX orders_renewals ON orders(merchant, COALESCE(placed_at, created_at))"
	"  WHERE subscription_id IS NOT NULL;"
	"CREATE INDEX payments_refunds ON payments(created_at)"
	"  WHERE kind = 'refund' AND status = 'succeeded';",

	/* 14: dashboard sign-in sessions (only the token's digest is kept);
	 * for the dashboard: an order's events by its key (the timeline), orders
	 * by external id or email (search) and its counts (pipeline) */
	"CREATE TABLE sessions ("
	"  token_sha256 TEXT PRIMARY KEY,"
	"  merchant TEXT NOT NULL,"
	"  key_sha256 TEXT NOT NULL,"        /* the API key it was opened with */
	"  created_at INTEGER NOT NULL,"
	"  expires_at INTEGER NOT NULL"
	") STRICT, WITHOUT ROWID;"
	"CREATE INDEX sessions_expiry ON sessions(expires_at);"
	"CREATE INDEX inbox_order ON inbox(merchant, order_key, id) WHERE order_key IS NOT NULL;"
	"CREATE INDEX orders_external ON orders(merchant, external_id);"
	"CREATE INDEX orders_email ON orders(merchant, email COLLATE NOCASE) WHERE email IS NOT NULL;"
	"CREATE INDEX orders_pipeline ON orders(merchant, status, fulfillment_status);",

	/* 15: how much of each refund gave back what was paid toward the
	 * total beyond a lowered total (payments.c: only that lowers what
	 * counts as paid). Refunds before it are kept as they were counted
	 * then, except a return's, which never was for the total. */
	"ALTER TABLE payments ADD COLUMN for_total INTEGER NOT NULL DEFAULT 0"
	"  CHECK (for_total >= 0 AND for_total <= amount);"
	"UPDATE payments SET for_total = amount WHERE kind = 'refund' AND id NOT IN"
	"  (SELECT payment_id FROM returns WHERE payment_id IS NOT NULL);",

	/* 16: nothing, for every released database (migration 1 made this
	 * index). The number is taken: a development build's migration 16
	 * dropped the index and was withdrawn; db_open puts it back there. */
	"CREATE INDEX IF NOT EXISTS inbox_pending_order ON inbox(merchant, order_key, id)"
	"  WHERE status = 'pending';",

};

#define N_MIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

static int db_set_error(struct db *db, int rc)
{
	db->last_rc = rc;
	return rc == SQLITE_OK || rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

int db_exec(struct db *db, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db->h, sql, NULL, NULL, &msg);

	if (rc != SQLITE_OK)
		log_error("sql failed", "error", msg ? msg : sqlite3_errstr(rc), NULL);
	sqlite3_free(msg);
	return db_set_error(db, rc);
}

static int db_user_version(struct db *db)
{
	sqlite3_stmt *st = NULL;
	int v = -1;

	if (sqlite3_prepare_v2(db->h, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

static int db_migrate(struct db *db, char **err)
{
	int v = db_user_version(db), show;
	struct progress bar;
	char sql[64], detail[48] = "";

	if (v < 0) {
		*err = strdup("cannot read the schema version");
		return -1;
	}
	if (v > N_MIGRATIONS) {
		if (asprintf(err, "database schema version %d is newer than this ordo (%d)",
		    v, N_MIGRATIONS) < 0)
			*err = NULL;
		return -1;
	}
	/* Upgrading a database that exists can take a while on a big one:
	 * show a bar to a person at a terminal (the "migrated" log lines are
	 * the plain report elsewhere). */
	show = v > 0 && v < N_MIGRATIONS && isatty(2);
	if (show)
		progress_init(&bar, stderr, "migrate", (uint64_t)(N_MIGRATIONS - v));
	for (int first = v; v < N_MIGRATIONS; v++) {
		char *msg = NULL;

		if (show) {
			snprintf(detail, sizeof detail, "to schema %d of %d", v + 1, N_MIGRATIONS);
			progress_update(&bar, (uint64_t)(v - first), detail);
		}

		snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v + 1);
		if (sqlite3_exec(db->h, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK ||
		    sqlite3_exec(db->h, migrations[v], NULL, NULL, &msg) != SQLITE_OK ||
		    sqlite3_exec(db->h, sql, NULL, NULL, &msg) != SQLITE_OK ||
		    sqlite3_exec(db->h, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
			if (asprintf(err, "migration %d failed: %s", v + 1,
			    msg ? msg : sqlite3_errmsg(db->h)) < 0)
				*err = NULL;
			sqlite3_free(msg);
			sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
			if (show)
				fputc('\n', stderr);
			return -1;
		}
		log_info("migrated", "schema_version", (snprintf(sql, sizeof sql, "%d", v + 1), sql), NULL);
	}
	if (show)
		progress_finish(&bar, detail);
	return 0;
}

struct db *db_open(const char *path, int durability_full, char **err)
{
	struct db *db = calloc(1, sizeof *db);
	int rc;

	*err = NULL;
	if (db == NULL) {
		*err = strdup("out of memory");
		return NULL;
	}
	rc = sqlite3_open_v2(path, &db->h,
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		if (asprintf(err, "cannot open database %s: %s", path,
		    db->h ? sqlite3_errmsg(db->h) : sqlite3_errstr(rc)) < 0)
			*err = NULL;
		goto fail;
	}
	sqlite3_extended_result_codes(db->h, 1);
	sqlite3_busy_timeout(db->h, 5000);
	if (db_exec(db, "PRAGMA journal_mode = WAL") != 0 ||
	    db_exec(db, durability_full ? "PRAGMA synchronous = FULL"
	                                : "PRAGMA synchronous = NORMAL") != 0 ||
	    db_exec(db, "PRAGMA foreign_keys = ON") != 0 ||
	    db_exec(db, "PRAGMA temp_store = MEMORY") != 0 ||
	    /* SQLite's own 2 MiB page cache, not more: every COMMIT ends by
	     * walking the cache's page hash (pcache1 truncation in
	     * pager_end_transaction), so once a larger cache has filled, each
	     * group commit pays for its size. Measured on the bench: 64 MiB
	     * cost 5.5% of the loop there; 2 MiB took webhooks from ~5.2k to
	     * ~6.3k/s and effects from ~2.3k to ~2.7k/s. Pages it drops are
	     * still in the OS page cache. */
	    db_exec(db, "PRAGMA cache_size = -2000") != 0 ||
	    /* The automatic checkpoint runs inside the COMMIT that crosses it,
	     * so a whole group commit's acknowledgements wait for it: 500
	     * pages (2 MB copied back) instead of 1,000 halves that stall.
	     * Bench: webhook p99 9.3 ms against 11.6 ms, 2% fewer per second. */
	    db_exec(db, "PRAGMA wal_autocheckpoint = 500") != 0) {
		if (asprintf(err, "cannot configure database %s: %s", path,
		    sqlite3_errmsg(db->h)) < 0)
			*err = NULL;
		goto fail;
	}
	if (db_migrate(db, err) != 0)
		goto fail;
	/* The dispatcher's batch query names this index (dispatch.c load_batch):
	 * without it no event would run. Only a database that ran the withdrawn
	 * migration 16 lacks it; for every other this does nothing. */
	if (db_exec(db, "CREATE INDEX IF NOT EXISTS inbox_pending_order ON inbox(merchant,"
	    " order_key, id) WHERE status = 'pending'") != 0) {
		if (asprintf(err, "cannot index database %s: %s", path, sqlite3_errmsg(db->h)) < 0)
			*err = NULL;
		goto fail;
	}
	{
		sqlite3_stmt *st = NULL;

		if (sqlite3_prepare_v2(db->h, "SELECT value FROM meta WHERE key = 'instance'",
		    -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
			snprintf(db->instance, sizeof db->instance, "%s",
			    (const char *)sqlite3_column_text(st, 0));
		sqlite3_finalize(st);
	}
	return db;
fail:
	if (*err == NULL)
		*err = strdup("cannot open database");
	db_close(db);
	return NULL;
}

void db_close(struct db *db)
{
	if (db == NULL)
		return;
	for (int i = 0; i < DB_CACHE_SIZE; i++)
		sqlite3_finalize(db->cache[i].st);
	sqlite3_close(db->h);
	free(db);
}

const char *db_instance(const struct db *db)
{
	return db->instance;
}

int64_t db_data_version(struct db *db)
{
	sqlite3_stmt *st = db_prepare(db, "PRAGMA data_version");
	int64_t v = -1;

	if (st != NULL && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	db_reset(st);
	return v;
}

struct json_t *db_column_json(sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	return t ? json_text_lossy((const char *)t) : json_null();
}

struct json_t *db_column_time(sqlite3_stmt *st, int col)
{
	char ts[32];

	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return json_null();
	clock_format_iso(sqlite3_column_int64(st, col), ts);
	return json_string(ts);
}

int db_schema_version(struct db *db)
{
	return db_user_version(db);
}

int db_copy(sqlite3 *from, sqlite3 *to, void (*progress)(void *arg, int done, int total),
    void *arg)
{
	sqlite3_backup *b = sqlite3_backup_init(to, "main", from, "main");
	int rc;

	if (b == NULL)
		return sqlite3_errcode(to) != SQLITE_OK ? sqlite3_errcode(to) : SQLITE_ERROR;
	/* 1024 pages a step, so a writer waits at most one step for its lock. */
	while ((rc = sqlite3_backup_step(b, 1024)) == SQLITE_OK || rc == SQLITE_BUSY ||
	    rc == SQLITE_LOCKED) {
		if (progress != NULL)
			progress(arg, sqlite3_backup_pagecount(b) - sqlite3_backup_remaining(b),
			    sqlite3_backup_pagecount(b));
		if (rc != SQLITE_OK)
			sqlite3_sleep(20);
	}
	sqlite3_backup_finish(b);
	if (rc != SQLITE_DONE)
		return rc;
	return sqlite3_errcode(to) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(to);
}

int db_backup(const char *src, const char *dst,
    void (*progress)(void *arg, int done, int total), void *arg, char **err)
{
	sqlite3 *from = NULL, *to = NULL;
	sqlite3_stmt *st = NULL;
	char *tmp = NULL;
	const char *why = NULL;
	struct stat sb;
	int rc, fd;

	*err = NULL;
	if (stat(dst, &sb) == 0) {
		if (asprintf(err, "%s already exists; give a new file", dst) < 0)
			*err = NULL;
		return -1;
	}
	if (asprintf(&tmp, "%s.tmp-%ld", dst, (long)getpid()) < 0) {
		tmp = NULL;
		goto oom;
	}
	if (sqlite3_open_v2(src, &from, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		why = from ? sqlite3_errmsg(from) : "cannot open";
		if (asprintf(err, "cannot open database %s: %s", src, why) < 0)
			*err = NULL;
		goto fail;
	}
	sqlite3_busy_timeout(from, 5000);
	if (sqlite3_open_v2(tmp, &to, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		if (asprintf(err, "cannot create %s: %s", tmp, to ? sqlite3_errmsg(to) : "cannot open") < 0)
			*err = NULL;
		goto fail;
	}
	if ((rc = db_copy(from, to, progress, arg)) != SQLITE_OK) {
		if (asprintf(err, "backup failed: %s", sqlite3_errstr(rc)) < 0)
			*err = NULL;
		goto fail;
	}
	if (sqlite3_prepare_v2(to, "PRAGMA quick_check", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW ||
	    strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0) {
		if (asprintf(err, "the copy does not check out: %s",
		    st && sqlite3_column_text(st, 0) ? (const char *)sqlite3_column_text(st, 0)
		                                     : sqlite3_errmsg(to)) < 0)
			*err = NULL;
		goto fail;
	}
	sqlite3_finalize(st);
	st = NULL;
	/* The copy is self-contained: no -wal beside it to lose. */
	if (sqlite3_exec(to, "PRAGMA journal_mode = DELETE", NULL, NULL, NULL) != SQLITE_OK) {
		if (asprintf(err, "cannot finish the copy: %s", sqlite3_errmsg(to)) < 0)
			*err = NULL;
		goto fail;
	}
	sqlite3_close(to);
	to = NULL;
	sqlite3_close(from);
	from = NULL;
	/* Synced, then linked into place: link() never replaces a file that
	 * appeared meanwhile. */
	if ((fd = open(tmp, O_RDONLY)) < 0 || fsync(fd) != 0 || link(tmp, dst) != 0) {
		if (asprintf(err, "cannot write %s: %s", dst, strerror(errno)) < 0)
			*err = NULL;
		if (fd >= 0)
			close(fd);
		goto fail;
	}
	close(fd);
	unlink(tmp);
	free(tmp);
	return 0;
oom:
	*err = strdup("out of memory");
fail:
	sqlite3_finalize(st);
	sqlite3_close(to);
	sqlite3_close(from);
	if (tmp != NULL)
		unlink(tmp);
	free(tmp);
	if (*err == NULL)
		*err = strdup("backup failed");
	return -1;
}

sqlite3_stmt *db_prepare(struct db *db, const char *sql)
{
	uintptr_t h = (uintptr_t)sql;
	unsigned i;

	h ^= h >> 17;
	h *= 0x9E3779B97F4A7C15ull;
	for (unsigned n = 0; n < DB_CACHE_SIZE; n++) {
		i = (unsigned)((h >> 32) + n) & (DB_CACHE_SIZE - 1);
		if (db->cache[i].sql == sql) {
			sqlite3_reset(db->cache[i].st);
			sqlite3_clear_bindings(db->cache[i].st);
			return db->cache[i].st;
		}
		if (db->cache[i].sql == NULL) {
			sqlite3_stmt *st = NULL;
			int rc = sqlite3_prepare_v3(db->h, sql, -1,
			    SQLITE_PREPARE_PERSISTENT, &st, NULL);

			if (db_set_error(db, rc) != 0) {
				log_error("sql prepare failed", "error", sqlite3_errmsg(db->h),
				    "sql", sql, NULL);
				return NULL;
			}
			db->cache[i].sql = sql;
			db->cache[i].st = st;
			return st;
		}
	}
	log_error("sql statement cache full", "sql", sql, NULL);
	return NULL;
}

void db_reset(sqlite3_stmt *st)
{
	if (st != NULL)
		sqlite3_reset(st);
}

int db_step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		log_error("sql step failed", "error", sqlite3_errmsg(sqlite3_db_handle(st)),
		    "sql", sqlite3_sql(st), NULL);
		return -1;
	}
	return 0;
}

/*
 * Storage faults: the disk or the file refuses writes (full, read-only,
 * I/O error, gone). They say nothing about the data being written and
 * clear on their own when the operator frees space, so they are tracked
 * apart from ordinary errors (a constraint, a busy lock) for /healthz.
 */
static int is_fault(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_FULL:
	case SQLITE_IOERR:
	case SQLITE_READONLY:
	case SQLITE_CANTOPEN:
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return 1;
	default:
		return 0;
	}
}

/* Record a fault seen on the handle (the first of a run is logged). */
static void note_fault(struct db *db)
{
	int rc = sqlite3_extended_errcode(db->h);

	if (!is_fault(rc))
		return;
	if (db->fault == 0)
		log_error("the database cannot write; deliveries are refused with 503 until it can",
		    "error", sqlite3_errmsg(db->h), NULL);
	db->fault = rc;
	snprintf(db->fault_msg, sizeof db->fault_msg, "%s", sqlite3_errmsg(db->h));
}

/* BEGIN, COMMIT and savepoints run once per transaction or event: cached
 * statements, not sqlite3_exec's prepare each time; failures are logged
 * as db_exec logs them. */
static int db_run(struct db *db, const char *sql)
{
	sqlite3_stmt *st = db_prepare(db, sql);
	int rc;

	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		log_error("sql failed", "error", sqlite3_errmsg(db->h), "sql", sql, NULL);
	sqlite3_reset(st);
	return db_set_error(db, rc == SQLITE_DONE ? SQLITE_OK : rc);
}

int db_begin(struct db *db)
{
	int rc = db_run(db, "BEGIN IMMEDIATE");

	if (rc != 0)
		note_fault(db);
	db->changes_at_begin = sqlite3_total_changes64(db->h);
	return rc;
}

int db_commit(struct db *db)
{
	int rc = db_run(db, "COMMIT");

	if (rc != 0) {
		note_fault(db);
	} else if (db->fault != 0 && sqlite3_total_changes64(db->h) > db->changes_at_begin) {
		/* Only a commit that wrote proves the fault gone: one that
		 * changed nothing (a duplicate delivery) touches no disk. */
		log_info("the database writes again", "after", db->fault_msg, NULL);
		db->fault = 0;
		db->fault_msg[0] = '\0';
	}
	return rc;
}

void db_rollback(struct db *db)
{
	/* A statement that failed inside the transaction (an INSERT whose
	 * pages spilled to a full disk) is the fault, not the ROLLBACK. */
	note_fault(db);
	if (!sqlite3_get_autocommit(db->h))
		sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
}

int db_fault(struct db *db, const char **msg)
{
	if (msg != NULL)
		*msg = db->fault ? db->fault_msg : NULL;
	return db->fault;
}

int db_probe_write(struct db *db)
{
	sqlite3_stmt *st;
	char now[24];

	if (db_begin(db) != 0)
		return -1;
	st = db_prepare(db, "INSERT INTO meta (key, value) VALUES ('write_probe', ?)"
	    " ON CONFLICT (key) DO UPDATE SET value = excluded.value");
	if (st == NULL)
		goto fail;
	snprintf(now, sizeof now, "%lld", (long long)time(NULL));
	sqlite3_bind_text(st, 1, now, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_DONE) {
		sqlite3_reset(st);
		goto fail;
	}
	sqlite3_reset(st);
	if (db_commit(db) != 0)
		goto fail;
	return 0;
fail:
	db_rollback(db);
	return -1;
}

int db_in_transaction(struct db *db)
{
	return !sqlite3_get_autocommit(db->h);
}

int db_savepoint(struct db *db)
{
	return db_run(db, "SAVEPOINT ev");
}

int db_release(struct db *db)
{
	return db_run(db, "RELEASE ev");
}

void db_rollback_savepoint(struct db *db)
{
	db_run(db, "ROLLBACK TO ev");
	db_run(db, "RELEASE ev");
}

const char *db_errmsg(struct db *db)
{
	return sqlite3_errmsg(db->h);
}

int db_errcode(struct db *db)
{
	int rc = sqlite3_extended_errcode(db->h);

	return rc != SQLITE_OK ? rc : db->last_rc;
}

sqlite3 *db_handle(struct db *db)
{
	return db->h;
}

int db_bind_text(sqlite3_stmt *st, int idx, const char *text)
{
	if (text == NULL)
		return sqlite3_bind_null(st, idx);
	return sqlite3_bind_text(st, idx, text, -1, SQLITE_TRANSIENT);
}

int64_t db_last_id(struct db *db)
{
	return sqlite3_last_insert_rowid(db->h);
}

int db_changes(struct db *db)
{
	return sqlite3_changes(db->h);
}
