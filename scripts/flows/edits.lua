-- Editing an order nothing of which has shipped (POST
-- /api/v1/orders/{id}/edits raises edit_requested; a workflow sets
-- flow.edit_requested = edits.requested). The host checks the edit and
-- changes the lines and the total (orders.edit); here, in the same
-- transaction:
--   * units removed give their stock back (or their place in the queue);
--   * units added are reserved where the routing policy says, and what
--     cannot be reserved waits in the backorder queue, as on creation;
--   * the money follows the new total (cancel.settle: refund what was
--     paid toward it beyond it, void authorizations it no longer needs,
--     authorize what it needs beyond what is paid and held);
--   * the customer gets "order_edited" when the merchant has the template.

local cancel = require "flows.cancel"

local M = {}

-- The handler for a workflow: flow.edit_requested = edits.handler { reserve
-- = true, route = ROUTE }. `reserve`: the workflow holds stock for its
-- orders (a flow that never reserves on creation leaves it false);
-- `route`: its routing policy (nil: each line from the locations in
-- priority order).
function M.handler(opts)
  opts = opts or {}
  return function(ev) return M.requested(ev, opts) end
end

function M.requested(ev, opts)
  opts = opts or {}
  local order = orders.get(ev.order_id)
  if not order then error("edit_requested for order " .. tostring(ev.order_id) .. ", which does not exist") end
  local why = ev.reason or "order edited"
  local ok, r = pcall(orders.edit, order, { add = ev.add, change = ev.change })
  if not ok then
    if tostring(r):find("database error", 1, true) then error(r, 0) end   -- retried
    -- The order changed since the API checked (it shipped, or was canceled).
    orders.note(order, "Edit not applied: " .. tostring(r))
    return
  end
  for _, l in ipairs(r.decreased) do
    inventory.release(order, l.line, why, l.quantity)
    digital.revoke(order, { line = l.line, units = l.quantity })
  end
  if opts.reserve and (#r.added > 0 or #r.increased > 0) then
    order = orders.get(order.id)
    local result = inventory.reserve(order, opts.route and opts.route(order) or nil)
    if #result.short > 0 then
      inventory.backorder(order, result.short)
      orders.tag(order, "backordered")
      for _, s in ipairs(result.short) do
        orders.note(order, ("Backordered %d x %s"):format(s.quantity, s.sku))
      end
    end
  end
  cancel.settle(order, why)
  if notify.has_template("order_edited") then
    notify.customer(order, "order_edited", { reason = why,
      total = money.format(r.total, order.currency),
      old_total = money.format(r.old_total, order.currency) })
  end
end

return M
