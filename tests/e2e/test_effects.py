"""
Effects through the transactional outbox: payments against a Stripe-style
gateway, customer notifications, outgoing webhooks and http.post, with
retries, idempotency keys, kill -9 and the effects API.

beta runs a workflow written for each test and is pointed at the fakes
(tests/e2e/fakes.py) through `beta_extra`; acme keeps running
workflows/standard.lua and must keep being served. Every wait is bounded.
"""
import re
import time
from pathlib import Path

import pytest

from conftest import POLL_TIMEOUT, metric, q, shopify_order, shopify_refund, wait_until

API_KEY = "sk_test_123"
FAST = "{timeout: 2s, max_attempts: 4, base_delay: 10ms, max_delay: 50ms}"

# Authorize on creation, capture on authorization; every outcome leaves a
# trace on the order (tags and notes) for the test to read.
PAY_FLOW = """\
local flow = {}

function flow.order_created(ev)
  local order = orders.create(ev.order)
  orders.tag(order, "gw-" .. tostring(payments.gateway()))
  payments.authorize(order)
end

function flow.payment_authorized(ev)
  local p = ev.payment
  orders.note(ev.order, ("authorized %s %d %s via %s status %s source %s"):format(
    tostring(p.reference), p.amount, p.currency, tostring(p.gateway), p.status, ev.source))
  orders.tag(ev.order, "authorized")
  payments.capture(ev.order)
end

function flow.payment_captured(ev)
  orders.note(ev.order, ("captured %s %d"):format(tostring(ev.payment.reference), ev.payment.amount))
  orders.tag(ev.order, "captured")
end

function flow.payment_failed(ev)
  orders.tag(ev.order, "payment-failed")
  orders.note(ev.order, ("failed %s: %s [payment %s]"):format(
    ev.operation, tostring(ev.error), ev.payment.status))
  if ev.operation == "authorize" then
    orders.set_status(ev.order, "canceled", "payment failed")
  end
end

function flow.refund_created(ev)
  local order = orders.get { channel = ev.channel, external_id = ev.refund.order_external_id }
  payments.refund(order, ev.refund.amount, ev.refund.reason)
end

function flow.payment_refunded(ev)
  orders.note(ev.order, ("refunded %d"):format(ev.payment.amount))
end

return flow
"""


def ack(r):
    assert r.status_code == 200, f"{r.status_code} {r.text}"
    assert r.json()["ok"] is True, r.text
    return r.json()["id"]


def pay_config(gateway, effects=FAST, extra=""):
    return f"""\
payments:
  gateway: stripe
  base_url: {q(gateway.url)}
  api_key: {q(API_KEY)}
effects: {effects}
""" + extra


def reason(dl):
    """A dead letter's error without the script path (the test's own folder
    name would otherwise match any word the test looks for)."""
    return re.sub(r"\S*beta\.lua:\d+:\s*", "beta.lua: ", dl["error"])


def notes(o):
    return [h["message"] for h in o["history"] if h["kind"] == "note"]


def has_tag(tag):
    return lambda o: tag in o["tags"]


def effects(ordo, merchant="beta", **params):
    r = ordo.api("GET", "effects", merchant, params=params)
    assert r.status_code == 200, r.text
    return r.json()["effects"]


def effect_with_key(o, key):
    found = [e for e in o["effects"] if e["idempotency_key"] == key]
    assert len(found) == 1, (key, o["effects"])
    return found[0]


def for_order(gateway, o, op):
    """The gateway requests of operation `op` that belong to ordo order `o`."""
    if op == "authorize":
        return gateway.ops(op, lambda r: r.form.get("metadata[order_id]") == str(o["id"]))
    pis = {pi["id"] for pi in gateway.intents_for(o["id"])}
    if op == "refund":
        return gateway.ops(op, lambda r: r.form.get("payment_intent") in pis)
    return gateway.ops(op, lambda r: r.path.split("/")[3] in pis)


