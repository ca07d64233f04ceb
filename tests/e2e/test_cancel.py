"""
POST /api/v1/orders/{id}/cancel against the real daemon: the API refuses
what cannot be canceled (and changes nothing); flows/cancel.lua puts stock
back, refunds through the fake gateway what it captured, and tags a
storefront-paid order for a refund there.
"""
from conftest import POLL_TIMEOUT, shopify_order, wait_until
from test_effects import ack, for_order, standard_config, wait_acme
from test_inventory import BACKORDER_FLOW, LOCATIONS, put_stock


def cancel(ordo, oid, merchant, **kw):
    return ordo.api("POST", f"orders/{oid}/cancel", merchant, **kw)


def available(ordo, sku):
    stock = ordo.api("GET", "inventory", "beta", params={"sku": sku}).json()["stock"]
    return {s["location"]: s["available"] for s in stock}


def test_cancel_puts_stock_back_and_serves_the_backorder_queue(ordo_factory):
    ordo = ordo_factory(beta_workflow=BACKORDER_FLOW, beta_extra=LOCATIONS)
    put_stock(ordo, "MUG", portland=2)
    first = shopify_order(lines=[("10.00", 2, "MUG", "Mug")], financial_status="paid")
    ack(ordo.shopify(first, merchant="beta"))
    o1 = ordo.wait_order("shopify", first["id"], merchant="beta",
                         pred=lambda o: o["lines"][0]["reserved"] == 2)
    waiting = shopify_order(lines=[("10.00", 1, "MUG", "Mug")], financial_status="paid")
    ack(ordo.shopify(waiting, merchant="beta"))
    o2 = ordo.wait_order("shopify", waiting["id"], merchant="beta",
                         pred=lambda o: o["lines"][0]["backordered"] == 1)

    # Refusals change nothing.
    r = cancel(ordo, o1["id"], "beta", json={"reason": ""})
    assert r.status_code == 422 and "reason" in r.json()["error"]["message"]
    r = cancel(ordo, o1["id"], "beta", data=b"{nope")
    assert r.status_code == 400
    assert cancel(ordo, 999999, "beta").status_code == 404
    assert cancel(ordo, o1["id"], "acme").status_code == 404      # another merchant's order
    assert ordo.order(o1["id"], merchant="beta")["status"] == "placed"

    r = cancel(ordo, o1["id"], "beta", json={"reason": "customer changed their mind"},
               headers={"Idempotency-Key": "c-1"})
    assert r.status_code == 202, r.text
    again = cancel(ordo, o1["id"], "beta", json={"reason": "customer changed their mind"},
                   headers={"Idempotency-Key": "c-1"})
    assert again.status_code in (202, 409), again.text
    o1 = ordo.wait_order("shopify", first["id"], merchant="beta",
                         pred=lambda o: o["status"] == "canceled")
    assert o1["lines"][0]["reserved"] == 0
    assert "refund-on-storefront" in o1["tags"]
    assert any(h["kind"] == "status" and h["to"] == "canceled" and
               "changed their mind" in (h["message"] or "") for h in o1["history"])
    # The freed units went to the waiting order first.
    o2 = ordo.wait_order("shopify", waiting["id"], merchant="beta",
                         pred=lambda o: o["lines"][0]["reserved"] == 1)
    assert available(ordo, "MUG")["portland"] == 1
    r = cancel(ordo, o1["id"], "beta")
    assert r.status_code == 409 and "already canceled" in r.json()["error"]["message"]


def test_cancel_refuses_a_shipped_order(ordo_factory):
    ordo = ordo_factory(beta_workflow=BACKORDER_FLOW, beta_extra=LOCATIONS)
    put_stock(ordo, "MUG", portland=1)
    body = shopify_order(lines=[("10.00", 1, "MUG", "Mug")], financial_status="paid")
    ack(ordo.shopify(body, merchant="beta"))
    o = ordo.wait_order("shopify", body["id"], merchant="beta",
                        pred=lambda o: o["lines"][0]["reserved"] == 1)
    sid = ordo.api("POST", f"orders/{o['id']}/shipments", "beta",
                   json={"location": "portland"}).json()["shipment"]["id"]
    assert ordo.api("POST", f"shipments/{sid}/ship", "beta", json={}).status_code == 200
    r = cancel(ordo, o["id"], "beta")
    assert r.status_code == 409 and "has shipped" in r.json()["error"]["message"], r.text
    assert ordo.order(o["id"], merchant="beta")["status"] != "canceled"


