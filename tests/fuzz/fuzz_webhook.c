/*
 * fuzz_webhook — a storefront delivery from raw body to internal order:
 * webhook_parse() (signature, topic, JSON, keys), then sandbox_handle()
 * with source "webhook", which runs the real channel adapter from
 * scripts/channels/ and a small workflow that hands the adapter's order to
 * orders.create inside pcall, against an in-memory database.
 *
 * Input: "<channel> <topic>\n<body>". The channel is shopify, woocommerce
 * or generic (anything else is skipped); the topic goes into the topic
 * header as it is (so header validation is fuzzed too); the body is the
 * raw request body. The harness signs the body with the channel's secret
 * the way the storefront would, so the fuzzer gets past the signature to
 * JSON and the adapters; it also checks that a signature made with a
 * different secret is refused.
 *
 * What must hold: webhook_parse answers one of its results with its
 * outputs consistent (bounded NUL-terminated keys, the topic as sent, a
 * message on every refusal); a body it accepts is one the dispatcher can
 * load (json_loadb with JSON_DECODE_ANY, as dispatch.c reads the stored
 * payload) and is an object; sandbox_handle answers one of its statuses,
 * an error message exactly on SB_ERROR/SB_LIMIT, and never crashes, leaks
 * or trips a sanitizer; and when both the delivery's order key and the
 * adapter's order id exist they name the same order (the key is what keeps
 * one order's events in order, the adapter's id is which order it is). The database is rolled back after every input, as the
 * dispatcher rolls back a failed event, so inputs do not depend on each
 * other.
 *
 * ORDO_FUZZ_STRICT=1 also fails when orders.create refuses an order an
 * adapter produced (adapter and orders module disagree on the shape);
 * off by default because that is a finding to triage, not a crash.
 * ORDO_FUZZ_VERBOSE=1 prints what happened to each input.
 * ORDO_FUZZ_KNOWN="json-divergence order-key" skips (instead of crashing
 * on) inputs that break those two checks (see fuzz_known()).
 */
#include <limits.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <lauxlib.h>
#include <lualib.h>

#include "ordo/clock.h"
#include "ordo/config.h"
#include "ordo/crypto.h"
#include "ordo/db.h"
#include "ordo/jsonscan.h"
#include "ordo/l_orders.h"
#include "ordo/log.h"
#include "ordo/luajson.h"
#include "ordo/sandbox.h"
#include "ordo/webhook.h"
#include "fuzz_common.h"

#define SECRET       "fuzz-webhook-secret"
#define WRONG_SECRET "fuzz-webhook-secreT"
#define DELIVERY     "fuzz-delivery-1"

/* The workflow: every order event records the adapter's order; a paid
 * one is marked paid, a cancelled one canceled; a refund notes its order.
 * Errors of the orders module are caught (a real workflow may do the
 * same), so what reaches the harness as SB_ERROR is the adapter's or the
 * host's; probe.created reports what orders.create said. */
static const char workflow_text[] =
	"local flow = {}\n"
	"local function record(ev)\n"
	"  probe.order(ev.order.external_id)\n"
	"  local ok, order = pcall(orders.create, ev.order)\n"
	"  probe.created(ok, order)\n"
	"  if ok and ev.order.financial_status == 'paid' then pcall(orders.mark_paid, order) end\n"
	"  return ok and order\n"
	"end\n"
	"flow.order_created = record\n"
	"flow.order_updated = record\n"
	"flow.order_paid = record\n"
	"function flow.order_cancelled(ev)\n"
	"  local order = record(ev)\n"
	"  if order then pcall(orders.set_status, order, 'canceled', ev.order.cancel_reason) end\n"
	"end\n"
	"function flow.refund_created(ev)\n"
	"  local r = ev.refund\n"
	"  probe.order(r.order_external_id)\n"
	"  pcall(orders.note, { channel = ev.channel, external_id = r.order_external_id },\n"
	"    'refund ' .. tostring(r.external_id) .. ' of ' .. tostring(r.amount))\n"
	"end\n"
	"return flow\n";

