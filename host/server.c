/*
 * server — the daemon's wiring and lifecycle.
 *
 * Depends on every runtime module. Owns the event loop, the database
 * handle, one sandbox per merchant, the inbox and the dispatcher, and
 * routes HTTP requests. SIGTERM/SIGINT: stop accepting, commit what is
 * queued, answer what is in flight, exit 0. SIGHUP, or a script file
 * changing on disk (watch.c): reload the workflow scripts (reload.c); a
 * merchant whose new script fails keeps the old one.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "ordo/clock.h"
#include "ordo/conns.h"
#include "ordo/crypto.h"
#include "ordo/db.h"
#include "ordo/dispatch.h"
#include "ordo/download.h"
#include "ordo/http.h"
#include "ordo/inbox.h"
#include "ordo/l_effects.h"
#include "ordo/l_orders.h"
#include "ordo/notify.h"
#include "ordo/openapi.h"
#include "ordo/orders.h"
#include "ordo/outbox.h"
#include "ordo/reload.h"
#include "ordo/timers.h"
#include "ordo/log.h"
#include "ordo/metrics.h"
#include "ordo/sandbox.h"
#include "ordo/server.h"
#include "ordo/api.h"
#include "ordo/watch.h"
#include "ordo/web.h"

/* Quiet time after a script file changes before the reload: an editor's
 * save, or a checkout, is several events. */
#define WATCH_DEBOUNCE_MS 100

const struct sandbox_module server_modules[] = {
	{ "orders", l_orders_open },
	{ "http", l_http_open },
	{ "payments", l_payments_open },
	{ "notify", l_notify_open },
	{ "webhooks", l_webhooks_open },
	{ "timers", l_timers_open },
	{ "subscriptions", l_subscriptions_open },
	{ "inventory", l_inventory_open },
	{ "fulfillment", l_fulfillment_open },
	{ "purchasing", l_purchasing_open },
	{ "dropship", l_dropship_open },
	{ "digital", l_digital_open },
	{ "returns", l_returns_open },
	{ NULL, NULL },
};

const struct sandbox_translator server_translators[] = {
	{ "payment_result", l_payments_result },
	{ "subscription_renewal_due", l_subscriptions_renewal },
	{ "*", l_effects_answer },
	{ NULL, NULL },
};

int server_merchant_index(const struct server *s, const char *id)
{
	for (size_t i = 0; i < s->cfg->n_merchants; i++)
		if (strcmp(s->cfg->merchants[i].id, id) == 0)
			return (int)i;
	return -1;
}

static struct sandbox *lookup(void *arg, const char *merchant)
{
	struct server *s = arg;
	int i = server_merchant_index(s, merchant);

	return i < 0 ? NULL : s->sandboxes[i];
}

static const struct merchant_config *lookup_config(void *arg, const char *merchant)
{
	struct server *s = arg;
	int i = server_merchant_index(s, merchant);

	return i < 0 ? NULL : &s->cfg->merchants[i];
}

/* A workflow that is a symlink is edited where it points: watch that
 * folder too (the sandbox names files by their real paths; watching a
 * folder twice is one watch). */
static void watch_real_folder(struct server *s, const char *workflow)
{
	char *real = s->watch ? realpath(workflow, NULL) : NULL, *slash;

	if (real != NULL && (slash = strrchr(real, '/')) != NULL && slash != real) {
		*slash = '\0';
		if (watch_add(s->watch, real, 0) != 0)
			log_warn("cannot watch a workflow folder", "path", real, "error",
			    strerror(errno), NULL);
	}
	free(real);
}

static int reload_one(struct server *s, size_t i)
{
	struct sandbox_env env = {
		.merchant = &s->cfg->merchants[i], .scripts_dir = s->cfg->server.scripts_dir,
		.db = s->db, .modules = server_modules, .translators = server_translators,
	};

	int rc = reload_merchant(&env, &s->sandboxes[i], &s->wf[i]);

	watch_real_folder(s, s->cfg->merchants[i].workflow);
	return rc;
}

int server_merchants_init(struct server *s)
{
	size_t n = s->cfg->n_merchants ? s->cfg->n_merchants : 1;

	s->sandboxes = calloc(n, sizeof *s->sandboxes);
	s->buckets = calloc(n, sizeof *s->buckets);
	s->wf = calloc(n, sizeof *s->wf);
	if (s->sandboxes == NULL || s->buckets == NULL || s->wf == NULL)
		return -1;
	for (size_t i = 0; i < s->cfg->n_merchants; i++) {
		s->buckets[i].tokens = 2000 * s->cfg->merchants[i].webhook_rate;
		s->buckets[i].at = clock_mono_ms();
	}
	return server_reload(s) != 0;
}

