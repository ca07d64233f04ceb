"""
The money rules after an order changes (canceled lines, edits, a cancel),
against the fake Stripe gateway (tests/e2e/fakes.py), from a review's
reproductions:

  * a refund given for another reason (a storefront goodwill refund) never
    makes the total owed again: a canceled line is refunded, nothing is
    charged (and an edit up charges only the difference);
  * lines canceled while our capture is in flight are refunded once it
    lands, not tagged for the storefront;
  * an authorization no longer needed when it arrives (an edit up, then
    down, while it was in flight) is voided, not dead-lettered;
  * a cancel (ours or the storefront's) voids every authorization an edited
    order holds;
  * a full cancel after a storefront refund refunds what is left, and one
    while a capture is in flight refunds it when it lands.

Each test waits for a concrete end state, then for the order to be quiet
(nothing pending in the inbox, its payments or its effects) before
asserting what the gateway holds. The in-flight cases hold the gateway's
answer for 5 s (effects time out after 8 s); the money must come out the
same if the machine is too slow to act inside that window, so the
assertions about the in-flight path are made only when the order was seen
changing while the request was still pending.
"""
from pathlib import Path

from conftest import shopify_order, shopify_refund, wait_until
from test_effects import ack, standard_config, wait_acme


def slow_answers(gateway, sink):
    return standard_config(gateway, sink).replace("timeout: 2s", "timeout: 8s")


def event_of(o, text):
    return next(h["event_id"] for h in o["history"] if text in (h["message"] or ""))


def quiet(ordo, o, merchant="acme"):
    """The order once nothing about it is pending anywhere; returned in full."""
    def look():
        if ordo.request("GET", "/healthz").json()["inbox_depth"] != 0:
            return None
        cur = ordo.order(o["id"], merchant)
        if any(p["status"] == "pending" for p in cur["payments"]):
            return None
        if any(e["status"] == "pending" for e in cur.get("effects") or []):
            return None
        return cur
    return wait_until(look, what="the order to settle")


def pays(o, kind, status="succeeded", gateway=None):
    return [p["amount"] for p in o["payments"] if p["kind"] == kind and p["status"] == status
            and (gateway is None or p["gateway"] == gateway)]


def line_of(o, sku):
    return [l for l in o["lines"] if l["sku"] == sku][0]["line_no"]


def test_goodwill_refund_then_cancel_line_refunds_the_line_only(gateway, sink, ordo_factory):
    ordo = ordo_factory(acme_extra=standard_config(gateway, sink))
    body = shopify_order(lines=[("10.00", 1, "MUG", "Mug"), ("5.00", 2, "PEN", "Pen")],
                         shipping="0.00", financial_status="pending")
    ack(ordo.shopify(body))
    o = wait_acme(ordo, body, lambda o: o["payment_status"] == "paid")
    assert o["total"] == 2000 and gateway.charges_for(o["id"]) == [2000]
    # The merchant refunds 8.00 on the storefront as a goodwill gesture.
    ack(ordo.shopify(shopify_refund(body["id"], amount="8.00"), topic="refunds/create"))
    o = wait_acme(ordo, body, lambda o: o["payment_status"] == "partially_refunded")
    # One pen canceled: its 5.00 goes back; the gesture is not taken back.
    r = ordo.api("POST", f"orders/{o['id']}/cancel", "acme",
                 json={"lines": [{"line": line_of(o, "PEN"), "quantity": 1}]})
    assert r.status_code == 202, r.text
    o = wait_acme(ordo, body, lambda o: pays(o, "refund", gateway="stripe") == [500])
    o = quiet(ordo, o)
    assert o["total"] == 1500
    assert gateway.charges_for(o["id"]) == [2000], "customer charged again"
    assert [r["amount"] for r in gateway.refunds_for(o["id"])] == [500]
    assert pays(o, "authorization") == [2000]
    assert "refund-on-storefront" not in o["tags"] and "balance-due" not in o["tags"]
    assert ordo.dead_letters("acme") == []
    # The pen added back: only its 5.00 is charged, not the 8.00 gesture too.
    r = ordo.api("POST", f"orders/{o['id']}/edits", "acme",
                 json={"add": [{"sku": "PEN", "quantity": 1, "unit_price": 500}]})
    assert r.status_code == 202, r.text
    o = wait_acme(ordo, body, lambda o: o["total"] == 2000 and len(pays(o, "capture")) == 2)
    o = quiet(ordo, o)
    assert gateway.charges_for(o["id"]) == [2000, 500]
    assert pays(o, "authorization") == [2000, 500]


