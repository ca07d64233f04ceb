/*
 * download — GET /d/{token}: serve a digital grant's file (with Range),
 * count the download, or answer a clear 404 / 410 page. Never a file
 * outside the merchant's digital.assets.
 */
#ifndef ORDO_DOWNLOAD_H
#define ORDO_DOWNLOAD_H

struct db;
struct evhttp_request;
struct ordo_config;

void download_serve(struct db *db, const struct ordo_config *cfg, struct evhttp_request *req,
    const char *token);

#endif
