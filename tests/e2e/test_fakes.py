"""
The fake gateway and sink on their own (no daemon): the effects tests are
only as good as these, so they are checked against what a real gateway and
a real subscriber do.
"""
import json
import threading
import time

import pytest
import requests

from fakes import DECLINE, FakeGateway, Sink, sign, signature_ok

KEY = "sk_test_123"
AUTH = {"Authorization": f"Bearer {KEY}"}


def post(url, data=None, key=None, auth=AUTH, timeout=5, **kw):
    headers = dict(auth)
    if key:
        headers["Idempotency-Key"] = key
    headers.update(kw.pop("headers", {}))
    return requests.post(url, data=data, headers=headers, timeout=timeout, **kw)


def authorize(gw, amount=2499, order="1", key=None, **kw):
    return post(gw.url + "/v1/payment_intents",
                {"amount": str(amount), "currency": "usd", "capture_method": "manual",
                 "confirm": "true", "metadata[order_id]": order, "metadata[payment_id]": "7"},
                key=key, **kw)


def test_authorize_capture_refund_and_the_ledger(gateway):
    r = authorize(gateway, key="k-auth")
    assert r.status_code == 200, r.text
    pi = r.json()
    assert pi["object"] == "payment_intent" and pi["status"] == "requires_capture"
    assert pi["amount"] == 2499 and pi["id"].startswith("pi_")
    assert pi["metadata"] == {"order_id": "1", "payment_id": "7"}

    r = post(f"{gateway.url}/v1/payment_intents/{pi['id']}/capture",
             {"amount_to_capture": "2499"}, key="k-cap")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "succeeded" and r.json()["amount_received"] == 2499
    # Capturing again (new key) is refused: nothing left to capture.
    r = post(f"{gateway.url}/v1/payment_intents/{pi['id']}/capture", {}, key="k-cap2")
    assert r.status_code == 400 and "unexpected_state" in r.text

    r = post(gateway.url + "/v1/refunds", {"payment_intent": pi["id"], "amount": "500"},
             key="k-ref")
    assert r.status_code == 200, r.text
    assert r.json()["object"] == "refund" and r.json()["amount"] == 500
    assert r.json()["id"].startswith("re_")
    r = post(gateway.url + "/v1/refunds", {"payment_intent": pi["id"], "amount": "2000"},
             key="k-ref2")
    assert r.status_code == 400 and r.json()["error"]["code"] == "amount_too_large"

    assert gateway.charges_for("1") == [2499]
    assert [rf["amount"] for rf in gateway.refunds_for("1")] == [500]
    assert gateway.total_charges() == 1
    ops = [r.op for r in gateway.ops()]
    assert ops == ["authorize", "capture", "capture", "refund", "refund"]
    first = gateway.ops("authorize")[0]
    assert first.form["currency"] == "usd" and first.form["metadata[order_id]"] == "1"
    assert first.key == "k-auth" and first.header("authorization") == f"Bearer {KEY}"
    assert "x-www-form-urlencoded" in first.header("Content-Type")


def test_void(gateway):
    pi = authorize(gateway, key="a").json()
    r = post(f"{gateway.url}/v1/payment_intents/{pi['id']}/cancel", {}, key="v")
    assert r.status_code == 200 and r.json()["status"] == "canceled"
    r = post(f"{gateway.url}/v1/payment_intents/{pi['id']}/capture", {}, key="c")
    assert r.status_code == 400
    assert gateway.charges_for("1") == []
    r = post(f"{gateway.url}/v1/payment_intents/pi_nope/capture", {}, key="c2")
    assert r.status_code == 404 and r.json()["error"]["code"] == "resource_missing"


