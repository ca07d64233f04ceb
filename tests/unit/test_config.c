/*
 * test_config — the YAML config: values, defaults, ${ENV}, and every class of
 * error with its exact file:line:column.
 *
 * Works in a mkdtemp folder laid out like a checkout (conf/, flows/,
 * scripts/) because workflow paths must exist and relative paths resolve
 * against the config's folder. Also parses the shipped config/ordo.yaml and
 * config/example-full.yaml, so run it from the repository root (as make does).
 */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "t.h"
#include "ordo/config.h"

static char root[4096];     /* realpath of the mkdtemp folder */
static char conf[4200];     /* root/conf: where t.yaml "lives" */

static void put_file(const char *rel, const char *text)
{
	char path[4400];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", root, rel);
	f = fopen(path, "w");
	if (f == NULL) {
		perror(path);
		exit(1);
	}
	fputs(text, f);
	fclose(f);
}

static void put_dir(const char *rel)
{
	char path[4400];

	snprintf(path, sizeof path, "%s/%s", root, rel);
	if (mkdir(path, 0700) != 0) {
		perror(path);
		exit(1);
	}
}

static const char *const fixture_files[] = {
	"flows/standard.lua", "flows/other.lua", "conf/ordo.yaml",
	"tz/Good/Zone", "tz/NotAZone", NULL,
};
static const char *const fixture_dirs[] = {
	"flows/dir.lua", "flows", "scripts", "conf", "tz/Good", "tz/Folder", "tz",
	NULL,
};

static void cleanup(void)
{
	char path[4400];

	for (int i = 0; fixture_files[i]; i++) {
		snprintf(path, sizeof path, "%s/%s", root, fixture_files[i]);
		unlink(path);
	}
	for (int i = 0; fixture_dirs[i]; i++) {
		snprintf(path, sizeof path, "%s/%s", root, fixture_dirs[i]);
		rmdir(path);
	}
	rmdir(root);
}

