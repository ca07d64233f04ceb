"""
Canceling some lines before they ship (POST /api/v1/orders/{id}/cancel with
"lines") and editing an unfulfilled order (POST /api/v1/orders/{id}/edits)
against the real daemon, the fake gateway and the notification sink: stock
counts and the ledger, the payments at the gateway, the customer's
notifications and the order JSON. Every refusal changes nothing.
"""
from conftest import POLL_TIMEOUT, shopify_order, wait_until
from test_effects import API_KEY, FAST, ack, for_order, q
from test_inventory import BACKORDER_FLOW, db_rows, put_stock


def config(gateway, sink):
    return f"""\
locations:
  - {{ id: portland, region: US-OR, priority: 1 }}
  - {{ id: reno, region: US-NV, priority: 2 }}
payments:
  gateway: stripe
  base_url: {q(gateway.url)}
  api_key: {q(API_KEY)}
notifications:
  url: {q(sink.url + "/notify")}
  secret: "notify-secret"
  templates:
    order_lines_canceled:
      subject: "Part of your order was canceled"
      body: "{{{{data.items}}}} canceled ({{{{data.reason}}}}); {{{{data.amount}}}} off, now {{{{data.total}}}}."
    order_edited:
      subject: "Your order changed"
      body: "Was {{{{data.old_total}}}}, now {{{{data.total}}}}."
effects: {FAST}
"""


def start(ordo_factory, gateway, sink):
    return ordo_factory(beta_workflow=BACKORDER_FLOW, beta_extra=config(gateway, sink))


def stock(ordo, sku):
    rows = ordo.api("GET", "inventory", "beta", params={"sku": sku}).json()["stock"]
    return {s["location"]: (s["on_hand"], s["reserved"]) for s in rows}


def place(ordo, lines, **kw):
    body = shopify_order(lines=lines, shipping="0.00", **kw)
    ack(ordo.shopify(body, merchant="beta"))
    return body, ordo.wait_order("shopify", body["id"], merchant="beta",
                                 pred=lambda o: o["payment_status"] == "paid")


def wait(ordo, body, pred):
    return ordo.wait_order("shopify", body["id"], merchant="beta", pred=pred, timeout=POLL_TIMEOUT)


def notices(sink, template, count=1):
    return sink.wait_for(lambda r: r.path == "/notify" and r.json.get("template") == template,
                         count=count)


def line(o, no):
    (l,) = [l for l in o["lines"] if l["line_no"] == no]
    return l


