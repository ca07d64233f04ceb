/*
 * fulfillment — shipments: which units of an order leave which location,
 * and how far they have got.
 *
 * A shipment holds lines and quantities (partial fulfillment and split
 * shipments are several shipments) and moves pending -> picked -> packed ->
 * shipped -> delivered, or to canceled before it ships. Shipping is the
 * stock-out: the shipment's reserved units leave on hand and reserved
 * together (ledger kind "ship"), the lines' fulfilled quantity grows, and
 * the order's fulfillment status follows (partially_fulfilled, fulfilled,
 * delivered once every shipment is delivered). Each step raises an event
 * (order_shipped, order_delivered, ...) for the workflow, and order.shipped
 * / order.delivered go to outgoing webhooks.
 *
 * Scoped by merchant; callers own the transaction.
 */
#ifndef ORDO_FULFILLMENT_H
#define ORDO_FULFILLMENT_H

#include <stdint.h>
#include <jansson.h>

struct db;
struct merchant_config;

#define SHIP_ERRLEN 256

/*
 * A shipment from `location` of `lines` ({{line, quantity}}; NULL: every
 * unit reserved there and not in another open shipment). Only reserved
 * units can ship. @return the id, or -1 with err.
 */
int64_t ship_create(struct db *db, const struct merchant_config *m, int64_t order_id,
    const char *location, const json_t *lines, int64_t event_id, char *err);

/*
 * Move a shipment to `status` (picked, packed, shipped, delivered,
 * canceled). `carrier`, `tracking_number`, `tracking_url` (may be NULL) are
 * recorded when given. Steps may be skipped forward (pending -> shipped),
 * never back. @return 0, or -1 with err.
 */
int ship_advance(struct db *db, const struct merchant_config *m, int64_t id,
    const char *status, const char *carrier, const char *tracking_number,
    const char *tracking_url, int64_t event_id, char *err);

/* The merchant's shipment with that tracking number, 0 if none, -1 error. */
int64_t ship_by_tracking(struct db *db, const char *merchant, const char *tracking_number);

/* The shipment as JSON with its lines (caller decrefs), or NULL. */
json_t *ship_get(struct db *db, const char *merchant, int64_t id);

/* The order's shipments as a JSON array (caller decrefs), or NULL. */
json_t *ship_list(struct db *db, const char *merchant, int64_t order_id);

#endif