def wait_beta(ordo, body, pred=None, timeout=POLL_TIMEOUT, dead_ok=False):
    """Poll until beta's order for the Shopify `body` exists and pred(order)
    holds; return it in full. An unexpected dead letter fails at once, and
    a timeout shows the order as last seen (tags, notes, payments, effects)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        if not dead_ok:
            dls = ordo.dead_letters("beta")
            if dls:
                pytest.fail(f"unexpected dead letter(s) for beta: {dls}")
        found = ordo.find("shopify", body["id"], merchant="beta")
        if found:
            assert len(found) == 1, found
            last = ordo.order(found[0]["id"], merchant="beta")
            if pred is None or pred(last):
                return last
        if time.monotonic() >= deadline:
            shown = last and {k: last.get(k) for k in
                              ("status", "payment_status", "tags", "payments", "effects")}
            pytest.fail(f"timed out after {timeout}s waiting for beta's order "
                        f"{body['id']}; last seen: {shown!r}; notes: "
                        f"{notes(last) if last else None!r}")
        time.sleep(0.05)


def healthy(ordo):
    r = ordo.request("GET", "/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok", r.text


def acme_still_served(ordo):
    body = shopify_order()
    ack(ordo.shopify(body, merchant="acme"))
    assert ordo.wait_order("shopify", body["id"], merchant="acme")["status"] == "placed"


def start_paying(ordo_factory, gateway, effects=FAST, workflow=PAY_FLOW, extra=""):
    return ordo_factory(beta_workflow=workflow, beta_extra=pay_config(gateway, effects, extra))


def place(ordo, **kw):
    body = shopify_order(**kw)
    ack(ordo.shopify(body, merchant="beta"))
    return body


# ---------------------------------------------------------------------------
# Payments
# ---------------------------------------------------------------------------

def test_authorize_then_capture(gateway, ordo_factory):
    ordo = start_paying(ordo_factory, gateway)
    body = place(ordo)
    o = wait_beta(ordo, body, has_tag("captured"))
    assert o["payment_status"] == "paid", o
    assert "gw-stripe" in o["tags"]
    changes = [(h["from"], h["to"]) for h in o["history"] if h["kind"] == "payment_status"]
    assert changes == [("unpaid", "authorized"), ("authorized", "paid")], o["history"]

    # What went over the wire.
    (auth,) = for_order(gateway, o, "authorize")
    (cap,) = for_order(gateway, o, "capture")
    assert auth.form["amount"] == "2499" and auth.form["currency"] == "usd"
    assert auth.form["capture_method"] == "manual" and auth.form["confirm"] == "true"
    assert auth.form.get("metadata[payment_id]"), auth.form
    assert cap.form.get("amount_to_capture", "2499") == "2499"
    for r in (auth, cap):
        assert r.header("Authorization") == f"Bearer {API_KEY}"
        assert "application/x-www-form-urlencoded" in r.header("Content-Type", "")
        assert r.key, "every gateway call carries an Idempotency-Key"
        assert r.outcome == "processed"
    assert auth.key != cap.key
    (pi,) = gateway.intents_for(o["id"])
    assert cap.path == f"/v1/payment_intents/{pi['id']}/capture"
    assert gateway.charges_for(o["id"]) == [2499]

    # The workflow saw the gateway's answer.
    assert any(n.startswith(f"authorized {pi['id']} 2499 ") and "via stripe" in n
               and "source effect" in n for n in notes(o)), notes(o)
    assert re.search(r"2499 usd", " ".join(notes(o)), re.I), notes(o)

    # Payments and effects on the order.
    pays = o["payments"]
    assert len(pays) == 2, pays
    assert all(p["gateway"] == "stripe" and p["amount"] == 2499 and p["currency"] == "USD"
               and p["created_at"] and p["status"] not in ("failed", "pending")
               for p in pays), pays
    (a,) = [p for p in pays if p["kind"].startswith("auth")]
    (c,) = [p for p in pays if p["kind"] == "capture"]
    assert a["reference"] == pi["id"] and c["status"] == "succeeded", pays
    for r in (auth, cap):
        e = effect_with_key(o, r.key)
        assert e["kind"] == "payment" and e["status"] == "succeeded", e
        assert e["attempts"] == 1 and e["last_status"] == 200, e
        assert e["url"].startswith(gateway.url), e
        assert e["created_at"] and e["completed_at"], e
    assert ordo.dead_letters("beta") == []
    acme_still_served(ordo)


def test_capture_timed_out_is_retried_with_the_same_key_and_charged_once(gateway, ordo_factory):
    ordo = start_paying(ordo_factory, gateway,
                        effects="{timeout: 300ms, max_attempts: 5, base_delay: 10ms, max_delay: 50ms}")
    gateway.delay_next(1, 1.5, ops="capture")       # charged at once, answered too late
    body = place(ordo)
    o = wait_beta(ordo, body, has_tag("captured"))
    assert o["payment_status"] == "paid"
    caps = for_order(gateway, o, "capture")
    assert len(caps) >= 2, caps
    assert len({r.key for r in caps}) == 1, "the retry reuses the Idempotency-Key"
    assert len({r.raw for r in caps}) == 1, "the retry sends the same body"
    assert caps[0].outcome == "processed+delayed" and caps[1].outcome == "replayed", caps
    assert caps[1].at - caps[0].at < 1.4, "retried after the 300 ms timeout, not the late answer"
    assert gateway.charges_for(o["id"]) == [2499], "charged exactly once"
    assert [p["kind"] for p in o["payments"]].count("capture") == 1, o["payments"]
    e = effect_with_key(o, caps[0].key)
    assert e["status"] == "succeeded" and e["attempts"] >= 2, e
    assert metric(ordo.metrics(), "ordo_effects_total", kind="payment", outcome="retry") >= 1


def test_gateway_down_then_up_is_retried_until_it_succeeds(gateway, ordo_factory):
    ordo = start_paying(ordo_factory, gateway,
                        effects="{timeout: 2s, max_attempts: 5, base_delay: 10ms, max_delay: 50ms}")
    gateway.fail_next(3, 503, ops="authorize")
    body = place(ordo)
    o = wait_beta(ordo, body, has_tag("captured"))
    assert o["payment_status"] == "paid"
    auths = for_order(gateway, o, "authorize")
    assert [r.status for r in auths] == [503, 503, 503, 200], auths
    assert len({r.key for r in auths}) == 1 and len({r.raw for r in auths}) == 1
    assert len(gateway.intents_for(o["id"])) == 1
    e = effect_with_key(o, auths[0].key)
    assert e["status"] == "succeeded" and e["attempts"] == 4 and e["last_status"] == 200, e
    assert gateway.charges_for(o["id"]) == [2499]
    assert "payment-failed" not in o["tags"]


def test_429_retry_after_is_honoured(gateway, ordo_factory):
    ordo = start_paying(ordo_factory, gateway)
    gateway.fail_next(1, 429, retry_after=1, ops="authorize")
    body = place(ordo)
    o = wait_beta(ordo, body, has_tag("captured"))
    auths = for_order(gateway, o, "authorize")
    assert [r.status for r in auths] == [429, 200], auths
    gap = auths[1].at - auths[0].at
    assert 0.9 <= gap < 5, f"second attempt {gap:.3f}s after a 429 with Retry-After: 1"
    assert auths[0].key == auths[1].key
    assert effect_with_key(o, auths[0].key)["attempts"] == 2


def test_decline_is_permanent_and_reaches_payment_failed(gateway, ordo_factory):
    ordo = start_paying(ordo_factory, gateway)
    gateway.decline_next(1, ops="authorize")
    body = place(ordo)
    o = wait_beta(ordo, body, has_tag("payment-failed"))
    assert o["status"] == "canceled", o
    failed = [n for n in notes(o) if n.startswith("failed authorize:")]
    assert failed and re.search(r"declin", failed[0], re.I), notes(o)
    assert failed[0].endswith("[payment failed]"), failed
    time.sleep(0.3)                                  # base_delay is 10 ms: a retry would show
    auths = gateway.ops("authorize")
    assert len(auths) == 1 and auths[0].status == 402, auths
    assert gateway.ops("capture") == []
    o = ordo.order(o["id"], merchant="beta")
    assert o["payment_status"] == "unpaid"
    (p,) = o["payments"]
    assert p["status"] == "failed" and re.search(r"declin", p["error"] or "", re.I), p
    e = effect_with_key(o, auths[0].key)
    assert e["status"] == "failed" and e["attempts"] == 1 and e["last_status"] == 402, e
    assert e["id"] in [x["id"] for x in effects(ordo, status="failed")]
    assert e["id"] not in [x["id"] for x in effects(ordo, status="dead")]
    assert ordo.dead_letters("beta") == []


def test_kill9_with_payments_in_flight_charges_each_order_once(gateway, ordo_factory):
    ordo = start_paying(ordo_factory, gateway,
                        effects="{timeout: 5s, max_attempts: 8, base_delay: 10ms, "
                                "max_delay: 100ms, concurrency: 8}")
    n = 5
    gateway.delay_next(n, 2.0, ops="authorize")
    gateway.delay_next(n, 2.0, ops="capture")
    bodies = [place(ordo, number=2000 + i) for i in range(n)]

    # Round 1: every authorization is at the gateway (done there), unanswered.
    gateway.wait_for(lambda r: r.op == "authorize", count=n, answered=False)
    t0 = time.monotonic()
    healthy(ordo)                                    # effects never block the loop
    assert time.monotonic() - t0 < 1.0
    assert all(r.answered_at is None for r in gateway.ops("authorize"))
    ordo.kill9()
    ordo.start()

    # Round 2: the authorizations were sent again (same keys), the captures
    # went out and are charged but unanswered; kill again.
    gateway.wait_for(lambda r: r.op == "capture", count=n, answered=False)
    assert all(r.answered_at is None for r in gateway.ops("capture"))
    ordo.kill9()
    ordo.start()

    orders = [wait_beta(ordo, b, has_tag("captured"))
              for b in bodies]
    for o in orders:
        assert o["payment_status"] == "paid", o
        auths, caps = for_order(gateway, o, "authorize"), for_order(gateway, o, "capture")
        assert len(auths) >= 2 and len({r.key for r in auths}) == 1, auths
        assert len(caps) >= 2 and len({r.key for r in caps}) == 1, caps
        assert len(gateway.intents_for(o["id"])) == 1, gateway.intents_for(o["id"])
        assert gateway.charges_for(o["id"]) == [o["total"]], "exactly one charge per order"
        assert sorted(p["kind"] for p in o["payments"]).count("capture") == 1, o["payments"]
        assert [h["to"] for h in o["history"] if h["kind"] == "payment_status"] == \
            ["authorized", "paid"], o["history"]
    assert gateway.total_charges() == n
    assert len({r.key for r in gateway.ops("authorize")}) == n
    assert ordo.dead_letters("beta") == []
    assert effects(ordo, status="dead") == [] and effects(ordo, status="pending") == []


# What a clear over-refund message says: an amount, or how it compares.
OVER_REFUND = r"exceed|more than|above|over|greater|larger|captured|refundable|remaining|left|" \
              r"\b(30\.00|3000|15\.00|1500|24\.99|2499)\b"


def test_refund_above_captured_is_refused_and_partial_refunds_work(gateway, ordo_factory):
    ordo = start_paying(ordo_factory, gateway)
    body = place(ordo)                               # 24.99 USD
    o = wait_beta(ordo, body, has_tag("captured"))

    over = ack(ordo.shopify(shopify_refund(body["id"], amount="30.00"), merchant="beta",
                            topic="refunds/create"))
    dl = ordo.wait_dead_letter("beta", lambda d: d["event_id"] == over)
    assert re.search(r"refund", reason(dl), re.I), dl
    assert re.search(OVER_REFUND, reason(dl), re.I), dl
    assert gateway.ops("refund") == [], "nothing reached the gateway"

    ack(ordo.shopify(shopify_refund(body["id"], amount="5.00"), merchant="beta",
                     topic="refunds/create"))
    o = wait_beta(ordo, body, lambda o: o["payment_status"] == "partially_refunded"
                  and "refunded 500" in notes(o), dead_ok=True)
    assert [r["amount"] for r in gateway.refunds_for(o["id"])] == [500]
    (ref,) = for_order(gateway, o, "refund")
    assert ref.form["amount"] == "500" and ref.key

    # 5 + 15 fits in 24.99; 5 + 15 + 15 does not, whether or not the 15
    # is still pending when the next refund asks.
    a = ack(ordo.shopify(shopify_refund(body["id"], amount="15.00"), merchant="beta",
                         topic="refunds/create"))
    b = ack(ordo.shopify(shopify_refund(body["id"], amount="15.00"), merchant="beta",
                         topic="refunds/create"))
    dl = ordo.wait_dead_letter("beta", lambda d: d["event_id"] == b)
    assert re.search(r"refund", reason(dl), re.I) and re.search(OVER_REFUND, reason(dl), re.I), dl
    assert not any(d["event_id"] == a for d in ordo.dead_letters("beta"))
    o = wait_beta(ordo, body, lambda o: "refunded 1500" in notes(o), dead_ok=True)
    assert o["payment_status"] == "partially_refunded"
    assert [r["amount"] for r in gateway.refunds_for(o["id"])] == [500, 1500]


CAPTURE_FIRST = """\
return {
  order_created = function(ev)
    local order = orders.create(ev.order)
    payments.capture(order)
  end,
}
"""


def test_capture_without_authorization_raises(gateway, ordo_factory):
    ordo = start_paying(ordo_factory, gateway, workflow=CAPTURE_FIRST)
    body = shopify_order()
    ev = ack(ordo.shopify(body, merchant="beta"))
    dl = ordo.wait_dead_letter("beta", lambda d: d["event_id"] == ev)
    assert re.search(r"captur", reason(dl), re.I) and re.search(r"authori", reason(dl), re.I), dl
    assert gateway.requests == []
    assert ordo.find("shopify", body["id"], merchant="beta") == [], "rolled back"


# ---------------------------------------------------------------------------
# Outgoing webhooks
# ---------------------------------------------------------------------------

HOOK_FLOW = """\
local flow = {}
function flow.order_created(ev) orders.create(ev.order) end
function flow.order_paid(ev) orders.mark_paid(orders.get(ev.order) or orders.create(ev.order)) end
function flow.order_cancelled(ev)
  orders.set_status(orders.get(ev.order) or orders.create(ev.order), "canceled", "storefront")
