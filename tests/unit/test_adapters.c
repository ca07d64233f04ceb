/*
 * test_adapters — every storefront fixture through the real sandbox and the
 * shipped channel adapters (scripts/channels/), checking the exact
 * internal shape they produce.
 *
 * One sandbox per channel, with only that channel enabled, a throwaway
 * workflow in a mkdtemp folder and a `capture` module: the workflow's
 * handlers call capture.put(event), which converts the event with
 * luajson_from_lua into a JSON value this file then inspects. So what is
 * checked is what the host would see, after the Lua -> JSON conversion
 * (integers stay integers, a float would show up as a real).
 *
 * Each case names a fixture (tests/fixtures/<channel>/<file>.json), the
 * topic it is delivered under, the status sandbox_handle must return, the
 * event name, and a list of expectations on paths into the event
 * ("order.lines[2].total"; list indexes count from 1, as the adapters'
 * error messages do). Every handled event is also checked against the
 * internal shape: no unknown keys, text where text belongs, integers for
 * money and quantities.
 *
 * Runs from the repository root (scripts/ and tests/fixtures/ are found
 * relative to it).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <lauxlib.h>
#include <lua.h>

#include "ordo/config.h"
#include "ordo/log.h"
#include "ordo/luajson.h"
#include "ordo/sandbox.h"
#include "t.h"

/* ------------------------------------------------------------------ */
/* The capture module and the test workflow                            */
/* ------------------------------------------------------------------ */

static json_t *captured; /* the last event a handler passed to capture.put */

static int capture_put(lua_State *L)
{
	char err[256];
	json_t *v = luajson_from_lua(L, 1, err, sizeof err);

	if (v == NULL)
		return luaL_error(L, "capture.put: %s", err);
	json_decref(captured);
	captured = v;
	return 0;
}

static int capture_open(lua_State *L)
{
	lua_newtable(L);
	lua_pushcfunction(L, capture_put);
	lua_setfield(L, -2, "put");
	return 1;
}

static const struct sandbox_module test_modules[] = {
	{ "capture", capture_open },
	{ NULL, NULL },
};

/* Only what the adapter made: the event table also carries the payload,
 * the topic and delivery details, which are the host's, not the adapter's. */
static const char workflow_text[] =
	"-- Hands every storefront event to the test as the adapter made it.\n"
	"local function put(event)\n"
	"\tcapture.put({ name = event.name, order = event.order, refund = event.refund })\n"
	"end\n"
	"return {\n"
	"\torder_created = put,\n"
	"\torder_updated = put,\n"
	"\torder_paid = put,\n"
	"\torder_cancelled = put,\n"
	"\trefund_created = put,\n"
	"}\n";

static char tmpdir[] = "/tmp/ordo-test-adapters-XXXXXX";
static char workflow_path[PATH_MAX];
static char scripts_dir[PATH_MAX];

static FILE *log_sink;
static int files_ready;

/* Once: make the workflow file, find scripts/, and send the log (the
 * sandbox logs adapter errors, which the checks read from *err) to
 * /dev/null so the output shows only failures. @return 0 or -1. */
static int setup_files(void)
{
	FILE *fp;

	if (files_ready)
		return 0;
	log_sink = fopen("/dev/null", "w");
	if (log_sink != NULL)
		log_set_stream(log_sink);

	if (realpath("scripts", scripts_dir) == NULL) {
		fprintf(stderr, "test_adapters: run from the repository root (scripts/: %s)\n",
		    strerror(errno));
		return -1;
	}
	if (mkdtemp(tmpdir) == NULL) {
		fprintf(stderr, "test_adapters: mkdtemp: %s\n", strerror(errno));
		return -1;
	}
	snprintf(workflow_path, sizeof workflow_path, "%s/workflow.lua", tmpdir);
	fp = fopen(workflow_path, "w");
	if (fp == NULL)
		return -1;
	fputs(workflow_text, fp);
	if (fclose(fp) != 0)
		return -1;
	files_ready = 1;
	return 0;
}

static void remove_files(void)
{
	if (files_ready) {
		unlink(workflow_path);
		rmdir(tmpdir);
		files_ready = 0;
	}
	log_set_stream(stderr);
	if (log_sink != NULL)
		fclose(log_sink);
	log_sink = NULL;
}

/* ------------------------------------------------------------------ */
/* One sandbox per channel                                             */
/* ------------------------------------------------------------------ */

