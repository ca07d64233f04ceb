/*
 * main — the command line: serve, check, version.
 *
 *   ordo serve [-c FILE] [--listen HOST:PORT] [--db PATH]
 *   ordo check [-c FILE]
 *   ordo test [-c FILE] [SPEC...]
 *   ordo import inventory [-c FILE] [--db PATH] --merchant ID FILE.csv
 *   ordo backup [-c FILE] [--db PATH] OUT.db
 *   ordo orders list|show, dead-letters list|retry, inventory show (cli.c)
 *   ordo replay [-c FILE] [--db PATH] --merchant ID --order ORDER --workflow NEW.lua
 *   ordo report [-c FILE] [--db PATH] --merchant ID [--from D] [--to D] [--bucket B] [--json]
 *   ordo version
 *
 * Depends on config, sandbox and server. Flags override the config file.
 * Exit status: 0 success, 1 failure at run time, 2 bad usage or config.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ordo/cli.h"
#include "ordo/config.h"
#include "ordo/csvimport.h"
#include "ordo/db.h"
#include "ordo/lint.h"
#include "ordo/log.h"
#include "ordo/progress.h"
#include "ordo/replay.h"
#include "ordo/report_cli.h"
#include "ordo/sandbox.h"
#include "ordo/server.h"
#include "ordo/spec.h"

#define ORDO_VERSION "0.1.0"
#define DEFAULT_CONFIG "config/ordo.yaml"

static const char usage_main[] =
	"usage: ordo <command> [options]\n"
	"\n"
	"commands:\n"
	"  serve     run the daemon\n"
	"  check     validate the config and compile every workflow\n"
	"  test      run workflow specs on an in-memory database and a virtual clock\n"
	"  import    import inventory counts from CSV\n"
	"  backup    copy the database while the daemon runs\n"
	"  orders    list orders, or show one with its history\n"
	"  dead-letters\n"
	"            list dead letters, or send one back to the inbox\n"
	"  inventory show stock levels\n"
	"  replay    preview a workflow edit on one order's recorded events\n"
	"  report    print a merchant's KPIs (orders, revenue, lead times, returns...)\n"
	"  version   print the version\n"
	"\n"
	"`ordo <command> --help` tells more.\n";

static const char usage_serve[] =
	"usage: ordo serve [-c FILE] [--listen HOST:PORT] [--db PATH]\n"
	"\n"
	"  -c, --config FILE    config file (default " DEFAULT_CONFIG ")\n"
	"  --listen HOST:PORT   override server.listen; port 0 picks a free port\n"
	"                       (the bound port is logged)\n"
	"  --db PATH            override server.database\n"
	"\n"
	"Signals: SIGTERM/SIGINT stop gracefully, SIGHUP reloads workflow scripts.\n";

static const char usage_check[] =
	"usage: ordo check [-c FILE] [--strict]\n"
	"\n"
	"Validates the config and loads every merchant's workflow and channel\n"
	"adapters without starting the server. Prints file:line:column: message\n"
	"and exits non-zero on the first config error, or lists every workflow\n"
	"that fails to load. Then warns (file:line: warning: ...) on handlers for\n"
	"events nothing raises and on globals read but never defined; warnings\n"
	"exit 0 unless --strict.\n";

static const char usage_test[] =
	"usage: ordo test [-c FILE] [SPEC...]\n"
	"\n"
	"Runs workflow specs (Lua files returning tests) against a fresh in-memory\n"
	"database and a virtual clock, with every effect answered by the spec\n"
	"(default: success). Without SPEC: every *_spec.lua in the config's\n"
	"folder and in tests/workflows/ beside it, and <workflow>_spec.lua next to\n"
	"each merchant's workflow. Prints one line per test and \"N passed, N failed\".\n";

static const char usage_import[] =
	"usage: ordo import inventory [-c FILE] [--db PATH] --merchant ID FILE.csv\n"
	"\n"
	"Sets on-hand counts from a CSV file whose header names sku, location and\n"
	"on_hand (reason optional). Good rows are applied in one transaction,\n"
	"bad rows are listed as FILE:LINE: why and change nothing. Shows a\n"
	"progress bar on a terminal. Exit 0 when every row applied, 1 when some\n"
	"were rejected or the import failed, 2 on bad usage.\n";

static const char usage_backup[] =
	"usage: ordo backup [-c FILE] [--db PATH] OUT.db\n"
	"\n"
	"Copies the database to OUT.db with SQLite's online backup while the\n"
	"daemon keeps running: a consistent snapshot, checked and synced before\n"
	"it takes the name OUT.db (which must not exist). Restore by stopping\n"
	"the daemon and putting the copy in server.database's place.\n";
static const char usage_replay[] =
	"usage: ordo replay [-c FILE] [--db PATH] --merchant ID --order ORDER --workflow NEW.lua\n"
	"\n"
	"Runs the order's recorded events again, on scratch copies of the database\n"
	"(the original is only read), against the merchant's current workflow and\n"
	"against NEW.lua, and prints what would differ: statuses, history, each\n"
	"event's outcome, effects (payments with amounts, notifications, webhooks)\n"
	"and timers, as lines marked - (current only) and + (new only). No effect\n"
	"is sent. ORDER is ordo's order id or the storefront's external id.\n"
	"Exit 0 when nothing differs, 1 when something does, 2 on bad usage or\n"
	"trouble (no such order, a workflow that does not load).\n";

static int want_help(int argc, char **argv)
{
	for (int i = 2; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return 1;
	return 0;
}

/* A value option ("-c FILE") of a command; `alt` may be NULL. */
struct opt {
	const char *name, *alt;
	const char **dst;
};

