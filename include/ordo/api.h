/*
 * api — answers of the REST API that the command line gives too, so both
 * show the same shape. The routes themselves are in api.c (see server.h).
 */
#ifndef ORDO_API_H
#define ORDO_API_H

#include <stdint.h>
#include <jansson.h>

struct db;

/*
 * GET /api/v1/orders/{id}'s body: the order with lines, history, payments,
 * effects and shipments. @return a new object the caller decrefs; NULL
 * with *dberr 0 when the merchant has no such order, *dberr 1 on a
 * database error.
 */
json_t *api_order(struct db *db, const char *merchant, int64_t id, int *dberr);

struct server;
struct evhttp_request;
struct merchant_config;

/* POST /api/v1/session {"api_key"}: sign in to the dashboard (a route
 * without a key, in server.c's table). */
void api_session_create(struct server *s, struct evhttp_request *req,
    const struct merchant_config *m, char **seg, int n);

#endif