def test_cancel_some_lines_releases_refunds_and_tells(gateway, sink, ordo_factory):
    ordo = start(ordo_factory, gateway, sink)
    put_stock(ordo, "MUG", portland=3)
    put_stock(ordo, "PEN", portland=1)
    body, o = place(ordo, [("10.00", 3, "MUG", "Mug"), ("5.00", 1, "PEN", "Pen")])
    assert o["total"] == 3500 and line(o, 1)["reserved"] == 3 and line(o, 2)["reserved"] == 1
    assert gateway.charges_for(o["id"]) == [3500]
    waiting_body, waiting = place(ordo, [("10.00", 1, "MUG", "Mug")])
    assert line(waiting, 1)["backordered"] == 1
    before = (stock(ordo, "MUG"), stock(ordo, "PEN"), ordo.order(o["id"], "beta"))
    ledger_before = db_rows(ordo, "SELECT COUNT(*) FROM stock_ledger")

    # Refusals, each changing nothing.
    cases = [
        ({"lines": [{"line": 9, "quantity": 1}]}, 422, "has no line 9"),
        ({"lines": [{"line": 1, "quantity": 4}]}, 422, "has 3 units not shipped or canceled"),
        ({"lines": [{"line": 1, "quantity": 0}]}, 422, "quantity must be"),
        ({"lines": [{"line": 1, "quantity": 1}, {"line": 1, "quantity": 1}]}, 422, "given twice"),
        ({"lines": [{"line": "1", "quantity": 1}]}, 400, "whole numbers"),
        ({"lines": []}, 400, "lines must be a list"),
        ({"lines": {"line": 1}}, 400, "lines must be a list"),
    ]
    for req, status, text in cases:
        r = ordo.api("POST", f"orders/{o['id']}/cancel", "beta", json=req)
        assert r.status_code == status and text in r.json()["error"]["message"], (req, r.text)
    r = ordo.api("POST", f"orders/{o['id']}/cancel", "acme",
                 json={"lines": [{"line": 1, "quantity": 1}]})
    assert r.status_code == 404
    assert (stock(ordo, "MUG"), stock(ordo, "PEN"), ordo.order(o["id"], "beta")) == before
    assert db_rows(ordo, "SELECT COUNT(*) FROM stock_ledger") == ledger_before

    # Two of the three mugs.
    r = ordo.api("POST", f"orders/{o['id']}/cancel", "beta",
                 json={"lines": [{"line": 1, "quantity": 2}], "reason": "customer asked"},
                 headers={"Idempotency-Key": "part-1"})
    assert r.status_code == 202, r.text
    again = ordo.api("POST", f"orders/{o['id']}/cancel", "beta",
                     json={"lines": [{"line": 1, "quantity": 2}], "reason": "customer asked"},
                     headers={"Idempotency-Key": "part-1"})
    assert again.status_code == 202 and again.json()["replayed"] is True
    assert again.json()["event_id"] == r.json()["event_id"]
    o = wait(ordo, body, lambda o: o["payment_status"] == "paid" and
             any(p["kind"] == "refund" and p["status"] == "succeeded" for p in o["payments"]))
    assert o["status"] == "placed"
    assert line(o, 1)["canceled_quantity"] == 2 and line(o, 1)["quantity"] == 3
    assert line(o, 1)["reserved"] == 1 and line(o, 1)["total"] == 1000
    assert line(o, 2)["canceled_quantity"] == 0 and line(o, 2)["reserved"] == 1
    assert o["total"] == 1500 and o["subtotal"] == 1500
    assert [(p["kind"], p["amount"]) for p in o["payments"] if p["kind"] == "refund"] == [("refund", 2000)]
    assert [rf.form.get("amount") for rf in for_order(gateway, o, "refund")] == ["2000"]
    assert any(h["kind"] == "edit" and "Canceled 2 x MUG (line 1)" in h["message"] and
               "customer asked" in h["message"] for h in o["history"]), o["history"]
    # The freed mugs: one to the order waiting for it, one back on the shelf.
    waiting = wait(ordo, waiting_body, lambda o: line(o, 1)["reserved"] == 1)
    assert stock(ordo, "MUG") == {"portland": (3, 2)}
    assert db_rows(ordo, "SELECT reserved_delta FROM stock_ledger WHERE order_id = ? AND"
                   " kind = 'release'", o["id"]) == [(-2,)]
    (n,) = notices(sink, "order_lines_canceled")
    assert n.json["body"] == "2 x MUG canceled (customer asked); 20.00 off, now 15.00.", n.json

    # Shipping the rest, then canceling a shipped line is refused.
    sid = ordo.api("POST", f"orders/{o['id']}/shipments", "beta",
                   json={"location": "portland"}).json()["shipment"]["id"]
    assert ordo.api("POST", f"shipments/{sid}/ship", "beta", json={}).status_code == 200
    r = ordo.api("POST", f"orders/{o['id']}/cancel", "beta", json={"lines": [{"line": 2, "quantity": 1}]})
    assert r.status_code == 409 and "has shipped" in r.json()["error"]["message"], r.text
    r = ordo.api("POST", f"orders/{o['id']}/cancel", "beta", json={"lines": [{"line": 1, "quantity": 2}]})
    assert r.status_code == 409 and "no unit left to cancel (1 shipped, 2 canceled)" in \
        r.json()["error"]["message"], r.text
    o = ordo.order(o["id"], "beta")
    assert o["fulfillment_status"] == "fulfilled" and o["status"] != "canceled"
    # A return may take back only what shipped: 1 mug, not 3.
    r = ordo.api("POST", f"orders/{o['id']}/returns", "beta",
                 json={"lines": [{"line": 1, "quantity": 2}], "reason": "unwanted"})
    assert r.status_code == 422, r.text
    assert ordo.dead_letters("beta") == []