/*
 * Read argv[first..] into `opts` and at most one positional argument
 * (`positional` NULL: none allowed). @return 0, or 2 after printing what
 * was wrong and `usage`.
 */
static int parse_opts(int argc, char **argv, int first, const struct opt *opts,
    const char **positional, const char *usage)
{
	for (int i = first; i < argc; i++) {
		const struct opt *o = opts;

		while (o->name != NULL && strcmp(argv[i], o->name) != 0 &&
		    (o->alt == NULL || strcmp(argv[i], o->alt) != 0))
			o++;
		if (o->name != NULL) {
			if (i + 1 >= argc) {
				fprintf(stderr, "ordo: missing value for %s\n%s", argv[i], usage);
				return 2;
			}
			*o->dst = argv[++i];
		} else if (argv[i][0] != '-' && positional != NULL && *positional == NULL) {
			*positional = argv[i];
		} else {
			fprintf(stderr, "ordo: unexpected %s\n%s", argv[i], usage);
			return 2;
		}
	}
	return 0;
}


/* --listen HOST:PORT into the config, by the config's own rules. */
static int override_listen(struct server_config *sc, const char *text)
{
	char *host = NULL;
	int port;

	if (config_parse_listen(text, &host, &port) != 0)
		return -1;
	free(sc->listen_host);
	sc->listen_host = host;
	sc->listen_port = port;
	return 0;
}

static struct ordo_config *load(const char *path)
{
	char *err = NULL;
	struct ordo_config *cfg = config_load(path, &err);

	if (cfg == NULL) {
		fprintf(stderr, "%s\n", err ? err : "cannot load the config");
		free(err);
	}
	return cfg;
}

/* The config, and the merchant in it (*m), or NULL having said which failed. */
static struct ordo_config *load_merchant(const char *path, const char *merchant,
    const struct merchant_config **m)
{
	struct ordo_config *cfg = load(path);

	if (cfg != NULL && (*m = config_merchant(cfg, merchant)) == NULL) {
		fprintf(stderr, "ordo: no merchant \"%s\" in %s\n", merchant, path);
		config_free(cfg);
		cfg = NULL;
	}
	return cfg;
}