def test_idempotency_key_replays_the_first_answer(gateway):
    a = authorize(gateway, key="same")
    b = authorize(gateway, key="same")
    assert a.status_code == b.status_code == 200
    assert a.json() == b.json()
    assert b.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in a.headers
    assert len(gateway.intents_for("1")) == 1
    # Same key, other parameters: refused, as on Stripe.
    c = authorize(gateway, amount=100, key="same")
    assert c.status_code == 400 and c.json()["error"]["type"] == "idempotency_error"
    # Without a key every request is new.
    authorize(gateway, order="2")
    authorize(gateway, order="2")
    assert len(gateway.intents_for("2")) == 2
    pi = a.json()["id"]
    for _ in range(3):
        r = post(f"{gateway.url}/v1/payment_intents/{pi}/capture", {}, key="cap")
        assert r.status_code == 200
    assert gateway.charges_for("1") == [2499]
    assert [r.outcome for r in gateway.ops("capture")] == ["processed", "replayed", "replayed"]


def test_api_key_and_routes_are_checked(gateway):
    r = authorize(gateway, auth={"Authorization": "Bearer sk_wrong"})
    assert r.status_code == 401
    r = authorize(gateway, auth={})
    assert r.status_code == 401
    r = post(gateway.url + "/v1/nothing", {})
    assert r.status_code == 404
    assert gateway.intents == {}


def test_fail_next_charges_nothing_and_stores_nothing(gateway):
    gateway.fail_next(2, 503)
    gateway.fail_next(1, 429)
    statuses = [authorize(gateway, key="k") for _ in range(4)]
    assert [r.status_code for r in statuses] == [503, 503, 429, 200]
    assert statuses[2].headers["Retry-After"] == "1"
    assert "Retry-After" not in statuses[0].headers
    assert len(gateway.intents_for("1")) == 1
    assert gateway.pending_actions() == 0
    gateway.fail_next(1, 429, retry_after=3)
    assert authorize(gateway, key="k2").headers["Retry-After"] == "3"


def test_decline_is_stored_under_its_key(gateway):
    gateway.decline_next(1)
    r = authorize(gateway, key="d")
    assert r.status_code == 402 and r.json() == DECLINE
    # Retrying the same key gets the same decline; no intent was made.
    r = authorize(gateway, key="d")
    assert r.status_code == 402 and r.json()["error"]["code"] == "card_declined"
    assert gateway.intents_for("1") == []
    assert authorize(gateway, key="other").status_code == 200


def test_actions_can_target_one_operation(gateway):
    gateway.fail_next(1, 500, ops="capture")
    pi = authorize(gateway, key="a").json()      # not affected
    r = post(f"{gateway.url}/v1/payment_intents/{pi['id']}/capture", {}, key="c")
    assert r.status_code == 500
    r = post(f"{gateway.url}/v1/payment_intents/{pi['id']}/capture", {}, key="c")
    assert r.status_code == 200
    assert gateway.charges_for("1") == [2499]


def test_delayed_answer_charges_and_a_retry_replays(gateway):
    pi = authorize(gateway, key="a").json()
    gateway.delay_next(1, 1.0)
    cap = f"{gateway.url}/v1/payment_intents/{pi['id']}/capture"
    t0 = time.monotonic()
    with pytest.raises(requests.exceptions.Timeout):
        post(cap, {"amount_to_capture": "2499"}, key="cap", timeout=0.3)
    # The charge happened although the client gave up.
    assert gateway.charges_for("1") == [2499]
    r = post(cap, {"amount_to_capture": "2499"}, key="cap")
    assert r.status_code == 200 and r.headers.get("Idempotent-Replayed") == "true"
    assert time.monotonic() - t0 < 0.9, "the retry is answered without waiting for the delay"
    assert gateway.charges_for("1") == [2499]
    done = gateway.wait_for(lambda r: r.op == "capture", count=2, timeout=3)
    assert done[0].answered_at - done[0].at >= 0.95


def test_latency_applies_to_every_request(gateway):
    gateway.set_latency(0.3)
    t0 = time.monotonic()
    assert authorize(gateway).status_code == 200
    assert time.monotonic() - t0 >= 0.29
    gateway.set_latency(0)
    t0 = time.monotonic()
    assert authorize(gateway).status_code == 200
    assert time.monotonic() - t0 < 0.25