def test_cancel_lines_of_a_waiting_line_and_every_line(gateway, sink, ordo_factory):
    ordo = start(ordo_factory, gateway, sink)
    put_stock(ordo, "MUG", portland=1)
    body, o = place(ordo, [("10.00", 3, "MUG", "Mug")])
    assert line(o, 1)["reserved"] == 1 and line(o, 1)["backordered"] == 2
    assert o["fulfillment_status"] == "backordered"
    # The units still waiting go first: the reserved one stays.
    assert ordo.api("POST", f"orders/{o['id']}/cancel", "beta",
                    json={"lines": [{"line": 1, "quantity": 2}]}).status_code == 202
    o = wait(ordo, body, lambda o: line(o, 1)["canceled_quantity"] == 2)
    assert line(o, 1)["reserved"] == 1 and line(o, 1)["backordered"] == 0
    assert o["fulfillment_status"] == "unfulfilled" and o["total"] == 1000
    assert stock(ordo, "MUG") == {"portland": (1, 1)}
    o = wait(ordo, body, lambda o: o["payment_status"] == "paid" and
             sum(p["amount"] for p in o["payments"] if p["kind"] == "refund") == 2000)
    # Canceling the last unit cancels the order as a whole.
    assert ordo.api("POST", f"orders/{o['id']}/cancel", "beta",
                    json={"lines": [{"line": 1, "quantity": 1}]}).status_code == 202
    o = wait(ordo, body, lambda o: o["status"] == "canceled" and o["payment_status"] == "refunded")
    assert stock(ordo, "MUG") == {"portland": (1, 0)}
    assert sorted(rf.form.get("amount") for rf in for_order(gateway, o, "refund")) == ["1000", "2000"]
    assert ordo.dead_letters("beta") == []