void server_merchants_free(struct server *s)
{
	for (size_t i = 0; s->sandboxes && i < s->cfg->n_merchants; i++)
		sandbox_free(s->sandboxes[i]);
	for (size_t i = 0; s->wf && i < s->cfg->n_merchants; i++)
		reload_status_free(&s->wf[i]);
	free(s->wf);
	free(s->sandboxes);
	free(s->buckets);
	s->wf = NULL;
	s->sandboxes = NULL;
	s->buckets = NULL;
}

int server_reload(struct server *s)
{
	int failed = 0;

	for (size_t i = 0; i < s->cfg->n_merchants; i++)
		if (reload_one(s, i) < 0)
			failed++;
	return failed;
}

/* A lost-events overflow reports the name "*.lua": every merchant is affected. */
static int affects(const struct server *s, size_t i, char *const *paths, size_t n)
{
	if (s->sandboxes[i] == NULL || s->wf[i].error != NULL)
		return 1;
	for (size_t k = 0; k < n; k++) {
		const char *slash = strrchr(paths[k], '/');

		if ((slash != NULL && strcmp(slash, "/*.lua") == 0) ||
		    sandbox_uses_file(s->sandboxes[i], paths[k]))
			return 1;
	}
	return 0;
}

int server_reload_files(struct server *s, char *const *paths, size_t n)
{
	int failed = 0;

	for (size_t i = 0; i < s->cfg->n_merchants; i++)
		if (affects(s, i, paths, n) && reload_one(s, i) < 0)
			failed++;
	return failed;
}

static void on_files_changed(void *arg, char *const *paths, size_t n)
{
	struct server *s = arg;

	if (s->stopping)
		return;
	for (size_t i = 0; i < n; i++)
		log_debug("script file changed", "path", paths[i], NULL);
	server_reload_files(s, paths, n);
	dispatch_kick(s->dispatch);
}

/* Watch scripts/ (and below) and each workflow's folder (and, for a
 * symlink, its target's). Without inotify the daemon still runs; SIGHUP
 * reloads. */
static void start_watch(struct server *s)
{
	const char *dir = s->cfg->server.scripts_dir;

	if ((s->watch = watch_new(s->base, WATCH_DEBOUNCE_MS, on_files_changed, s)) == NULL) {
		log_warn("cannot watch script files; reload with SIGHUP", "error", strerror(errno), NULL);
		return;
	}
	if (dir != NULL && watch_add(s->watch, dir, 1) != 0)
		log_warn("cannot watch the scripts folder", "path", dir, "error", strerror(errno), NULL);
	for (size_t i = 0; i < s->cfg->n_merchants; i++) {
		char *parent = strdup(s->cfg->merchants[i].workflow), *slash;

		if (parent == NULL)
			continue;
		slash = strrchr(parent, '/');
		if (slash == NULL)
			strcpy(parent, ".");
		else if (slash == parent)
			slash[1] = '\0';
		else
			*slash = '\0';
		if (watch_add(s->watch, parent, 0) != 0)
			log_warn("cannot watch a workflow folder", "path", parent, "error",
			    strerror(errno), NULL);
		watch_real_folder(s, s->cfg->merchants[i].workflow);
		free(parent);
	}
}

/* ------------------------------------------------------------------ */
/* Routes                                                              */
/* ------------------------------------------------------------------ */

/* 200 {"status":"ok"} while deliveries can be stored; 503 "stopping" on
 * the way out, and 503 "degraded" naming the fault while the database
 * cannot write (deliveries get 503 then; reads still work). */
static void healthz(struct server *s, struct evhttp_request *req)
{
	int64_t depth = inbox_depth(s->db);
	const char *fault = NULL;

	if (depth < 0) {
		http_reply_error(req, 503, "unavailable", "the database does not answer");
		return;
	}
	if (!s->stopping && db_fault(s->db, &fault) != 0) {
		http_reply_json(req, 503, json_pack("{s:s,s:I,s:s+}", "status", "degraded",
		    "inbox_depth", (json_int_t)depth, "error", "the database cannot write: ", fault));
		return;
	}
	http_reply_json(req, s->stopping ? 503 : 200, json_pack("{s:s,s:I}",
	    "status", s->stopping ? "stopping" : "ok", "inbox_depth", (json_int_t)depth));
}