static char m_id[] = "acme";
static char m_name[] = "Acme Goods";
static char m_currency[] = "USD";
static char m_timezone[] = "UTC";
static char m_secret[] = "test-secret-0123456789";

struct channel_box {
	struct merchant_config merchant;
	struct sandbox_env env;
	struct sandbox *sb;
};

static struct channel_box boxes[CH_COUNT];

/* @return the channel's sandbox, made on first use; NULL (and a failed
 * check) if it cannot be made. */
static struct sandbox *box_for(enum channel_kind ch)
{
	struct channel_box *b = &boxes[ch];
	char *err = NULL;

	if (b->sb != NULL)
		return b->sb;
	if (setup_files() != 0)
		return NULL;
	memset(b, 0, sizeof *b);
	b->merchant.id = m_id;
	b->merchant.name = m_name;
	b->merchant.currency = m_currency;
	b->merchant.timezone = m_timezone;
	b->merchant.workflow = workflow_path;
	b->merchant.channel_secret[ch] = m_secret;
	b->merchant.instruction_limit = 10000000;
	b->merchant.memory_limit = INT64_C(64) << 20;
	b->env.merchant = &b->merchant;
	b->env.scripts_dir = scripts_dir;
	b->env.db = NULL;
	b->env.modules = test_modules;
	b->sb = sandbox_new(&b->env, &err);
	if (b->sb == NULL)
		fprintf(stderr, "sandbox_new(%s): %s\n", config_channel_name(ch), err ? err : "?");
	CHECK(b->sb != NULL);
	CHECK(err == NULL);
	free(err);
	return b->sb;
}

static void free_boxes(void)
{
	for (int i = 0; i < CH_COUNT; i++) {
		sandbox_free(boxes[i].sb);
		boxes[i].sb = NULL;
	}
}

/* ------------------------------------------------------------------ */
/* Paths into the captured event                                       */
/* ------------------------------------------------------------------ */

/* "order.lines[2].sku" -> the value, or NULL. Indexes count from 1. */
static const json_t *at(const json_t *v, const char *path)
{
	const char *p = path;
	char key[64];

	while (v != NULL && *p != '\0') {
		if (*p == '.')
			p++;
		if (*p == '[') {
			char *end;
			long n = strtol(p + 1, &end, 10);

			if (*end != ']' || n < 1)
				return NULL;
			v = json_array_get(v, (size_t)n - 1);
			p = end + 1;
		} else {
			size_t n = strcspn(p, ".[");

			if (n == 0 || n >= sizeof key)
				return NULL;
			memcpy(key, p, n);
			key[n] = '\0';
			v = json_object_get(v, key);
			p += n;
		}
	}
	return v;
}

/* A value as the checks print it: 7672, "text", 76.72 (real), (absent). */
static void describe(const json_t *v, char *buf, size_t len)
{
	if (v == NULL)
		snprintf(buf, len, "(absent)");
	else if (json_is_integer(v))
		snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	else if (json_is_string(v))
		snprintf(buf, len, "\"%s\"", json_string_value(v));
	else if (json_is_real(v))
		snprintf(buf, len, "%.17g (real)", json_real_value(v));
	else if (json_is_array(v))
		snprintf(buf, len, "(list of %zu)", json_array_size(v));
	else if (json_is_object(v))
		snprintf(buf, len, "(object of %zu)", json_object_size(v));
	else
		snprintf(buf, len, "(%s)", json_is_null(v) ? "null" : "boolean");
}

/* ------------------------------------------------------------------ */
/* The internal shape                                                  */
/* ------------------------------------------------------------------ */

/* 's' text, 'i' integer, 'o' object, 'a' list; upper case: required. */
struct field {
	const char *key;
	char type;
};

