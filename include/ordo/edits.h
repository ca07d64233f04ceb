/*
 * edits — changing an order before it ships: canceling some units of its
 * lines, adding lines, changing quantities. The money and unit rules live
 * here; what follows (stock released or reserved, payment refunded or
 * authorized, the customer told) is the workflow's (scripts/flows/cancel.lua
 * and flows/edits.lua), through the inventory, payments, digital and notify
 * primitives.
 *
 * A line's `quantity` is what was ordered and never falls (the schema wants
 * it > 0); canceled units are counted in `canceled_quantity`, so a line has
 * quantity - canceled_quantity units to ship, of which fulfilled_quantity
 * shipped. A line's `total` is always the value of its uncanceled units:
 * canceling q of n uncanceled units takes total * q / n off it (all of it
 * when q = n), and the order's subtotal and total fall by the same amount.
 * Tax, shipping and discount are not recomputed.
 *
 * Both calls validate everything before they write anything; with `dry`
 * they only validate (the API checks a request before raising its event,
 * and the workflow's call checks again against the order as it is then).
 * Scoped by merchant; callers own the transaction.
 */
#ifndef ORDO_EDITS_H
#define ORDO_EDITS_H

#include <stdint.h>
#include <jansson.h>

#define EDITS_ERRLEN 256

struct db;
struct merchant_config;

/* What a refusal means (the API's status in brackets). */
enum {
	EDITS_EINPUT = -1,      /* the request's shape [400] */
	EDITS_EINVALID = -2,    /* semantically invalid: no such line, too many [422] */
	EDITS_ECONFLICT = -3,   /* the order's state: shipped, canceled [409] */
	EDITS_ENOTFOUND = -4,   /* no such order for this merchant [404] */
	EDITS_EDB = -5,         /* the database [503] */
};

/*
 * Cancel units of lines: `lines` is [{line, quantity}, ...]. Refused for a
 * canceled order, a line that does not exist, more units than the line has
 * unshipped and uncanceled, a line shipped or already canceled whole, a
 * drop-shipped line, or units packed into an open shipment. When the
 * request covers every unit of an order with nothing shipped, nothing is
 * written and "all" is true: that is a whole cancel, the caller's to do.
 * @return 0 with *out (unless NULL) a new {all, amount, total, lines:
 * [{line, sku, quantity, amount}]}, or an EDITS_E* code with err.
 */
int edits_cancel_lines(struct db *db, const struct merchant_config *m, int64_t order_id,
    const json_t *lines, const char *reason, int dry, int64_t event_id, json_t **out, char *err);

/*
 * Edit an order nothing of which has shipped: `edit` is {"add": [{sku,
 * quantity, unit_price [, title]}], "change": [{line, quantity}]}; a
 * quantity changed to less cancels units (as above, 0 cancels the line),
 * to more orders more at the line's unit price. Refused for a canceled or
 * partly shipped order, a drop-shipped or canceled line, fewer units than
 * an open shipment holds, or an order left without units.
 * @return 0 with *out (unless NULL) a new {delta, old_total, total, added:
 * [{line, sku, quantity}], increased: [...], decreased: [...]} (quantity:
 * the units added or removed), or an EDITS_E* code with err.
 */
int edits_apply(struct db *db, const struct merchant_config *m, int64_t order_id,
    const json_t *edit, int dry, int64_t event_id, json_t **out, char *err);

#endif
