/*
 * supply — what comes from suppliers: purchase orders (stock for our
 * locations) and drop-shipped lines (the supplier ships to the customer).
 *
 * Both go to the supplier's endpoint as signed effects (X-Ordo-Signature
 * with the supplier's secret; X-Ordo-Event purchase_order.created or
 * dropship.requested). A purchase order is received by API, partially or
 * whole: the units go into stock at its location and feed the backorder
 * queue; an open purchase order gives a backordered line its expected date.
 * A drop-shipped line moves no stock of ours: the supplier accepts, rejects
 * or ships (with tracking), which becomes a shipment on the order.
 *
 * Scoped by merchant; callers own the transaction.
 */
#ifndef ORDO_SUPPLY_H
#define ORDO_SUPPLY_H

#include <stdint.h>
#include <jansson.h>

struct db;
struct merchant_config;

#define SUPPLY_ERRLEN 256

/* A purchase order of `qty` of `sku` from `supplier`, received at
 * `location` (NULL: the supplier's, else the first location), sent as an
 * effect keyed `key`. @return its id, or -1 with err. */
int64_t supply_po_create(struct db *db, const struct merchant_config *m, const char *supplier,
    const char *sku, int64_t qty, const char *location, int64_t event_id, const char *key,
    char *err);

/* Receive `qty` more of purchase order `id` into stock. @return 0 or -1. */
int supply_po_receive(struct db *db, const struct merchant_config *m, int64_t id, int64_t qty,
    int64_t event_id, char *err);

/* The purchase order as JSON, or NULL. */
json_t *supply_po_get(struct db *db, const char *merchant, int64_t id);

/* Forward `lines` ({{line, quantity}}) of an order to `supplier`; they are
 * marked drop-shipped. @return the dropship id, or -1 with err. */
int64_t supply_dropship(struct db *db, const struct merchant_config *m, int64_t order_id,
    const json_t *lines, const char *supplier, int64_t event_id, const char *key, char *err);

/* The supplier's answer: "accepted", "rejected" (with a reason: the lines
 * are ours to place again) or "shipped" (carrier, tracking: a shipment on
 * the order, no stock moves). `sender` (may be NULL) is the supplier that
 * signed the answer: another supplier's dropship is "not found".
 * @return 0 or -1 with err. */
int supply_dropship_update(struct db *db, const struct merchant_config *m, int64_t id,
    const char *sender, const char *status, const char *reason, const char *carrier,
    const char *tracking_number, const char *tracking_url, int64_t event_id, char *err);

/* The dropship as JSON (with order_id), or NULL. */
json_t *supply_dropship_get(struct db *db, const char *merchant, int64_t id);

#endif
