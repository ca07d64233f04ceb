-- Backorders: reserve stock when the order arrives, shipping from as few
-- locations as possible; what is short waits in the first-come queue and
-- is reserved the moment stock arrives (backorder_allocated). A cancelled
-- order gives its stock back, to the next order in the queue.

local routing = require "flows.routing"

local flow = {}

local shipping = require "flows.shipping"
local cancel = require "flows.cancel"
local edits = require "flows.edits"
local returns_flow = require "flows.returns"

-- A carrier's "delivered" marks the shipment delivered.
flow.carrier_delivered = shipping.carrier_delivered

-- The routing policy: routing.single_location, routing.nearest, or
-- routing.fewest_shipments (split only when one location cannot fill it).
local ROUTE = routing.fewest_shipments

-- POST /api/v1/orders/{id}/cancel: stock back, payment voided or refunded
-- (with "lines": those units only, the payment following the new total).
flow.cancel_requested = cancel.requested

-- POST /api/v1/orders/{id}/edits: new units reserved by the same routing
-- policy, what is short backordered; the payment follows the new total.
flow.edit_requested = edits.handler { reserve = true, route = ROUTE }

-- Returns and exchanges: approved within 30 days of delivery, refunded on
-- receipt, the customer told (see flows/returns.lua).
returns_flow.install(flow)

function flow.order_created(ev)
  local order, created = orders.create(ev.order)
  if not created then return end
  local result = inventory.reserve(order, ROUTE(order))
  if #result.short > 0 then
    inventory.backorder(order, result.short)
    orders.tag(order, "backordered")
    for _, s in ipairs(result.short) do
      orders.note(order, ("Backordered %d x %s"):format(s.quantity, s.sku))
    end
  end
  if ev.order.financial_status == "paid" then
    orders.mark_paid(order)          -- the storefront took the money
  elseif payments.gateway() and order.total > 0 then
    payments.authorize(order)        -- captured when the answer comes
  end
end

-- Captured for what the order owes when the answer comes; an authorization
-- it no longer needs (an edit lowered the total meanwhile, or the order was
-- canceled) is voided instead.
function flow.payment_authorized(ev)
  if ev.order.status == "canceled" then payments.void(ev.order) else payments.capture(ev.order) end
end

-- Lines (or the order) canceled while the capture was in flight: refund them.
flow.payment_captured = cancel.payment_captured

function flow.backorder_allocated(ev)
  orders.note(ev.order_id, ("Stock arrived: %d x %s reserved%s"):format(ev.quantity, ev.sku,
    ev.remaining > 0 and (", " .. ev.remaining .. " still waiting") or ""))
  local order = orders.get(ev.order_id)
  if order.fulfillment_status ~= "backordered" then orders.tag(order, "ready-to-ship") end
end

-- A shipment left: tell the customer, with the tracking link.
flow.order_shipped = shipping.notify_shipped

function flow.order_cancelled(ev)
  local order = orders.get(ev.order) or orders.create(ev.order)
  local why = ev.order.cancel_reason or "cancelled on " .. ev.channel
  orders.set_status(order, "canceled", why)
  inventory.release(order, 0, "order cancelled")
  -- Owes nothing now: holds voided, our captures refunded (flows/cancel.lua).
  if payments.gateway() then cancel.settle(order, why) end
end

return flow
