/*
 * cli — the operator's commands: orders, dead letters and stock, read from
 * (and, for a retry, written to) the daemon's own database. See cli.h.
 *
 * The answers come from the same functions the API calls (orders_list,
 * api_order, dispatch_dead_letters, dispatch_retry_dead_letter, inv_list),
 * so --json prints what the API would and a retry here is the API's
 * retry. A running daemon notices a retry by SQLite's data_version, which
 * it looks at each second (server.c), and runs the event.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "ordo/api.h"
#include "ordo/cli.h"
#include "ordo/config.h"
#include "ordo/db.h"
#include "ordo/dispatch.h"
#include "ordo/inventory.h"
#include "ordo/log.h"
#include "ordo/money.h"
#include "ordo/orders.h"
#include "ordo/server.h"

#define DEFAULT_CONFIG "config/ordo.yaml"

static const char usage_orders[] =
	"usage: ordo orders list [--merchant ID] [--status S] [--limit N] [--json]\n"
	"       ordo orders show ID [--json]\n"
	"\n"
	"  -c, --config FILE    config file (default " DEFAULT_CONFIG ")\n"
	"  --db PATH            override server.database\n"
	"  --merchant ID        only this merchant's (default: every merchant's)\n"
	"  --status S           placed, completed, canceled, draft\n"
	"  --limit N            at most N orders, newest first (1 to 200, default 50)\n"
	"  --json               print what GET /api/v1/orders[/{id}] answers\n"
	"\n"
	"`show` prints the order with its lines, history, payments, shipments\n"
	"and effects. Exit 1 for an order that does not exist.\n";

static const char usage_dead_letters[] =
	"usage: ordo dead-letters list [--merchant ID] [--limit N] [--json]\n"
	"       ordo dead-letters retry ID [--json]\n"
	"\n"
	"  -c, --config FILE    config file (default " DEFAULT_CONFIG ")\n"
	"  --db PATH            override server.database\n"
	"  --merchant ID        only this merchant's (default: every merchant's)\n"
	"  --limit N            at most N, newest first (1 to 1000, default 100)\n"
	"  --json               print what the API answers\n"
	"\n"
	"`retry` sends the dead letter's event back to the inbox, as\n"
	"POST /api/v1/dead-letters/{id}/retry does; a running daemon picks it up\n"
	"within a second. Exit 1 for a dead letter that is not open.\n";

static const char usage_inventory[] =
	"usage: ordo inventory show [--merchant ID] [--sku S] [--low [N]] [--json]\n"
	"\n"
	"  -c, --config FILE    config file (default " DEFAULT_CONFIG ")\n"
	"  --db PATH            override server.database\n"
	"  --merchant ID        only this merchant's (default: every merchant's)\n"
	"  --sku S              only this SKU\n"
	"  --low [N]            only rows with fewer than N available (default 1:\n"
	"                       out of stock)\n"
	"  --json               print what GET /api/v1/inventory answers\n";

/* ------------------------------------------------------------------ */
/* Options and the database                                            */
/* ------------------------------------------------------------------ */

struct cli {
	const char *config, *db, *merchant, *status, *sku, *id;
	int64_t limit, low;
	int json;
	struct ordo_config *cfg;
	struct db *h;
	const struct merchant_config **ms;   /* the merchants asked about */
	size_t n_ms;
};