end
function flow.webhook_failed(ev) log.warn("webhook failed", { error = ev.error }) end
return flow
"""


def test_outgoing_webhooks_are_signed_and_retried_with_one_delivery_id(sink, ordo_factory):
    extra = f"""\
webhooks:
  - url: {q(sink.url + "/hook")}
    secret: "hook-secret"
    topics: [order.created, order.paid]
  - url: {q(sink.url + "/all")}
    secret: "all-secret"
    topics: ["*"]
effects: {{timeout: 2s, max_attempts: 5, base_delay: 10ms, max_delay: 50ms}}
"""
    ordo = ordo_factory(beta_workflow=HOOK_FLOW, beta_extra=extra)
    sink.fail_next(2, 503, path="/hook")
    body = shopify_order()
    ack(ordo.shopify(body, merchant="beta"))

    def delivered(path, topic):
        return lambda r: (r.path == path and r.status == 200 and r.json is not None
                          and r.json.get("topic") == topic)
    # order.paid only once order.created got through, so the two failures
    # are order.created's.
    sink.wait_for(delivered("/hook", "order.created"))
    ack(ordo.shopify(dict(body, financial_status="paid"), merchant="beta", topic="orders/paid"))
    o = wait_beta(ordo, body, lambda o: o["payment_status"] == "paid")
    for path, secret in (("/hook", "hook-secret"), ("/all", "all-secret")):
        for topic in ("order.created", "order.paid"):
            (p,) = sink.wait_for(delivered(path, topic))
            assert p.verify(secret), (path, topic, p.headers)
            assert not p.verify("wrong-secret")
            assert p.header("X-Ordo-Event") == topic
            assert p.header("X-Ordo-Delivery") and p.json["id"] == p.header("X-Ordo-Delivery")
            assert p.json["merchant"] == "beta"
            assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$", p.json["created_at"])
            data = p.json["data"]
            assert data["id"] == o["id"] and data["external_id"] == str(body["id"]), data
            assert "history" not in data and data["total"] == 2499
            if topic == "order.paid":
                assert data["payment_status"] == "paid", data

    # /hook refused the first two attempts: the third carried the same
    # delivery id and the same bytes.
    hook = sink.posts("/hook")
    first = hook[0].header("X-Ordo-Delivery")
    same = [p for p in hook if p.header("X-Ordo-Delivery") == first]
    assert [p.status for p in same] == [503, 503, 200], hook
    assert len({p.raw for p in same}) == 1
    assert len({p.header("X-Ordo-Delivery") for p in sink.posts("/all")}) == 2

    # A topic /hook does not subscribe to goes to "*" only.
    ack(ordo.shopify(dict(body, cancelled_at="2024-05-03T10:00:00-04:00"), merchant="beta",
                     topic="orders/cancelled"))
    (c,) = sink.wait_for(delivered("/all", "order.cancelled"))
    assert c.json["data"]["status"] == "canceled" and c.verify("all-secret")
    time.sleep(0.2)
    assert not [p for p in sink.posts("/hook") if (p.json or {}).get("topic") == "order.cancelled"]
    assert len({p.header("X-Ordo-Delivery") for p in sink.posts()}) == 5
    assert all(e["status"] == "succeeded" for e in effects(ordo) if e["kind"] == "webhook")


# ---------------------------------------------------------------------------
# Notifications
# ---------------------------------------------------------------------------

NOTIFY_FLOW = """\
local flow = {}
function flow.order_created(ev)
  local order = orders.create(ev.order)
  assert(notify.has_template("order_confirmation"), "template missing")
  assert(not notify.has_template("no_such_template"), "phantom template")
  notify.customer(order, "order_confirmation", { total = money.format(order.total, order.currency) })
