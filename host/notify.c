/*
 * notify — customer notifications and outgoing webhooks (see notify.h).
 *
 * Depends on config (endpoints, templates, subscriptions), orders (the
 * order as JSON), outbox (the effect), crypto (signatures), db (the instance
 * id in delivery ids) and clock. Renders with a tiny placeholder scanner:
 * no expressions, no loops, nothing a template can execute.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ordo/clock.h"
#include "ordo/config.h"
#include "ordo/crypto.h"
#include "ordo/db.h"
#include "ordo/log.h"
#include "ordo/notify.h"
#include "ordo/orders.h"
#include "ordo/outbox.h"

#define MAX_PATH 128

struct text {
	char *p;
	size_t len, cap;
};

static int text_add(struct text *t, const char *s, size_t n)
{
	if (t->len + n + 1 > NOTIFY_MAX_TEXT)
		return -1;
	if (t->len + n + 1 > t->cap) {
		size_t cap = t->cap ? t->cap : 256;
		char *p;

		while (cap < t->len + n + 1)
			cap *= 2;
		if ((p = realloc(t->p, cap)) == NULL)
			return -1;
		t->p = p;
		t->cap = cap;
	}
	memcpy(t->p + t->len, s, n);
	t->len += n;
	t->p[t->len] = '\0';
	return 0;
}

/* The value at a dotted path; array parts are 1-based like Lua's. */
static const json_t *lookup(const json_t *ctx, const char *path)
{
	const json_t *v = ctx;
	char part[MAX_PATH];
	const char *p = path;

	while (*p && v != NULL) {
		size_t n = strcspn(p, ".");

		if (n == 0 || n >= sizeof part)
			return NULL;
		memcpy(part, p, n);
		part[n] = '\0';
		if (json_is_object(v)) {
			v = json_object_get(v, part);
		} else if (json_is_array(v)) {
			char *end;
			long i = strtol(part, &end, 10);

			v = *end == '\0' && i >= 1 ? json_array_get(v, (size_t)i - 1) : NULL;
		} else {
			return NULL;
		}
		p += n;
		if (*p == '.')
			p++;
	}
	return v;
}

int notify_render(const char *tmpl, const json_t *ctx, char **out, char *err)
{
	struct text t = { 0 };
	const char *p = tmpl;

	*out = NULL;
	while (*p) {
		const char *open = strstr(p, "{{"), *q, *start;
		char path[MAX_PATH], num[32];
		const json_t *v;
		size_t n;

		if (open == NULL) {
			if (text_add(&t, p, strlen(p)) != 0)
				goto toolong;
			break;
		}
		if (text_add(&t, p, (size_t)(open - p)) != 0)
			goto toolong;
		q = open + 2;
		while (*q == ' ')
			q++;
		start = q;
		while (isalnum((unsigned char)*q) || *q == '_' || *q == '.')
			q++;
		n = (size_t)(q - start);
		while (*q == ' ')
			q++;
		if (n == 0 || n >= sizeof path || q[0] != '}' || q[1] != '}') {
			snprintf(err, NOTIFY_ERRLEN, "bad placeholder at byte %zu: expected {{name.path}}",
			    (size_t)(open - tmpl));
			goto fail;
		}
		memcpy(path, start, n);
		path[n] = '\0';
		v = lookup(ctx, path);
		if (json_is_string(v)) {
			if (text_add(&t, json_string_value(v), json_string_length(v)) != 0)
				goto toolong;
		} else if (json_is_integer(v) || json_is_boolean(v)) {
			if (json_is_integer(v))
				snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
			else
				snprintf(num, sizeof num, "%s", json_is_true(v) ? "true" : "false");
			if (text_add(&t, num, strlen(num)) != 0)
				goto toolong;
		} else if (v == NULL || json_is_null(v)) {
			snprintf(err, NOTIFY_ERRLEN, "{{%s}} is not set", path);
			goto fail;
		} else {
			snprintf(err, NOTIFY_ERRLEN, "{{%s}} is %s, not text; name one of its fields",
			    path, json_is_array(v) ? "a list" : json_is_object(v) ? "a table" : "a number");
			goto fail;
		}
		p = q + 2;
	}
	if (t.p == NULL && text_add(&t, "", 0) != 0)
		goto toolong;
	*out = t.p;
	return 0;
toolong:
	snprintf(err, NOTIFY_ERRLEN, "rendered text is over %d KiB", NOTIFY_MAX_TEXT / 1024);
fail:
	free(t.p);
	return -1;
}

