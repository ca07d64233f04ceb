-- Returns (RMA): the merchant's policy for a return's steps. The host
-- keeps the invariants (never more returned than shipped, never more
-- refunded than captured, restocked units feed the backorder queue); this
-- decides when a return is approved and when money goes back.
--
--   local returns_flow = require "flows.returns"
--   flow.return_requested = returns_flow.auto_approve
--   flow.return_received = returns_flow.refund_on_receipt
--   flow.return_refund_requested = returns_flow.refund_requested
--
-- Receiving (POST /api/v1/returns/{id}/receive) restocks every unit unless
-- the return's reason is "damaged" (then they are written off); a
-- warehouse that inspects the units says per line instead.

local M = {}

M.WINDOW_DAYS = 30
local DAY_MS = 86400000

-- Approve a return asked for within WINDOW_DAYS of delivery; anything else
-- waits for a person (approve or reject over the API).
function M.auto_approve(ev)
  local r = returns.get(ev.return_id)
  if r == nil or r.status ~= "requested" then return end
  if r.delivered_at == nil then
    orders.note(r.order_id, ("Return %d waits for review: not delivered yet"):format(r.id))
    return
  end
  if now() - time.parse(r.delivered_at) <= M.WINDOW_DAYS * DAY_MS then
    returns.approve(r.id)
  else
    orders.note(r.order_id, ("Return %d waits for review: delivered more than %d days ago")
      :format(r.id, M.WINDOW_DAYS))
  end
end

-- The units came back: refund what was received.
function M.refund_on_receipt(ev)
  local r = returns.get(ev.return_id)
  if r ~= nil and r.status == "received" then returns.refund(r.id) end
end

-- Someone asked for the refund over the API (the amount is checked).
function M.refund_requested(ev)
  returns.refund(ev.return_id, ev.amount)
end

return M
