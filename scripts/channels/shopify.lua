-- channels.shopify — Shopify order webhooks as ordo events.
--
-- The topic comes from X-Shopify-Topic. orders/create, orders/updated,
-- orders/paid and orders/cancelled carry the whole order; refunds/create
-- carries one refund. Every other topic is ignored (translate returns nil).
--
-- Shopify does a few things that are easy to get wrong:
--   * Ids are 64-bit integers and already pass 2^53; they stay exact text.
--   * Money is decimal text in the shop's currency (`currency`). What the
--     buyer saw in their own currency is only in the *_set fields.
--   * `subtotal_price` is AFTER discounts. ordo's subtotal is before them
--     (subtotal + shipping + tax - discount = total, for tax-exclusive
--     shops), so it comes from `total_line_items_price`.
--   * `tags` is one comma-separated string: "vip, gift".
--   * In a refund, refund_line_items[].subtotal is a JSON number; the exact
--     text is in subtotal_set.
--
-- Needs channels.common (and through it the host's money module).

local common = require "channels.common"

local M = {}

local EVENTS = {
	["orders/create"] = "order_created",
	["orders/updated"] = "order_updated",
	["orders/paid"] = "order_paid",
	["orders/cancelled"] = "order_cancelled",
	["refunds/create"] = "refund_created",
}

---------------------------------------------------------------------------
-- Orders
---------------------------------------------------------------------------

local customer = common.customer

local function shipping_address(r, a)
	if r:object(a, "shipping_address") == nil then
		return nil
	end
	local name = r:text(a.name, "shipping_address.name") or common.full_name(
		r:text(a.first_name, "shipping_address.first_name"),
		r:text(a.last_name, "shipping_address.last_name"))
	return common.nonempty({
		name = name,
		address1 = r:text(a.address1, "shipping_address.address1"),
		address2 = r:text(a.address2, "shipping_address.address2"),
		city = r:text(a.city, "shipping_address.city"),
		-- The code ("ON"), as WooCommerce sends it, so both channels agree.
		province = r:text(a.province_code, "shipping_address.province_code")
			or r:text(a.province, "shipping_address.province"),
		zip = r:text(a.zip, "shipping_address.zip"),
		country_code = r:text(a.country_code, "shipping_address.country_code"),
		phone = r:text(a.phone, "shipping_address.phone"),
	})
end

-- What discounts take off a line. discount_allocations holds every
-- discount's share of this line (codes, automatic and order-wide ones);
-- total_discount is its deprecated sum, used only when the list is absent.
local function line_discount(r, item, path, currency)
	if item.discount_allocations == nil then
		return r:opt_money(item.total_discount, path .. ".total_discount", currency)
	end
	local sum = 0
	for _, a, apath in r:each(item.discount_allocations, path .. ".discount_allocations") do
		sum = r:add(sum, r:money(a.amount, apath .. ".amount", currency), apath .. ".amount")
	end
	return sum
end

local function line(r, item, path, currency)
	local external_id = r:id(item.id, path .. ".id")
	local quantity = r:quantity(item.quantity, path .. ".quantity")
	local unit_price = r:money(item.price, path .. ".price", currency)
	local gross = r:times(unit_price, quantity, path .. ".price")
	return {
		external_id = external_id,
		sku = r:text(item.sku, path .. ".sku"),
		-- `name` is what the receipt shows ("Tee - Black / M"); `title` is
		-- the product alone.
		title = r:text(item.name, path .. ".name") or r:text(item.title, path .. ".title"),
		quantity = quantity,
		unit_price = unit_price,
		total = gross - line_discount(r, item, path, currency),
	}
end

-- Shipping before shipping discounts (those are in total_discounts).
local function shipping(r, shipping_lines, currency)
	local sum = 0
	for _, s, path in r:each(shipping_lines, "shipping_lines") do
		sum = r:add(sum, r:money(s.price, path .. ".price", currency), path .. ".price")
	end
	return sum
end

local function tags(r, v)
	local text = r:text(v, "tags")
	return text and common.split_tags(text)
end

local function order(r, p)
	local external_id = r:id(p.id, "id")
	local currency = r:currency(p.currency, "currency")
	local lines = {}
	for i, item, path in r:each(p.line_items, "line_items") do
		lines[i] = line(r, item, path, currency)
	end
	return {
		channel = "shopify",
		external_id = external_id,
		number = r:text(p.name, "name"),
		currency = currency,
		subtotal = r:opt_money(p.total_line_items_price, "total_line_items_price", currency),
		shipping = shipping(r, p.shipping_lines, currency),
		tax = r:opt_money(p.total_tax, "total_tax", currency),
		discount = r:opt_money(p.total_discounts, "total_discounts", currency),
		total = r:money(p.total_price, "total_price", currency),
		email = r:text(p.email, "email") or r:text(p.contact_email, "contact_email"),
		customer = customer(r, p.customer),
		shipping_address = shipping_address(r, p.shipping_address),
		lines = common.nonempty(lines),
		tags = tags(r, p.tags),
		placed_at = r:text(p.created_at, "created_at"),
		financial_status = r:text(p.financial_status, "financial_status"),
		cancel_reason = r:text(p.cancel_reason, "cancel_reason"),
		note = r:text(p.note, "note"),
	}
end

---------------------------------------------------------------------------
-- Refunds
---------------------------------------------------------------------------

-- The money actually returned: successful "refund" transactions. Failed
-- and pending attempts are listed too and must not count.
local function refunded(r, transactions)
	local currency, amount, refs = nil, 0, {}
	for _, t, path in r:each(transactions, "transactions") do
		if t.kind == "refund" and t.status == "success" then
			-- the gateway's own id of the refund, to recognise one ordo sent
			local ref = r:text(t.authorization, path .. ".authorization")
			if ref ~= nil and ref ~= "" then refs[#refs + 1] = ref end
			local cur = r:currency(t.currency, path .. ".currency")
			if currency ~= nil and cur ~= currency then
				r:fail(path .. ".currency", "is %s but an earlier refund transaction is in %s", cur, currency)
			end
			currency = cur
			amount = r:add(amount, r:money(t.amount, path .. ".amount", cur), path .. ".amount")
		end
	end
	return amount, currency or r:currency(nil, "transactions[].currency"), refs
end

-- A refunded line's amount before tax (like an order line's total), taken
-- from whichever side of subtotal_set (shop or presentment money) is in the
-- refund's currency.
local function refund_line_amount(r, item, path, currency)
	local set = r:object(item.subtotal_set, path .. ".subtotal_set")
	if set == nil then
		return r:money(item.subtotal, path .. ".subtotal", currency)
	end
	for _, side in ipairs({ "shop_money", "presentment_money" }) do
		local bag = r:object(set[side], path .. ".subtotal_set." .. side)
		if bag ~= nil and (bag.currency_code == currency or bag.currency_code == nil) then
			return r:money(bag.amount, path .. ".subtotal_set." .. side .. ".amount", currency)
		end
	end
	r:fail(path .. ".subtotal_set", "has no amount in %s, the refund's currency", currency)
end

local function refund_line(r, item, path, currency)
	local line_item = r:object(item.line_item, path .. ".line_item") or {}
	return {
		line_external_id = r:id(item.line_item_id, path .. ".line_item_id"),
		sku = r:text(line_item.sku, path .. ".line_item.sku"),
		quantity = r:quantity(item.quantity, path .. ".quantity"),
		amount = refund_line_amount(r, item, path, currency),
	}
end

local function refund(r, p)
	local external_id = r:id(p.id, "id")
	local order_external_id = r:id(p.order_id, "order_id")
	local amount, currency, refs = refunded(r, p.transactions)
	local lines = {}
	for i, item, path in r:each(p.refund_line_items, "refund_line_items") do
		lines[i] = refund_line(r, item, path, currency)
	end
	return {
		external_id = external_id,
		order_external_id = order_external_id,
		amount = amount,
		currency = currency,
		references = common.nonempty(refs),
		reason = r:text(p.note, "note"),
		lines = common.nonempty(lines),
	}
end

---------------------------------------------------------------------------

function M.translate(topic, payload, ctx)
	local name = EVENTS[topic]
	if name == nil then
		return nil
	end
	local r = common.reader("shopify", topic, ctx)
	r:payload(payload)
	if name == "refund_created" then
		return { name = name, refund = refund(r, payload) }
	end
	return { name = name, order = order(r, payload) }
end

return M
