"""
The REST API: keys, tenant isolation, listing and paging, and the standard
workflow's handling of an order's later events (paid, cancelled, refunded).
"""
import pytest

from conftest import ACME_KEY, BETA_KEY, shopify_order, shopify_refund, unique_id, woo_order


def ack(r):
    assert r.status_code == 200, f"{r.status_code} {r.text}"
    assert r.json()["ok"] is True
    return r.json()["id"]


def unauthorized(r):
    assert r.status_code == 401, f"{r.status_code} {r.text}"
    assert r.json()["error"]["code"] == "unauthorized", r.text


def test_wrong_or_missing_api_key_is_401(ordo):
    ack(ordo.shopify(shopify_order()))
    for key in ["", "wrong-key-0123456789abcdef", ACME_KEY[:-1], ACME_KEY + "x",
                ACME_KEY.upper()]:
        unauthorized(ordo.api("GET", "orders", key=key))
        unauthorized(ordo.api("GET", "orders/1", key=key))
        unauthorized(ordo.api("GET", "dead-letters", key=key))
        unauthorized(ordo.api("POST", "dead-letters/1/retry", key=key))
    # Not a Bearer token.
    r = ordo.request("GET", "/api/v1/orders", headers={"Authorization": f"Basic {ACME_KEY}"})
    unauthorized(r)
    r = ordo.request("GET", "/api/v1/orders", headers={"Authorization": "Bearer"})
    unauthorized(r)


def test_another_merchants_order_is_404(ordo):
    body = shopify_order()
    ack(ordo.shopify(body))
    o = ordo.wait_order("shopify", body["id"])
    r = ordo.api("GET", f"orders/{o['id']}", merchant="beta")
    assert r.status_code == 404, r.text
    assert r.json()["error"]["code"] == "not_found"
    # Nor does it show in beta's list, with or without filters.
    assert ordo.orders("beta")["orders"] == []
    assert ordo.find("shopify", body["id"], merchant="beta") == []
    # A missing id looks exactly like another merchant's.
    r2 = ordo.api("GET", "orders/999999999", merchant="beta")
    assert r2.status_code == 404
    assert r2.json()["error"]["code"] == "not_found"
    for bad in ["abc", "0", "-1", "99999999999999999999999"]:
        r = ordo.api("GET", f"orders/{bad}")
        assert r.status_code in (400, 404), (bad, r.status_code, r.text)


def test_order_list_filters_and_cursor_pagination(ordo):
    shop = [shopify_order(unique_id(), number=1100 + i) for i in range(7)]
    woo = [woo_order(unique_id()) for _ in range(2)]
    for b in shop:
        ack(ordo.shopify(b))
    for b in woo:
        ack(ordo.woo(b))
    for b in shop:
        ordo.wait_order("shopify", b["id"])
    for b in woo:
        ordo.wait_order("woocommerce", b["id"])
    # Cancel one so the status filter has something to tell apart.
    ack(ordo.shopify(dict(shop[2], cancelled_at="2024-05-01T12:00:00-04:00",
                          cancel_reason="customer"), topic="orders/cancelled"))
    ordo.wait_order("shopify", shop[2]["id"], pred=lambda o: o["status"] == "canceled")

    everything = ordo.orders(limit=200)
    assert len(everything["orders"]) == 9
    assert everything["next_cursor"] is None
    ids = [o["id"] for o in everything["orders"]]
    assert ids == sorted(ids, reverse=True), "newest first"

    assert {o["external_id"] for o in ordo.orders(channel="woocommerce")["orders"]} == \
        {str(b["id"]) for b in woo}
    assert len(ordo.orders(channel="shopify")["orders"]) == 7
    one = ordo.orders(external_id=str(shop[4]["id"]))["orders"]
    assert [o["external_id"] for o in one] == [str(shop[4]["id"])]
    canceled = ordo.orders(status="canceled")["orders"]
    assert [o["external_id"] for o in canceled] == [str(shop[2]["id"])]
    assert len(ordo.orders(status="placed")["orders"]) == 8
    assert ordo.orders(channel="shopify", status="canceled")["orders"] == canceled
    assert ordo.orders(channel="generic")["orders"] == []

    # Walk pages of 2: every order exactly once, in the same order.
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = ordo.orders(**params)
        assert len(page["orders"]) <= 2
        seen += [o["id"] for o in page["orders"]]
        cursor = page["next_cursor"]
        pages += 1
        assert pages <= 10, "pagination does not end"
        if cursor is None:
            break
        assert isinstance(cursor, str) and cursor
    assert seen == ids
    # Filters and pages combine.
    page = ordo.orders(channel="shopify", limit=5)
    assert len(page["orders"]) == 5 and page["next_cursor"]
    rest = ordo.orders(channel="shopify", limit=5, cursor=page["next_cursor"])
    assert len(rest["orders"]) == 2 and rest["next_cursor"] is None

    for bad in [{"limit": "0"}, {"limit": "abc"}, {"limit": "100000"}, {"cursor": "xyz"}]:
        r = ordo.api("GET", "orders", params=bad)
        assert r.status_code == 400, (bad, r.status_code, r.text)
        assert r.json()["error"]["code"]