end
function flow.notification_sent(ev)
  if not ev.order then error("notification_sent carries no ev.order") end
  orders.tag(ev.order, "notified")
end
function flow.notification_failed(ev) log.error("notification failed", { error = ev.error }) end
return flow
"""


def test_notification_renders_the_template_and_is_signed(sink, ordo_factory):
    extra = f"""\
notifications:
  url: {q(sink.url + "/notify")}
  secret: "notify-secret"
  templates:
    order_confirmation:
      subject: "Order {{{{order.number}}}} confirmed"
      body: "Hi {{{{order.customer.first_name}}}}, we got order {{{{order.number}}}} ({{{{data.total}}}})."
effects: {{timeout: 2s, max_attempts: 4, base_delay: 10ms, max_delay: 50ms}}
"""
    ordo = ordo_factory(beta_workflow=NOTIFY_FLOW, beta_extra=extra)
    body = shopify_order(number=4242, email="ada@example.com")
    ack(ordo.shopify(body, merchant="beta"))
    (p,) = sink.wait_for(lambda r: r.path == "/notify")
    assert p.verify("notify-secret"), p.headers
    assert p.header("X-Ordo-Event") == "notification"
    assert p.header("X-Ordo-Delivery")
    o = wait_beta(ordo, body)
    msg = p.json
    assert msg["merchant"] == "beta" and msg["order_id"] == o["id"], msg
    assert msg["to"] == "ada@example.com" and msg["template"] == "order_confirmation", msg
    assert msg["subject"] == "Order #4242 confirmed", msg
    assert msg["body"] == "Hi Ada, we got order #4242 (24.99).", msg
    assert msg["data"] == {"total": "24.99"}, msg

    o = wait_beta(ordo, body, has_tag("notified"))
    assert any("notif" in h["kind"] or "order_confirmation" in (h["message"] or "")
               for h in o["history"]), o["history"]
    (e,) = [e for e in o["effects"] if e["kind"] == "notify"]
    assert e["status"] == "succeeded" and e["idempotency_key"] == p.header("X-Ordo-Delivery"), e
    assert e["url"] == sink.url + "/notify"
    assert len(sink.posts("/notify")) == 1


# ---------------------------------------------------------------------------
# http.post and bad input
# ---------------------------------------------------------------------------

POST_FLOW = """\
local flow = {}
function flow.order_created(ev)
  local order = orders.create(ev.order)
  http.post { url = "@URL@", json = { order = order.id, sku = "SKU-RED" },
              headers = { ["X-Test"] = "yes" }, key = "post-" .. order.external_id,
              on_success = "posted", on_failure = "post_failed",
              context = { order_id = order.id } }
