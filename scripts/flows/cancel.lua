-- Cancelling a whole order, or some of its lines, before it ships (POST
-- /api/v1/orders/{id}/cancel raises cancel_requested, with `lines` for a
-- part; a workflow sets flow.cancel_requested = cancel.requested). Everything happens in the event's transaction: stock
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

-- Refund `amount` through our gateway, capture by capture: the host
-- refunds one capture at a time (the newest with something left), and an
-- edited order may have been captured more than once.
local function refund(order, amount, gateway, why)
  local payments_of = orders.get(order.id).payments or {}
  local used, caps = {}, {}
  for _, p in ipairs(payments_of) do
    if p.kind == "refund" and p.status ~= "failed" and p.parent_id then
      used[p.parent_id] = (used[p.parent_id] or 0) + p.amount
    end
    if p.kind == "capture" and p.status == "succeeded" and p.gateway == gateway then
      caps[#caps + 1] = p
    end
  end
  for i = #caps, 1, -1 do
    local take = math.min(amount, caps[i].amount - (used[caps[i].id] or 0))
    if take > 0 then
      payments.refund(order, take, why)
      amount = amount - take
    end
  end
end

-- After the order's total changed (lines canceled, an edit): settle the
-- money with what the customer owes now. The rule:
--   * more taken than the total needs: refund the difference through our
--     gateway (what it captured); what the storefront took is tagged
--     "refund-on-storefront" for a person;
--   * only authorized (nothing captured yet): nothing now; the capture
--     later takes no more than the new total (payments.capture caps it);
--   * more needed than is paid or held: authorize the difference through
--     our gateway (the workflow's payment_authorized captures it), or,
--     for an order paid on the storefront, tag it "balance-due".
function M.settle(order, why)
  local b = payments.balance(order)
  local gateway = payments.gateway()
  if b.paid > b.total then
    local over = b.paid - b.total
    local ours = gateway and refundable(orders.get(order.id), gateway) or 0
    local back = math.min(over, ours)
    if back > 0 then refund(order, back, gateway, why) end
    if back < over then
      orders.tag(order, "refund-on-storefront")
      orders.note(order, ("Refund %s %s on the storefront: %s"):format(
        money.format(over - back, order.currency), order.currency, why))
    end
  elseif b.due > 0 then
    local ours = false
    for _, p in ipairs(orders.get(order.id).payments or {}) do
      if p.gateway == gateway and p.status ~= "failed" then ours = true end
    end
    if gateway and (ours or b.paid == 0) then
      payments.authorize(order, b.due)
    else
      orders.tag(order, "balance-due")
      orders.note(order, ("%s %s more to collect on the storefront: %s"):format(
        money.format(b.due, order.currency), order.currency, why))
    end
  end
end

-- Some lines (ev.lines: {{line=, quantity=}}) before they ship: the C
-- side checks and lowers the total; here the units' stock (or their place
-- in the backorder queue) goes back, their keys and links are revoked,
-- the money follows the total, and the customer is told. Canceling every
-- unit is a whole cancel.
function M.lines(ev, order)
  local reason = ev.reason or "canceled by the merchant"
  local ok, r = pcall(orders.cancel_lines, order, ev.lines, reason)
  if not ok then
    if tostring(r):find("database error", 1, true) then error(r, 0) end   -- retried
    -- The order changed since the API checked (a line shipped meanwhile).
    orders.note(order, "Lines not canceled: " .. tostring(r))
    return nil
  end
  if r.all then return "all" end
  for _, l in ipairs(r.lines) do
    inventory.release(order, l.line, reason, l.quantity)
    digital.revoke(order, { line = l.line, units = l.quantity })
  end
  M.settle(order, reason)
  if notify.has_template("order_lines_canceled") then
    local items = {}
    for _, l in ipairs(r.lines) do items[#items + 1] = ("%d x %s"):format(l.quantity, l.sku) end
    notify.customer(order, "order_lines_canceled", { reason = reason, items = table.concat(items, ", "),
      amount = money.format(r.amount, order.currency), total = money.format(r.total, order.currency) })
  end
  return r
end

function M.requested(ev)
  local order = orders.get(ev.order_id)
  if not order then error("cancel_requested for order " .. tostring(ev.order_id) .. ", which does not exist") end
  if order.status == "canceled" then return end
  if ev.lines and M.lines(ev, order) ~= "all" then return end
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
    refund(order, ours, gateway, "order canceled")
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
