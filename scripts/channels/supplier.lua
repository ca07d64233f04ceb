-- channels.supplier — a supplier's answers on
-- /webhooks/{merchant}/supplier/{supplier}, signed with that supplier's
-- secret like ordo's generic webhooks.
--
-- X-Ordo-Event and body:
--   dropship.accepted   { dropship_id }
--   dropship.rejected   { dropship_id, reason? }
--   dropship.shipped    { dropship_id, carrier?, tracking_number?, tracking_url? }
--
-- Events dropship_accepted, dropship_rejected, dropship_shipped carry
-- dropship_id, supplier (who signed it, from the URL), and the fields above.

local common = require "channels.common"

local M = {}

local EVENTS = {
	["dropship.accepted"] = "dropship_accepted",
	["dropship.rejected"] = "dropship_rejected",
	["dropship.shipped"] = "dropship_shipped",
}

function M.translate(topic, payload, ctx)
	local name = EVENTS[topic]
	if name == nil then
		return nil
	end
	local r = common.reader("supplier", topic, ctx)
	r:payload(payload)
	if math.type(payload.dropship_id) ~= "integer" or payload.dropship_id <= 0 then
		r:fail("dropship_id", "must be the dropship's number")
	end
	return {
		name = name,
		dropship_id = payload.dropship_id,
		supplier = ctx.supplier,
		reason = r:text(payload.reason, "reason"),
		carrier = r:text(payload.carrier, "carrier"),
		tracking_number = r:text(payload.tracking_number, "tracking_number"),
		tracking_url = r:text(payload.tracking_url, "tracking_url"),
	}
end

return M
