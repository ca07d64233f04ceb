-- Digital delivery: files, license keys and activations go out the moment
-- the payment clears; a refund or a cancellation revokes them.
--
-- Which SKUs are digital is in config (merchants[].digital.products): a
-- file from the asset folder (a download link with an expiry and a download
-- limit) or a license key from the SKU's pool (imported with
-- POST /api/v1/license-pools/{sku}/keys). Lines of other SKUs are left to
-- the merchant's shipping flow.

-- Revoke license keys on a refund too (not only the download links)?
local REVOKE_KEYS_ON_REFUND = true

local cancel = require "flows.cancel"
local edits = require "flows.edits"

local flow = {}

-- POST /api/v1/orders/{id}/cancel: links and keys revoked, money back.
flow.cancel_requested = cancel.requested

-- POST /api/v1/orders/{id}/edits: the difference is charged (or given
-- back); what it adds is delivered when that capture lands. No stock.
flow.edit_requested = edits.handler { reserve = false }

-- Lines with a live download link already: delivered (an edit that adds
-- a line, paid by a second capture, delivers only the new one).
local function linked(order)
  local has = {}
  for _, g in ipairs(digital.get(order).grants) do
    if not g.revoked_at then has[g.line] = true end
  end
  return has
end

local function deliver(order)
  local links, keys, short = {}, {}, {}
  local has_link = linked(order)
  for _, line in ipairs(order.lines) do
    local product = line.sku and digital.product(line.sku)
    if (line.quantity - (line.canceled_quantity or 0)) <= 0 then
      product = nil                                   -- every unit canceled
    end
    if product and product.kind == "file" and has_link[line.line_no] then
      product = nil
    end
    if product and product.kind == "file" then
      for _, g in ipairs(digital.grant(order, line)) do
        table.insert(links, ("%s: %s (until %s, %d downloads)"):format(
          line.title or line.sku, g.url or g.path, g.expires_at, g.download_limit))
      end
    elseif product and product.kind == "license" then
      local got, err = digital.draw_keys(order, line)
      if got then
        for _, k in ipairs(got) do table.insert(keys, (line.title or line.sku) .. ": " .. k) end
      else
        table.insert(short, line.sku)
        orders.note(order, "No license key for line " .. line.line_no .. ": " .. err)
      end
    end
  end
  if #short > 0 then
    -- The merchant imports more keys and redelivers; the customer gets what
    -- could be delivered now.
    orders.tag(order, "license-pool-empty")
    log.warn("license pool empty", { order = order.id, skus = table.concat(short, ",") })
    -- The merchant's own systems hear it (webhooks subscribed to
    -- license_pool.empty, or "*").
    webhooks.emit("license_pool.empty", { order_id = order.id, skus = short }, order)
  end
  if (#links > 0 or #keys > 0) and notify.has_template("digital_delivery") then
    notify.customer(order, "digital_delivery", {
      links = table.concat(links, "\n"), keys = table.concat(keys, "\n") })
  end
end

function flow.order_created(ev)
  local order, created = orders.create(ev.order)
  if not created then return end
  if ev.order.financial_status == "paid" or order.total == 0 then
    orders.mark_paid(order)
    deliver(orders.get(order))
  elseif payments.gateway() and order.total > 0 then
    payments.authorize(order)
  end
end

function flow.order_paid(ev)
  local order = orders.get(ev.order) or orders.create(ev.order)
  if order.payment_status == "paid" then return end   -- delivered already
  orders.mark_paid(order)
  deliver(orders.get(order))
end

function flow.payment_authorized(ev)
  payments.capture(ev.order)   -- nothing to ship: take the money now
end

function flow.payment_captured(ev)
  cancel.payment_captured(ev)   -- canceled while the capture was in flight: refunded
  if ev.order.status ~= "canceled" then deliver(ev.order) end
end

function flow.payment_failed(ev)
  orders.note(ev.order, ("Payment %s failed: %s"):format(ev.operation, ev.error))
  orders.tag(ev.order, "payment-failed")
end

local function revoke(order, why)
  local n = digital.revoke(order, { keys = REVOKE_KEYS_ON_REFUND })
  orders.note(order, ("%s: revoked %d link(s) and %d key(s)"):format(why, n.grants, n.keys))
end

function flow.refund_created(ev)
  local order = orders.get { channel = ev.channel, external_id = ev.refund.order_external_id }
  if not order then
    error("refund " .. ev.refund.external_id .. " is for order "
      .. ev.refund.order_external_id .. ", which ordo has not seen")
  end
  if ev.refund.amount > 0 and not pcall(orders.storefront_refund, order, ev.refund) then
    orders.tag(order, "refund-unreconciled")
  end
  revoke(order, "Refunded on " .. ev.channel)
end

function flow.order_cancelled(ev)
  local order = orders.get(ev.order) or orders.create(ev.order)
  orders.set_status(order, "canceled", ev.order.cancel_reason or "cancelled on " .. ev.channel)
  revoke(order, "Canceled")
end

return flow