static void metrics_page(struct server *s, struct evhttp_request *req)
{
	struct evbuffer *buf = evbuffer_new();

	if (buf == NULL) {
		http_reply_error(req, 503, "unavailable", "out of memory");
		return;
	}
	metrics_set("ordo_inbox_depth", NULL, inbox_depth(s->db));
	/* As /healthz sees it now, not as of the last second's tick. */
	metrics_set("ordo_database_write_failing", NULL, db_fault(s->db, NULL) != 0);
	metrics_render(buf);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    "text/plain; version=0.0.4");
	evhttp_send_reply(req, 200, "OK", buf);
	evbuffer_free(buf);
}

static void webhook_route(struct server *s, struct evhttp_request *req,
    const struct merchant_config *m, char **seg, int n)
{
	(void)m;
	if (s->stopping) {
		http_reply_error(req, 503, "unavailable", "ordo is shutting down");
		return;
	}
	dispatch_note_ingress(s->dispatch);
	ingress_webhook(s, req, seg, n);
}

static void download_route(struct server *s, struct evhttp_request *req,
    const struct merchant_config *m, char **seg, int n)
{
	(void)m;
	(void)n;
	download_serve(s->db, s->cfg, req, seg[1]);
}

static void healthz_route(struct server *s, struct evhttp_request *req,
    const struct merchant_config *m, char **seg, int n)
{
	(void)m;
	(void)seg;
	(void)n;
	healthz(s, req);
}

static void metrics_route(struct server *s, struct evhttp_request *req,
    const struct merchant_config *m, char **seg, int n)
{
	(void)m;
	(void)seg;
	(void)n;
	metrics_page(s, req);
}

/* The API's description needs no key: it holds no merchant's data, and
 * tools (code generators, API explorers) fetch it before they have one. */
static void openapi_route(struct server *s, struct evhttp_request *req,
    const struct merchant_config *m, char **seg, int n)
{
	(void)s;
	(void)m;
	(void)seg;
	(void)n;
	http_reply_text(req, 200, "application/json", (const char *)openapi_json,
	    openapi_json_len);
}

/* Everything outside /api/v1/ (whose routes are api.c's), and the API's
 * description, which is served without a key. */
static const struct route server_routes[] = {
	{ "POST", "/webhooks/{merchant}/{channel}", webhook_route },
	{ "POST", "/webhooks/{merchant}/supplier/{supplier}", webhook_route },
	{ "GET", "/d/{token}", download_route },
	{ "GET", "/healthz", healthz_route },
	{ "GET", "/metrics", metrics_route },
	{ "GET", "/api/v1/openapi.json", openapi_route },
	{ "POST", "/api/v1/session", api_session_create },
};
#define N_SERVER_ROUTES (sizeof server_routes / sizeof server_routes[0])

static const char *method_name(enum evhttp_cmd_type cmd)
{
	switch (cmd) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_HEAD: return "HEAD";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	default: return "?";
	}
}

/* @return 1 when the pattern's segments match seg[0..nseg), else 0; with
 * `but_last`, the last segment need not match (it must be a literal). */
static int path_matches(const char *pattern, char **seg, int nseg, int but_last)
{
	int i = 0;

	while (*pattern == '/') {
		size_t len;

		pattern++;
		len = strcspn(pattern, "/");
		if (i >= nseg)
			return 0;
		if (but_last && i == nseg - 1)
			return pattern[0] != '{' && pattern[len] == '\0';
		if (pattern[0] != '{' && (strlen(seg[i]) != len || strncmp(pattern, seg[i], len) != 0))
			return 0;
		pattern += len;
		i++;
	}
	return i == nseg;
}

const struct route *server_find_route(const struct route *t, size_t n,
    struct evhttp_request *req, char **seg, int nseg)
{
	const char *method = method_name(evhttp_request_get_command(req));
	char allow[64] = "", here[256] = "", path[512] = "";
	size_t i, lo = 0, ho = 0;

