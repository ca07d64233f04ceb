-- The examples of the "Scripting reference" (README), as one workflow for
-- merchant "docs" in ordo-test.yaml; reference_spec.lua drives it.
-- Each handler holds the reference's example for that event or module,
-- with asserts for what the reference says it returns: an example that
-- no longer matches the code raises, and the spec fails on the dead letter.

local shipping = require "flows.shipping"
local ds = require "flows.dropship"

local flow = {}

-- At load time only the pure calls work; primitives raise.
assert(payments.gateway() == "stripe" and notify.has_template("shipped"))
assert(money.parse("1.00", "USD") == 100 and json.decode("[1]")[1] == 1 and math.type(now()) == "integer")
do
  local ok, err = pcall(orders.get, 1)
  assert(not ok and err:find("orders.get can only be called from a handler", 1, true))
end

---------------------------------------------------------------- storefront
function flow.order_created(ev)
  local order, created = orders.create(ev.order)
  if not created then return end                   -- a redelivery
  local forward = {}
  for _, l in ipairs(order.lines) do
    if l.sku == "CHAIR" then forward[#forward + 1] = { line = l.line_no, quantity = l.quantity } end
  end
  if #forward > 0 then dropship.forward(order, forward, "acme") end   -- answered by dropship_*
  local r = inventory.reserve(order)               -- the rest, from the locations in priority order
  if #r.short > 0 then inventory.backorder(order, r.short) end
  if ev.order.financial_status == "paid" then
    orders.mark_paid(order)                        -- the storefront captured it
  elseif payments.gateway() then
    payments.authorize(order)                      -- answered by payment_authorized / _failed
  end
end

function flow.order_updated(ev)
  local order = orders.get(ev.order)               -- found by channel + external_id
  if order then orders.note(order, "updated on " .. ev.channel) end
end

function flow.order_paid(ev)
  local order = orders.get(ev.order) or orders.create(ev.order)
  if order.payment_status ~= "paid" then orders.mark_paid(order) end
end

function flow.order_cancelled(ev)
  local order = orders.get(ev.order) or orders.create(ev.order)
  inventory.release(order, nil, "canceled")
  orders.set_status(order, "canceled", ev.order.cancel_reason or "cancelled on " .. ev.channel)
end

function flow.refund_created(ev)
  local order = orders.get { channel = ev.channel, external_id = ev.refund.order_external_id }
  orders.note(order, "storefront refund " .. orders.storefront_refund(order, ev.refund))
end

---------------------------------------------------------------- payments
function flow.payment_authorized(ev)
  payments.capture(ev.order)                       -- all the authorization holds
end

function flow.payment_captured(ev)
  notify.customer(ev.order, "order_confirmation",
    { total = money.format(ev.payment.amount, ev.payment.currency) })
end

function flow.payment_failed(ev)
  orders.note(ev.order, ("%s failed: %s"):format(ev.operation, ev.error))
  orders.tag(ev.order, "payment-failed")
end

function flow.payment_unresolved(ev)
  orders.tag(ev.order, "payment-unresolved")       -- a person retries the effect
end

function flow.payment_voided(ev)
  orders.note(ev.order, "authorization " .. ev.payment.id .. " released")
end

function flow.payment_refunded(ev)
  orders.note(ev.order, "refunded " .. money.format(ev.payment.amount, ev.payment.currency))
end

function flow.doc_payments(ev)
  local order = orders.get(ev.order_id)
  assert(payments.gateway() == "stripe")
  local b = payments.balance(order)                -- {total=, paid=, authorized=, due=}
  assert(b.total == order.total and b.paid == order.total and b.due == 0)
  local id = payments.refund(order, 500, "damaged box")
  assert(math.type(id) == "integer")
  assert(not pcall(payments.refund, order, 10 ^ 9 // 1)) -- more than captured
end

function flow.doc_void(ev)
  local order = orders.get(ev.order_id)
  assert(order.payment_status == "authorized")
  assert(math.type(payments.void(order)) == "integer")
end

---------------------------------------------------------------- effects
function flow.notification_sent(ev)
  log.info("sent", { template = ev.template, to = ev.to })
end

function flow.notification_failed(ev)
  orders.note(ev.order, ("%s to %s failed: %s"):format(ev.template, ev.to, ev.error))
  assert(ev.effect.kind == "notify" and ev.ok == false)
end

function flow.webhook_failed(ev)
  log.warn("webhook failed", { topic = ev.topic, error = ev.error })
  if ev.order then orders.tag(ev.order, "erp-out-of-sync") end
end

function flow.doc_http(ev)
  local id = http.post { url = "https://hooks.invalid/activate", json = { order = ev.order_id },
    order = ev.order_id, context = { sku = "APP" },
    on_success = "activated", on_failure = "activation_failed" }
  assert(math.type(id) == "integer")
end

function flow.activated(ev)
  orders.note(ev.order, ("activated %s: HTTP %d"):format(ev.context.sku, ev.status))
end

function flow.activation_failed(ev)
  orders.tag(ev.order, "activation-failed")
  orders.note(ev.order, ev.error)
end

---------------------------------------------------------------- orders
function flow.doc_orders(ev)
  local order, created = orders.create {
    channel = "pos", external_id = "pos-1", currency = "USD", total = 1200, email = "a@example.com",
    lines = { { sku = "MUG", title = "Mug", quantity = 2, unit_price = 600, total = 1200 } } }
  assert(created and order.status == "placed" and order.lines[1].line_no == 1)
  local again, created2 = orders.create { channel = "pos", external_id = "pos-1", currency = "USD",
    total = 1200, lines = { { sku = "MUG", quantity = 2, unit_price = 600, total = 1200 } } }
  assert(again.id == order.id and created2 == false)
  assert(orders.get { channel = "pos", external_id = "pos-1" }.id == order.id)
  assert(orders.get { channel = "pos", external_id = "nope" } == nil)
  orders.note(order, "gift wrap")
  orders.tag(order, "vip")
  assert(orders.mark_paid(order, 200) == "partially_paid")
  assert(orders.mark_paid(order) == "paid")
  local c = orders.cancel_lines(order, { { line = 1, quantity = 1 } }, "out of stock")
  assert(c.all == false and c.amount == 600 and c.total == 600 and c.lines[1].sku == "MUG")
  local e = orders.edit(order, { add = { { sku = "LID", quantity = 1, unit_price = 150 } } })
  assert(e.old_total == 600 and e.total == 750 and e.delta == 150 and #e.added == 1)
  orders.set_status(order, "completed")
  assert(not pcall(orders.set_status, order, "placed"))   -- not a legal transition
  assert(orders.get(order.id).status == "completed")
end

---------------------------------------------------------------- stock
function flow.doc_inventory(ev)
  inventory.receive("CUP", "wh1", 10, "PO 77")
  inventory.adjust("CUP", "wh1", -1, "broken on the shelf")
  inventory.restock("CUP", "wh2", 1, "return 5")
  local a = inventory.available("CUP")             -- { wh1 = 9, wh2 = 1 }
  assert(a.wh1 == 9 and a.wh2 == 1)
  local locs = inventory.locations()               -- {{id=, name=, region=, priority=, kind=}, ...}
  assert(locs[1].id == "wh1" and locs[1].priority == 1 and locs[1].kind == "warehouse")
  local order = orders.create { channel = "pos", external_id = "pos-2", currency = "USD", total = 1200,
    lines = { { sku = "CUP", title = "Cup", quantity = 2, unit_price = 600, total = 1200 } } }
  assert(not pcall(inventory.reserve, order, { { line = 1, location = "wh2", quantity = 2 } }))
  local r = inventory.reserve(order, { { line = 1, location = "wh2", quantity = 1 },
                                       { line = 1, location = "wh1", quantity = 1 } })
  assert(#r.reserved == 2 and r.reserved[1].sku == "CUP" and #r.short == 0)
  assert(inventory.release(order, 1, "customer changed mind") == 2)
  inventory.adjust("CUP", "wh1", -9, "stock count")
  inventory.adjust("CUP", "wh2", -1, "stock count")
  inventory.backorder(order, { { line = 1, quantity = 2 } })
  assert(orders.get(order.id).lines[1].backordered == 2)
end

function flow.doc_stock_arrives(ev)
  inventory.receive("CUP", "wh1", 5)               -- serves the backorder queue
end

function flow.backorder_allocated(ev)
  orders.note(ev.order_id, ("%d x %s allocated, %d waiting"):format(ev.quantity, ev.sku, ev.remaining))
  assert(ev.locations[1].location == "wh1" and ev.order.id == ev.order_id)
end

function flow.doc_purchasing(ev)
  local po = purchasing.order("acme", "CUP", 24)   -- at the supplier's location (or the first)
  assert(po.status == "open" and po.received == 0)
  orders.note(ev.order_id, ("PO %d: %d x %s to %s, expected %s"):format(
    po.id, po.quantity, po.sku, po.location, po.expected_at))
end

---------------------------------------------------------------- fulfillment
function flow.doc_ship(ev)
  local order = orders.get(ev.order_id)
  local s = fulfillment.create(order, "wh1")       -- everything reserved at wh1
  assert(s.status == "pending" and s.lines[1].quantity >= 1)
  fulfillment.advance(s, "packed")
  s = fulfillment.advance(s.id, "shipped", { carrier = "UPS", tracking_number = "1Z999",
    tracking_url = "https://ups.example/1Z999" })
  assert(s.shipped_at ~= nil)
  assert(fulfillment.find("1Z999").id == s.id and fulfillment.find("nope") == nil)
  assert(#fulfillment.shipments(order) == 1)
end

function flow.order_shipped(ev)
  for _, s in ipairs(fulfillment.shipments(ev.order)) do
    if s.id == ev.shipment_id and notify.has_template("shipped") then
      notify.customer(ev.order, "shipped", { tracking_url = s.tracking_url or "" })
    end
  end
end

flow.carrier_delivered = shipping.carrier_delivered   -- fulfillment.find + advance "delivered"

function flow.carrier_exception(ev)
  local s = fulfillment.find(ev.tracking_number)
  if s then orders.tag(s.order_id, "delivery-problem") end
end

function flow.order_delivered(ev)
  orders.note(ev.order, "delivered: shipment " .. ev.shipment_id)
end

function flow.doc_ship_cancel(ev)
  local s = fulfillment.create(ev.order_id, "wh1")
  fulfillment.advance(s, "canceled")
end

function flow.shipment_canceled(ev)
  orders.note(ev.order_id, "shipment " .. ev.shipment_id .. " canceled")
end

---------------------------------------------------------------- dropship
function flow.doc_dropship(ev)
  local d = dropship.get(ev.dropship_id)           -- {id=, order_id=, supplier=, status=, lines=, reason=}
  assert(d.status == "requested" and d.supplier == "acme" and d.lines[1].line == 1)
  assert(dropship.get(999) == nil)
end

function flow.dropship_accepted(ev)
  local d = dropship.update(ev.dropship_id, "accepted", { supplier = ev.supplier })
  orders.note(d.order_id, "accepted by " .. d.supplier)
end
flow.dropship_rejected = ds.rejected                  -- lines backordered
flow.dropship_shipped = ds.shipped                    -- a shipment on the order

---------------------------------------------------------------- returns
function flow.doc_return(ev)
  local r = returns.create(ev.order_id, { { line = 1, quantity = 1 } }, ev.reason)
  assert(r.status == "requested" and r.lines[1].quantity == 1)
end

function flow.return_requested(ev)
  local r = returns.get(ev.return_id)
  if r.reason == "changed mind" then returns.reject(r.id, "outside our policy")
  else returns.approve(r.id) end
end

function flow.return_approved(ev)
  returns.receive(ev.return_id, { { line = 1, quantity = 1, location = "wh1" } })
end

function flow.return_received(ev)
  local pid = returns.refund(ev.return_id)         -- the received units' price
  assert(math.type(pid) == "integer")
end

function flow.return_refunded(ev)
  orders.note(ev.order, ("return %d refunded %d"):format(ev.return_id, ev.amount))
  returns.close(ev.return_id)
end

function flow.return_rejected(ev)
  returns.close(ev.return_id)
end

function flow.return_closed(ev)
  orders.note(ev.order_id, "return " .. ev.return_id .. " closed")
end

function flow.exchange_requested(ev)               -- {return_id, order_id, replacement}
  orders.note(ev.order_id, ("exchange %d: %d replacement line(s)"):format(
    ev.return_id, #ev.replacement))
end

function flow.return_refund_requested(ev)          -- {return_id, order_id, amount}
  returns.refund(ev.return_id, ev.amount)
end

---------------------------------------------------------------- cancel / edit
function flow.cancel_requested(ev)     -- the full policy: require("flows.cancel").requested
  local order = orders.get(ev.order_id)
  if ev.lines then
    local r = orders.cancel_lines(order, ev.lines, ev.reason)
    for _, l in ipairs(r.lines) do inventory.release(order, l.line, ev.reason, l.quantity) end
    if not r.all then return end
  end
  inventory.release(order, nil, "canceled")
  if order.payment_status == "authorized" then payments.void(order) end
  orders.set_status(order, "canceled", ev.reason)
end

function flow.edit_requested(ev)                   -- {order_id, add?, change?, reason?}
  local r = orders.edit(ev.order_id, { add = ev.add, change = ev.change })
  orders.note(ev.order_id, ("edited: %d -> %d"):format(r.old_total, r.total))
end

---------------------------------------------------------------- digital
function flow.doc_digital(ev)
  local order = orders.get(ev.order_id)
  local short = 0
  for _, line in ipairs(order.lines) do
    local p = digital.product(line.sku)            -- {sku=, kind="file"|"license", file=} or nil
    if p and p.kind == "file" then
      local links = digital.grant(order, line)     -- {{id=, token=, path=, url=, expires_at=, ...}}
      assert(#links == 1 and links[1].path:sub(1, 3) == "/d/")
    elseif p and p.kind == "license" then
      local keys, err = digital.draw_keys(order, line)
      if not keys then
        assert(err:find("license_pool_empty", 1, true) == 1)
        orders.tag(order, "license-pool-empty")
        short = short + 1
      end
    end
  end
  assert(short == 1 and digital.product("MUG") == nil)
  local given = digital.get(order)                 -- {grants = {...}, keys = {...}}
  assert(#given.grants == 1 and #given.keys == 0)
  local n = digital.revoke(order, { keys = true }) -- {grants = 1, keys = 0}
  assert(n.grants == 1 and n.keys == 0)
end

---------------------------------------------------------------- timers
function flow.doc_timers(ev)
  local k = timers.after("3d", "review_reminder", { order_id = ev.order_id }, "review-" .. ev.order_id)
  assert(k == "review-" .. ev.order_id)
  timers.at("2026-01-10T09:00:00Z", "follow_up", { order_id = ev.order_id })
  assert(timers.cancel("review-" .. ev.order_id) == true and timers.cancel("none") == false)
end

function flow.follow_up(ev)
  orders.note(ev.order, ("timer %s, %d ms late"):format(ev.timer.key, ev.timer.late_ms))
end

---------------------------------------------------------------- subscriptions
function flow.doc_subs(ev)
  local s, created = subscriptions.create {
    order = { currency = "USD", total = 1500, email = "a@example.com",
      lines = { { sku = "BEANS", title = "Beans", quantity = 1, unit_price = 1500, total = 1500 } } },
    interval = "month", count = 1, external_id = "beans-42" }
  assert(created and s.status == "active" and s.cycle == 0)
  s = subscriptions.pause(s.id, "2026-03-01T00:00:00Z")
  assert(s.status == "paused")
  subscriptions.resume(s.id)
  subscriptions.set_quantity(s.id, 1, 2)
  subscriptions.set_next(s.id, now() + 86400000)
  subscriptions.set_status(s.id, "past_due", "card declined")
  subscriptions.set_status(s.id, "active")
  s = subscriptions.skip(s)
  assert(s.skip_next == true)
  assert(subscriptions.get(s.id).next_renewal_ms == now() + 86400000)
end

function flow.doc_subs_cancel(ev)
  local s = subscriptions.get(ev.subscription_id)
  s = subscriptions.cancel(s.id, { at_period_end = true, reason = "moving" })
  assert(s.cancel_at_period_end == true and s.status == "active")
end

function flow.subscription_renewal_due(ev)
  payments.authorize(ev.order)                     -- the renewal order, made once per cycle
end

function flow.subscription_renewal_skipped(ev)
  log.info("skipped", { id = ev.subscription.id })
end

function flow.subscription_renewal_canceled(ev)
  log.info("ended at period end", { subscription = ev.subscription.id })
end

function flow.subscription_paused(ev)              -- raised by the API: {subscription_id, action}
  log.info("paused by the API", { subscription = ev.subscription_id })
end

---------------------------------------------------------------- utilities
function flow.doc_utils(ev)
  assert(money.parse("19.99", "USD") == 1999 and money.parse("1200", "JPY") == 1200)
  assert(money.format(1999, "USD") == "19.99" and money.format(5, "KWD") == "0.005")
  assert(money.exponent("JPY") == 0 and money.exponent("KWD") == 3)
  assert(not pcall(money.parse, 19.99, "USD"))          -- a float is refused
  assert(not pcall(money.parse, "19.999", "USD"))
  assert(json.encode({ b = 1, a = { 1, 2 } }) == '{"a":[1,2],"b":1}')
  assert(json.decode('{"id": 9007199254740993}').id == 9007199254740993)
  assert(not pcall(json.decode, "{oops") and not pcall(json.encode, { f = print }))
  assert(not pcall(money.format, 19.99, "USD") and not pcall(time.iso, 1.5))
  assert(require("orders") == orders and require("json") == json)
  assert(math.type(now()) == "integer")
  assert(time.iso(0) == "1970-01-01T00:00:00.000Z")
  assert(time.parse("2026-01-05T10:00:00+01:00") == time.parse("2026-01-05T09:00:00Z"))
  local ms, err = time.parse("yesterday")
  assert(ms == nil and err:find("not an ISO 8601"))
  log.info("reserved", { order = 42, sku = "MUG", lines = { 1, 2 } })
  log.debug("detail"); log.warn("careful"); log.error("broken", { why = "x" })
  print("hello", 1, true)
  local routing = require "flows.routing"
  assert(type(routing.nearest) == "function")
  assert(not pcall(require, "../secrets"))
  for _, g in ipairs { "io", "os", "debug", "package", "dofile", "loadfile" } do assert(rawget(_G, g) == nil) end
  assert(string.dump == nil)
  assert(load("return 1 + 1")() == 2 and load(string.char(27) .. "Lua") == nil)  -- text only
  assert(not pcall(setmetatable, {}, { __gc = function() end }))
  assert(not pcall(collectgarbage, "stop") and collectgarbage("count") > 0)
  local notify_ok = notify.has_template("order_confirmation") and not notify.has_template("nope")
  assert(notify_ok)
  local eid = notify.customer(ev.order_id, "order_confirmation", { total = "10.00" })
  assert(math.type(eid) == "integer")
  assert(not pcall(notify.customer, ev.order_id, "nope"))   -- no such template
  local n = webhooks.emit("order.packed", { order_id = ev.order_id }, ev.order_id)
  assert(n == 1)
end

return flow
