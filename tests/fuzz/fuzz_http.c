/*
 * fuzz_http — raw bytes as an HTTP request to the real server code: the
 * libevent HTTP parser, routing, the webhook ingress (signature, inbox,
 * group commit, deferred reply), the REST API, /healthz and /metrics, and
 * the dispatcher running the stored events through the real sandbox.
 *
 * The harness builds a `struct server` the way server_run() does (config
 * loaded from a scratch file with one merchant, an in-memory database,
 * sandboxes via server_reload(), inbox, dispatcher, evhttp with the same
 * limits, the inbox-depth timer and server.c's own `server_route`),
 * without signals, but listens on
 * 127.0.0.1:0 once instead of running forever. Each input is written
 * through a fresh client socket; the loop is then turned with
 * EVLOOP_NONBLOCK until nothing moves (no bytes either way for three
 * turns, nothing queued for commit), the client closes, and the loop
 * turns a few more times so the server sees the close. Every 1000 inputs
 * the whole server is torn down (as server_run does on exit) and built
 * again, so the database stays small and teardown is exercised.
 *
 * Signing: in the header part of an input (before the first CRLFCRLF)
 * "@@SIG64@@" becomes the base64 and "@@SIGHEX@@" the hex HMAC-SHA256 of
 * the body — the Content-Length bytes after the CRLFCRLF when the header
 * says so, else everything after it — with the channels' secret, so
 * mutated bodies still reach JSON, the inbox and the adapters.
 *
 * What must hold: no crash, leak or sanitizer report; no 500 answer.
 *
 * Keep the setup in step with host/server.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "ordo/clock.h"
#include "ordo/config.h"
#include "ordo/conns.h"
#include "ordo/crypto.h"
#include "ordo/db.h"
#include "ordo/dispatch.h"
#include "ordo/http.h"
#include "ordo/inbox.h"
#include "ordo/log.h"
#include "ordo/metrics.h"
#include "ordo/sandbox.h"
#include "ordo/server.h"
#include "fuzz_common.h"

#define SECRET   "fuzz-http-secret"
#define API_KEY  "fuzz-api-key-0123456789abcdef"
#define REBUILD_EVERY 1000
#define MAX_TURNS     2000

static const char workflow_text[] =
	"local flow = {}\n"
	"function flow.order_created(ev)\n"
	"  local order = orders.create(ev.order)\n"
	"  if ev.order.financial_status == 'paid' then orders.mark_paid(order) end\n"
	"end\n"
	"function flow.order_updated(ev) orders.create(ev.order) end\n"
	"function flow.order_paid(ev)\n"
	"  orders.mark_paid(orders.get(ev.order) or orders.create(ev.order))\n"
	"end\n"
	"function flow.order_cancelled(ev)\n"
	"  local order = orders.get(ev.order) or orders.create(ev.order)\n"
	"  orders.set_status(order, 'canceled', ev.order.cancel_reason)\n"
	"end\n"
	"function flow.refund_created(ev)\n"
	"  local r = ev.refund\n"
	"  local order = orders.get { channel = ev.channel, external_id = r.order_external_id }\n"
	"  if not order then error('refund for an order ordo has not seen') end\n"
	"  orders.note(order, 'refund ' .. r.external_id)\n"
	"end\n"
	"return flow\n";

static struct ordo_config *cfg;
static struct server srv;
static struct sockaddr_in addr;
static unsigned long runs;
static int verbose;

/* ------------------------------------------------------------------ */
/* The server, as server_run builds and frees it                       */
/* ------------------------------------------------------------------ */

static struct sandbox *lookup(void *arg, const char *merchant)
{
	struct server *s = arg;
	int i = server_merchant_index(s, merchant);

	return i < 0 ? NULL : s->sandboxes[i];
}

/* Recount the inbox each second; arrivals in between are added by
 * ingress, so backpressure reacts within a loop turn. */
static void depth_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;
	struct timeval tv = { 1, 0 };
	int64_t n = inbox_depth(s->db);

	(void)fd;
	(void)what;
	if (n >= 0)
		s->pending = n;
	evtimer_add(s->depth_ev, &tv);
}

static void committed(void *arg)
{
	struct server *s = arg;

	dispatch_kick(s->dispatch);
}

