/*
 * conns — the HTTP server's connections: a cap, a deadline for each
 * request, a write timeout.
 *
 * Depends on libevent (evhttp, bufferevent), clock, log and metrics.
 * evhttp 2.1 gives no hook at accept that names the connection, so conns
 * makes each connection's bufferevent itself (evhttp_set_bevcb), holds a
 * reference on it, and adopts the connection from a callback made active
 * in the same loop turn, after evhttp has set it up: the bufferevent's
 * callback argument is then the evhttp_connection. If evhttp freed it in
 * between (out of memory), the callbacks are cleared and it is skipped.
 *
 * Connections are found again by their socket, which stays theirs until
 * the close callback has run. The waiting list is ordered by when each
 * began to wait, so its head is the first deadline and the first to go
 * when the cap is reached: one timer serves every deadline.
 *
 * Must never free a connection that a handler's request is on (busy): its
 * reply would be written to freed memory.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

#include "ordo/clock.h"
#include "ordo/conns.h"
#include "ordo/log.h"
#include "ordo/metrics.h"

struct conn {
	struct evhttp_connection *evcon;
	int fd;
	int busy;               /* a request is with a handler, or its answer is going out */
	int64_t since;          /* clock_mono_ms when it began waiting on its client */
	TAILQ_ENTRY(conn) link; /* on c->waiting unless busy */
};

TAILQ_HEAD(conn_list, conn);

struct conns {
	struct evhttp *http;
	struct conns_config cfg;
	struct conn **by_fd;    /* indexed by socket */
	size_t n_fd;
	struct conn_list waiting;
	size_t open;
	struct event *deadline_ev;
	struct event *adopt_ev;
	struct bufferevent **fresh; /* made this turn, not yet adopted (one reference each) */
	size_t n_fresh, cap_fresh;
};

static void count_open(struct conns *c)
{
	metrics_set("ordo_http_connections", NULL, (int64_t)c->open);
}

static void count_closed(const char *reason)
{
	char labels[48];

	snprintf(labels, sizeof labels, "reason=\"%s\"", reason);
	metrics_inc("ordo_http_connections_closed_total", labels, 1);
}

static struct conn *lookup(struct conns *c, struct evhttp_connection *evcon)
{
	struct bufferevent *bev;
	int fd;

	if (evcon == NULL || (bev = evhttp_connection_get_bufferevent(evcon)) == NULL)
		return NULL;
	fd = (int)bufferevent_getfd(bev);
	if (fd < 0 || (size_t)fd >= c->n_fd || c->by_fd[fd] == NULL ||
	    c->by_fd[fd]->evcon != evcon)
		return NULL;
	return c->by_fd[fd];
}

/* Arm the timer for the earliest deadline (the head of the waiting list).
 * It may fire early after the head left; it then re-arms. */
static void arm(struct conns *c)
{
	struct conn *head = TAILQ_FIRST(&c->waiting);
	int64_t ms;
	struct timeval tv;

	if (head == NULL) {
		evtimer_del(c->deadline_ev);
		return;
	}
	ms = head->since + c->cfg.read_timeout_ms - clock_mono_ms();
	if (ms < 0)
		ms = 0;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(c->deadline_ev, &tv);
}

static void start_waiting(struct conns *c, struct conn *k)
{
	int was_empty = TAILQ_EMPTY(&c->waiting);

	k->busy = 0;
	k->since = clock_mono_ms();
	TAILQ_INSERT_TAIL(&c->waiting, k, link);
	if (was_empty)
		arm(c);
}

/* Forget a connection (it is closing). */
static void drop(struct conns *c, struct conn *k)
{
	if (!k->busy)
		TAILQ_REMOVE(&c->waiting, k, link);
	c->by_fd[k->fd] = NULL;
	c->open--;
	free(k);
	count_open(c);
}

/* evhttp closes a connection (the client went away, an error, the end of
 * a Connection: close answer, evhttp_free at shutdown). */
static void on_close(struct evhttp_connection *evcon, void *arg)
{
	struct conns *c = arg;
	struct conn *k = lookup(c, evcon);

	if (k != NULL)
		drop(c, k);
}

/* We close a connection that is waiting on its client. */
static void close_waiting(struct conns *c, struct conn *k, const char *reason)
{
	struct evhttp_connection *evcon = k->evcon;

	evhttp_connection_set_closecb(evcon, NULL, NULL);
	drop(c, k);
	count_closed(reason);
	evhttp_connection_free(evcon);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conns *c = arg;
	int64_t now = clock_mono_ms();
	struct conn *k;

	(void)fd;
	(void)what;
	while ((k = TAILQ_FIRST(&c->waiting)) != NULL &&
	    k->since + c->cfg.read_timeout_ms <= now)
		close_waiting(c, k, "read_timeout");
	arm(c);
}

static int track(struct conns *c, struct evhttp_connection *evcon, int fd)
{
	struct conn *k;

	if ((size_t)fd >= c->n_fd) {
		size_t n = c->n_fd ? c->n_fd : 64;
		struct conn **p;

		while (n <= (size_t)fd)
			n *= 2;
		if ((p = realloc(c->by_fd, n * sizeof *p)) == NULL)
			return -1;
		memset(p + c->n_fd, 0, (n - c->n_fd) * sizeof *p);
		c->by_fd = p;
		c->n_fd = n;
	}
	if (c->by_fd[fd] != NULL) /* closed without our callback: forget it */
		drop(c, c->by_fd[fd]);
	if ((k = calloc(1, sizeof *k)) == NULL)
		return -1;
	k->evcon = evcon;
	k->fd = fd;
	c->by_fd[fd] = k;
	c->open++;
	evhttp_connection_set_closecb(evcon, on_close, c);
	start_waiting(c, k);
	count_open(c);
	return 0;
}

