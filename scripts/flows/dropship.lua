-- Drop-shipping building blocks: forward lines to a supplier, and record
-- what the supplier answers. No stock of ours moves for these lines.
--
--   local ds = require "flows.dropship"
--   flow.dropship_accepted, flow.dropship_rejected, flow.dropship_shipped =
--     ds.accepted, ds.rejected, ds.shipped

local M = {}

function M.accepted(ev)
  dropship.update(ev.dropship_id, "accepted", { supplier = ev.supplier })
end

-- Rejected: the lines are ours again. The default is to backorder them;
-- change this line to try another supplier instead.
function M.rejected(ev)
  local d = dropship.update(ev.dropship_id, "rejected", { supplier = ev.supplier, reason = ev.reason })
  orders.note(d.order_id, "Supplier " .. d.supplier .. " rejected the drop-ship: " .. (ev.reason or "no reason"))
  inventory.backorder(d.order_id, d.lines)
end

function M.shipped(ev)
  dropship.update(ev.dropship_id, "shipped", { supplier = ev.supplier, carrier = ev.carrier,
    tracking_number = ev.tracking_number, tracking_url = ev.tracking_url })
end

return M
