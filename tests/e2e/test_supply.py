"""
Suppliers against the real daemon and a fake supplier (a sink on
127.0.0.1): purchase orders sent signed and received partially into stock
(serving the backorder queue, giving waiting lines an expected date), and
the drop-ship round trip: forward, accept, ship with tracking, reject.
"""
import json
import sqlite3
import time

from conftest import ROOT, q, shopify_order, sign_hex, wait_until
from test_inventory import put_stock

DROPSHIP_FLOW = (ROOT / "workflows" / "dropship.lua").read_text()


def config(sink):
    return f"""\
locations:
  - {{ id: portland, priority: 1 }}
suppliers:
  - {{ id: woodworks, url: {q(sink.url + "/woodworks")}, secret: "wood-secret", lead_time_days: 10 }}
  - {{ id: metalco, url: {q(sink.url + "/metalco")}, secret: "metal-secret" }}
effects: {{timeout: 2s, max_attempts: 3, base_delay: 10ms, max_delay: 50ms}}
"""


def start(ordo_factory, sink):
    return ordo_factory(beta_workflow=DROPSHIP_FLOW, beta_extra=config(sink))


def api(ordo, method, path, **kw):
    return ordo.api(method, path, "beta", **kw)


def supplier_says(ordo, supplier, secret, event, body):
    raw = json.dumps(body).encode()
    return ordo.post_webhook("beta", f"supplier/{supplier}", raw, {
        "X-Ordo-Event": event, "X-Ordo-Signature": sign_hex(secret, raw),
        "X-Ordo-Delivery": f"{supplier}-{event}-{body.get('dropship_id')}"}, None)


def place(ordo, lines):
    body = shopify_order(lines=[("10.00", n, sku, sku) for sku, n in lines], financial_status="paid")
    assert ordo.shopify(body, merchant="beta").status_code == 200
    return ordo.wait_order("shopify", body["id"], merchant="beta")


def test_purchase_order_sent_signed_and_received_partially(sink, ordo_factory):
    ordo = start(ordo_factory, sink)
    put_stock(ordo, "MUG", portland=0)
    waiting = place(ordo, [("MUG", 4)])
    r = api(ordo, "POST", "purchase-orders", json={"supplier": "woodworks", "sku": "MUG", "quantity": 5})
    assert r.status_code == 201, r.text
    po = r.json()["purchase_order"]
    assert po["status"] == "open" and po["location"] == "portland"
    (sent,) = sink.wait_for(lambda x: x.path == "/woodworks")
    assert sent.verify("wood-secret") and sent.header("X-Ordo-Event") == "purchase_order.created"
    assert sent.json["sku"] == "MUG" and sent.json["quantity"] == 5
    line = api(ordo, "GET", f"orders/{waiting['id']}").json()["lines"][0]
    assert line["backordered"] == 4 and line["expected_at"] == po["expected_at"], line

    r = api(ordo, "POST", f"purchase-orders/{po['id']}/receive", json={"quantity": 2})
    assert r.status_code == 200 and r.json()["purchase_order"]["status"] == "partially_received"
    wait_until(lambda: api(ordo, "GET", f"orders/{waiting['id']}").json()["lines"][0]["reserved"] == 2,
               what="two units served from the receipt")
    r = api(ordo, "POST", f"purchase-orders/{po['id']}/receive", json={"quantity": 4})
    assert r.status_code == 422 and "3 of 5 still to come" in r.json()["error"]["message"], r.text
    assert api(ordo, "POST", f"purchase-orders/{po['id']}/receive", json={"quantity": 3}).status_code == 200
    r = api(ordo, "POST", f"purchase-orders/{po['id']}/receive", json={"quantity": 1})
    assert r.status_code == 409, r.text
    r = api(ordo, "POST", "purchase-orders", json={"supplier": "nobody", "sku": "MUG", "quantity": 1})
    assert r.status_code == 422 and 'unknown supplier "nobody"' in r.json()["error"]["message"]
    stock = api(ordo, "GET", "inventory", params={"sku": "MUG"}).json()["stock"]
    assert stock[0]["on_hand"] == 5 and stock[0]["reserved"] == 4