const struct notify_template *notify_template_of(const struct merchant_config *m,
    const char *name)
{
	for (size_t i = 0; name != NULL && i < m->n_templates; i++)
		if (strcmp(m->templates[i].name, name) == 0)
			return &m->templates[i];
	return NULL;
}

int notify_topic_match(const char *pattern, const char *topic)
{
	size_t n = strlen(pattern);

	if (strcmp(pattern, "*") == 0 || strcmp(pattern, topic) == 0)
		return 1;
	/* "order.*" */
	return n >= 2 && pattern[n - 1] == '*' && pattern[n - 2] == '.' &&
	    strncmp(pattern, topic, n - 1) == 0;
}

int64_t notify_post_signed(struct db *db, const struct merchant_config *m, const char *kind,
    const char *url, const char *secret, const char *event, json_t *body, json_t *meta,
    int64_t order_id, int64_t event_id, const char *key, const char *delivery, char *err)
{
	unsigned char mac[CRYPTO_SHA256_LEN];
	char hex[2 * CRYPTO_SHA256_LEN + 1], *text = NULL, *h = NULL;
	json_t *headers = json_array();
	int64_t id = -1;
	int dup;

	if ((text = json_dumps(body, JSON_COMPACT)) == NULL || headers == NULL) {
		snprintf(err, NOTIFY_ERRLEN, "the message cannot be encoded as JSON");
		goto out;
	}
	crypto_hmac_sha256(secret, strlen(secret), text, strlen(text), mac);
	crypto_hex(mac, sizeof mac, hex);
	json_array_append_new(headers, json_string("Content-Type: application/json"));
	if (asprintf(&h, "X-Ordo-Event: %s", event) < 0)
		goto oom;
	json_array_append_new(headers, json_string(h));
	free(h);
	if (asprintf(&h, "X-Ordo-Delivery: %s", delivery) < 0)
		goto oom;
	json_array_append_new(headers, json_string(h));
	free(h);
	if (asprintf(&h, "X-Ordo-Signature: sha256=%s", hex) < 0)
		goto oom;
	json_array_append_new(headers, json_string(h));
	free(h);
	h = NULL;
	{
		struct outbox_effect e = {
			.merchant = m->id, .kind = kind, .key = key, .order_id = order_id,
			.event_id = event_id, .url = url, .headers = headers, .body = text,
			.body_len = strlen(text), .meta = meta, .timeout_ms = m->effects.timeout_ms,
			.max_attempts = m->effects.max_attempts,
		};

		id = outbox_add(db, &e, &dup, err);
	}
	goto out;
oom:
	snprintf(err, NOTIFY_ERRLEN, "out of memory");
out:
	json_decref(headers);
	free(text);
	return id;
}

int64_t notify_customer(struct db *db, const struct merchant_config *m,
    int64_t order_id, const char *name, const json_t *data, int64_t event_id,
    const char *key, char *err)
{
	const struct notify_template *t;
	json_t *order = NULL, *ctx = NULL, *body = NULL, *meta = NULL, *to;
	char *subject = NULL, *text = NULL, delivery[300];
	int64_t id = -1;

	if (m->notify_url == NULL) {
		snprintf(err, NOTIFY_ERRLEN, "merchant %s has no notifications endpoint (set"
		    " notifications.url in the config)", m->id);
		return -1;
	}
	if ((t = notify_template_of(m, name)) == NULL) {
		snprintf(err, NOTIFY_ERRLEN, "no template \"%.64s\" in notifications.templates",
		    name ? name : "");
		return -1;
	}
	if ((order = orders_get(db, m->id, order_id, ORDERS_LINES)) == NULL) {
		snprintf(err, NOTIFY_ERRLEN, "order %" PRId64 " not found", order_id);
		return -1;
	}
	to = json_object_get(order, "email");
	if (!json_is_string(to) || json_string_length(to) == 0)
		to = json_object_get(json_object_get(order, "customer"), "email");
	if (!json_is_string(to) || json_string_length(to) == 0) {
		snprintf(err, NOTIFY_ERRLEN, "order %" PRId64 " has no customer email to send"
		    " \"%s\" to", order_id, name);
		goto out;
	}
	ctx = json_pack("{s:O,s:o,s:{s:s,s:s}}", "order", order,
	    "data", data ? json_incref((json_t *)data) : json_object(), "merchant", "id", m->id,
	    "name", m->name ? m->name : m->id);
	if (ctx == NULL) {
		snprintf(err, NOTIFY_ERRLEN, "out of memory");
		goto out;
	}
	if (t->subject != NULL && notify_render(t->subject, ctx, &subject, err) != 0)
		goto prefix;
	if (notify_render(t->body, ctx, &text, err) != 0)
		goto prefix;
	outbox_wire_key(db, m->id, "notify", key, delivery, sizeof delivery);
	body = json_pack("{s:s,s:I,s:O,s:s,s:s?,s:s,s:O}", "merchant", m->id,
	    "order_id", (json_int_t)order_id, "to", to, "template", name, "subject", subject,
	    "body", text, "data", json_object_get(ctx, "data"));
	meta = json_pack("{s:s,s:O}", "template", name, "to", to);
	if (body == NULL || meta == NULL) {
		snprintf(err, NOTIFY_ERRLEN, "out of memory");
		goto out;
	}
	id = notify_post_signed(db, m, "notify", m->notify_url, m->notify_secret, "notification", body,
	    meta, order_id, event_id, key, delivery, err);
	goto out;
prefix:
	{
		char why[NOTIFY_ERRLEN - 80];

		snprintf(why, sizeof why, "%s", err);
		snprintf(err, NOTIFY_ERRLEN, "template %.64s: %s", name, why);
	}
out:
	json_decref(order);
	json_decref(ctx);
	json_decref(body);
	json_decref(meta);
	free(subject);
	free(text);
	return id;
}