	for (i = 0; i < n; i++) {
		if (!path_matches(t[i].pattern, seg, nseg, 0))
			continue;
		if (strcmp(t[i].method, method) == 0 ||
		    (strcmp(method, "HEAD") == 0 && strcmp(t[i].method, "GET") == 0))
			return &t[i];
		if (strstr(allow, t[i].method) == NULL && lo + strlen(t[i].method) + 3 < sizeof allow)
			lo += (size_t)snprintf(allow + lo, sizeof allow - lo, "%s%s", lo ? ", " : "",
			    t[i].method);
	}
	if (lo > 0) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
		http_reply_error(req, 405, "method_not_allowed", "use %s", allow);
		return NULL;
	}
	/* Name the actions that exist beside the one asked for: the last
	 * segments of the routes that match all but it. */
	for (i = 0; nseg > 0 && i < n; i++) {
		const char *last = strrchr(t[i].pattern, '/') + 1;

		if (path_matches(t[i].pattern, seg, nseg, 1) && strstr(here, last) == NULL &&
		    ho + strlen(last) + 3 < sizeof here)
			ho += (size_t)snprintf(here + ho, sizeof here - ho, "%s%s", ho ? ", " : "", last);
	}
	for (int k = 0, o = 0; k < nseg && o < (int)sizeof path - 2; k++)
		o += snprintf(path + o, sizeof path - (size_t)o, "/%s", seg[k]);
	if (ho > 0)
		http_reply_error(req, 404, "no_route", "no route %s %s (here: %s)", method,
		    nseg ? path : "/", here);
	else
		http_reply_error(req, 404, "no_route", "no route %s %s", method, nseg ? path : "/");
	return NULL;
}

void server_print_routes(FILE *out)
{
	for (size_t i = 0; i < N_SERVER_ROUTES; i++)
		fprintf(out, "%s %s\n", server_routes[i].method, server_routes[i].pattern);
	for (size_t i = 0; i < api_n_routes; i++)
		fprintf(out, "%s %s\n", api_routes[i].method, api_routes[i].pattern);
}

void server_route(struct evhttp_request *req, void *arg)
{
	struct server *s = arg;
	char buf[512], *seg[HTTP_MAX_SEGMENTS];
	const struct route *r;
	int n;

	conns_request_started(s->conns, req);
	n = http_split_path(req, buf, sizeof buf, seg);
	if (n == -2) {
		http_reply_error(req, 400, "invalid_path", "the path has a malformed %%-escape or"
		    " encodes a control character");
		return;
	}
	if (n < 0) {
		http_reply_error(req, 404, "no_route", "no such route");
		return;
	}
	if (web_serve(req, seg, n))
		return;   /* the dashboard: "/", /app/..., /static/... */
	/* The API authenticates before it routes, so an unknown path tells a
	 * caller without a key nothing; its description is public. */
	if (n >= 2 && strcmp(seg[0], "api") == 0 && strcmp(seg[1], "v1") == 0 &&
	    !(n == 3 && strcmp(seg[2], "openapi.json") == 0) &&
	    !(n == 3 && strcmp(seg[2], "session") == 0 &&
	      evhttp_request_get_command(req) == EVHTTP_REQ_POST)) {
		api_handle(s, req, seg, n);
		return;
	}
	if ((r = server_find_route(server_routes, N_SERVER_ROUTES, req, seg, n)) != NULL)
		r->fn(s, req, NULL, seg, n);
}

/* ------------------------------------------------------------------ */
/* Signals and shutdown                                                */
/* ------------------------------------------------------------------ */

/* Grace for the loop to write replies already queued into their sockets
 * (the kernel takes them at once; this is not network time). */
#define DRAIN_MS 50

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
	struct server *s = arg;
	struct timeval grace = { 0, DRAIN_MS * 1000 };

	(void)what;
	if (s->stopping)
		return;
	s->stopping = 1;
	log_info("stopping", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT", NULL);
	if (s->sock != NULL) {
		evhttp_del_accept_socket(s->http, s->sock);
		s->sock = NULL;
	}
	/* Commit what was received and answer it; then let the writes go out.
	 * Requests arriving meanwhile on open connections get 503. */
	inbox_flush(s->inbox);
	event_base_loopexit(s->base, &grace);
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
	struct server *s = arg;
	int failed;

	(void)sig;
	(void)what;
	log_info("reloading workflows", NULL);
	failed = server_reload(s);
	if (failed == 0)
		dispatch_kick(s->dispatch);
}

/* Recount the inbox each second; arrivals in between are added by
 * ingress, so backpressure reacts within a loop turn. While the database
 * cannot write, try one tiny write each second too: with no traffic (a
 * load balancer that reads the 503 of /healthz sends none) nothing else
 * would notice that the operator freed space. */