def test_cancel_line_while_capture_in_flight(gateway, sink, ordo_factory):
    ordo = ordo_factory(acme_extra=slow_answers(gateway, sink))
    gateway.delay_next(1, seconds=5, ops="capture")
    body = shopify_order(lines=[("10.00", 1, "MUG", "Mug"), ("5.00", 2, "PEN", "Pen")],
                         shipping="0.00", financial_status="pending")
    ack(ordo.shopify(body))
    o = wait_acme(ordo, body, lambda o: pays(o, "capture", "pending") == [2000])
    r = ordo.api("POST", f"orders/{o['id']}/cancel", "acme",
                 json={"lines": [{"line": line_of(o, "PEN"), "quantity": 1}]})
    assert r.status_code == 202, r.text
    o = wait_acme(ordo, body, lambda o: o["total"] == 1500)
    in_flight = pays(o, "capture", "pending") == [2000]
    print("request still in flight when the order changed:", in_flight)
    # Refunded when the capture lands, through the gateway that took it.
    o = wait_acme(ordo, body, lambda o: pays(o, "refund") == [500])
    o = quiet(ordo, o)
    net = sum(gateway.charges_for(o["id"])) - sum(r["amount"] for r in gateway.refunds_for(o["id"]))
    assert net == 1500, "customer keeps paying for the canceled pen"
    assert o["payment_status"] == "paid"
    assert "refund-on-storefront" not in o["tags"]
    assert ordo.dead_letters("acme") == []
    if in_flight:   # settled again by the capture's own event
        assert event_of(o, "refund of 5.00 USD requested") == event_of(o, "capture of 20.00 USD succeeded")


def test_edit_up_then_down_while_authorization_in_flight(gateway, sink, ordo_factory):
    ordo = ordo_factory(acme_extra=slow_answers(gateway, sink))
    body = shopify_order(lines=[("10.00", 2, "MUG", "Mug")], shipping="0.00", financial_status="pending")
    ack(ordo.shopify(body))
    o = wait_acme(ordo, body, lambda o: o["payment_status"] == "paid")
    gateway.delay_next(1, seconds=5, ops="authorize")
    r = ordo.api("POST", f"orders/{o['id']}/edits", "acme",
                 json={"add": [{"sku": "PEN", "quantity": 1, "unit_price": 500}]})
    assert r.status_code == 202, r.text
    o = wait_acme(ordo, body, lambda o: o["total"] == 2500 and pays(o, "authorization", "pending") == [500])
    r = ordo.api("POST", f"orders/{o['id']}/edits", "acme",
                 json={"change": [{"line": line_of(o, "PEN"), "quantity": 0}]})
    assert r.status_code == 202, r.text
    o = wait_acme(ordo, body, lambda o: o["total"] == 2000)
    in_flight = pays(o, "authorization", "pending") == [500]
    print("request still in flight when the order changed:", in_flight)
    o = wait_acme(ordo, body, lambda o: pays(o, "void") == [500] or pays(o, "refund") == [500])
    o = quiet(ordo, o)
    assert ordo.dead_letters("acme") == []
    assert pays(o, "authorization") == [2000, 500]
    net = sum(gateway.charges_for(o["id"])) - sum(r["amount"] for r in gateway.refunds_for(o["id"]))
    assert net == 2000
    assert "requires_capture" not in [pi["status"] for pi in gateway.intents_for(o["id"])], \
        "an authorization nobody needs is left held on the card"
    assert o["payment_status"] == "paid"
    if in_flight:   # it arrives owing nothing: voided, never captured
        assert pays(o, "void") == [500] and pays(o, "capture") == [2000]
        assert gateway.charges_for(o["id"]) == [2000]
        assert sorted(pi["status"] for pi in gateway.intents_for(o["id"])) == ["canceled", "succeeded"]