end
function flow.order_updated(ev)
  http.post { url = "@FORBIDDEN@", json = { nope = true } }
end
function flow.posted(ev)
  orders.tag(ev.context.order_id, "post-ok")
  orders.note(ev.context.order_id, ("posted name=%s status=%s ok=%s attempts=%d key=%s"):format(
    ev.name, tostring(ev.status), tostring(ev.json and ev.json.ok), ev.effect.attempts, ev.effect.key))
end
function flow.post_failed(ev)
  orders.tag(ev.context.order_id, "post-failed")
  orders.note(ev.context.order_id, ("post failed name=%s status=%s attempts=%d error=%s"):format(
    ev.name, tostring(ev.status), ev.effect.attempts, tostring(ev.error)))
end
return flow
"""


def post_flow(url, forbidden="http://127.0.0.1:9/never"):
    return POST_FLOW.replace("@URL@", url).replace("@FORBIDDEN@", forbidden)


def test_http_post_outside_the_allow_list_raises(sink, ordo_factory):
    allowed = sink.url + "/allowed/"
    forbidden = sink.url + "/forbidden"
    ordo = ordo_factory(beta_workflow=post_flow(allowed + "x", forbidden), beta_extra=f"""\
effects: {{timeout: 2s, max_attempts: 2, base_delay: 10ms, max_delay: 50ms, allow: [{q(allowed)}]}}
""")
    body = shopify_order()
    ack(ordo.shopify(body, merchant="beta"))
    o = wait_beta(ordo, body, has_tag("post-ok"))
    (p,) = sink.posts("/allowed/x")
    assert p.json == {"order": o["id"], "sku": "SKU-RED"} and p.header("X-Test") == "yes"
    assert f"posted name=posted status=200 ok=true attempts=1 key=post-{body['id']}" in notes(o)

    ev = ack(ordo.shopify(body, merchant="beta", topic="orders/updated"))
    dl = ordo.wait_dead_letter("beta", lambda d: d["event_id"] == ev)
    assert forbidden in reason(dl) and allowed in reason(dl), dl
    assert sink.posts("/forbidden") == []


def test_http_post_connection_refused_ends_in_on_failure(ordo_factory):
    url = "http://127.0.0.1:1/"
    ordo = ordo_factory(beta_workflow=post_flow(url), beta_extra=f"""\
effects: {{timeout: 1s, max_attempts: 2, base_delay: 10ms, max_delay: 50ms, allow: [{q(url)}]}}
""")
    body = shopify_order()
    ack(ordo.shopify(body, merchant="beta"))
    o = wait_beta(ordo, body, has_tag("post-failed"))
    (n,) = [n for n in notes(o) if n.startswith("post failed")]
    assert n.startswith("post failed name=post_failed status=nil attempts=2 error="), n
    assert len(n.split("error=", 1)[1]) > 3 and n.split("error=", 1)[1] != "nil", n
    (e,) = [e for e in effects(ordo, status="dead") if e["key"] == f"post-{body['id']}"]
    assert e["kind"] == "http" and e["attempts"] == 2 and e["url"] == url, e
    assert e["last_error"] and e["last_status"] is None, e
    assert ordo.dead_letters("beta") == []


def private_dns(tmp_path):
    """A command prefix that runs the daemon with its own /etc/resolv.conf
    naming 127.0.0.1 (where no DNS server listens), so a name fails to
    resolve without a query leaving the machine; None when this machine
    cannot make a mount namespace (not root)."""
    import shutil
    import subprocess
    conf = tmp_path / "resolv.conf"
    conf.write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
    if shutil.which("unshare") is None or subprocess.run(
            ["unshare", "-m", "sh", "-c", f"mount --bind {conf} /etc/resolv.conf"],
            capture_output=True).returncode != 0:
        return None
    return ["unshare", "-m", "sh", "-c",
            f'mount --bind {conf} /etc/resolv.conf && exec "$@"', "sh"]


def test_http_post_to_a_name_that_does_not_resolve_ends_in_on_failure(ordo_factory, tmp_path):
    wrap = private_dns(tmp_path)
    if wrap is None:
        pytest.skip("needs root for a private /etc/resolv.conf (unshare -m)")
    url = "http://no-such-host.invalid/hook"
    ordo = ordo_factory(beta_workflow=post_flow(url), wrap=wrap, beta_extra=f"""\