static void depth_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;
	struct timeval tv = { 1, 0 };
	int64_t n = inbox_depth(s->db), v;

	(void)fd;
	(void)what;
	if (n >= 0)
		s->pending = n;
	if (db_fault(s->db, NULL) != 0 && db_probe_write(s->db) == 0) {
		dispatch_kick(s->dispatch);
		outbox_kick(s->outbox);
		timers_kick(s->timers);
	}
	/* Another process committed (`ordo dead-letters retry` from the
	 * command line): its rows may be ready, and nothing of ours kicks for
	 * them. */
	if ((v = db_data_version(s->db)) >= 0 && v != s->data_version) {
		dispatch_kick(s->dispatch);
		outbox_kick(s->outbox);
		timers_kick(s->timers);
		s->data_version = v;
	}
	metrics_set("ordo_database_write_failing", NULL, db_fault(s->db, NULL) != 0);
	evtimer_add(s->depth_ev, &tv);
}

static void committed(void *arg)
{
	struct server *s = arg;

	dispatch_kick(s->dispatch);
}

/* A dispatcher batch committed: its effects may be sent now. */
static void batch_committed(void *arg)
{
	struct server *s = arg;

	outbox_kick(s->outbox);
	timers_kick(s->timers);
}

/* Descriptors besides the connections: the database and its WAL, the
 * listener, outgoing effects, logs. */
#define FD_RESERVE 64

/*
 * Make room for max_connections open sockets: raise the soft limit on
 * open files toward the hard one. If that is still too few, accept()
 * would fail with EMFILE while connections wait in the backlog, which
 * libevent retries at once, spinning the loop; cap connections below the
 * limit instead, and say so. @return the cap to use.
 */
static int64_t fit_fd_limit(int64_t want)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)want + FD_RESERVE;
	char have[24], cap[24];

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur >= need)
		return want;
	if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need)
		rl.rlim_cur = need;
	else
		rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= need)
		return want;
	if (rl.rlim_cur <= 2 * FD_RESERVE)
		want = rl.rlim_cur / 2 > 0 ? (int64_t)rl.rlim_cur / 2 : 1;
	else
		want = (int64_t)rl.rlim_cur - FD_RESERVE;
	snprintf(have, sizeof have, "%llu", (unsigned long long)rl.rlim_cur);
	snprintf(cap, sizeof cap, "%lld", (long long)want);
	log_warn("the open-file limit is below server.max_connections; connections are capped lower",
	    "open_files", have, "max_connections", cap, NULL);
	return want;
}

static int bound_port(struct evhttp_bound_socket *sock)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;

	if (getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&ss, &len) != 0)
		return -1;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void describe_metrics(void)
{
	metrics_help("ordo_webhooks_total", "Webhook deliveries by channel and outcome.");
	metrics_help("ordo_events_processed_total", "Events handled successfully.");
	metrics_help("ordo_events_failed_total", "Handler runs that failed (each attempt).");
	metrics_help("ordo_events_dead_lettered_total", "Events moved to dead letters.");
	metrics_help("ordo_inbox_depth", "Events waiting in the inbox.");
	metrics_help("ordo_handler_seconds", "Time spent in one handler run.");
	metrics_help("ordo_workflow_load_failed", "1 while a merchant's latest script failed to load.");
	metrics_help("ordo_workflow_loaded_timestamp_seconds",
	    "When the running version of a merchant's script was swapped in (Unix time).");
	metrics_help("ordo_workflow_last_failure_timestamp_seconds",
	    "When a merchant's script last failed to load (Unix time); details in GET /api/v1/workflow.");
	metrics_help("ordo_database_write_failing",
	    "1 while the database refuses writes (disk full, read-only, I/O error).");
	metrics_inc("ordo_events_processed_total", NULL, 0);
	metrics_inc("ordo_events_failed_total", NULL, 0);
	metrics_inc("ordo_events_dead_lettered_total", NULL, 0);
}