/* Connections accepted this loop turn, now set up by evhttp. */
static void adopt_cb(evutil_socket_t unused, short what, void *arg)
{
	struct conns *c = arg;

	(void)unused;
	(void)what;
	for (size_t i = 0; i < c->n_fresh; i++) {
		struct bufferevent *bev = c->fresh[i];
		bufferevent_data_cb rd, wr;
		bufferevent_event_cb ev;
		void *cbarg = NULL;
		struct evhttp_connection *evcon;
		int fd = (int)bufferevent_getfd(bev);

		bufferevent_getcb(bev, &rd, &wr, &ev, &cbarg);
		evcon = cbarg;
		if (evcon == NULL || fd < 0 || evhttp_connection_get_bufferevent(evcon) != bev) {
			/* evhttp gave up on it already (out of memory). */
		} else if (track(c, evcon, fd) != 0) {
			/* Out of memory: an untracked connection would escape the
			 * deadline and the cap. */
			log_warn("cannot track a connection; closing it", NULL);
			evhttp_connection_free(evcon);
		} else if ((int64_t)c->open > c->cfg.max_connections) {
			/* Over the cap: the one waiting longest goes; when every
			 * other connection is busy, that is this new one. */
			struct conn *oldest = TAILQ_FIRST(&c->waiting);

			close_waiting(c, oldest, oldest->evcon == evcon ? "refused" : "evicted");
		}
		bufferevent_decref(bev);
	}
	c->n_fresh = 0;
}

/* evhttp asks for a connection's bufferevent at accept. */
static struct bufferevent *make_bev(struct event_base *base, void *arg)
{
	struct conns *c = arg;
	struct bufferevent *bev;
	struct timeval wtv = {
		.tv_sec = c->cfg.write_timeout_ms / 1000,
		.tv_usec = (c->cfg.write_timeout_ms % 1000) * 1000,
	};

	if (c->n_fresh == c->cap_fresh) {
		size_t cap = c->cap_fresh ? c->cap_fresh * 2 : 16;
		struct bufferevent **p = realloc(c->fresh, cap * sizeof *p);

		if (p == NULL)
			return NULL; /* evhttp makes one; adopt never sees it */
		c->fresh = p;
		c->cap_fresh = cap;
	}
	/* Options as evhttp's own: it closes the socket itself. No read
	 * timeout (the deadline is ours); the write timeout counts only while
	 * an answer is going out. */
	if ((bev = bufferevent_socket_new(base, -1, 0)) == NULL)
		return NULL;
	bufferevent_set_timeouts(bev, NULL, &wtv);
	/* Stop reading the socket past one request's worth of input; TCP
	 * then holds the client back. evhttp needs a whole body buffered
	 * before it takes it, so the limit covers the largest request. */
	bufferevent_setwatermark(bev, EV_READ, 0, (size_t)c->cfg.input_limit);
	bufferevent_incref(bev);
	c->fresh[c->n_fresh++] = bev;
	if (c->n_fresh == 1)
		event_active(c->adopt_ev, EV_TIMEOUT, 0);
	return bev;
}

struct conns *conns_new(struct event_base *base, struct evhttp *http,
    const struct conns_config *cfg)
{
	struct conns *c = calloc(1, sizeof *c);

	if (c == NULL)
		return NULL;
	c->http = http;
	c->cfg = *cfg;
	TAILQ_INIT(&c->waiting);
	c->deadline_ev = evtimer_new(base, deadline_cb, c);
	c->adopt_ev = event_new(base, -1, 0, adopt_cb, c);
	if (c->deadline_ev == NULL || c->adopt_ev == NULL) {
		conns_free(c);
		return NULL;
	}
	metrics_help("ordo_http_connections", "Open HTTP connections.");
	metrics_help("ordo_http_connections_closed_total",
	    "Connections ordo closed: read_timeout (no complete request in time), "
	    "evicted (the longest waiting, for a new one past max_connections), "
	    "refused (a new one past max_connections while all others were busy).");
	count_open(c);
	evhttp_set_bevcb(http, make_bev, c);
	return c;
}

void conns_free(struct conns *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n_fresh; i++)
		bufferevent_decref(c->fresh[i]);
	/* evhttp_free closed every connection it had; anything left is a
	 * record whose connection is gone. */
	for (size_t fd = 0; fd < c->n_fd; fd++)
		if (c->by_fd[fd] != NULL)
			drop(c, c->by_fd[fd]);
	if (c->deadline_ev)
		event_free(c->deadline_ev);
	if (c->adopt_ev)
		event_free(c->adopt_ev);
	free(c->fresh);
	free(c->by_fd);
	free(c);
}

/* The answer is written: the connection waits on its client again. */
static void on_complete(struct evhttp_request *req, void *arg)
{
	struct conns *c = arg;
	struct conn *k = lookup(c, evhttp_request_get_connection(req));

	if (k != NULL && k->busy)
		start_waiting(c, k);
}

void conns_request_started(struct conns *c, struct evhttp_request *req)
{
	struct conn *k = lookup(c, evhttp_request_get_connection(req));

	if (k == NULL || k->busy)
		return;
	TAILQ_REMOVE(&c->waiting, k, link);
	k->busy = 1;
	evhttp_request_set_on_complete_cb(req, on_complete, c);
}

size_t conns_open(const struct conns *c)
{
	return c->open;
}
