/*
 * webhook — what a storefront delivery means before anything is stored:
 * signature verification over the raw body, topic, deduplication key and
 * order key, per channel.
 *
 *   shopify      X-Shopify-Hmac-Sha256 (base64 HMAC-SHA256), X-Shopify-Topic,
 *                dedup on X-Shopify-Webhook-Id, else X-Shopify-Event-Id
 *   woocommerce  X-WC-Webhook-Signature (base64), X-WC-Webhook-Topic, dedup
 *                on topic + resource id + date_modified_gmt (its delivery id
 *                changes on retry); the unsigned "webhook_id=N" ping is
 *                recognised and stores nothing
 *   generic      X-Ordo-Signature: sha256=<hex>, X-Ordo-Event, X-Ordo-Delivery
 *   carrier      signed like generic; a carrier's tracking updates
 *
 * Without a delivery id the key is the SHA-256 of the body. Signatures are
 * compared in constant time. The body is checked with jsonscan_object()
 * (simdjson); jansson runs only when that is unsure, and to explain a
 * malformed body. No I/O; nothing outlives the call.
 */
#ifndef ORDO_WEBHOOK_H
#define ORDO_WEBHOOK_H

#include <stddef.h>

#include "ordo/config.h"

/* Header lookup, case-insensitive; NULL when absent. */
typedef const char *(*webhook_header_fn)(void *ctx, const char *name);

enum webhook_result {
	WH_OK = 0,
	WH_PING,            /* WooCommerce's ping: answer 200, store nothing */
	WH_BAD_SIGNATURE,   /* 401 */
	WH_BAD_REQUEST,     /* 400: a required header is missing or malformed */
	WH_BAD_JSON,        /* 400: the body is not a JSON object */
};

struct webhook_delivery {
	char topic[128];
	char dedup_key[400];
	char order_key[160];   /* "" when the payload names no order */
	char error[256];       /* set on every other result */
};

/*
 * Verify and read one delivery. `secret` is the channel's secret.
 * @return an enum webhook_result.
 */
int webhook_parse(enum channel_kind channel, const char *secret,
    webhook_header_fn header, void *ctx, const char *body, size_t len,
    struct webhook_delivery *out);

#endif