/* A whole number in [min, max]. @return 0 or -1. */
static int parse_int(const char *text, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long v;

	if (text == NULL || *text == '\0')
		return -1;
	errno = 0;
	v = strtoll(text, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/*
 * Options from argv[first..]; `allowed` names the ones this command takes
 * ("merchant status limit sku low id"). @return 0, or -1 after printing
 * why and the usage.
 */
static int parse(struct cli *c, int argc, char **argv, int first, const char *allowed,
    const char *usage)
{
	for (int i = first; i < argc; i++) {
		const char *a = argv[i], **dst = NULL;

		if (strcmp(a, "--json") == 0) {
			c->json = 1;
			continue;
		}
		if (strcmp(a, "--low") == 0 && strstr(allowed, "low")) {
			c->low = 1;
			if (i + 1 < argc && argv[i + 1][0] != '-' &&
			    parse_int(argv[i + 1], 1, INV_MAX_QUANTITY, &c->low) == 0)
				i++;
			continue;
		}
		if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0)
			dst = &c->config;
		else if (strcmp(a, "--db") == 0)
			dst = &c->db;
		else if (strcmp(a, "--merchant") == 0 && strstr(allowed, "merchant"))
			dst = &c->merchant;
		else if (strcmp(a, "--status") == 0 && strstr(allowed, "status"))
			dst = &c->status;
		else if (strcmp(a, "--sku") == 0 && strstr(allowed, "sku"))
			dst = &c->sku;
		else if (strcmp(a, "--limit") == 0 && strstr(allowed, "limit")) {
			if (i + 1 >= argc || parse_int(argv[i + 1], 1,
			    strstr(allowed, "orders") ? 200 : 1000, &c->limit) != 0) {
				fprintf(stderr, "ordo: --limit takes a whole number from 1 to %d\n",
				    strstr(allowed, "orders") ? 200 : 1000);
				return -1;
			}
			i++;
			continue;
		} else if (a[0] != '-' && strstr(allowed, "id") && c->id == NULL) {
			c->id = a;
			continue;
		}
		if (dst == NULL) {
			fprintf(stderr, "ordo: unexpected %s\n%s", a, usage);
			return -1;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "ordo: missing value for %s\n%s", a, usage);
			return -1;
		}
		*dst = argv[++i];
	}
	if (strstr(allowed, "id") && c->id == NULL) {
		fprintf(stderr, "ordo: which one? give its id\n%s", usage);
		return -1;
	}
	return 0;
}

/* Load the config and open the database. @return 0, or the exit status. */
static int open_all(struct cli *c)
{
	const char *path;
	char *err = NULL;

	log_set_level(LOG_WARN);
	if ((c->cfg = config_load(c->config, &err)) == NULL) {
		fprintf(stderr, "%s\n", err ? err : "cannot load the config");
		free(err);
		return 2;
	}
	if ((c->ms = calloc(c->cfg->n_merchants + 1, sizeof *c->ms)) == NULL)
		return 1;
	if (c->merchant != NULL) {
		if ((c->ms[0] = config_merchant(c->cfg, c->merchant)) == NULL) {
			fprintf(stderr, "ordo: no merchant \"%s\" in %s\n", c->merchant, c->config);
			return 2;
		}
		c->n_ms = 1;
	} else {
		for (size_t i = 0; i < c->cfg->n_merchants; i++)
			c->ms[c->n_ms++] = &c->cfg->merchants[i];
	}
	/* A mistyped path must not answer "no orders" from a new empty file. */
	path = c->db ? c->db : c->cfg->server.database;
	if (access(path, F_OK) != 0) {
		fprintf(stderr, "ordo: no database at %s: %s\n", path, strerror(errno));
		return 1;
	}
	if ((c->h = db_open(path,
	    c->cfg->server.durability_full, &err)) == NULL) {
		fprintf(stderr, "ordo: cannot open the database: %s\n", err ? err : "?");
		free(err);
		return 1;
	}
	return 0;
}

static void close_all(struct cli *c)
{
	db_close(c->h);
	free(c->ms);
	config_free(c->cfg);
}

/* One action of a command group: its name, the options it takes (as
 * parse() reads them), and what it runs once the database is open. */
struct action {
	const char *name, *opts;
	int (*run)(struct cli *c);
};

/*
 * `ordo GROUP ACTION [options]`: the usage on --help (exit 0) or without an
 * action (2), an unknown action named with the ones there are (2), then
 * the options, the config and database, and the action.
 */
