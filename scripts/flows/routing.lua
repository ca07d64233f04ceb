-- Routing policies: which location ships which line. Each returns a plan
-- for inventory.reserve — {{line=, location=, quantity=}, ...} — covering
-- what can be covered; the host checks the plan against real stock (no
-- location or quantity it does not have) and reports what is short.
--
--   local routing = require "flows.routing"
--   local result = inventory.reserve(order, routing.fewest_shipments(order))
--
-- Write your own the same way: read inventory.available(sku) and
-- inventory.locations(), return a plan.

local M = {}

-- What of a line still needs stock (canceled, shipped, reserved and
-- waiting units are taken).
local function remaining(line)
  if not line.sku or line.fulfillment == "dropship" then return 0 end
  return line.quantity - (line.canceled_quantity or 0) - (line.fulfilled_quantity or 0)
    - (line.reserved or 0) - (line.backordered or 0)
end

-- sku -> {location -> available}
local function stock_of(order)
  local stock = {}
  for _, line in ipairs(order.lines) do
    if line.sku and not stock[line.sku] then stock[line.sku] = inventory.available(line.sku) end
  end
  return stock
end

-- Can `loc` ship every stock line of the order on its own?
local function fills(order, stock, loc)
  local need = {}
  for _, line in ipairs(order.lines) do
    if remaining(line) > 0 then need[line.sku] = (need[line.sku] or 0) + remaining(line) end
  end
  for sku, n in pairs(need) do
    if (stock[sku][loc] or 0) < n then return false end
  end
  return true
end

local function whole_order_at(order, loc)
  local plan = {}
  for _, line in ipairs(order.lines) do
    if remaining(line) > 0 then
      plan[#plan + 1] = { line = line.line_no, location = loc, quantity = remaining(line) }
    end
  end
  return plan
end

-- Greedy: each line from the given locations in order, as much as each has.
local function greedy(order, stock, locations)
  local plan, left = {}, {}
  for sku, per in pairs(stock) do
    left[sku] = {}
    for loc, n in pairs(per) do left[sku][loc] = n end
  end
  for _, line in ipairs(order.lines) do
    local need = remaining(line)
    for _, loc in ipairs(locations) do
      if need == 0 then break end
      local have = left[line.sku][loc.id] or 0
      local take = math.min(have, need)
      if take > 0 then
        plan[#plan + 1] = { line = line.line_no, location = loc.id, quantity = take }
        left[line.sku][loc.id] = have - take
        need = need - take
      end
    end
  end
  return plan
end

-- The first location by priority that can ship the whole order; nil if none.
function M.single_location(order)
  local stock = stock_of(order)
  for _, loc in ipairs(inventory.locations()) do
    if fills(order, stock, loc.id) then return whole_order_at(order, loc.id) end
  end
  return nil
end

-- One shipment when any location can make it; otherwise split, starting
-- with the location that covers the most units.
function M.fewest_shipments(order)
  local whole = M.single_location(order)
  if whole then return whole end
  local stock, locations = stock_of(order), inventory.locations()
  local covers = {}
  for _, loc in ipairs(locations) do
    local n = 0
    for _, line in ipairs(order.lines) do
      if remaining(line) > 0 then n = n + math.min(stock[line.sku][loc.id] or 0, remaining(line)) end
    end
    covers[loc.id] = n
  end
  table.sort(locations, function(a, b)
    if covers[a.id] ~= covers[b.id] then return covers[a.id] > covers[b.id] end
    return a.priority < b.priority
  end)
  return greedy(order, stock, locations)
end

-- Locations in the shipping address's region first ("US-OR" matches a
-- location with region "US-OR", then one with "US"), then by priority.
function M.nearest(order)
  local a = order.shipping_address or {}
  local exact = a.country_code and a.province_code and (a.country_code .. "-" .. a.province_code)
  local function rank(loc)
    if exact and loc.region == exact then return 0 end
    if a.country_code and loc.region and loc.region:sub(1, #a.country_code) == a.country_code then
      return 1
    end
    return 2
  end
  local locations = inventory.locations()
  table.sort(locations, function(x, y)
    if rank(x) ~= rank(y) then return rank(x) < rank(y) end
    return x.priority < y.priority
  end)
  local stock = stock_of(order)
  for _, loc in ipairs(locations) do
    if fills(order, stock, loc.id) then return whole_order_at(order, loc.id) end
  end
  return greedy(order, stock, locations)
end

return M