def test_paid_cancelled_and_refund_events(ordo):
    body = shopify_order(lines=[("40.00", 1, "SKU-1", "Lamp")], shipping="10.00")
    created = ack(ordo.shopify(body))
    paid = ack(ordo.shopify(dict(body, financial_status="paid"), topic="orders/paid"))
    o = ordo.wait_order("shopify", body["id"], pred=lambda o: o["payment_status"] == "paid")
    assert o["total"] == 5000
    assert any(h["event_id"] == paid for h in o["history"]), o["history"]
    assert o["payments"], "a paid order has a payment record"

    refund = ack(ordo.shopify(shopify_refund(body["id"], amount="5.00"), topic="refunds/create"))
    o = ordo.wait_order("shopify", body["id"],
                        pred=lambda o: any(h["event_id"] == refund for h in o["history"]))
    assert any(h["kind"] == "note" and h["event_id"] == refund for h in o["history"]), o["history"]

    cancel = ack(ordo.shopify(dict(body, cancelled_at="2024-05-03T10:00:00-04:00",
                                   cancel_reason="customer"), topic="orders/cancelled"))
    o = ordo.wait_order("shopify", body["id"], pred=lambda o: o["status"] == "canceled")
    status = [h for h in o["history"] if h["kind"] == "status"]
    assert status and status[-1]["from"] == "placed" and status[-1]["to"] == "canceled"
    assert status[-1]["event_id"] == cancel
    assert [h["event_id"] for h in o["history"] if h["kind"] == "created"] == [created]
    assert o["updated_at"] >= o["created_at"]


def test_events_of_one_order_sent_back_to_back_apply_in_order(ordo):
    # create, paid and cancelled arrive together; the order ends paid and
    # canceled, never "no such order" dead letters.
    body = shopify_order()
    ack(ordo.shopify(body))
    ack(ordo.shopify(dict(body, financial_status="paid"), topic="orders/paid"))
    ack(ordo.shopify(dict(body, cancelled_at="2024-05-03T10:00:00-04:00"), topic="orders/cancelled"))
    ordo.wait_order("shopify", body["id"],
                    pred=lambda o: o["status"] == "canceled" and o["payment_status"] == "paid")
    assert ordo.dead_letters() == []


@pytest.mark.parametrize("path", ["orders/1/lines", "nothing", "orders/1/2/3"])
def test_unknown_api_routes_are_404(ordo, path):
    r = ordo.api("GET", path)
    assert r.status_code == 404, r.text
    assert r.json()["error"]["code"] == "no_route"


def test_every_answer_says_nosniff(ordo):
    """JSON answers, errors, the download pages and the dashboard all tell
    the browser not to guess a type."""
    for method, path in (("GET", "/healthz"), ("GET", "/api/v1/orders"), ("GET", "/api/v1/nope"),
                         ("GET", "/d/" + "0" * 64), ("GET", "/"), ("GET", "/api/v1/openapi.json")):
        r = ordo.request(method, path, headers={"Authorization": f"Bearer {ACME_KEY}"})
        assert r.headers.get("X-Content-Type-Options") == "nosniff", (path, r.status_code, dict(r.headers))


def test_beta_key_sees_beta_orders(ordo):
    body = shopify_order()
    ack(ordo.shopify(body, merchant="beta"))
    o = ordo.wait_order("shopify", body["id"], merchant="beta")
    assert ordo.api("GET", f"orders/{o['id']}", key=BETA_KEY).status_code == 200
    assert ordo.api("GET", f"orders/{o['id']}", key=ACME_KEY).status_code == 404


def test_an_error_that_is_not_utf8_is_shown_not_dropped(ordo_factory):
    """A handler's error with bytes that are not UTF-8: the dead letter,
    the event and the CLI show it (invalid bytes as U+FFFD); the key was
    silently missing from the JSON before."""
    import subprocess
    from conftest import ORDO_BIN
    wf = 'return { order_created = function(ev) error("boom \\255\\254 closed") end }\n'
    o = ordo_factory(beta_workflow=wf, max_attempts=1)
    assert o.shopify(shopify_order(), merchant="beta").status_code == 200
    dl = o.wait_dead_letter("beta")
    assert "boom \ufffd\ufffd closed" in dl["error"], dl
    ev = o.api("GET", f"events/{dl['event_id']}", "beta").json()
    assert "boom \ufffd\ufffd closed" in ev["error"], ev
    r = subprocess.run([ORDO_BIN, "dead-letters", "list", "--json", "-c", str(o.config)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "boom \ufffd\ufffd closed" in r.stdout, r.stdout + r.stderr
