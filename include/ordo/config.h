/*
 * config — the YAML configuration (libyaml), validated into plain structs.
 *
 * One file: `server` and `merchants[]`. `${ENV_VAR}` expands inside any
 * scalar; a missing variable is an error naming it ("$$" is a literal "$").
 * Every error names file:line:column (1-based, from libyaml's marks) and
 * what was wrong. Relative paths in the file resolve against the folder the
 * file is in. Nothing here touches the database or Lua.
 */
#ifndef ORDO_CONFIG_H
#define ORDO_CONFIG_H

#include <stddef.h>
#include <stdint.h>

/* Storefront channels a merchant can receive webhooks from. */
/* CH_CARRIER: a carrier's tracking updates, signed like generic. */
enum channel_kind { CH_SHOPIFY, CH_WOOCOMMERCE, CH_GENERIC, CH_CARRIER, CH_COUNT };

/* "shopify" -> CH_SHOPIFY, ...; -1 for anything else. */
int config_channel_kind(const char *name);
/* CH_SHOPIFY -> "shopify". */
const char *config_channel_name(enum channel_kind kind);

/* A notification template: {{path}} placeholders (see notify.h). */
struct notify_template {
	char *name;
	char *subject;
	char *body;
};

/* A place stock is kept and shipped from. */
struct location_config {
	char *id;          /* [a-z0-9_-]{1,64}, unique per merchant */
	char *name;
	char *region;      /* free text routing policies match on ("US-OR", "EU"); may be NULL */
	int priority;      /* lower ships first; default 100 */
	char *kind;        /* warehouse | store | supplier */
};

/* A supplier: purchase orders and drop-shipped lines go to its endpoint
 * (signed with its secret); it answers on /webhooks/{merchant}/supplier/{id}. */
struct supplier_config {
	char *id;          /* [a-z0-9_-]{1,64} */
	char *name;
	char *url;         /* where purchase orders and dropship requests are POSTed */
	char *secret;      /* signs both directions (X-Ordo-Signature) */
	int lead_time_days;   /* expected delivery of a purchase order; default 7 */
	char *location;    /* where its purchase orders are received; NULL: the first location */
};

/* An outgoing webhook subscription. */
/* A digital SKU: a file from the asset folder, or a key from its pool. */
struct digital_product {
	char *sku;
	char *file;          /* relative to digital.assets (checked inside it); NULL for a key */
	char *content_type;  /* NULL: from the file's extension */
	int license;         /* 1: one license key per unit from the SKU's pool */
};

/* merchants[].digital: download links and what is sold digitally. */
struct digital_config {
	char *assets;            /* absolute folder (realpath); NULL when none */
	char *base_url;          /* prefix of links ("https://dl.example.com"); NULL: path only */
	int64_t link_expiry_ms;  /* default 7 days */
	int64_t download_limit;  /* downloads per link; default 5 */
	struct digital_product *products;
	size_t n_products;
};

struct webhook_sub {
	char *url;
	char *secret;
	char **topics;     /* "order.paid", ... or "*" */
	size_t n_topics;
};

/* How a merchant's effects run (outbound HTTP). */
struct effects_config {
	int64_t timeout_ms;      /* per attempt; default 10 s */
	int max_attempts;        /* default 8 */
	int64_t base_delay_ms;   /* default 1 s */
	int64_t max_delay_ms;    /* default 1 h */
	int concurrency;         /* in flight per endpoint; default 4 */
	char **allow;            /* URL prefixes http.post may call */
	size_t n_allow;
};

struct merchant_config {
	char *id;          /* [a-z0-9_-]{1,64}, unique */
	char *name;
	char *currency;    /* ISO 4217, checked with money_exponent() */
	char *timezone;    /* IANA name, checked against the system tz database */
	char *workflow;    /* absolute path of the workflow .lua */
	char **api_keys;   /* at least 16 characters each */
	size_t n_api_keys;
	char *channel_secret[CH_COUNT]; /* NULL when the channel is not enabled */
	int64_t instruction_limit;      /* per handler run; default 10,000,000 */
	int64_t memory_limit;           /* bytes per merchant state; default 64 MiB */
	int64_t webhook_rate;           /* verified deliveries per second, bursts of
	                                   2 s; beyond it 429; 0 (default) = no limit */
	int line;                       /* where the merchant starts, for messages */

