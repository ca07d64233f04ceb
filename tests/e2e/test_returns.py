"""
Returns (RMA) against the real daemon: a return of shipped units is
requested, approved, received (restocked, feeding the backorder queue, or
written off as damaged) and refunded through the payments rules; the host
refuses more than was shipped and more than was captured, and bad input
changes nothing.
"""
import sqlite3

from conftest import shopify_order, wait_until
from test_inventory import LOCATIONS, check_invariants, put_stock

# Reserve (backorder what is short), take the money through the manual
# gateway, and refund what the API asks for. Approval stays a person's.
FLOW = """\
local routing = require "flows.routing"
local returns_flow = require "flows.returns"

local flow = {}

function flow.order_created(ev)
  local order, created = orders.create(ev.order)
  if not created then return end
  local result = inventory.reserve(order, routing.fewest_shipments(order))
  if #result.short > 0 then inventory.backorder(order, result.short) end
  payments.authorize(order)
end

function flow.payment_authorized(ev)
  payments.capture(ev.order)
end

function flow.backorder_allocated(ev)
  orders.tag(ev.order_id, "allocated")
end

flow.return_refund_requested = returns_flow.refund_requested

function flow.payment_refunded(ev)
  orders.tag(ev.order, "refunded")
end

return flow
"""

# The shipped policy: auto-approve within 30 days of delivery, refund on receipt.
AUTO_FLOW = FLOW.replace("flow.return_refund_requested = returns_flow.refund_requested", """\
flow.return_requested = returns_flow.auto_approve
flow.return_received = returns_flow.refund_on_receipt""")

CONFIG = LOCATIONS + "payments:\n  gateway: manual\n"


def start(ordo_factory, flow=FLOW):
    return ordo_factory(beta_workflow=flow, beta_extra=CONFIG)


def api(ordo, method, path, **kw):
    return ordo.api(method, path, "beta", **kw)


def stock(ordo, sku):
    return {s["location"]: (s["on_hand"], s["reserved"])
            for s in api(ordo, "GET", "inventory", params={"sku": sku}).json()["stock"]}


def db_rows(ordo, sql, *args):
    con = sqlite3.connect(f"file:{ordo.db}?mode=ro", uri=True, timeout=10)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def paid_order(ordo, lines):
    """An order placed, captured through the gateway; returns the order."""
    body = shopify_order(lines=[("10.00", n, sku, sku) for sku, n in lines])
    assert ordo.shopify(body, merchant="beta").status_code == 200
    o = ordo.wait_order("shopify", body["id"], merchant="beta")
    return wait_until(lambda: (lambda x: x if x["payment_status"] == "paid" else None)(
        api(ordo, "GET", f"orders/{o['id']}").json()), what="the order captured")


def ship(ordo, order_id, location, lines=None, deliver=False):
    body = {"location": location}
    if lines is not None:
        body["lines"] = lines
    r = api(ordo, "POST", f"orders/{order_id}/shipments", json=body)
    assert r.status_code == 201, r.text
    sid = r.json()["shipment"]["id"]
    assert api(ordo, "POST", f"shipments/{sid}/ship", json={}).status_code == 200
    if deliver:
        assert api(ordo, "POST", f"shipments/{sid}/deliver", json={}).status_code == 200
    return sid


def request_return(ordo, order_id, lines, reason="too small"):
    return api(ordo, "POST", f"orders/{order_id}/returns", json={"lines": lines, "reason": reason})