static int run_action(int argc, char **argv, const char *group, const char *usage,
    int64_t limit, const struct action *acts, size_t n)
{
	struct cli c = { .config = DEFAULT_CONFIG, .limit = limit };
	char names[64] = "";
	size_t i, o = 0;
	int rc;

	if (argc < 3 || strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0) {
		fputs(usage, argc < 3 ? stderr : stdout);
		return argc < 3 ? 2 : 0;
	}
	for (i = 0; i < n && strcmp(argv[2], acts[i].name) != 0; i++)
		o += (size_t)snprintf(names + o, o < sizeof names ? sizeof names - o : 0, "%s%s",
		    i ? ", " : "", acts[i].name);
	if (i == n) {
		fprintf(stderr, "ordo: %s %s? (%s)\n%s", group, argv[2], names, usage);
		return 2;
	}
	if (parse(&c, argc, argv, 3, acts[i].opts, usage) != 0)
		return 2;
	if ((rc = open_all(&c)) == 0)
		rc = acts[i].run(&c);
	close_all(&c);
	return rc;
}

/*
 * printf for the text output: what a storefront sent (names, SKUs,
 * messages) reaches the operator's terminal, so control characters in it
 * (escape sequences, a newline splitting a table row) print as '?'. A
 * newline at the very start or end of the line is the format's own.
 */
static void tprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void tprintf(const char *fmt, ...)
{
	char buf[8192];
	va_list ap;
	size_t n, lead = 0, tail;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (len < 0)
		return;
	n = (size_t)len < sizeof buf ? (size_t)len : sizeof buf - 1;
	while (lead < n && buf[lead] == '\n')
		lead++;
	tail = n;
	while (tail > lead && buf[tail - 1] == '\n')
		tail--;
	for (size_t i = lead; i < tail; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (c < 0x20 || c == 0x7f)
			buf[i] = '?';
		else if (c == 0xc2 && i + 1 < tail && (unsigned char)buf[i + 1] >= 0x80 &&
		    (unsigned char)buf[i + 1] <= 0x9f)
			buf[i] = buf[i + 1] = '?';      /* a C1 control, UTF-8 encoded */
	}
	fwrite(buf, 1, n, stdout);
}

static int print_json(json_t *v)
{
	char *text = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (text == NULL)
		return 1;
	puts(text);
	free(text);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Tables                                                              */
/* ------------------------------------------------------------------ */

#define MAX_COLS 12

struct table {
	int ncol;
	char **cells;     /* rows * ncol, malloc'd strings */
	size_t rows, cap;
};

static void table_row(struct table *t, ...)
{
	va_list ap;

	if (t->rows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **p = realloc(t->cells, cap * (size_t)t->ncol * sizeof *p);

		if (p == NULL)
			return;
		t->cells = p;
		t->cap = cap;
	}
	va_start(ap, t);
	for (int i = 0; i < t->ncol; i++) {
		const char *s = va_arg(ap, const char *);

		t->cells[t->rows * (size_t)t->ncol + (size_t)i] = strdup(s && *s ? s : "-");
	}
	va_end(ap);
	t->rows++;
}

/* Print aligned (two spaces between columns, the last not padded) and free;
 * a table of only its header prints "none". */
static void table_print(struct table *t, const char *indent)
{
	size_t w[MAX_COLS] = { 0 };

	if (t->rows == 1) {
		for (int i = 0; i < t->ncol; i++)
			free(t->cells[i]);
		t->rows = 0;
		tprintf("%snone\n", indent);
	}

	for (size_t r = 0; r < t->rows; r++)
		for (int i = 0; i < t->ncol; i++) {
			const char *s = t->cells[r * (size_t)t->ncol + (size_t)i];
			size_t n = s ? strlen(s) : 0;

			if (n > w[i])
				w[i] = n;
		}
	for (size_t r = 0; r < t->rows; r++) {
		fputs(indent, stdout);
		for (int i = 0; i < t->ncol; i++) {
			char *s = t->cells[r * (size_t)t->ncol + (size_t)i];

			if (i == t->ncol - 1)
				tprintf("%s\n", s ? s : "");
			else
				tprintf("%-*s  ", (int)w[i], s ? s : "");
			free(s);
		}
	}
	free(t->cells);
	t->cells = NULL;
	t->rows = t->cap = 0;
}

/* Text of a JSON value for a cell (strings as is, integers in decimal). */
static const char *cell(const json_t *v, char *buf, size_t len)
{
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v)) {
		snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return buf;
	}
	if (json_is_true(v))
		return "yes";
	if (json_is_false(v))
		return "no";
	return "";
}

