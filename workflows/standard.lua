-- Standard flow: pay, then ship.
--
-- Record every storefront order, take the payment through the merchant's
-- gateway (unless the storefront already captured it), send the
-- confirmation, cancel or hold the order when the payment fails, and note
-- refunds made on the storefront.
--
-- Each handler is named after the event it handles and gets the event
-- table: ev.order (the order as the channel adapter mapped it, or the
-- stored order for payment events), ev.payment, ev.refund, ev.channel,
-- ev.topic, ev.id. Everything a handler changes, and every call it asks
-- for (payments, notifications), is committed together or not at all.

local flow = {}

local shipping = require "flows.shipping"
local cancel = require "flows.cancel"
local edits = require "flows.edits"
local returns_flow = require "flows.returns"

-- A carrier's "delivered" marks the shipment delivered.
flow.carrier_delivered = shipping.carrier_delivered

-- The merchant's choices. Change a line here, reload (kill -HUP), done.
local CAPTURE = "immediately"      -- "immediately" | "on_fulfillment"
local ON_PAYMENT_FAILURE = "hold"  -- "hold" (tag it, a person looks) | "cancel"

local function confirm(order)
  if notify.has_template("order_confirmation") then
    notify.customer(order, "order_confirmation",
      { total = money.format(order.total, order.currency) })
  end
end

-- POST /api/v1/orders/{id}/cancel: stock back, payment voided or refunded
-- (with "lines": those units only, the payment following the new total).
flow.cancel_requested = cancel.requested

-- POST /api/v1/orders/{id}/edits: lines added or quantities changed before
-- anything ships; the payment follows the new total (see flows/edits.lua).
-- This flow holds no stock, so nothing is reserved.
flow.edit_requested = edits.handler { reserve = false }

-- Returns and exchanges: approved within 30 days of delivery, refunded on
-- receipt, the customer told (see flows/returns.lua).
returns_flow.install(flow)

function flow.order_created(ev)
  local order, created = orders.create(ev.order)
  if not created then return end   -- a repeat of an order we already have
  if ev.order.financial_status == "paid" then
    orders.mark_paid(order)          -- the storefront already captured the payment
    confirm(order)
  elseif payments.gateway() and order.total > 0 then
    payments.authorize(order)        -- the answer comes back as payment_authorized
  else
    confirm(order)
  end
  log.info("order recorded", { order = order.id, total = money.format(order.total, order.currency) })
end

-- The first authorization confirms the order; a later one pays for an edit.
local function first_authorization(order)
  local n = 0
  for _, p in ipairs(order.payments or {}) do
    if p.kind == "authorization" and p.status == "succeeded" then n = n + 1 end
  end
  return n <= 1
end

function flow.payment_authorized(ev)
  if ev.order.status == "canceled" then
    payments.void(ev.order)          -- cancelled while the authorization was on its way
    return
  end
  -- The capture takes what the order owes now; when an edit lowered the
  -- total meanwhile and it owes nothing, the host voids the authorization
  -- instead. Captured on fulfillment, it is held only if still needed.
  if CAPTURE == "immediately" then
    payments.capture(ev.order)
  end
  if CAPTURE == "on_fulfillment" then payments.release(ev.order) end
  if first_authorization(ev.order) then confirm(ev.order) end
end

function flow.payment_unresolved(ev)
  -- The gateway never gave a final answer: it may have charged. The money
  -- stays held in ordo until a person retries the effect (same key: the
  -- gateway then says what it did), so nothing is asked twice.
  orders.tag(ev.order, "payment-unresolved")
  orders.note(ev.order, ("Payment %s unresolved: %s"):format(ev.operation, ev.error))
end

function flow.order_shipped(ev)
  -- A shipment left (the warehouse's API call, or fulfillment.advance):
  -- with CAPTURE = "on_fulfillment" this is where the money is taken.
  if CAPTURE == "on_fulfillment" then
    -- Every authorization still held (an edit adds one): each capture
    -- takes what the order still owes, and one it no longer needs is
    -- voided instead, so none is left holding the customer's money.
    for _ = 1, 64 do
      if payments.balance(ev.order).open <= 0 then break end
      payments.capture(ev.order)
    end
  end
  shipping.notify_shipped(ev)          -- the "shipped" template, with the tracking link
end

function flow.payment_captured(ev)
  cancel.payment_captured(ev)          -- lines canceled while it was in flight: refund them
  orders.note(ev.order, "Payment captured: " ..
    money.format(ev.payment.amount, ev.payment.currency) .. " " .. ev.payment.currency)
end

function flow.payment_failed(ev)
  orders.note(ev.order, ("Payment %s failed: %s"):format(ev.operation, ev.error))
  if ON_PAYMENT_FAILURE == "cancel" and ev.operation == "authorize" then
    orders.set_status(ev.order, "canceled", "payment failed: " .. ev.error)
  else
    orders.tag(ev.order, "payment-failed")
  end
end

function flow.order_updated(ev)
  -- An update can arrive before the creation we missed: record it then.
  orders.create(ev.order)
end

function flow.order_paid(ev)
  local order = orders.get(ev.order) or orders.create(ev.order)
  orders.mark_paid(order)
end

function flow.order_cancelled(ev)
  local order = orders.get(ev.order) or orders.create(ev.order)
  local why = ev.order.cancel_reason or "cancelled on " .. ev.channel
  orders.set_status(order, "canceled", why)
  -- A canceled order owes nothing: every hold on the card released (an
  -- edit adds one), what our gateway captured refunded, what the storefront
  -- took tagged refund-on-storefront; a capture still on its way is
  -- settled when it lands (payment_captured).
  if payments.gateway() then cancel.settle(order, why) end
end

function flow.refund_created(ev)
  local refund = ev.refund
  local order = orders.get { channel = ev.channel, external_id = refund.order_external_id }
  if not order then
    error("refund " .. refund.external_id .. " is for order " .. refund.order_external_id
      .. ", which ordo has not seen")
  end
  -- Recorded once as a refund on the order; one ordo sent itself through the
  -- gateway, reported back by the storefront, is matched, not counted twice.
  -- More than ordo knows was captured (the storefront took the money
  -- without telling us) is noted and tagged for a person, not retried.
  local ok, outcome = true, "no money"
  if refund.amount > 0 then ok, outcome = pcall(orders.storefront_refund, order, refund) end
  if not ok then orders.tag(order, "refund-unreconciled") end
  if outcome ~= "matched" and outcome ~= "duplicate" then
    orders.note(order, ("Refund of %s %s issued on %s%s%s"):format(
      money.format(refund.amount, refund.currency), refund.currency, ev.channel,
      refund.reason and (": " .. refund.reason) or "",
      ok and "" or (" (not recorded: " .. tostring(outcome) .. ")")))
  end
end

function flow.notification_failed(ev)
  log.warn("customer notification failed", { order = ev.order_id, error = ev.error })
end

return flow
