/*
 * download — GET /d/{token}: a digital grant's file, streamed from the
 * merchant's asset folder (see download.h).
 *
 * The token is the only input: it names a grant, the grant names a file
 * that config checked inside digital.assets, and the path is resolved and
 * checked inside the folder again here (a symlink changed since start-up
 * serves nothing). One Range (bytes=a-b, a-, -n) resumes a download;
 * several ranges get the whole file, as RFC 9110 allows.
 *
 * Depends on digital, db, config, http, clock.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "ordo/clock.h"
#include "ordo/config.h"
#include "ordo/db.h"
#include "ordo/digital.h"
#include "ordo/download.h"
#include "ordo/http.h"
#include "ordo/log.h"

/* A small page for a person who clicked a link that no longer works. */
static void page(struct evhttp_request *req, int status, const char *title, const char *text)
{
	char body[1024];
	int n = snprintf(body, sizeof body, "<!doctype html>\n<html lang=\"en\"><head>"
	    "<meta charset=\"utf-8\"><title>%s</title></head>\n<body><h1>%s</h1>\n<p>%s</p>"
	    "</body></html>\n", title, title, text);

	evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
	http_reply_text(req, status, "text/html; charset=utf-8", body,
	    n < 0 ? 0 : (size_t)n < sizeof body ? (size_t)n : sizeof body - 1);
}

static int token_ok(const char *t)
{
	size_t n = strlen(t);

	if (n != DIGITAL_TOKEN_HEX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((t[i] >= '0' && t[i] <= '9') || (t[i] >= 'a' && t[i] <= 'f')))
			return 0;
	return 1;
}

static const char *content_type(const char *file)
{
	static const char *const types[][2] = {
		{ ".pdf", "application/pdf" }, { ".zip", "application/zip" },
		{ ".epub", "application/epub+zip" }, { ".mp3", "audio/mpeg" },
		{ ".mp4", "video/mp4" }, { ".png", "image/png" }, { ".jpg", "image/jpeg" },
		{ ".jpeg", "image/jpeg" }, { ".txt", "text/plain; charset=utf-8" },
		{ ".json", "application/json" }, { ".gz", "application/gzip" },
	};
	const char *dot = strrchr(file, '.');

	for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
		if (strcasecmp(dot, types[i][0]) == 0)
			return types[i][1];
	return "application/octet-stream";
}

/* Content-Disposition with the file's base name, reduced to safe bytes. */
static void disposition(const char *file, char *out, size_t len)
{
	const char *base = strrchr(file, '/');
	char name[256];
	size_t n = 0;

	for (base = base ? base + 1 : file; *base && n < sizeof name - 1; base++)
		name[n++] = (*base >= 0x20 && *base < 0x7f && *base != '"' && *base != '\\' &&
		    *base != ';') ? *base : '_';
	name[n] = '\0';
	snprintf(out, len, "attachment; filename=\"%s\"", n ? name : "download");
}

int download_range(const char *h, int64_t size, int64_t *first, int64_t *last)
{
	char *end;
	long long a, b;

	if (h == NULL || strncmp(h, "bytes=", 6) != 0 || strchr(h, ',') != NULL)
		return 0;
	h += 6;
	if (*h == '-') {
		errno = 0;
		b = strtoll(h + 1, &end, 10);
		if (errno || end == h + 1 || *end || b < 0)
			return 0;
		if (b == 0 || size == 0)
			return -1;
		*first = b >= size ? 0 : size - b;
		*last = size - 1;
		return 1;
	}
	if (*h < '0' || *h > '9')
		return 0;
	errno = 0;
	a = strtoll(h, &end, 10);
	if (errno || *end != '-')
		return 0;
	h = end + 1;
	if (*h == '\0') {
		b = size - 1;
	} else {
		if (*h < '0' || *h > '9')
			return 0;
		b = strtoll(h, &end, 10);
		if (errno || *end || b < a)
			return 0;
	}
	if (a >= size)
		return -1;
	*first = a;
	*last = b >= size ? size - 1 : b;
	return 1;
}

