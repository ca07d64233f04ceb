"""
Webhook ingress: signatures, dedup, errors and the orders each channel makes.
"""
import json
import re
import time

import pytest

from conftest import (BIG_ID, SECRETS, minor, raw_http, shopify_order,
                      sign_base64, unique_id, woo_order)


def accepted(r, duplicate=False):
    """Assert a 200 acknowledgement; return the event id."""
    assert r.status_code == 200, f"{r.status_code} {r.text}"
    body = r.json()
    assert body["ok"] is True, body
    assert body["duplicate"] is duplicate, body
    assert isinstance(body["id"], int) and body["id"] > 0, body
    return body["id"]


def error(r, status, code=None):
    """Assert an error envelope; return its message."""
    assert r.status_code == status, f"{r.status_code} {r.text}"
    body = r.json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body
    if code:
        assert body["error"]["code"] == code, body
    return body["error"]["message"]


# ---------------------------------------------------------------------------
# Shopify
# ---------------------------------------------------------------------------

MONEY_CASES = [
    # currency, lines [(price, qty, sku, title)], shipping, tax
    ("USD", [("19.99", 1, "SKU-RED", "Red widget"), ("0.01", 3, "SKU-PIN", "Pin")], "5.00", "1.61"),
    ("USD", [("99999.99", 3, "SKU-BIG", "Big ticket")], "0.00", "0.00"),
    ("JPY", [("1500", 2, "SKU-TEA", "Matcha")], "500", "150"),
    ("KWD", [("12.345", 1, "SKU-OUD", "Oud"), ("0.005", 2, "SKU-FIL", "Fils")], "1.500", "0.000"),
]


@pytest.mark.parametrize("currency,lines,shipping,tax", MONEY_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(MONEY_CASES)])
def test_shopify_order_exact_ids_and_minor_units(ordo, currency, lines, shipping, tax):
    oid = unique_id()
    assert oid > 2**53
    body = shopify_order(oid, currency=currency, lines=lines, shipping=shipping, tax=tax)
    event_id = accepted(ordo.shopify(body))

    o = ordo.wait_order("shopify", oid)
    assert o["external_id"] == str(oid)          # text, every digit
    assert o["channel"] == "shopify"
    assert isinstance(o["id"], int) and o["id"] > 0
    assert o["status"] == "placed"
    assert o["payment_status"] == "unpaid"
    assert o["currency"] == currency
    assert o["total"] == minor(body["total_price"], currency)
    assert o["subtotal"] == minor(body["subtotal_price"], currency)
    assert o["shipping"] == minor(shipping, currency)
    assert o["tax"] == minor(tax, currency)
    assert o["discount"] == 0
    assert o["email"] == "ada@example.com"
    assert sorted(o["tags"]) == ["vip", "wholesale"]
    assert "1001" in str(o["number"])
    assert len(o["lines"]) == len(lines)
    for line, item, (price, qty, sku, title) in zip(o["lines"], body["line_items"], lines):
        assert line["external_id"] == str(item["id"])
        assert line["sku"] == sku
        assert line["title"] == title
        assert line["quantity"] == qty
        assert line["unit_price"] == minor(price, currency)
        assert line["total"] == minor(price, currency) * qty
        for k in ("id", "fulfilled_quantity"):
            assert k in line, line
    for k in ("fulfillment_status", "customer", "shipping_address", "placed_at",
              "created_at", "updated_at", "history", "payments"):
        assert k in o, f"order has no {k}: {o}"
    assert o["shipping_address"], o
    # History names the webhook's event as the cause of the order.
    created = [h for h in o["history"] if h["kind"] == "created"]
    assert len(created) == 1 and created[0]["event_id"] == event_id, o["history"]


