-- Shipping building blocks shared by the workflows.
--
--   local shipping = require "flows.shipping"
--   flow.carrier_delivered = shipping.carrier_delivered

local M = {}

-- A carrier says a parcel arrived: the shipment with that tracking number
-- is delivered (an unknown number is logged, not an error: carriers send
-- updates for parcels that are not ours).
function M.carrier_delivered(ev)
  local s = fulfillment.find(ev.tracking_number)
  if not s then
    log.warn("delivery for an unknown tracking number", { tracking = ev.tracking_number })
    return
  end
  if s.status ~= "delivered" and s.status ~= "canceled" then
    fulfillment.advance(s, "delivered")
  end
end

-- order_shipped: send the "shipped" template, with the carrier and the
-- tracking link, if the merchant has one.
function M.notify_shipped(ev)
  if not notify.has_template("shipped") then return end
  for _, s in ipairs(fulfillment.shipments(ev.order_id)) do
    if s.id == ev.shipment_id then
      notify.customer(ev.order_id, "shipped", { carrier = s.carrier or "your carrier",
        tracking_number = s.tracking_number or "", tracking_url = s.tracking_url or "" })
    end
  end
end

return M
