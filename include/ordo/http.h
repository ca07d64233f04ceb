/*
 * http — evhttp helpers shared by the routes: JSON replies, the error
 * envelope {"error": {"code": ..., "message": ...}}, headers, bodies, and
 * splitting a request path into segments.
 */
#ifndef ORDO_HTTP_H
#define ORDO_HTTP_H

#include <stddef.h>

#include <event2/http.h>
#include <jansson.h>

#define HTTP_MAX_SEGMENTS 8

/* Send `body` (stolen; NULL sends {}) with status and JSON content type. */
void http_reply_json(struct evhttp_request *req, int status, json_t *body);

/* Send the error envelope. A 503 carries Retry-After: 5 unless the
 * caller has set one. */
void http_reply_error(struct evhttp_request *req, int status, const char *code,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* The reason phrase of a status we send ("Gone"), or "". */
const char *http_reason(int status);

/* Send plain text with a content type. */
void http_reply_text(struct evhttp_request *req, int status, const char *type,
    const char *text, size_t len);

/* The request's method, HEAD answered as GET: evhttp leaves the body out
 * of an answer to HEAD and keeps its headers. */
enum evhttp_cmd_type http_method(struct evhttp_request *req);

/* A request header (case-insensitive), or NULL. */
const char *http_header(struct evhttp_request *req, const char *name);

/* The request body as contiguous bytes (NUL-terminated view; may contain
 * NULs), and its length. Valid until the request is answered. */
const char *http_body(struct evhttp_request *req, size_t *len);

/*
 * Split the request path ("/a/b/c", no query) into at most
 * HTTP_MAX_SEGMENTS segments, in place in `buf`, each percent-decoded
 * after the split (so "MUG%2F12" is one segment, "MUG/12"). Empty
 * segments, malformed escapes and decoded control bytes are refused.
 * @return the number of segments, -1 for a malformed or too long path, -2
 * for a bad percent-escape.
 */
int http_split_path(struct evhttp_request *req, char *buf, size_t buflen,
    char **seg);

/* The value of query parameter `name` (decoded), or NULL; the caller
 * frees the returned string. *bad is set when the query cannot be parsed. */
char *http_query(struct evhttp_request *req, const char *name, int *bad);

/*
 * The client's address as text in `out`: the connection's peer, or, when
 * the peer is one of the `n` trusted proxies (IP literals), the rightmost
 * X-Forwarded-For entry that is not itself a trusted proxy. An entry that
 * is not an IP address ends the walk: what lies left of it cannot be
 * trusted, so the last trusted hop is answered. "" when unknown.
 */
void http_client_address(struct evhttp_request *req, char *const *trusted, size_t n,
    char *out, size_t outlen);

#endif