static void fixture(void)
{
	char tmpl[] = "/tmp/ordo-test-config-XXXXXX";

	if (root[0] != '\0')
		return;
	if (mkdtemp(tmpl) == NULL || realpath(tmpl, root) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	atexit(cleanup);
	snprintf(conf, sizeof conf, "%s/conf", root);
	put_dir("conf");
	put_dir("flows");
	put_dir("flows/dir.lua");
	put_dir("scripts");
	put_dir("tz");
	put_dir("tz/Good");
	put_dir("tz/Folder");
	put_file("flows/standard.lua", "return {}\n");
	put_file("flows/other.lua", "return {}\n");
	put_file("tz/Good/Zone", "TZif2 not really, but the magic is right\n");
	put_file("tz/NotAZone", "# zone.tab lookalike\n");
}

/* `root`/rel, for expected absolute paths. */
static const char *at(const char *rel)
{
	static char buf[4][4400];
	static int next;
	char *b = buf[next++ % 4];

	snprintf(b, sizeof buf[0], "%s/%s", root, rel);
	return b;
}

static struct ordo_config *parse(const char *yaml, char **err)
{
	fixture();
	return config_parse("t.yaml", conf, yaml, strlen(yaml), err);
}

/* A minimal valid merchant: lines 1-4. Cases append from line 5. */
#define M0 \
	"merchants:\n" \
	"  - id: demo\n" \
	"    currency: USD\n" \
	"    workflow: ../flows/standard.lua\n"

/* ------------------------------------------------------------------------ */

static void test_full_config(void)
{
	static const char yaml[] =
	    "server:\n"
	    "  listen: \"[::1]:9090\"\n"
	    "  database: ../data/./x/../ordo.db\n"
	    "  durability: normal\n"
	    "  body_limit: 512KiB\n"
	    "  inbox_limit: 5000\n"
	    "  header_limit: 16KiB\n"
	    "  max_connections: 64\n"
	    "  read_timeout: 2500ms\n"
	    "  write_timeout: 1m\n"
	    "  scripts: ../scripts/\n"
	    "  retry:\n"
	    "    max_attempts: 5\n"
	    "    base_delay: 250ms\n"
	    "    max_delay: 5m\n"
	    "merchants:\n"
	    "  - id: acme\n"
	    "    name: ACME Outdoor\n"
	    "    currency: EUR\n"
	    "    timezone: America/New_York\n"
	    "    workflow: ../flows/../flows/standard.lua\n"
	    "    api_keys: [\"key-one-0123456789\", \"key-two-0123456789\"]\n"
	    "    channels:\n"
	    "      shopify: { secret: s-shop }\n"
	    "      generic:\n"
	    "        secret: s-gen\n"
	    "    limits:\n"
	    "      instructions: 5000\n"
	    "      memory: 2MiB\n"
	    "      webhooks_per_second: 25\n"
	    "  - id: kyoto_tea-2\n"
	    "    currency: JPY\n"
	    "    workflow: ../flows/other.lua\n";
	char *err = NULL;
	struct ordo_config *cfg = parse(yaml, &err);
	const struct merchant_config *m;

	CHECK(cfg != NULL);
	CHECK(err == NULL);
	if (cfg == NULL) {
		fprintf(stderr, "  error: %s\n", err);
		free(err);
		return;
	}
	CHECK_STR(cfg->path, "t.yaml");
	CHECK_STR(cfg->dir, conf);
	CHECK_STR(cfg->server.listen_host, "::1");
	CHECK_INT(cfg->server.listen_port, 9090);
	/* The folder does not exist: folded lexically, not refused. */
	CHECK_STR(cfg->server.database, at("data/ordo.db"));
	CHECK_INT(cfg->server.durability_full, 0);
	CHECK_INT(cfg->server.body_limit, 512 * 1024);
	CHECK_INT(cfg->server.inbox_limit, 5000);
	CHECK_INT(cfg->server.header_limit, 16 * 1024);
	CHECK_INT(cfg->server.max_connections, 64);
	CHECK_INT(cfg->server.read_timeout_ms, 2500);
	CHECK_INT(cfg->server.write_timeout_ms, 60 * 1000);
	CHECK_STR(cfg->server.scripts_dir, at("scripts"));
	CHECK_INT(cfg->server.max_attempts, 5);
	CHECK_INT(cfg->server.retry_base_ms, 250);
	CHECK_INT(cfg->server.retry_max_ms, 5 * 60 * 1000);

	CHECK_INT(cfg->n_merchants, 2);
	m = &cfg->merchants[0];
	CHECK_STR(m->id, "acme");
	CHECK_STR(m->name, "ACME Outdoor");
	CHECK_STR(m->currency, "EUR");
	CHECK_STR(m->timezone, "America/New_York");
	CHECK_STR(m->workflow, at("flows/standard.lua"));
	CHECK_INT(m->n_api_keys, 2);
	if (m->n_api_keys == 2) {
		CHECK_STR(m->api_keys[0], "key-one-0123456789");
		CHECK_STR(m->api_keys[1], "key-two-0123456789");
	}
	CHECK_STR(m->channel_secret[CH_SHOPIFY], "s-shop");
	CHECK(m->channel_secret[CH_WOOCOMMERCE] == NULL);
	CHECK_STR(m->channel_secret[CH_GENERIC], "s-gen");
	CHECK_INT(m->instruction_limit, 5000);
	CHECK_INT(m->memory_limit, 2 * 1024 * 1024);
	CHECK_INT(m->webhook_rate, 25);
	CHECK_INT(m->line, 17);

	m = &cfg->merchants[1];
	CHECK_STR(m->id, "kyoto_tea-2");
	CHECK_STR(m->name, "kyoto_tea-2");
	CHECK_STR(m->timezone, "UTC");
	CHECK_STR(m->workflow, at("flows/other.lua"));
	CHECK_INT(m->n_api_keys, 0);
	CHECK(m->channel_secret[CH_SHOPIFY] == NULL);
	CHECK_INT(m->instruction_limit, 10000000);
	CHECK_INT(m->memory_limit, 64 * 1024 * 1024);
	CHECK_INT(m->webhook_rate, 0);
	CHECK_INT(m->line, 31);

	CHECK(config_merchant(cfg, "acme") == &cfg->merchants[0]);
	CHECK(config_merchant(cfg, "kyoto_tea-2") == &cfg->merchants[1]);
	CHECK(config_merchant(cfg, "nobody") == NULL);
	config_free(cfg);
}

static void test_defaults(void)
{
	char *err = NULL;
	struct ordo_config *cfg = parse(M0, &err);

	CHECK(cfg != NULL);
	if (cfg == NULL) {
		fprintf(stderr, "  error: %s\n", err);
		free(err);
		return;
	}
	CHECK_STR(cfg->server.listen_host, "127.0.0.1");
	CHECK_INT(cfg->server.listen_port, 8080);
	CHECK_STR(cfg->server.database, at("var/ordo.db"));
	CHECK_INT(cfg->server.durability_full, 1);
	CHECK_INT(cfg->server.body_limit, 1024 * 1024);
	CHECK_INT(cfg->server.inbox_limit, 100000);
	CHECK_INT(cfg->server.header_limit, 64 * 1024);
	CHECK_INT(cfg->server.max_connections, 1024);
	CHECK_INT(cfg->server.read_timeout_ms, 10 * 1000);
	CHECK_INT(cfg->server.write_timeout_ms, 30 * 1000);
	CHECK_STR(cfg->server.scripts_dir, at("scripts"));
	CHECK_INT(cfg->server.max_attempts, 8);
	CHECK_INT(cfg->server.retry_base_ms, 1000);
	CHECK_INT(cfg->server.retry_max_ms, 3600 * 1000);
	CHECK_INT(cfg->n_merchants, 1);
	CHECK_STR(cfg->merchants[0].name, "demo");
	CHECK_STR(cfg->merchants[0].timezone, "UTC");
	CHECK_INT(cfg->merchants[0].n_api_keys, 0);
	for (int k = 0; k < CH_COUNT; k++)
		CHECK(cfg->merchants[0].channel_secret[k] == NULL);
	config_free(cfg);

	/* A database in the root folder keeps its single slash. */
	cfg = parse("server: {database: /ordo-test.db}\n" M0, &err);
	CHECK(cfg != NULL);
	if (cfg != NULL)
		CHECK_STR(cfg->server.database, "/ordo-test.db");
	config_free(cfg);

	/* Sections whose entries are all commented out are empty, not errors. */
	cfg = parse("server:\n  # listen: x\nmerchants:\n", &err);
	CHECK(cfg != NULL);
	if (cfg != NULL) {
		CHECK_INT(cfg->n_merchants, 0);
		CHECK_INT(cfg->server.listen_port, 8080);
	}
	config_free(cfg);
	free(err);
}

static void test_listen(void)
{
	static const struct { const char *text, *host; int port; } cases[] = {
		{ "127.0.0.1:8080", "127.0.0.1", 8080 },
		{ ":9000", "127.0.0.1", 9000 },
		{ "0.0.0.0:0", "0.0.0.0", 0 },
		{ "[::1]:8080", "::1", 8080 },
		{ "[::]:65535", "::", 65535 },
		{ "localhost:80", "localhost", 80 },
		{ "localhost", NULL, 0 },
		{ "127.0.0.1:65536", NULL, 0 },
		{ "127.0.0.1:", NULL, 0 },
		{ "127.0.0.1:-1", NULL, 0 },
		{ "127.0.0.1:80x", NULL, 0 },
		{ "::1:8080", NULL, 0 },
		{ "[::1:8080", NULL, 0 },
		{ "[nope]:8080", NULL, 0 },
		{ "[]:8080", NULL, 0 },
		{ "bad host:80", NULL, 0 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char yaml[512], *err = NULL;
		struct ordo_config *cfg;

		snprintf(yaml, sizeof yaml, "server:\n  listen: \"%s\"\n" M0, cases[i].text);
		cfg = parse(yaml, &err);
		if (cases[i].host != NULL) {
			CHECK(cfg != NULL);
			if (cfg == NULL)
				fprintf(stderr, "  listen \"%s\": %s\n", cases[i].text, err);
			else {
				CHECK_STR(cfg->server.listen_host, cases[i].host);
				CHECK_INT(cfg->server.listen_port, cases[i].port);
			}
		} else {
			CHECK(cfg == NULL);
			if (cfg != NULL)
				fprintf(stderr, "  listen \"%s\" was accepted\n", cases[i].text);
			CHECK_HAS(err, "t.yaml:2:11: server.listen: bad address");
		}
		config_free(cfg);
		free(err);
	}
}

static void test_env_expansion(void)
{
	static const char yaml[] =
	    "server:\n"
	    "  database: ${ORDO_T_DIR}/db.sqlite\n"
	    "merchants:\n"
	    "  - id: ${ORDO_T_ID}\n"
	    "    name: \"Price: $$5, $x and $ alone\"\n"
	    "    currency: USD\n"
	    "    workflow: ../flows/standard.lua\n"
	    "    api_keys: [\"${ORDO_T_KEY}\"]\n"
	    "    channels:\n"
	    "      shopify: { secret: \"pre-${ORDO_T_SECRET}-${ORDO_T_SECRET}\" }\n"
	    "      generic: { secret: \"${ORDO_T_EMPTY}x\" }\n"
	    "    limits: { instructions: \"${ORDO_T_INSTR}\" }\n";
	char *err = NULL;
	struct ordo_config *cfg;

	fixture();
	setenv("ORDO_T_DIR", root, 1);
	setenv("ORDO_T_ID", "env-shop", 1);
	setenv("ORDO_T_KEY", "env-key-0123456789abcdef", 1);
	setenv("ORDO_T_SECRET", "s3cr$t", 1);
	setenv("ORDO_T_EMPTY", "", 1);
	setenv("ORDO_T_INSTR", "123456", 1);
	cfg = parse(yaml, &err);
	CHECK(cfg != NULL);
	if (cfg != NULL) {
		const struct merchant_config *m = &cfg->merchants[0];

		CHECK_STR(cfg->server.database, at("db.sqlite"));
		CHECK_STR(m->id, "env-shop");
		CHECK_STR(m->name, "Price: $5, $x and $ alone");
		CHECK_STR(m->api_keys[0], "env-key-0123456789abcdef");
		/* An expanded value is not expanded again. */
		CHECK_STR(m->channel_secret[CH_SHOPIFY], "pre-s3cr$t-s3cr$t");
		CHECK_STR(m->channel_secret[CH_GENERIC], "x");
		CHECK_INT(m->instruction_limit, 123456);
	} else {
		fprintf(stderr, "  error: %s\n", err);
	}
	config_free(cfg);
	free(err);

	/* The missing variable is named, at its scalar's position. */
	err = NULL;
	cfg = parse(M0 "    channels:\n      shopify:\n        secret: \"${ORDO_T_MISSING}\"\n", &err);
	CHECK(cfg == NULL);
	CHECK_STR(err, "t.yaml:7:17: merchants[0].channels.shopify.secret: "
	    "environment variable ORDO_T_MISSING is not set");
	config_free(cfg);
	free(err);

	/* A secret that expands to nothing is still an empty secret. */
	err = NULL;
	cfg = parse(M0 "    channels: { generic: { secret: \"${ORDO_T_EMPTY}\" } }\n", &err);
	CHECK(cfg == NULL);
	CHECK_STR(err, "t.yaml:5:36: merchants[0].channels.generic.secret: must not be empty");
	config_free(cfg);
	free(err);

	unsetenv("ORDO_T_DIR");
	unsetenv("ORDO_T_ID");
	unsetenv("ORDO_T_KEY");
	unsetenv("ORDO_T_SECRET");
	unsetenv("ORDO_T_EMPTY");
	unsetenv("ORDO_T_INSTR");
}

/* Every error class, with the exact position it must point at. */
static void test_errors(void)
{
	static const struct {
		const char *yaml;
		int line, col;
		const char *msg;
	} cases[] = {
		/* the document */
		{ "", 1, 1, "the config is empty" },
		{ "# only a comment\n", 1, 1, "the config is empty" },
		{ "---\n", 2, 1, "expected a mapping with server and merchants at the "
		    "top level, got an empty value" },
		{ "- a\n- b\n", 1, 1, "at the top level, got a list" },
		{ "hello\n", 1, 1, "at the top level, got a string" },
		{ "server:\n  listen: [1, 2\nmerchants: []\n", 3, 10,
		    "YAML syntax error: did not find expected ',' or ']' "
		    "(while parsing a flow sequence at line 2, column 11)" },
		{ "server:\n\tlisten: x\n", 2, 1, "YAML syntax error: found character "
		    "that cannot start any token" },
		{ "a: 1\n---\nb: 2\n", 2, 1, "only one YAML document is allowed" },
		{ "a: &x [1, 2]\nb: *x\n", 2, 4, "aliases (*x) are not allowed" },
		{ "merchants: []\nfoo: 1\n", 2, 1, "unknown key \"foo\" in the config "
		    "(allowed: server, merchants)" },
		{ "server: {}\n", 1, 1, "missing required key \"merchants\" in the config" },
		{ "merchants: []\nmerchants: []\n", 2, 1,
		    "duplicate key \"merchants\" in the config" },
		{ "? [a]\n: 1\n", 1, 3, "the config: a key must be a string, not a list" },
		/* server */
		{ "server: [1]\n", 1, 9, "server: expected a mapping, got a list" },
		{ "server:\n  listn: x\n", 2, 3, "unknown key \"listn\" in server (allowed: "
		    "listen, database, durability, body_limit, scripts, retry, inbox_limit, "
		    "header_limit, max_connections, read_timeout, write_timeout, trusted_proxies)" },
		{ "server:\n  listen: \":1\"\n  listen: \":2\"\n", 3, 3,
		    "duplicate key \"listen\" in server" },
		{ "server:\n  listen: {a: 1}\n", 2, 11, "server.listen: expected a string, got a mapping" },
		{ "server:\n  listen:\n", 2, 10, "server.listen: expected a string, got an empty value" },
		{ "server:\n  listen: 8080\n", 2, 11, "server.listen: bad address \"8080\"" },
		{ "server:\n  durability: fast\n", 2, 15,
		    "server.durability: expected full or normal, got \"fast\"" },
		{ "server:\n  body_limit: 12XB\n", 2, 15, "server.body_limit: bad size \"12XB\"" },
		{ "server:\n  inbox_limit: 0\n", 2, 16, "server.inbox_limit: must be between 1 and 100000000, got 0" },
		{ "server:\n  body_limit: 2GiB\n", 2, 15,
		    "server.body_limit: must be between 1 byte and 1GiB, got \"2GiB\"" },
		{ "server:\n  header_limit: 512\n", 2, 17,
		    "server.header_limit: must be between 1KiB and 1MiB, got \"512\"" },
		{ "server:\n  header_limit: 2MiB\n", 2, 17,
		    "server.header_limit: must be between 1KiB and 1MiB, got \"2MiB\"" },
		{ "server:\n  max_connections: 0\n", 2, 20,
		    "server.max_connections: must be between 1 and 1000000, got 0" },
		{ "server:\n  max_connections: lots\n", 2, 20,
		    "server.max_connections: expected an integer, got \"lots\"" },
		{ "server:\n  read_timeout: 10\n", 2, 17,
		    "server.read_timeout: bad duration \"10\"" },
		{ "server:\n  read_timeout: 50ms\n", 2, 17,
		    "server.read_timeout: must be between 100ms and 1h, got \"50ms\"" },
		{ "server:\n  write_timeout: 2h\n", 2, 18,
		    "server.write_timeout: must be between 100ms and 1h, got \"2h\"" },
		{ "server:\n  write_timeout: [1s]\n", 2, 18,
		    "server.write_timeout: expected a string, got a list" },
		{ "server:\n  database: ../flows\n", 2, 13, "is a folder; name the database file" },
		{ "server:\n  scripts: ../nowhere\n", 2, 12,
		    "server.scripts: cannot open folder" },
		{ "server:\n  scripts: ../flows/standard.lua\n", 2, 12, "is not a folder" },
		{ "server:\n  retry: 3\n", 2, 10, "server.retry: expected a mapping, got a string" },
		{ "server:\n  retry:\n    attempts: 3\n", 3, 5, "unknown key \"attempts\" in "
		    "server.retry (allowed: max_attempts, base_delay, max_delay)" },
		{ "server:\n  retry:\n    max_attempts: lots\n", 3, 19,
		    "server.retry.max_attempts: expected an integer, got \"lots\"" },
		{ "server:\n  retry:\n    max_attempts: [1]\n", 3, 19,
		    "server.retry.max_attempts: expected an integer, got a list" },
		{ "server:\n  retry:\n    max_attempts: 0\n", 3, 19,
		    "server.retry.max_attempts: must be between 1 and 100, got 0" },
		{ "server:\n  retry:\n    max_attempts: 1.5\n", 3, 19, "expected an integer" },
		{ "server:\n  retry:\n    base_delay: 5\n", 3, 17,
		    "server.retry.base_delay: bad duration \"5\"" },
		{ "server:\n  retry:\n    base_delay: 2h\n    max_delay: 1h\n", 4, 16,
		    "server.retry: base_delay (7200000ms) is longer than max_delay (3600000ms)" },
		{ "server:\n  retry:\n    base_delay: 2h\n", 3, 17,
		    "base_delay (7200000ms) is longer than max_delay (3600000ms)" },
		/* merchants */
		{ "merchants: {id: x}\n", 1, 12, "merchants: expected a list, got a mapping" },
		{ "merchants:\n  - demo\n", 2, 5, "merchants[0]: expected a mapping, got a string" },
		{ M0 "    colour: red\n", 5, 5, "unknown key \"colour\" in merchants[0]" },
		{ M0 "    currency: EUR\n", 5, 5, "duplicate key \"currency\" in merchants[0]" },
		{ "merchants:\n  - currency: USD\n    workflow: ../flows/standard.lua\n",
		    2, 5, "merchants[0]: missing required key \"id\"" },
		{ "merchants:\n  - id: a\n    workflow: ../flows/standard.lua\n",
		    2, 5, "merchants[0]: missing required key \"currency\"" },
		{ "merchants:\n  - id: a\n    currency: USD\n", 2, 5,
		    "merchants[0]: missing required key \"workflow\"" },
		{ "merchants:\n  - {id: Demo!, currency: USD, workflow: ../flows/standard.lua}\n",
		    2, 10, "merchants[0].id: bad merchant id \"Demo!\"" },
		{ "merchants:\n  - id: demo\n    currency: XYZ\n    workflow: ../flows/standard.lua\n",
		    3, 15, "merchants[0].currency: unknown currency \"XYZ\"" },
		{ "merchants:\n  - id: demo\n    currency: usd\n    workflow: ../flows/standard.lua\n",
		    3, 15, "unknown currency \"usd\"" },
		{ M0 "    timezone: Mars/Olympus\n", 5, 15,
		    "merchants[0].timezone: unknown time zone \"Mars/Olympus\"" },
		{ M0 "    timezone: ../../../etc/passwd\n", 5, 15, "unknown time zone" },
		{ M0 "    timezone: /etc/localtime\n", 5, 15, "unknown time zone" },
		{ "merchants:\n  - id: demo\n    currency: USD\n    workflow: ../flows/missing.lua\n",
		    4, 15, "merchants[0].workflow: cannot open " },
		{ "merchants:\n  - id: demo\n    currency: USD\n    workflow: ../flows/dir.lua\n",
		    4, 15, "is not a file" },
		{ "merchants:\n  - id: demo\n    currency: USD\n    workflow: \"\"\n",
		    4, 15, "merchants[0].workflow: expected the path of a .lua file" },
		{ M0 "    api_keys: key-0123456789abcdef\n", 5, 15,
		    "merchants[0].api_keys: expected a list, got a string" },
		{ M0 "    api_keys:\n      - key-0123456789abcdef\n      - short\n", 7, 9,
		    "merchants[0].api_keys[1]: an API key needs at least 16 characters, "
		    "this one has 5" },
		{ M0 "    api_keys: [key-0123456789abcdef, key-0123456789abcdef]\n", 5, 38,
		    "merchants[0].api_keys[1]: this API key is already used by merchant \"demo\"" },
		{ M0 "    channels: [shopify]\n", 5, 15,
		    "merchants[0].channels: expected a mapping, got a list" },
		{ M0 "    channels:\n      shopfy: {secret: x}\n", 6, 7,
		    "unknown key \"shopfy\" in merchants[0].channels (allowed: shopify, "
		    "woocommerce, generic, carrier)" },
		{ M0 "    channels:\n      shopify: {secrets: x}\n", 6, 17,
		    "unknown key \"secrets\" in merchants[0].channels.shopify (allowed: secret)" },
		{ M0 "    channels:\n      shopify: {}\n", 6, 16,
		    "merchants[0].channels.shopify: missing required key \"secret\"" },
		{ M0 "    channels:\n      shopify:\n", 6, 15,
		    "merchants[0].channels.shopify: missing required key \"secret\"" },
		{ M0 "    channels:\n      shopify: secret\n", 6, 16,
		    "merchants[0].channels.shopify: expected a mapping, got a string" },
		{ M0 "    channels:\n      woocommerce: {secret: \"\"}\n", 6, 29,
		    "merchants[0].channels.woocommerce.secret: must not be empty" },
		{ M0 "    channels:\n      generic: {secret: }\n", 6, 25,
		    "merchants[0].channels.generic.secret: expected a string, got an empty value" },
		{ M0 "    limits: {instructions: 999}\n", 5, 28,
		    "merchants[0].limits.instructions: must be between 1000 and 10000000000, got 999" },
		{ M0 "    limits: {instructions: 10000000001}\n", 5, 28, "must be between" },
		{ M0 "    limits: {memory: 1KiB}\n", 5, 22,
		    "merchants[0].limits.memory: must be between 1MiB and 4GiB, got \"1KiB\"" },
		{ M0 "    limits: {memory: 5GiB}\n", 5, 22, "must be between 1MiB and 4GiB" },
		{ M0 "    limits: {cpu: 1}\n", 5, 14,
		    "unknown key \"cpu\" in merchants[0].limits (allowed: instructions, memory, webhooks_per_second)" },
		{ M0 "    name: \"a\\0b\"\n", 5, 11, "merchants[0].name: the value contains a NUL character" },
		{ M0 "    name: \"${1X}\"\n", 5, 11, "merchants[0].name: bad variable reference" },
		{ M0 "    name: \"${X\"\n", 5, 11, "bad variable reference" },
		{ M0 "    name: \"${}\"\n", 5, 11, "bad variable reference" },
		{ M0 "    name: \"a\xff\"\n", 5, 13, "invalid text: invalid leading UTF-8 octet" },
		/* effects: payments, notifications, webhooks, effects */
		{ M0 "    payments: stripe\n", 5, 15, "merchants[0].payments: expected a mapping, got a string" },
		{ M0 "    payments: {base_url: \"http://x\"}\n", 5, 15,
		    "merchants[0].payments: missing required key \"gateway\"" },
		{ M0 "    payments: {gateway: Stripe!}\n", 5, 25,
		    "merchants[0].payments.gateway: bad gateway name \"Stripe!\"" },
		{ M0 "    payments: {gateway: stripe}\n", 5, 15,
		    "merchants[0].payments: missing required key \"base_url\" (the stripe gateway's address)" },
		{ M0 "    payments: {gateway: stripe, base_url: \"ftp://x\"}\n", 5, 43,
		    "merchants[0].payments.base_url: expected an http:// or https:// URL, got \"ftp://x\"" },
		{ M0 "    payments: {gateway: manual, key: x}\n", 5, 33,
		    "unknown key \"key\" in merchants[0].payments (allowed: gateway, base_url, api_key)" },
		{ M0 "    notifications: {url: \"http://127.0.0.1:1/\"}\n", 5, 20,
		    "merchants[0].notifications: missing required key \"secret\"" },
		{ M0 "    notifications: {url: \"mail://x\", secret: s}\n", 5, 26,
		    "merchants[0].notifications.url: expected an http:// or https:// URL" },
		{ M0 "    notifications:\n      url: \"http://h/\"\n      secret: s\n"
		    "      templates:\n        hi: {subject: x}\n", 9, 13,
		    "merchants[0].notifications.templates.hi: missing required key \"body\"" },
		{ M0 "    notifications:\n      url: \"http://h/\"\n      secret: s\n"
		    "      templates:\n        hi: text\n", 9, 13,
		    "merchants[0].notifications.templates.hi: expected a mapping, got a string" },
		{ M0 "    notifications:\n      url: \"http://h/\"\n      secret: s\n"
		    "      templates:\n        Hi There: {body: x}\n", 9, 9, "bad template name" },
		{ M0 "    webhooks: {url: x}\n", 5, 15, "merchants[0].webhooks: expected a list, got a mapping" },
		{ M0 "    webhooks:\n      - {url: \"http://h/\", secret: s}\n", 6, 9,
		    "merchants[0].webhooks[0]: missing required key \"topics\"" },
		{ M0 "    webhooks:\n      - {url: \"http://h/\", secret: s, topics: []}\n", 6, 47,
		    "merchants[0].webhooks[0].topics: name at least one topic" },
		{ M0 "    webhooks:\n      - {url: \"http://h/\", secret: \"\", topics: [a]}\n", 6, 36,
		    "merchants[0].webhooks[0].secret: must not be empty" },
		{ M0 "    effects: {timeout: 1ms}\n", 5, 24,
		    "merchants[0].effects.timeout: must be between 10ms and 10m, got \"1ms\"" },
		{ M0 "    effects: {concurrency: 0}\n", 5, 28,
		    "merchants[0].effects.concurrency: must be between 1 and 256, got 0" },
		{ M0 "    effects: {base_delay: 2h, max_delay: 1h}\n", 5, 42,
		    "merchants[0].effects: base_delay (7200000ms) is longer than max_delay (3600000ms)" },
		{ M0 "    effects: {allow: [\"127.0.0.1:9000\"]}\n", 5, 23,
		    "merchants[0].effects.allow[0]: expected an http:// or https:// URL prefix" },
		{ M0 "    effects: {retries: 3}\n", 5, 15, "unknown key \"retries\" in merchants[0].effects" },
		{ M0 "    locations:\n      - {id: wh}\n      - {id: wh}\n", 7, 14,
		    "merchants[0].locations[1].id: duplicate location \"wh\"" },
		{ M0 "    locations:\n      - {id: wh, kind: depot}\n", 6, 24,
		    "merchants[0].locations[0].kind: expected warehouse, store or supplier" },
		{ M0 "    suppliers:\n      - {id: s1, url: \"http://h/\"}\n", 6, 9,
		    "merchants[0].suppliers[0]: missing required key \"secret\"" },
		{ M0 "    locations: [{id: wh}]\n    suppliers:\n      - {id: s1, url: \"http://h/\","
		    " secret: x, location: mars}\n", 7, 57,
		    "merchants[0].suppliers[0].location: no location \"mars\"" },
		/* digital */
		{ M0 "    digital:\n      products:\n        - {sku: EB}\n", 7, 11,
		    "merchants[0].digital.products[0]: give either file (a download) or license: true" },
		{ M0 "    digital:\n      products:\n        - {sku: EB, license: maybe}\n", 7, 30,
		    "merchants[0].digital.products[0].license: expected true or false" },
		{ M0 "    digital:\n      products:\n        - {sku: EB, file: a.pdf}\n", 7, 27,
		    "merchants[0].digital.products[0].file: a file needs digital.assets" },
		{ M0 "    digital:\n      products:\n        - {sku: EB, file: ../a.pdf}\n", 7, 27,
		    "file: \"../a.pdf\" must be a path inside digital.assets" },
		{ M0 "    digital:\n      products:\n        - {sku: EB, license: true}\n"
		    "        - {sku: EB, license: true}\n", 8, 17,
		    "merchants[0].digital.products[1].sku: duplicate digital product \"EB\"" },
		{ M0 "    digital: {download_limit: 0}\n", 5, 31,
		    "merchants[0].digital.download_limit: must be between 1 and 1000000" },
		{ M0 "    digital: {link_expiry: forever}\n", 5, 28,
		    "merchants[0].digital.link_expiry: bad duration \"forever\"" },
		{ M0 "    digital: {assets: /nonexistent/assets}\n", 5, 23,
		    "merchants[0].digital.assets: cannot open /nonexistent/assets" },
		{ M0 "    digital: {colour: red}\n", 5, 15,
		    "unknown key \"colour\" in merchants[0].digital" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *err = NULL, prefix[64];
		struct ordo_config *cfg = parse(cases[i].yaml, &err);

		snprintf(prefix, sizeof prefix, "t.yaml:%d:%d: ", cases[i].line, cases[i].col);
		CHECK(cfg == NULL);
		CHECK(err != NULL && strncmp(err, prefix, strlen(prefix)) == 0);
		CHECK_HAS(err, cases[i].msg);
		if (cfg != NULL || err == NULL || strncmp(err, prefix, strlen(prefix)) != 0 ||
		    strstr(err, cases[i].msg) == NULL)
			fprintf(stderr, "  case %zu: want %s...%s\n  got %s\n", i, prefix,
			    cases[i].msg, err ? err : "(accepted)");
		config_free(cfg);
		free(err);
	}
}

static void test_effect_sections(void)
{
	char *err = NULL;
	struct ordo_config *cfg = parse(M0
	    "    payments: {gateway: stripe, base_url: \"http://127.0.0.1:9/\", api_key: sk}\n"
	    "    notifications:\n"
	    "      url: \"http://127.0.0.1:9/n\"\n"
	    "      secret: ns\n"
	    "      templates:\n"
	    "        order_confirmation: {subject: \"S {{order.number}}\", body: B}\n"
	    "        shipped: {body: T}\n"
	    "    webhooks:\n"
	    "      - {url: \"https://erp.example/h\", secret: ws, topics: [order.paid, \"order.*\"]}\n"
	    "    effects: {timeout: 250ms, max_attempts: 3, base_delay: 10ms, max_delay: 1s,"
	    " concurrency: 2, allow: [\"http://127.0.0.1:9000/\"]}\n", &err);
	const struct merchant_config *m;

	CHECK(cfg != NULL);
	if (cfg == NULL) {
		fprintf(stderr, "  %s\n", err);
		free(err);
		return;
	}
	m = &cfg->merchants[0];
	CHECK_STR(m->pay_gateway, "stripe");
	CHECK_STR(m->pay_base_url, "http://127.0.0.1:9");   /* trailing '/' dropped */
	CHECK_STR(m->pay_api_key, "sk");
	CHECK_STR(m->notify_url, "http://127.0.0.1:9/n");
	CHECK_INT(m->n_templates, 2);
	CHECK_STR(m->templates[0].name, "order_confirmation");
	CHECK_STR(m->templates[0].subject, "S {{order.number}}");
	CHECK(m->templates[1].subject == NULL);
	CHECK_INT(m->n_webhooks, 1);
	CHECK_INT(m->webhooks[0].n_topics, 2);
	CHECK_STR(m->webhooks[0].topics[1], "order.*");
	CHECK_INT(m->effects.timeout_ms, 250);
	CHECK_INT(m->effects.max_attempts, 3);
	CHECK_INT(m->effects.concurrency, 2);
	CHECK_INT(m->effects.n_allow, 1);
	config_free(cfg);

	/* Defaults, and manual needs no URL. */
	cfg = parse(M0 "    payments: {gateway: manual}\n", &err);
	CHECK(cfg != NULL);
	if (cfg != NULL) {
		m = &cfg->merchants[0];
		CHECK_STR(m->pay_gateway, "manual");
		CHECK(m->pay_base_url == NULL);
		CHECK_INT(m->effects.timeout_ms, 10000);
		CHECK_INT(m->effects.max_attempts, 8);
		CHECK_INT(m->effects.concurrency, 4);
		CHECK(m->notify_url == NULL && m->n_webhooks == 0);
		CHECK_INT(m->digital.link_expiry_ms, INT64_C(7) * 86400000);
		CHECK_INT(m->digital.download_limit, 5);
		CHECK(m->digital.n_products == 0 && config_digital(m, "X") == NULL);
	}
	config_free(cfg);
	free(err);
}

static void test_duplicate_merchant(void)
{
	static const char yaml[] =
	    "merchants:\n"
	    "  - id: demo\n"
	    "    currency: USD\n"
	    "    workflow: ../flows/standard.lua\n"
	    "  - id: other\n"
	    "    currency: USD\n"
	    "    workflow: ../flows/standard.lua\n"
	    "  - currency: EUR\n"
	    "    id: demo\n"
	    "    workflow: ../flows/other.lua\n";
	char *err = NULL;
	struct ordo_config *cfg = parse(yaml, &err);

	CHECK(cfg == NULL);
	CHECK_STR(err, "t.yaml:9:9: merchants[2].id: duplicate merchant id \"demo\" "
	    "(first at line 2)");
	config_free(cfg);
	free(err);

	/* API keys are how the API finds the merchant: no sharing across them. */
	err = NULL;
	cfg = parse("merchants:\n"
	    "  - {id: a, currency: USD, workflow: ../flows/standard.lua,\n"
	    "     api_keys: [shared-key-0123456789]}\n"
	    "  - {id: b, currency: USD, workflow: ../flows/standard.lua,\n"
	    "     api_keys: [other-key-0123456789, shared-key-0123456789]}\n", &err);
	CHECK(cfg == NULL);
	CHECK_STR(err, "t.yaml:5:39: merchants[1].api_keys[1]: this API key is already "
	    "used by merchant \"a\"; every key must be unique");
	config_free(cfg);
	free(err);
}

/* Zones come from $TZDIR; a fake one makes the edge cases certain. */
static void test_timezone(void)
{
	static const struct { const char *zone; int ok; } cases[] = {
		{ "Good/Zone", 1 },
		{ "UTC", 1 },             /* known without a file */
		{ "NotAZone", 0 },        /* a regular file, but not TZif */
		{ "Folder", 0 },
		{ "Good", 0 },
		{ "Missing/Zone", 0 },
		{ "Good/../Good/Zone", 0 },
		{ "Good/Zone ", 0 },
		{ "Good/Zone\\n", 0 },
	};
	char tz[4400];

	fixture();
	snprintf(tz, sizeof tz, "%s/tz", root);
	setenv("TZDIR", tz, 1);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char yaml[512], *err = NULL;
		struct ordo_config *cfg;

		snprintf(yaml, sizeof yaml, M0 "    timezone: \"%s\"\n", cases[i].zone);
		cfg = parse(yaml, &err);
		CHECK_INT(cfg != NULL, cases[i].ok);
		if (!cases[i].ok)
			CHECK_HAS(err, "t.yaml:5:15: merchants[0].timezone: unknown time zone");
		else if (cfg != NULL)
			CHECK_STR(cfg->merchants[0].timezone, cases[i].zone);
		if ((cfg != NULL) != cases[i].ok)
			fprintf(stderr, "  zone \"%s\": %s\n", cases[i].zone, err ? err : "accepted");
		config_free(cfg);
		free(err);
	}
	unsetenv("TZDIR");
}

/* Aliases are refused wherever they are, so no expansion can blow up. */
static void test_alias_bomb(void)
{
	static const char yaml[] =
	    "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
	    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
	    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
	    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
	    "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
	    "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
	    "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
	    "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
	    "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n"
	    "merchants: *i\n";
	char deep[256], *err = NULL;
	struct ordo_config *cfg = parse(yaml, &err);

	CHECK(cfg == NULL);
	CHECK_STR(err, "t.yaml:2:8: aliases (*a) are not allowed in the config; "
	    "write the value out");
	config_free(cfg);
	free(err);

	/* A merge key is an alias too. */
	err = NULL;
	cfg = parse("base: &m {currency: USD}\nmerchants:\n  - <<: *m\n", &err);
	CHECK(cfg == NULL);
	CHECK_HAS(err, "t.yaml:3:9: aliases (*m) are not allowed");
	config_free(cfg);
	free(err);

	/* Nesting is bounded too. */
	memset(deep, '[', 100);
	memset(deep + 100, ']', 100);
	deep[200] = '\0';
	err = NULL;
	cfg = parse(deep, &err);
	CHECK(cfg == NULL);
	CHECK_HAS(err, "t.yaml:1:33: nested deeper than 32 levels");
	config_free(cfg);
	free(err);
}

/* Every prefix of a valid config either parses or fails with a message, and
 * (under the sanitizers and valgrind) leaks nothing on any error path. */
static void test_truncations(void)
{
	static const char yaml[] =
	    "server:\n  listen: \"127.0.0.1:8080\"\n  retry: {max_attempts: 3, base_delay: 1s}\n"
	    "merchants:\n"
	    "  - id: demo\n    currency: USD\n    workflow: ../flows/standard.lua\n"
	    "    api_keys: [\"abcdefghijklmnop\"]\n"
	    "    channels: {shopify: {secret: x}, generic: {secret: \"$${y}\"}}\n"
	    "    limits: {instructions: 2000, memory: 1MiB}\n";
	size_t len = strlen(yaml), ok = 0, bad = 0;

	fixture();
	for (size_t n = 0; n <= len; n++) {
		char *err = NULL;
		struct ordo_config *cfg = config_parse("t.yaml", conf, yaml, n, &err);

		CHECK((cfg == NULL) != (err == NULL));
		if (cfg != NULL)
			ok++;
		else if (err != NULL && strncmp(err, "t.yaml:", 7) == 0)
			bad++;
		config_free(cfg);
		free(err);
	}
	CHECK_INT(ok + bad, len + 1);
	CHECK(ok > 0);
	CHECK(bad > 0);
}

static void test_load(void)
{
	char path[4400], *err = NULL;
	struct ordo_config *cfg;

	fixture();
	put_file("conf/ordo.yaml", M0 "    api_keys: [\"0123456789abcdef\"]\n");
	snprintf(path, sizeof path, "%s/conf/ordo.yaml", root);
	cfg = config_load(path, &err);
	CHECK(cfg != NULL);
	if (cfg != NULL) {
		CHECK_STR(cfg->path, path);
		CHECK_STR(cfg->dir, conf);
		CHECK_STR(cfg->merchants[0].workflow, at("flows/standard.lua"));
	}
	config_free(cfg);
	free(err);

	/* Errors name the file as it was given. */
	put_file("conf/ordo.yaml", M0 "    currency: EUR\n");
	err = NULL;
	cfg = config_load(path, &err);
	CHECK(cfg == NULL);
	CHECK(err != NULL && strncmp(err, path, strlen(path)) == 0);
	CHECK_HAS(err, ":5:5: duplicate key \"currency\" in merchants[0]");
	free(err);

	err = NULL;
	snprintf(path, sizeof path, "%s/conf/absent.yaml", root);
	cfg = config_load(path, &err);
	CHECK(cfg == NULL);
	CHECK_HAS(err, "absent.yaml: cannot open: No such file or directory");
	free(err);
}

/* The files we ship must stay valid. */
static void test_shipped_configs(void)
{
	static const char *const vars[] = {
		"ACME_API_KEY", "ACME_API_KEY_NEXT", "ACME_SHOPIFY_SECRET",
		"ACME_WC_SECRET", "ACME_GENERIC_SECRET", "KYOTO_API_KEY",
		"KYOTO_WC_SECRET", "ACME_STRIPE_KEY", "ACME_NOTIFY_SECRET",
		"ACME_ERP_HOOK_SECRET", "ACME_CARRIER_SECRET", "PIXEL_API_KEY",
		"PIXEL_SHOPIFY_SECRET", NULL,
	};
	char *err = NULL, val[64];
	struct ordo_config *cfg = config_load("config/ordo.yaml", &err);

	CHECK(cfg != NULL);
	if (cfg != NULL) {
		const struct merchant_config *m = config_merchant(cfg, "demo");

		CHECK(m != NULL);
		CHECK_INT(cfg->server.listen_port, 8080);
		CHECK(cfg->server.database[0] == '/');
		if (m != NULL) {
			CHECK_STR(m->name, "Demo Store");
			CHECK_STR(m->timezone, "America/New_York");
			CHECK_INT(m->n_api_keys, 1);
			for (int k = 0; k < CH_COUNT; k++)
				CHECK(m->channel_secret[k] != NULL);
		}
	} else {
		fprintf(stderr, "  config/ordo.yaml: %s\n", err);
	}
	config_free(cfg);
	free(err);

	/* Without its variables the example must say which one is missing. */
	for (int i = 0; vars[i]; i++)
		unsetenv(vars[i]);
	err = NULL;
	cfg = config_load("config/example-full.yaml", &err);
	CHECK(cfg == NULL);
	CHECK_HAS(err, "environment variable ACME_API_KEY is not set");
	free(err);

	for (int i = 0; vars[i]; i++) {
		snprintf(val, sizeof val, "%s-value-0123456789", vars[i]);
		setenv(vars[i], val, 1);
	}
	err = NULL;
	cfg = config_load("config/example-full.yaml", &err);
	CHECK(cfg != NULL);
	if (cfg != NULL) {
		CHECK_INT(cfg->n_merchants, 3);
		CHECK_STR(cfg->merchants[0].channel_secret[CH_SHOPIFY],
		    "ACME_SHOPIFY_SECRET-value-0123456789");
		CHECK_STR(cfg->merchants[1].currency, "JPY");
		CHECK_INT(cfg->merchants[1].memory_limit, 32 * 1024 * 1024);
		CHECK_STR(cfg->merchants[0].pay_gateway, "stripe");
		CHECK_STR(cfg->merchants[0].pay_api_key, "ACME_STRIPE_KEY-value-0123456789");
		CHECK_INT(cfg->merchants[0].n_templates, 1);
		CHECK_INT(cfg->merchants[0].n_webhooks, 1);
		CHECK_INT(cfg->merchants[2].digital.n_products, 2);
		CHECK_INT(cfg->merchants[2].digital.link_expiry_ms, INT64_C(7) * 86400000);
		CHECK(config_digital(&cfg->merchants[2], "APP-LICENSE") != NULL &&
		    config_digital(&cfg->merchants[2], "APP-LICENSE")->license);
		CHECK(cfg->merchants[2].digital.assets != NULL &&
		    strstr(cfg->merchants[2].digital.assets, "/config/assets") != NULL);
	} else {
		fprintf(stderr, "  config/example-full.yaml: %s\n", err);
	}
	config_free(cfg);
	free(err);
	for (int i = 0; vars[i]; i++)
		unsetenv(vars[i]);
}

static void test_parse_size(void)
{
	static const struct { const char *text; int rc; int64_t want; } cases[] = {
		{ "0", 0, 0 },
		{ "1048576", 0, 1048576 },
		{ "512B", 0, 512 },
		{ "512KiB", 0, 512 * 1024 },
		{ "1MiB", 0, 1048576 },
		{ "64 MiB", 0, 64 * 1048576 },
		{ "4GiB", 0, INT64_C(4) << 30 },
		{ "2TiB", 0, INT64_C(2) << 40 },
		{ "1KB", 0, 1000 },
		{ "1kB", 0, 1000 },
		{ "1MB", 0, 1000000 },
		{ "3GB", 0, INT64_C(3000000000) },
		{ "9223372036854775807", 0, INT64_MAX },
		{ "", -1, 0 },
		{ "MiB", -1, 0 },
		{ "-1", -1, 0 },
		{ "+1", -1, 0 },
		{ " 1", -1, 0 },
		{ "1 ", -1, 0 },
		{ "1.5MiB", -1, 0 },
		{ "1mib", -1, 0 },
		{ "1XB", -1, 0 },
		{ "1MiBs", -1, 0 },
		{ "9223372036854775808", -1, 0 },
		{ "9007199254740992KiB", -1, 0 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int64_t got = -42;
		int rc = config_parse_size(cases[i].text, &got);

		CHECK_INT(rc, cases[i].rc);
		if (cases[i].rc == 0)
			CHECK_INT(got, cases[i].want);
		else
			CHECK_INT(got, -42);  /* untouched on error */
		if (rc != cases[i].rc)
			fprintf(stderr, "  size \"%s\"\n", cases[i].text);
	}
	CHECK_INT(config_parse_size(NULL, &(int64_t){ 0 }), -1);
}

static void test_parse_duration(void)
{
	static const struct { const char *text; int rc; int64_t want; } cases[] = {
		{ "0s", 0, 0 },
		{ "250ms", 0, 250 },
		{ "2s", 0, 2000 },
		{ "5m", 0, 300000 },
		{ "1h", 0, 3600000 },
		{ "7d", 0, 7 * 86400000LL },
		{ "1h30m", 0, 5400000 },
		{ "1m500ms", 0, 60500 },
		{ "", -1, 0 },
		{ "5", -1, 0 },
		{ "ms", -1, 0 },
		{ "5 s", -1, 0 },
		{ "-5s", -1, 0 },
		{ "1.5s", -1, 0 },
		{ "5sec", -1, 0 },
		{ "5min", -1, 0 },
		{ "5w", -1, 0 },
		{ "1h30", -1, 0 },
		{ "5S", -1, 0 },
		{ "106751991167d", 0, 106751991167LL * 86400000 },
		{ "106751991168d", -1, 0 },
		{ "9223372036854775807ms", 0, INT64_MAX },
		{ "9223372036854775807ms1ms", -1, 0 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int64_t got = -42;
		int rc = config_parse_duration(cases[i].text, &got);

		CHECK_INT(rc, cases[i].rc);
		if (cases[i].rc == 0)
			CHECK_INT(got, cases[i].want);
		else
			CHECK_INT(got, -42);
		if (rc != cases[i].rc)
			fprintf(stderr, "  duration \"%s\"\n", cases[i].text);
	}
	CHECK_INT(config_parse_duration(NULL, &(int64_t){ 0 }), -1);
}

static void test_channel_names(void)
{
	CHECK_INT(config_channel_kind("shopify"), CH_SHOPIFY);
	CHECK_INT(config_channel_kind("woocommerce"), CH_WOOCOMMERCE);
	CHECK_INT(config_channel_kind("generic"), CH_GENERIC);
	CHECK_INT(config_channel_kind("Shopify"), -1);
	CHECK_INT(config_channel_kind(""), -1);
	CHECK_INT(config_channel_kind(NULL), -1);
	for (int k = 0; k < CH_COUNT; k++)
		CHECK_INT(config_channel_kind(config_channel_name((enum channel_kind)k)), k);
	CHECK(config_channel_name(CH_COUNT) == NULL);
}

T_MAIN(test_effect_sections, test_full_config, test_defaults, test_listen, test_env_expansion,
    test_errors, test_duplicate_merchant, test_timezone, test_alias_bomb,
    test_truncations, test_load, test_shipped_configs, test_parse_size,
    test_parse_duration, test_channel_names)
