"""
Shipments over the API against the real daemon: split and partial
shipments, the stock-out on ship, fulfillment status following the lines,
delivery, cancellation after a partial shipment, and bad input.
"""
import sqlite3

from conftest import shopify_order, wait_until
from test_inventory import BACKORDER_FLOW, LOCATIONS, check_invariants, put_stock


def start(ordo_factory):
    return ordo_factory(beta_workflow=BACKORDER_FLOW, beta_extra=LOCATIONS)


def place(ordo, lines):
    body = shopify_order(lines=[("10.00", q, sku, sku) for sku, q in lines], financial_status="paid")
    assert ordo.shopify(body, merchant="beta").status_code == 200
    return ordo.wait_order("shopify", body["id"], merchant="beta"), body


def api(ordo, method, path, **kw):
    return ordo.api(method, path, "beta", **kw)


def stock(ordo, sku):
    return {s["location"]: (s["on_hand"], s["reserved"])
            for s in api(ordo, "GET", "inventory", params={"sku": sku}).json()["stock"]}


def events(ordo, topic):
    con = sqlite3.connect(f"file:{ordo.db}?mode=ro", uri=True, timeout=5)
    try:
        return [r[0] for r in con.execute("SELECT status FROM inbox WHERE topic = ?", (topic,))]
    finally:
        con.close()


def test_split_and_partial_shipments_then_delivery(ordo_factory):
    ordo = start(ordo_factory)
    put_stock(ordo, "MUG", portland=2, reno=5)
    put_stock(ordo, "LID", portland=5)
    o, _ = place(ordo, [("MUG", 3), ("LID", 1)])           # MUG 2 portland + 1 reno (split)
    o = api(ordo, "GET", f"orders/{o['id']}").json()
    assert [ln["reserved"] for ln in o["lines"]] == [3, 1]

    r = api(ordo, "POST", f"orders/{o['id']}/shipments",
            json={"location": "portland", "lines": [{"line": 1, "quantity": 1}]})
    assert r.status_code == 201, r.text
    first = r.json()["shipment"]
    assert first["status"] == "pending" and first["lines"] == [{"line": 1, "quantity": 1}]
    for step in ("pick", "pack"):
        assert api(ordo, "POST", f"shipments/{first['id']}/{step}", json={}).status_code == 200
    r = api(ordo, "POST", f"shipments/{first['id']}/ship",
            json={"carrier": "UPS", "tracking_number": "1Z999", "tracking_url": "https://t.example/1Z999"})
    assert r.status_code == 200 and r.json()["shipment"]["status"] == "shipped", r.text
    assert stock(ordo, "MUG")["portland"] == (1, 1), "one unit left on hand and reserved"
    o = api(ordo, "GET", f"orders/{o['id']}").json()
    assert o["fulfillment_status"] == "partially_fulfilled"
    assert o["lines"][0]["fulfilled_quantity"] == 1

    # The rest: everything still reserved at each location.
    ids = []
    for loc in ("portland", "reno"):
        r = api(ordo, "POST", f"orders/{o['id']}/shipments", json={"location": loc})
        assert r.status_code == 201, r.text
        ids.append(r.json()["shipment"]["id"])
    for sid in ids:
        assert api(ordo, "POST", f"shipments/{sid}/ship", json={}).status_code == 200
    o = api(ordo, "GET", f"orders/{o['id']}").json()
    assert o["fulfillment_status"] == "fulfilled", o["fulfillment_status"]
    assert stock(ordo, "MUG") == {"portland": (0, 0), "reno": (4, 0)}
    assert stock(ordo, "LID") == {"portland": (4, 0)}
    for sid in [first["id"], *ids]:
        assert api(ordo, "POST", f"shipments/{sid}/deliver", json={}).status_code == 200
    o = api(ordo, "GET", f"orders/{o['id']}").json()
    assert o["fulfillment_status"] == "delivered"
    assert len(o["shipments"]) == 3 and all(s["status"] == "delivered" for s in o["shipments"])
    wait_until(lambda: events(ordo, "order_shipped") == ["done"] * 3, what="order_shipped handled")
    assert len(events(ordo, "order_delivered")) == 3
    check_invariants(ordo)


def test_cancel_after_partial_shipment_releases_the_rest(ordo_factory):
    ordo = start(ordo_factory)
    put_stock(ordo, "PEN", portland=4)
    o, body = place(ordo, [("PEN", 4)])
    sid = api(ordo, "POST", f"orders/{o['id']}/shipments",
              json={"location": "portland", "lines": [{"line": 1, "quantity": 1}]}).json()["shipment"]["id"]
    assert api(ordo, "POST", f"shipments/{sid}/ship", json={}).status_code == 200
    assert ordo.shopify(dict(body, cancel_reason="customer"), merchant="beta",
                        topic="orders/cancelled").status_code == 200
    ordo.wait_order("shopify", body["id"], merchant="beta", pred=lambda x: x["status"] == "canceled")
    assert stock(ordo, "PEN")["portland"] == (3, 0), "the shipped unit left; three are free again"
    o = api(ordo, "GET", f"orders/{o['id']}").json()
    assert o["lines"][0]["fulfilled_quantity"] == 1 and o["lines"][0]["reserved"] == 0
    check_invariants(ordo)


