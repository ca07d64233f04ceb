-- Specs for workflows/standard.lua (run: build/ordo test -c tests/workflows/ordo-test.yaml)
--
-- Each test starts from an empty database at 2026-01-05T09:00:00Z; effects
-- are answered by `answers` rules (default: success).

local spec = { merchant = "shop" }

local n = 0
local function order(fields)
  n = n + 1
  local o = {
    id = 5912345678901234000 + n, name = "#" .. (1000 + n), email = "ada@example.com",
    currency = "USD", total_price = "24.99", subtotal_price = "19.99",
    total_shipping_price_set = { shop_money = { amount = "5.00", currency_code = "USD" } },
    total_tax = "0.00", total_discounts = "0.00", financial_status = "pending",
    customer = { id = 7000000001, email = "ada@example.com", first_name = "Ada", last_name = "Lovelace" },
    line_items = { { id = 1, sku = "MUG", title = "Mug", quantity = 1, price = "19.99",
                     total_discount = "0.00" } },
  }
  for k, v in pairs(fields or {}) do o[k] = v end
  return o
end

local function ids(list, field)
  local out = {}
  for _, x in ipairs(list) do out[#out + 1] = tostring(x[field]) end
  return table.concat(out, ",")
end

spec["an unpaid order is authorized, captured and confirmed"] = function()
  local body = order()
  webhook { topic = "orders/create", body = body }
  local o = orders.get { channel = "shopify", external_id = tostring(body.id) }
  expect_eq(o.payment_status, "paid", "payment status")
  expect_eq(ids(o.payments, "kind"), "authorization,capture")
  expect_eq(o.total, 2499)
  local sent = notifications()
  expect_eq(#sent, 1, "one confirmation")
  expect_eq(sent[1].message.subject, "Order " .. body.name .. " confirmed")
  expect_eq(sent[1].message.body, "Hi Ada, 24.99 USD.")
  expect_eq(ids(webhooks_sent(), "topic"), "order.created,order.paid")
end

spec["a storefront capture skips the gateway"] = function()
  local body = order { financial_status = "paid" }
  webhook { topic = "orders/create", body = body }
  local o = orders.get { channel = "shopify", external_id = tostring(body.id) }
  expect_eq(o.payment_status, "paid")
  expect_eq(#effects { kind = "payment" }, 0, "nothing asked of the gateway")
  expect_eq(#notifications(), 1)
end

spec["a declined card holds the order for a person"] = function()
  answers.decline("authorize", 1)
  local body = order()
  webhook { topic = "orders/create", body = body }
  local o = orders.get { channel = "shopify", external_id = tostring(body.id) }
  expect_eq(o.status, "placed")
  expect_eq(o.payment_status, "unpaid")
  expect(table.concat(o.tags, ","):find("payment%-failed"), "tagged payment-failed")
  expect_eq(#notifications(), 0, "no confirmation for an unpaid order")
end

spec["a gateway that times out is retried with the same key, then succeeds"] = function()
  answers.timeout("capture", 2)
  local body = order()
  webhook { topic = "orders/create", body = body }
  local o = orders.get { channel = "shopify", external_id = tostring(body.id) }
  expect_eq(o.payment_status, "authorized", "the capture is still being retried")
  clock.advance("1m")                               -- past the backoff (1 s, 2 s, ...)
  o = orders.get(o.id)
  expect_eq(o.payment_status, "paid")
  local caps = effects { kind = "payment", status = "succeeded" }
  expect_eq(#caps, 2, "one authorize and one capture effect")
  expect_eq(caps[2].op, "capture")
  expect_eq(caps[2].attempts, 3, "two timeouts, then the answer")
end

spec["a cancellation voids the authorization"] = function()
  answers.add { kind = "payment", op = "authorize", status = 0, times = 1 } -- first try lost
  local body = order()
  webhook { topic = "orders/create", body = body }
  -- Cancelled while the authorization is still being retried.
  webhook { topic = "orders/cancelled", body = order { id = body.id, cancel_reason = "customer" } }
  clock.advance("1m")
  local o = orders.get { channel = "shopify", external_id = tostring(body.id) }
  expect_eq(o.status, "canceled")
  expect_eq(o.payment_status, "voided", "the late authorization was released")
  expect_eq(#effects { kind = "payment", status = "succeeded" }, 2, "authorize, then void")
  local pays = {}
  for _, p in ipairs(o.payments) do pays[#pays + 1] = p.kind .. ":" .. p.status end
  expect_eq(table.concat(pays, ","), "authorization:succeeded,void:succeeded")
end

spec["a gateway that never answers leaves the payment pending, not failed"] = function()
  answers.timeout("capture")                        -- every attempt
  local body = order()
  webhook { topic = "orders/create", body = body }
  clock.advance("10m")                              -- all four attempts spent
  local o = orders.get { channel = "shopify", external_id = tostring(body.id) }
  expect(table.concat(o.tags, ","):find("payment%-unresolved"), "tagged for a person")
  local capture
  for _, p in ipairs(o.payments) do if p.kind == "capture" then capture = p end end
  expect_eq(capture.status, "pending", "the money stays held: the gateway may have charged")
  expect_eq(#effects { kind = "payment", status = "dead" }, 1)
  expect_eq(o.payment_status, "authorized")
end

spec["a duplicate delivery is recorded once"] = function()
  local body = order()
  local first = webhook { topic = "orders/create", body = body, id = "same-delivery" }
  local again, dup = webhook { topic = "orders/create", body = body, id = "same-delivery" }
  expect_eq(again, first)
  expect_eq(dup, true)
  expect_eq(#orders.list(), 1)
  expect_eq(#effects { kind = "payment" }, 2)
end

local function two_lines()
  return order { total_price = "29.99", subtotal_price = "24.99",
    line_items = { { id = 1, sku = "MUG", title = "Mug", quantity = 1, price = "19.99", total_discount = "0.00" },
                   { id = 2, sku = "PEN", title = "Pen", quantity = 1, price = "5.00", total_discount = "0.00" } } }
end

local function amounts(o, kind)
  local out = {}
  for _, p in ipairs(o.payments) do
    if p.kind == kind then out[#out + 1] = p.amount .. ":" .. p.status end
  end
  return table.concat(out, ",")
end

spec["a line canceled while only authorized: the capture takes the new total"] = function()
  answers.add { kind = "payment", op = "authorize", status = 0, times = 1 } -- first try lost
  local body = two_lines()
  webhook { topic = "orders/create", body = body }
  local o = orders.get { channel = "shopify", external_id = tostring(body.id) }
  expect_eq(o.payment_status, "unpaid", "the authorization is on its way")
  event("cancel_requested", { order_id = o.id, lines = { { line = 2, quantity = 1 } }, reason = "no pens" })
  o = orders.get(o.id)
  expect_eq(o.total, 2499)
  expect_eq(o.lines[2].canceled_quantity, 1)
  expect_eq(amounts(o, "refund"), "", "nothing to refund yet")
  clock.advance("1m")
  o = orders.get(o.id)
  expect_eq(amounts(o, "authorization"), "2999:succeeded")
  expect_eq(amounts(o, "capture"), "2499:succeeded", "captured for less")
  expect_eq(o.payment_status, "paid")
  expect_eq(o.status, "placed")
end

spec["a line canceled after capture is refunded; the order stays paid"] = function()
  local body = two_lines()
  webhook { topic = "orders/create", body = body }
  local o = orders.get { channel = "shopify", external_id = tostring(body.id) }
  expect_eq(o.payment_status, "paid")
  event("cancel_requested", { order_id = o.id, lines = { { line = 1, quantity = 1 } } })
  o = orders.get(o.id)
  expect_eq(amounts(o, "refund"), "1999:succeeded")
  expect_eq(o.total, 1000)
  expect_eq(o.payment_status, "paid", "paid in full for what is left")
  -- The last line: canceled as a whole, everything refunded.
  event("cancel_requested", { order_id = o.id, lines = { { line = 2, quantity = 1 } } })
  o = orders.get(o.id)
  expect_eq(o.status, "canceled")
  expect_eq(amounts(o, "refund"), "1999:succeeded,1000:succeeded")
  expect_eq(o.payment_status, "refunded")
end

spec["an edit charges the difference and confirms once"] = function()
  local body = order()
  webhook { topic = "orders/create", body = body }
  local o = orders.get { channel = "shopify", external_id = tostring(body.id) }
  event("edit_requested", { order_id = o.id, add = { { sku = "PEN", quantity = 2, unit_price = 500 } } })
  o = orders.get(o.id)
  expect_eq(o.total, 3499)
  expect_eq(#o.lines, 2)
  expect_eq(amounts(o, "authorization"), "2499:succeeded,1000:succeeded")
  expect_eq(amounts(o, "capture"), "2499:succeeded,1000:succeeded")
  expect_eq(o.payment_status, "paid")
  expect_eq(#notifications(), 1, "the confirmation only, not again for the edit")
  -- Fewer pens: the difference goes back.
  event("edit_requested", { order_id = o.id, change = { { line = 2, quantity = 1 } } })
  o = orders.get(o.id)
  expect_eq(o.total, 2999)
  expect_eq(amounts(o, "refund"), "500:succeeded")
  expect_eq(o.payment_status, "paid")
  -- Canceled whole: what is left of both captures goes back.
  event("cancel_requested", { order_id = o.id })
  o = orders.get(o.id)
  expect_eq(o.status, "canceled")
  expect_eq(amounts(o, "refund"), "500:succeeded,500:succeeded,2499:succeeded")
  expect_eq(o.payment_status, "refunded")
end

spec["an edit the order no longer allows is noted, not retried"] = function()
  local body = order()
  webhook { topic = "orders/create", body = body }
  local o = orders.get { channel = "shopify", external_id = tostring(body.id) }
  event("edit_requested", { order_id = o.id, change = { { line = 5, quantity = 1 } } })
  o = orders.get(o.id)
  expect_eq(o.total, 2499)
  local noted = false
  for _, h in ipairs(o.history) do
    if h.kind == "note" and (h.message or ""):find("Edit not applied: .*has no line 5") then noted = true end
  end
  expect(noted, "the refusal is in the history")
end

return spec