/* Minor units as "19.99 USD". */
static const char *amount(const json_t *minor, const json_t *currency, char *buf, size_t len)
{
	const char *cur = json_string_value(currency);
	char num[48];

	if (!json_is_integer(minor))
		return "";
	if (cur == NULL || money_format(json_integer_value(minor), cur, num, sizeof num) < 0)
		snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(minor));
	else
		snprintf(buf, len, "%s %s", num, cur);
	return buf;
}

#define F(o, k) json_object_get((o), (k))

/* ------------------------------------------------------------------ */
/* orders                                                              */
/* ------------------------------------------------------------------ */

static int by_id_desc(const void *a, const void *b)
{
	json_int_t x = json_integer_value(F(*(json_t *const *)a, "id"));
	json_int_t y = json_integer_value(F(*(json_t *const *)b, "id"));

	return x < y ? 1 : x > y ? -1 : 0;
}

/* Merge the "key" arrays of several answers, newest (highest id) first,
 * at most `limit`. Steals `parts`' items into a new array. */
static json_t *merge(json_t **parts, size_t n, const char *key, int64_t limit)
{
	json_t *out = json_array(), **all = NULL, *v;
	size_t total = 0, k = 0, i, j;

	for (i = 0; i < n; i++)
		total += json_array_size(F(parts[i], key));
	if (total > 0 && (all = calloc(total, sizeof *all)) == NULL)
		return out;
	for (i = 0; i < n; i++)
		json_array_foreach(F(parts[i], key), j, v)
			all[k++] = v;
	if (k > 1)
		qsort(all, k, sizeof *all, by_id_desc);
	for (i = 0; i < k && (limit <= 0 || (int64_t)i < limit); i++)
		json_array_append(out, all[i]);
	free(all);
	return out;
}

static int orders_list_cmd(struct cli *c)
{
	json_t **parts = calloc(c->n_ms + 1, sizeof *parts), *out = NULL, *o;
	char err[ORDERS_ERRLEN], b1[32], b2[64];
	struct table t = { .ncol = 9 };
	int rc = 1;
	size_t i;

	if (parts == NULL)
		return 1;
	for (i = 0; i < c->n_ms; i++) {
		struct orders_filter f = { .status = c->status, .limit = (int)c->limit };

		if ((parts[i] = orders_list(c->h, c->ms[i]->id, &f, err)) == NULL) {
			fprintf(stderr, "ordo: %s\n", err);
			goto out;
		}
		for (size_t j = 0; j < json_array_size(F(parts[i], "orders")); j++)
			json_object_set_new(json_array_get(F(parts[i], "orders"), j), "merchant",
			    json_string(c->ms[i]->id));
	}
	if (c->n_ms == 1) {
		out = json_incref(parts[0]);
	} else {
		out = json_object();
		json_object_set_new(out, "orders", merge(parts, c->n_ms, "orders", c->limit));
	}
	rc = 0;
	if (c->json) {
		/* The API's shape: the merchant is the key's, not a field. */
		json_array_foreach(F(out, "orders"), i, o)
			json_object_del(o, "merchant");
		rc = print_json(out);
		goto out;
	}
	table_row(&t, "ID", "MERCHANT", "CHANNEL", "EXTERNAL ID", "NUMBER", "STATUS", "PAYMENT",
	    "FULFILLMENT", "TOTAL");
	json_array_foreach(F(out, "orders"), i, o)
		table_row(&t, cell(F(o, "id"), b1, sizeof b1), json_string_value(F(o, "merchant")),
		    json_string_value(F(o, "channel")), json_string_value(F(o, "external_id")),
		    json_string_value(F(o, "number")), json_string_value(F(o, "status")),
		    json_string_value(F(o, "payment_status")),
		    json_string_value(F(o, "fulfillment_status")),
		    amount(F(o, "total"), F(o, "currency"), b2, sizeof b2));
	table_print(&t, "");
out:
	for (i = 0; i < c->n_ms; i++)
		json_decref(parts[i]);
	free(parts);
	json_decref(out);
	return rc;
}

