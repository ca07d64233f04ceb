"""
Inventory against the real daemon: 64 concurrent deliveries for the last 10
units (exactly 10 reserved, the rest backordered, ledger equal to counts),
the same with cancellations interleaved, and the inventory API's bad input.
"""
import random
import sqlite3
import threading

import requests
from pathlib import Path

from conftest import ROOT, shopify_order, wait_until

LOCATIONS = """\
locations:
  - { id: portland, region: US-OR, priority: 1 }
  - { id: reno, region: US-NV, priority: 2 }
"""
BACKORDER_FLOW = (ROOT / "workflows" / "backorder.lua").read_text()


def start(ordo_factory):
    return ordo_factory(beta_workflow=BACKORDER_FLOW, beta_extra=LOCATIONS)


def db_rows(ordo, sql, *args):
    con = sqlite3.connect(f"file:{ordo.db}?mode=ro", uri=True, timeout=10)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def check_invariants(ordo):
    """Ledger sums equal counts; never more reserved than on hand; reserved
    equals the live reservations; a SKU with stock available has nobody
    waiting for it."""
    stock = db_rows(ordo, "SELECT sku, location, on_hand, reserved FROM stock")
    for sku, loc, on_hand, reserved in stock:
        assert 0 <= reserved <= on_hand, (sku, loc, on_hand, reserved)
        (dh, dr), = db_rows(ordo, "SELECT COALESCE(SUM(on_hand_delta), 0), COALESCE(SUM(reserved_delta), 0)"
                            " FROM stock_ledger WHERE sku = ? AND location = ?", sku, loc)
        assert (dh, dr) == (on_hand, reserved), ("ledger", sku, loc, dh, dr, on_hand, reserved)
        (live,), = db_rows(ordo, "SELECT COALESCE(SUM(quantity), 0) FROM reservations WHERE sku = ?"
                           " AND location = ? AND status = 'reserved'", sku, loc)
        assert live == reserved, ("reservations", sku, loc, live, reserved)
    for sku, available, waiting in db_rows(
            ordo, "SELECT s.sku, SUM(s.on_hand - s.reserved), (SELECT COALESCE(SUM(quantity), 0)"
            " FROM backorders b WHERE b.sku = s.sku AND b.status = 'waiting') FROM stock s GROUP BY s.sku"):
        assert available == 0 or waiting == 0, (sku, available, waiting)


def put_stock(ordo, sku, **locs):
    r = ordo.api("PUT", f"inventory/{sku}", "beta", json={"locations": locs, "reason": "count"})
    assert r.status_code == 200, r.text
    return r.json()["stock"]


def deliver_all(ordo, bodies, topic="orders/create", threads=16):
    """Deliver concurrently; `bodies` may hold (body, topic) pairs. Each
    thread has its own HTTP session (requests' sessions are not shared
    across threads)."""
    errors = []
    work = [b if isinstance(b, tuple) else (b, topic) for b in bodies]
    lock = threading.Lock()

    def run():
        session = requests.Session()
        while True:
            with lock:
                if not work:
                    return
                b, t = work.pop()
            r = ordo.shopify(b, merchant="beta", topic=t, session=session)
            if r.status_code != 200:
                with lock:
                    errors.append(f"{r.status_code} {r.text}")

    ts = [threading.Thread(target=run) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=60)
    assert not errors, errors[:3]


def one_line(sku, qty=1, **kw):
    return shopify_order(lines=[("10.00", qty, sku, sku)], financial_status="paid", **kw)


def settled(ordo, n):
    def done():
        (pending,), = db_rows(ordo, "SELECT count(*) FROM inbox WHERE status = 'pending'")
        (orders,), = db_rows(ordo, "SELECT count(*) FROM orders WHERE merchant = 'beta'")
        return pending == 0 and orders >= n
    wait_until(done, timeout=30, what="every delivery processed")


def test_64_concurrent_orders_for_the_last_10_units(ordo_factory):
    ordo = start(ordo_factory)
    put_stock(ordo, "LAST", portland=6, reno=4)
    deliver_all(ordo, [one_line("LAST") for _ in range(64)])
    settled(ordo, 64)
    (reserved,), = db_rows(ordo, "SELECT SUM(reserved) FROM stock WHERE sku = 'LAST'")
    (waiting,), = db_rows(ordo, "SELECT SUM(quantity) FROM backorders WHERE status = 'waiting'")
    assert reserved == 10 and waiting == 54
    (back,), = db_rows(ordo, "SELECT count(*) FROM orders WHERE fulfillment_status = 'backordered'")
    assert back == 54
    check_invariants(ordo)
    assert ordo.dead_letters("beta") == []


