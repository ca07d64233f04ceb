-- channels.generic — ordo's own webhook format, for any storefront or ERP.
--
-- The event is named by X-Ordo-Event: order.created, order.updated,
-- order.paid, order.cancelled and refund.created; anything else is ignored.
--
-- An order:
--   { id, number?, currency?, total = "19.99", subtotal?, shipping?, tax?,
--     discount?, email?, customer?, shipping_address?, tags = {..}?,
--     placed_at?, financial_status?, cancel_reason?, note?,
--     lines = { { id?, sku, title?, quantity, price = "9.99", total? } } }
-- A refund:
--   { id, order_id, amount = "5.00", currency?, reason?,
--     lines = { { line_id?, sku?, quantity, amount = "5.00" } }? }
--
-- Money is decimal TEXT only ("19.99", "1000" in JPY): a JSON number is
-- refused, because a sender that builds it from a double may already have
-- rounded it. A missing currency means the merchant's default.
--
-- Needs channels.common (and through it the host's money module).

local common = require "channels.common"

local M = {}

local EVENTS = {
	["order.created"] = "order_created",
	["order.updated"] = "order_updated",
	["order.paid"] = "order_paid",
	["order.cancelled"] = "order_cancelled",
	["refund.created"] = "refund_created",
}

---------------------------------------------------------------------------
-- Orders
---------------------------------------------------------------------------

local customer = common.customer

local ADDRESS_FIELDS = { "name", "address1", "address2", "city", "province", "zip",
	"country_code", "phone" }

local function shipping_address(r, a)
	if r:object(a, "shipping_address") == nil then
		return nil
	end
	local out = {}
	for _, key in ipairs(ADDRESS_FIELDS) do
		out[key] = r:text(a[key], "shipping_address." .. key)
	end
	return common.nonempty(out)
end

local function tags(r, v)
	local out = {}
	for i, tag in ipairs(r:list(v, "tags")) do
		out[i] = r:text(tag, string.format("tags[%d]", i))
			or r:fail(string.format("tags[%d]", i), "is empty")
	end
	return common.nonempty(out)
end

-- total defaults to price x quantity: a line without its own discount.
local function line(r, item, path, currency)
	local quantity = r:quantity(item.quantity, path .. ".quantity")
	local price = r:money(item.price, path .. ".price", currency)
	local total
	if item.total == nil then
		total = r:times(price, quantity, path .. ".price")
	else
		total = r:money(item.total, path .. ".total", currency)
	end
	return {
		external_id = r:opt_id(item.id, path .. ".id"),
		sku = r:text(item.sku, path .. ".sku") or r:fail(path .. ".sku", "is missing"),
		title = r:text(item.title, path .. ".title"),
		quantity = quantity,
		unit_price = price,
		total = total,
	}
end

local function order(r, p)
	local external_id = r:id(p.id, "id")
	local currency = r:currency(p.currency, "currency")
	local lines = {}
	for i, item, path in r:each(p.lines, "lines") do
		lines[i] = line(r, item, path, currency)
	end
	return {
		channel = "generic",
		external_id = external_id,
		number = r:text(p.number, "number"),
		currency = currency,
		subtotal = r:opt_money(p.subtotal, "subtotal", currency),
		shipping = r:opt_money(p.shipping, "shipping", currency),
		tax = r:opt_money(p.tax, "tax", currency),
		discount = r:opt_money(p.discount, "discount", currency),
		total = r:money(p.total, "total", currency),
		email = r:text(p.email, "email"),
		customer = customer(r, p.customer),
		shipping_address = shipping_address(r, p.shipping_address),
		lines = common.nonempty(lines),
		tags = tags(r, p.tags),
		placed_at = r:text(p.placed_at, "placed_at"),
		financial_status = r:text(p.financial_status, "financial_status"),
		cancel_reason = r:text(p.cancel_reason, "cancel_reason"),
		note = r:text(p.note, "note"),
	}
end

---------------------------------------------------------------------------
-- Refunds
---------------------------------------------------------------------------

local function refund_line(r, item, path, currency)
	return {
		line_external_id = r:opt_id(item.line_id, path .. ".line_id"),
		sku = r:text(item.sku, path .. ".sku"),
		quantity = r:quantity(item.quantity, path .. ".quantity"),
		amount = r:money(item.amount, path .. ".amount", currency),
	}
end

local function refund(r, p)
	local external_id = r:id(p.id, "id")
	local order_external_id = r:id(p.order_id, "order_id")
	local currency = r:currency(p.currency, "currency")
	local lines = {}
	for i, item, path in r:each(p.lines, "lines") do
		lines[i] = refund_line(r, item, path, currency)
	end
	return {
		external_id = external_id,
		order_external_id = order_external_id,
		amount = r:money(p.amount, "amount", currency),
		currency = currency,
		reason = r:text(p.reason, "reason"),
		lines = common.nonempty(lines),
	}
end

---------------------------------------------------------------------------

function M.translate(topic, payload, ctx)
	local name = EVENTS[topic]
	if name == nil then
		return nil
	end
	local r = common.reader("generic", topic, ctx)
	r:payload(payload)
	if name == "refund_created" then
		return { name = name, refund = refund(r, payload) }
	end
	return { name = name, order = order(r, payload) }
end

return M