static const struct field order_fields[] = {
	{ "channel", 'S' }, { "external_id", 'S' }, { "number", 's' },
	{ "currency", 'S' }, { "subtotal", 'I' }, { "shipping", 'I' },
	{ "tax", 'I' }, { "discount", 'I' }, { "total", 'I' }, { "email", 's' },
	{ "customer", 'o' }, { "shipping_address", 'o' }, { "lines", 'a' },
	{ "tags", 'a' }, { "placed_at", 's' }, { "financial_status", 's' },
	{ "cancel_reason", 's' }, { "note", 's' }, { NULL, 0 },
};
static const struct field customer_fields[] = {
	{ "external_id", 's' }, { "email", 's' }, { "first_name", 's' },
	{ "last_name", 's' }, { "phone", 's' }, { NULL, 0 },
};
static const struct field address_fields[] = {
	{ "name", 's' }, { "address1", 's' }, { "address2", 's' }, { "city", 's' },
	{ "province", 's' }, { "zip", 's' }, { "country_code", 's' },
	{ "phone", 's' }, { NULL, 0 },
};
static const struct field line_fields[] = {
	{ "external_id", 's' }, { "sku", 's' }, { "title", 's' },
	{ "quantity", 'I' }, { "unit_price", 'I' }, { "total", 'I' }, { NULL, 0 },
};
static const struct field refund_fields[] = {
	{ "external_id", 'S' }, { "order_external_id", 'S' }, { "amount", 'I' },
	{ "currency", 'S' }, { "reason", 's' }, { "lines", 'a' }, { "references", 'a' },
	{ NULL, 0 },
};
static const struct field refund_line_fields[] = {
	{ "line_external_id", 's' }, { "sku", 's' }, { "quantity", 'I' },
	{ "amount", 'I' }, { NULL, 0 },
};

static int type_ok(const json_t *v, char type)
{
	switch (type | 0x20) { /* lower case */
	case 's': return json_is_string(v) && json_string_length(v) > 0;
	case 'i': return json_is_integer(v);
	case 'o': return json_is_object(v) && json_object_size(v) > 0;
	case 'a': return json_is_array(v) && json_array_size(v) > 0;
	}
	return 0;
}

/* Every key known and of its type, every required key present. A failure
 * reads "<case>: order.lines[1].total is 76.72 (real)". */
static void check_fields(const char *name, const char *path, const json_t *obj,
    const struct field *fields)
{
	char got[512], want[512], val[128];
	const char *key;
	const json_t *v;

	snprintf(want, sizeof want, "%s: %s is an object", name, path);
	snprintf(got, sizeof got, "%s: %s is %s", name, path,
	    json_is_object(obj) ? "an object" : "not an object");
	CHECK_STR(got, want);
	if (!json_is_object(obj))
		return;
	json_object_foreach((json_t *)obj, key, v) {
		const struct field *f = fields;

		while (f->key != NULL && strcmp(f->key, key) != 0)
			f++;
		describe(v, val, sizeof val);
		snprintf(want, sizeof want, "%s: %s.%s is a known field of the right type",
		    name, path, key);
		if (f->key == NULL)
			snprintf(got, sizeof got, "%s: %s.%s is not a field of the shape",
			    name, path, key);
		else if (!type_ok(v, f->type))
			snprintf(got, sizeof got, "%s: %s.%s is %s, wrong type", name, path, key, val);
		else
			snprintf(got, sizeof got, "%s", want);
		CHECK_STR(got, want);
	}
	for (const struct field *f = fields; f->key != NULL; f++) {
		if (f->type >= 'a')
			continue;
		snprintf(want, sizeof want, "%s: %s.%s is present", name, path, f->key);
		snprintf(got, sizeof got, "%s: %s.%s is %s", name, path, f->key,
		    json_object_get(obj, f->key) ? "present" : "missing");
		CHECK_STR(got, want);
	}
}

static void check_list(const char *name, const char *path, const json_t *list,
    const struct field *fields)
{
	char item[64];
	size_t i;
	const json_t *v;

	json_array_foreach(list, i, v) {
		snprintf(item, sizeof item, "%s[%zu]", path, i + 1);
		check_fields(name, item, v, fields);
	}
}

static void check_shape(const char *name, const json_t *ev)
{
	const json_t *order = json_object_get(ev, "order");
	const json_t *refund = json_object_get(ev, "refund");
	const json_t *v;
	size_t i;

	if (order != NULL) {
		check_fields(name, "order", order, order_fields);
		if ((v = json_object_get(order, "customer")) != NULL)
			check_fields(name, "order.customer", v, customer_fields);
		if ((v = json_object_get(order, "shipping_address")) != NULL)
			check_fields(name, "order.shipping_address", v, address_fields);
		if ((v = json_object_get(order, "lines")) != NULL)
			check_list(name, "order.lines", v, line_fields);
		json_array_foreach(json_object_get(order, "tags"), i, v)
			CHECK(json_is_string(v) && json_string_length(v) > 0);
	} else {
		check_fields(name, "refund", refund, refund_fields);
		if (refund != NULL && (v = json_object_get(refund, "lines")) != NULL)
			check_list(name, "refund.lines", v, refund_line_fields);
	}
	CHECK(order == NULL || refund == NULL);
}

/* ------------------------------------------------------------------ */
/* Cases                                                               */
/* ------------------------------------------------------------------ */

