/*
 * webhook — channel rules for incoming deliveries.
 *
 * Depends on crypto (HMAC, constant-time compare), jsonscan and jansson.
 * Verification always runs over the raw bytes before the body is parsed,
 * and nothing from a request that fails it is kept. Must never trust a
 * header's length or content: every copy is bounded.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "ordo/crypto.h"
#include "ordo/jsonscan.h"
#include "ordo/webhook.h"

static int set_error(struct webhook_delivery *out, int result, const char *msg)
{
	snprintf(out->error, sizeof out->error, "%s", msg);
	return result;
}

/* base64(HMAC-SHA256(secret, body)) == header, in constant time. */
static int verify_base64(const char *secret, const char *body, size_t len, const char *sig)
{
	unsigned char mac[CRYPTO_SHA256_LEN];
	char expect[64];

	if (sig == NULL)
		return 0;
	crypto_hmac_sha256(secret, strlen(secret), body, len, mac);
	crypto_base64_encode(mac, sizeof mac, expect);
	return crypto_equal_str(expect, sig);
}

/* "sha256=" + hex(HMAC-SHA256(secret, body)), hex compared case-insensitively. */
static int verify_hex(const char *secret, const char *body, size_t len, const char *sig)
{
	unsigned char mac[CRYPTO_SHA256_LEN];
	char expect[2 * CRYPTO_SHA256_LEN + 1], got[2 * CRYPTO_SHA256_LEN + 1];
	size_t i;

	if (sig == NULL || strncmp(sig, "sha256=", 7) != 0 || strlen(sig + 7) != sizeof got - 1)
		return 0;
	for (i = 0; i < sizeof got - 1; i++)
		got[i] = (char)tolower((unsigned char)sig[7 + i]);
	got[i] = '\0';
	crypto_hmac_sha256(secret, strlen(secret), body, len, mac);
	crypto_hex(mac, sizeof mac, expect);
	return crypto_equal_str(expect, got);
}

/* A header value fit to be part of a key: 1..100 printable bytes. */
static int token_ok(const char *s)
{
	size_t n = 0;

	if (s == NULL)
		return 0;
	for (; s[n]; n++)
		if (!isgraph((unsigned char)s[n]) || n >= 100)
			return 0;
	return n > 0;
}

static void body_hash(const char *body, size_t len, char *hex)
{
	unsigned char d[CRYPTO_SHA256_LEN];

	crypto_sha256(body, len, d);
	crypto_hex(d, sizeof d, hex);
}

/* A member as exact text the way jsonscan_object reads it: integers via
 * int64, strings as given, else "". */
static void member_text(const json_t *v, char *buf, size_t len)
{
	buf[0] = '\0';
	if (json_is_integer(v))
		snprintf(buf, len, "%" PRId64, (int64_t)json_integer_value(v));
	else if (json_is_string(v) && json_string_length(v) < len &&
	    strlen(json_string_value(v)) == json_string_length(v))
		snprintf(buf, len, "%s", json_string_value(v));
}

/*
 * The cold path, when jsonscan was unsure: jansson says where the body breaks.
 * If jansson does accept it as an object, read the members from its tree.
 * @return 0 accepted (vals filled), -1 with out->error set.
 */
static int explain_json(const char *body, size_t len, const char *const keys[JSONSCAN_KEYS],
    char vals[JSONSCAN_KEYS][JSONSCAN_LEN], struct webhook_delivery *out)
{
	json_error_t jerr;
	json_t *v = json_loadb(body, len, 0, &jerr);

	if (v == NULL) {
		snprintf(out->error, sizeof out->error,
		    "the body is not valid JSON: %s at byte %d (line %d, column %d)",
		    jerr.text, jerr.position, jerr.line, jerr.column);
		return -1;
	}
	if (!json_is_object(v)) {
		json_decref(v);
		snprintf(out->error, sizeof out->error, "the body must be a JSON object");
		return -1;
	}
	for (int i = 0; i < JSONSCAN_KEYS; i++)
		member_text(json_object_get(v, keys[i]), vals[i], JSONSCAN_LEN);
	json_decref(v);
	return 0;
}

static int is_woo_ping(const char *body, size_t len)
{
	static const char prefix[] = "webhook_id=";
	size_t i = sizeof prefix - 1;

	if (len <= i || len > 40 || memcmp(body, prefix, i) != 0)
		return 0;
	for (; i < len; i++)
		if (!isdigit((unsigned char)body[i]))
			return 0;
	return 1;
}

