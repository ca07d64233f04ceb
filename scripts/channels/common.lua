-- channels.common — what the storefront adapters share.
--
-- A reader checks one field at a time and, when a payload cannot be
-- mapped, raises an error that names the channel, the topic, the field
-- path and what is wrong:
--
--   shopify orders/create: line_items[2].price: "19.9.9" is not a decimal amount in USD
--
-- Rules every adapter follows through these helpers:
--   * ids become text with their exact digits (storefront ids can exceed
--     2^53, so a float id has already lost digits and is refused);
--   * money is parsed from decimal strings by money.parse into integer
--     minor units; a JSON number where money is expected is refused;
--   * no floating-point arithmetic on money (never `/`): + - and * on
--     integers, checked for overflow, and `//` only with its remainder
--     checked (see woocommerce.lua's unit_price).
--
-- Needs the host's `money` module (parse, exponent). Uses nothing else.

local M = {}

local Reader = {}
Reader.__index = Reader

-- A reader for one payload of `channel` and `topic`; ctx is the
-- {merchant=, currency=, timezone=, channel=} the host passes in.
function M.reader(channel, topic, ctx)
	return setmetatable({ channel = channel, topic = topic, ctx = ctx or {} }, Reader)
end

-- How a bad value is shown in a message: short, and never a whole blob.
local function show(v)
	if type(v) == "string" then
		if #v > 40 then
			v = v:sub(1, 37) .. "..."
		end
		return string.format("%q", v)
	end
	if type(v) == "table" then
		return "a table"
	end
	return tostring(v)
end
M.show = show

-- Raise "<channel> <topic>: <path>: <what>". Level 0: the adapter's own
-- file and line would tell a merchant nothing the path does not.
function Reader:fail(path, fmt, ...)
	error(string.format("%s %s: %s: %s", self.channel, self.topic, path,
		string.format(fmt, ...)), 0)
end

-- The payload itself must be an object.
function Reader:payload(p)
	if type(p) ~= "table" then
		self:fail("payload", "is %s, not a JSON object", show(p))
	end
	return p
end

---------------------------------------------------------------------------
-- Ids and text
---------------------------------------------------------------------------

-- A required id as text: integers keep every digit, strings pass as they
-- are, floats are refused (2^53 and beyond they have already been rounded).
function Reader:id(v, path)
	if v == nil then
		self:fail(path, "is missing")
	end
	return self:opt_id(v, path)
end

function Reader:opt_id(v, path)
	if v == nil then
		return nil
	end
	if math.type(v) == "integer" then
		if v <= 0 then
			self:fail(path, "%d is not a valid id", v)
		end
		return string.format("%d", v)
	end
	if math.type(v) == "float" then
		self:fail(path, "is the floating-point number %s; ids must be integers or text so every digit stays exact", show(v))
	end
	if type(v) ~= "string" or v == "" then
		self:fail(path, "is %s, not an id", show(v))
	end
	return v
end

-- Optional text; storefronts send "" for "not given", which we drop.
-- Integers are written as decimal text (phone numbers, postcodes).
function Reader:text(v, path)
	if v == nil or v == "" then
		return nil
	end
	if math.type(v) == "integer" then
		return string.format("%d", v)
	end
	if type(v) ~= "string" then
		self:fail(path, "is %s, not text", show(v))
	end
	return v
end

-- An optional object (nil when absent).
function Reader:object(v, path)
	if v ~= nil and type(v) ~= "table" then
		self:fail(path, "is %s, not an object", show(v))
	end
	return v
end

-- An optional list: {} when absent.
function Reader:list(v, path)
	if v == nil then
		return {}
	end
	if type(v) ~= "table" then
		self:fail(path, "is %s, not a list", show(v))
	end
	return v
end

-- Walk a list of objects with the path of each:
--   for i, item, path in r:each(p.line_items, "line_items") do ... end
-- Paths count from 1, as a merchant counts lines.
function Reader:each(v, path)
	local list, i = self:list(v, path), 0
	return function()
		i = i + 1
		local item = list[i]
		if item == nil then
			return nil
		end
		local item_path = string.format("%s[%d]", path, i)
		if type(item) ~= "table" then
			self:fail(item_path, "is %s, not an object", show(item))
		end
		return i, item, item_path
	end
end

---------------------------------------------------------------------------
-- Currency, money, quantities
---------------------------------------------------------------------------

-- The currency code at `path`, else the merchant's default.
function Reader:currency(v, path)
	if v == nil or v == "" then
		v = self.ctx.currency
		if v == nil then
			self:fail(path, "is missing and the merchant has no default currency")
		end
	end
	if type(v) ~= "string" or not pcall(money.exponent, v) then
		self:fail(path, "%s is not an ISO 4217 currency code", show(v))
	end
	return v
end

-- Required money: a decimal string in `currency`, as integer minor units.
function Reader:money(v, path, currency)
	if v == nil then
		self:fail(path, "is missing")
	end
	if type(v) == "number" then
		self:fail(path, "is the number %s; money must be a decimal string such as \"19.99\"", show(v))
	end
	if type(v) ~= "string" then
		self:fail(path, "is %s, not a decimal amount", show(v))
	end
	local ok, minor = pcall(money.parse, v, currency)
	if not ok then
		self:fail(path, "%s is not a decimal amount in %s", show(v), currency)
	end
	return minor
end

-- Optional money: 0 when absent.
function Reader:opt_money(v, path, currency)
	if v == nil then
		return 0
	end
	return self:money(v, path, currency)
end

-- A line quantity: a whole number above zero (2.0 is refused too: the
-- storefront sent something other than a count).
function Reader:quantity(v, path)
	if math.type(v) ~= "integer" or v <= 0 then
		self:fail(path, "%s is not a positive whole number", v == nil and "missing" or show(v))
	end
	return v
end

-- a + b, refusing to wrap around.
function Reader:add(a, b, path)
	if (b > 0 and a > math.maxinteger - b) or (b < 0 and a < math.mininteger - b) then
		self:fail(path, "the amounts add up past what can be stored")
	end
	return a + b
end

-- price * quantity (quantity > 0), refusing to wrap around.
function Reader:times(price, quantity, path)
	local limit = math.maxinteger // quantity
	if price > limit or price < -limit then
		self:fail(path, "%d x %d is too large", price, quantity)
	end
	return price * quantity
end

---------------------------------------------------------------------------
-- Plain helpers
---------------------------------------------------------------------------

-- nil for an empty table. The host reads an empty Lua table as an empty
-- JSON object, which is wrong for lists and pointless for records.
-- A customer block shaped {id, email, first_name, last_name, phone}, as
-- Shopify and the generic format send it; nil when absent or empty.
function M.customer(r, c)
	if r:object(c, "customer") == nil then
		return nil
	end
	return M.nonempty({
		external_id = r:opt_id(c.id, "customer.id"),
		email = r:text(c.email, "customer.email"),
		first_name = r:text(c.first_name, "customer.first_name"),
		last_name = r:text(c.last_name, "customer.last_name"),
		phone = r:text(c.phone, "customer.phone"),
	})
end

function M.nonempty(t)
	if t == nil or next(t) == nil then
		return nil
	end
	return t
end

-- "vip, gift,,  wholesale " -> { "vip", "gift", "wholesale" } (nil if none).
function M.split_tags(s)
	local tags = {}
	for part in string.gmatch(s, "[^,]+") do
		local tag = part:match("^%s*(.-)%s*$")
		if tag ~= "" then
			tags[#tags + 1] = tag
		end
	end
	return M.nonempty(tags)
end

-- "Ada", "Lovelace" -> "Ada Lovelace"; either may be missing.
function M.full_name(first, last)
	local name = table.concat({ first or "", last or "" }, " "):match("^%s*(.-)%s*$")
	return name ~= "" and name or nil
end

return M
