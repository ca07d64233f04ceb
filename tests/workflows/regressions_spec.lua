-- Regression specs: each reproduces a defect that was fixed, on merchant
-- "lab" (tests/workflows/regressions.lua, UTC, locations a, b and twelve
-- stores). Run with build/ordo test -c tests/workflows/ordo-test.yaml.

local spec = { merchant = "lab" }

local DAY = 86400000

local function renewals()
  local n = 0
  for _, o in ipairs(orders.list()) do
    if o.channel == "subscription" then n = n + 1 end
  end
  return n
end

local function sub(id) return subscriptions()[id or 1] end

local n_orders = 0
-- A paid storefront order of { {sku, quantity}, ... }; note "noreserve"
-- keeps the workflow from reserving it.
local function order(lines, note)
  n_orders = n_orders + 1
  local items = {}
  for i, l in ipairs(lines) do
    items[i] = { id = i, sku = l[1], title = l[1], quantity = l[2], price = "10.00",
      total_discount = "0.00" }
  end
  local o = { id = 9912345678901000 + n_orders, name = "#L" .. n_orders, email = "c@example.com",
    currency = "USD", total_price = "10.00", subtotal_price = "10.00", total_tax = "0.00",
    total_discounts = "0.00", financial_status = "paid", line_items = items, note = note }
  webhook { topic = "orders/create", body = o }
  return orders.get { channel = "shopify", external_id = tostring(o.id) }
end