def test_garbage_and_huge_answers(gateway):
    gateway.garbage_next(1)
    gateway.huge_next(1)
    r = authorize(gateway, key="g")
    assert r.status_code == 200
    with pytest.raises(ValueError):
        json.loads(r.text)
    r = authorize(gateway, key="g")
    assert r.status_code == 200 and len(r.content) == 2 * 1024 * 1024
    assert gateway.intents_for("1") == []
    # Neither was stored under the key: the next try is processed.
    r = authorize(gateway, key="g")
    assert r.status_code == 200 and r.json()["status"] == "requires_capture"


def test_concurrent_requests_with_one_key_charge_once(gateway):
    pi = authorize(gateway, key="a").json()
    cap = f"{gateway.url}/v1/payment_intents/{pi['id']}/capture"
    out = []

    def go():
        out.append(post(cap, {}, key="cap").status_code)
    threads = [threading.Thread(target=go) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert out == [200] * 8
    assert gateway.charges_for("1") == [2499]


def test_stop_is_prompt_while_an_answer_is_delayed():
    gw = FakeGateway(api_key=KEY).start()
    gw.delay_next(1, 20)
    t = threading.Thread(target=lambda: _swallow(lambda: authorize(gw, timeout=10)), daemon=True)
    t.start()
    gw.wait_for(count=1, answered=False, timeout=3)
    t0 = time.monotonic()
    gw.stop()
    assert time.monotonic() - t0 < 2
    t.join(5)
    assert not t.is_alive()
    with pytest.raises(requests.exceptions.ConnectionError):
        authorize(gw, timeout=2)


def _swallow(fn):
    try:
        fn()
    except requests.RequestException:
        pass


def test_sink_records_fails_and_verifies(sink):
    raw = json.dumps({"id": "d1", "topic": "order.paid"}).encode()
    headers = {"X-Ordo-Signature": sign("s3cret", raw), "X-Ordo-Delivery": "d1",
               "Content-Type": "application/json"}
    sink.fail_next(2, 503)
    codes = [requests.post(sink.url + "/hook", data=raw, headers=headers, timeout=5).status_code
             for _ in range(3)]
    assert codes == [503, 503, 200]
    got = sink.posts("/hook")
    assert len(got) == 3
    assert all(p.json == {"id": "d1", "topic": "order.paid"} and p.raw == raw for p in got)
    assert all(p.verify("s3cret") and Sink.verify(p, "s3cret") for p in got)
    assert not got[0].verify("other")
    assert [p.outcome for p in got] == ["failed", "failed", "ok"]
    assert got[0].header("x-ordo-delivery") == "d1"
    assert signature_ok("s3cret", raw, headers["X-Ordo-Signature"])
    assert not signature_ok("s3cret", raw + b" ", headers["X-Ordo-Signature"])
    assert not signature_ok("s3cret", raw, None)
    # A non-JSON body is kept raw; fail_next can target a path.
    sink.fail_next(1, 500, path="/other")
    assert requests.post(sink.url + "/notify", data=b"plain", timeout=5).status_code == 200
    assert requests.post(sink.url + "/other", data=b"x", timeout=5).status_code == 500
    assert sink.posts("/notify")[0].json is None and sink.posts("/notify")[0].raw == b"plain"
    assert len(sink.wait_for(lambda r: r.path == "/hook", count=3, timeout=1)) == 3
    with pytest.raises(AssertionError):
        sink.wait_for(lambda r: r.path == "/never", timeout=0.2)


def test_sink_keep_alive_and_chunked(sink):
    s = requests.Session()
    for i in range(3):
        assert s.post(sink.url + "/k", json={"i": i}, timeout=5).status_code == 200
    assert s.post(sink.url + "/k", data=iter([b'{"i":', b'9}']), timeout=5).status_code == 200
    s.close()
    assert [p.json["i"] for p in sink.posts("/k")] == [0, 1, 2, 9]