def test_edit_adds_and_changes_lines_reserving_and_charging(gateway, sink, ordo_factory):
    ordo = start(ordo_factory, gateway, sink)
    put_stock(ordo, "MUG", portland=2)
    put_stock(ordo, "PEN", portland=0)
    body, o = place(ordo, [("10.00", 1, "MUG", "Mug")])
    assert o["total"] == 1000 and gateway.charges_for(o["id"]) == [1000]
    before = (stock(ordo, "MUG"), stock(ordo, "PEN"), ordo.order(o["id"], "beta"))
    ops_before = len(gateway.ops())

    cases = [
        ({}, 400, "add"),
        ({"add": [], "change": []}, 400, "something"),
        ({"add": {"sku": "PEN"}}, 400, "give"),
        ({"add": [{"sku": "PEN", "quantity": 1}]}, 400, "unit_price"),
        ({"add": [{"sku": "PEN", "quantity": 0, "unit_price": 500}]}, 422, "quantity"),
        ({"add": [{"sku": "PEN", "quantity": 1, "unit_price": -1}]}, 422, "unit_price"),
        ({"add": [{"sku": "", "quantity": 1, "unit_price": 5}]}, 422, "sku"),
        ({"change": [{"line": 7, "quantity": 2}]}, 422, "has no line 7"),
        ({"change": [{"line": 1, "quantity": 0}]}, 422, "without any unit"),
        ({"change": [{"line": 1, "quantity": 2.5}]}, 400, "whole numbers"),
        ({"change": [{"line": 1, "quantity": 2}, {"line": 1, "quantity": 3}]}, 422, "twice"),
        # One bad entry refuses the whole edit.
        ({"add": [{"sku": "PEN", "quantity": 1, "unit_price": 500}],
          "change": [{"line": 3, "quantity": 1}]}, 422, "has no line 3"),
    ]
    for req, status, text in cases:
        r = ordo.api("POST", f"orders/{o['id']}/edits", "beta", json=req)
        assert r.status_code == status and text in r.json()["error"]["message"], (req, r.text)
    assert ordo.api("POST", f"orders/{o['id']}/edits", "beta", data=b"{nope").status_code == 400
    assert ordo.api("POST", "orders/999999/edits", "beta", json={"change": []}).status_code == 404
    assert ordo.api("POST", f"orders/{o['id']}/edits", "acme",
                    json={"change": [{"line": 1, "quantity": 2}]}).status_code == 404
    assert (stock(ordo, "MUG"), stock(ordo, "PEN"), ordo.order(o["id"], "beta")) == before
    assert len(gateway.ops()) == ops_before

    # One more mug (in stock) and a pen (none: backordered), once.
    edit = {"add": [{"sku": "PEN", "quantity": 1, "unit_price": 500, "title": "Pen"}],
            "change": [{"line": 1, "quantity": 2}]}
    r = ordo.api("POST", f"orders/{o['id']}/edits", "beta", json=edit,
                 headers={"Idempotency-Key": "edit-1"})
    assert r.status_code == 202, r.text
    again = ordo.api("POST", f"orders/{o['id']}/edits", "beta", json=edit,
                     headers={"Idempotency-Key": "edit-1"})
    assert again.json() == {"event_id": r.json()["event_id"], "replayed": True}
    o = wait(ordo, body, lambda o: o["total"] == 2500 and o["payment_status"] == "paid")
    assert [(l["line_no"], l["sku"], l["quantity"], l["total"]) for l in o["lines"]] == \
        [(1, "MUG", 2, 2000), (2, "PEN", 1, 500)]
    assert line(o, 1)["reserved"] == 2 and line(o, 2)["backordered"] == 1
    assert o["fulfillment_status"] == "backordered"   # the pen waits for stock
    assert stock(ordo, "MUG") == {"portland": (2, 2)}
    assert sorted(gateway.charges_for(o["id"])) == [1000, 1500]
    assert [p["amount"] for p in o["payments"] if p["kind"] == "authorization"] == [1000, 1500]
    assert any(h["kind"] == "edit" and "total 10.00 USD -> 25.00 USD" in h["message"]
               for h in o["history"]), o["history"]
    (n,) = notices(sink, "order_edited")
    assert n.json["body"] == "Was 10.00, now 25.00.", n.json

    # Fewer mugs: the stock goes back, the difference is refunded.
    r = ordo.api("POST", f"orders/{o['id']}/edits", "beta", json={"change": [{"line": 1, "quantity": 1}]})
    assert r.status_code == 202, r.text
    o = wait(ordo, body, lambda o: o["total"] == 1500 and any(
        p["kind"] == "refund" and p["status"] == "succeeded" for p in o["payments"]))
    assert line(o, 1)["canceled_quantity"] == 1 and line(o, 1)["reserved"] == 1
    assert stock(ordo, "MUG") == {"portland": (2, 1)}
    assert [rf.form.get("amount") for rf in for_order(gateway, o, "refund")] == ["1000"]
    o = wait(ordo, body, lambda o: o["payment_status"] == "paid")
    notices(sink, "order_edited", count=2)

    # Once a line shipped, no more edits; a canceled order neither.
    sid = ordo.api("POST", f"orders/{o['id']}/shipments", "beta",
                   json={"location": "portland"}).json()["shipment"]["id"]
    assert ordo.api("POST", f"shipments/{sid}/ship", "beta", json={}).status_code == 200
    r = ordo.api("POST", f"orders/{o['id']}/edits", "beta", json={"change": [{"line": 2, "quantity": 3}]})
    assert r.status_code == 409 and "has shipped" in r.json()["error"]["message"], r.text
    b2, o2 = place(ordo, [("10.00", 1, "MUG", "Mug")])
    assert ordo.api("POST", f"orders/{o2['id']}/cancel", "beta").status_code == 202
    wait(ordo, b2, lambda o: o["status"] == "canceled")
    r = ordo.api("POST", f"orders/{o2['id']}/edits", "beta", json={"change": [{"line": 1, "quantity": 2}]})
    assert r.status_code == 409 and "canceled" in r.json()["error"]["message"], r.text
    assert ordo.dead_letters("beta") == []


