-- workflows/subscription.lua for a New York merchant: weekly renewals keep
-- 09:00 local across both DST changes of 2026.

local spec = { merchant = "box-ny" }

local function weekly_order()
  return {
    id = 8812345678901001, name = "#NY1", email = "grace@example.com", currency = "USD",
    total_price = "12.00", subtotal_price = "12.00", total_tax = "0.00", total_discounts = "0.00",
    financial_status = "paid",
    customer = { id = 2, email = "grace@example.com", first_name = "Grace", last_name = "H" },
    line_items = { { id = 1, sku = "BOX-WEEKLY", title = "Weekly beans", quantity = 1,
                     price = "12.00", total_discount = "0.00" } },
  }
end

local function renewal_times()
  local t = {}
  for _, o in ipairs(orders.list()) do
    if o.channel == "subscription" then table.insert(t, 1, o.created_at) end
  end
  return t
end

spec["weekly at 09:00 New York time across the March change"] = function()
  clock.set("2026-03-02T14:00:00Z")                     -- Monday 09:00 EST
  webhook { topic = "orders/create", body = weekly_order() }
  clock.advance("15d")
  local t = renewal_times()
  expect_eq(t[1], "2026-03-09T13:00:00.000Z", "09:00 EDT, the day after the change")
  expect_eq(t[2], "2026-03-16T13:00:00.000Z")
end

spec["weekly at 09:00 New York time across the November change"] = function()
  clock.set("2026-10-26T13:00:00Z")                     -- Monday 09:00 EDT
  webhook { topic = "orders/create", body = weekly_order() }
  clock.advance("8d")
  local t = renewal_times()
  expect_eq(t[1], "2026-11-02T14:00:00.000Z", "09:00 EST, the day after the change")
end

return spec