static struct merchant_config merchant;
static char scripts_dir[PATH_MAX];
static struct db *db;
static struct sandbox *sb;
static lua_State *cmp;   /* same(a, b) at index 1: jsonscan's push against luajson's */
static int strict, verbose, known_json, known_key;
static char create_error[512];
static int create_failed;
static char order_id[256];
static int order_seen;

static int probe_created(lua_State *L)
{
	if (!lua_toboolean(L, 1)) {
		const char *msg = luaL_tolstring(L, 2, NULL);

		create_failed = 1;
		snprintf(create_error, sizeof create_error, "%s", msg);
	}
	return 0;
}

static int probe_order(lua_State *L)
{
	size_t n;
	const char *id = lua_tolstring(L, 1, &n);

	if (id != NULL && n < sizeof order_id && strlen(id) == n) {
		memcpy(order_id, id, n + 1);
		order_seen = 1;
	}
	return 0;
}

static int probe_open(lua_State *L)
{
	lua_newtable(L);
	lua_pushcfunction(L, probe_order);
	lua_setfield(L, -2, "order");
	lua_pushcfunction(L, probe_created);
	lua_setfield(L, -2, "created");
	return 1;
}

static const struct sandbox_module modules[] = {
	{ "orders", l_orders_open },
	{ "probe", probe_open },
	{ NULL, NULL },
};

struct headers {
	const char *names[4];
	const char *values[4];
};

static const char *header(void *ctx, const char *name)
{
	const struct headers *h = ctx;

	for (int i = 0; i < 4 && h->names[i]; i++)
		if (strcasecmp(h->names[i], name) == 0)
			return h->values[i];
	return NULL;
}

/* The headers a storefront would send for body, signed with secret. */
static void make_headers(enum channel_kind ch, const char *secret, const char *topic,
    const char *body, size_t len, struct headers *h, char *sig, size_t siglen)
{
	unsigned char mac[CRYPTO_SHA256_LEN];
	char hex[2 * CRYPTO_SHA256_LEN + 1];

	memset(h, 0, sizeof *h);
	crypto_hmac_sha256(secret, strlen(secret), body, len, mac);
	switch (ch) {
	case CH_SHOPIFY:
		crypto_base64_encode(mac, sizeof mac, sig);
		h->names[0] = "X-Shopify-Hmac-Sha256";
		h->names[1] = "X-Shopify-Topic";
		h->names[2] = "X-Shopify-Webhook-Id";
		break;
	case CH_WOOCOMMERCE:
		crypto_base64_encode(mac, sizeof mac, sig);
		h->names[0] = "X-WC-Webhook-Signature";
		h->names[1] = "X-WC-Webhook-Topic";
		h->names[2] = "X-WC-Webhook-Delivery-ID";
		break;
	default:
		crypto_hex(mac, sizeof mac, hex);
		snprintf(sig, siglen, "sha256=%s", hex);
		h->names[0] = "X-Ordo-Signature";
		h->names[1] = "X-Ordo-Event";
		h->names[2] = "X-Ordo-Delivery";
		break;
	}
	h->values[0] = sig;
	h->values[1] = topic;
	h->values[2] = DELIVERY;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static struct sandbox_env env;
	char path[PATH_MAX], *err = NULL;

	(void)argc;
	(void)argv;
	strict = fuzz_env_flag("ORDO_FUZZ_STRICT");
	verbose = fuzz_env_flag("ORDO_FUZZ_VERBOSE");
	known_json = fuzz_known("json-divergence");
	known_key = fuzz_known("order-key");
	fuzz_quiet_log(LOG_DEBUG);
	clock_set_virtual(INT64_C(1800000000000));

	fuzz_root_path(path, sizeof path, "scripts");
	if (realpath(path, scripts_dir) == NULL) {
		fprintf(stderr, "fuzz_webhook: no scripts folder at %s (set ORDO_ROOT)\n", path);
		abort();
	}
	snprintf(path, sizeof path, "%s/workflow.lua", fuzz_tmpdir());
	fuzz_write_file(path, workflow_text);

	merchant.id = (char *)"fuzz";
	merchant.name = (char *)"Fuzz Store";
	merchant.currency = (char *)"USD";
	merchant.timezone = (char *)"UTC";
	merchant.workflow = strdup(path);
	for (int ch = 0; ch < CH_COUNT; ch++)
		merchant.channel_secret[ch] = (char *)SECRET;
	merchant.instruction_limit = INT64_C(10000000);
	merchant.memory_limit = INT64_C(64) << 20;

	if ((db = db_open(":memory:", 1, &err)) == NULL) {
		fprintf(stderr, "fuzz_webhook: db_open: %s\n", err);
		abort();
	}
	env.merchant = &merchant;
	env.scripts_dir = scripts_dir;
	env.db = db;
	env.modules = modules;
	if ((sb = sandbox_new(&env, &err)) == NULL) {
		fprintf(stderr, "fuzz_webhook: sandbox_new: %s\n", err);
		abort();
	}
	cmp = luaL_newstate();
	luaL_openlibs(cmp);
	if (luaL_dostring(cmp,
	    "local function same(a, b)\n"
	    "  if type(a) ~= type(b) then return false end\n"
	    "  if type(a) == 'number' then return math.type(a) == math.type(b) and a == b end\n"
	    "  if type(a) ~= 'table' then return a == b end\n"
	    "  for k, v in pairs(a) do if not same(v, b[k]) then return false end end\n"
	    "  for k in pairs(b) do if a[k] == nil then return false end end\n"
	    "  return true\n"
	    "end\n"
	    "return same\n") != LUA_OK)
		abort();
	return 0;
}

