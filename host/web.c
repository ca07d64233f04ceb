/*
 * web — serves the dashboard built into the binary (see web.h).
 *
 * Depends on libevent (evhttp), crypto (the ETag digests) and http. It only
 * ever sends bytes that were compiled in: no file system access, so a path
 * can never name anything outside the table.
 */
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "ordo/crypto.h"
#include "ordo/http.h"
#include "ordo/web.h"

/* No inline script or style, nothing from another origin, no plugins, no
 * framing; fetch() only to this origin (the JSON API). */
#define WEB_CSP "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';" \
	" connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

const struct web_asset *web_find(const char *name)
{
	for (const struct web_asset *a = web_assets; a->name != NULL; a++)
		if (strcmp(a->name, name) == 0)
			return a;
	return NULL;
}

const char *web_content_type(const char *name)
{
	static const struct { const char *ext, *type; } types[] = {
		{ ".html", "text/html; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".svg", "image/svg+xml" },
	};
	const char *dot = strrchr(name, '.');

	for (size_t i = 0; dot != NULL && i < sizeof types / sizeof types[0]; i++)
		if (strcmp(dot, types[i].ext) == 0)
			return types[i].type;
	return "application/octet-stream";
}

static void security_headers(struct evkeyvalq *h)
{
	evhttp_add_header(h, "Content-Security-Policy", WEB_CSP);
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "X-Frame-Options", "DENY");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	evhttp_add_header(h, "Cross-Origin-Opener-Policy", "same-origin");
}

/* An asset's ETag, content addressed (the tag changes exactly when the
 * bytes do): the files are built in, so each is hashed once. */
#define ETAG_LEN (2 * 16 + 3)
#define MAX_CACHED_ETAGS 64

static const char *asset_etag(const struct web_asset *a, char *buf)
{
	static char cache[MAX_CACHED_ETAGS][ETAG_LEN];
	size_t i = (size_t)(a - web_assets);
	unsigned char digest[CRYPTO_SHA256_LEN];
	char hex[2 * 16 + 1];

	if (i < MAX_CACHED_ETAGS && cache[i][0] != '\0')
		return cache[i];
	crypto_sha256(a->data, a->len, digest);
	crypto_hex(digest, 16, hex);
	snprintf(buf, ETAG_LEN, "\"%s\"", hex);
	if (i < MAX_CACHED_ETAGS)
		memcpy(cache[i], buf, ETAG_LEN);
	return buf;
}

static void send_asset(struct evhttp_request *req, const struct web_asset *a)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	char tag[ETAG_LEN];
	const char *etag = asset_etag(a, tag);
	const char *inm = http_header(req, "If-None-Match");
	struct evbuffer *buf;

	security_headers(h);
	evhttp_add_header(h, "Cache-Control", "no-cache");
	evhttp_add_header(h, "ETag", etag);
	if (inm != NULL && strcmp(inm, etag) == 0) {
		evhttp_send_reply(req, 304, "Not Modified", NULL);
		return;
	}
	evhttp_add_header(h, "Content-Type", web_content_type(a->name));
	buf = evbuffer_new();
	if (buf == NULL) {
		http_reply_error(req, 503, "unavailable", "out of memory");
		return;
	}
	/* Static bytes: referenced, never copied. */
	evbuffer_add_reference(buf, a->data, a->len, NULL, NULL);
	evhttp_send_reply(req, 200, "OK", buf);
	evbuffer_free(buf);
}

int web_serve(struct evhttp_request *req, char **seg, int n)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const struct web_asset *a = NULL;

	if (n == 0 || strcmp(seg[0], "app") == 0)
		a = web_find("index.html");
	else if (strcmp(seg[0], "static") == 0)
		a = n == 2 ? web_find(seg[1]) : NULL;
	else
		return 0;
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
		http_reply_error(req, 405, "method_not_allowed", "use GET");
	} else if (a == NULL) {
		http_reply_error(req, 404, "not_found", "no such file");
	} else {
		send_asset(req, a);
	}
	return 1;
}