/* Which field names the order, by topic: refunds point at their order. */
static const char *order_field(enum channel_kind ch, const char *topic)
{
	switch (ch) {
	case CH_SHOPIFY:
		if (strncmp(topic, "refunds/", 8) == 0)
			return "order_id";
		return strncmp(topic, "orders/", 7) == 0 ? "id" : NULL;
	case CH_WOOCOMMERCE:
		return strncmp(topic, "order.", 6) == 0 ? "id" : NULL;
	case CH_GENERIC:
		if (strncmp(topic, "refund.", 7) == 0 || strncmp(topic, "refund_", 7) == 0)
			return "order_id";
		return strncmp(topic, "order", 5) == 0 ? "id" : NULL;
	default:
		return NULL;
	}
}

int webhook_parse(enum channel_kind ch, const char *secret,
    webhook_header_fn header, void *ctx, const char *body, size_t len,
    struct webhook_delivery *out)
{
	const char *sig, *topic, *delivery = NULL, *field;
	char hex[2 * CRYPTO_SHA256_LEN + 1];
	int ok;

	memset(out, 0, sizeof *out);
	switch (ch) {
	case CH_SHOPIFY:
		sig = header(ctx, "X-Shopify-Hmac-Sha256");
		ok = verify_base64(secret, body, len, sig);
		topic = header(ctx, "X-Shopify-Topic");
		delivery = header(ctx, "X-Shopify-Webhook-Id");
		if (delivery == NULL)
			delivery = header(ctx, "X-Shopify-Event-Id");
		break;
	case CH_WOOCOMMERCE:
		sig = header(ctx, "X-WC-Webhook-Signature");
		/* Woo pings a new webhook unsigned (or signed) with a form body. */
		if (is_woo_ping(body, len) && (sig == NULL || verify_base64(secret, body, len, sig)))
			return WH_PING;
		ok = verify_base64(secret, body, len, sig);
		topic = header(ctx, "X-WC-Webhook-Topic");
		break;
	case CH_GENERIC:
	case CH_CARRIER:
		sig = header(ctx, "X-Ordo-Signature");
		ok = verify_hex(secret, body, len, sig);
		topic = header(ctx, "X-Ordo-Event");
		delivery = header(ctx, "X-Ordo-Delivery");
		break;
	default:
		return set_error(out, WH_BAD_REQUEST, "unknown channel");
	}
	if (!ok)
		return set_error(out, WH_BAD_SIGNATURE, sig == NULL
		    ? "the signature header is missing"
		    : "the signature does not match the body and the channel's secret");
	if (!token_ok(topic) || strlen(topic) >= sizeof out->topic)
		return set_error(out, WH_BAD_REQUEST, "the topic header is missing or malformed");
	snprintf(out->topic, sizeof out->topic, "%s", topic);

	/* Hot path: simdjson validates and reads the three members we key on;
	 * whatever it is unsure of, jansson (the dispatcher's parser) decides,
	 * so a 200 is only ever given for a body the dispatcher can read. */
	static const char *const keys[JSONSCAN_KEYS] = { "id", "order_id", "date_modified_gmt" };
	char vals[JSONSCAN_KEYS][JSONSCAN_LEN];

	if (jsonscan_object(body, len, keys, vals) != 1 && explain_json(body, len, keys, vals, out) != 0)
		return WH_BAD_JSON;

	field = order_field(ch, out->topic);
	if (field != NULL) {
		const char *v = strcmp(field, "order_id") == 0 ? vals[1] : vals[0];

		if (token_ok(v) && strlen(v) < 100)
			snprintf(out->order_key, sizeof out->order_key, "%s:%s",
			    config_channel_name(ch), v);
	}

	if (ch == CH_WOOCOMMERCE) {
		if (token_ok(vals[0]) && strlen(vals[0]) < 100 && token_ok(vals[2]) &&
		    strlen(vals[2]) < 40) {
			snprintf(out->dedup_key, sizeof out->dedup_key, "woocommerce:%s:%s:%s",
			    out->topic, vals[0], vals[2]);
			return WH_OK;
		}
	} else if (token_ok(delivery)) {
		snprintf(out->dedup_key, sizeof out->dedup_key, "%s:%s",
		    config_channel_name(ch), delivery);
		return WH_OK;
	}
	body_hash(body, len, hex);
	snprintf(out->dedup_key, sizeof out->dedup_key, "%s:sha256:%s",
	    config_channel_name(ch), hex);
	return WH_OK;
}
