/*
 * fuzz_config — config_parse() on arbitrary bytes.
 *
 * The config's folder is a scratch layout made once per process, shaped
 * like the repository so the shipped configs (the seeds) load for real:
 *
 *   <tmp>/config/            the folder relative paths resolve against
 *   <tmp>/config/w.lua       a workflow next to the config
 *   <tmp>/workflows/standard.lua
 *   <tmp>/scripts/  <tmp>/var/
 *
 * and the environment variables example-full.yaml names are set, so
 * ${...} expansion succeeds for them and fails for anything else.
 *
 * What must hold for every input: exactly one of a config or an error
 * comes back; an error is "name:line:column: message" with 1-based
 * positions inside the text (a line past the last line break at most) and no
 * control bytes (a hostile file must not forge log lines); a config obeys
 * what config.h promises (ids, currencies, paths, ranges, unique ids and
 * API keys) and frees cleanly. Leaks are LeakSanitizer's to find.
 *
 * ORDO_FUZZ_KNOWN="control-bytes" skips the control-byte check (see
 * fuzz_known()).
 */
#include <ctype.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "ordo/config.h"
#include "ordo/money.h"
#include "fuzz_common.h"

#define NAME "fuzz.yaml"

static char config_dir[PATH_MAX];

static const char *const env[][2] = {
	{ "ACME_API_KEY", "acme-api-key-0123456789abcdef" },
	{ "ACME_API_KEY_NEXT", "acme-api-key-next-0123456789" },
	{ "ACME_SHOPIFY_SECRET", "acme-shopify-secret" },
	{ "ACME_WC_SECRET", "acme-wc-secret" },
	{ "ACME_GENERIC_SECRET", "acme-generic-secret" },
	{ "KYOTO_API_KEY", "kyoto-api-key-0123456789abcdef" },
	{ "KYOTO_WC_SECRET", "kyoto-wc-secret" },
	{ "ORDO_FUZZ", "fuzz" },
	{ "ORDO_FUZZ_EMPTY", "" },
};

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = fuzz_tmpdir();
	char path[PATH_MAX];

	(void)argc;
	(void)argv;
	snprintf(path, sizeof path, "%s/config/w.lua", tmp);
	fuzz_write_file(path, "return {}\n");
	snprintf(path, sizeof path, "%s/workflows/standard.lua", tmp);
	fuzz_write_file(path, "return {}\n");
	snprintf(path, sizeof path, "%s/scripts/channels/.keep", tmp);
	fuzz_write_file(path, "");
	snprintf(path, sizeof path, "%s/var/.keep", tmp);
	fuzz_write_file(path, "");
	snprintf(config_dir, sizeof config_dir, "%s/config", tmp);
	for (size_t i = 0; i < sizeof env / sizeof env[0]; i++)
		setenv(env[i][0], env[i][1], 1);
	return 0;
}

static int is_abs_path(const char *p)
{
	return p != NULL && p[0] == '/';
}

static int id_ok(const char *id)
{
	size_t n = id ? strlen(id) : 0;

	if (n < 1 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= '0' && id[i] <= '9') ||
		    id[i] == '_' || id[i] == '-'))
			return 0;
	return 1;
}

static void check_error(const char *err, const uint8_t *data, size_t size)
{
	size_t nl = 0, line, col, n = strlen(NAME);
	char *end;

	/* Every byte libyaml may count as a line break: LF, CR not before LF,
	 * and the bytes of NEL (U+0085) and LS/PS (U+2028/2029); an upper
	 * bound whatever the encoding. */
	for (size_t i = 0; i < size; i++)
		nl += data[i] == '\n' || (data[i] == '\r' && (i + 1 == size || data[i + 1] != '\n')) ||
		    data[i] == 0x85 || data[i] == 0xa8 || data[i] == 0xa9;
	FUZZ_CHECK(strncmp(err, NAME ":", n + 1) == 0, "error without the file name: %s", err);
	line = strtoul(err + n + 1, &end, 10);
	FUZZ_CHECK(end > err + n + 1 && *end == ':', "error without a line: %s", err);
	col = strtoul(end + 1, &end, 10);
	FUZZ_CHECK(*end == ':' && end[1] == ' ' && end[2] != '\0',
	    "error without a column or message: %s", err);
	FUZZ_CHECK(line >= 1 && line <= nl + 2, "error line %zu in a text of %zu lines: %s",
	    line, nl + 1, err);
	FUZZ_CHECK(col >= 1, "error column 0: %s", err);
	for (const char *p = err; *p && !fuzz_known("control-bytes"); p++)
		FUZZ_CHECK((unsigned char)*p >= 0x20 && *p != 0x7f,
		    "control byte 0x%02x in the error: %s", (unsigned char)*p, err);
}

