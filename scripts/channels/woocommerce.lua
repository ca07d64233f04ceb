-- channels.woocommerce — WooCommerce order webhooks as ordo events.
--
-- The topic comes from X-WC-Webhook-Topic. order.created is a new order;
-- order.updated is whatever changed, so its status decides the event:
-- "cancelled" is a cancellation, "processing"/"completed" with a payment
-- date is a payment, anything else is a plain update. Every other topic
-- (order.deleted, order.restored, product.*, ...) is ignored (nil).
--
-- WooCommerce does a few things that are easy to get wrong:
--   * Money fields are decimal text ("29.35") EXCEPT line_items[].price,
--     which is a JSON number (a float). It is never read here; unit prices
--     come from the line's subtotal text.
--   * There is no order subtotal field; it is the sum of the lines'
--     subtotals (before coupons, without tax).
--   * Line `total` is after coupons, without tax: what ordo calls a line
--     total.
--   * *_gmt times are UTC but carry no "Z"; the others are the shop's
--     local time with no zone at all, so only the _gmt ones are used.
--   * Empty fields are "" rather than absent, and customer_id 0 is a guest.
--   * Fee lines (fee_lines) are in `total` but have no field of their own
--     in ordo's order, so subtotal + shipping + tax - discount can be less
--     than total when a shop charges fees.
--
-- Needs channels.common (and through it the host's money module).

local common = require "channels.common"

local M = {}

---------------------------------------------------------------------------
-- Events
---------------------------------------------------------------------------

local TOPICS = { ["order.created"] = true, ["order.updated"] = true }
local PAID = { processing = true, completed = true }

local function event_name(topic, p)
	if topic == "order.created" then
		return "order_created"
	end
	if p.status == "cancelled" then
		return "order_cancelled"
	end
	if PAID[p.status] and p.date_paid_gmt ~= nil and p.date_paid_gmt ~= "" then
		return "order_paid"
	end
	return "order_updated"
end

---------------------------------------------------------------------------
-- Orders
---------------------------------------------------------------------------

-- "2026-11-20T10:00:00" (UTC, unmarked) -> "2026-11-20T10:00:00Z".
local function utc(r, v, path)
	local text = r:text(v, path)
	if text and text:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d$") then
		return text .. "Z"
	end
	return text
end

-- Buyer details are in `billing`; customer_id is 0 for guests.
local function customer(r, p, billing)
	local id = p.customer_id
	if id == 0 then
		id = nil
	end
	return common.nonempty({
		external_id = r:opt_id(id, "customer_id"),
		email = r:text(billing.email, "billing.email"),
		first_name = r:text(billing.first_name, "billing.first_name"),
		last_name = r:text(billing.last_name, "billing.last_name"),
		phone = r:text(billing.phone, "billing.phone"),
	})
end

local function shipping_address(r, a)
	if r:object(a, "shipping") == nil then
		return nil
	end
	return common.nonempty({
		name = common.full_name(r:text(a.first_name, "shipping.first_name"),
			r:text(a.last_name, "shipping.last_name")),
		address1 = r:text(a.address_1, "shipping.address_1"),
		address2 = r:text(a.address_2, "shipping.address_2"),
		city = r:text(a.city, "shipping.city"),
		province = r:text(a.state, "shipping.state"),
		zip = r:text(a.postcode, "shipping.postcode"),
		country_code = r:text(a.country, "shipping.country"),
		phone = r:text(a.phone, "shipping.phone"),
	})
end

-- The unit price in whole minor units. Woo keeps line money, not unit
-- prices, and 3 for 10.00 has no exact unit price. Our choice:
--   1. subtotal / quantity when exact (the list price, before coupons);
--   2. else total / quantity when exact (every unit paid the same);
--   3. else subtotal // quantity, rounded down, as an indication only.
-- The line total stays exact in every case, and it is what money is
-- reckoned from; unit_price is never multiplied back.
local function unit_price(subtotal, total, quantity)
	if subtotal % quantity == 0 then
		return subtotal // quantity
	end
	if total % quantity == 0 then
		return total // quantity
	end
	return subtotal // quantity
end

local function line(r, item, path, currency)
	local external_id = r:id(item.id, path .. ".id")
	local quantity = r:quantity(item.quantity, path .. ".quantity")
	local subtotal = r:money(item.subtotal, path .. ".subtotal", currency)
	local total = r:money(item.total, path .. ".total", currency)
	return {
		external_id = external_id,
		sku = r:text(item.sku, path .. ".sku"),
		title = r:text(item.name, path .. ".name"),
		quantity = quantity,
		unit_price = unit_price(subtotal, total, quantity),
		total = total,
	}, subtotal
end

local function order(r, p)
	local external_id = r:id(p.id, "id")
	local currency = r:currency(p.currency, "currency")
	local billing = r:object(p.billing, "billing") or {}
	local lines, subtotal = {}, 0
	for i, item, path in r:each(p.line_items, "line_items") do
		local line_subtotal
		lines[i], line_subtotal = line(r, item, path, currency)
		subtotal = r:add(subtotal, line_subtotal, path .. ".subtotal")
	end
	return {
		channel = "woocommerce",
		external_id = external_id,
		number = r:text(p.number, "number"),
		currency = currency,
		subtotal = subtotal,
		shipping = r:opt_money(p.shipping_total, "shipping_total", currency),
		tax = r:opt_money(p.total_tax, "total_tax", currency),
		discount = r:opt_money(p.discount_total, "discount_total", currency),
		total = r:money(p.total, "total", currency),
		email = r:text(billing.email, "billing.email"),
		customer = customer(r, p, billing),
		shipping_address = shipping_address(r, p.shipping),
		lines = common.nonempty(lines),
		placed_at = utc(r, p.date_created_gmt, "date_created_gmt"),
		-- Woo's one status word covers payment and fulfilment alike.
		financial_status = r:text(p.status, "status"),
		note = r:text(p.customer_note, "customer_note"),
	}
end

---------------------------------------------------------------------------

function M.translate(topic, payload, ctx)
	if not TOPICS[topic] then
		return nil
	end
	local r = common.reader("woocommerce", topic, ctx)
	r:payload(payload)
	return { name = event_name(topic, payload), order = order(r, payload) }
end

return M