enum { X_END, X_STR, X_INT, X_ABSENT, X_LEN, X_ERR };

struct expect {
	int kind;
	const char *path;       /* X_ERR: a substring of the error */
	const char *text;
	long long num;
};

#define STR(p, v)  { X_STR, (p), (v), 0 }
#define INT(p, v)  { X_INT, (p), NULL, (v) }
#define NONE(p)    { X_ABSENT, (p), NULL, 0 }
#define LEN(p, n)  { X_LEN, (p), NULL, (n) }
#define ERR(s)     { X_ERR, (s), NULL, 0 }

struct adapter_case {
	const char *fixture;    /* under tests/fixtures/ */
	enum channel_kind channel;
	const char *topic;
	int status;             /* what sandbox_handle returns */
	const char *name;       /* the event name, or NULL */
	struct expect expect[56];
};

static const struct adapter_case cases[] = {
	/* ---------------------------------------------------- Shopify */
	{ "shopify/orders_create.json", CH_SHOPIFY, "orders/create", SB_HANDLED, "order_created", {
		STR("order.channel", "shopify"),
		STR("order.external_id", "5912345678901234567"),   /* > 2^53 */
		STR("order.number", "#1001"),
		STR("order.currency", "USD"),
		INT("order.subtotal", 6899),   /* total_line_items_price, before discounts */
		INT("order.shipping", 750),
		INT("order.tax", 513),
		INT("order.discount", 490),
		INT("order.total", 7672),
		STR("order.email", "ada@example.com"),
		STR("order.customer.external_id", "7012345678901234567"),
		STR("order.customer.email", "ada@example.com"),
		STR("order.customer.first_name", "Ada"),
		STR("order.customer.last_name", "Lovelace"),
		STR("order.customer.phone", "+15035550123"),
		STR("order.shipping_address.name", "Ada Lovelace"),
		STR("order.shipping_address.address1", "12 Analytical Way"),
		STR("order.shipping_address.address2", "Apt 3"),
		STR("order.shipping_address.city", "Portland"),
		STR("order.shipping_address.province", "OR"),
		STR("order.shipping_address.zip", "97201"),
		STR("order.shipping_address.country_code", "US"),
		STR("order.shipping_address.phone", "+1 503-555-0123"),
		LEN("order.lines", 2),
		STR("order.lines[1].external_id", "9007199254740993"),  /* 2^53 + 1 */
		STR("order.lines[1].sku", "TEE-BLK-M"),
		STR("order.lines[1].title", "Organic Tee - Black / M"),
		INT("order.lines[1].quantity", 2),
		INT("order.lines[1].unit_price", 2450),
		INT("order.lines[1].total", 4410),  /* 2 x 24.50 - 4.90 WELCOME10 */
		STR("order.lines[2].external_id", "9007199254740995"),
		STR("order.lines[2].sku", "MUG-12OZ"),
		STR("order.lines[2].title", "Enamel Mug 12oz"),
		INT("order.lines[2].quantity", 1),
		INT("order.lines[2].unit_price", 1999),
		INT("order.lines[2].total", 1999),
		LEN("order.tags", 3),
		STR("order.tags[1]", "vip"),
		STR("order.tags[2]", "gift"),
		STR("order.tags[3]", "wholesale"),
		STR("order.placed_at", "2026-11-20T05:00:00-05:00"),
		STR("order.financial_status", "pending"),
		STR("order.note", "Please gift wrap the mug"),
		NONE("order.cancel_reason"),
		NONE("refund"),
	} },
	{ "shopify/orders_create.json", CH_SHOPIFY, "orders/updated", SB_HANDLED, "order_updated", {
		STR("order.external_id", "5912345678901234567"),
		INT("order.total", 7672),
	} },
	{ "shopify/orders_paid.json", CH_SHOPIFY, "orders/paid", SB_HANDLED, "order_paid", {
		STR("order.external_id", "5912345678901234567"),
		STR("order.financial_status", "paid"),
		INT("order.total", 7672),
		LEN("order.lines", 2),
	} },
	{ "shopify/orders_cancelled.json", CH_SHOPIFY, "orders/cancelled", SB_HANDLED, "order_cancelled", {
		STR("order.external_id", "5912345678901235001"),
		STR("order.number", "#1002"),
		STR("order.cancel_reason", "customer"),
		STR("order.financial_status", "voided"),
		INT("order.subtotal", 1999),
		INT("order.shipping", 750),
		INT("order.tax", 160),
		INT("order.discount", 0),
		INT("order.total", 2909),
		STR("order.lines[1].external_id", "9007199254741101"),
		NONE("order.email"),            /* "" in the payload */
		NONE("order.customer"),
		NONE("order.shipping_address"),
		NONE("order.tags"),             /* "" in the payload */
		NONE("order.note"),
	} },
	{ "shopify/refunds_create.json", CH_SHOPIFY, "refunds/create", SB_HANDLED, "refund_created", {
		STR("refund.external_id", "9012345678901234567"),
		STR("refund.order_external_id", "5912345678901234567"),
		INT("refund.amount", 2369),     /* the successful transaction only */
		STR("refund.currency", "USD"),
		STR("refund.reason", "Damaged in transit"),
		LEN("refund.lines", 1),
		STR("refund.lines[1].line_external_id", "9007199254740993"),
		STR("refund.lines[1].sku", "TEE-BLK-M"),
		INT("refund.lines[1].quantity", 1),
		INT("refund.lines[1].amount", 2205),  /* subtotal_set, not the float */
		NONE("order"),
	} },
	{ "shopify/orders_create_kwd.json", CH_SHOPIFY, "orders/create", SB_HANDLED, "order_created", {
		STR("order.external_id", "5912345678901236001"),
		STR("order.currency", "KWD"),
		INT("order.subtotal", 38250),   /* 3 decimals: fils */
		INT("order.shipping", 2500),
		INT("order.tax", 0),
		INT("order.discount", 1275),
		INT("order.total", 39475),
		STR("order.lines[1].external_id", "9007199254742001"),
		INT("order.lines[1].quantity", 3),
		INT("order.lines[1].unit_price", 12750),
		INT("order.lines[1].total", 36975),
		STR("order.shipping_address.country_code", "KW"),
		LEN("order.tags", 1),
		STR("order.tags[1]", "kuwait"),
	} },
	{ "shopify/orders_create_jpy.json", CH_SHOPIFY, "orders/create", SB_HANDLED, "order_created", {
		STR("order.external_id", "5912345678901237001"),
		STR("order.currency", "JPY"),
		INT("order.subtotal", 8280),    /* 0 decimals: yen */
		INT("order.shipping", 800),
		INT("order.tax", 825),          /* included in the prices */
		INT("order.discount", 0),
		INT("order.total", 9080),
		INT("order.lines[1].unit_price", 3500),
		INT("order.lines[1].total", 7000),
		INT("order.lines[2].unit_price", 1280),
		INT("order.lines[2].total", 1280),
		STR("order.tags[2]", "repeat"),
	} },
	{ "shopify/orders_create.json", CH_SHOPIFY, "products/update", SB_UNHANDLED, NULL, { { X_END, NULL, NULL, 0 } } },
	{ "shopify/orders_create.json", CH_SHOPIFY, "orders/fulfilled", SB_UNHANDLED, NULL, { { X_END, NULL, NULL, 0 } } },
	{ "shopify/bad_price.json", CH_SHOPIFY, "orders/create", SB_ERROR, NULL, {
		ERR("shopify orders/create: line_items[2].price"),
		ERR("\"19.9.9\" is not a decimal amount"),
	} },
	{ "shopify/bad_missing_id.json", CH_SHOPIFY, "orders/create", SB_ERROR, NULL, {
		ERR("shopify orders/create: id: is missing"),
	} },
	{ "shopify/bad_quantity_zero.json", CH_SHOPIFY, "orders/create", SB_ERROR, NULL, {
		ERR("line_items[1].quantity"),
		ERR("0 is not a positive whole number"),
	} },
	{ "shopify/bad_float_id.json", CH_SHOPIFY, "orders/create", SB_ERROR, NULL, {
		ERR("shopify orders/create: id: is the floating-point number"),
	} },
	{ "shopify/bad_refund_float_amount.json", CH_SHOPIFY, "refunds/create", SB_ERROR, NULL, {
		ERR("shopify refunds/create: transactions[2].amount"),
		ERR("money must be a decimal string"),
	} },

	/* ------------------------------------------------ WooCommerce */
	{ "woocommerce/order_created.json", CH_WOOCOMMERCE, "order.created", SB_HANDLED, "order_created", {
		STR("order.channel", "woocommerce"),
		STR("order.external_id", "727"),
		STR("order.number", "727"),
		STR("order.currency", "USD"),
		INT("order.subtotal", 7870),    /* sum of the lines' subtotals */
		INT("order.shipping", 1000),
		INT("order.tax", 655),
		INT("order.discount", 687),
		INT("order.total", 8838),
		STR("order.email", "grace@example.com"),
		STR("order.customer.external_id", "12"),
		STR("order.customer.email", "grace@example.com"),
		STR("order.customer.first_name", "Grace"),
		STR("order.customer.last_name", "Hopper"),
		STR("order.customer.phone", "+1 703 555 0100"),
		STR("order.shipping_address.name", "Grace Hopper"),
		STR("order.shipping_address.address1", "1 Compiler St"),
		STR("order.shipping_address.address2", "Suite 5"),
		STR("order.shipping_address.city", "Arlington"),
		STR("order.shipping_address.province", "VA"),
		STR("order.shipping_address.zip", "22201"),
		STR("order.shipping_address.country_code", "US"),
		NONE("order.shipping_address.phone"),  /* "" in the payload */
		LEN("order.lines", 3),
		STR("order.lines[1].external_id", "315"),
		STR("order.lines[1].sku", "HOOD-BLU-L"),
		STR("order.lines[1].title", "Hoodie - Blue, L"),
		INT("order.lines[1].quantity", 2),
		INT("order.lines[1].unit_price", 2935),  /* "58.70" / 2, not price 26.415 */
		INT("order.lines[1].total", 5283),
		INT("order.lines[2].quantity", 3),
		INT("order.lines[2].unit_price", 300),   /* 10.00 / 3 inexact: 9.00 / 3 */
		INT("order.lines[2].total", 900),
		INT("order.lines[3].unit_price", 333),   /* neither exact: floor of 10.00 / 3 */
		INT("order.lines[3].total", 1000),
		NONE("order.lines[3].sku"),              /* "" in the payload */
		STR("order.placed_at", "2026-11-20T10:00:00Z"),  /* date_created_gmt */
		STR("order.financial_status", "processing"),
		STR("order.note", "Leave at the side door"),
		NONE("order.tags"),
	} },
	{ "woocommerce/order_created.json", CH_WOOCOMMERCE, "order.updated", SB_HANDLED, "order_paid", {
		STR("order.external_id", "727"),
		INT("order.total", 8838),
	} },
	{ "woocommerce/order_pending.json", CH_WOOCOMMERCE, "order.updated", SB_HANDLED, "order_updated", {
		STR("order.external_id", "729"),
		STR("order.financial_status", "pending"),
	} },
	{ "woocommerce/order_cancelled.json", CH_WOOCOMMERCE, "order.updated", SB_HANDLED, "order_cancelled", {
		STR("order.external_id", "728"),
		STR("order.financial_status", "cancelled"),
		INT("order.subtotal", 2935),
		INT("order.shipping", 0),
		INT("order.tax", 235),
		INT("order.discount", 0),
		INT("order.total", 3170),
		NONE("order.customer.external_id"),  /* customer_id 0: a guest */
		STR("order.customer.email", "guest@example.org"),
		NONE("order.customer.phone"),
		NONE("order.shipping_address"),      /* every field "" */
		NONE("order.note"),
		STR("order.placed_at", "2026-11-21T14:00:00Z"),
		INT("order.lines[1].unit_price", 2935),
	} },
	{ "woocommerce/order_created_jpy.json", CH_WOOCOMMERCE, "order.created", SB_HANDLED, "order_created", {
		STR("order.external_id", "730"),
		STR("order.currency", "JPY"),
		INT("order.subtotal", 3900),
		INT("order.shipping", 800),
		INT("order.tax", 860),
		INT("order.total", 5560),
		INT("order.lines[1].unit_price", 1950),
		INT("order.lines[1].total", 3900),
	} },
	{ "woocommerce/order_created.json", CH_WOOCOMMERCE, "order.deleted", SB_UNHANDLED, NULL, { { X_END, NULL, NULL, 0 } } },
	{ "woocommerce/order_created.json", CH_WOOCOMMERCE, "product.created", SB_UNHANDLED, NULL, { { X_END, NULL, NULL, 0 } } },
	{ "woocommerce/bad_float_total.json", CH_WOOCOMMERCE, "order.created", SB_ERROR, NULL, {
		ERR("woocommerce order.created: total: is the number 88.38"),
	} },
	{ "woocommerce/bad_line_subtotal.json", CH_WOOCOMMERCE, "order.created", SB_ERROR, NULL, {
		ERR("line_items[1].subtotal: \"58,70\" is not a decimal amount"),
	} },

	/* ---------------------------------------------------- generic */
	{ "generic/order_created.json", CH_GENERIC, "order.created", SB_HANDLED, "order_created", {
		STR("order.channel", "generic"),
		STR("order.external_id", "A-10042"),
		STR("order.number", "10042"),
		STR("order.currency", "USD"),   /* the merchant's default */
		INT("order.subtotal", 4497),
		INT("order.shipping", 499),
		INT("order.tax", 301),
		INT("order.discount", 500),
		INT("order.total", 4797),
		STR("order.email", "kim@example.net"),
		STR("order.customer.external_id", "3301"),
		STR("order.customer.first_name", "Kim"),
		STR("order.shipping_address.zip", "NW1 6XE"),
		STR("order.shipping_address.country_code", "GB"),
		LEN("order.shipping_address", 5),
		STR("order.lines[1].external_id", "L1"),
		INT("order.lines[1].unit_price", 2499),
		INT("order.lines[1].total", 1999),
		NONE("order.lines[2].external_id"),
		STR("order.lines[2].sku", "BKMK-SET"),
		INT("order.lines[2].quantity", 2),
		INT("order.lines[2].unit_price", 999),
		INT("order.lines[2].total", 1998),  /* price x quantity */
		LEN("order.tags", 2),
		STR("order.tags[1]", "wholesale"),
		STR("order.tags[2]", "b2b"),
		STR("order.placed_at", "2026-11-20T10:00:00Z"),
		STR("order.note", "Invoice to accounts"),
		NONE("order.financial_status"),
	} },
	{ "generic/order_created.json", CH_GENERIC, "order.paid", SB_HANDLED, "order_paid", {
		STR("order.external_id", "A-10042"),
	} },
	{ "generic/order_created.json", CH_GENERIC, "order.cancelled", SB_HANDLED, "order_cancelled", {
		STR("order.external_id", "A-10042"),
	} },
	{ "generic/order_created.json", CH_GENERIC, "order.updated", SB_HANDLED, "order_updated", {
		STR("order.external_id", "A-10042"),
	} },
	{ "generic/order_created_kwd.json", CH_GENERIC, "order.created", SB_HANDLED, "order_created", {
		STR("order.external_id", "9223372036854775807"),  /* int64 max */
		STR("order.currency", "KWD"),
		INT("order.total", 1005),
		INT("order.subtotal", 0),
		INT("order.lines[1].unit_price", 1005),
		NONE("order.customer"),
		NONE("order.tags"),
	} },
	{ "generic/refund_created.json", CH_GENERIC, "refund.created", SB_HANDLED, "refund_created", {
		STR("refund.external_id", "R-77"),
		STR("refund.order_external_id", "A-10042"),
		INT("refund.amount", 999),
		STR("refund.currency", "USD"),
		STR("refund.reason", "Bookmark set arrived bent"),
		STR("refund.lines[1].sku", "BKMK-SET"),
		NONE("refund.lines[1].line_external_id"),
		INT("refund.lines[1].quantity", 1),
		INT("refund.lines[1].amount", 999),
	} },
	{ "generic/order_created.json", CH_GENERIC, "order.shipped", SB_UNHANDLED, NULL, { { X_END, NULL, NULL, 0 } } },
	{ "generic/bad_float_price.json", CH_GENERIC, "order.created", SB_ERROR, NULL, {
		ERR("generic order.created: lines[1].price: is the number 24.99"),
	} },
	{ "generic/bad_currency.json", CH_GENERIC, "order.created", SB_ERROR, NULL, {
		ERR("currency: \"usd\" is not an ISO 4217 currency code"),
	} },
	{ "generic/bad_quantity_fraction.json", CH_GENERIC, "order.created", SB_ERROR, NULL, {
		ERR("lines[2].quantity: 1.5 is not a positive whole number"),
	} },
};