static int cmd_serve(int argc, char **argv)
{
	struct ordo_config *cfg;
	struct { const char *config, *listen, *db; } o = { DEFAULT_CONFIG, NULL, NULL };
	const struct opt opts[] = {
		{ "-c", "--config", &o.config }, { "--listen", NULL, &o.listen },
		{ "--db", NULL, &o.db }, { NULL, NULL, NULL },
	};
	int rc;

	if (want_help(argc, argv)) {
		fputs(usage_serve, stdout);
		return 0;
	}
	if (parse_opts(argc, argv, 2, opts, NULL, usage_serve) != 0)
		return 2;
	if ((cfg = load(o.config)) == NULL)
		return 2;
	if (o.listen && override_listen(&cfg->server, o.listen) != 0) {
		fprintf(stderr, "ordo: --listen %s: expected HOST:PORT\n", o.listen);
		config_free(cfg);
		return 2;
	}
	if (o.db) {
		free(cfg->server.database);
		cfg->server.database = strdup(o.db);
	}
	rc = server_run(cfg);
	config_free(cfg);
	return rc;
}

static void print_warning(void *arg, const char *file, int line, const char *msg)
{
	const char *merchant = arg;

	if (line > 0)
		fprintf(stderr, "%s:%d: warning: %s (merchant %s)\n", file, line, msg, merchant);
	else
		fprintf(stderr, "%s: warning: %s (merchant %s)\n", file, msg, merchant);
}

/* @return the number of warnings, or -1 when the check itself failed. */
static int lint_workflow(struct sandbox *sb, const struct ordo_config *cfg,
    const struct merchant_config *m)
{
	char *err = NULL, *root = lint_root(cfg->server.scripts_dir);
	int n = lint_sandbox(sb, root, print_warning, m->id, &err);

	if (n < 0)
		fprintf(stderr, "%s (merchant %s)\n", err ? err : "cannot check the workflow", m->id);
	free(err);
	free(root);
	return n;
}

static int cmd_check(int argc, char **argv)
{
	struct ordo_config *cfg;
	const char *config = DEFAULT_CONFIG;
	const struct opt opts[] = { { "-c", "--config", &config }, { NULL, NULL, NULL } };
	int failed = 0, warnings = 0, strict = 0;

	if (want_help(argc, argv)) {
		fputs(usage_check, stdout);
		return 0;
	}
	for (int i = 2; i < argc; i++)
		if (strcmp(argv[i], "--strict") == 0) {
			strict = 1;
			memmove(&argv[i], &argv[i + 1], (size_t)(argc - i) * sizeof *argv);
			argc--;
			break;
		}
	if (parse_opts(argc, argv, 2, opts, NULL, usage_check) != 0)
		return 2;
	log_set_level(LOG_WARN);
	if ((cfg = load(config)) == NULL)
		return 2;
	for (size_t i = 0; i < cfg->n_merchants; i++) {
		struct sandbox_env env = {
			.merchant = &cfg->merchants[i], .scripts_dir = cfg->server.scripts_dir,
			.db = NULL, .modules = server_modules, .translators = server_translators,
		};
		char *err = NULL;
		struct sandbox *sb = sandbox_new(&env, &err);

		if (sb == NULL) {
			fprintf(stderr, "%s (merchant %s)\n", err ? err : "workflow failed to load",
			    cfg->merchants[i].id);
			failed++;
		} else {
			int n = lint_workflow(sb, cfg, &cfg->merchants[i]);

			if (n < 0)
				failed++;
			else
				warnings += n;
		}
		free(err);
		sandbox_free(sb);
	}
	if (failed == 0)
		printf("%s: ok (%zu merchant%s, every workflow loads; %d warning%s)\n", config,
		    cfg->n_merchants, cfg->n_merchants == 1 ? "" : "s",
		    warnings, warnings == 1 ? "" : "s");
	config_free(cfg);
	return failed || (strict && warnings) ? 1 : 0;
}

