/*
 * notify — messages ordo sends about orders: customer notifications
 * rendered from the merchant's templates, and outgoing webhooks to the
 * merchant's own systems. Both leave as effects (outbox.h), signed with
 * X-Ordo-Signature: sha256=<hex HMAC-SHA256 of the body>.
 *
 * Templates are plain text with {{path}} placeholders looked up in
 * {order = <the order>, data = <what the workflow passed>, merchant =
 * {id, name}}: {{order.number}}, {{order.customer.first_name}},
 * {{data.tracking_url}}. Text and integers are inserted as they are; a
 * missing value is an error naming it, never an empty hole in an email.
 *
 * Callers own the transaction.
 */
#ifndef ORDO_NOTIFY_H
#define ORDO_NOTIFY_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

struct db;
struct merchant_config;

#define NOTIFY_ERRLEN 256
#define NOTIFY_MAX_TEXT (64 * 1024)

/*
 * Render `tmpl` against `ctx`. @return 0 with *out a malloc'd string the
 * caller frees, or -1 with err ("{{order.foo}} is not set").
 */
int notify_render(const char *tmpl, const json_t *ctx, char **out, char *err);

/* The merchant's template called `name`, or NULL. */
const struct notify_template *notify_template_of(const struct merchant_config *m,
    const char *name);

/*
 * Queue a notification of order `order_id` with template `name` to the
 * order's email. `data` may be NULL. `key` is the effect's idempotency key.
 * @return the effect id, or -1 with err (no endpoint configured, unknown
 * template, no email on the order, a placeholder without a value).
 */
int64_t notify_customer(struct db *db, const struct merchant_config *m,
    int64_t order_id, const char *name, const json_t *data, int64_t event_id,
    const char *key, char *err);

/*
 * Queue the outgoing webhook `topic` for every subscription of the merchant
 * that wants it. `data` is the payload's "data" (NULL: the order
 * `order_id` without its history). `key` makes the delivery ids: one per
 * subscription, "<key>-<n>".
 * @return the number queued (0 when nobody subscribed), or -1 with err.
 */
int notify_webhooks(struct db *db, const struct merchant_config *m, const char *topic,
    int64_t order_id, const json_t *data, int64_t event_id, const char *key, char *err);

/*
 * Queue one signed JSON POST as an effect of `kind` (notify, webhook, http):
 * X-Ordo-Signature over the body with `secret`, X-Ordo-Event: `event`,
 * X-Ordo-Delivery: `delivery`. `key` is the effect's idempotency key.
 * @return the effect id, or -1 with err (NOTIFY_ERRLEN bytes).
 */
int64_t notify_post_signed(struct db *db, const struct merchant_config *m, const char *kind,
    const char *url, const char *secret, const char *event, json_t *body, json_t *meta,
    int64_t order_id, int64_t event_id, const char *key, const char *delivery, char *err);

/* 1 when subscription topic `pattern` ("order.paid", "order.*", "*")
 * covers `topic`. */
int notify_topic_match(const char *pattern, const char *topic);

/*
 * The orders.h observer that sends outgoing webhooks: `cfg` is the
 * struct ordo_config the merchants come from. Delivery keys derive from the
 * event ("w<event>-<order>-<topic>"), so a retried handler queues the same
 * deliveries. @return 0, or -1 (the order change fails with it).
 */
int notify_order_changed(void *cfg, struct db *db, const char *merchant, int64_t order_id,
    const char *topic, int64_t event_id);

#endif
