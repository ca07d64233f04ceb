/*
 * test_webhook — signature verification, topics, dedup and order keys for
 * each channel, the WooCommerce ping, and malformed bodies.
 */
#include <strings.h>

#include <stdlib.h>

#include "ordo/crypto.h"
#include "ordo/jsonscan.h"
#include "ordo/log.h"
#include "ordo/webhook.h"
#include "t.h"

struct hdr {
	const char *name, *value;
};

static const char *lookup(void *ctx, const char *name)
{
	for (const struct hdr *h = ctx; h->name; h++)
		if (strcasecmp(h->name, name) == 0)
			return h->value;
	return NULL;
}

static void sign_b64(const char *secret, const char *body, char *out)
{
	unsigned char mac[CRYPTO_SHA256_LEN];

	crypto_hmac_sha256(secret, strlen(secret), body, strlen(body), mac);
	crypto_base64_encode(mac, sizeof mac, out);
}

static void sign_hex(const char *secret, const char *body, char *out)
{
	unsigned char mac[CRYPTO_SHA256_LEN];

	crypto_hmac_sha256(secret, strlen(secret), body, strlen(body), mac);
	memcpy(out, "sha256=", 7);
	crypto_hex(mac, sizeof mac, out + 7);
}

static const char *order_body = "{\"id\":5912345678901234567,\"total_price\":\"19.99\"}";

static int parse(enum channel_kind ch, const char *secret, struct hdr *h, const char *body,
    struct webhook_delivery *d)
{
	return webhook_parse(ch, secret, lookup, h, body, strlen(body), d);
}

static void test_shopify(void)
{
	struct webhook_delivery d;
	char sig[64];
	struct hdr h[] = {
		{ "X-Shopify-Hmac-Sha256", sig }, { "X-Shopify-Topic", "orders/create" },
		{ "X-Shopify-Webhook-Id", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043" }, { NULL, NULL },
	};

	sign_b64("s3cret", order_body, sig);
	CHECK_INT(parse(CH_SHOPIFY, "s3cret", h, order_body, &d), WH_OK);
	CHECK_STR(d.topic, "orders/create");
	CHECK_STR(d.dedup_key, "shopify:b54557e4-bdd9-4b37-8a5f-bf7d70bcd043");
	CHECK_STR(d.order_key, "shopify:5912345678901234567");

	/* Wrong secret, tampered body, missing header: all 401, no payload. */
	CHECK_INT(parse(CH_SHOPIFY, "other", h, order_body, &d), WH_BAD_SIGNATURE);
	CHECK_HAS(d.error, "does not match");
	CHECK_INT(parse(CH_SHOPIFY, "s3cret", h, "{\"id\":5912345678901234568,\"total_price\":\"19.99\"}", &d),
	    WH_BAD_SIGNATURE);
	h[0].name = "X-Other";
	CHECK_INT(parse(CH_SHOPIFY, "s3cret", h, order_body, &d), WH_BAD_SIGNATURE);
	CHECK_HAS(d.error, "missing");
	h[0].name = "X-Shopify-Hmac-Sha256";

	/* Without a webhook id the event id, then the body hash, is the key. */
	h[2].name = "X-Shopify-Event-Id";
	CHECK_INT(parse(CH_SHOPIFY, "s3cret", h, order_body, &d), WH_OK);
	CHECK_STR(d.dedup_key, "shopify:b54557e4-bdd9-4b37-8a5f-bf7d70bcd043");
	h[2].name = "X-Nothing";
	CHECK_INT(parse(CH_SHOPIFY, "s3cret", h, order_body, &d), WH_OK);
	CHECK(strncmp(d.dedup_key, "shopify:sha256:", 15) == 0);
	CHECK_INT(strlen(d.dedup_key), 15 + 64);

	/* No topic. */
	h[1].name = "X-Nothing";
	CHECK_INT(parse(CH_SHOPIFY, "s3cret", h, order_body, &d), WH_BAD_REQUEST);
	CHECK_HAS(d.error, "topic");
}

static void test_shopify_refund_order_key(void)
{
	const char *body = "{\"id\":77,\"order_id\":5912345678901234567}";
	struct webhook_delivery d;
	char sig[64];
	struct hdr h[] = {
		{ "X-Shopify-Hmac-Sha256", sig }, { "X-Shopify-Topic", "refunds/create" },
		{ "X-Shopify-Webhook-Id", "r1" }, { NULL, NULL },
	};

	sign_b64("s", body, sig);
	CHECK_INT(parse(CH_SHOPIFY, "s", h, body, &d), WH_OK);
	CHECK_STR(d.order_key, "shopify:5912345678901234567");
}

static void test_bad_json(void)
{
	const char *bodies[] = { "{\"id\": 1,,}", "[1,2]", "", "{\"a\":1}{\"b\":2}" };
	const char *want[] = { "at byte", "must be a JSON object", "at byte", "at byte" };
	struct webhook_delivery d;
	char sig[64];
	struct hdr h[] = {
		{ "X-Shopify-Hmac-Sha256", sig }, { "X-Shopify-Topic", "orders/create" }, { NULL, NULL },
	};

	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		sign_b64("s", bodies[i], sig);
		CHECK_INT(parse(CH_SHOPIFY, "s", h, bodies[i], &d), WH_BAD_JSON);
		CHECK_HAS(d.error, want[i]);
	}
	/* The byte offset is where the error is. */
	sign_b64("s", bodies[0], sig);
	parse(CH_SHOPIFY, "s", h, bodies[0], &d);
	CHECK_HAS(d.error, "byte 10");
}