static int cmd_test(int argc, char **argv)
{
	struct ordo_config *cfg;
	const char *config = DEFAULT_CONFIG;
	char **files;
	int n = 0, rc;

	if (want_help(argc, argv)) {
		fputs(usage_test, stdout);
		return 0;
	}
	if ((files = calloc((size_t)argc, sizeof *files)) == NULL)
		return 1;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "ordo: missing value for %s\n%s", argv[i], usage_test);
				free(files);
				return 2;
			}
			config = argv[++i];
		} else if (argv[i][0] == '-') {
			fprintf(stderr, "ordo: unknown option %s\n%s", argv[i], usage_test);
			free(files);
			return 2;
		} else {
			files[n++] = argv[i];
		}
	}
	if ((cfg = load(config)) == NULL) {
		free(files);
		return 2;
	}
	rc = spec_run(cfg, files, n);
	config_free(cfg);
	free(files);
	return rc;
}

static void import_progress(void *arg, size_t rows, size_t bytes, size_t total)
{
	char detail[32];

	(void)total;
	snprintf(detail, sizeof detail, "%zu rows", rows);
	progress_update(arg, bytes, detail);
}

static void backup_progress(void *arg, int done, int total)
{
	struct progress *p = arg;
	char detail[48];

	p->total = (uint64_t)total;
	snprintf(detail, sizeof detail, "%d of %d pages", done, total);
	progress_update(p, (uint64_t)done, detail);
}

static int cmd_backup(int argc, char **argv)
{
	const char *config = DEFAULT_CONFIG, *dbpath = NULL, *out = NULL;
	struct progress bar;
	struct ordo_config *cfg = NULL;
	char *err = NULL;
	int rc;

	if (want_help(argc, argv)) {
		fputs(usage_backup, stdout);
		return 0;
	}
	{
		const struct opt opts[] = {
			{ "-c", "--config", &config }, { "--db", NULL, &dbpath }, { NULL, NULL, NULL },
		};

		if (parse_opts(argc, argv, 2, opts, &out, usage_backup) != 0)
			return 2;
	}
	if (out == NULL) {
		fputs(usage_backup, stderr);
		return 2;
	}
	if (dbpath == NULL) {
		if ((cfg = load(config)) == NULL)
			return 2;
		dbpath = cfg->server.database;
	}
	progress_init(&bar, stderr, "backup", 0);
	rc = db_backup(dbpath, out, backup_progress, &bar, &err);
	if (rc == 0)
		progress_finish(&bar, NULL);
	else if (bar.tty)
		fputc('\n', stderr);
	if (rc != 0)
		fprintf(stderr, "ordo: backup: %s\n", err);
	else
		printf("backed up %s to %s\n", dbpath, out);
	free(err);
	config_free(cfg);
	return rc != 0;
}

