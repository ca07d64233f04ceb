-- Subscription building blocks: start a subscription from an order line,
-- charge renewals, and dunning — the merchant's policy, in one place.
--
--   local sub = require "flows.subscription"
--   sub.retry_after = { "1d", "3d", "7d" }   -- change a line to change dunning
--
-- The host owns the schedule (subscriptions.*): dates in the subscription's
-- time zone, renewal orders made exactly once, timers that survive restarts.
-- What to do with a renewal — charge it, remind the customer, retry a
-- declined card, give up — is decided here.

local M = {
  retry_after = { "1d", "3d", "7d" },  -- retries of a declined renewal charge
  grace = "7d",                         -- past_due this long after the last, then cancel
  remind_before = "3d",                 -- a reminder this long before each renewal
  missed_window = "2d",                 -- a renewal this late (ordo was down) is skipped
}

-- The order template of a subscription for line `i` of `order`.
function M.template(order, i)
  local line = order.lines[i]
  local total = line.total
  return {
    currency = order.currency, email = order.email, customer = order.customer,
    shipping_address = order.shipping_address, subtotal = total, total = total,
    lines = { { sku = line.sku, title = line.title, quantity = line.quantity,
                unit_price = line.unit_price, total = total } },
  }
end

-- Start a subscription for line `i` of `order` on `plan` ({interval=, count=}).
function M.start(order, i, plan)
  local s = subscriptions.create {
    order = M.template(order, i), interval = plan.interval, count = plan.count or 1,
    max_cycles = plan.max_cycles, external_id = ("order-%d-line-%d"):format(order.id, i),
  }
  M.remind(s)
  return s
end

local UNIT_MS = { d = 86400000, h = 3600000, m = 60000, s = 1000 }

-- "3d" -> milliseconds.
local function ms_of(text)
  local n, unit = tostring(text):match("^(%d+)([dhms])$")
  if not n then error("expected a duration such as 3d, 12h or 30m, not " .. tostring(text)) end
  return tonumber(n) * UNIT_MS[unit]
end

-- A reminder ahead of the next renewal, if the merchant has the template.
function M.remind(s)
  if not (s.next_renewal_ms and notify.has_template("subscription_reminder")) then return end
  local at = s.next_renewal_ms - ms_of(M.remind_before)
  if at > now() then
    timers.at(at, "subscription_reminder", { subscription_id = s.id }, "remind-" .. s.id)
  end
end

-- Is a renewal event so late that its window has passed? (ordo was down)
local function too_late(ev)
  return ev.timer ~= nil and ev.timer.late_ms > ms_of(M.missed_window)
end

-- subscription_renewal_due: charge the renewal order, unless its window has
-- passed while ordo was down.
function M.renewal_due(ev)
  if too_late(ev) then
    orders.set_status(ev.order, "canceled", "renewal window missed while ordo was down")
    return "skipped"
  end
  payments.authorize(ev.order)
  M.remind(ev.subscription)
  return "charging"
end

local function failed_attempts(order)
  local n = 0
  for _, p in ipairs(order.payments or {}) do
    if p.kind == "authorization" and p.status == "failed" then n = n + 1 end
  end
  return n
end

-- payment_failed for a renewal: retry later, then past_due, then cancel.
-- Returns false for an order that is not a renewal.
function M.payment_failed(ev)
  local order = ev.order
  if not order.subscription_id or ev.operation ~= "authorize" then return false end
  local attempt = failed_attempts(order)
  local key = "dunning-" .. order.id
  if attempt <= #M.retry_after then
    timers.after(M.retry_after[attempt], "dunning_retry", { order_id = order.id }, key)
    orders.note(order, ("Renewal charge declined (attempt %d); retrying in %s")
      :format(attempt, M.retry_after[attempt]))
    if notify.has_template("payment_failed") then
      notify.customer(order, "payment_failed", { attempt = attempt })
    end
  else
    subscriptions.set_status(order.subscription_id, "past_due",
      ("renewal charge declined %d times"):format(attempt))
    timers.after(M.grace, "dunning_cancel", { order_id = order.id }, key)
    orders.note(order, "Renewal unpaid after every retry; subscription past due")
  end
  return true
end

-- dunning_retry: charge the same renewal order again (never a new one).
function M.retry(ev)
  local order = orders.get(ev.order_id)
  if order and order.status ~= "canceled" and order.payment_status == "unpaid" then
    payments.authorize(order)
  end
end

-- dunning_cancel: still unpaid at the end of the grace period.
function M.give_up(ev)
  local order = orders.get(ev.order_id)
  if order and order.payment_status ~= "paid" then
    subscriptions.cancel(order.subscription_id, "unpaid after dunning")
    orders.set_status(order, "canceled", "unpaid after dunning")
  end
end

-- A renewal order got paid: dunning is over.
function M.paid(order)
  if not order.subscription_id then return end
  timers.cancel("dunning-" .. order.id)
  local s = subscriptions.get(order.subscription_id)
  if s and s.status == "past_due" then
    subscriptions.set_status(s, "active", "renewal paid")
  end
end

return M