/* ------------------------------------------------------------------ */
/* Running a case                                                      */
/* ------------------------------------------------------------------ */

static void check_expect(const char *name, const struct expect *x, const char *err)
{
	char got[1024], want[1024], val[256];
	const json_t *v = x->kind == X_ERR ? NULL : at(captured, x->path);

	describe(v, val, sizeof val);
	snprintf(got, sizeof got, "%s: %s = %s", name, x->path, val);
	switch (x->kind) {
	case X_STR:
		snprintf(want, sizeof want, "%s: %s = \"%s\"", name, x->path, x->text);
		break;
	case X_INT:
		snprintf(want, sizeof want, "%s: %s = %lld", name, x->path, x->num);
		break;
	case X_ABSENT:
		snprintf(want, sizeof want, "%s: %s = (absent)", name, x->path);
		break;
	case X_LEN:
		snprintf(want, sizeof want, "%s: %s has %lld", name, x->path, x->num);
		snprintf(got, sizeof got, "%s: %s has %zu", name, x->path,
		    json_is_array(v) ? json_array_size(v) : json_object_size(v));
		break;
	case X_ERR:
		CHECK_HAS(err, x->path);
		return;
	}
	CHECK_STR(got, want);
}

static void run_case(const struct adapter_case *c)
{
	char path[PATH_MAX], name[256];
	const char *topic = c->topic;
	struct sandbox_event ev = { 0 };
	struct sandbox *sb = box_for(c->channel);
	json_error_t jerr;
	json_t *payload;
	char *ev_name = NULL, *err = NULL;
	int status;

	snprintf(name, sizeof name, "%s as %s", c->fixture, topic);
	snprintf(path, sizeof path, "tests/fixtures/%s", c->fixture);
	payload = json_load_file(path, 0, &jerr);
	if (payload == NULL)
		fprintf(stderr, "%s: %s:%d: %s\n", name, path, jerr.line, jerr.text);
	CHECK(payload != NULL);
	if (sb == NULL || payload == NULL) {
		json_decref(payload);
		return;
	}

	json_decref(captured);
	captured = NULL;
	ev.id = 1;
	ev.source = "webhook";
	ev.channel = config_channel_name(c->channel);
	ev.topic = topic;
	ev.payload = payload;
	ev.attempt = 1;
	ev.received_at = INT64_C(1795154400000);
	status = sandbox_handle(sb, &ev, &ev_name, &err);

	if (status != c->status)
		fprintf(stderr, "%s: status %d (%s), expected %d\n", name, status,
		    err ? err : "no error", c->status);
	CHECK_INT(status, c->status);
	if (c->name != NULL)
		CHECK_STR(ev_name, c->name);
	if (c->status == SB_HANDLED) {
		CHECK(captured != NULL);
		if (captured != NULL) {
			CHECK_STR(json_string_value(json_object_get(captured, "name")), c->name);
			check_shape(name, captured);
		}
	} else {
		CHECK(captured == NULL);  /* no handler ran */
	}
	if (c->status == SB_ERROR)
		CHECK(err != NULL);
	for (const struct expect *x = c->expect; x->kind != X_END; x++)
		check_expect(name, x, err);

	free(ev_name);
	free(err);
	json_decref(payload);
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */
/* ------------------------------------------------------------------ */

static void test_fixtures(void)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		run_case(&cases[i]);
}

