/*
 * cli — the operator's commands over the daemon's database:
 *
 *   ordo orders list [--merchant ID] [--status S] [--limit N]
 *   ordo orders show ID
 *   ordo dead-letters list [--merchant ID]
 *   ordo dead-letters retry ID
 *   ordo inventory show [--merchant ID] [--sku S] [--low [N]]
 *   ordo routes                      (hidden: every HTTP route served)
 *
 * Every command takes -c FILE / --db PATH and --json (the API's answer
 * for the same question, where there is a route). They open the database
 * beside a running daemon (WAL: readers never wait for it; a retry waits
 * up to the busy timeout for its write). Depends on config, db and the
 * domain modules; never on the event loop.
 */
#ifndef ORDO_CLI_H
#define ORDO_CLI_H

/* Each takes main's argc/argv (argv[1] is the command) and returns the
 * exit status: 0 done, 1 not found or a database error, 2 bad usage. */
int cli_orders(int argc, char **argv);
int cli_dead_letters(int argc, char **argv);
int cli_inventory(int argc, char **argv);
int cli_routes(int argc, char **argv);

#endif
