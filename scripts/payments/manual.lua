-- The manual gateway, for merchants who take payment elsewhere (cash on
-- delivery, bank transfer, a terminal in the shop). Nothing is sent: every
-- request succeeds at once and the workflow gets payment_authorized,
-- payment_captured, ... like with any other gateway, so the same workflow
-- runs either way. The money rules (never capture more than authorized,
-- never refund more than captured) still hold.

local manual = {}

function manual.request(op, p)
  return nil
end

function manual.parse(op, answer)
  return { ok = true }
end

return manual