effects: {{timeout: 2s, max_attempts: 2, base_delay: 10ms, max_delay: 50ms, allow: [{q(url)}]}}
""")
    body = shopify_order()
    ack(ordo.shopify(body, merchant="beta"))
    o = wait_beta(ordo, body, has_tag("post-failed"))
    (n,) = [n for n in notes(o) if n.startswith("post failed")]
    assert "attempts=2" in n and "resolve" in n.lower(), n
    (e,) = [e for e in effects(ordo, status="dead") if e["key"] == f"post-{body['id']}"]
    assert "resolve" in e["last_error"].lower() and e["last_status"] is None, e
    # The loop kept serving: the next order is recorded and tried too.
    body2 = shopify_order()
    ack(ordo.shopify(body2, merchant="beta"))
    wait_beta(ordo, body2, has_tag("post-failed"))
    assert ordo.dead_letters("beta") == []


def test_dead_effect_is_retried_through_the_api(sink, ordo_factory):
    url = sink.url + "/flaky"
    ordo = ordo_factory(beta_workflow=post_flow(url), beta_extra=f"""\
effects: {{timeout: 2s, max_attempts: 2, base_delay: 10ms, max_delay: 50ms, allow: [{q(url)}]}}
""")
    sink.fail_next(2, 503, path="/flaky")
    body = shopify_order()
    ack(ordo.shopify(body, merchant="beta"))
    o = wait_beta(ordo, body, has_tag("post-failed"))
    assert any(n.startswith("post failed name=post_failed status=503 attempts=2")
               for n in notes(o)), notes(o)
    dead = wait_until(lambda: [e for e in effects(ordo, status="dead")
                               if e["key"] == f"post-{body['id']}"], what="a dead effect")
    (e,) = dead
    assert e["attempts"] == 2 and e["last_status"] == 503 and e["kind"] == "http", e
    assert effects(ordo, "acme", status="dead") == [], "another merchant does not see it"
    assert ordo.api("POST", f"effects/{e['id']}/retry", "acme").status_code == 404

    r = ordo.api("POST", f"effects/{e['id']}/retry", "beta")
    assert r.status_code == 200, r.text
    assert r.json()["effect"]["id"] == e["id"] and r.json()["effect"]["key"] == e["key"]
    o = wait_beta(ordo, body, has_tag("post-ok"))
    posts = sink.posts("/flaky")
    assert [p.status for p in posts] == [503, 503, 200], posts
    assert len({p.raw for p in posts}) == 1
    done = wait_until(lambda: [x for x in effects(ordo, status="succeeded") if x["id"] == e["id"]],
                      what="the retried effect to succeed")
    assert done[0]["key"] == e["key"]
    assert all(x["id"] != e["id"] for x in effects(ordo, status="dead"))

    r = ordo.api("POST", f"effects/{e['id']}/retry", "beta")
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_retryable", r.text
    r = ordo.api("POST", "effects/999999/retry", "beta")
    assert r.status_code == 404, r.text
    assert ordo.api("GET", "effects", "beta", params={"status": "bogus"}).status_code == 400
    assert len(effects(ordo, limit=1)) <= 1


@pytest.mark.parametrize("answer", ["garbage", "huge"])
def test_broken_gateway_answer_is_payment_failed(gateway, ordo_factory, answer):
    ordo = start_paying(ordo_factory, gateway)
    if answer == "garbage":
        gateway.garbage_next(10, ops="authorize")
        clear = r"json|pars|invalid|unexpected|decod"
    else:
        gateway.huge_next(10, size=2 * 1024 * 1024, ops="authorize")
        clear = r"large|size|256|limit|big|long"
    body = place(ordo)
    o = wait_beta(ordo, body, has_tag("payment-failed"))
    (n,) = [n for n in notes(o) if n.startswith("failed authorize:")]
    assert re.search(clear, n, re.I), n
    (p,) = o["payments"]
    assert p["status"] == "failed" and re.search(clear, p["error"] or "", re.I), p
    if answer == "huge":
        assert len(gateway.ops("authorize")) == 1, "an oversized answer is not retried"
    assert o["payment_status"] == "unpaid" and o["status"] == "canceled"
    healthy(ordo)
    acme_still_served(ordo)
    # And beta's next order is paid as usual.
    gateway.clear()
    ok = place(ordo)
    wait_beta(ordo, ok, has_tag("captured"))


# ---------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------

def test_effect_metrics(gateway, sink, ordo_factory):
    url = sink.url + "/down"
    flow = PAY_FLOW.replace("payments.authorize(order)", """payments.authorize(order)
  if ev.order.number == "#3003" then
    http.post { url = "@URL@", json = {}, key = "down-" .. order.id }
  end""".replace("@URL@", url))
    ordo = start_paying(ordo_factory, gateway, workflow=flow, effects=f"{{timeout: 2s, max_attempts: 2, base_delay: 10ms, max_delay: 50ms, "
             f"allow: [{q(url)}]}}")
    gateway.fail_next(1, 503, ops="authorize")       # one retry, then success
    sink.fail_next(5, 503, path="/down")             # http effect: dead after 2 attempts
    a = place(ordo, number=3001)
    wait_beta(ordo, a, has_tag("captured"))
    gateway.decline_next(1, ops="authorize")
    b = place(ordo, number=3002)
    wait_beta(ordo, b, has_tag("payment-failed"))
    c = place(ordo, number=3003)
    wait_beta(ordo, c, has_tag("captured"))
    wait_until(lambda: effects(ordo, status="dead"), what="the http effect to go dead")
    wait_until(lambda: metric(ordo.metrics(), "ordo_effects_in_flight") == 0,
               what="no effect in flight")

    m = ordo.metrics()
    assert metric(m, "ordo_effects_total", kind="payment", outcome="succeeded") >= 4, m
    assert metric(m, "ordo_effects_total", kind="payment", outcome="failed") >= 1
    assert metric(m, "ordo_effects_total", kind="payment", outcome="retry") >= 1
    assert metric(m, "ordo_effects_total", kind="http", outcome="dead") >= 1
    assert metric(m, "ordo_effects_total", kind="http", outcome="retry") >= 1
    assert metric(m, "ordo_effect_seconds_count", kind="payment") >= 5
    assert any(n == "ordo_effect_seconds_bucket" for n, _ in m)
    assert any(n == "ordo_effects_in_flight" for n, _ in m)


# ---------------------------------------------------------------------------
# workflows/standard.lua against the fakes (acme)
# ---------------------------------------------------------------------------

def standard_config(gateway, sink):
    return f"""\