static void check_config(const struct ordo_config *cfg)
{
	const struct server_config *s = &cfg->server;
	struct stat st;

	FUZZ_CHECK(cfg->path && strcmp(cfg->path, NAME) == 0, "path %s", cfg->path);
	FUZZ_CHECK(is_abs_path(cfg->dir), "dir %s", cfg->dir);
	FUZZ_CHECK(s->listen_host && s->listen_host[0], "empty listen host");
	FUZZ_CHECK(s->listen_port >= 0 && s->listen_port <= 65535, "port %d", s->listen_port);
	FUZZ_CHECK(is_abs_path(s->database), "database %s", s->database);
	FUZZ_CHECK(is_abs_path(s->scripts_dir), "scripts %s", s->scripts_dir);
	FUZZ_CHECK(s->body_limit >= 1 && s->body_limit <= (INT64_C(1) << 30),
	    "body_limit %lld", (long long)s->body_limit);
	FUZZ_CHECK(s->max_attempts >= 1, "max_attempts %d", s->max_attempts);
	FUZZ_CHECK(s->inbox_limit >= 1, "inbox_limit %lld", (long long)s->inbox_limit);
	FUZZ_CHECK(s->retry_base_ms >= 0 && s->retry_base_ms <= s->retry_max_ms,
	    "retry %lld..%lld", (long long)s->retry_base_ms, (long long)s->retry_max_ms);
	FUZZ_CHECK(cfg->n_merchants == 0 || cfg->merchants != NULL, "merchants NULL");

	for (size_t i = 0; i < cfg->n_merchants; i++) {
		const struct merchant_config *m = &cfg->merchants[i];

		FUZZ_CHECK(id_ok(m->id), "merchant id \"%s\"", m->id ? m->id : "(null)");
		FUZZ_CHECK(config_merchant(cfg, m->id) == m, "config_merchant(%s) is not merchant %zu",
		    m->id, i);
		FUZZ_CHECK(m->name != NULL, "merchant %s without a name", m->id);
		FUZZ_CHECK(money_exponent(m->currency) >= 0, "merchant %s currency \"%s\"",
		    m->id, m->currency ? m->currency : "(null)");
		FUZZ_CHECK(m->timezone && m->timezone[0], "merchant %s timezone", m->id);
		FUZZ_CHECK(is_abs_path(m->workflow) && stat(m->workflow, &st) == 0 &&
		    S_ISREG(st.st_mode), "merchant %s workflow %s", m->id, m->workflow);
		FUZZ_CHECK(m->n_api_keys == 0 || m->api_keys != NULL, "api_keys NULL");
		FUZZ_CHECK(m->webhook_rate >= 0, "merchant %s webhook rate %lld", m->id,
		    (long long)m->webhook_rate);
		FUZZ_CHECK(m->instruction_limit > 0 && m->memory_limit > 0,
		    "merchant %s limits %lld %lld", m->id, (long long)m->instruction_limit,
		    (long long)m->memory_limit);
		for (size_t k = 0; k < m->n_api_keys; k++) {
			FUZZ_CHECK(m->api_keys[k] && strlen(m->api_keys[k]) >= 16,
			    "merchant %s key %zu is short", m->id, k);
			for (size_t j = 0; j <= i; j++) {
				const struct merchant_config *o = &cfg->merchants[j];

				for (size_t q = 0; q < o->n_api_keys && (j < i || q < k); q++)
					FUZZ_CHECK(strcmp(o->api_keys[q], m->api_keys[k]) != 0,
					    "API key shared by %s and %s", o->id, m->id);
			}
		}
		for (int ch = 0; ch < CH_COUNT; ch++)
			FUZZ_CHECK(config_channel_kind(config_channel_name((enum channel_kind)ch)) == ch,
			    "channel names");
		for (size_t j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(cfg->merchants[j].id, m->id) != 0, "duplicate id %s", m->id);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char unset;
	struct ordo_config *cfg;
	char *err = &unset;

	cfg = config_parse(NAME, config_dir, (const char *)data, size, &err);
	if (fuzz_env_flag("ORDO_FUZZ_VERBOSE"))
		fprintf(stderr, "config: %s\n", cfg ? "loaded" : err ? err : "(no error)");
	if (cfg == NULL) {
		FUZZ_CHECK(err != NULL && err != &unset, "no config and no error");
		check_error(err, data, size);
		free(err);
		return 0;
	}
	FUZZ_CHECK(err == NULL, "a config and an error: %s", err);
	check_config(cfg);
	config_free(cfg);
	return 0;
}