def on_fulfillment_flow():
    return (Path(__file__).parents[2] / "workflows" / "standard.lua").read_text().replace(
        'local CAPTURE = "immediately"', 'local CAPTURE = "on_fulfillment"')


def authorized_twice(ordo, gateway, sink):
    """A beta order (capture on fulfillment) authorized for 20.00, then
    edited up 5.00: two authorizations held."""
    body = shopify_order(lines=[("10.00", 2, "MUG", "Mug")], shipping="0.00", financial_status="pending")
    ack(ordo.shopify(body, merchant="beta"))
    w = lambda pred: ordo.wait_order("shopify", body["id"], merchant="beta", pred=pred)  # noqa: E731
    o = w(lambda o: o["payment_status"] == "authorized")
    r = ordo.api("POST", f"orders/{o['id']}/edits", "beta",
                 json={"add": [{"sku": "PEN", "quantity": 1, "unit_price": 500}]})
    assert r.status_code == 202, r.text
    o = w(lambda o: pays(o, "authorization") == [2000, 500])
    return body, w, o


def test_cancel_after_edit_voids_every_authorization(gateway, sink, ordo_factory):
    ordo = ordo_factory(beta_workflow=on_fulfillment_flow(), beta_extra=standard_config(gateway, sink))
    body, w, o = authorized_twice(ordo, gateway, sink)
    r = ordo.api("POST", f"orders/{o['id']}/cancel", "beta", json={"reason": "customer asked"})
    assert r.status_code == 202, r.text
    o = w(lambda o: o["status"] == "canceled" and sorted(pays(o, "void")) == [500, 2000])
    o = quiet(ordo, o, "beta")
    assert o["payment_status"] == "voided"
    assert [pi["status"] for pi in gateway.intents_for(o["id"])] == ["canceled", "canceled"]
    assert gateway.charges_for(o["id"]) == []
    assert ordo.dead_letters("beta") == []


def test_storefront_cancel_after_edit_voids_every_authorization(gateway, sink, ordo_factory):
    ordo = ordo_factory(beta_workflow=on_fulfillment_flow(), beta_extra=standard_config(gateway, sink))
    body, w, o = authorized_twice(ordo, gateway, sink)
    ack(ordo.shopify(dict(body, cancelled_at="2024-05-03T10:00:00-04:00", cancel_reason="customer"),
                     topic="orders/cancelled", merchant="beta"))
    o = w(lambda o: o["status"] == "canceled" and sorted(pays(o, "void")) == [500, 2000])
    o = quiet(ordo, o, "beta")
    assert [pi["status"] for pi in gateway.intents_for(o["id"])] == ["canceled", "canceled"]
    assert ordo.dead_letters("beta") == []


def test_edit_up_then_down_releases_the_extra_authorization(gateway, sink, ordo_factory):
    # Capture on fulfillment: the second authorization is not needed once
    # the edit is undone, and is voided then, not held until shipping.
    ordo = ordo_factory(beta_workflow=on_fulfillment_flow(), beta_extra=standard_config(gateway, sink))
    body, w, o = authorized_twice(ordo, gateway, sink)
    r = ordo.api("POST", f"orders/{o['id']}/edits", "beta",
                 json={"change": [{"line": line_of(o, "PEN"), "quantity": 0}]})
    assert r.status_code == 202, r.text
    o = w(lambda o: o["total"] == 2000 and pays(o, "void") == [500])
    o = quiet(ordo, o, "beta")
    assert o["payment_status"] == "authorized"
    assert sorted(pi["status"] for pi in gateway.intents_for(o["id"])) == ["canceled", "requires_capture"]


