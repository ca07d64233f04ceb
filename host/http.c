/*
 * http — small helpers over libevent's evhttp for the routes.
 *
 * Depends on libevent and jansson. No HTTP parsing of our own: evhttp
 * parses requests; this only shapes replies and reads what evhttp parsed.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "ordo/http.h"

const char *http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 206: return "Partial Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 413: return "Payload Too Large";
	case 416: return "Range Not Satisfiable";
	case 422: return "Unprocessable Entity";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "";
	}
}

void http_reply_text(struct evhttp_request *req, int status, const char *type,
    const char *text, size_t len)
{
	struct evbuffer *buf = evbuffer_new();
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", type);
	/* The type we say is the type it is: no browser guesses otherwise. */
	if (evhttp_find_header(h, "X-Content-Type-Options") == NULL)
		evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	if (buf != NULL)
		evbuffer_add(buf, text, len);
	evhttp_send_reply(req, status, http_reason(status), buf);
	if (buf != NULL)
		evbuffer_free(buf);
}

void http_reply_json(struct evhttp_request *req, int status, json_t *body)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;

	if (text == NULL)
		http_reply_text(req, status, "application/json", "{}", 2);
	else
		http_reply_text(req, status, "application/json", text, strlen(text));
	free(text);
	json_decref(body);
}

void http_reply_error(struct evhttp_request *req, int status, const char *code,
    const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	/* Every 503 says when to come back; a route that knows better (the
	 * inbox limit, shutdown) has set its own. */
	if (status == 503 && evhttp_find_header(evhttp_request_get_output_headers(req),
	    "Retry-After") == NULL)
		evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "5");
	http_reply_json(req, status, json_pack("{s:{s:s,s:s}}", "error", "code", code,
	    "message", msg));
}

enum evhttp_cmd_type http_method(struct evhttp_request *req)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);

	return cmd == EVHTTP_REQ_HEAD ? EVHTTP_REQ_GET : cmd;
}

const char *http_header(struct evhttp_request *req, const char *name)
{
	return evhttp_find_header(evhttp_request_get_input_headers(req), name);
}

const char *http_body(struct evhttp_request *req, size_t *len)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	const char *p;

	*len = evbuffer_get_length(in);
	/* One spare NUL so C string views of the body stop at its end. */
	evbuffer_add(in, "", 1);
	p = (const char *)evbuffer_pullup(in, -1);
	return p ? p : "";
}

/* Percent-decode one segment in place (libevent decodes; the result is
 * never longer). A '%' not followed by two hex digits, and a decoded
 * control byte (NUL among them) or empty segment, are refused. */
static int decode_segment(char *p)
{
	char *d;
	size_t len = 0;
	int ok = 1;

	for (const char *q = p; (q = strchr(q, '%')) != NULL; q++)
		if (!isxdigit((unsigned char)q[1]) || !isxdigit((unsigned char)q[2]))
			return -1;
	if ((d = evhttp_uridecode(p, 0, &len)) == NULL)
		return -1;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)d[i] < 0x20 || d[i] == 0x7f)
			ok = 0;
	if (ok && len > 0 && len <= strlen(p)) {
		memcpy(p, d, len);
		p[len] = '\0';
	} else {
		ok = 0;
	}
	free(d);
	return ok ? 0 : -1;
}

int http_split_path(struct evhttp_request *req, char *buf, size_t buflen, char **seg)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	char *p, *save = NULL;
	int n = 0;

	if (path == NULL || path[0] != '/' || strlen(path) >= buflen)
		return -1;
	if (strstr(path, "//") != NULL)
		return -1;
	snprintf(buf, buflen, "%s", path);
	for (p = strtok_r(buf, "/", &save); p; p = strtok_r(NULL, "/", &save)) {
		if (n == HTTP_MAX_SEGMENTS)
			return -1;
		if (strchr(p, '%') != NULL && decode_segment(p) != 0)
			return -2;
		seg[n++] = p;
	}
	return n;
}

char *http_query(struct evhttp_request *req, const char *name, int *bad)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *q = uri ? evhttp_uri_get_query(uri) : NULL;
	struct evkeyvalq kv;
	const char *v;
	char *out = NULL;

	*bad = 0;
	if (q == NULL)
		return NULL;
	if (evhttp_parse_query_str(q, &kv) != 0) {
		*bad = 1;
		evhttp_clear_headers(&kv);
		return NULL;
	}
	v = evhttp_find_header(&kv, name);
	if (v != NULL)
		out = strdup(v);
	evhttp_clear_headers(&kv);
	return out;
}

/* 1 when `ip` (an address literal) is one of the trusted ones, compared
 * as addresses so "::1" and "0:0::1" are the same. */
static int trusted_ip(const char *ip, char *const *trusted, size_t n)
{
	unsigned char a[16], b[16];
	int fa = strchr(ip, ':') ? AF_INET6 : AF_INET;

	if (inet_pton(fa, ip, a) != 1)
		return 0;
	for (size_t i = 0; i < n; i++) {
		int fb = strchr(trusted[i], ':') ? AF_INET6 : AF_INET;

		if (fb == fa && inet_pton(fb, trusted[i], b) == 1 &&
		    memcmp(a, b, fa == AF_INET ? 4 : 16) == 0)
			return 1;
	}
	return 0;
}

static int ip_literal(const char *s)
{
	unsigned char a[16];

	return inet_pton(strchr(s, ':') ? AF_INET6 : AF_INET, s, a) == 1;
}

void http_client_address(struct evhttp_request *req, char *const *trusted, size_t n,
    char *out, size_t outlen)
{
	char *peer = NULL, hop[64];
	ev_uint16_t port = 0;
	const char *xff, *end;

	out[0] = '\0';
	evhttp_connection_get_peer(evhttp_request_get_connection(req), &peer, &port);
	if (peer == NULL)
		return;
	snprintf(out, outlen, "%s", peer);
	if (n == 0 || !trusted_ip(peer, trusted, n) ||
	    (xff = http_header(req, "X-Forwarded-For")) == NULL)
		return;
	/* Walk the entries right to left: [from, end) is one. */
	end = xff + strlen(xff);
	for (;;) {
		const char *from = end, *start;
		size_t len;

		while (from > xff && from[-1] != ',')
			from--;
		for (start = from; start < end && (*start == ' ' || *start == '\t'); start++)
			;
		len = (size_t)(end - start);
		while (len > 0 && (start[len - 1] == ' ' || start[len - 1] == '\t'))
			len--;
		if (len == 0 || len >= sizeof hop)
			return;
		memcpy(hop, start, len);
		hop[len] = '\0';
		if (!ip_literal(hop))
			return;
		snprintf(out, outlen, "%s", hop);
		if (!trusted_ip(hop, trusted, n) || from == xff)
			return;
		end = from - 1;     /* the comma */
	}
}