/* luajson_push raises past LUAJSON_MAX_DEPTH; jsonscan_load is unsure there. */
static int json_depth_ok_at(const json_t *v, int depth)
{
	size_t i;
	const char *k;
	json_t *item;

	if (!json_is_object(v) && !json_is_array(v))
		return 1;
	if (depth >= LUAJSON_MAX_DEPTH)
		return 0;
	if (json_is_array(v)) {
		json_array_foreach(v, i, item)
			if (!json_depth_ok_at(item, depth + 1))
				return 0;
		return 1;
	}
	json_object_foreach((json_t *)v, k, item)
		if (!json_depth_ok_at(item, depth + 1))
			return 0;
	return 1;
}

static int json_depth_ok(const json_t *v)
{
	return json_depth_ok_at(v, 0);
}

static int bounded(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	char line[256], *topic, sig[128];
	struct webhook_delivery d;
	struct headers h;
	json_error_t jerr;
	json_t *payload;
	const char *body;
	size_t len;
	int ch, rc;

	if (nl == NULL || (size_t)(nl - data) >= sizeof line)
		return 0;
	memcpy(line, data, (size_t)(nl - data));
	line[nl - data] = '\0';
	if ((topic = strchr(line, ' ')) == NULL)
		return 0;
	*topic++ = '\0';
	if ((ch = config_channel_kind(line)) < 0)
		return 0;
	body = (const char *)nl + 1;
	len = size - (size_t)(nl + 1 - data);

	/* A signature made with another secret never gets through. */
	make_headers((enum channel_kind)ch, WRONG_SECRET, topic, body, len, &h, sig, sizeof sig);
	rc = webhook_parse((enum channel_kind)ch, SECRET, header, &h, body, len, &d);
	FUZZ_CHECK(rc == WH_BAD_SIGNATURE, "a wrong signature gave %d", rc);
	FUZZ_CHECK(d.error[0] != '\0', "refusal without a message");

	make_headers((enum channel_kind)ch, SECRET, topic, body, len, &h, sig, sizeof sig);
	rc = webhook_parse((enum channel_kind)ch, SECRET, header, &h, body, len, &d);
	FUZZ_CHECK(rc >= WH_OK && rc <= WH_BAD_JSON, "webhook_parse returned %d", rc);
	if (verbose)
		fprintf(stderr, "webhook_parse: %d %s\n", rc, rc == WH_OK ? d.dedup_key : d.error);
	if (rc != WH_OK) {
		FUZZ_CHECK(rc == WH_PING || (bounded(d.error, sizeof d.error) && d.error[0]),
		    "result %d without a message", rc);
		return 0;
	}
	payload = json_loadb(body, len, JSON_DECODE_ANY, &jerr);
	if (known_json && !json_is_object(payload)) {
		json_decref(payload);
		return 0;
	}
	FUZZ_CHECK(json_is_object(payload),
	    "webhook_parse accepted a body the dispatcher cannot load as an object: %s",
	    payload ? "not an object" : jerr.text);
	FUZZ_CHECK(bounded(d.topic, sizeof d.topic) && strcmp(d.topic, topic) == 0,
	    "topic \"%s\" is not the header's \"%s\"", d.topic, topic);
	FUZZ_CHECK(bounded(d.dedup_key, sizeof d.dedup_key) && d.dedup_key[0] != '\0',
	    "empty or unbounded dedup key");
	FUZZ_CHECK(bounded(d.order_key, sizeof d.order_key), "unbounded order key");

	/* The dispatcher's fast path must build what luajson builds from
	 * jansson's tree; the handler below then runs on it, as dispatch does. */
	const struct jsonscan_doc *doc = jsonscan_load(body, len, LUAJSON_MAX_DEPTH);

	if (doc != NULL) {
		FUZZ_CHECK(json_depth_ok(payload), "jsonscan_load took a body nested past %d levels",
		    LUAJSON_MAX_DEPTH);
		lua_settop(cmp, 1);
		lua_pushvalue(cmp, 1);
		jsonscan_push_lua(cmp, doc);
		luajson_push(cmp, payload);
		lua_call(cmp, 2, 1);
		FUZZ_CHECK(lua_toboolean(cmp, -1), "jsonscan_push_lua and luajson_push differ");
	}
	{
		struct sandbox_event ev = {
			.id = 1, .source = "webhook", .channel = config_channel_name((enum channel_kind)ch),
			.topic = d.topic, .payload = doc ? NULL : payload, .doc = doc, .attempt = 1,
			.received_at = clock_now_ms(),
		};
		char *name = NULL, *err = NULL;

		create_failed = 0;
		order_seen = 0;
		FUZZ_CHECK(db_begin(db) == 0, "BEGIN: %s", db_errmsg(db));
		rc = sandbox_handle(sb, &ev, &name, &err);
		db_rollback(db);
		if (verbose)
			fprintf(stderr, "sandbox_handle: %d %s %s%s%s\n", rc, name ? name : "-",
			    err ? err : "", create_failed ? " create: " : "",
			    create_failed ? create_error : "");
		FUZZ_CHECK(rc == SB_HANDLED || rc == SB_UNHANDLED || rc == SB_ERROR || rc == SB_LIMIT,
		    "sandbox_handle returned %d", rc);
		FUZZ_CHECK((rc < 0) == (err != NULL), "status %d with error %s", rc,
		    err ? err : "(none)");
		FUZZ_CHECK(rc != SB_HANDLED || name != NULL, "handled without an event name");
		FUZZ_CHECK(!strict || !create_failed || rc != SB_HANDLED,
		    "orders.create refused the adapter's order (%s): %s", name, create_error);
		FUZZ_CHECK(!db_in_transaction(db), "transaction left open");
		if (rc == SB_HANDLED && order_seen && d.order_key[0] != '\0') {
			char want[300];

			snprintf(want, sizeof want, "%s:%s", ev.channel, order_id);
			FUZZ_CHECK(known_key || strcmp(want, d.order_key) == 0,
			    "order key \"%s\" but the adapter's order is \"%s\"", d.order_key, want);
		}
		free(name);
		free(err);
	}
	json_decref(payload);
	return 0;
}
