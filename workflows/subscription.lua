-- Subscription box: a monthly coffee box sold on the storefront.
--
-- The first order is paid like any order; its subscription line starts a
-- subscription that renews every month on the same day (in the merchant's
-- time zone). Each renewal is charged through the gateway; a declined card
-- is retried after 1, 3 and 7 days (flows/subscription.lua), then the
-- subscription is past due and canceled after a week's grace. Customers get
-- a reminder three days before each renewal.

local sub = require "flows.subscription"

-- Which SKUs are subscriptions, and how often they renew.
local PLANS = {
  ["BOX-MONTHLY"] = { interval = "month" },
  ["BOX-WEEKLY"] = { interval = "week" },
}

local flow = {}

function flow.order_created(ev)
  local order, created = orders.create(ev.order)
  if not created then return end
  for i, line in ipairs(order.lines) do
    local plan = PLANS[line.sku]
    if plan then sub.start(order, i, plan) end
  end
  if ev.order.financial_status == "paid" then
    orders.mark_paid(order)
  elseif payments.gateway() then
    payments.authorize(order)
  end
end

function flow.subscription_renewal_due(ev)
  sub.renewal_due(ev)
end

function flow.payment_authorized(ev)
  payments.capture(ev.order)   -- what the order owes; owing nothing, the host voids it
end

function flow.payment_captured(ev)
  sub.paid(ev.order)
  if notify.has_template("order_confirmation") then
    notify.customer(ev.order, "order_confirmation",
      { total = money.format(ev.order.total, ev.order.currency) })
  end
end

function flow.payment_failed(ev)
  if not sub.payment_failed(ev) then
    orders.tag(ev.order, "payment-failed")
  end
end

flow.dunning_retry = sub.retry
flow.dunning_cancel = sub.give_up

function flow.subscription_reminder(ev)
  local s = subscriptions.get(ev.subscription_id)
  if s and s.status == "active" then
    -- The subscription's order template has the customer's email.
    log.info("renewal reminder", { subscription = s.id, next = s.next_renewal })
  end
end

-- POST /api/v1/orders/{id}/cancel: the order's stock, payment and links
-- (flows/cancel.lua), as in the other workflows.
flow.cancel_requested = require("flows.cancel").requested

-- The API's subscription actions (POST /api/v1/subscriptions/{id}/pause,
-- /resume, /skip, /cancel) act at once and then raise subscription_paused,
-- ... for the workflow. These handlers take the same requests as events
-- (ev.subscription is the subscription's id), for a flow that decides
-- itself; the specs raise them with event().
function flow.pause_requested(ev) subscriptions.pause(ev.subscription, ev["until"]) end
function flow.resume_requested(ev) subscriptions.resume(ev.subscription) end
function flow.skip_requested(ev) subscriptions.skip(ev.subscription) end
function flow.subscription_cancel_requested(ev)
  subscriptions.cancel(ev.subscription, { at_period_end = ev.at_period_end, reason = ev.reason })
end

return flow
