-- channels.carrier — a carrier's tracking updates (or a tracking
-- aggregator's), signed like ordo's generic webhooks.
--
-- X-Ordo-Event: tracking.updated; the body:
--   { tracking_number = "1Z999...", status = "delivered" | "in_transit" |
--     "out_for_delivery" | "exception", carrier? = "UPS", at? = ISO time }
--
-- The event is carrier_<status> (carrier_delivered, ...) with
-- tracking_number, carrier and at; the workflow finds the shipment
-- (fulfillment.find) and moves it. Anything else is ignored.

local common = require "channels.common"

local M = {}

local STATUSES = {
	delivered = true, in_transit = true, out_for_delivery = true, exception = true,
}

function M.translate(topic, payload, ctx)
	if topic ~= "tracking.updated" then
		return nil
	end
	local r = common.reader("carrier", topic, ctx)
	r:payload(payload)
	local number = r:text(payload.tracking_number, "tracking_number")
		or r:fail("tracking_number", "is missing")
	local status = r:text(payload.status, "status") or r:fail("status", "is missing")
	if not STATUSES[status] then
		r:fail("status", "must be delivered, in_transit, out_for_delivery or exception, not "
			.. string.format("%q", status))
	end
	return {
		name = "carrier_" .. status,
		tracking_number = number,
		carrier = r:text(payload.carrier, "carrier"),
		at = r:text(payload.at, "at"),
	}
end

return M