static void show_order(const json_t *o)
{
	const json_t *cur = F(o, "currency"), *v;
	struct table t = { .ncol = 8 };
	char b1[32], b2[64], b3[32], b4[32], b5[32], b6[32], b7[32];
	size_t i;

	tprintf("order %" JSON_INTEGER_FORMAT "  %s %s  %s\n", json_integer_value(F(o, "id")),
	    json_string_value(F(o, "channel")), json_string_value(F(o, "external_id")),
	    json_string_value(F(o, "number")) ? json_string_value(F(o, "number")) : "");
	tprintf("  status       %s\n", json_string_value(F(o, "status")));
	tprintf("  payment      %s\n", json_string_value(F(o, "payment_status")));
	tprintf("  fulfillment  %s\n", json_string_value(F(o, "fulfillment_status")));
	tprintf("  total        %s\n", amount(F(o, "total"), cur, b2, sizeof b2));
	if (json_string_value(F(o, "email")))
		tprintf("  email        %s\n", json_string_value(F(o, "email")));
	tprintf("  created      %s\n", json_string_value(F(o, "created_at")));

	tprintf("\nlines\n");
	table_row(&t, "LINE", "SKU", "QTY", "UNIT PRICE", "CANCELED", "FULFILLED", "RESERVED",
	    "BACKORDERED");
	json_array_foreach(F(o, "lines"), i, v)
		table_row(&t, cell(F(v, "line_no"), b1, sizeof b1), json_string_value(F(v, "sku")),
		    cell(F(v, "quantity"), b3, sizeof b3), amount(F(v, "unit_price"), cur, b2, sizeof b2),
		    cell(F(v, "canceled_quantity"), b5, sizeof b5),
		    cell(F(v, "fulfilled_quantity"), b4, sizeof b4),
		    cell(F(v, "reserved"), b6, sizeof b6), cell(F(v, "backordered"), b7, sizeof b7));
	table_print(&t, "  ");

	tprintf("\nhistory\n");
	t.ncol = 5;
	table_row(&t, "AT", "KIND", "FROM", "TO", "MESSAGE");
	json_array_foreach(F(o, "history"), i, v)
		table_row(&t, json_string_value(F(v, "at")), json_string_value(F(v, "kind")),
		    json_string_value(F(v, "from")), json_string_value(F(v, "to")),
		    json_string_value(F(v, "message")));
	table_print(&t, "  ");

	tprintf("\npayments\n");
	t.ncol = 6;
	table_row(&t, "ID", "KIND", "AMOUNT", "STATUS", "REFERENCE", "ERROR");
	json_array_foreach(F(o, "payments"), i, v)
		table_row(&t, cell(F(v, "id"), b1, sizeof b1), json_string_value(F(v, "kind")),
		    amount(F(v, "amount"), F(v, "currency"), b2, sizeof b2),
		    json_string_value(F(v, "status")), json_string_value(F(v, "reference")),
		    json_string_value(F(v, "error")));
	table_print(&t, "  ");

	tprintf("\nshipments\n");
	t.ncol = 4;
	table_row(&t, "ID", "LOCATION", "STATUS", "SHIPPED");
	json_array_foreach(F(o, "shipments"), i, v)
		table_row(&t, cell(F(v, "id"), b1, sizeof b1), json_string_value(F(v, "location")),
		    json_string_value(F(v, "status")), json_string_value(F(v, "shipped_at")));
	table_print(&t, "  ");

	tprintf("\neffects\n");
	t.ncol = 6;
	table_row(&t, "ID", "KIND", "STATUS", "ATTEMPTS", "LAST STATUS", "LAST ERROR");
	json_array_foreach(F(o, "effects"), i, v)
		table_row(&t, cell(F(v, "id"), b1, sizeof b1), json_string_value(F(v, "kind")),
		    json_string_value(F(v, "status")), cell(F(v, "attempts"), b3, sizeof b3),
		    cell(F(v, "last_status"), b4, sizeof b4), json_string_value(F(v, "last_error")));
	table_print(&t, "  ");
}

