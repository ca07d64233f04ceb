/*
 * web — the dashboard's static files, built into the binary.
 *
 * The Makefile turns every file under web/ into a byte array in the
 * generated build/gen/web_assets.c (the `web_assets` table). web_serve()
 * answers GET and HEAD for them: `/` and `/app/...` (the single-page app's
 * own routes) get index.html, `/static/NAME` the file NAME. Every answer
 * carries a strict Content-Security-Policy (scripts and styles from this
 * origin only, no inline script, no request to another host), nosniff,
 * no framing, and Cache-Control: no-cache with an ETag, so a browser
 * revalidates after an upgrade and gets 304 otherwise.
 */
#ifndef ORDO_WEB_H
#define ORDO_WEB_H

#include <stddef.h>

struct evhttp_request;

struct web_asset {
	const char *name;              /* "app.js": its path under web/ */
	const unsigned char *data;     /* NUL-terminated; the NUL not counted */
	size_t len;
};

/* Generated; ends with { NULL, NULL, 0 }. */
extern const struct web_asset web_assets[];

/* The asset named `name`, or NULL. */
const struct web_asset *web_find(const char *name);

/* The Content-Type for a file name by its extension. */
const char *web_content_type(const char *name);

/*
 * Answer a dashboard request: seg/n are the path's segments (n == 0 for
 * "/"). @return 1 when the path is the dashboard's (answered: 200, 304,
 * 404 or 405), 0 when it is not (nothing sent).
 */
int web_serve(struct evhttp_request *req, char **seg, int n);

#endif
