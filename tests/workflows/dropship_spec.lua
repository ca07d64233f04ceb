-- Specs for workflows/dropship.lua and scripts/flows/dropship.lua.

local spec = { merchant = "studio" }

local n = 0
local function order(lines)
  n = n + 1
  local items = {}
  for i, l in ipairs(lines) do
    items[i] = { id = i, sku = l[1], title = l[1], quantity = l[2], price = "100.00", total_discount = "0.00" }
  end
  local body = { id = 6612345678901000 + n, name = "#S" .. n, email = "d@example.com", currency = "USD",
    total_price = "100.00", subtotal_price = "100.00", total_tax = "0.00", total_discounts = "0.00",
    financial_status = "paid", line_items = items,
    shipping_address = { name = "Dee", address1 = "1 Main St", city = "Chicago", country_code = "US" } }
  webhook { topic = "orders/create", body = body }
  return orders.get { channel = "shopify", external_id = tostring(body.id) }
end

local function request()
  for _, e in ipairs(effects { kind = "http" }) do
    if e.body and e.body.type == "dropship" then return e.body end
  end
end

spec["supplier lines are forwarded, the rest comes from our stock"] = function()
  stock.set("CHAIR", "main", 5)
  local o = order { { "DESK-OAK", 1 }, { "CHAIR", 2 } }
  local req = request()
  expect(req, "a dropship request went to the supplier")
  expect_eq(req.lines[1].sku, "DESK-OAK")
  expect_eq(req.shipping_address.city, "Chicago")
  o = orders.get(o.id)
  expect_eq(o.lines[1].fulfillment, "dropship")
  expect_eq(o.lines[2].reserved, 2)
  webhook { channel = "supplier", supplier = "woodworks", topic = "dropship.accepted",
            body = { dropship_id = req.dropship_id } }
  webhook { channel = "supplier", supplier = "woodworks", topic = "dropship.shipped",
            body = { dropship_id = req.dropship_id, carrier = "FedEx", tracking_number = "FX9" } }
  o = orders.get(o.id)
  expect_eq(o.lines[1].fulfilled_quantity, 1)
  expect_eq(o.fulfillment_status, "partially_fulfilled")
  expect_eq(stock.list("CHAIR")[1].on_hand, 5, "our stock untouched by the supplier's shipment")
end

spec["a rejected drop-ship is backordered"] = function()
  local o = order { { "LAMP-BRASS", 2 } }
  local req = request()
  webhook { channel = "supplier", supplier = "woodworks", topic = "dropship.rejected",
            body = { dropship_id = req.dropship_id, reason = "discontinued" } }
  o = orders.get(o.id)
  expect_eq(o.lines[1].backordered, 2)
  expect_eq(o.fulfillment_status, "backordered")
end

return spec