def test_shopify_exact_big_id_not_rounded(ordo):
    # 2^53 + 1 becomes 2^53 through a double: the stored text must not.
    oid = BIG_ID
    accepted(ordo.shopify(shopify_order(oid)))
    o = ordo.wait_order("shopify", oid)
    assert o["external_id"] == "9007199254740993"
    assert ordo.find("shopify", 2**53) == []
    # A near-int64-max id survives as well.
    huge = 9223372036854775000
    accepted(ordo.shopify(shopify_order(huge)))
    assert ordo.wait_order("shopify", huge)["external_id"] == str(huge)


def test_duplicate_delivery_is_acknowledged_once(ordo):
    body = shopify_order()
    first = accepted(ordo.shopify(body, webhook_id="dup-1"))
    again = accepted(ordo.shopify(body, webhook_id="dup-1"), duplicate=True)
    assert again == first
    o = ordo.wait_order("shopify", body["id"])
    # Give a wrongly re-run event time to show up, then count.
    time.sleep(0.3)
    assert accepted(ordo.shopify(body, webhook_id="dup-1"), duplicate=True) == first
    assert len(ordo.find("shopify", body["id"])) == 1
    o = ordo.order(o["id"])
    assert [h["kind"] for h in o["history"]].count("created") == 1


def test_shopify_event_id_header_dedups_without_webhook_id(ordo):
    body = shopify_order()
    h = {"X-Shopify-Event-Id": f"evt-{body['id']}"}
    first = accepted(ordo.shopify(body, headers=h, drop=["X-Shopify-Webhook-Id"]))
    assert accepted(ordo.shopify(body, headers=h, drop=["X-Shopify-Webhook-Id"]),
                    duplicate=True) == first


def test_dedup_is_per_merchant(ordo):
    # The same delivery id at two merchants is two deliveries.
    a = accepted(ordo.shopify(shopify_order(), merchant="acme", webhook_id="shared-1"))
    b = accepted(ordo.shopify(shopify_order(), merchant="beta", webhook_id="shared-1"))
    assert a != b


def test_bad_signature_stores_nothing(ordo):
    body = shopify_order()
    raw = json.dumps(body).encode()
    cases = {
        "wrong secret": dict(secret="not-the-secret"),
        "other merchant's secret": dict(secret=SECRETS["beta"]["shopify"]),
        "garbage": dict(signature="AAAA"),
        "empty": dict(signature=""),
        "missing": dict(drop=["X-Shopify-Hmac-Sha256"]),
        "signed another body": dict(signature=sign_base64(SECRETS["acme"]["shopify"], raw + b" ")),
    }
    for name, kw in cases.items():
        r = ordo.shopify(raw, webhook_id="wh-bad-1", **kw)
        assert r.status_code == 401, f"{name}: {r.status_code} {r.text}"
        error(r, 401, "invalid_signature")
    # Woo and generic too.
    error(ordo.woo(woo_order(), secret="nope"), 401, "invalid_signature")
    error(ordo.woo(woo_order(), drop=["X-WC-Webhook-Signature"]), 401, "invalid_signature")
    error(ordo.generic({"id": "x"}, secret="nope"), 401, "invalid_signature")
    error(ordo.generic({"id": "x"}, signature="sha256=zz"), 401, "invalid_signature")
    error(ordo.generic({"id": "x"}, drop=["X-Ordo-Signature"]), 401, "invalid_signature")

    time.sleep(0.3)
    assert ordo.orders()["orders"] == []
    # The same delivery id, now properly signed, is new: nothing was stored.
    accepted(ordo.shopify(raw, webhook_id="wh-bad-1"), duplicate=False)
    ordo.wait_order("shopify", body["id"])


def test_malformed_json_names_the_byte(ordo):
    raw = b'{"id": 123, "line_items": [}'
    msg = error(ordo.shopify(raw), 400, "invalid_json")
    m = re.search(r"byte (\d+)", msg)
    assert m, msg
    assert 0 <= int(m.group(1)) <= len(raw), msg
    # Same for the other channels; and nothing is stored.
    error(ordo.woo(b'{"id": 1,,}'), 400, "invalid_json")
    error(ordo.generic(b"not json"), 400, "invalid_json")
    time.sleep(0.2)
    assert ordo.orders()["orders"] == []


