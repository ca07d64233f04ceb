-- Runs the examples of the README's "Scripting reference" (they live in
-- tests/workflows/reference.lua, merchant "docs"): if a primitive or an
-- event changes shape, the example's assert raises and the event ends as a
-- dead letter, which fails the test.
--   build/ordo test -c tests/workflows/ordo-test.yaml tests/workflows/reference_spec.lua

local spec = { merchant = "docs" }

local n = 0
-- A Shopify order of { {sku, quantity}, ... } (10.00 each), paid on the
-- storefront unless fields say otherwise.
local function order(lines, fields)
  n = n + 1
  local items = {}
  for i, l in ipairs(lines) do
    items[i] = { id = i, sku = l[1], title = l[1], quantity = l[2], price = "10.00",
                 total_discount = "0.00" }
  end
  local total = ("%d.00"):format(10 * (lines[1][2] + (lines[2] and lines[2][2] or 0)))
  local o = { id = 8812345678901000 + n, name = "#R" .. n, email = "c@example.com",
    currency = "USD", total_price = total, total_line_items_price = total, total_tax = "0.00",
    total_discounts = "0.00", financial_status = "paid", line_items = items,
    customer = { id = 1, first_name = "Ada", email = "c@example.com" } }
  for k, v in pairs(fields or {}) do o[k] = v end
  webhook { topic = "orders/create", body = o }
  return orders.get { channel = "shopify", external_id = tostring(o.id) }, o
end

local function has_note(o, text)
  for _, h in ipairs(orders.get(o.id).history) do
    if h.kind == "note" and h.message:find(text, 1, true) then return true end
  end
  return false
end

local function has_tag(o, tag)
  for _, t in ipairs(orders.get(o.id).tags or {}) do if t == tag then return true end end
  return false
end