def test_purchase_orders_take_an_idempotency_key(sink, ordo_factory):
    """A retried create or receive with the same Idempotency-Key answers the
    first result ("replayed") and sends or receives nothing again."""
    ordo = start(ordo_factory, sink)
    put_stock(ordo, "MUG", portland=0)
    body = {"supplier": "woodworks", "sku": "MUG", "quantity": 5}
    first = api(ordo, "POST", "purchase-orders", json=body, headers={"Idempotency-Key": "po-1"})
    assert first.status_code == 201, first.text
    again = api(ordo, "POST", "purchase-orders", json=body, headers={"Idempotency-Key": "po-1"})
    assert again.status_code == 200 and again.json()["replayed"] is True, again.text
    po = first.json()["purchase_order"]
    assert again.json()["purchase_order"]["id"] == po["id"]
    sink.wait_for(lambda x: x.path == "/woodworks")
    other = api(ordo, "POST", "purchase-orders", json=body, headers={"Idempotency-Key": "po-2"})
    assert other.status_code == 201 and other.json()["purchase_order"]["id"] != po["id"]
    wait_until(lambda: len(sink.posts("/woodworks")) == 2, what="two purchase orders sent")

    recv = f"purchase-orders/{po['id']}/receive"
    for _ in range(3):
        r = api(ordo, "POST", recv, json={"quantity": 2}, headers={"Idempotency-Key": "rcv-1"})
        assert r.status_code == 200, r.text
    assert r.json()["replayed"] is True and r.json()["purchase_order"]["received"] == 2, r.text
    # The same key on another purchase order is another request.
    r = api(ordo, "POST", f"purchase-orders/{other.json()['purchase_order']['id']}/receive",
            json={"quantity": 1}, headers={"Idempotency-Key": "rcv-1"})
    assert r.status_code == 200 and "replayed" not in r.json(), r.text
    stock = api(ordo, "GET", "inventory", params={"sku": "MUG"}).json()["stock"]
    assert stock[0]["on_hand"] == 3, stock
    # A refused request keeps nothing: the same key may be used again.
    r = api(ordo, "POST", recv, json={"quantity": 99}, headers={"Idempotency-Key": "rcv-2"})
    assert r.status_code == 422, r.text
    r = api(ordo, "POST", recv, json={"quantity": 1}, headers={"Idempotency-Key": "rcv-2"})
    assert r.status_code == 200 and "replayed" not in r.json(), r.text
    r = api(ordo, "POST", recv, json={"quantity": 1}, headers={"Idempotency-Key": ""})
    assert r.status_code == 400, r.text
    time.sleep(0.3)
    assert len(sink.posts("/woodworks")) == 2


def test_dropship_round_trip(sink, ordo_factory):
    ordo = start(ordo_factory, sink)
    put_stock(ordo, "MUG", portland=3)
    o = place(ordo, [("DESK-OAK", 1), ("MUG", 2)])
    (req,) = sink.wait_for(lambda x: x.path == "/woodworks")
    assert req.verify("wood-secret") and req.header("X-Ordo-Event") == "dropship.requested"
    assert req.json["lines"] == [{"line": 1, "sku": "DESK-OAK", "title": "DESK-OAK", "quantity": 1}]
    ds_id = req.json["dropship_id"]
    o = api(ordo, "GET", f"orders/{o['id']}").json()
    assert o["lines"][0]["fulfillment"] == "dropship" and o["lines"][0]["reserved"] == 0
    assert o["lines"][1]["reserved"] == 2, "our own stock for the rest"

    assert supplier_says(ordo, "woodworks", "wrong", "dropship.accepted",
                         {"dropship_id": ds_id}).status_code == 401
    assert supplier_says(ordo, "woodworks", "wood-secret", "dropship.accepted",
                         {"dropship_id": ds_id}).status_code == 200
    assert supplier_says(ordo, "woodworks", "wood-secret", "dropship.shipped",
                         {"dropship_id": ds_id, "carrier": "FedEx", "tracking_number": "FX1"}).status_code == 200

    def shipped():
        x = api(ordo, "GET", f"orders/{o['id']}").json()
        return x if x["shipments"] else None
    x = wait_until(shipped, what="the supplier's shipment on the order")
    (s,) = x["shipments"]
    assert s["location"] == "woodworks" and s["status"] == "shipped" and s["tracking_number"] == "FX1"
    assert x["lines"][0]["fulfilled_quantity"] == 1 and x["fulfillment_status"] == "partially_fulfilled"
    stock = api(ordo, "GET", "inventory", params={"sku": "MUG"}).json()["stock"]
    assert stock[0]["on_hand"] == 3 and stock[0]["reserved"] == 2, "no stock of ours moved"
    # A supplier cannot touch another's dropship.
    assert supplier_says(ordo, "metalco", "metal-secret", "dropship.rejected",
                         {"dropship_id": ds_id}).status_code == 200
    dl = ordo.wait_dead_letter("beta", lambda d: "for this supplier" in d["error"])
    assert dl["event"] == "dropship_rejected"


def test_dropship_rejected_lines_are_backordered(sink, ordo_factory):
    ordo = start(ordo_factory, sink)
    o = place(ordo, [("LAMP-BRASS", 2)])
    (req,) = sink.wait_for(lambda x: x.path == "/woodworks")
    assert supplier_says(ordo, "woodworks", "wood-secret", "dropship.rejected",
                         {"dropship_id": req.json["dropship_id"], "reason": "out of brass"}).status_code == 200

    def back():
        x = api(ordo, "GET", f"orders/{o['id']}").json()
        return x if x["lines"][0]["backordered"] == 2 else None
    x = wait_until(back, what="the rejected lines backordered")
    assert x["lines"][0]["fulfillment"] == "stock"
    assert any("rejected the drop-ship: out of brass" in (h["message"] or "") for h in x["history"])