def test_concurrent_orders_and_cancellations(ordo_factory):
    ordo = start(ordo_factory)
    put_stock(ordo, "LAST", portland=10)
    bodies = [one_line("LAST") for _ in range(64)]
    deliver_all(ordo, bodies[:32])
    rnd = random.Random(7)
    cancels = [dict(b, cancel_reason="customer") for b in rnd.sample(bodies[:32], 12)]
    mixed = [(b, "orders/create") for b in bodies[32:]] + [(b, "orders/cancelled") for b in cancels]
    rnd.shuffle(mixed)
    deliver_all(ordo, mixed)
    settled(ordo, 64)
    check_invariants(ordo)
    canceled = db_rows(ordo, "SELECT id FROM orders WHERE status = 'canceled'")
    assert len(canceled) == 12
    for (oid,) in canceled:
        assert db_rows(ordo, "SELECT count(*) FROM reservations WHERE order_id = ? AND"
                       " status = 'reserved'", oid) == [(0,)], oid
    (reserved,), = db_rows(ordo, "SELECT SUM(reserved) FROM stock WHERE sku = 'LAST'")
    assert reserved == 10, "every unit a cancellation freed went to the queue"
    assert ordo.dead_letters("beta") == []


def test_receiving_stock_serves_the_queue_first_come(ordo_factory):
    ordo = start(ordo_factory)
    put_stock(ordo, "MUG", portland=0)
    a, b, c = one_line("MUG", 2), one_line("MUG", 2), one_line("MUG", 1)
    for body in (a, b, c):
        assert ordo.shopify(body, merchant="beta").status_code == 200
        ordo.wait_order("shopify", body["id"], merchant="beta")
    r = ordo.api("POST", "inventory/adjustments", "beta", headers={"Idempotency-Key": "po-1"},
                 json={"adjustments": [{"sku": "MUG", "location": "reno", "delta": 3, "reason": "PO 1"}]})
    assert r.status_code == 200 and r.json()["applied"] == 1, r.text
    again = ordo.api("POST", "inventory/adjustments", "beta", headers={"Idempotency-Key": "po-1"},
                     json={"adjustments": [{"sku": "MUG", "location": "reno", "delta": 3}]})
    assert again.status_code == 200 and again.json().get("replayed") is True, "applied once"

    def lines():
        got = [ordo.find("shopify", x["id"], merchant="beta")[0]["id"] for x in (a, b, c)]
        ls = [ordo.order(i, merchant="beta")["lines"][0] for i in got]
        return ls if ls[1]["reserved"] == 1 else None
    la, lb, lc = wait_until(lines, what="allocation")
    assert (la["reserved"], lb["reserved"], lc["reserved"]) == (2, 1, 0), "A, then B partly, C waits"
    stock = ordo.api("GET", "inventory", "beta", params={"sku": "MUG"}).json()["stock"]
    assert {s["location"]: s["on_hand"] for s in stock} == {"portland": 0, "reno": 3}
    check_invariants(ordo)


def test_inventory_api_bad_input_changes_nothing(ordo_factory):
    ordo = start(ordo_factory)
    put_stock(ordo, "CUP", portland=5)
    cases = [
        ({"locations": {"portland": -1}}, 422, "on hand must be 0 to"),
        ({"locations": {"mars": 3}}, 422, 'unknown location "mars"'),
        ({"locations": {"portland": "many"}}, 422, "must be a whole number"),
        ({"locations": {}}, 400, "give"),
    ]
    for body, status, msg in cases:
        r = ordo.api("PUT", "inventory/CUP", "beta", json=body)
        assert r.status_code == status and msg in r.json()["error"]["message"], (body, r.text)
    # Two rows, the second bad: the first is not applied either.
    r = ordo.api("POST", "inventory/adjustments", "beta", headers={"Idempotency-Key": "k2"},
                 json={"adjustments": [{"sku": "CUP", "location": "portland", "delta": 2},
                                       {"sku": "CUP", "location": "portland", "delta": -50}]})
    assert r.status_code == 422 and r.json()["error"]["message"].startswith("adjustments[1]:"), r.text
    r = ordo.api("POST", "inventory/adjustments", "beta",
                 json={"adjustments": [{"sku": "CUP", "location": "portland", "delta": 1}]})
    assert r.status_code == 400 and r.json()["error"]["code"] == "missing_header"
    stock = ordo.api("GET", "inventory", "beta", params={"sku": "CUP"}).json()["stock"]
    assert [(s["location"], s["on_hand"]) for s in stock] == [("portland", 5)]
    low = ordo.api("GET", "inventory", "beta", params={"low": "10"}).json()["stock"]
    assert [s["sku"] for s in low] == ["CUP"]
    assert ordo.api("GET", "inventory", "acme").json()["stock"] == [], "another merchant sees none"
    check_invariants(ordo)