def test_cancel_refunds_what_the_gateway_captured(gateway, sink, ordo_factory):
    ordo = ordo_factory(acme_extra=standard_config(gateway, sink))
    body = shopify_order(financial_status="pending")
    ack(ordo.shopify(body))
    o = wait_acme(ordo, body, lambda o: o["payment_status"] == "paid")
    assert cancel(ordo, o["id"], "acme", json={"reason": "out of stock"}).status_code == 202
    o = wait_acme(ordo, body, lambda o: o["status"] == "canceled" and
                  o["payment_status"] == "refunded", timeout=POLL_TIMEOUT)
    refunds = for_order(gateway, o, "refund")
    assert len(refunds) == 1 and refunds[0].form.get("amount") == str(o["total"]), refunds
    assert "refund-on-storefront" not in o["tags"]


def test_storefront_refund_of_our_own_refund_is_not_counted_twice(gateway, sink, ordo_factory):
    from conftest import fmt, shopify_refund
    ordo = ordo_factory(acme_extra=standard_config(gateway, sink))
    body = shopify_order(financial_status="pending")
    ack(ordo.shopify(body))
    o = wait_acme(ordo, body, lambda o: o["payment_status"] == "paid")
    assert cancel(ordo, o["id"], "acme").status_code == 202
    o = wait_acme(ordo, body, lambda o: o["payment_status"] == "refunded")
    (ours,) = [p for p in o["payments"] if p["kind"] == "refund"]
    assert ours["reference"], ours
    # The storefront reports the same refund back, naming the gateway's id.
    echo = shopify_refund(body["id"], amount=fmt(o["total"], "USD"))
    echo["transactions"][0]["authorization"] = ours["reference"]
    ack(ordo.shopify(echo, topic="refunds/create"))
    # ... and again, as a redelivery with a new webhook id.
    ack(ordo.shopify(echo, topic="refunds/create"))
    o = wait_acme(ordo, body, lambda o: any(h["to"] == "refund_matched" for h in o["history"]))
    assert [p["kind"] for p in o["payments"] if p["kind"] == "refund"] == ["refund"], o["payments"]
    assert o["payment_status"] == "refunded"
    assert len(for_order(gateway, o, "refund")) == 1
    # A refund the storefront made on its own is recorded; more than is left
    # is not (noted and tagged for a person, no retries).
    extra = shopify_refund(body["id"], amount="1.00")
    ack(ordo.shopify(extra, topic="refunds/create"))
    o = wait_acme(ordo, body, lambda o: "refund-unreconciled" in o["tags"])
    assert [p["kind"] for p in o["payments"] if p["kind"] == "refund"] == ["refund"]
    assert ordo.dead_letters("acme") == []


def test_storefront_refund_is_recorded_once(ordo_factory):
    from conftest import shopify_refund
    ordo = ordo_factory()
    body = shopify_order(financial_status="paid")
    ack(ordo.shopify(body))
    ordo.wait_order("shopify", body["id"], pred=lambda o: o["payment_status"] == "paid")
    r = shopify_refund(body["id"], amount="5.00")
    ack(ordo.shopify(r, topic="refunds/create"))
    ack(ordo.shopify(r, topic="refunds/create"))       # a redelivery: another webhook id
    o = ordo.wait_order("shopify", body["id"], pred=lambda o: o["payment_status"] == "partially_refunded")
    # Both deliveries handled (the inbox is empty), one refund recorded.
    wait_until(lambda: ordo.request("GET", "/healthz").json()["inbox_depth"] == 0,
               what="the inbox drained")
    notes = [h for h in ordo.order(o["id"])["history"]
             if h["kind"] == "note" and "Refund of 5.00" in (h["message"] or "")]
    assert len(notes) == 1, notes
    o = ordo.order(o["id"])
    assert [(p["kind"], p["amount"]) for p in o["payments"] if p["kind"] == "refund"] == [("refund", 500)]
