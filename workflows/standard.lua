-- Standard flow: record every storefront order, track its payment,
-- cancel it when the storefront cancels, and note refunds on it.
--
-- Each handler is named after the event it handles and gets the event
-- table: ev.order (the order as the channel adapter mapped it), ev.refund,
-- ev.channel, ev.topic, ev.id. Everything a handler changes is committed
-- together, or not at all if it raises.

local flow = {}

function flow.order_created(ev)
  local order = orders.create(ev.order)
  if ev.order.financial_status == "paid" then
    orders.mark_paid(order)  -- the storefront already captured the payment
  end
  log.info("order recorded", { order = order.id, total = money.format(order.total, order.currency) })
end

function flow.order_updated(ev)
  -- An update can arrive before the creation we missed: record it then.
  orders.create(ev.order)
end

function flow.order_paid(ev)
  local order = orders.get(ev.order) or orders.create(ev.order)
  orders.mark_paid(order)
end

function flow.order_cancelled(ev)
  local order = orders.get(ev.order) or orders.create(ev.order)
  orders.set_status(order, "canceled", ev.order.cancel_reason or "cancelled on " .. ev.channel)
end

function flow.refund_created(ev)
  local refund = ev.refund
  local order = orders.get { channel = ev.channel, external_id = refund.order_external_id }
  if not order then
    error("refund " .. refund.external_id .. " is for order " .. refund.order_external_id
      .. ", which ordo has not seen")
  end
  orders.note(order, ("Refund of %s %s issued on %s%s"):format(
    money.format(refund.amount, refund.currency), refund.currency, ev.channel,
    refund.reason and (": " .. refund.reason) or ""))
end

return flow