def test_shipment_bad_input(ordo_factory):
    ordo = start(ordo_factory)
    put_stock(ordo, "CUP", portland=2)
    o, _ = place(ordo, [("CUP", 2)])
    cases = [
        ({"location": "portland", "lines": [{"line": 1, "quantity": 3}]}, 422,
         "line 1 has 2 units reserved at portland"),
        ({"location": "mars"}, 422, 'unknown location "mars"'),
        ({"location": "reno"}, 422, "nothing reserved at reno"),
        ({"location": "portland", "lines": [{"line": 1, "quantity": -1}]}, 422, "positive quantity"),
    ]
    for body, status, msg in cases:
        r = api(ordo, "POST", f"orders/{o['id']}/shipments", json=body)
        assert r.status_code == status and msg in r.json()["error"]["message"], (body, r.text)
    sid = api(ordo, "POST", f"orders/{o['id']}/shipments",
              json={"location": "portland"}).json()["shipment"]["id"]
    assert api(ordo, "POST", f"shipments/{sid}/deliver", json={}).status_code == 200
    r = api(ordo, "POST", f"shipments/{sid}/pick", json={})
    assert r.status_code == 409 and "is delivered; it cannot be picked" in r.json()["error"]["message"]
    r = api(ordo, "POST", f"shipments/{sid}/cancel", json={})
    assert r.status_code == 409
    assert api(ordo, "POST", f"shipments/{sid}/fly", json={}).status_code == 404
    assert ordo.api("GET", f"shipments/{sid}", "acme").status_code == 404
    assert api(ordo, "POST", "orders/999999/shipments", json={"location": "portland"}).status_code == 404
    check_invariants(ordo)


def test_carrier_webhook_marks_the_shipment_delivered(ordo_factory):
    ordo = start(ordo_factory)
    put_stock(ordo, "BOX", portland=1)
    o, _ = place(ordo, [("BOX", 1)])
    sid = api(ordo, "POST", f"orders/{o['id']}/shipments",
              json={"location": "portland"}).json()["shipment"]["id"]
    assert api(ordo, "POST", f"shipments/{sid}/ship",
               json={"carrier": "DHL", "tracking_number": "JD0001"}).status_code == 200
    assert ordo.carrier({"tracking_number": "JD0001", "status": "in_transit"}).status_code == 200
    assert ordo.carrier({"tracking_number": "NOT-OURS", "status": "delivered"}).status_code == 200
    assert ordo.carrier({"tracking_number": "JD0001", "status": "delivered"}, secret="wrong").status_code == 401
    assert ordo.carrier({"tracking_number": "JD0001", "status": "delivered"}).status_code == 200
    wait_until(lambda: api(ordo, "GET", f"shipments/{sid}").json()["status"] == "delivered",
               what="the shipment delivered")
    o = api(ordo, "GET", f"orders/{o['id']}").json()
    assert o["fulfillment_status"] == "delivered"
    bad = ordo.carrier({"tracking_number": "JD0001", "status": "teleported"})
    assert bad.status_code == 200, "stored; the adapter refuses it when it runs"
    dl = ordo.wait_dead_letter("beta", lambda d: "teleported" in d["error"])
    assert "must be delivered, in_transit" in dl["error"], dl


def test_shipping_notifies_the_customer_with_the_tracking_link(sink, ordo_factory):
    from conftest import q
    extra = LOCATIONS + f"""\
notifications:
  url: {q(sink.url + "/notify")}
  secret: "n-secret"
  templates:
    shipped:
      subject: "Order {{{{order.number}}}} is on its way"
      body: "{{{{data.carrier}}}} {{{{data.tracking_number}}}}: {{{{data.tracking_url}}}}"
"""
    ordo = ordo_factory(beta_workflow=BACKORDER_FLOW, beta_extra=extra)
    put_stock(ordo, "MUG", portland=1)
    o, _ = place(ordo, [("MUG", 1)])
    sid = api(ordo, "POST", f"orders/{o['id']}/shipments", json={"location": "portland"}).json()["shipment"]["id"]
    assert api(ordo, "POST", f"shipments/{sid}/ship", json={
        "carrier": "UPS", "tracking_number": "1Z42", "tracking_url": "https://t.example/1Z42"}).status_code == 200
    (n,) = sink.wait_for(lambda r: r.path == "/notify")
    assert n.verify("n-secret") and n.json["template"] == "shipped"
    assert n.json["body"] == "UPS 1Z42: https://t.example/1Z42", n.json


def test_shipping_what_was_released_since_is_a_clear_409(ordo_factory):
    """A workflow releases an order's stock while a shipment for it is
    still pending: shipping it is refused with a 409 that says why and what
    to do, and changes nothing (it was a bare 503 "database error")."""
    flow = BACKORDER_FLOW.replace("\nreturn flow", """
function flow.order_updated(ev)
  inventory.release(orders.get(ev.order), 0, "released by the workflow")
end
return flow""")
    assert flow != BACKORDER_FLOW
    ordo = ordo_factory(beta_workflow=flow, beta_extra=LOCATIONS)
    put_stock(ordo, "CUP", portland=3)
    o, body = place(ordo, [("CUP", 2)])
    sid = api(ordo, "POST", f"orders/{o['id']}/shipments",
              json={"location": "portland"}).json()["shipment"]["id"]
    assert ordo.shopify(body, merchant="beta", topic="orders/updated").status_code == 200
    wait_until(lambda: stock(ordo, "CUP")["portland"] == (3, 0), what="the release")
    r = api(ordo, "POST", f"shipments/{sid}/ship", json={"carrier": "UPS", "tracking_number": "1Z"})
    assert r.status_code == 409, r.text
    msg = r.json()["error"]["message"]
    assert "line 1: fewer than its 2 units are still reserved at portland" in msg and "cancel it" in msg, msg
    assert stock(ordo, "CUP")["portland"] == (3, 0)
    assert api(ordo, "GET", f"shipments/{sid}").json()["status"] == "pending"
    assert api(ordo, "POST", f"shipments/{sid}/cancel", json={}).status_code == 200
    check_invariants(ordo)
