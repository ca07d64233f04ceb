/*
 * server — the daemon: one event loop wiring config, database, sandboxes,
 * inbox, dispatcher and the HTTP routes, plus signals (SIGTERM/SIGINT stop
 * gracefully, SIGHUP reloads workflow scripts).
 */
#ifndef ORDO_SERVER_H
#define ORDO_SERVER_H

#include <stdio.h>

#include "ordo/config.h"
#include "ordo/sandbox.h"

struct conns;
struct db;
struct dispatch;
struct outbox;
struct timers;

struct evhttp_request;
struct inbox;
struct reload_status;
struct sandbox;
struct watch;

/* A token bucket, in thousandths of a delivery. */
struct bucket {
	int64_t tokens;
	int64_t at;      /* clock_mono_ms of the last refill */
};

struct server {
	struct ordo_config *cfg;
	struct db *db;
	struct event_base *base;
	struct sandbox **sandboxes;     /* one per cfg->merchants[i] */
	struct reload_status *wf;       /* one per merchant: version, latest load error */
	struct watch *watch;            /* workflow folders and scripts/; NULL if unavailable */
	struct inbox *inbox;
	struct dispatch *dispatch;
	struct outbox *outbox;
	struct timers *timers;
	struct evhttp *http;
	struct conns *conns;            /* the cap and deadlines of http's connections */
	struct evhttp_bound_socket *sock;
	struct event *sig_term, *sig_int, *sig_hup, *depth_ev;
	int64_t pending;                /* inbox depth: counted each second, plus arrivals */
	int64_t data_version;           /* db_data_version at the last look */
	struct bucket *buckets;         /* per merchant: webhook rate limit */
	int stopping;
};

/* The host modules every workflow gets (orders, http, payments, notify,
 * webhooks) and the host steps for effect answers; `ordo check` loads
 * workflows with the same. */
extern const struct sandbox_module server_modules[];
extern const struct sandbox_translator server_translators[];

/* The evhttp callback for every request (`arg` is the server): webhooks,
 * the API, downloads, /healthz, /metrics. */
struct evhttp_request;
void server_route(struct evhttp_request *req, void *arg);

/* The merchant's index in cfg->merchants, or -1. */
int server_merchant_index(const struct server *s, const char *id);

/*
 * The per-merchant state of a server whose cfg and db are set: sandboxes
 * (loaded), webhook rate buckets, workflow load status. server_run and the
 * HTTP fuzzer share it. @return 0; -1 when memory is short; 1 when a
 * workflow failed to load (logged). server_merchants_free() undoes it
 * (also after a failure).
 */
int server_merchants_init(struct server *s);
void server_merchants_free(struct server *s);

/* (Re)build every merchant's sandbox; on a failure keep the old one.
 * @return the number of merchants whose script failed to load. */
int server_reload(struct server *s);

/* Rebuild only the merchants that loaded one of these files (real paths),
 * and those whose latest load failed. @return as server_reload. */
int server_reload_files(struct server *s, char *const *paths, size_t n);

/*
 * Run the daemon until SIGTERM/SIGINT. The config is borrowed.
 * @return the process exit status.
 */
int server_run(struct ordo_config *cfg);

/* Routes (ingress.c, api.c). */
void ingress_webhook(struct server *s, struct evhttp_request *req, char **seg, int n);
void api_handle(struct server *s, struct evhttp_request *req, char **seg, int n);

/*
 * A route: the method ("GET", "POST", "PUT", "DELETE"; GET also takes
 * HEAD), the path pattern ("/api/v1/orders/{id}/cancel": a {name}
 * segment matches any one segment, the rest literally) and the handler.
 * `m` is the authenticated merchant for API routes, NULL for the others.
 * The tables are what dispatches, so `ordo routes` (server_print_routes)
 * lists exactly what is served.
 */
typedef void (*route_fn)(struct server *s, struct evhttp_request *req,
    const struct merchant_config *m, char **seg, int n);
struct route {
	const char *method;
	const char *pattern;
	route_fn fn;
};

/* The API's routes (api.c), served under authentication. */
extern const struct route api_routes[];
extern const size_t api_n_routes;

/*
 * The first of the n routes of `t` whose pattern and method match the
 * request; NULL after answering 405 method_not_allowed (with Allow) when
 * only the path matched, or 404 no_route (naming the actions that exist
 * beside it) when nothing did.
 */
const struct route *server_find_route(const struct route *t, size_t n,
    struct evhttp_request *req, char **seg, int nseg);

/* Every route the daemon serves, one "METHOD PATTERN" line each. */
void server_print_routes(FILE *out);

#endif