payments:
  gateway: stripe
  base_url: {q(gateway.url)}
  api_key: {q(API_KEY)}
notifications:
  url: {q(sink.url + "/notify")}
  secret: "notify-secret"
  templates:
    order_confirmation:
      subject: "Order {{{{order.number}}}} confirmed"
      body: "Thanks {{{{order.customer.first_name}}}}: {{{{data.total}}}} {{{{order.currency}}}}."
webhooks:
  - url: {q(sink.url + "/hook")}
    secret: "hook-secret"
    topics: [order.created, order.paid, order.cancelled]
effects: {FAST}
"""


def wait_acme(ordo, body, pred, timeout=POLL_TIMEOUT):
    return ordo.wait_order("shopify", body["id"], merchant="acme", pred=pred, timeout=timeout)


def test_standard_workflow_authorizes_captures_confirms_and_publishes(gateway, sink, ordo_factory):
    ordo = ordo_factory(acme_extra=standard_config(gateway, sink))
    body = shopify_order(financial_status="pending", email="ada@example.com")
    ack(ordo.shopify(body))
    o = wait_acme(ordo, body, lambda o: o["payment_status"] == "paid")
    assert gateway.charges_for(o["id"]) == [o["total"]]
    assert [p["kind"] for p in o["payments"]] == ["authorization", "capture"], o["payments"]
    (n,) = sink.wait_for(lambda r: r.path == "/notify")
    assert n.verify("notify-secret") and n.json["to"] == "ada@example.com", n.json
    assert n.json["body"] == f"Thanks Ada: 24.99 USD.", n.json
    hooks = sink.wait_for(lambda r: r.path == "/hook", count=2)
    assert [h.json["topic"] for h in hooks] == ["order.created", "order.paid"], hooks
    assert all(h.verify("hook-secret") for h in hooks)
    assert hooks[1].json["data"]["payment_status"] == "paid"
    o = wait_acme(ordo, body, lambda o: any("Payment captured" in (h["message"] or "")
                                            for h in o["history"]))


def test_standard_workflow_holds_an_order_whose_payment_is_declined(gateway, sink, ordo_factory):
    ordo = ordo_factory(acme_extra=standard_config(gateway, sink))
    gateway.decline_next(1, ops="authorize")
    body = shopify_order(financial_status="pending")
    ack(ordo.shopify(body))
    o = wait_acme(ordo, body, lambda o: "payment-failed" in o["tags"])
    assert o["status"] == "placed" and o["payment_status"] == "unpaid", o
    assert any("Payment authorize failed: Your card was declined." in (h["message"] or "")
               for h in o["history"]), o["history"]
    assert gateway.charges_for(o["id"]) == []


def test_standard_workflow_skips_the_gateway_when_the_storefront_captured(gateway, sink, ordo_factory):
    ordo = ordo_factory(acme_extra=standard_config(gateway, sink))
    body = shopify_order(financial_status="paid")
    ack(ordo.shopify(body))
    o = wait_acme(ordo, body, lambda o: o["payment_status"] == "paid")
    sink.wait_for(lambda r: r.path == "/notify")
    assert gateway.received() == [], "nothing asked of the gateway"
    assert [p["gateway"] for p in o["payments"]] == ["shopify"]


# ---------------------------------------------------------------------------
# A gateway adapter that raises
# ---------------------------------------------------------------------------

BROKEN_ADAPTER = {
    # request() raises: the handler that asked fails, nothing is sent.
    "request": """\
return {
  request = function(op, p) error("adapter bug: cannot build " .. op) end,
  parse = function(op, answer) return { ok = true } end,
}
""",
    # parse() raises: the answer event fails and is dead-lettered; the
    # payment stays pending, visibly.
    "parse": """\
return {
  request = function(op, p) return { path = "/v1/payment_intents", form = { amount = p.amount,
    currency = p.currency:lower(), capture_method = "manual", confirm = "true",
    ["metadata[order_id]"] = tostring(p.order_id) } } end,
  parse = function(op, answer) error("adapter bug: cannot read " .. op) end,
}
""",
}


@pytest.mark.parametrize("where", ["request", "parse"])
def test_gateway_adapter_that_raises_is_a_dead_letter(gateway, ordo_factory, where):
    def add_adapter(text):
        beta = re.search(r'workflow: "([^"]*beta\.lua)"', text).group(1)
        folder = Path(beta).parent / "payments"
        folder.mkdir(exist_ok=True)
        (folder / "broken.lua").write_text(BROKEN_ADAPTER[where])
        return text

    ordo = ordo_factory(edit=add_adapter, beta_workflow=PAY_FLOW, beta_extra=f"""\