	/* Effects (all optional). */
	char *pay_gateway;              /* "stripe", "manual", ... (scripts/payments/<name>.lua); NULL: none */
	char *pay_base_url;             /* gateway base URL without a trailing '/' */
	char *pay_api_key;
	char *notify_url;               /* NULL: no notifications */
	char *notify_secret;
	struct notify_template *templates;
	size_t n_templates;
	struct webhook_sub *webhooks;
	size_t n_webhooks;
	struct effects_config effects;
	struct location_config *locations;  /* in priority order */
	size_t n_locations;
	struct supplier_config *suppliers;
	size_t n_suppliers;
	struct digital_config digital;
};

/* The merchant's supplier `id`, or NULL. */
const struct supplier_config *config_supplier(const struct merchant_config *m, const char *id);

/* The merchant's digital product `sku`, or NULL. */
const struct digital_product *config_digital(const struct merchant_config *m, const char *sku);

/* The merchant's location `id`, or NULL. */
const struct location_config *config_location(const struct merchant_config *m, const char *id);

struct server_config {
	char *listen_host;     /* default "127.0.0.1" */
	int listen_port;       /* default 8080; 0 picks a free port */
	char *database;        /* absolute path; default <config dir>/../var/ordo.db */
	int durability_full;   /* 1 = synchronous=FULL (default), 0 = NORMAL */
	int64_t body_limit;    /* bytes; default 1 MiB */
	int64_t inbox_limit;   /* pending events past which webhooks get 503; default 100,000 */
	int64_t header_limit;  /* bytes of request line and headers; default 64 KiB */
	int64_t max_connections; /* open HTTP connections; default 1024 */
	int64_t read_timeout_ms;  /* to send a complete request; default 10,000 */
	int64_t write_timeout_ms; /* without progress taking an answer; default 30,000 */
	char *scripts_dir;     /* absolute path of the Lua library (scripts/) */
	int max_attempts;      /* handler attempts before a dead letter; default 8 */
	int64_t retry_base_ms; /* first retry delay; default 1000 */
	int64_t retry_max_ms;  /* retry delay cap; default 3,600,000 */
	char **trusted_proxies; /* IP literals whose X-Forwarded-For is believed */
	size_t n_trusted_proxies;
};

struct ordo_config {
	char *path;            /* the file as given */
	char *dir;             /* absolute folder of the file */
	struct server_config server;
	struct merchant_config *merchants;
	size_t n_merchants;
};

/*
 * Load and validate a config file.
 * @return a config the caller frees with config_free(), or NULL with *err
 * set to a malloc'd "file:line:column: message" the caller frees.
 */
struct ordo_config *config_load(const char *path, char **err);

/*
 * The same from a buffer; `name` is used in messages and `dir` for
 * relative paths (NULL: current folder). For tests and the fuzzer.
 */
struct ordo_config *config_parse(const char *name, const char *dir,
    const char *buf, size_t len, char **err);

void config_free(struct ordo_config *cfg);

/* The merchant with this id, or NULL. */
const struct merchant_config *config_merchant(const struct ordo_config *cfg,
    const char *id);

/* 1 when `url` is an http:// or https:// URL with a host and no spaces
 * or control characters. */
int config_url_ok(const char *url);

/*
 * Parse "HOST:PORT", ":PORT" (host 127.0.0.1) or "[V6]:PORT".
 * @return 0 with *host a malloc'd string the caller frees, or -1.
 */
int config_parse_listen(const char *text, char **host, int *port);

/* Parse "1MiB", "512KiB", "64MB", "1048576" into bytes. @return 0 or -1. */
int config_parse_size(const char *text, int64_t *out);
/* Parse "250ms", "2s", "5m", "1h", "7d" into milliseconds. @return 0 or -1. */
int config_parse_duration(const char *text, int64_t *out_ms);

#endif
