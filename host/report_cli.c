/*
 * report_cli — `ordo report` (see report_cli.h).
 *
 * Depends on config (the merchant's currency and time zone), db and
 * reports. Parameters are read by reports_range_parse exactly as the API
 * reads them, so the command and the route cannot disagree.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "ordo/clock.h"
#include "ordo/config.h"
#include "ordo/db.h"
#include "ordo/log.h"
#include "ordo/report_cli.h"
#include "ordo/reports.h"

const char report_cli_usage[] =
	"usage: ordo report [-c FILE] [--db PATH] --merchant ID [--from D] [--to D]\n"
	"                   [--bucket day|week] [--json]\n"
	"\n"
	"Prints a merchant's KPIs: orders and revenue by channel and by day or\n"
	"week, lead times, fulfillment rate, backorders, returns, refunds,\n"
	"renewals and dunning. D is a date YYYY-MM-DD in the merchant's time zone\n"
	"(--to includes that day) or an RFC 3339 time; the default is the last\n"
	"30 days. Reads the database directly, also while the daemon runs.\n"
	"--json prints what GET /api/v1/reports/kpis answers.\n";

int report_cli_main(int argc, char **argv, const char *config)
{
	const char *merchant = NULL, *dbpath = NULL, *from = NULL, *to = NULL, *bucket = NULL;
	const struct merchant_config *m;
	struct ordo_config *cfg = NULL;
	struct reports_range r;
	struct db *db = NULL;
	struct stat st;
	char err[REPORTS_ERRLEN], *msg = NULL;
	int64_t now = clock_now_ms();
	int json = 0, rc = 2;
	json_t *doc = NULL;

	for (int i = 2; i < argc; i++) {
		const char **dst = NULL;

		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(report_cli_usage, stdout);
			return 0;
		}
		if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0)
			dst = &config;
		else if (strcmp(argv[i], "--db") == 0)
			dst = &dbpath;
		else if (strcmp(argv[i], "--merchant") == 0)
			dst = &merchant;
		else if (strcmp(argv[i], "--from") == 0)
			dst = &from;
		else if (strcmp(argv[i], "--to") == 0)
			dst = &to;
		else if (strcmp(argv[i], "--bucket") == 0)
			dst = &bucket;
		else if (strcmp(argv[i], "--json") == 0) {
			json = 1;
			continue;
		} else {
			fprintf(stderr, "ordo: unexpected %s\n%s", argv[i], report_cli_usage);
			return 2;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "ordo: missing value for %s\n%s", argv[i], report_cli_usage);
			return 2;
		}
		*dst = argv[++i];
	}
	if (merchant == NULL) {
		fprintf(stderr, "ordo: --merchant is required\n%s", report_cli_usage);
		return 2;
	}
	if ((cfg = config_load(config, &msg)) == NULL) {
		fprintf(stderr, "%s\n", msg ? msg : "cannot load the config");
		goto out;
	}
	if ((m = config_merchant(cfg, merchant)) == NULL) {
		fprintf(stderr, "ordo: no merchant \"%s\" in %s\n", merchant, config);
		goto out;
	}
	if (reports_range_parse(m, from, to, bucket, now, &r, err) != 0) {
		/* The API's words name the query parameter; here it is a flag. */
		fprintf(stderr, "ordo: --%s\n", err);
		goto out;
	}
	log_set_level(LOG_WARN);
	rc = 1;
	if (dbpath == NULL)
		dbpath = cfg->server.database;
	/* A report never creates a database: a mistyped path is an error. */
	if (stat(dbpath, &st) != 0) {
		fprintf(stderr, "ordo: no database at %s\n", dbpath);
		goto out;
	}
	if ((db = db_open(dbpath, cfg->server.durability_full, &msg)) == NULL) {
		fprintf(stderr, "ordo: cannot open the database: %s\n", msg ? msg : "?");
		goto out;
	}
	if ((doc = reports_kpis(db, m, &r, now, err)) == NULL) {
		fprintf(stderr, "ordo: %s\n", err);
		goto out;
	}
	if (json) {
		char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

		if (text == NULL)
			goto out;
		puts(text);
		free(text);
	} else if (reports_print(stdout, doc) != 0) {
		goto out;
	}
	rc = fflush(stdout) == 0 ? 0 : 1;
out:
	json_decref(doc);
	db_close(db);
	config_free(cfg);
	free(msg);
	return rc;
}
