"""
The shared storefront fixtures (tests/fixtures/<channel>/) sent byte for
byte, signed, to the real daemon: the good ones become orders with exact
ids and minor-unit money, the bad ones become dead letters whose error
names the field, never an order and never a crash.
"""
import json
import re

import pytest

from conftest import FIXTURES, minor

SEND = {"shopify": "shopify", "woocommerce": "woo", "generic": "generic"}
TOPIC_ARG = {"shopify": "topic", "woocommerce": "topic", "generic": "event"}


def send(ordo, channel, name, topic, **kw):
    raw = (FIXTURES / channel / name).read_bytes()
    fn = getattr(ordo, SEND[channel])
    r = fn(raw, **{TOPIC_ARG[channel]: topic}, **kw)
    assert r.status_code == 200, f"{channel}/{name}: {r.status_code} {r.text}"
    assert r.json()["duplicate"] is False
    return r.json()["id"], raw


def exact_id(raw, key="id"):
    """The top-level id exactly as the bytes spell it."""
    m = re.search(rb'^\s{0,2}"' + key.encode() + rb'"\s*:\s*"?([^",\s]+)"?', raw, re.M)
    return m.group(1).decode()


def need(channel, name):
    if not (FIXTURES / channel / name).is_file():
        pytest.skip(f"tests/fixtures/{channel}/{name} is not there")


GOOD = [
    ("shopify", "orders_create.json", "orders/create"),
    ("shopify", "orders_create_jpy.json", "orders/create"),
    ("shopify", "orders_create_kwd.json", "orders/create"),
    ("woocommerce", "order_created.json", "order.created"),
    ("woocommerce", "order_created_jpy.json", "order.created"),
    ("woocommerce", "order_pending.json", "order.created"),
    ("generic", "order_created.json", "order.created"),
    ("generic", "order_created_kwd.json", "order.created"),
]


@pytest.mark.parametrize("channel,name,topic", GOOD, ids=[f"{c}/{n}" for c, n, _ in GOOD])
def test_good_fixture_makes_an_exact_order(ordo, channel, name, topic):
    need(channel, name)
    event_id, raw = send(ordo, channel, name, topic)
    body = json.loads(raw)
    ext = exact_id(raw)
    o = ordo.wait_order(channel, ext)
    assert o["external_id"] == ext
    currency = body.get("currency") or "USD"      # generic: the merchant's default
    assert o["currency"] == currency
    total = body["total_price"] if channel == "shopify" else body["total"]
    assert o["total"] == minor(total, currency)
    items = body.get("line_items") or body.get("lines") or []
    assert [ln["quantity"] for ln in o["lines"]] == [i["quantity"] for i in items]
    for line, item in zip(o["lines"], items):
        if channel == "shopify" or (channel == "generic" and "price" in item):
            assert line["unit_price"] == minor(item["price"], currency), (line, item)
    assert [h["event_id"] for h in o["history"] if h["kind"] == "created"] == [event_id]
    if channel == "shopify" and body.get("financial_status") == "paid":
        # The standard workflow marks an already-paid order paid.
        ordo.wait_order(channel, ext, pred=lambda o: o["payment_status"] == "paid")
    assert ordo.dead_letters() == []


def test_shopify_fixture_lifecycle(ordo):
    for name in ("orders_create.json", "orders_paid.json", "refunds_create.json",
                 "orders_cancelled.json"):
        need("shopify", name)
    _, raw = send(ordo, "shopify", "orders_create.json", "orders/create")
    ext = exact_id(raw)
    paid, _ = send(ordo, "shopify", "orders_paid.json", "orders/paid")
    refund, _ = send(ordo, "shopify", "refunds_create.json", "refunds/create")
    o = ordo.wait_order("shopify", ext, pred=lambda o: any(
        h["event_id"] == refund for h in o["history"]))
    # The storefront's refund is recorded on the order (once).
    assert o["payment_status"] == "partially_refunded", o
    assert [p["kind"] for p in o["payments"] if p["gateway"] == "shopify"] == ["capture", "refund"], o["payments"]
    assert any(h["kind"] == "note" and h["event_id"] == refund for h in o["history"])
    assert any(h["event_id"] == paid for h in o["history"])

    cancel, craw = send(ordo, "shopify", "orders_cancelled.json", "orders/cancelled")
    o = ordo.wait_order("shopify", exact_id(craw), pred=lambda o: o["status"] == "canceled")
    assert any(h["kind"] == "status" and h["to"] == "canceled" and h["event_id"] == cancel
               for h in o["history"]), o["history"]
    assert ordo.dead_letters() == []


def test_woocommerce_fixture_cancel(ordo):
    need("woocommerce", "order_cancelled.json")
    _, raw = send(ordo, "woocommerce", "order_cancelled.json", "order.updated")
    ordo.wait_order("woocommerce", exact_id(raw), pred=lambda o: o["status"] == "canceled")


def test_generic_fixture_refund_is_noted(ordo):
    need("generic", "order_created.json")
    need("generic", "refund_created.json")
    _, raw = send(ordo, "generic", "order_created.json", "order.created")
    refund, _ = send(ordo, "generic", "refund_created.json", "refund.created")
    o = ordo.wait_order("generic", exact_id(raw), pred=lambda o: any(
        h["event_id"] == refund for h in o["history"]))
    note = [h for h in o["history"] if h["event_id"] == refund and h["kind"] == "note"]
    assert note and "9.99" in note[0]["message"], o["history"]


BAD = [
    # channel, file, topic, a word the dead letter's error must contain
    ("shopify", "bad_float_id.json", "orders/create", "id"),
    ("shopify", "bad_missing_id.json", "orders/create", "id"),
    ("shopify", "bad_price.json", "orders/create", "price"),
    ("shopify", "bad_quantity_zero.json", "orders/create", "quantity"),
    ("shopify", "bad_refund_float_amount.json", "refunds/create", "amount"),
    ("woocommerce", "bad_float_total.json", "order.created", "total"),
    ("woocommerce", "bad_line_subtotal.json", "order.created", "subtotal"),
    ("generic", "bad_currency.json", "order.created", "currency"),
    ("generic", "bad_float_price.json", "order.created", "price"),
    ("generic", "bad_quantity_fraction.json", "order.created", "quantity"),
]


@pytest.mark.parametrize("channel,name,topic,word", BAD, ids=[f"{c}/{n}" for c, n, _, _ in BAD])
def test_bad_fixture_is_dead_lettered_with_a_clear_error(ordo, channel, name, topic, word):
    need(channel, name)
    event_id, raw = send(ordo, channel, name, topic)
    dl = ordo.wait_dead_letter("acme", lambda d: d["event_id"] == event_id)
    assert word in dl["error"], dl
    assert dl["channel"] == channel and dl["topic"] == topic, dl
    assert dl["attempts"] >= 1
    assert ordo.orders()["orders"] == []
    # The daemon is fine and serves the next delivery.
    assert ordo.request("GET", "/healthz").status_code == 200