/* Every channel's adapter module loads and exposes translate. */
static void test_adapters_load(void)
{
	for (int ch = 0; ch < CH_COUNT; ch++)
		CHECK(box_for((enum channel_kind)ch) != NULL);
}

/* A payload that is not an object is an error naming the payload, not a
 * crash inside the adapter. */
static void test_payload_not_object(void)
{
	static const char *const topics[CH_COUNT] = {
		[CH_SHOPIFY] = "orders/create",
		[CH_WOOCOMMERCE] = "order.created",
		[CH_GENERIC] = "order.created",
		[CH_CARRIER] = "tracking.updated",
	};

	for (int ch = 0; ch < CH_COUNT; ch++) {
		struct sandbox *sb = box_for((enum channel_kind)ch);
		struct sandbox_event ev = { 0 };
		json_t *payload = json_string("webhook_id=12");
		char *ev_name = NULL, *err = NULL;

		if (sb == NULL || payload == NULL) {
			CHECK(0);
			json_decref(payload);
			continue;
		}
		ev.id = 2;
		ev.source = "webhook";
		ev.channel = config_channel_name((enum channel_kind)ch);
		ev.topic = topics[ch];
		ev.payload = payload;
		ev.attempt = 1;
		CHECK_INT(sandbox_handle(sb, &ev, &ev_name, &err), SB_ERROR);
		CHECK_HAS(err, "payload: is \"webhook_id=12\", not a JSON object");
		free(ev_name);
		free(err);
		json_decref(payload);
	}
}

/* Last: free the sandboxes and remove the temporary workflow. */
static void test_cleanup(void)
{
	free_boxes();
	json_decref(captured);
	captured = NULL;
	remove_files();
}

T_MAIN(test_adapters_load, test_fixtures, test_payload_not_object, test_cleanup)