static int cmd_import(int argc, char **argv)
{
	const char *config = DEFAULT_CONFIG, *merchant = NULL, *file = NULL, *dbpath = NULL;
	const struct merchant_config *m;
	struct csvimport_summary sum;
	struct ordo_config *cfg;
	struct progress bar;
	struct db *db;
	struct stat st;
	char err[256], *dberr = NULL;
	FILE *fp;
	int rc;

	if (want_help(argc, argv) || argc < 3) {
		fputs(usage_import, argc < 3 ? stderr : stdout);
		return argc < 3 ? 2 : 0;
	}
	if (strcmp(argv[2], "inventory") != 0) {
		fprintf(stderr, "ordo: import what? only \"inventory\"\n%s", usage_import);
		return 2;
	}
	{
		const struct opt opts[] = {
			{ "-c", "--config", &config }, { "--merchant", NULL, &merchant },
			{ "--db", NULL, &dbpath }, { NULL, NULL, NULL },
		};

		if (parse_opts(argc, argv, 3, opts, &file, usage_import) != 0)
			return 2;
	}
	if (merchant == NULL || file == NULL) {
		fputs(usage_import, stderr);
		return 2;
	}
	if ((cfg = load_merchant(config, merchant, &m)) == NULL)
		return 2;
	if ((fp = fopen(file, "rb")) == NULL) {
		fprintf(stderr, "ordo: %s: %s\n", file, strerror(errno));
		config_free(cfg);
		return 1;
	}
	log_set_level(LOG_WARN);
	if ((db = db_open(dbpath ? dbpath : cfg->server.database, cfg->server.durability_full,
	    &dberr)) == NULL) {
		fprintf(stderr, "ordo: cannot open the database: %s\n", dberr ? dberr : "?");
		free(dberr);
		fclose(fp);
		config_free(cfg);
		return 1;
	}
	progress_init(&bar, stderr, "import", fstat(fileno(fp), &st) == 0 ? (uint64_t)st.st_size : 0);
	rc = csvimport_inventory(db, m, fp, file, (size_t)bar.total, import_progress, &bar, stderr,
	    &sum, err);
	if (rc == 0) {
		char detail[32];

		snprintf(detail, sizeof detail, "%zu rows", sum.rows);
		progress_finish(&bar, detail);
	} else if (bar.tty) {
		fputc('\n', stderr);
	}
	if (rc != 0)
		fprintf(stderr, "ordo: import failed, nothing applied: %s\n", err);
	else
		printf("%zu rows: %zu applied, %zu rejected\n", sum.rows, sum.applied, sum.rejected);
	db_close(db);
	fclose(fp);
	config_free(cfg);
	return rc != 0 || sum.rejected > 0 ? 1 : 0;
}

static int cmd_replay(int argc, char **argv)
{
	const char *config = DEFAULT_CONFIG, *merchant = NULL, *order = NULL, *workflow = NULL,
	    *dbpath = NULL;
	const struct merchant_config *m;
	struct ordo_config *cfg;
	int rc;

	if (want_help(argc, argv)) {
		fputs(usage_replay, stdout);
		return 0;
	}
	{
		const struct opt opts[] = {
			{ "-c", "--config", &config }, { "--merchant", NULL, &merchant },
			{ "--order", NULL, &order }, { "--workflow", NULL, &workflow },
			{ "--db", NULL, &dbpath }, { NULL, NULL, NULL },
		};

		if (parse_opts(argc, argv, 2, opts, NULL, usage_replay) != 0)
			return 2;
	}
	if (merchant == NULL || order == NULL || workflow == NULL) {
		fputs(usage_replay, stderr);
		return 2;
	}
	if ((cfg = load_merchant(config, merchant, &m)) == NULL)
		return 2;
	log_set_level(LOG_ERROR);
	rc = replay_order(cfg, m, dbpath ? dbpath : cfg->server.database, order, workflow,
	    stdout, stderr);
	config_free(cfg);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(usage_main, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "serve") == 0)
		return cmd_serve(argc, argv);
	if (strcmp(argv[1], "check") == 0)
		return cmd_check(argc, argv);
	if (strcmp(argv[1], "test") == 0)
		return cmd_test(argc, argv);
	if (strcmp(argv[1], "import") == 0)
		return cmd_import(argc, argv);
	if (strcmp(argv[1], "backup") == 0)
		return cmd_backup(argc, argv);
	if (strcmp(argv[1], "orders") == 0)
		return cli_orders(argc, argv);
	if (strcmp(argv[1], "dead-letters") == 0)
		return cli_dead_letters(argc, argv);
	if (strcmp(argv[1], "inventory") == 0)
		return cli_inventory(argc, argv);
	if (strcmp(argv[1], "routes") == 0)   /* hidden: for tests and the OpenAPI check */
		return cli_routes(argc, argv);
	if (strcmp(argv[1], "replay") == 0)
		return cmd_replay(argc, argv);
	if (strcmp(argv[1], "report") == 0)
		return report_cli_main(argc, argv, DEFAULT_CONFIG);
	if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("ordo %s\n", ORDO_VERSION);
		return 0;
	}
	fprintf(stderr, "ordo: unknown command \"%s\"\n%s", argv[1], usage_main);
	return 2;
}
