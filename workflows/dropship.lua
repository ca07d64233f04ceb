-- Dropshipping: lines of SKUs a supplier carries go to that supplier, who
-- ships them to the customer; the rest is reserved from our stock as usual.
-- The supplier's answers (accepted, rejected, shipped with tracking) come
-- back on /webhooks/{merchant}/supplier/{supplier}.

local ds = require "flows.dropship"
local routing = require "flows.routing"

-- Which supplier ships which SKU.
local SUPPLIED_BY = {
  ["DESK-OAK"] = "woodworks",
  ["LAMP-BRASS"] = "woodworks",
}

local flow = {}

function flow.order_created(ev)
  local order, created = orders.create(ev.order)
  if not created then return end
  local forward = {}
  for _, line in ipairs(order.lines) do
    local supplier = SUPPLIED_BY[line.sku]
    if supplier then
      forward[supplier] = forward[supplier] or {}
      table.insert(forward[supplier], { line = line.line_no, quantity = line.quantity })
    end
  end
  for supplier, lines in pairs(forward) do
    dropship.forward(order, lines, supplier)
  end
  order = orders.get(order)
  local result = inventory.reserve(order, routing.fewest_shipments(order))
  if #result.short > 0 then inventory.backorder(order, result.short) end
  if ev.order.financial_status == "paid" then orders.mark_paid(order) end
end

flow.dropship_accepted = ds.accepted
flow.dropship_rejected = ds.rejected
flow.dropship_shipped = ds.shipped

function flow.order_shipped(ev)
  orders.note(ev.order_id, "Shipment " .. ev.shipment_id .. " is on its way")
end

return flow