def test_edit_of_a_storefront_paid_order_is_tagged_for_the_storefront(gateway, sink, ordo_factory):
    ordo = start(ordo_factory, gateway, sink)
    put_stock(ordo, "MUG", portland=5)
    body = shopify_order(lines=[("10.00", 1, "MUG", "Mug")], shipping="0.00", financial_status="paid")
    ack(ordo.shopify(body, merchant="beta"))
    o = wait(ordo, body, lambda o: o["payment_status"] == "paid" and line(o, 1)["reserved"] == 1)
    assert ordo.api("POST", f"orders/{o['id']}/edits", "beta",
                    json={"change": [{"line": 1, "quantity": 3}]}).status_code == 202
    o = wait(ordo, body, lambda o: "balance-due" in o["tags"])
    assert o["total"] == 3000 and line(o, 1)["reserved"] == 3
    assert for_order(gateway, o, "authorize") == []
    assert any("20.00 USD more to collect" in (h["message"] or "") for h in o["history"])
    assert ordo.api("POST", f"orders/{o['id']}/edits", "beta",
                    json={"change": [{"line": 1, "quantity": 1}]}).status_code == 202
    o = wait(ordo, body, lambda o: o["total"] == 1000)
    assert "refund-on-storefront" not in o["tags"]        # paid 10.00, owes 10.00
    assert stock(ordo, "MUG") == {"portland": (5, 1)}
    assert ordo.dead_letters("beta") == []


def test_units_packed_into_an_open_shipment_are_not_canceled(gateway, sink, ordo_factory):
    ordo = start(ordo_factory, gateway, sink)
    put_stock(ordo, "MUG", portland=3)
    body, o = place(ordo, [("10.00", 3, "MUG", "Mug")])
    r = ordo.api("POST", f"orders/{o['id']}/shipments", "beta",
                 json={"location": "portland", "lines": [{"line": 1, "quantity": 2}]})
    assert r.status_code in (200, 201), r.text
    before = (stock(ordo, "MUG"), ordo.order(o["id"], "beta"))
    r = ordo.api("POST", f"orders/{o['id']}/cancel", "beta", json={"lines": [{"line": 1, "quantity": 2}]})
    assert r.status_code == 409 and "open shipment" in r.json()["error"]["message"], r.text
    r = ordo.api("POST", f"orders/{o['id']}/edits", "beta", json={"change": [{"line": 1, "quantity": 1}]})
    assert r.status_code == 409 and "open shipment" in r.json()["error"]["message"], r.text
    assert (stock(ordo, "MUG"), ordo.order(o["id"], "beta")) == before
    # The one unit not in the shipment can go.
    assert ordo.api("POST", f"orders/{o['id']}/cancel", "beta",
                    json={"lines": [{"line": 1, "quantity": 1}]}).status_code == 202
    o = wait(ordo, body, lambda o: line(o, 1)["canceled_quantity"] == 1)
    assert line(o, 1)["reserved"] == 2 and stock(ordo, "MUG") == {"portland": (3, 2)}
    assert ordo.dead_letters("beta") == []


def test_canceled_units_give_their_license_keys_back(sink, ordo_factory, tmp_path):
    from test_digital import api, buy, start as start_digital
    ordo = start_digital(ordo_factory, tmp_path, sink)
    assert api(ordo, "POST", "license-pools/APPKEY/keys",
               json={"keys": ["K-1", "K-2", "K-3"]}).status_code == 200
    o = buy(ordo, "APPKEY", n=2)
    keys = api(ordo, "GET", f"orders/{o['id']}/digital").json()["keys"]
    assert len(keys) == 2 and all(k["revoked_at"] is None for k in keys)
    assert api(ordo, "POST", f"orders/{o['id']}/cancel",
               json={"lines": [{"line": 1, "quantity": 1}]}).status_code == 202
    wait_until(lambda: sum(k["revoked_at"] is not None for k in
                           api(ordo, "GET", f"orders/{o['id']}/digital").json()["keys"]) == 1,
               what="one key revoked")
    o = ordo.order(o["id"], "beta")
    assert line(o, 1)["canceled_quantity"] == 1 and o["total"] == o["subtotal"] + o["shipping"] + o["tax"] - o["discount"]
    assert "refund-on-storefront" in o["tags"]             # paid on the storefront
    assert ordo.dead_letters("beta") == []