static int orders_show_cmd(struct cli *c)
{
	int64_t id;
	json_t *o = NULL;
	int dberr = 0;

	if (parse_int(c->id, 1, INT64_MAX, &id) != 0) {
		fprintf(stderr, "ordo: no order \"%s\" (an order id is a whole number)\n", c->id);
		return 1;
	}
	for (size_t i = 0; i < c->n_ms && o == NULL && !dberr; i++)
		o = api_order(c->h, c->ms[i]->id, id, &dberr);
	if (o == NULL) {
		if (dberr)
			fprintf(stderr, "ordo: the database is unavailable: %s\n", db_errmsg(c->h));
		else
			fprintf(stderr, "ordo: no order %" PRId64 "%s%s\n", id,
			    c->merchant ? " for merchant " : "", c->merchant ? c->merchant : "");
		return 1;
	}
	if (c->json)
		print_json(o);
	else
		show_order(o);
	json_decref(o);
	return 0;
}

int cli_orders(int argc, char **argv)
{
	static const struct action acts[] = {
		{ "list", "orders merchant status limit", orders_list_cmd },
		{ "show", "merchant id", orders_show_cmd },
	};

	return run_action(argc, argv, "orders", usage_orders, 50, acts, 2);
}

/* ------------------------------------------------------------------ */
/* dead-letters                                                        */
/* ------------------------------------------------------------------ */

static int dead_letters_list_cmd(struct cli *c)
{
	json_t **parts = calloc(c->n_ms + 1, sizeof *parts), *out = NULL, *d;
	struct table t = { .ncol = 7 };
	char b1[32], b2[32], b3[32];
	int rc = 1;
	size_t i;

	if (parts == NULL)
		return 1;
	for (i = 0; i < c->n_ms; i++) {
		if ((parts[i] = dispatch_dead_letters(c->h, c->ms[i]->id, (int)c->limit)) == NULL) {
			fprintf(stderr, "ordo: the database is unavailable: %s\n", db_errmsg(c->h));
			goto out;
		}
		for (size_t j = 0; j < json_array_size(F(parts[i], "dead_letters")); j++)
			json_object_set_new(json_array_get(F(parts[i], "dead_letters"), j), "merchant",
			    json_string(c->ms[i]->id));
	}
	out = json_object();
	json_object_set_new(out, "dead_letters", merge(parts, c->n_ms, "dead_letters", c->limit));
	rc = 0;
	if (c->json) {
		json_array_foreach(F(out, "dead_letters"), i, d)
			json_object_del(d, "merchant");
		rc = print_json(out);
		goto out;
	}
	if (json_array_size(F(out, "dead_letters")) == 0) {
		tprintf("no dead letters\n");
		goto out;
	}
	table_row(&t, "ID", "MERCHANT", "EVENT", "TOPIC", "ATTEMPTS", "AT", "ERROR");
	json_array_foreach(F(out, "dead_letters"), i, d)
		table_row(&t, cell(F(d, "id"), b1, sizeof b1), json_string_value(F(d, "merchant")),
		    cell(F(d, "event_id"), b2, sizeof b2),
		    json_string_value(F(d, "event")) ? json_string_value(F(d, "event"))
		    : json_string_value(F(d, "topic")), cell(F(d, "attempts"), b3, sizeof b3),
		    json_string_value(F(d, "created_at")), json_string_value(F(d, "error")));
	table_print(&t, "");
out:
	for (i = 0; i < c->n_ms; i++)
		json_decref(parts[i]);
	free(parts);
	json_decref(out);
	return rc;
}