static void test_woocommerce(void)
{
	const char *body = "{\"id\":727,\"date_modified_gmt\":\"2026-11-20T10:00:00\",\"total\":\"29.35\"}";
	struct webhook_delivery d;
	char sig[64];
	struct hdr h[] = {
		{ "X-WC-Webhook-Signature", sig }, { "X-WC-Webhook-Topic", "order.updated" },
		{ "X-WC-Webhook-Delivery-ID", "123" }, { NULL, NULL },
	};

	sign_b64("wc", body, sig);
	CHECK_INT(parse(CH_WOOCOMMERCE, "wc", h, body, &d), WH_OK);
	/* The delivery id changes on retry, so it is not the key. */
	CHECK_STR(d.dedup_key, "woocommerce:order.updated:727:2026-11-20T10:00:00");
	CHECK_STR(d.order_key, "woocommerce:727");
	CHECK_INT(parse(CH_WOOCOMMERCE, "nope", h, body, &d), WH_BAD_SIGNATURE);

	/* The ping: unsigned form body, 200, nothing stored. */
	h[0].name = "X-Nothing";
	CHECK_INT(parse(CH_WOOCOMMERCE, "wc", h, "webhook_id=12", &d), WH_PING);
	CHECK_INT(parse(CH_WOOCOMMERCE, "wc", h, "webhook_id=12x", &d), WH_BAD_SIGNATURE);
	h[0].name = "X-WC-Webhook-Signature";
	strcpy(sig, "AAAA");
	CHECK_INT(parse(CH_WOOCOMMERCE, "wc", h, "webhook_id=12", &d), WH_BAD_SIGNATURE);
}

static void test_generic(void)
{
	const char *body = "{\"id\":\"A-1\",\"total\":\"5.00\"}";
	struct webhook_delivery d;
	char sig[80];
	struct hdr h[] = {
		{ "X-Ordo-Signature", sig }, { "X-Ordo-Event", "order.created" },
		{ "X-Ordo-Delivery", "d-1" }, { NULL, NULL },
	};

	sign_hex("g", body, sig);
	CHECK_INT(parse(CH_GENERIC, "g", h, body, &d), WH_OK);
	CHECK_STR(d.dedup_key, "generic:d-1");
	CHECK_STR(d.order_key, "generic:A-1");
	for (char *p = sig + 7; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	CHECK_INT(parse(CH_GENERIC, "g", h, body, &d), WH_OK); /* hex case does not matter */
	memmove(sig, sig + 7, strlen(sig + 7) + 1);              /* no "sha256=" prefix */
	CHECK_INT(parse(CH_GENERIC, "g", h, body, &d), WH_BAD_SIGNATURE);
}

/* jsonscan reads members exactly as jansson would, and is unsure (0, for
 * jansson to decide) wherever the two could differ. */
static void test_jsonscan(void)
{
	static const char *const keys[JSONSCAN_KEYS] = { "id", "order_id", "date_modified_gmt" };
	static const struct {
		const char *body;
		int object;
		const char *v[JSONSCAN_KEYS];
	} cases[] = {
		{ "{\"id\":9223372036854775807,\"order_id\":9007199254740993}", 1,
		  { "9223372036854775807", "9007199254740993", "" } },
		{ "{\"id\":-9223372036854775808}", 1, { "-9223372036854775808", "", "" } },
		{ "{\"id\":\"A-1\",\"date_modified_gmt\":\"2026-11-20T10:00:00\"}", 1,
		  { "A-1", "", "2026-11-20T10:00:00" } },
		{ "{\"id\":{\"x\":1},\"order_id\":[1],\"date_modified_gmt\":null}", 1, { "", "", "" } },
		{ "{\"id\":1.5}", 1, { "", "", "" } },
		{ "{\"a\":{\"id\":7}}", 1, { "", "", "" } },
		{ " \r\n\t{\"id\":\"a\\\\u0000\"}", 1, { "a\\u0000", "", "" } }, /* escaped backslash */
		{ "{\"id\":\"a\\\"b\"}", 1, { "a\"b", "", "" } },
		{ "{\"id\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}", 1, { "", "", "" } }, /* 130 bytes */
		{ "{\"id\":1,\"id\":2}", 0, { "", "", "" } },            /* jansson keeps the last */
		{ "{\"id\":1,\"x\":[{\"y\":9223372036854775808}]}", 0, { "", "", "" } }, /* uint64 */
		{ "{\"id\":18446744073709551616}", 0, { "", "", "" } },   /* past uint64 */
		{ "{\"id\":\"\\u0000\"}", 0, { "", "", "" } },
		{ "{\"id\":\"\\ud83d\\ude00\"}", 0, { "", "", "" } },  /* jansson checks pairs */
		{ "{\"id\":\"\\uDC00\"}", 0, { "", "", "" } },
		{ "\xef\xbb\xbf{\"id\":1}", 0, { "", "", "" } },         /* byte-order mark */
		{ "{\"id\":\"\xff\"}", 0, { "", "", "" } },               /* not UTF-8 */
		{ "{\"id\":\"a\tb\"}", 0, { "", "", "" } },                /* raw control byte */
		{ "{\"id\":1} x", 0, { "", "", "" } },
		{ "{\"id\":1e400}", 0, { "", "", "" } },
		{ "[1]", 0, { "", "", "" } },
		{ "\"x\"", 0, { "", "", "" } },
		{ "{\"id\":1", 0, { "", "", "" } },
		{ "{\"id\":1,\"tail\":\"\\", 0, { "", "", "" } },      /* ends in a backslash */
		{ "", 0, { "", "", "" } },
	};
	char out[JSONSCAN_KEYS][JSONSCAN_LEN];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		CHECK_INT(jsonscan_object(cases[i].body, strlen(cases[i].body), keys, out),
		    cases[i].object);
		for (int k = 0; k < JSONSCAN_KEYS; k++)
			CHECK_STR(out[k], cases[i].v[k]);
	}
}