def test_full_cancel_after_storefront_refund(gateway, sink, ordo_factory):
    ordo = ordo_factory(acme_extra=standard_config(gateway, sink))
    body = shopify_order(lines=[("10.00", 2, "MUG", "Mug")], shipping="0.00", financial_status="pending")
    ack(ordo.shopify(body))
    o = wait_acme(ordo, body, lambda o: o["payment_status"] == "paid")
    ack(ordo.shopify(shopify_refund(body["id"], amount="8.00"), topic="refunds/create"))
    o = wait_acme(ordo, body, lambda o: o["payment_status"] == "partially_refunded")
    assert ordo.api("POST", f"orders/{o['id']}/cancel", "acme", json={}).status_code == 202
    # What is left (12.00) goes back through the gateway; nothing dead-letters.
    o = wait_acme(ordo, body, lambda o: o["status"] == "canceled" and pays(o, "refund", gateway="stripe") == [1200])
    o = quiet(ordo, o)
    assert ordo.dead_letters("acme") == []
    assert o["payment_status"] == "refunded"
    assert [r["amount"] for r in gateway.refunds_for(o["id"])] == [1200]
    assert "refund-on-storefront" not in o["tags"]


def test_full_cancel_while_capture_in_flight(gateway, sink, ordo_factory):
    ordo = ordo_factory(acme_extra=slow_answers(gateway, sink))
    gateway.delay_next(1, seconds=5, ops="capture")
    body = shopify_order(lines=[("10.00", 2, "MUG", "Mug")], shipping="0.00", financial_status="pending")
    ack(ordo.shopify(body))
    o = wait_acme(ordo, body, lambda o: pays(o, "capture", "pending") == [2000])
    assert ordo.api("POST", f"orders/{o['id']}/cancel", "acme", json={}).status_code == 202
    o = wait_acme(ordo, body, lambda o: o["status"] == "canceled")
    in_flight = pays(o, "capture", "pending") == [2000]
    print("request still in flight when the order changed:", in_flight)
    # The capture lands on a canceled order: refunded in full.
    o = wait_acme(ordo, body, lambda o: pays(o, "refund") == [2000])
    o = quiet(ordo, o)
    assert gateway.charges_for(o["id"]) == [2000]
    assert [r["amount"] for r in gateway.refunds_for(o["id"])] == [2000]
    assert o["payment_status"] == "refunded"
    assert ordo.dead_letters("acme") == []
    if in_flight:
        assert event_of(o, "refund of 20.00 USD requested") == event_of(o, "capture of 20.00 USD succeeded")


def test_storefront_cancel_refunds_what_our_gateway_captured(gateway, sink, ordo_factory):
    """Canceled on the storefront after our gateway captured: the storefront
    cannot refund money it never took, so ordo does, once; the card's holds
    are gone and nothing is tagged for the storefront."""
    ordo = ordo_factory(acme_extra=standard_config(gateway, sink))
    body = shopify_order(lines=[("10.00", 2, "MUG", "Mug")], shipping="0.00", financial_status="pending")
    ack(ordo.shopify(body))
    o = wait_acme(ordo, body, lambda o: o["payment_status"] == "paid")
    assert gateway.charges_for(o["id"]) == [2000]
    cancelled = dict(body, cancelled_at="2024-05-03T10:00:00-04:00", cancel_reason="customer")
    ack(ordo.shopify(cancelled, topic="orders/cancelled"))
    ack(ordo.shopify(cancelled, topic="orders/cancelled"))       # a second delivery
    o = wait_acme(ordo, body, lambda o: o["status"] == "canceled" and pays(o, "refund") == [2000])
    o = quiet(ordo, o)
    assert [r["amount"] for r in gateway.refunds_for(o["id"])] == [2000]
    assert o["payment_status"] == "refunded"
    assert "refund-on-storefront" not in o["tags"]
    assert ordo.dead_letters("acme") == []