spec["storefront events: created, updated, paid, cancelled, refund"] = function()
  stock.set("MUG", "wh1", 5)
  local o, body = order({ { "MUG", 1 } })
  expect_eq(o.payment_status, "paid")
  expect_eq(o.lines[1].reserved, 1)
  webhook { topic = "orders/updated", body = body }
  expect(has_note(o, "updated on shopify"))
  webhook { topic = "refunds/create", body = { id = 77, order_id = body.id,
    transactions = { { kind = "refund", status = "success", amount = "4.00", currency = "USD" } } } }
  expect(has_note(o, "storefront refund recorded"))
  body.cancel_reason = "customer"
  webhook { topic = "orders/cancelled", body = body }
  o = orders.get(o.id)
  expect_eq(o.status, "canceled")
  expect_eq(o.lines[1].reserved, 0)
  local g, gbody = order({ { "MUG", 1 } }, { financial_status = "pending" })
  webhook { topic = "orders/paid", body = gbody }
  expect_eq(#dead_letters(), 0)
end

spec["payment answers: authorize, capture, confirmation; declines; refund; void"] = function()
  stock.set("MUG", "wh1", 5)
  local o = order({ { "MUG", 2 } }, { financial_status = "pending" })
  o = orders.get(o.id)
  expect_eq(o.payment_status, "paid")
  expect_eq(#notifications(), 1)
  event("doc_payments", { order_id = o.id })
  expect(has_note(o, "refunded 5.00"))
  answers.decline("authorize", 1)
  local d = order({ { "MUG", 1 } }, { financial_status = "pending" })
  expect(has_note(d, "authorize failed"))
  expect(has_tag(d, "payment-failed"))
  answers.decline("capture", 1)
  local v = order({ { "MUG", 1 } }, { financial_status = "pending" })
  expect(has_note(v, "capture failed"))
  event("doc_void", { order_id = v.id })
  expect(has_note(v, "released"))
  answers.timeout("authorize", 2)
  local u = order({ { "MUG", 1 } }, { financial_status = "pending" })
  clock.advance("1m")
  expect(has_tag(u, "payment-unresolved"))
  expect_eq(#dead_letters(), 0)
end

spec["orders primitives"] = function()
  event("doc_orders", {})
  expect_eq(#dead_letters(), 0)
end

spec["inventory, backorder_allocated, purchasing"] = function()
  event("doc_inventory", {})
  event("doc_stock_arrives", {})
  local o = orders.get { channel = "pos", external_id = "pos-2" }
  expect(has_note(o, "2 x CUP allocated, 0 waiting"))
  event("doc_purchasing", { order_id = o.id })
  expect(has_note(o, "PO 1: 24 x CUP to wh1, expected 2026-01-12T09:00:00.000Z"))
  expect_eq(#dead_letters(), 0)
end

spec["fulfillment, order_shipped, carrier, order_delivered, shipment_canceled"] = function()
  stock.set("MUG", "wh1", 5)
  local o = order({ { "MUG", 1 } })
  event("doc_ship", { order_id = o.id })
  expect_eq(orders.get(o.id).fulfillment_status, "fulfilled")
  local sent = notifications()
  expect_eq(sent[#sent].message.template, "shipped")
  webhook { channel = "carrier", topic = "tracking.updated",
            body = { tracking_number = "1Z999", status = "exception" } }
  expect(has_tag(o, "delivery-problem"))
  webhook { channel = "carrier", topic = "tracking.updated",
            body = { tracking_number = "1Z999", status = "delivered", carrier = "UPS" } }
  expect(has_note(o, "delivered: shipment 1"))
  local p = order({ { "MUG", 1 } })
  event("doc_ship_cancel", { order_id = p.id })
  expect(has_note(p, "shipment 2 canceled"))
  expect_eq(#dead_letters(), 0)
end

spec["dropship: forward, accepted, shipped, rejected"] = function()
  local o = order({ { "CHAIR", 1 } })
  event("doc_dropship", { dropship_id = 1 })
  webhook { channel = "supplier", supplier = "acme", topic = "dropship.accepted", body = { dropship_id = 1 } }
  expect(has_note(o, "accepted by acme"))
  webhook { channel = "supplier", supplier = "acme", topic = "dropship.shipped",
            body = { dropship_id = 1, carrier = "FedEx", tracking_number = "FX1" } }
  expect_eq(orders.get(o.id).lines[1].fulfilled_quantity, 1)
  local r = order({ { "CHAIR", 1 } })
  webhook { channel = "supplier", supplier = "acme", topic = "dropship.rejected",
            body = { dropship_id = 2, reason = "discontinued" } }
  expect_eq(orders.get(r.id).lines[1].backordered, 1)
  expect_eq(#dead_letters(), 0)
end

spec["returns: requested, approved, received, refunded, closed; rejected; exchange"] = function()
  stock.set("MUG", "wh1", 5)
  local o = order({ { "MUG", 1 } }, { financial_status = "pending" })
  event("doc_ship", { order_id = o.id })
  event("doc_return", { order_id = o.id, reason = "too small" })
  expect(has_note(o, "return 1 refunded 1000"))
  expect(has_note(o, "return 1 closed"))
  expect_eq(orders.get(o.id).payment_status, "refunded")
  expect_eq(#dead_letters(), 0)
end

spec["a return is rejected"] = function()
  stock.set("MUG", "wh1", 5)
  local o = order({ { "MUG", 1 } })
  event("doc_ship", { order_id = o.id })
  event("doc_return", { order_id = o.id, reason = "changed mind" })
  expect(has_note(o, "return 1 closed"))
  event("exchange_requested", { return_id = 1, order_id = o.id,
    replacement = { { sku = "MUG-XL", quantity = 1, unit_price = 1000 } } })
  expect(has_note(o, "exchange 1: 1 replacement line(s)"))
  expect_eq(#dead_letters(), 0)
end

spec["cancel_requested and edit_requested"] = function()
  stock.set("MUG", "wh1", 9)
  local o = order({ { "MUG", 3 } }, { financial_status = "pending" })
  event("edit_requested", { order_id = o.id, change = { { line = 1, quantity = 2 } } })
  expect(has_note(o, "edited: 3000 -> 2000"))
  event("cancel_requested", { order_id = o.id, lines = { { line = 1, quantity = 1 } }, reason = "oops" })
  expect_eq(orders.get(o.id).lines[1].canceled_quantity, 2)
  event("cancel_requested", { order_id = o.id, reason = "customer asked" })
  expect_eq(orders.get(o.id).status, "canceled")
  expect_eq(#dead_letters(), 0)
end

spec["digital: grant, draw_keys on an empty pool, get, revoke"] = function()
  local o = order({ { "GUIDE", 1 }, { "KEY", 1 } })
  event("doc_digital", { order_id = o.id })
  expect(has_tag(o, "license-pool-empty"))
  expect_eq(#dead_letters(), 0)
end

spec["timers and a late timer"] = function()
  local o = order({ { "BOOK", 1 } })
  event("doc_timers", { order_id = o.id })
  clock.jump("6d")
  clock.advance("1s")
  expect(has_note(o, "timer t"))
  expect_eq(#dead_letters(), 0)
end

spec["subscriptions: create, actions, renewal, cancel at period end"] = function()
  event("doc_subs", {})
  clock.advance("1d")                   -- the skipped renewal
  local s = subscriptions()[1]
  expect_eq(s.cycle, 1)
  event("doc_subs_cancel", { subscription_id = s.id })
  clock.advance("40d")
  expect_eq(subscriptions()[1].status, "canceled")
  event("subscription_paused", { subscription_id = s.id, action = "pause" })
  expect_eq(#dead_letters(), 0)
end

spec["a renewal is charged"] = function()
  event("doc_subs", {})
  clock.advance("40d")                  -- skipped, then renewed
  local r = orders.get { channel = "subscription", external_id = "sub-1-2" }
  expect_eq(r.payment_status, "paid")
  expect_eq(#dead_letters(), 0)
end

spec["effects: http.post answers, notification and webhook failures"] = function()
  local o = order({ { "BOOK", 1 } })
  answers.add { kind = "http", url = "https://hooks.invalid/activate", status = 200, json = { ok = true }, times = 1 }
  event("doc_http", { order_id = o.id })
  expect(has_note(o, "activated APP: HTTP 200"))
  answers.fail(422, { kind = "http" })
  event("doc_http", { order_id = o.id })
  expect(has_tag(o, "activation-failed"))
  answers.fail(500, { kind = "webhook" }, 10)
  answers.fail(422, { kind = "notify" })
  event("doc_utils", { order_id = o.id })
  clock.advance("1m")
  expect(has_tag(o, "erp-out-of-sync"))
  expect(has_note(o, "order_confirmation to c@example.com failed"))
  expect_eq(#dead_letters(), 0)
end

return spec