static void server_down(void)
{
	if (srv.http)
		evhttp_free(srv.http);
	conns_free(srv.conns);
	inbox_free(srv.inbox);
	dispatch_free(srv.dispatch);
	if (srv.depth_ev)
		event_free(srv.depth_ev);
	server_merchants_free(&srv);
	db_close(srv.db);
	if (srv.base)
		event_base_free(srv.base);
	metrics_reset();
	memset(&srv, 0, sizeof srv);
}

static void server_up(void)
{
	struct dispatch_config dc = {
		.max_attempts = cfg->server.max_attempts,
		.retry_base_ms = cfg->server.retry_base_ms,
		.retry_max_ms = cfg->server.retry_max_ms,
	};
	socklen_t alen = sizeof addr;
	char *err = NULL;

	memset(&srv, 0, sizeof srv);
	srv.cfg = cfg;
	srv.base = event_base_new();
	if (srv.base == NULL)
		goto fail;
	if ((srv.db = db_open(":memory:", cfg->server.durability_full, &err)) == NULL)
		goto fail;
	if (server_merchants_init(&srv) != 0)
		goto fail;
	srv.dispatch = dispatch_new(srv.base, srv.db, &dc, lookup, &srv);
	srv.inbox = inbox_new(srv.base, srv.db, committed, &srv);
	srv.http = evhttp_new(srv.base);
	if (srv.http != NULL) {
		struct conns_config cc = {
			.max_connections = cfg->server.max_connections,
			.read_timeout_ms = cfg->server.read_timeout_ms,
			.write_timeout_ms = cfg->server.write_timeout_ms,
			.input_limit = cfg->server.header_limit + cfg->server.body_limit + 4096,
		};
		srv.conns = conns_new(srv.base, srv.http, &cc);
	}
	if (srv.dispatch == NULL || srv.inbox == NULL || srv.http == NULL || srv.conns == NULL)
		goto fail;
	evhttp_set_gencb(srv.http, server_route, &srv);
	evhttp_set_max_body_size(srv.http, (ev_ssize_t)cfg->server.body_limit);
	evhttp_set_max_headers_size(srv.http, (ev_ssize_t)cfg->server.header_limit);
	evhttp_set_allowed_methods(srv.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
	    EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD);
	srv.sock = evhttp_bind_socket_with_handle(srv.http, "127.0.0.1", 0);
	if (srv.sock == NULL ||
	    getsockname(evhttp_bound_socket_get_fd(srv.sock), (struct sockaddr *)&addr, &alen) != 0)
		goto fail;
	if ((srv.depth_ev = evtimer_new(srv.base, depth_cb, &srv)) == NULL)
		goto fail;
	depth_cb(-1, 0, &srv);
	dispatch_kick(srv.dispatch);
	return;
fail:
	fprintf(stderr, "fuzz_http: cannot build the server: %s\n", err ? err : "see above");
	abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[PATH_MAX], scripts[PATH_MAX], text[4096], *err = NULL;
	const char *tmp = fuzz_tmpdir();

	(void)argc;
	(void)argv;
	verbose = fuzz_env_flag("ORDO_FUZZ_VERBOSE");
	signal(SIGPIPE, SIG_IGN);
	fuzz_quiet_log(LOG_DEBUG);

	fuzz_root_path(path, sizeof path, "scripts");
	if (realpath(path, scripts) == NULL) {
		fprintf(stderr, "fuzz_http: no scripts folder at %s (set ORDO_ROOT)\n", path);
		abort();
	}
	snprintf(path, sizeof path, "%s/workflow.lua", tmp);
	fuzz_write_file(path, workflow_text);
	snprintf(text, sizeof text,
	    "server:\n"
	    "  listen: \"127.0.0.1:0\"\n"
	    "  database: unused.db\n"
	    "  body_limit: 8KiB\n"
	    "  scripts: \"%s\"\n"
	    "  retry: { max_attempts: 2, base_delay: 0ms, max_delay: 0ms }\n"
	    "merchants:\n"
	    "  - id: fuzz\n"
	    "    currency: USD\n"
	    "    workflow: workflow.lua\n"
	    "    api_keys: [\"" API_KEY "\"]\n"
	    "    channels:\n"
	    "      shopify: { secret: \"" SECRET "\" }\n"
	    "      woocommerce: { secret: \"" SECRET "\" }\n"
	    "      generic: { secret: \"" SECRET "\" }\n"
	    "    limits: { instructions: 1000000, memory: 16MiB }\n", scripts);
	snprintf(path, sizeof path, "%s/ordo.yaml", tmp);
	fuzz_write_file(path, text);
	if ((cfg = config_load(path, &err)) == NULL) {
		fprintf(stderr, "fuzz_http: config: %s\n", err);
		abort();
	}
	server_up();
	return 0;
}

