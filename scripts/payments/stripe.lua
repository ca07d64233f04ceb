-- Stripe-style gateway adapter: PaymentIntents with manual capture.
--
-- The host calls request(op, p) to build what to send (it adds the
-- Idempotency-Key and the Authorization header, form-encodes `form`, and
-- retries on network errors, 5xx and 429 with the same key), and
-- parse(op, answer) to read what came back. Money is integer minor units
-- both here and at the gateway, so nothing is converted.
--
--   p      = { op, amount, currency, order_id, payment_id, reference, reason }
--   answer = { ok = HTTP 2xx, status = HTTP status or nil, body = text or nil,
--              error = why the call failed, if it did }

local stripe = {}

function stripe.request(op, p)
  if op == "authorize" then
    return {
      path = "/v1/payment_intents",
      form = {
        amount = p.amount,
        currency = p.currency:lower(),
        capture_method = "manual",
        confirm = "true",
        ["metadata[order_id]"] = tostring(p.order_id),
        ["metadata[payment_id]"] = tostring(p.payment_id),
      },
    }
  elseif op == "capture" then
    return { path = "/v1/payment_intents/" .. p.reference .. "/capture",
             form = { amount_to_capture = p.amount } }
  elseif op == "void" then
    return { path = "/v1/payment_intents/" .. p.reference .. "/cancel", form = {} }
  elseif op == "refund" then
    local form = { payment_intent = p.reference, amount = p.amount }
    if p.reason then form["metadata[reason]"] = p.reason end
    return { path = "/v1/refunds", form = form }
  end
  error("stripe adapter: unknown operation " .. tostring(op))
end

-- What a successful answer's status must be, per operation.
local expected = {
  authorize = { requires_capture = true, succeeded = true },
  capture = { succeeded = true },
  void = { canceled = true },
  refund = { succeeded = true, pending = true },
}

function stripe.parse(op, answer)
  if answer.body == nil then
    return { ok = false, error = answer.error or "no answer from the gateway" }
  end
  local ok, doc = pcall(json.decode, answer.body)
  if not ok or type(doc) ~= "table" then
    return { ok = false, error = "the gateway's answer is not JSON (HTTP " ..
      tostring(answer.status) .. ")" }
  end
  if not answer.ok then
    local e = type(doc.error) == "table" and doc.error or {}
    return { ok = false, error = (e.message or ("HTTP " .. tostring(answer.status))) ..
      (e.code and (" (" .. e.code .. ")") or "") }
  end
  if type(doc.id) ~= "string" then
    return { ok = false, error = "the gateway's answer has no id" }
  end
  if not expected[op][doc.status] then
    return { ok = false, error = "the gateway answered status " .. tostring(doc.status) }
  end
  return { ok = true, reference = doc.id }
end

return stripe