def test_missing_topic_header_is_400(ordo):
    r = ordo.shopify(shopify_order(), drop=["X-Shopify-Topic"])
    error(r, 400)
    r = ordo.woo(woo_order(), drop=["X-WC-Webhook-Topic"])
    error(r, 400)
    r = ordo.generic({"id": "1"}, drop=["X-Ordo-Event"])
    error(r, 400)


def _padded_body(size):
    """A valid, signed-able Shopify body of exactly `size` bytes."""
    body = shopify_order()
    body["note"] = ""
    base = len(json.dumps(body).encode())
    body["note"] = "x" * (size - base)
    raw = json.dumps(body).encode()
    assert len(raw) == size
    return body, raw


def _raw_shopify(ordo, raw):
    sig = sign_base64(SECRETS["acme"]["shopify"], raw)
    head = (f"POST /webhooks/acme/shopify HTTP/1.1\r\nHost: 127.0.0.1:{ordo.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(raw)}\r\n"
            f"X-Shopify-Topic: orders/create\r\nX-Shopify-Hmac-Sha256: {sig}\r\n"
            f"X-Shopify-Webhook-Id: wh-{unique_id()}\r\nConnection: close\r\n\r\n").encode()
    return raw_http(ordo.port, head, raw)


def test_oversize_body_is_413(ordo):
    # The test config sets body_limit: 64KiB.
    body, raw = _padded_body(64 * 1024 + 1)
    status, resp = _raw_shopify(ordo, raw)
    assert status == 413, resp[:300]
    # Exactly at the limit is fine.
    ok_body, ok_raw = _padded_body(64 * 1024)
    status, resp = _raw_shopify(ordo, ok_raw)
    assert status == 200, resp[:300]
    ordo.wait_order("shopify", ok_body["id"])
    assert ordo.find("shopify", body["id"]) == []
    # The daemon still serves afterwards.
    assert ordo.request("GET", "/healthz").status_code == 200


def test_unknown_merchant_and_channel_are_404(ordo):
    body = shopify_order()
    raw = json.dumps(body).encode()
    sig = sign_base64(SECRETS["acme"]["shopify"], raw)
    h = {"X-Shopify-Topic": "orders/create", "X-Shopify-Hmac-Sha256": sig,
         "X-Shopify-Webhook-Id": "wh-404"}
    error(ordo.post_webhook("nobody", "shopify", raw, h), 404, "not_found")
    error(ordo.post_webhook("acme", "magento", raw, h), 404, "not_found")
    # beta has no woocommerce channel.
    error(ordo.woo(woo_order(), merchant="beta", secret="x"), 404, "not_found")
    time.sleep(0.2)
    assert ordo.orders()["orders"] == []


# ---------------------------------------------------------------------------
# WooCommerce
# ---------------------------------------------------------------------------

def test_woocommerce_order_created(ordo):
    oid = unique_id()
    body = woo_order(oid, currency="EUR", lines=[("9.99", 2, "MUG-1", "Mug"),
                                                  ("24.50", 1, "POT-1", "Teapot")])
    event_id = accepted(ordo.woo(body))
    o = ordo.wait_order("woocommerce", oid)
    assert o["external_id"] == str(oid)
    assert o["channel"] == "woocommerce"
    assert o["currency"] == "EUR"
    assert o["total"] == minor(body["total"], "EUR")
    assert o["shipping"] == 490
    assert o["tax"] == 380
    assert o["email"] == "grace@example.com"
    assert o["status"] == "placed"
    got = [(ln["sku"], ln["title"], ln["quantity"], ln["unit_price"], ln["total"]) for ln in o["lines"]]
    assert got == [("MUG-1", "Mug", 2, 999, 1998), ("POT-1", "Teapot", 1, 2450, 2450)]
    assert [h["event_id"] for h in o["history"] if h["kind"] == "created"] == [event_id]