def test_return_restocks_and_feeds_the_backorder_queue_then_refunds(ordo_factory):
    ordo = start(ordo_factory)
    put_stock(ordo, "MUG", portland=2)
    o = paid_order(ordo, [("MUG", 2)])                      # total 25.00 (5.00 shipping)
    ship(ordo, o["id"], "portland")
    waiting = paid_order(ordo, [("MUG", 1)])                 # nothing left: backordered
    assert api(ordo, "GET", f"orders/{waiting['id']}").json()["lines"][0]["backordered"] == 1

    r = request_return(ordo, o["id"], [{"line": 1, "quantity": 1}])
    assert r.status_code == 201, r.text
    ret = r.json()["return"]
    assert ret["status"] == "requested" and ret["order_id"] == o["id"] and ret["reason"] == "too small"
    assert ret["lines"] == [{"line": 1, "sku": "MUG", "quantity": 1, "restocked": 0, "damaged": 0,
                             "location": None}]
    # Receiving before approval is the wrong state.
    assert api(ordo, "POST", f"returns/{ret['id']}/receive", json={}).status_code == 409
    r = api(ordo, "POST", f"returns/{ret['id']}/approve", json={})
    assert r.status_code == 200 and r.json()["return"]["status"] == "approved", r.text
    r = api(ordo, "POST", f"returns/{ret['id']}/receive",
            json={"lines": [{"line": 1, "quantity": 1, "location": "portland"}]})
    assert r.status_code == 200, r.text
    got = r.json()["return"]
    assert got["status"] == "received" and got["lines"][0]["restocked"] == 1
    assert got["lines"][0]["location"] == "portland"
    # The restocked unit went straight to the order waiting for it.
    wait_until(lambda: "allocated" in api(ordo, "GET", f"orders/{waiting['id']}").json()["tags"],
               what="the backordered order served by the return")
    line = api(ordo, "GET", f"orders/{waiting['id']}").json()["lines"][0]
    assert line["reserved"] == 1 and line["backordered"] == 0, line
    assert stock(ordo, "MUG") == {"portland": (1, 1)}
    (kind, delta), = db_rows(ordo, "SELECT kind, on_hand_delta FROM stock_ledger WHERE reason = ?",
                             f"return {ret['id']}")
    assert (kind, delta) == ("return", 1)

    # Refund: the default is the received units' price, sent through payments.
    r = api(ordo, "POST", f"returns/{ret['id']}/refund", json={})
    assert r.status_code == 200, r.text
    assert r.json()["return"]["status"] == "refund_requested" and r.json()["return"]["refund_amount"] == 1000

    def refunded():
        x = api(ordo, "GET", f"returns/{ret['id']}").json()
        return x if x["status"] == "refunded" else None
    x = wait_until(refunded, what="the return refunded")
    assert x["payment_id"] is not None and x["refund_amount"] == 1000
    wait_until(lambda: api(ordo, "GET", f"returns/{ret['id']}").json()["refund_status"] == "succeeded",
               what="the gateway's answer on the return")
    wait_until(lambda: "refunded" in api(ordo, "GET", f"orders/{o['id']}").json()["tags"],
               what="payment_refunded")
    order = api(ordo, "GET", f"orders/{o['id']}").json()
    assert order["payment_status"] == "partially_refunded", order["payment_status"]
    assert any(h["kind"] == "return" and h["to"] == "received" for h in order["history"])
    assert api(ordo, "POST", f"returns/{ret['id']}/close", json={}).status_code == 200
    listed = api(ordo, "GET", "returns", params={"status": "closed"}).json()["returns"]
    assert [r["id"] for r in listed] == [ret["id"]]
    assert api(ordo, "GET", "returns", params={"status": "requested"}).json()["returns"] == []
    check_invariants(ordo)


def test_more_than_shipped_is_refused(ordo_factory):
    ordo = start(ordo_factory)
    put_stock(ordo, "PEN", portland=5)
    o = paid_order(ordo, [("PEN", 3)])
    ship(ordo, o["id"], "portland", lines=[{"line": 1, "quantity": 2}])   # 2 of 3 shipped
    r = request_return(ordo, o["id"], [{"line": 1, "quantity": 3}])
    assert r.status_code == 422, r.text
    assert "2 shipped" in r.json()["error"]["message"]
    assert request_return(ordo, o["id"], [{"line": 1, "quantity": 2}]).status_code == 201
    # Those two are claimed now: nothing more of the line can come back.
    r = request_return(ordo, o["id"], [{"line": 1, "quantity": 1}])
    assert r.status_code == 422 and "2 already in other returns" in r.json()["error"]["message"], r.text
    unshipped = paid_order(ordo, [("PEN", 1)])
    assert request_return(ordo, unshipped["id"], [{"line": 1, "quantity": 1}]).status_code == 422
    assert len(api(ordo, "GET", "returns").json()["returns"]) == 1