-- The one event that failed for good (after its retries), and its error.
local function the_dead_letter()
  clock.advance("1m")
  local d = dead_letters()
  expect_eq(#d, 1, "dead letters")
  return d[1]
end

spec["a 90-day plan keeps renewing past 1000 days from its start"] = function()
  local start = clock.now()
  event("make_sub", { interval = "day", count = 90 })
  clock.advance("1500d")                   -- 16 renewals; the 12th is 1080 days out
  expect_eq(renewals(), 16)
  expect_eq(sub().cycle, 16)
  expect_eq(sub().status, "active")
  expect_eq(sub().next_renewal_at, start + 17 * 90 * DAY)
  expect_eq(#dead_letters(), 0)
end

spec["a monthly plan from Jan 31 stays on month ends for 90 years"] = function()
  clock.set("2026-01-31T09:00:00Z")
  event("make_sub", { interval = "month" })
  clock.set("2116-01-31T10:00:00Z")         -- 1080 months: past calendar_add's 1000
  expect_eq(sub().cycle, 1080)
  expect_eq(clock.iso(sub().next_renewal_at), "2116-02-29T09:00:00.000Z")
  expect_eq(#dead_letters(), 0)
end

spec["a daily plan paused for 1500 days renews again when the pause ends"] = function()
  local start = clock.now()
  event("make_sub", { interval = "day" })
  event("pause", { sub = 1, ["until"] = start + 1500 * DAY })
  expect_eq(sub().next_renewal_at, start + 1500 * DAY)
  clock.advance("1600d")
  expect_eq(sub().status, "active")
  expect_eq(renewals(), 101)                -- days 1500 to 1600
  expect_eq(#timers(), 1)
  expect_eq(#dead_letters(), 0)
end

spec["a daily plan resumed after 1100 days paused renews the next day"] = function()
  event("make_sub", { interval = "day" })
  clock.advance("2d")
  event("pause", { sub = 1 })
  clock.advance("1100d")
  event("resume", { sub = 1 })
  expect_eq(sub().status, "active")
  expect(sub().next_renewal_at > clock.now() and sub().next_renewal_at <= clock.now() + DAY,
    "the next renewal is within a day")
  clock.advance("1d")
  expect_eq(renewals(), 3)
  expect_eq(#dead_letters(), 0)
end

spec["a pause that fails under pcall leaves the subscription as it was"] = function()
  event("make_sub", { interval = "day" })
  local next = sub().next_renewal_at
  -- No renewal can be counted to year 10000: the pause fails after the
  -- status was written; the script catches the error and carries on.
  event("try_pause", { sub = 1, ["until"] = 253402300800000 + DAY })
  expect_eq(sub().status, "active")
  expect_eq(sub().next_renewal_at, next)
  expect_eq(#timers(), 1)
  clock.advance("1d")
  expect_eq(renewals(), 1)
end

spec["a renewal waiting for its retry follows a new next date"] = function()
  event("make_sub", { interval = "day", external_id = "flaky" })
  clock.set(sub().next_renewal_at)          -- the first attempt fails: a retry waits
  expect_eq(renewals(), 0)
  local target = clock.now() + 10 * DAY
  event("set_next", { sub = 1, at = target })
  clock.advance("1m")                       -- the retry of the old date: stale
  expect_eq(renewals(), 0)
  expect_eq(sub().cycle, 0)
  expect_eq(sub().next_renewal_at, target)
  clock.set(target + 60000)
  expect_eq(renewals(), 1)
  expect(orders.list()[1].created_at >= clock.iso(target), "renewed on the new date")
  expect_eq(sub().next_renewal_at, target + DAY)
end

spec["a shipment listing a line twice is refused"] = function()
  stock.set("X", "a", 5)
  local o = order { { "X", 5 } }
  event("ship", { order_id = o.id, location = "a", advance = "shipped",
    lines = { { line = 1, quantity = 5 }, { line = 1, quantity = 5 } } })
  local d = the_dead_letter()
  expect(d.error:find("line 1 is listed twice", 1, true), d.error)
  expect_eq(orders.get(o.id).lines[1].reserved, 5)
  expect_eq(stock.list("X")[1].on_hand, 5)
end

spec["a drop-ship listing a line twice is refused"] = function()
  local o = order({ { "X", 3 } }, "noreserve")
  event("forward", { order_id = o.id, lines = { { line = 1, quantity = 2 }, { line = 1, quantity = 2 } } })
  local d = the_dead_letter()
  expect(d.error:find("line 1 is listed twice", 1, true), d.error)
  expect_eq(orders.get(o.id).lines[1].fulfillment ~= "dropship", true)
end

spec["a backorder served from twelve locations at once"] = function()
  for i = 0, 11 do stock.set("X", ("store-number-%02d-downtown"):format(i), 1) end
  local o = order({ { "X", 13 } }, "noreserve")
  event("backorder", { order_id = o.id, lines = { { line = 1, quantity = 13 } } })
  stock.receive("X", "a", 1)                -- allocates from all thirteen
  local l = orders.get(o.id).lines[1]
  expect_eq(l.reserved, 13)
  expect_eq(l.backordered, 0)
end

spec["routing again after a partial shipment plans only what is not shipped"] = function()
  stock.set("X", "a", 3)
  local o = order { { "X", 5 } }            -- 3 reserved at a, 2 short
  event("ship", { order_id = o.id, location = "a", advance = "shipped" })
  stock.receive("X", "a", 10)
  event("route", { order_id = o.id })
  local l = orders.get(o.id).lines[1]
  expect_eq(l.fulfilled_quantity, 3)
  expect_eq(l.reserved, 2)
end

spec["a timer set again with the same key and time after it fired fires again"] = function()
  local o = order({ { "X", 1 } }, "noreserve")
  local function fired()
    local n = 0
    for _, h in ipairs(orders.get(o.id).history) do
      if h.kind == "note" and h.message == "fired k" then n = n + 1 end
    end
    return n
  end
  local at = clock.now() + 3600000
  event("set_timer", { order_id = o.id, key = "k", at = at })
  clock.advance("2h")
  expect_eq(fired(), 1)
  event("set_timer", { order_id = o.id, key = "k", at = at })
  clock.advance("1m")
  expect_eq(fired(), 2)
  expect_eq(#timers(), 0)
end

return spec