def test_skus_with_spaces_and_slashes_are_addressable(ordo_factory):
    """A SKU is any text: in a path it is percent-encoded, one segment
    even when it holds a '/'; a malformed escape or an encoded control
    byte is a 400 that changes nothing."""
    from urllib.parse import quote
    ordo = start(ordo_factory)
    for sku in ("MUG 12oz", "TEE/L/BLUE", "CAFÉ-100%"):
        stock = put_stock(ordo, quote(sku, safe=""), portland=4)
        assert [(s["sku"], s["on_hand"]) for s in stock] == [(sku, 4)], stock
        got = ordo.api("GET", "inventory", "beta", params={"sku": sku}).json()["stock"]
        assert [(s["sku"], s["location"], s["on_hand"]) for s in got] == [(sku, "portland", 4)]
    import http.client
    import json as jsonlib
    from conftest import API_KEYS
    for bad in ("MUG%2", "MUG%zz12", "MUG%00", "MUG%0A"):
        # http.client sends the path as given (requests would re-quote it).
        c = http.client.HTTPConnection("127.0.0.1", ordo.port, timeout=10)
        c.request("PUT", f"/api/v1/inventory/{bad}", body=jsonlib.dumps({"locations": {"portland": 9}}),
                  headers={"Authorization": f"Bearer {API_KEYS['beta']}", "Content-Type": "application/json"})
        r = c.getresponse()
        body = jsonlib.loads(r.read())
        c.close()
        assert r.status == 400 and body["error"]["code"] == "invalid_path", (bad, body)
    skus = {s["sku"] for s in ordo.api("GET", "inventory", "beta").json()["stock"]}
    assert skus == {"MUG 12oz", "TEE/L/BLUE", "CAFÉ-100%"}
    check_invariants(ordo)


# A workflow that forgets to release a cancelled order's stock and queue.
FORGETFUL_FLOW = """
local routing = require "flows.routing"
return {
  order_created = function(ev)
    local order, created = orders.create(ev.order)
    if not created then return end
    local r = inventory.reserve(order, routing.fewest_shipments(order))
    if #r.short > 0 then inventory.backorder(order, r.short) end
  end,
  order_cancelled = function(ev)
    orders.set_status(orders.get(ev.order), "canceled", "cancelled on the storefront")
  end,
}
"""


def test_a_canceled_order_is_never_served_from_the_queue(ordo_factory):
    ordo = ordo_factory(beta_workflow=FORGETFUL_FLOW, beta_extra=LOCATIONS)
    put_stock(ordo, "MUG", portland=0)
    a, b = one_line("MUG", 2), one_line("MUG", 1)
    for body in (a, b):
        assert ordo.shopify(body, merchant="beta").status_code == 200
        ordo.wait_order("shopify", body["id"], merchant="beta")
    assert ordo.shopify(a, merchant="beta", topic="orders/cancelled").status_code == 200
    ordo.wait_order("shopify", a["id"], merchant="beta", pred=lambda o: o["status"] == "canceled")
    r = ordo.api("POST", "inventory/adjustments", "beta", headers={"Idempotency-Key": "rcv"},
                 json={"adjustments": [{"sku": "MUG", "location": "portland", "delta": 2}]})
    assert r.status_code == 200, r.text
    ob = wait_until(lambda: (lambda o: o if o["lines"][0]["reserved"] == 1 else None)(
        ordo.order(ordo.find("shopify", b["id"], merchant="beta")[0]["id"], merchant="beta")),
        what="B served")
    oa = ordo.order(ordo.find("shopify", a["id"], merchant="beta")[0]["id"], merchant="beta")
    assert oa["lines"][0]["reserved"] == 0 and ob["lines"][0]["reserved"] == 1
    (status,), = db_rows(ordo, "SELECT status FROM backorders WHERE order_id = ?", oa["id"])
    assert status == "canceled"
    stock = ordo.api("GET", "inventory", "beta", params={"sku": "MUG"}).json()["stock"]
    assert [(s["location"], s["available"]) for s in stock if s["location"] == "portland"] == [("portland", 1)]
    check_invariants(ordo)