def test_refund_over_captured_is_refused(ordo_factory):
    ordo = start(ordo_factory)
    put_stock(ordo, "CUP", portland=2)
    o = paid_order(ordo, [("CUP", 2)])                      # captured 25.00
    ship(ordo, o["id"], "portland")
    rid = request_return(ordo, o["id"], [{"line": 1, "quantity": 2}]).json()["return"]["id"]
    assert api(ordo, "POST", f"returns/{rid}/refund", json={}).status_code == 409, "not received yet"
    assert api(ordo, "POST", f"returns/{rid}/approve", json={}).status_code == 200
    assert api(ordo, "POST", f"returns/{rid}/receive", json={}).status_code == 200
    assert stock(ordo, "CUP") == {"portland": (2, 0)}, "both restocked at the first location"
    r = api(ordo, "POST", f"returns/{rid}/refund", json={"amount": 2501})
    assert r.status_code == 422, r.text
    assert "more than the 25.00 USD captured" in r.json()["error"]["message"]
    x = api(ordo, "GET", f"returns/{rid}").json()
    assert x["status"] == "received" and x["refund_amount"] == 0 and x["payment_id"] is None
    assert db_rows(ordo, "SELECT COUNT(*) FROM payments WHERE kind = 'refund'") == [(0,)]
    r = api(ordo, "POST", f"returns/{rid}/refund", json={"amount": 2500})    # shipping too: allowed
    assert r.status_code == 200, r.text
    wait_until(lambda: api(ordo, "GET", f"returns/{rid}").json()["status"] == "refunded",
               what="the full refund")
    wait_until(lambda: api(ordo, "GET", f"orders/{o['id']}").json()["payment_status"] == "refunded",
               what="the order refunded")


def test_damaged_units_are_written_off(ordo_factory):
    ordo = start(ordo_factory)
    put_stock(ordo, "VASE", portland=3)
    o = paid_order(ordo, [("VASE", 3)])
    ship(ordo, o["id"], "portland")
    rid = request_return(ordo, o["id"], [{"line": 1, "quantity": 3}], reason="damaged").json()["return"]["id"]
    assert api(ordo, "POST", f"returns/{rid}/approve", json={}).status_code == 200
    r = api(ordo, "POST", f"returns/{rid}/receive", json={"lines": [
        {"line": 1, "quantity": 1, "location": "reno"}, {"line": 1, "quantity": 2, "damaged": True}]})
    assert r.status_code == 200, r.text
    (line,) = r.json()["return"]["lines"]
    assert (line["restocked"], line["damaged"], line["location"]) == (1, 2, "reno")
    assert stock(ordo, "VASE") == {"portland": (0, 0), "reno": (1, 0)}
    # A return whose reason is "damaged", received without lines: all written off.
    put_stock(ordo, "VASE", portland=1, reno=1)
    o2 = paid_order(ordo, [("VASE", 1)])
    ship(ordo, o2["id"], "portland")
    rid = request_return(ordo, o2["id"], [{"line": 1, "quantity": 1}], reason="damaged").json()["return"]["id"]
    assert api(ordo, "POST", f"returns/{rid}/approve", json={}).status_code == 200
    (line,) = api(ordo, "POST", f"returns/{rid}/receive", json={}).json()["return"]["lines"]
    assert (line["restocked"], line["damaged"]) == (0, 1)
    assert stock(ordo, "VASE") == {"portland": (0, 0), "reno": (1, 0)}
    check_invariants(ordo)


