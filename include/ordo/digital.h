/*
 * digital — what is delivered without a box: download grants (a link per
 * purchased file, with an expiry and a download limit) and license keys
 * drawn from a per-SKU pool.
 *
 * A grant's token is 32 random bytes shown once, as hex, to the caller that
 * made it (the workflow, to email it); only its SHA-256 is stored. The file
 * a grant serves was checked inside the merchant's asset folder by config,
 * and is checked again when served (download.c).
 *
 * Every writer runs inside the caller's transaction and leaves nothing
 * behind on failure (the caller rolls back). Errors go to `err`
 * (DIGITAL_ERRLEN): "database error: ..." for the store, "... not found"
 * for a missing record, "...; it cannot be ..." for a state that forbids
 * the change, anything else for bad input.
 */
#ifndef ORDO_DIGITAL_H
#define ORDO_DIGITAL_H

#include <stdint.h>
#include <jansson.h>

#include "ordo/config.h"

struct db;
struct merchant_config;

#define DIGITAL_ERRLEN 256
#define DIGITAL_TOKEN_HEX 64   /* the token in a link: 32 bytes as hex */
#define DIGITAL_MAX_KEY 512    /* longest license key, bytes */

/*
 * Grant the files of order line `line_no` (its SKU must be a digital file
 * product): one grant per line, with the merchant's expiry and limit.
 * @return [{id, sku, file, token, path, url, expires_at, download_limit}]
 * (url is NULL without digital.base_url), or NULL with err.
 */
json_t *digital_grant(struct db *db, const struct merchant_config *m, int64_t order_id,
    int64_t line_no, int64_t event_id, char *err);

/*
 * Draw one license key per unit of line `line_no` (a license product) that
 * has no live key yet, in one statement, so no key is handed out twice and
 * a line delivered already gets none (an empty array). A pool with fewer
 * free keys than units hands out none and sets *empty (err names the
 * shortfall).
 * @return the keys as a JSON array of strings, or NULL.
 */
json_t *digital_draw_keys(struct db *db, const struct merchant_config *m, int64_t order_id,
    int64_t line_no, int *empty, char *err);

/* Revoke the order's live grants and, when `keys`, its license keys.
 * @return 0, with the counts; -1 with err. */
int digital_revoke_order(struct db *db, const char *merchant, int64_t order_id, int keys,
    int64_t *n_grants, int64_t *n_keys, char *err);

/* Revoke what `units` canceled units of line `line_no` were given: the
 * newest `units` license keys of the line, and its download links once the
 * line has no unit left (call after the units are canceled).
 * @return 0, with the counts; -1 with err. */
int digital_revoke_line(struct db *db, const char *merchant, int64_t order_id, int64_t line_no,
    int64_t units, int64_t *n_grants, int64_t *n_keys, char *err);

/* {grants: [...], keys: [{sku, key, line, assigned_at, revoked_at}]} of an order. */
json_t *digital_order(struct db *db, const char *merchant, int64_t order_id);

/* One grant (without its token), or NULL when the merchant has none. */
json_t *digital_grant_get(struct db *db, const char *merchant, int64_t id);

/* Revoke one grant; extend one (a new expiry after now, and/or `more`
 * downloads). @return 0 or -1 with err. */
int digital_grant_revoke(struct db *db, const char *merchant, int64_t id, char *err);
int digital_grant_extend(struct db *db, const char *merchant, int64_t id, int64_t expires_at,
    int64_t more, char *err);

/*
 * Import `keys` (a JSON array of strings) into the pool of `sku` (a license
 * product), all or nothing for bad input; keys already in the pool, or
 * repeated in the request, are reported, not added.
 * @return {sku, added, duplicates: [...], available}, or NULL with err.
 */
json_t *digital_import_keys(struct db *db, const struct merchant_config *m, const char *sku,
    const json_t *keys, char *err);

/* {sku, available, assigned, revoked} of a pool. */
json_t *digital_pool(struct db *db, const char *merchant, const char *sku);

/* What a download link may serve now. */
struct digital_hit {
	int64_t grant_id;
	char merchant[72];
	char sku[256];
	char file[1040];
	int64_t expires_at, download_limit, downloads, revoked_at;
};

/* The grant whose token is `token` (64 hex), or 0 when none; -1 on a
 * database error. */
int digital_lookup(struct db *db, const char *token, struct digital_hit *hit);

/*
 * Record one download of `bytes` from `first` (in the caller's
 * transaction); when `counts` (a download from byte 0, or the first one of
 * the grant) it uses one of the grant's downloads, a resumed one does not.
 * @return 1 done, 0 when the limit was reached meanwhile, -1 on a
 * database error.
 */
int digital_record(struct db *db, int64_t grant_id, const char *remote, int64_t first,
    int64_t bytes, int counts);

/* ------------------------------------------------------------------ */
/* Which SKUs are digital (digital_products.c)                          */
/* ------------------------------------------------------------------ */

/* Refusals of the product calls (the API's status in brackets). */
enum {
	DIGITAL_EINPUT = -1,     /* the request's shape [400] */
	DIGITAL_EINVALID = -2,   /* a file outside the assets, both or neither kind [422] */
	DIGITAL_ECONFLICT = -3,  /* the SKU is config's [409] */
	DIGITAL_ENOTFOUND = -4,  /* [404] */
	DIGITAL_EDB = -5,        /* [503] */
};

/* Room for a product read from the database. */
struct digital_product_buf {
	struct digital_product p;
	char sku[256], file[1025], content_type[256];
};

/*
 * The merchant's digital product `sku`: config's entry when it names the
 * SKU (config wins), else the one set by API, read into *buf. @return the
 * product (pointing into config or into *buf), or NULL when the SKU is not
 * digital (or on a database error).
 */
const struct digital_product *digital_product(struct db *db, const struct merchant_config *m,
    const char *sku, struct digital_product_buf *buf);

/* {sku, kind: "file"|"license", file, content_type, source: "config"|"api"},
 * or NULL when the SKU is not digital. Caller decrefs. */
json_t *digital_product_get(struct db *db, const struct merchant_config *m, const char *sku);

/* {"products": [...]}: config's, then the API's config does not shadow.
 * NULL on a database error. */
json_t *digital_product_list(struct db *db, const struct merchant_config *m);

/*
 * Set SKU `sku` digital from an API body {"file": "name under
 * digital.assets"} or {"license": true}, with an optional "content_type".
 * Refused for a SKU the config names, a file that does not resolve to a
 * regular file inside digital.assets, both kinds or neither. *created: 1
 * when the SKU was not digital before. @return 0 or a DIGITAL_E* code with err.
 */
int digital_product_put(struct db *db, const struct merchant_config *m, const char *sku,
    const json_t *body, int *created, char *err);

/* Stop selling `sku` digitally (grants and keys already given stay).
 * @return 0 or a DIGITAL_E* code with err (config's: conflict). */
int digital_product_delete(struct db *db, const struct merchant_config *m, const char *sku,
    char *err);

#endif