def test_woocommerce_jpy_and_kwd(ordo):
    jpy = woo_order(currency="JPY", lines=[("1980", 3, "SOY", "Soy sauce")], shipping="700", tax="0")
    kwd = woo_order(currency="KWD", lines=[("7.125", 2, "DATES", "Dates")], shipping="0.750", tax="0.000")
    accepted(ordo.woo(jpy))
    accepted(ordo.woo(kwd))
    o = ordo.wait_order("woocommerce", jpy["id"])
    assert (o["currency"], o["total"], o["shipping"]) == ("JPY", 1980 * 3 + 700, 700)
    assert o["lines"][0]["unit_price"] == 1980
    o = ordo.wait_order("woocommerce", kwd["id"])
    assert (o["currency"], o["total"], o["shipping"]) == ("KWD", 7125 * 2 + 750, 750)
    assert o["lines"][0]["unit_price"] == 7125


def test_woocommerce_dedup_on_id_and_modified(ordo):
    body = woo_order()
    # Woo's delivery id changes on every retry: dedup must not rely on it.
    first = accepted(ordo.woo(body, delivery_id="1001"))
    assert accepted(ordo.woo(body, delivery_id="1002"), duplicate=True) == first
    # A later modification of the same order is a new event.
    updated = dict(body, date_modified_gmt="2024-05-01T11:00:00")
    second = accepted(ordo.woo(updated, topic="order.updated", delivery_id="1003"))
    assert second != first
    ordo.wait_order("woocommerce", body["id"])
    time.sleep(0.3)
    assert len(ordo.find("woocommerce", body["id"])) == 1


def test_woocommerce_ping(ordo):
    r = ordo.post_webhook("acme", "woocommerce", b"webhook_id=12",
                          {"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200, r.text
    time.sleep(0.2)
    assert ordo.orders()["orders"] == []


# ---------------------------------------------------------------------------
# Generic
# ---------------------------------------------------------------------------

def generic_order(ext=None, currency="USD"):
    """A generic order.created body (scripts/channels/generic.lua): money as text."""
    ext = ext or f"G-{unique_id()}"
    return {
        "id": ext, "number": "G-1", "currency": currency, "email": "lin@example.com",
        "subtotal": "20.00", "shipping": "4.99", "tax": "0.00", "discount": "0.00",
        "total": "24.99", "tags": ["api"],
        "customer": {"id": 42, "email": "lin@example.com", "first_name": "Lin",
                     "last_name": "Example"},
        "shipping_address": {"name": "Lin Example", "address1": "3 Loop St", "city": "Oslo",
                             "zip": "0150", "country_code": "NO"},
        "lines": [{"id": "L1", "sku": "BOOK-1", "title": "Book", "quantity": 2,
                   "price": "10.00", "total": "20.00"}],
    }


def test_generic_channel(ordo):
    body = generic_order()
    first = accepted(ordo.generic(body, delivery="gen-1"))
    assert accepted(ordo.generic(body, delivery="gen-1"), duplicate=True) == first
    # Uppercase hex is the same signature.
    raw = json.dumps(generic_order()).encode()
    import hashlib
    import hmac
    sig = "sha256=" + hmac.new(SECRETS["acme"]["generic"].encode(), raw, hashlib.sha256).hexdigest().upper()
    accepted(ordo.generic(raw, signature=sig))
    o = ordo.wait_order("generic", body["id"])
    assert o["external_id"] == body["id"]
    assert o["currency"] == "USD"
    assert o["total"] == 2499
    assert o["shipping"] == 499
    assert [(ln["sku"], ln["quantity"], ln["unit_price"], ln["total"]) for ln in o["lines"]] == \
        [("BOOK-1", 2, 1000, 2000)]
    assert o["tags"] == ["api"]
    assert [h["event_id"] for h in o["history"] if h["kind"] == "created"] == [first]