def test_bad_input_changes_nothing(ordo_factory):
    ordo = start(ordo_factory)
    put_stock(ordo, "HAT", portland=2)
    o = paid_order(ordo, [("HAT", 2)])
    ship(ordo, o["id"], "portland")

    def counts():
        return (db_rows(ordo, "SELECT COUNT(*) FROM returns")[0][0],
                db_rows(ordo, "SELECT COUNT(*) FROM return_lines")[0][0],
                db_rows(ordo, "SELECT COUNT(*) FROM stock_ledger")[0][0],
                db_rows(ordo, "SELECT COUNT(*) FROM payments")[0][0],
                db_rows(ordo, "SELECT COUNT(*) FROM order_history")[0][0])
    before = counts()
    path = f"orders/{o['id']}/returns"
    cases = [
        ("POST", path, {"data": b"{not json"}, 400),
        ("POST", path, {"json": {"lines": "all"}}, 400),
        ("POST", path, {"json": {"lines": [{"line": 1, "quantity": 1}], "reason": 7}}, 400),
        ("POST", path, {"json": {"lines": []}}, 422),
        ("POST", path, {"json": {"lines": [{"line": 1, "quantity": 0}]}}, 422),
        ("POST", path, {"json": {"lines": [{"line": 1, "quantity": "1"}]}}, 422),
        ("POST", path, {"json": {"lines": [{"line": 9, "quantity": 1}]}}, 422),
        ("POST", path, {"json": {"lines": [{"line": 1, "quantity": 1}, {"line": 1, "quantity": 1}]}}, 422),
        ("POST", "orders/999999/returns", {"json": {"lines": [{"line": 1, "quantity": 1}]}}, 404),
        ("POST", "orders/abc/returns", {"json": {"lines": [{"line": 1, "quantity": 1}]}}, 404),
        ("GET", "returns/424242", {}, 404),
        ("POST", "returns/424242/approve", {"json": {}}, 404),
        ("POST", "returns/1/explode", {"json": {}}, 404),
        ("GET", "returns", {"params": {"status": "lost"}}, 400),
        ("DELETE", "returns", {}, 405),
    ]
    for method, p, kw, want in cases:
        r = api(ordo, method, p, **kw)
        assert r.status_code == want, (method, p, kw, r.status_code, r.text)
        assert "error" in r.json() and r.json()["error"]["message"], r.text
    assert counts() == before

    rid = request_return(ordo, o["id"], [{"line": 1, "quantity": 2}]).json()["return"]["id"]
    before = counts()
    assert api(ordo, "POST", f"returns/{rid}/receive", json={}).status_code == 409
    assert api(ordo, "POST", f"returns/{rid}/refund", json={"amount": -5}).status_code == 400
    assert api(ordo, "POST", f"returns/{rid}/close", json={}).status_code == 409
    assert api(ordo, "POST", f"returns/{rid}/approve", json={}).status_code == 200
    assert api(ordo, "POST", f"returns/{rid}/approve", json={}).status_code == 409
    before = counts()
    bad_receives = [
        ({"lines": {"line": 1}}, 400),
        ({"location": 5}, 400),
        ({"lines": [{"line": 1, "quantity": 3, "location": "portland"}]}, 422),
        ({"lines": [{"line": 2, "quantity": 1, "location": "portland"}]}, 422),
        ({"lines": [{"line": 1, "quantity": 1, "location": "mars"}]}, 422),
        # The first unit would restock, the second is refused: neither happens.
        ({"lines": [{"line": 1, "quantity": 1, "location": "portland"},
                    {"line": 1, "quantity": 1, "location": "reno"}]}, 422),
    ]
    for body, want in bad_receives:
        r = api(ordo, "POST", f"returns/{rid}/receive", json=body)
        assert r.status_code == want, (body, r.status_code, r.text)
    assert counts() == before
    assert api(ordo, "GET", f"returns/{rid}").json()["status"] == "approved"
    assert stock(ordo, "HAT") == {"portland": (0, 0)}
    # Another merchant's key sees nothing.
    assert ordo.api("GET", f"returns/{rid}", "acme").status_code == 404
    r = api(ordo, "POST", f"returns/{rid}/reject", json={"note": "late"})
    assert r.status_code == 409, "approved returns are received, not rejected"


def test_reject_and_the_shipped_policy(ordo_factory):
    ordo = start(ordo_factory, AUTO_FLOW)
    put_stock(ordo, "SOCK", portland=4)
    o = paid_order(ordo, [("SOCK", 4)])
    ship(ordo, o["id"], "portland", lines=[{"line": 1, "quantity": 2}])     # shipped, not delivered
    ship(ordo, o["id"], "portland", lines=[{"line": 1, "quantity": 2}], deliver=False)
    rid = request_return(ordo, o["id"], [{"line": 1, "quantity": 1}]).json()["return"]["id"]
    wait_until(lambda: any("waits for review: not delivered" in (h["message"] or "")
                           for h in api(ordo, "GET", f"orders/{o['id']}").json()["history"]),
               what="the not-delivered return left for review")
    r = api(ordo, "POST", f"returns/{rid}/reject", json={"note": "not delivered yet"})
    assert r.status_code == 200 and r.json()["return"]["note"] == "not delivered yet", r.text
    # Rejected units are free to be returned again.
    for s in api(ordo, "GET", f"orders/{o['id']}").json()["shipments"]:
        assert api(ordo, "POST", f"shipments/{s['id']}/deliver", json={}).status_code == 200
    rid = request_return(ordo, o["id"], [{"line": 1, "quantity": 4}]).json()["return"]["id"]
    wait_until(lambda: api(ordo, "GET", f"returns/{rid}").json()["status"] == "approved",
               what="auto-approved within 30 days of delivery")
    assert api(ordo, "POST", f"returns/{rid}/receive", json={}).status_code == 200
    x = wait_until(lambda: (lambda r: r if r["status"] == "refunded" else None)(
        api(ordo, "GET", f"returns/{rid}").json()), what="refunded on receipt")
    assert x["refund_amount"] == 4000
    assert stock(ordo, "SOCK") == {"portland": (4, 0)}