static int dead_letters_retry_cmd(struct cli *c)
{
	int64_t id, event_id = 0;
	int rc = 1;

	if (parse_int(c->id, 1, INT64_MAX, &id) != 0) {
		fprintf(stderr, "ordo: no dead letter \"%s\" (an id is a whole number)\n", c->id);
		return 1;
	}
	/* Dead letter ids are the database's, not a merchant's: the one that
	 * owns it is the one whose retry finds it. */
	for (size_t i = 0; i < c->n_ms && rc == 1; i++)
		rc = dispatch_retry_dead_letter(c->h, c->ms[i]->id, id, &event_id);
	if (rc == 1) {
		fprintf(stderr, "ordo: no open dead letter %" PRId64 "%s%s\n", id,
		    c->merchant ? " for merchant " : "", c->merchant ? c->merchant : "");
		return 1;
	}
	if (rc != 0) {
		fprintf(stderr, "ordo: the database is unavailable: %s\n", db_errmsg(c->h));
		return 1;
	}
	if (c->json) {
		json_t *out = json_pack("{s:b,s:I}", "ok", 1, "event_id", (json_int_t)event_id);

		print_json(out);
		json_decref(out);
	} else {
		tprintf("dead letter %" PRId64 ": event %" PRId64 " is back in the inbox\n", id,
		    event_id);
	}
	return 0;
}

int cli_dead_letters(int argc, char **argv)
{
	static const struct action acts[] = {
		{ "list", "merchant limit", dead_letters_list_cmd },
		{ "retry", "merchant id", dead_letters_retry_cmd },
	};

	return run_action(argc, argv, "dead-letters", usage_dead_letters, 100, acts, 2);
}

/* ------------------------------------------------------------------ */
/* inventory                                                           */
/* ------------------------------------------------------------------ */

static int inventory_show_cmd(struct cli *c)
{
	json_t *all = json_array(), *part, *r;
	struct table t = { .ncol = 7 };
	char b1[32], b2[32], b3[32], b4[32];
	size_t i, j;
	int rc = 0;

	for (i = 0; i < c->n_ms; i++) {
		if ((part = inv_list(c->h, c->ms[i]->id, c->sku, NULL, c->low)) == NULL) {
			fprintf(stderr, "ordo: the database is unavailable: %s\n", db_errmsg(c->h));
			rc = 1;
			goto out;
		}
		json_array_foreach(F(part, "stock"), j, r) {
			if (!c->json)
				json_object_set_new(r, "merchant", json_string(c->ms[i]->id));
			json_array_append(all, r);
		}
		json_decref(part);
	}
	if (c->json) {
		json_t *out = json_pack("{s:O}", "stock", all);

		rc = print_json(out);
		json_decref(out);
		goto out;
	}
	if (json_array_size(all) == 0) {
		tprintf("no stock rows\n");
		goto out;
	}
	table_row(&t, "MERCHANT", "SKU", "LOCATION", "ON HAND", "RESERVED", "AVAILABLE",
	    "BACKORDERED");
	json_array_foreach(all, i, r)
		table_row(&t, json_string_value(F(r, "merchant")), json_string_value(F(r, "sku")),
		    json_string_value(F(r, "location")), cell(F(r, "on_hand"), b1, sizeof b1),
		    cell(F(r, "reserved"), b2, sizeof b2), cell(F(r, "available"), b3, sizeof b3),
		    cell(F(r, "backordered"), b4, sizeof b4));
	table_print(&t, "");
out:
	json_decref(all);
	return rc;
}

int cli_inventory(int argc, char **argv)
{
	static const struct action acts[] = { { "show", "merchant sku low", inventory_show_cmd } };

	return run_action(argc, argv, "inventory", usage_inventory, 0, acts, 1);
}

/* ------------------------------------------------------------------ */
/* routes                                                              */
/* ------------------------------------------------------------------ */

int cli_routes(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	server_print_routes(stdout);
	return 0;
}
