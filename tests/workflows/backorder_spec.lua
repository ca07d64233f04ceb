-- Specs for workflows/backorder.lua and scripts/flows/routing.lua: stock is
-- reserved without overselling, short lines wait first come first served,
-- and stock that arrives (or is given back) serves the queue in order.

local spec = { merchant = "depot" }

local n = 0
local function order(lines, fields)
  n = n + 1
  local items = {}
  for i, l in ipairs(lines) do
    items[i] = { id = i, sku = l[1], title = l[1], quantity = l[2], price = "10.00",
                 total_discount = "0.00" }
  end
  local o = {
    id = 9912345678901000 + n, name = "#D" .. n, email = "c@example.com", currency = "USD",
    total_price = "10.00", subtotal_price = "10.00", total_tax = "0.00", total_discounts = "0.00",
    financial_status = "paid", line_items = items,
    shipping_address = { country_code = "US", province_code = "OR", city = "Portland" },
  }
  for k, v in pairs(fields or {}) do o[k] = v end
  webhook { topic = "orders/create", body = o }
  return orders.get { channel = "shopify", external_id = tostring(o.id) }, o
end

local function stock_of(sku)
  local t = {}
  for _, s in ipairs(stock.list(sku)) do
    t[#t + 1] = ("%s:%d/%d"):format(s.location, s.on_hand, s.reserved)
  end
  return table.concat(t, " ")
end

local function notes(o)
  local t = {}
  for _, h in ipairs(orders.get(o.id).history) do
    if h.kind == "note" then t[#t + 1] = h.message end
  end
  return t
end

spec["backorders A, B, C are served first come, partially when short"] = function()
  stock.set("MUG", "portland", 1)
  local a = order { { "MUG", 3 } }                   -- 1 reserved, 2 waiting
  local b = order { { "MUG", 2 } }                   -- 2 waiting
  local c = order { { "MUG", 1 } }                   -- 1 waiting
  expect_eq(orders.get(a.id).lines[1].reserved, 1)
  expect_eq(orders.get(a.id).fulfillment_status, "backordered", "partly waiting is backordered")
  expect_eq(orders.get(b.id).fulfillment_status, "backordered")
  stock.receive("MUG", "portland", 3)                -- 2 for A, 1 for B
  expect_eq(orders.get(a.id).lines[1].reserved, 3)
  expect_eq(orders.get(a.id).lines[1].backordered, 0)
  expect_eq(orders.get(b.id).lines[1].reserved, 1)
  expect_eq(orders.get(b.id).lines[1].backordered, 1)
  expect_eq(orders.get(c.id).lines[1].backordered, 1, "C still waits: first come")
  expect_eq(notes(a)[#notes(a)], "Stock arrived: 2 x MUG reserved")
  expect_eq(notes(b)[#notes(b)], "Stock arrived: 1 x MUG reserved, 1 still waiting")
  stock.receive("MUG", "reno", 5)                    -- B's last one, then C
  expect_eq(orders.get(b.id).lines[1].backordered, 0)
  expect_eq(orders.get(c.id).lines[1].reserved, 1)
  expect_eq(stock_of("MUG"), "portland:4/4 reno:5/2", "never more reserved than on hand")
end

spec["one location ships the whole order when it can, else the fewest split"] = function()
  stock.set("CUP", "portland", 1)
  stock.set("CUP", "reno", 5)
  stock.set("LID", "reno", 5)
  local o = order { { "CUP", 2 }, { "LID", 2 } }     -- Reno has both: one shipment
  expect_eq(stock_of("CUP"), "portland:1/0 reno:5/2")
  stock.set("BAG", "portland", 2)
  stock.set("BAG", "shop", 2)
  local p = order { { "BAG", 3 } }                   -- nobody has 3: split
  expect_eq(stock_of("BAG"), "portland:2/2 shop:2/1")
  expect_eq(orders.get(p.id).lines[1].reserved, 3)
  expect_eq(orders.get(o.id).lines[2].reserved, 2)
end

spec["a cancellation gives its stock to the next order in the queue"] = function()
  stock.set("PEN", "portland", 2)
  local a = order { { "PEN", 2 } }
  local b = order { { "PEN", 1 } }                   -- waits
  expect_eq(orders.get(b.id).fulfillment_status, "backordered")
  webhook { topic = "orders/cancelled", body = { id = tonumber(orders.get(a.id).external_id),
    name = "#x", currency = "USD", total_price = "10.00", line_items = {}, cancel_reason = "customer" } }
  expect_eq(orders.get(a.id).status, "canceled")
  expect_eq(orders.get(b.id).lines[1].reserved, 1, "B got one of A's")
  expect_eq(stock_of("PEN"), "portland:2/1")
end

spec["stock is never oversold: 30 orders for 10 units"] = function()
  stock.set("LAST", "portland", 10)
  for i = 1, 30 do order { { "LAST", 1 } } end
  local reserved, waiting = 0, 0
  for _, o in ipairs(orders.list()) do
    local l = orders.get(o.id).lines[1]
    reserved = reserved + l.reserved
    waiting = waiting + l.backordered
  end
  expect_eq(reserved, 10)
  expect_eq(waiting, 20)
  expect_eq(stock_of("LAST"), "portland:10/10")
end

return spec
