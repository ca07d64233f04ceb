/*
 * inventory — stock per merchant, SKU and location, and the invariant that
 * nothing is ever oversold.
 *
 * A stock row holds on_hand and reserved; available = on_hand - reserved.
 * The database itself refuses reserved > on_hand (a CHECK), and a
 * reservation is one conditional UPDATE ("... WHERE on_hand - reserved >=
 * n") inside the event's transaction: two orders racing for the last unit
 * cannot both win, whatever the scripts do. Every movement is a
 * stock_ledger row with its reason, order and event, so the ledger sums to
 * the counts.
 *
 * Lines that cannot be reserved wait in a first-come queue per SKU
 * (backorders). When stock arrives — set or adjusted up, released by a
 * cancellation — it is offered to the queue in order, inside the same
 * transaction, and each order served gets a `backorder_allocated` event.
 *
 * Where stock comes from and which location ships is the merchant's policy
 * (scripts/flows/routing.lua); the host only checks that a plan asks for
 * locations and quantities that exist. Scoped by merchant; callers own the
 * transaction.
 */
#ifndef ORDO_INVENTORY_H
#define ORDO_INVENTORY_H

#include <stdint.h>
#include <jansson.h>

struct db;
struct merchant_config;

#define INV_ERRLEN 256
#define INV_MAX_QUANTITY 1000000000

/*
 * Set the on-hand count of `sku` at `location` (a configured location).
 * Refused below what is reserved there. Stock that grew is offered to the
 * backorder queue. @return 0, or -1 with err.
 */
int inv_set(struct db *db, const struct merchant_config *m, const char *sku,
    const char *location, int64_t on_hand, const char *reason, int64_t event_id, char *err);

/* Add `delta` (may be negative; kind "receive", "adjust" or "return").
 * Refused if on hand would fall below zero or below what is reserved. */
int inv_adjust(struct db *db, const struct merchant_config *m, const char *sku,
    const char *location, int64_t delta, const char *kind, const char *reason,
    int64_t event_id, char *err);

/*
 * Reserve the order's stock lines. `plan` is an array of {line, location,
 * quantity}, or NULL for the host's default (each line from the locations in
 * priority order, as much as each has). A plan asking for a location, line
 * or quantity that does not exist, or for more than is available, is an
 * error and reserves nothing. Lines already reserved or backordered are not
 * reserved again.
 * @return a new {"reserved": [{line, sku, location, quantity}], "short":
 * [{line, sku, quantity}]} (caller decrefs), or NULL with err.
 */
json_t *inv_reserve(struct db *db, const struct merchant_config *m, int64_t order_id,
    const json_t *plan, int64_t event_id, char *err);

/* Queue lines for stock: `lines` is an array of {line, quantity}.
 * @return 0, or -1 with err. */
int inv_backorder(struct db *db, const struct merchant_config *m, int64_t order_id,
    const json_t *lines, int64_t event_id, char *err);

/* Release the order's reservations and waiting backorders (line 0: all
 * lines); the freed stock goes to the backorder queue.
 * @return units released, or -1 with err. */
int64_t inv_release(struct db *db, const struct merchant_config *m, int64_t order_id,
    int line, const char *reason, int64_t event_id, char *err);

/* Units of an order's line reserved at a location and not yet packed into
 * an open shipment (pending, picked, packed). @return them, or -1 on a
 * database error. */
int64_t inv_shippable(struct db *db, int64_t order_id, int line, const char *location);

/* Release `units` units of one line (canceled): first what waits in the
 * backorder queue, then reservations not packed into an open shipment,
 * newest first; the freed stock goes to the backorder queue.
 * @return units released (fewer when the line holds fewer), or -1 with err. */
int64_t inv_release_units(struct db *db, const struct merchant_config *m, int64_t order_id,
    int line, int64_t units, const char *reason, int64_t event_id, char *err);

/* Stock rows as {"stock": [{sku, location, on_hand, reserved, available,
 * backordered}]}, filtered by sku and location (NULL: any) and, with
 * low > 0, available below low. NULL on a database error. */
json_t *inv_list(struct db *db, const char *merchant, const char *sku, const char *location,
    int64_t low);

/* What is available of `sku`, per location: {"wh1": 3, ...}. */
json_t *inv_available(struct db *db, const struct merchant_config *m, const char *sku);

/* Units of the order's lines waiting in the backorder queue (for the
 * derived fulfillment status). -1 on error. */
int64_t inv_backordered(struct db *db, int64_t order_id);

#endif