def test_outside_the_window_waits_for_review(ordo_factory):
    ordo = start(ordo_factory, AUTO_FLOW.replace('local flow = {}', 'local flow = {}\nreturns_flow.WINDOW_DAYS = 0'))
    put_stock(ordo, "CAP", portland=1)
    o = paid_order(ordo, [("CAP", 1)])
    ship(ordo, o["id"], "portland", deliver=True)
    rid = request_return(ordo, o["id"], [{"line": 1, "quantity": 1}]).json()["return"]["id"]
    wait_until(lambda: any("delivered more than 0 days ago" in (h["message"] or "")
                           for h in api(ordo, "GET", f"orders/{o['id']}").json()["history"]),
               what="a late return left for review")
    assert api(ordo, "GET", f"returns/{rid}").json()["status"] == "requested"


def test_shipped_backorder_workflow_runs_the_returns_flow(ordo_factory):
    from test_inventory import BACKORDER_FLOW
    ordo = start(ordo_factory, BACKORDER_FLOW)
    put_stock(ordo, "MUG", portland=2)
    o = paid_order(ordo, [("MUG", 2)])           # authorized and captured through the gateway
    ship(ordo, o["id"], "portland", deliver=True)
    rid = request_return(ordo, o["id"], [{"line": 1, "quantity": 1}]).json()["return"]["id"]
    wait_until(lambda: api(ordo, "GET", f"returns/{rid}").json()["status"] == "approved",
               what="auto-approved by workflows/backorder.lua")
    assert api(ordo, "POST", f"returns/{rid}/receive", json={}).status_code == 200
    x = wait_until(lambda: (lambda r: r if r["status"] == "refunded" else None)(
        api(ordo, "GET", f"returns/{rid}").json()), what="refunded on receipt")
    assert x["refund_amount"] == 1000
    assert stock(ordo, "MUG") == {"portland": (1, 0)}
    o = api(ordo, "GET", f"orders/{o['id']}").json()
    assert o["payment_status"] == "partially_refunded", o["payment_status"]