int notify_webhooks(struct db *db, const struct merchant_config *m, const char *topic,
    int64_t order_id, const json_t *data, int64_t event_id, const char *key, char *err)
{
	json_t *own = NULL;
	char ts[32], k[260], delivery[400];
	int queued = 0;

	for (size_t i = 0; i < m->n_webhooks; i++) {
		const struct webhook_sub *ws = &m->webhooks[i];
		json_t *body, *meta;
		size_t t;
		int64_t id;

		for (t = 0; t < ws->n_topics; t++)
			if (notify_topic_match(ws->topics[t], topic))
				break;
		if (t == ws->n_topics)
			continue;
		if (data == NULL && own == NULL) {
			if ((own = orders_get(db, m->id, order_id, ORDERS_LINES | ORDERS_PAYMENTS)) == NULL) {
				snprintf(err, NOTIFY_ERRLEN, "order %" PRId64 " not found", order_id);
				return -1;
			}
		}
		snprintf(k, sizeof k, "%s-%zu", key, i + 1);
		outbox_wire_key(db, m->id, "webhook", k, delivery, sizeof delivery);
		clock_format_iso(clock_now_ms(), ts);
		body = json_pack("{s:s,s:s,s:s,s:s,s:O}", "id", delivery, "topic", topic,
		    "merchant", m->id, "created_at", ts, "data", data ? (json_t *)data : own);
		meta = json_pack("{s:s}", "topic", topic);
		id = body && meta ? notify_post_signed(db, m, "webhook", ws->url, ws->secret, topic, body,
		    meta, order_id, event_id, k, delivery, err) : -1;
		if (body == NULL || meta == NULL)
			snprintf(err, NOTIFY_ERRLEN, "out of memory");
		json_decref(body);
		json_decref(meta);
		if (id < 0) {
			json_decref(own);
			return -1;
		}
		queued++;
	}
	json_decref(own);
	return queued;
}

int notify_order_changed(void *cfg, struct db *db, const char *merchant, int64_t order_id,
    const char *topic, int64_t event_id)
{
	const struct merchant_config *m = config_merchant(cfg, merchant);
	char key[128], err[NOTIFY_ERRLEN];

	if (m == NULL || m->n_webhooks == 0)
		return 0;
	if (event_id > 0) {
		snprintf(key, sizeof key, "w%lld-%lld-%s", (long long)event_id, (long long)order_id, topic);
	} else {
		unsigned char rnd[8];
		char hex[17];

		crypto_random(rnd, sizeof rnd);
		crypto_hex(rnd, sizeof rnd, hex);
		snprintf(key, sizeof key, "w%s-%lld-%s", hex, (long long)order_id, topic);
	}
	if (notify_webhooks(db, m, topic, order_id, NULL, event_id, key, err) < 0) {
		log_error("cannot queue outgoing webhook", "merchant", merchant, "topic", topic,
		    "error", err, NULL);
		return -1;
	}
	return 0;
}