payments: {{gateway: broken, base_url: {q(gateway.url)}, api_key: {q(API_KEY)}}}
effects: {{timeout: 2s, max_attempts: 2, base_delay: 10ms, max_delay: 50ms}}
""")
    body = place(ordo)
    dl = ordo.wait_dead_letter("beta", lambda d: f"cannot {'build' if where == 'request' else 'read'}"
                               in d["error"])
    assert "payments/broken.lua" in dl["error"], dl
    if where == "request":
        assert gateway.received() == [], "nothing was sent"
        assert ordo.find("shopify", body["id"], merchant="beta") == [], "the handler rolled back"
    else:
        assert dl["event"] == "payment_result", dl
        (o,) = ordo.find("shopify", body["id"], merchant="beta")
        o = ordo.order(o["id"], merchant="beta")
        assert [p["status"] for p in o["payments"]] == ["pending"], o["payments"]
        assert len(gateway.ops("authorize")) == 1
    healthy(ordo)
    acme_still_served(ordo)


# ---------------------------------------------------------------------------
# Review regressions: allow-list bypasses, framing headers, key namespaces,
# payments inside pcall, retrying a settled payment
# ---------------------------------------------------------------------------

PROBE_FLOW = """\
local flow = {}
function flow.order_created(ev)
  local order = orders.create(ev.order)
  local results = {}
  for _, case in ipairs(CASES) do
    local ok, err = pcall(http.post, case)
    results[#results + 1] = (ok and "sent" or "refused: " .. tostring(err))
  end
  orders.note(order, table.concat(results, " | "))
end
return flow
"""


def test_http_post_allow_list_and_reserved_headers(sink, gateway, ordo_factory):
    host_port = sink.url.split("//")[1]
    allowed = sink.url + "/hooks"
    cases = [
        {"url": f"http://{host_port}@{gateway.url.split('//')[1]}/v1/evil", "body": "x"},
        {"url": sink.url + "1/hooks", "body": "x"},            # port 1234 -> 12341
        {"url": sink.url + "/hooksx", "body": "x"},
        {"url": allowed + "/ok", "body": "x", "headers": {"Content-Length": "0"}},
        {"url": allowed + "/ok", "body": "x", "headers": {"Host": "elsewhere"}},
        {"url": allowed + "/ok", "body": "x", "key": "pay-1"},
    ]
    lua_cases = "CASES = {" + ",".join(
        "{" + ",".join(f"{k} = {lua(v)}" for k, v in c.items()) + "}" for c in cases) + "}\n"
    ordo = ordo_factory(beta_workflow=lua_cases + PROBE_FLOW, beta_extra=f"""\
effects: {{timeout: 2s, max_attempts: 2, base_delay: 10ms, max_delay: 50ms, allow: [{q(allowed)}]}}
""")
    body = place(ordo)
    o = wait_beta(ordo, body, lambda o: notes(o))
    results = notes(o)[0].split(" | ")
    assert results[0].startswith("refused") and "is not allowed" in results[0], results
    assert results[1].startswith("refused") and "is not allowed" in results[1], results
    assert results[2].startswith("refused") and "is not allowed" in results[2], results
    assert "Content-Length" in results[3] and "set by the host" in results[3], results
    assert "Host" in results[4] and "set by the host" in results[4], results
    assert results[5] == "sent", results
    sink.wait_for(lambda r: r.path == "/hooks/ok")
    assert gateway.received() == [], "nothing reached the gateway"
    # A script's key "pay-1" is its own: payments keep theirs.
    (e,) = effects(ordo, status="succeeded")
    assert e["key"] == "pay-1" and "-http-pay-1" in e["idempotency_key"], e


def lua(v):
    if isinstance(v, dict):
        return "{" + ",".join(f'["{k}"] = {lua(x)}' for k, x in v.items()) + "}"
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


PCALL_FLOW = """\
local flow = {}
function flow.order_created(ev)
  local order = orders.create(ev.order)
  local ok, err = pcall(payments.authorize, order)
  orders.note(order, "first: " .. tostring(ok) .. " " .. tostring(err))
end
return flow
"""


def test_payments_call_that_raises_inside_pcall_leaves_nothing(gateway, ordo_factory):
    def add_adapter(text):
        beta = re.search(r'workflow: "([^"]*beta\.lua)"', text).group(1)
        folder = Path(beta).parent / "payments"
        folder.mkdir(exist_ok=True)
        (folder / "broken.lua").write_text(BROKEN_ADAPTER["request"])
        return text

    ordo = ordo_factory(edit=add_adapter, beta_workflow=PCALL_FLOW, beta_extra=f"""\
payments: {{gateway: broken, base_url: {q(gateway.url)}, api_key: {q(API_KEY)}}}
""")
    body = place(ordo)
    o = wait_beta(ordo, body, lambda o: notes(o))
    assert notes(o)[0].startswith("first: false") and "cannot build authorize" in notes(o)[0]
    assert o["payments"] == [], "the pending payment was rolled back with the failed call"
    assert o["effects"] == []


def test_a_refused_payment_is_not_retried_by_hand(gateway, ordo_factory):
    ordo = start_paying(ordo_factory, gateway)
    gateway.decline_next(1, ops="authorize")
    body = place(ordo)
    o = wait_beta(ordo, body, has_tag("payment-failed"))
    (e,) = [e for e in o["effects"] if e["kind"] == "payment"]
    assert e["status"] == "failed"
    r = ordo.api("POST", f"effects/{e['id']}/retry", "beta")
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_retryable", r.text
    assert len(gateway.ops("authorize")) == 1


def test_a_payment_without_a_final_answer_stays_pending_and_can_be_retried(gateway, ordo_factory):
    ordo = start_paying(ordo_factory, gateway, workflow=PAY_FLOW + "", effects=(
        "{timeout: 2s, max_attempts: 2, base_delay: 10ms, max_delay: 50ms}"))
    gateway.fail_next(2, 503, ops="authorize")
    body = place(ordo)
    o = wait_beta(ordo, body, lambda o: any(e["status"] == "dead" for e in o["effects"]))
    (pay,) = o["payments"]
    assert pay["status"] == "pending", "no final answer: the gateway may have acted"
    assert "payment-failed" not in o["tags"]
    (e,) = [e for e in o["effects"] if e["status"] == "dead"]
    r = ordo.api("POST", f"effects/{e['id']}/retry", "beta")
    assert r.status_code == 200, r.text
    o = wait_beta(ordo, body, has_tag("captured"))
    assert o["payment_status"] == "paid"
    assert len({r.key for r in gateway.ops("authorize")}) == 1, "the same key every time"
