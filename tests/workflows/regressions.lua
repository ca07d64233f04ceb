-- A bare workflow for regression specs (regressions_spec.lua): each event
-- calls one primitive with the event's fields, so a spec can drive the
-- primitives directly, including under pcall. Not a merchant's example.

local flow = {}

local function sub_order()
  return { currency = "USD", total = 100,
    lines = { { sku = "X", title = "x", quantity = 1, unit_price = 100, total = 100 } } }
end

function flow.order_created(ev)
  local order = orders.create(ev.order)
  if ev.order.note ~= "noreserve" then inventory.reserve(order) end
end

function flow.make_sub(ev)
  subscriptions.create { order = sub_order(), interval = ev.interval, count = ev.count,
    external_id = ev.external_id }
end

-- A renewal of the subscription with external id "flaky" fails its first
-- attempt (a gateway outage), so it waits in the inbox for its retry.
function flow.subscription_renewal_due(ev)
  if ev.subscription.external_id == "flaky" and ev.attempt == 1 then error("gateway down") end
end

function flow.pause(ev) subscriptions.pause(ev.sub, ev["until"]) end
function flow.resume(ev) subscriptions.resume(ev.sub) end
function flow.set_next(ev) subscriptions.set_next(ev.sub, ev.at) end

-- Try a call under pcall and keep going; the outcome is a log line.
function flow.try_pause(ev)
  local ok, e = pcall(subscriptions.pause, ev.sub, ev["until"])
  log.info("pause tried", { ok = tostring(ok), error = tostring(e) })
end
function flow.set_timer(ev) timers.at(ev.at, "timer_fired", { order_id = ev.order_id }, ev.key) end
function flow.timer_fired(ev) orders.note(ev.order_id, "fired " .. ev.timer.key) end

function flow.ship(ev)
  local s = fulfillment.create(ev.order_id, ev.location, ev.lines)
  if ev.advance then fulfillment.advance(s.id, ev.advance) end
end
function flow.backorder(ev) inventory.backorder(ev.order_id, ev.lines) end
function flow.forward(ev) dropship.forward(ev.order_id, ev.lines, "sup") end
function flow.route(ev)
  local routing = require "flows.routing"
  local o = orders.get(ev.order_id)
  inventory.reserve(o, routing.fewest_shipments(o))
end

return flow