int server_run(struct ordo_config *cfg)
{
	struct server s = { .cfg = cfg };
	struct dispatch_config dc = {
		.max_attempts = cfg->server.max_attempts,
		.retry_base_ms = cfg->server.retry_base_ms,
		.retry_max_ms = cfg->server.retry_max_ms,
	};
	char *err = NULL, port[16];
	int status = 1, rc;

	signal(SIGPIPE, SIG_IGN);
	describe_metrics();
	s.base = event_base_new();
	if (s.base == NULL) {
		log_error("cannot create the event loop", NULL);
		return 1;
	}
	s.db = db_open(cfg->server.database, cfg->server.durability_full, &err);
	if (s.db == NULL) {
		log_error("cannot open the database", "path", cfg->server.database, "error", err, NULL);
		goto out;
	}
	s.data_version = db_data_version(s.db);
	if ((rc = server_merchants_init(&s)) != 0) {
		if (rc > 0)
			log_error("not starting: a workflow failed to load (run `ordo check`)", NULL);
		goto out;
	}
	s.dispatch = dispatch_new(s.base, s.db, &dc, lookup, &s);
	s.inbox = inbox_new(s.base, s.db, committed, &s);
	s.outbox = outbox_new(s.base, s.db, lookup_config, committed, &s);
	s.timers = timers_new(s.base, s.db, committed, &s);
	s.http = evhttp_new(s.base);
	if (s.http != NULL) {
		struct conns_config cc = {
			.max_connections = fit_fd_limit(cfg->server.max_connections),
			.read_timeout_ms = cfg->server.read_timeout_ms,
			.write_timeout_ms = cfg->server.write_timeout_ms,
			.input_limit = cfg->server.header_limit + cfg->server.body_limit + 4096,
		};
		s.conns = conns_new(s.base, s.http, &cc);
	}
	if (s.dispatch == NULL || s.inbox == NULL || s.outbox == NULL || s.timers == NULL ||
	    s.http == NULL || s.conns == NULL)
		goto out;
	dispatch_on_commit(s.dispatch, batch_committed, &s);
	orders_set_observer(notify_order_changed, cfg);
	evhttp_set_gencb(s.http, server_route, &s);
	evhttp_set_max_body_size(s.http, (ev_ssize_t)cfg->server.body_limit);
	evhttp_set_max_headers_size(s.http, (ev_ssize_t)cfg->server.header_limit);
	/* No evhttp_set_timeout: conns owns the read deadline and the write
	 * timeout of every connection. */
	evhttp_set_allowed_methods(s.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
	    EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD);
	s.sock = evhttp_bind_socket_with_handle(s.http, cfg->server.listen_host,
	    (ev_uint16_t)cfg->server.listen_port);
	if (s.sock == NULL) {
		snprintf(port, sizeof port, "%d", cfg->server.listen_port);
		log_error("cannot listen", "addr", cfg->server.listen_host, "port", port, NULL);
		goto out;
	}
	s.sig_term = evsignal_new(s.base, SIGTERM, on_stop, &s);
	s.sig_int = evsignal_new(s.base, SIGINT, on_stop, &s);
	s.sig_hup = evsignal_new(s.base, SIGHUP, on_hup, &s);
	s.depth_ev = evtimer_new(s.base, depth_cb, &s);
	if (!s.sig_term || !s.sig_int || !s.sig_hup || !s.depth_ev ||
	    evsignal_add(s.sig_term, NULL) || evsignal_add(s.sig_int, NULL) ||
	    evsignal_add(s.sig_hup, NULL))
		goto out;

	start_watch(&s);
	snprintf(port, sizeof port, "%d", bound_port(s.sock));
	log_info("listening", "addr", cfg->server.listen_host, "port", port,
	    "database", cfg->server.database, NULL);
	depth_cb(-1, 0, &s);
	dispatch_kick(s.dispatch); /* whatever was pending before a restart */
	outbox_kick(s.outbox);     /* effects in flight when it stopped go again */
	timers_kick(s.timers);     /* timers that fell due while it was down fire now */
	event_base_dispatch(s.base);
	inbox_flush(s.inbox);
	log_info("stopped", NULL);
	status = 0;
out:
	free(err);
	if (s.http)
		evhttp_free(s.http);    /* closes every connection: before conns_free */
	conns_free(s.conns);
	orders_set_observer(NULL, NULL);
	outbox_free(s.outbox);
	timers_free(s.timers);
	inbox_free(s.inbox);
	dispatch_free(s.dispatch);
	if (s.sig_term)
		event_free(s.sig_term);
	if (s.sig_int)
		event_free(s.sig_int);
	if (s.sig_hup)
		event_free(s.sig_hup);
	if (s.depth_ev)
		event_free(s.depth_ev);
	watch_free(s.watch);
	server_merchants_free(&s);
	db_close(s.db);
	if (s.base)
		event_base_free(s.base);
	metrics_reset();
	return status;
}