def test_exchange_charges_the_difference_and_the_return_closes_on_receipt(ordo_factory):
    from test_inventory import BACKORDER_FLOW
    ordo = start(ordo_factory, BACKORDER_FLOW)
    put_stock(ordo, "MUG", portland=2)
    put_stock(ordo, "HAT", portland=3)
    o = paid_order(ordo, [("MUG", 2)])                       # 10.00 each
    ship(ordo, o["id"], "portland", deliver=True)

    # Refusals create nothing.
    for bad, msg in [({"lines": [{"line": 1, "quantity": 1}]}, "replacement"),
                     ({"lines": [{"line": 1, "quantity": 1}],
                       "replacement": [{"sku": "HAT", "quantity": 1, "unit_price": -5}]}, "unit_price"),
                     ({"lines": [{"line": 1, "quantity": 3}],
                       "replacement": [{"sku": "HAT", "quantity": 1, "unit_price": 1500}]}, "")]:
        r = api(ordo, "POST", f"orders/{o['id']}/exchanges", json=bad)
        assert r.status_code == 422 and msg in r.json()["error"]["message"], r.text
    assert api(ordo, "GET", "returns").json()["returns"] == []

    r = api(ordo, "POST", f"orders/{o['id']}/exchanges", json={
        "lines": [{"line": 1, "quantity": 1}], "reason": "wrong size",
        "replacement": [{"sku": "HAT", "quantity": 1, "unit_price": 1500}]})
    assert r.status_code == 201, r.text
    rid = r.json()["return"]["id"]
    rep = ordo.wait_order("exchange", f"return-{rid}", merchant="beta",
                          pred=lambda x: x["payment_status"] == "paid")
    assert rep["total"] == 500 and rep["discount"] == 1000, rep      # only the difference
    assert [(p["kind"], p["amount"]) for p in rep["payments"]] == [("authorization", 500), ("capture", 500)]
    assert rep["lines"][0]["sku"] == "HAT" and rep["lines"][0]["reserved"] == 1
    assert stock(ordo, "HAT") == {"portland": (3, 1)}

    wait_until(lambda: api(ordo, "GET", f"returns/{rid}").json()["status"] == "approved",
               what="the exchange's return approved")
    assert api(ordo, "POST", f"returns/{rid}/receive", json={}).status_code == 200
    x = wait_until(lambda: (lambda r: r if r["status"] == "closed" else None)(
        api(ordo, "GET", f"returns/{rid}").json()), what="closed without a refund")
    assert x["refund_amount"] in (None, 0), x
    assert stock(ordo, "MUG") == {"portland": (1, 0)}
    orig = api(ordo, "GET", f"orders/{o['id']}").json()
    assert orig["payment_status"] == "paid", orig["payment_status"]   # nothing refunded


def test_cheaper_exchange_refunds_the_difference_on_receipt(ordo_factory):
    from test_inventory import BACKORDER_FLOW
    ordo = start(ordo_factory, BACKORDER_FLOW)
    put_stock(ordo, "MUG", portland=1)
    put_stock(ordo, "PIN", portland=1)
    o = paid_order(ordo, [("MUG", 1)])
    ship(ordo, o["id"], "portland", deliver=True)
    rid = api(ordo, "POST", f"orders/{o['id']}/exchanges", json={
        "lines": [{"line": 1, "quantity": 1}],
        "replacement": [{"sku": "PIN", "quantity": 1, "unit_price": 300}]}).json()["return"]["id"]
    rep = ordo.wait_order("exchange", f"return-{rid}", merchant="beta")
    assert rep["total"] == 0 and rep["payment_status"] == "paid", rep
    wait_until(lambda: api(ordo, "GET", f"returns/{rid}").json()["status"] == "approved",
               what="approved")
    assert api(ordo, "POST", f"returns/{rid}/receive", json={}).status_code == 200
    x = wait_until(lambda: (lambda r: r if r["status"] == "refunded" else None)(
        api(ordo, "GET", f"returns/{rid}").json()), what="the difference refunded")
    assert x["refund_amount"] == 700


def test_customer_is_told_when_the_return_is_approved_and_refunded(sink, ordo_factory):
    from conftest import q
    from test_inventory import BACKORDER_FLOW
    notify = f"""\
notifications:
  url: {q(sink.url + "/notify")}
  secret: "n-secret"
  templates:
    return_approved:
      subject: "Return {{{{data.return_id}}}} approved"
      body: "Send the units back."
    refund_issued:
      subject: "Refund for return {{{{data.return_id}}}}"
      body: "{{{{data.amount}}}} is on its way back to you."
"""
    ordo = ordo_factory(beta_workflow=BACKORDER_FLOW, beta_extra=CONFIG + notify)
    put_stock(ordo, "MUG", portland=1)
    o = paid_order(ordo, [("MUG", 1)])
    ship(ordo, o["id"], "portland", deliver=True)
    rid = request_return(ordo, o["id"], [{"line": 1, "quantity": 1}]).json()["return"]["id"]
    (a,) = sink.wait_for(lambda r: r.path == "/notify" and r.json["template"] == "return_approved")
    assert a.verify("n-secret") and a.json["subject"] == f"Return {rid} approved", a.json
    assert api(ordo, "POST", f"returns/{rid}/receive", json={}).status_code == 200
    (b,) = sink.wait_for(lambda r: r.path == "/notify" and r.json["template"] == "refund_issued")
    assert b.json["body"] == "10.00 USD is on its way back to you.", b.json
    assert b.json["order_id"] == o["id"]
