/*
 * report_cli — `ordo report`: the KPIs of reports.h in a terminal.
 *
 *   ordo report [-c FILE] [--db PATH] --merchant ID [--from D] [--to D]
 *               [--bucket day|week] [--json]
 *
 * Reads the database directly (WAL: works while the daemon runs, and
 * writes nothing besides what opening it migrates). --json prints the
 * document GET /api/v1/reports/kpis answers, byte for byte the same
 * figures.
 */
#ifndef ORDO_REPORT_CLI_H
#define ORDO_REPORT_CLI_H

extern const char report_cli_usage[];

/* argv[1] is "report". `config` is the default config path.
 * @return the exit status: 0, 1 (database error), 2 (bad usage, config
 * or parameters). */
int report_cli_main(int argc, char **argv, const char *config);

#endif
