/*
 * download — GET /d/{token}: serve a digital grant's file (with Range),
 * count the download, or answer a clear 404 / 410 page. Never a file
 * outside the merchant's digital.assets.
 */
#ifndef ORDO_DOWNLOAD_H
#define ORDO_DOWNLOAD_H

#include <stdint.h>

struct db;
struct evhttp_request;
struct ordo_config;

/*
 * One range of a file of `size` bytes from a Range header value: 1 with
 * [*first, *last], 0 to send it all (no header, another unit, several
 * ranges, malformed: RFC 9110 lets a server ignore those), -1 when it is
 * unsatisfiable (416).
 */
int download_range(const char *h, int64_t size, int64_t *first, int64_t *last);

void download_serve(struct db *db, const struct ordo_config *cfg, struct evhttp_request *req,
    const char *token);

#endif