/* Deeper than simdjson's 1,024 levels: unsure, and jansson (up to 2,048)
 * takes it; the order key still comes from the top level. */
static void test_deep_body(void)
{
	static const char *const keys[JSONSCAN_KEYS] = { "id", NULL, NULL };
	char body[4000], out[JSONSCAN_KEYS][JSONSCAN_LEN], sig[80];
	struct webhook_delivery d;
	struct hdr h[] = {
		{ "X-Ordo-Signature", sig }, { "X-Ordo-Event", "order.created" },
		{ "X-Ordo-Delivery", "deep" }, { NULL, NULL },
	};
	size_t n = 0;

	n += (size_t)snprintf(body, sizeof body, "{\"id\":\"D-1\",\"x\":");
	for (int i = 0; i < 1500; i++)
		body[n++] = '[';
	for (int i = 0; i < 1500; i++)
		body[n++] = ']';
	body[n++] = '}';
	body[n] = '\0';
	CHECK_INT(jsonscan_object(body, n, keys, out), 0);
	sign_hex("g", body, sig);
	CHECK_INT(parse(CH_GENERIC, "g", h, body, &d), WH_OK);
	CHECK_STR(d.order_key, "generic:D-1");
}

/* Found by fuzzing: SQLite's check accepted bodies jansson (the dispatcher's
 * parser) refuses, so they were acknowledged and could only dead-letter.
 * Both must now agree: 400 at the door, or accepted and parseable. */
static void test_ingress_accepts_only_what_dispatch_parses(void)
{
	static const struct {
		const char *body;
		size_t len;
		int result;
	} cases[] = {
		{ "{\"id\":1,\"name\":\"\xff\"}", 0, WH_BAD_JSON },           /* invalid UTF-8 */
		{ "{\"id\":1,\"name\":\"\\u0000\"}", 0, WH_BAD_JSON },        /* NUL escape */
		{ "{\"id\":1,\"name\":\"\\ud800\"}", 0, WH_BAD_JSON },        /* lone surrogate */
		{ "{\"id\":99999999999999999999}", 0, WH_BAD_JSON },              /* > int64 */
		{ "{\"id\":1,\"x\":1e400}", 0, WH_BAD_JSON },                   /* overflows a double */
		{ "{\"id\":1}\0 ", 9, WH_BAD_JSON },                             /* bytes after a NUL */
		{ "{\"id\":1,\"name\":\"Zo\xc3\xab \xe6\x9d\xb1\"}", 0, WH_OK }, /* valid UTF-8 */
		{ "{\"id\":9223372036854775807}", 0, WH_OK },                     /* int64 max */
		{ "{\"id\":1,\"a\":\"\\u0026\\ud83d\\ude00\",\"x\":1e10}", 0, WH_OK },
	};
	struct webhook_delivery d;
	char sig[80];
	struct hdr h[] = {
		{ "X-Ordo-Signature", sig }, { "X-Ordo-Event", "order.created" },
		{ "X-Ordo-Delivery", "d" }, { NULL, NULL },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].body);
		unsigned char mac[CRYPTO_SHA256_LEN];

		crypto_hmac_sha256("g", 1, cases[i].body, len, mac);
		memcpy(sig, "sha256=", 7);
		crypto_hex(mac, sizeof mac, sig + 7);
		CHECK_INT(webhook_parse(CH_GENERIC, "g", lookup, h, cases[i].body, len, &d),
		    cases[i].result);
		if (cases[i].result == WH_BAD_JSON)
			CHECK_HAS(d.error, "at byte");
	}
}

T_MAIN(test_jsonscan, test_deep_body, test_ingress_accepts_only_what_dispatch_parses, test_shopify, test_shopify_refund_order_key, test_bad_json, test_woocommerce,
    test_generic)
