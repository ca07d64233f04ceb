/*
 * conns — the HTTP server's connections: a cap on how many are open, a
 * deadline for each request, and a timeout on answers nobody takes.
 *
 * evhttp (libevent 2.1) has no connection cap, and its timeouts are idle
 * timeouts that every byte resets: a client sending one header byte a
 * second ("slowloris") would hold its connection forever, and a few
 * hundred such clients every file descriptor. conns tracks each
 * connection from accept to close. A connection waiting on its client
 * (from accept, or from the end of its previous answer, until a complete
 * request has arrived) must deliver that request within read_timeout_ms or
 * it is closed. A connection whose request is with a handler is busy and
 * is never closed here. Beyond max_connections, a new connection closes
 * the one that has waited longest on its client, or itself when all the
 * others are busy. And no connection buffers more than input_limit bytes
 * of input: evhttp keeps reading while it answers a GET, so a client
 * that pipelines without reading its answers would otherwise fill memory.
 */
#ifndef ORDO_CONNS_H
#define ORDO_CONNS_H

#include <stddef.h>
#include <stdint.h>

struct conns;
struct event_base;
struct evhttp;
struct evhttp_request;

struct conns_config {
	int64_t max_connections;
	int64_t read_timeout_ms;
	int64_t write_timeout_ms;
	int64_t input_limit;    /* bytes read ahead of evhttp at most: room for one
	                         * whole request (headers and body limits) */
};

/*
 * Take over the connections of `http` (installs its bufferevent callback;
 * set before the first connection arrives; do not call evhttp_set_timeout
 * on it). @return the tracker, or NULL when out of memory.
 */
struct conns *conns_new(struct event_base *base, struct evhttp *http,
    const struct conns_config *cfg);

/* Free the tracker. Call after evhttp_free(), which closes the
 * connections; NULL is fine. */
void conns_free(struct conns *c);

/* A complete request reached the routes: its connection is busy until the
 * answer has been written. Call first in the request callback. */
void conns_request_started(struct conns *c, struct evhttp_request *req);

/* Connections open now. */
size_t conns_open(const struct conns *c);

#endif
