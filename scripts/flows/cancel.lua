-- Cancelling a whole order before it ships (POST /api/v1/orders/{id}/cancel
-- raises cancel_requested; a workflow sets flow.cancel_requested =
-- cancel.requested). Everything happens in the event's transaction: stock
-- back to the shelf (and to the backorder queue), open shipments canceled,
-- digital links and keys revoked, the authorization voided or what was
-- captured through our gateway refunded, the status set, the customer told.
-- Money taken by the storefront is refunded there: the order is tagged.

local M = {}

-- captured minus refunded (pending refunds count: they are on their way)
local function refundable(order, gateway)
  local captured, refunded = 0, 0
  for _, p in ipairs(order.payments or {}) do
    if p.gateway == gateway and p.status ~= "failed" then
      if p.kind == "capture" and p.status == "succeeded" then captured = captured + p.amount end
      if p.kind == "refund" then refunded = refunded + p.amount end
    end
  end
  return captured - refunded
end

function M.requested(ev)
  local order = orders.get(ev.order_id)
  if not order then error("cancel_requested for order " .. tostring(ev.order_id) .. ", which does not exist") end
  if order.status == "canceled" then return end
  for _, line in ipairs(order.lines) do
    if (line.fulfilled_quantity or 0) > 0 then
      orders.note(order, ("Not canceled: line %d has shipped; return it instead"):format(line.line_no))
      return
    end
  end
  for _, s in ipairs(fulfillment.shipments(order)) do
    if s.status == "pending" or s.status == "picked" or s.status == "packed" then
      fulfillment.advance(s.id, "canceled")
    end
  end
  inventory.release(order, nil, "canceled")
  digital.revoke(order, { keys = true })
  local gateway = payments.gateway()
  local ours = gateway and refundable(order, gateway) or 0
  if order.payment_status == "authorized" then
    payments.void(order)
  elseif ours > 0 then
    payments.refund(order, ours, "order canceled")
  elseif order.payment_status == "paid" or order.payment_status == "partially_paid" then
    orders.tag(order, "refund-on-storefront")
  end
  local reason = ev.reason or "canceled by the merchant"
  orders.set_status(order, "canceled", reason)
  if notify.has_template("order_canceled") then
    notify.customer(order, "order_canceled", { reason = reason })
  end
end

return M
