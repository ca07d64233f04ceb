-- Returns (RMA): the merchant's policy for a return's steps. The host
-- keeps the invariants (never more returned than shipped, never more
-- refunded than captured, restocked units feed the backorder queue); this
-- decides when a return is approved and when money goes back.
--
--   local returns_flow = require "flows.returns"
--   returns_flow.install(flow)     -- all of the handlers below, or pick:
--   flow.return_requested = returns_flow.auto_approve
--   flow.return_received = returns_flow.refund_on_receipt
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

-- Tell the customer (when the merchant has the template): a return
-- approved (send the units back), a refund issued (with its amount).
function M.approved(ev)
  if notify.has_template("return_approved") then
    notify.customer(ev.order_id, "return_approved", { return_id = tostring(ev.return_id) })
  end
end

function M.refunded(ev)
  local r = returns.get(ev.return_id)
  if r and notify.has_template("refund_issued") then
    notify.customer(ev.order_id, "refund_issued", { return_id = tostring(r.id),
      amount = money.format(r.refund_amount, r.currency) .. " " .. r.currency })
  end
end

-- What the returned units were bought for (the customer's credit).
local function credit_of(r, original)
  local price, credit = {}, 0
  for _, l in ipairs(original.lines) do price[l.line_no] = l.unit_price end
  for _, l in ipairs(r.lines) do credit = credit + (price[l.line] or 0) * l.quantity end
  return credit
end

local function replacement_of(r)
  return orders.get { channel = "exchange", external_id = "return-" .. r.id }
end

-- The units came back: refund what was received. For an exchange the
-- replacement already took the credit: only a cheaper replacement's
-- difference goes back, and an even one just closes the return.
function M.refund_on_receipt(ev)
  local r = returns.get(ev.return_id)
  if r == nil or r.status ~= "received" then return end
  local replacement = replacement_of(r)
  if replacement == nil then
    returns.refund(r.id)
    return
  end
  local diff = credit_of(r, orders.get(r.order_id)) - replacement.subtotal
  if diff > 0 then returns.refund(r.id, diff) else returns.close(r.id) end
end

-- An exchange (POST /api/v1/orders/{id}/exchanges): a return plus a
-- replacement order for other SKUs. The returned units are credited at
-- what was paid for them; the replacement is charged only what it costs
-- beyond that (its total is the difference), reserved and shipped like any
-- order. A cheaper replacement's difference is refunded on receipt.
function M.exchange(ev)
  local r = returns.get(ev.return_id)
  local original = orders.get(ev.order_id)
  if r == nil or original == nil then error("exchange for a return or order that does not exist") end
  local lines, subtotal = {}, 0
  for i, l in ipairs(ev.replacement) do
    lines[i] = { sku = l.sku, title = l.title or l.sku, quantity = l.quantity,
                 unit_price = l.unit_price, total = l.unit_price * l.quantity }
    subtotal = subtotal + lines[i].total
  end
  local discount = math.min(credit_of(r, original), subtotal)
  local replacement, created = orders.create {
    channel = "exchange", external_id = "return-" .. r.id, currency = original.currency,
    email = original.email, customer = original.customer,
    shipping_address = original.shipping_address, lines = lines,
    subtotal = subtotal, discount = discount, total = subtotal - discount,
    note = ("Exchange for return %d of order %d"):format(r.id, original.id), tags = { "exchange" },
  }
  if not created then return end
  orders.note(original, ("Exchange: return %d, replacement order %d (%s %s to pay)"):format(
    r.id, replacement.id, money.format(replacement.total, replacement.currency), replacement.currency))
  local result = inventory.reserve(replacement)
  if #result.short > 0 then inventory.backorder(replacement, result.short) end
  if replacement.total > 0 then payments.authorize(replacement) end   -- the difference
end

-- Someone asked for the refund over the API (the amount is checked).
function M.refund_requested(ev)
  returns.refund(ev.return_id, ev.amount)
end

-- The whole policy on a workflow's handler table.
function M.install(flow)
  flow.return_requested = M.auto_approve
  flow.return_received = M.refund_on_receipt
  flow.return_refund_requested = M.refund_requested
  flow.exchange_requested = M.exchange        -- a return plus a replacement order
  flow.return_approved = M.approved           -- "return_approved" to the customer
  flow.return_refunded = M.refunded           -- "refund_issued" to the customer
  return flow
end

return M
