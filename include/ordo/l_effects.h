/*
 * l_effects — the Lua modules that ask for effects (outbound calls run
 * after the handler's transaction commits):
 *
 *   http      http.post{url=, json=|body=, headers=, on_success=,
 *             on_failure=, key=, context=, timeout=, order=}  (host/l_http.c)
 *   payments  payments.gateway/authorize/capture/void/refund (host/l_payments.c)
 *   notify    notify.customer/has_template                   (host/l_notify.c)
 *   webhooks  webhooks.emit                                  (host/l_webhooks.c)
 *   timers    timers.after/at/cancel                         (host/l_timers.c)
 *   subscriptions  create/get/pause/resume/skip/cancel/...   (host/l_subscriptions.c)
 *
 * Each opener pushes its module table (for struct sandbox_module). Every
 * primitive raises on bad arguments, with the module, function and what was
 * wrong; none works outside a handler.
 */
#ifndef ORDO_L_EFFECTS_H
#define ORDO_L_EFFECTS_H

#include <lua.h>

int l_http_open(lua_State *L);
int l_payments_open(lua_State *L);
int l_notify_open(lua_State *L);
int l_webhooks_open(lua_State *L);
int l_timers_open(lua_State *L);
int l_subscriptions_open(lua_State *L);
int l_inventory_open(lua_State *L);       /* inventory.* (host/l_inventory.c) */
int l_fulfillment_open(lua_State *L);     /* fulfillment.* (host/l_fulfillment.c) */
int l_purchasing_open(lua_State *L);      /* purchasing.* (host/l_purchasing.c) */
int l_dropship_open(lua_State *L);        /* dropship.* (host/l_dropship.c) */
int l_digital_open(lua_State *L);         /* digital.* (host/l_digital.c) */
int l_returns_open(lua_State *L);         /* returns.* (host/l_returns.c) */

/* payments.refund(order, amount [, reason]) as a C function, for
 * returns.refund. Raises like payments.refund. */
int l_payments_refund(lua_State *L);

/* The translator of subscription_renewal_due timer events: the host
 * creates the renewal order once and schedules the next renewal. */
int l_subscriptions_renewal(lua_State *L);

/* The sandbox translator of "payment_result" events: the gateway adapter
 * reads the answer, the host settles the payment, and the event becomes
 * payment_authorized / _captured / _voided / _refunded or payment_failed. */
int l_payments_result(lua_State *L);

/* The translator of every other effect answer (topic "*"): adds ev.order
 * when the effect belongs to an order; the name stays. */
int l_effects_answer(lua_State *L);

#endif
