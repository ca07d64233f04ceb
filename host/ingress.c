/*
 * ingress — POST /webhooks/{merchant}/{channel}.
 *
 * Depends on webhook (verification and keys), inbox (group commit), http
 * and metrics. The reply is deferred until the inbox row is committed,
 * which happens later in the same loop pass (the inbox flushes after the
 * callbacks already ready), so the connection cannot go away in between;
 * if it failed anyway, libevent detaches the request and evhttp_send_reply
 * frees it. Must never acknowledge a delivery that is not on disk, and
 * never store anything from a delivery that fails verification.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "ordo/clock.h"
#include "ordo/http.h"
#include "ordo/inbox.h"
#include "ordo/log.h"
#include "ordo/metrics.h"
#include "ordo/server.h"
#include "ordo/webhook.h"

struct waiter {
	struct server *s;
	struct evhttp_request *req;
	char channel[16];
};

static void count(const char *channel, const char *outcome)
{
	char labels[96];

	snprintf(labels, sizeof labels, "channel=\"%s\",outcome=\"%s\"", channel, outcome);
	metrics_inc("ordo_webhooks_total", labels, 1);
}

static void committed(void *arg, int status, int64_t id, int duplicate)
{
	struct waiter *w = arg;

	count(w->channel, status != 0 ? "unavailable" : duplicate ? "duplicate" : "accepted");
	if (status == 0 && !duplicate)
		w->s->pending++;
	if (status != 0) {
		evhttp_add_header(evhttp_request_get_output_headers(w->req), "Retry-After", "5");
		http_reply_error(w->req, 503, "unavailable",
		    "the delivery could not be stored; retry later");
	} else {
		/* One reply per delivery: a fixed shape with only the id
		 * interpolated, not a jansson object built and dumped. */
		char body[80];
		int len = snprintf(body, sizeof body, "{\"ok\":true,\"id\":%lld,\"duplicate\":%s}",
		    (long long)id, duplicate ? "true" : "false");

		http_reply_text(w->req, 200, "application/json", body, (size_t)len);
	}
	free(w);
}

/*
 * Take one delivery from the merchant's bucket: `rate` per second, bursts of
 * two seconds' worth. @return 0, or the seconds to wait (>= 1).
 */
static int64_t rate_take(struct bucket *b, int64_t rate)
{
	int64_t now = clock_mono_ms(), cap = 2000 * rate;

	if (rate <= 0)
		return 0;
	b->tokens += (now - b->at) * rate;
	b->at = now;
	if (b->tokens > cap)
		b->tokens = cap;
	if (b->tokens >= 1000) {
		b->tokens -= 1000;
		return 0;
	}
	return (1000 - b->tokens + 1000 * rate - 1) / (1000 * rate);
}

static const char *header_cb(void *ctx, const char *name)
{
	return http_header(ctx, name);
}

void ingress_webhook(struct server *s, struct evhttp_request *req, char **seg, int n)
{
	const struct merchant_config *m;
	struct webhook_delivery d;
	struct inbox_item item;
	const struct supplier_config *sup = NULL;
	struct waiter *w;
	const char *body, *secret;
	size_t len;
	int64_t wait;
	int kind, rc;

	/* Only POST /webhooks/{merchant}/{channel} and .../supplier/{supplier}
	 * reach here (server.c's route table). */
	m = config_merchant(s->cfg, seg[1]);
	if (m == NULL) {
		http_reply_error(req, 404, "not_found", "no merchant \"%s\"", seg[1]);
		return;
	}
	if (n == 4) {
		/* A supplier's answer: signed like generic, with its own secret. */
		if ((sup = config_supplier(m, seg[3])) == NULL) {
			http_reply_error(req, 404, "not_found", "merchant \"%s\" has no supplier \"%s\"",
			    m->id, seg[3]);
			return;
		}
		kind = CH_GENERIC;
		secret = sup->secret;
	} else {
		kind = config_channel_kind(seg[2]);
		if (kind < 0 || m->channel_secret[kind] == NULL) {
			http_reply_error(req, 404, "not_found", "merchant \"%s\" has no channel \"%s\"",
			    m->id, seg[2]);
			return;
		}
		secret = m->channel_secret[kind];
	}
	if (s->pending >= s->cfg->server.inbox_limit) {
		/* Handlers are behind: push back rather than queue without end.
		 * Storefronts retry, and nothing is stored from this request. */
		count(seg[2], "backpressure");
		evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "30");
		http_reply_error(req, 503, "unavailable", "%lld events are waiting to be processed;"
		    " retry later", (long long)s->pending);
		return;
	}
	body = http_body(req, &len);
	if ((int64_t)len > s->cfg->server.body_limit) {
		count(seg[2], "too_large");
		http_reply_error(req, 413, "payload_too_large", "the body is over %lld bytes",
		    (long long)s->cfg->server.body_limit);
		return;
	}
	rc = webhook_parse(kind, secret, header_cb, req, body, len, &d);
	switch (rc) {
	case WH_PING:
		count(seg[2], "ping");
		http_reply_json(req, 200, json_pack("{s:b,s:b}", "ok", 1, "ping", 1));
		return;
	case WH_BAD_SIGNATURE:
		count(seg[2], "invalid_signature");
		http_reply_error(req, 401, "invalid_signature", "%s", d.error);
		return;
	case WH_BAD_REQUEST:
		count(seg[2], "bad_request");
		http_reply_error(req, 400, "missing_header", "%s", d.error);
		return;
	case WH_BAD_JSON:
		count(seg[2], "invalid_json");
		http_reply_error(req, 400, "invalid_json", "%s", d.error);
		return;
	default:
		break;
	}
	wait = rate_take(&s->buckets[m - s->cfg->merchants], m->webhook_rate);
	if (wait > 0) {
		char after[24];

		count(seg[2], "rate_limited");
		snprintf(after, sizeof after, "%lld", (long long)wait);
		evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", after);
		http_reply_error(req, 429, "rate_limited", "merchant \"%s\" is limited to %lld"
		    " webhooks per second; retry in %s s", m->id, (long long)m->webhook_rate, after);
		return;
	}
	/* The raw body is what we store, byte for byte. */

	w = calloc(1, sizeof *w);
	if (w == NULL) {
		http_reply_error(req, 503, "unavailable", "out of memory");
		return;
	}
	w->s = s;
	w->req = req;
	snprintf(w->channel, sizeof w->channel, "%s", sup ? "supplier" : config_channel_name(kind));
	if (sup != NULL) {
		/* Its deliveries are its own (not generic's), and run in order:
		 * the key also tells the adapter who sent them. */
		char dedup[sizeof d.dedup_key];

		snprintf(dedup, sizeof dedup, "supplier:%.64s:%.300s", sup->id, d.dedup_key);
		memcpy(d.dedup_key, dedup, sizeof dedup);
		snprintf(d.order_key, sizeof d.order_key, "supplier:%.64s", sup->id);
	}
	item = (struct inbox_item){
		.merchant = m->id, .source = "webhook", .channel = w->channel,
		.topic = d.topic, .dedup_key = d.dedup_key,
		.order_key = d.order_key[0] ? d.order_key : NULL,
		.payload = body, .payload_len = len,
	};
	if (inbox_submit(s->inbox, &item, committed, w) != 0) {
		free(w);
		http_reply_error(req, 503, "unavailable", "out of memory");
	}
}