/* The grant's file opened read-only if it still resolves inside assets. */
static int open_asset(const struct merchant_config *m, const char *file, int64_t *size)
{
	char *path = NULL, *real = NULL;
	size_t alen;
	struct stat st;
	int fd = -1;

	if (m == NULL || m->digital.assets == NULL)
		return -1;
	alen = strlen(m->digital.assets);
	if (asprintf(&path, "%s/%s", m->digital.assets, file) < 0)
		return -1;
	real = realpath(path, NULL);
	if (real != NULL && strncmp(real, m->digital.assets, alen) == 0 && real[alen] == '/' &&
	    (fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) >= 0 &&
	    (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
		close(fd);
		fd = -1;
	}
	if (fd >= 0)
		*size = (int64_t)st.st_size;
	free(path);
	free(real);
	return fd;
}

void download_serve(struct db *db, const struct ordo_config *cfg, struct evhttp_request *req,
    const char *token)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	const struct merchant_config *m;
	struct digital_product_buf pbuf;
	const struct digital_product *p;
	struct digital_hit hit;
	int64_t size = 0, first = 0, last = 0, now = clock_now_ms();
	char hdr[400], remote[64] = "";
	struct evbuffer *buf;
	int fd, ranged, rc;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		evhttp_add_header(out, "Allow", "GET");
		http_reply_error(req, 405, "method_not_allowed", "use GET");
		return;
	}
	rc = token_ok(token) ? digital_lookup(db, token, &hit) : 0;
	if (rc < 0) {
		page(req, 503, "Try again shortly", "The download is unavailable for a moment.");
		return;
	}
	if (rc == 0) {
		page(req, 404, "Link not found", "This download link is not valid. Check that the"
		    " whole link was copied from your email.");
		return;
	}
	if (hit.revoked_at > 0) {
		page(req, 410, "Link revoked", "This download link was revoked by the shop.");
		return;
	}
	if (now >= hit.expires_at) {
		page(req, 410, "Link expired", "This download link has expired. Contact the shop for"
		    " a new one.");
		return;
	}
	m = config_merchant(cfg, hit.merchant);
	if ((fd = open_asset(m, hit.file, &size)) < 0) {
		log_error("download file missing", "merchant", hit.merchant, "file", hit.file, NULL);
		page(req, 404, "File not available", "The file for this link is not available."
		    " The shop has been told.");
		return;
	}
	ranged = download_range(http_header(req, "Range"), size, &first, &last);
	if (ranged < 0) {
		close(fd);
		snprintf(hdr, sizeof hdr, "bytes */%" PRId64, size);
		evhttp_add_header(out, "Content-Range", hdr);
		page(req, 416, "Range not satisfiable", "The requested part is beyond the file.");
		return;
	}
	if (ranged == 0) {
		first = 0;
		last = size - 1;
	}
	/* A download from the start uses one of the grant's downloads; resuming
	 * one already begun (a range past byte 0) does not. */
	if ((first == 0 || hit.downloads == 0) && hit.downloads >= hit.download_limit) {
		close(fd);
		page(req, 410, "Download limit reached", "This link has been used as many times"
		    " as it allows. Contact the shop for a new one.");
		return;
	}
	http_client_address(req, cfg->server.trusted_proxies, cfg->server.n_trusted_proxies,
	    remote, sizeof remote);
	if (db_begin(db) != 0) {
		close(fd);
		page(req, 503, "Try again shortly", "The download is unavailable for a moment.");
		return;
	}
	rc = digital_record(db, hit.grant_id, remote, first, size ? last - first + 1 : 0,
	    first == 0 || hit.downloads == 0);
	if (rc <= 0 || db_commit(db) != 0) {
		db_rollback(db);
		close(fd);
		if (rc == 0)
			page(req, 410, "Download limit reached", "This link has been used as many"
			    " times as it allows.");
		else
			page(req, 503, "Try again shortly", "The download is unavailable for a moment.");
		return;
	}
	if ((buf = evbuffer_new()) == NULL) {
		close(fd);
		page(req, 503, "Try again shortly", "Out of memory.");
		return;
	}
	if (size > 0 && evbuffer_add_file(buf, fd, first, last - first + 1) != 0) {
		evbuffer_free(buf);
		page(req, 503, "Try again shortly", "The file could not be read.");
		return;
	}
	if (size == 0)
		close(fd);
	p = digital_product(db, m, hit.sku, &pbuf);
	evhttp_add_header(out, "Content-Type", p && p->content_type ? p->content_type :
	    content_type(hit.file));
	disposition(hit.file, hdr, sizeof hdr);
	evhttp_add_header(out, "Content-Disposition", hdr);
	evhttp_add_header(out, "Accept-Ranges", "bytes");
	evhttp_add_header(out, "Cache-Control", "private, no-store");
	evhttp_add_header(out, "X-Content-Type-Options", "nosniff");
	if (ranged > 0) {
		snprintf(hdr, sizeof hdr, "bytes %" PRId64 "-%" PRId64 "/%" PRId64, first, last, size);
		evhttp_add_header(out, "Content-Range", hdr);
	}
	evhttp_send_reply(req, ranged > 0 ? 206 : 200, http_reason(ranged > 0 ? 206 : 200), buf);
	evbuffer_free(buf);
}