/* The input with its signature placeholders filled in (malloc'd). */
static char *sign(const uint8_t *data, size_t size, size_t *outlen)
{
	static const char p64[] = "@@SIG64@@", phex[] = "@@SIGHEX@@";
	const uint8_t *sep = memmem(data, size, "\r\n\r\n", 4);
	size_t head = sep ? (size_t)(sep - data) : size, o = 0, i = 0;
	const uint8_t *body = sep ? sep + 4 : data + size;
	size_t blen = (size_t)(data + size - body);
	unsigned char mac[CRYPTO_SHA256_LEN];
	char b64[64], hex[2 * CRYPTO_SHA256_LEN + 1], *out;

	for (size_t k = 0; k + 15 < head; k++) {
		if (strncasecmp((const char *)data + k, "content-length:", 15) == 0) {
			size_t v = 0, j = k + 15;

			while (j < head && data[j] == ' ')
				j++;
			for (; j < head && data[j] >= '0' && data[j] <= '9' && v < blen; j++)
				v = v * 10 + (size_t)(data[j] - '0');
			if (v < blen)
				blen = v;
			break;
		}
	}
	crypto_hmac_sha256(SECRET, strlen(SECRET), body, blen, mac);
	crypto_base64_encode(mac, sizeof mac, b64);
	crypto_hex(mac, sizeof mac, hex);
	/* Each placeholder grows by at most 64 - 9 bytes. */
	if ((out = malloc(size + (head / 9 + 1) * 64)) == NULL)
		abort();
	while (i < head) {
		if (head - i >= sizeof phex - 1 && memcmp(data + i, phex, sizeof phex - 1) == 0) {
			memcpy(out + o, hex, strlen(hex));
			o += strlen(hex);
			i += sizeof phex - 1;
		} else if (head - i >= sizeof p64 - 1 && memcmp(data + i, p64, sizeof p64 - 1) == 0) {
			memcpy(out + o, b64, strlen(b64));
			o += strlen(b64);
			i += sizeof p64 - 1;
		} else {
			out[o++] = (char)data[i++];
		}
	}
	memcpy(out + o, data + head, size - head);
	*outlen = o + size - head;
	return out;
}

/* The status of the first response in buf, or 0. */
static int first_status(const char *buf, size_t len)
{
	if (len < 12 || memcmp(buf, "HTTP/1.", 7) != 0)
		return 0;
	return (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char reply[4096];
	size_t len, off = 0, got = 0;
	char *req = sign(data, size, &len);
	int fd, idle = 0, status;

	if (++runs % REBUILD_EVERY == 0) {
		server_down();
		server_up();
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0 &&
	    errno != EINPROGRESS)) {
		fprintf(stderr, "fuzz_http: connect: %s\n", strerror(errno));
		abort();
	}
	for (int turn = 0; turn < MAX_TURNS && idle < 3; turn++) {
		int moved = 0;
		ssize_t n;

		if (off < len && (n = send(fd, req + off, len - off, MSG_NOSIGNAL)) > 0) {
			off += (size_t)n;
			moved = 1;
		}
		event_base_loop(srv.base, EVLOOP_NONBLOCK);
		while ((n = recv(fd, got < sizeof reply ? reply + got : reply,
		    got < sizeof reply ? sizeof reply - got : sizeof reply, 0)) > 0) {
			if (got < sizeof reply)
				got += (size_t)n;
			moved = 1;
		}
		if (n == 0)
			break; /* the server closed the connection */
		if (!moved && inbox_queued(srv.inbox) == 0)
			idle++;
		else
			idle = 0;
	}
	close(fd);
	for (int i = 0; i < 3; i++)
		event_base_loop(srv.base, EVLOOP_NONBLOCK);

	status = first_status(reply, got);
	if (verbose)
		fprintf(stderr, "http: sent %zu/%zu, got %zu bytes, status %d: %.*s\n", off, len,
		    got, status, (int)(got < 300 ? got : 300), reply);
	FUZZ_CHECK(status != 500, "500 answer: %.*s", (int)(got < 400 ? got : 400), reply);
	free(req);
	return 0;
}
