-- Specs for workflows/subscription.lua and scripts/flows/subscription.lua
-- (build/ordo test -c tests/workflows/ordo-test.yaml). Merchant "box" is in
-- Europe/Berlin; the New York cases are in subscription_ny_spec.lua.

local spec = { merchant = "box" }

local n = 0
local function box_order(sku, fields)
  n = n + 1
  local o = {
    id = 7712345678901000 + n, name = "#B" .. n, email = "ada@example.com", currency = "EUR",
    total_price = "30.00", subtotal_price = "30.00", total_tax = "0.00", total_discounts = "0.00",
    financial_status = "paid",
    customer = { id = 1, email = "ada@example.com", first_name = "Ada", last_name = "L" },
    line_items = { { id = 1, sku = sku or "BOX-MONTHLY", title = "Coffee box", quantity = 1,
                     price = "30.00", total_discount = "0.00" } },
  }
  for k, v in pairs(fields or {}) do o[k] = v end
  return o
end

-- The renewal orders, oldest first.
local function renewals()
  local out = {}
  for _, o in ipairs(orders.list()) do
    if o.channel == "subscription" then table.insert(out, 1, orders.get(o.id)) end
  end
  return out
end

local function created_at(list)
  local t = {}
  for _, o in ipairs(list) do t[#t + 1] = o.created_at end
  return table.concat(t, " ")
end

local function start(at, sku)
  clock.set(at)
  webhook { topic = "orders/create", body = box_order(sku) }
end

spec["monthly from Jan 31 renews on the last day of short months, 09:00 Berlin across DST"] = function()
  start("2026-01-31T08:00:00Z")                       -- 09:00 CET
  clock.advance("100d")
  expect_eq(created_at(renewals()),
    "2026-02-28T08:00:00.000Z 2026-03-31T07:00:00.000Z 2026-04-30T07:00:00.000Z")
  for _, o in ipairs(renewals()) do
    expect_eq(o.payment_status, "paid", o.number)
    expect_eq(o.total, 3000)
  end
end

spec["Feb 29 in a leap year, and back to the 31st"] = function()
  start("2028-01-31T08:00:00Z")
  clock.advance("62d")
  expect_eq(created_at(renewals()), "2028-02-29T08:00:00.000Z 2028-03-31T07:00:00.000Z")
end

spec["a year of monthly renewals, two of them declined once"] = function()
  start("2026-01-15T08:00:00Z")
  answers.decline("authorize", 2)                      -- the first two renewal charges
  clock.advance("366d")
  local list = renewals()
  expect_eq(#list, 12, "twelve renewals")
  for _, o in ipairs(list) do expect_eq(o.payment_status, "paid", o.number) end
  local sub = list[1].subscription_id
  expect(sub, "renewals link to their subscription")
end

spec["dunning: a decline is retried on the same order and recovers on the second retry"] = function()
  start("2026-01-15T08:00:00Z")
  clock.advance("31d")                                 -- first renewal, paid
  answers.decline("authorize", 2)                      -- renewal 2 and its first retry
  clock.advance("28d")                                 -- renewal 2 due Mar 15, declined
  local r = renewals()
  expect_eq(#r, 2)
  expect_eq(r[2].payment_status, "unpaid")
  clock.advance("1d")                                  -- retry 1: declined
  clock.advance("3d")                                  -- retry 2: paid
  r = renewals()
  expect_eq(#r, 2, "retries reuse the renewal order")
  expect_eq(r[2].payment_status, "paid")
  local failed = 0
  for _, p in ipairs(r[2].payments) do
    if p.kind == "authorization" and p.status == "failed" then failed = failed + 1 end
  end
  expect_eq(failed, 2)
end

spec["dunning: every retry declined ends past due, then canceled after the grace"] = function()
  start("2026-01-15T08:00:00Z")
  clock.advance("31d")
  answers.decline("authorize")                         -- from now on, always
  clock.advance("28d")                                 -- renewal 2 declined
  clock.advance("12d")                                 -- retries after 1, 3 and 7 days
  local r = renewals()
  expect_eq(#r, 2)
  expect_eq(r[2].payment_status, "unpaid")
  clock.advance("8d")                                  -- the grace week
  r = renewals()
  expect_eq(r[2].status, "canceled")
  clock.advance("90d")
  expect_eq(#renewals(), 2, "a canceled subscription renews no more")
end

spec["ordo down across two due dates: each missed renewal fires once, late, and is skipped"] = function()
  start("2026-01-15T08:00:00Z")
  clock.jump("62d")                                    -- Feb 15 and Mar 15 pass while down
  local r = renewals()
  expect_eq(#r, 2, "one renewal order per missed date")
  for _, o in ipairs(r) do
    expect_eq(o.status, "canceled", "the workflow skips a missed window")
    expect_eq(o.payment_status, "unpaid")
  end
  clock.advance("31d")
  r = renewals()
  expect_eq(#r, 3)
  expect_eq(r[3].payment_status, "paid", "back on schedule")
  expect_eq(r[3].created_at, "2026-04-15T07:00:00.000Z")
end

spec["pause, then resume: no renewals while paused, back on the original schedule"] = function()
  start("2026-01-15T08:00:00Z")
  clock.advance("31d")                                 -- Feb 15 renewal
  expect_eq(#renewals(), 1)
  event("pause_requested", { subscription = renewals()[1].subscription_id })
  clock.advance("60d")                                 -- Mar 15 and Apr 15 do not happen
  expect_eq(#renewals(), 1)
  event("resume_requested", { subscription = renewals()[1].subscription_id })
  clock.advance("40d")
  local r = renewals()
  expect_eq(#r, 2)
  expect_eq(r[2].created_at, "2026-05-15T07:00:00.000Z", "the next date on the old schedule")
end

spec["skip the next cycle"] = function()
  start("2026-01-15T08:00:00Z")
  clock.advance("1d")
  event("skip_requested", { subscription = subscriptions()[1].id })
  clock.advance("62d")                                 -- Feb 15 skipped, Mar 15 renews
  local r = renewals()
  expect_eq(#r, 1)
  expect_eq(r[1].created_at, "2026-03-15T08:00:00.000Z")   -- 09:00 CET (DST begins Mar 29)
  expect_eq(r[1].renewal_cycle, 2, "the skipped cycle counts as a period")
end

spec["cancel at period end: the paid period runs out, nothing renews"] = function()
  start("2026-01-15T08:00:00Z")
  clock.advance("31d")
  event("subscription_cancel_requested", { subscription = renewals()[1].subscription_id, at_period_end = true })
  clock.advance("90d")
  expect_eq(#renewals(), 1, "no renewal after the period ends")
end

spec["an order canceled through the API is the order's cancel, not the subscription's"] = function()
  start("2026-01-15T08:00:00Z")
  local o = orders.list()[1]
  event("cancel_requested", { order_id = o.id, reason = "changed my mind" })
  expect_eq(orders.get(o.id).status, "canceled")
  expect_eq(subscriptions()[1].status, "active", "the subscription is its own business")
end

return spec
