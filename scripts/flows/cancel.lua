-- Cancelling a whole order, or some of its lines, before it ships (POST
-- /api/v1/orders/{id}/cancel raises cancel_requested, with `lines` for a
-- part; a workflow sets flow.cancel_requested = cancel.requested). Everything happens in the event's transaction: stock
-- back to the shelf (and to the backorder queue), open shipments canceled,
-- digital links and keys revoked, the status set, every authorization
-- voided and what was captured through our gateway refunded (M.settle),
-- the customer told.
-- Money taken by the storefront is refunded there: the order is tagged.

local M = {}

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

-- After the order's total changed (lines canceled, an edit) or the order
-- was canceled (it then needs nothing): settle the money with what the
-- customer owes now. The host keeps the books (payments.balance); the
-- rule:
--   * paid toward the total beyond what it needs (b.over): refund it
--     through our gateway as far as it captured it (b.refundable); what
--     the storefront took is tagged "refund-on-storefront" for a person.
--     Refunds given for another reason (a goodwill gesture, a return) are
--     not counted as paying for the total: they are never charged again,
--     and they only limit what is left to give back;
--   * one of our captures still in flight: nothing now; the workflow's
--     payment_captured runs M.payment_captured, which settles again;
--   * only authorized (nothing captured yet): authorizations the new total
--     no longer needs are voided (payments.release); the capture later
--     takes no more than the total (payments.capture caps it);
--   * more needed than is paid or held: authorize the difference through
--     our gateway (the workflow's payment_authorized captures it), or,
--     for an order paid on the storefront, tag it "balance-due".
function M.settle(order, why)
  local b = payments.balance(order)
  local gateway = payments.gateway()
  if gateway and b.open > 0 then payments.release(order) end
  if b.over > 0 then
    if b.capturing > 0 then return end   -- settled again when the capture lands
    local back = math.min(b.over, b.refundable)
    if back > 0 then refund(order, back, gateway, why) end
    if back < b.over then
      orders.tag(order, "refund-on-storefront")
      orders.note(order, ("Refund %s %s on the storefront: %s"):format(
        money.format(b.over - back, order.currency), order.currency, why))
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

-- For a workflow's payment_captured: a capture that was in flight when
-- lines were canceled (or the order was) landed; give back what the total
-- no longer needs.
function M.payment_captured(ev)
  local order = orders.get(ev.order.id)
  if payments.balance(order).over > 0 then
    M.settle(order, order.status == "canceled" and "order canceled" or "lines canceled")
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
  local reason = ev.reason or "canceled by the merchant"
  orders.set_status(order, "canceled", reason)
  -- A canceled order needs nothing: every authorization voided, what our
  -- gateway captured refunded (once a capture in flight lands), what the
  -- storefront took tagged for a person.
  M.settle(order, "order canceled")
  if notify.has_template("order_canceled") then
    notify.customer(order, "order_canceled", { reason = reason })
  end
end

return M
