/*
 * bare — the baseline for `make bench`: a libevent evhttp server that
 * answers 200 "{}" to every request and does nothing else.
 *
 * Usage: bare PORT   (0 picks a free port). It listens on 127.0.0.1 only,
 * prints {"msg":"listening","port":"N"} on stderr once bound, and exits 0
 * on SIGTERM or SIGINT. It reads the request body (evhttp always does) but
 * never looks at it, so the difference between ordo and this is the cost
 * of ordo's own work: verification, the durable commit, the reply.
 *
 * Depends only on libevent. Must never bind anything but loopback.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

static void on_request(struct evhttp_request *req, void *arg)
{
	struct evbuffer *out = evhttp_request_get_output_buffer(req);

	(void)arg;
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    "application/json");
	evbuffer_add(out, "{}", 2);
	evhttp_send_reply(req, 200, "OK", NULL);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	event_base_loopexit(arg, NULL);
}

static int bound_port(struct evhttp_bound_socket *sock)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof sin;

	if (getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&sin, &len) != 0)
		return -1;
	return ntohs(sin.sin_port);
}

int main(int argc, char **argv)
{
	struct event_base *base = NULL;
	struct evhttp *http = NULL;
	struct evhttp_bound_socket *sock;
	struct event *term = NULL, *intr = NULL;
	char *end;
	long port;
	int rc = 1;

	if (argc != 2) {
		fprintf(stderr, "usage: %s PORT\n", argv[0]);
		return 2;
	}
	port = strtol(argv[1], &end, 10);
	if (*argv[1] == '\0' || *end != '\0' || port < 0 || port > 65535) {
		fprintf(stderr, "bare: bad port \"%s\"\n", argv[1]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	base = event_base_new();
	if (base == NULL)
		goto out;
	http = evhttp_new(base);
	if (http == NULL)
		goto out;
	evhttp_set_gencb(http, on_request, NULL);
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_DELETE);
	sock = evhttp_bind_socket_with_handle(http, "127.0.0.1", (ev_uint16_t)port);
	if (sock == NULL) {
		fprintf(stderr, "bare: cannot bind 127.0.0.1:%ld\n", port);
		goto out;
	}
	term = evsignal_new(base, SIGTERM, on_signal, base);
	intr = evsignal_new(base, SIGINT, on_signal, base);
	if (term == NULL || intr == NULL || event_add(term, NULL) != 0 ||
	    event_add(intr, NULL) != 0)
		goto out;
	fprintf(stderr, "{\"level\":\"info\",\"msg\":\"listening\",\"addr\":\"127.0.0.1\","
	    "\"port\":\"%d\"}\n", bound_port(sock));
	fflush(stderr);
	rc = event_base_dispatch(base) == -1 ? 1 : 0;
out:
	if (term)
		event_free(term);
	if (intr)
		event_free(intr);
	if (http)
		evhttp_free(http);
	if (base)
		event_base_free(base);
	return rc;
}
