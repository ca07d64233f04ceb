#!/usr/bin/env python3
"""Regenerate the committed seed corpora in tests/fuzz/corpus/<target>/.

Run from the repository root: python3 tests/fuzz/make_corpus.py
Seeds come from tests/fixtures/**, config/*.yaml and the hand-written cases
below; every file is small. Inputs found by fuzzing go to build/fuzz/corpus/,
not here; copy one here only if it is a good, small example.
"""
import hashlib
import hmac
import base64
import json
import os
import shutil
import struct

ROOT = os.getcwd()
OUT = os.path.join(ROOT, "tests", "fuzz", "corpus")

# The secrets and key of the HTTP target's config (fuzz_http.c).
HTTP_SECRET = b"fuzz-http-secret"
HTTP_KEY = "fuzz-api-key-0123456789abcdef"


def reset(target):
    d = os.path.join(OUT, target)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def put(d, name, data):
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def fixture(path):
    with open(os.path.join(ROOT, "tests", "fixtures", path), "rb") as f:
        return f.read()


# Fixture -> topics it is delivered under (as in tests/unit/test_adapters.c).
TOPICS = {
    "shopify/orders_create.json": ["orders/create", "orders/updated", "products/update"],
    "shopify/orders_paid.json": ["orders/paid"],
    "shopify/orders_cancelled.json": ["orders/cancelled"],
    "shopify/refunds_create.json": ["refunds/create"],
    "shopify/orders_create_kwd.json": ["orders/create"],
    "shopify/orders_create_jpy.json": ["orders/create"],
    "shopify/bad_price.json": ["orders/create"],
    "shopify/bad_missing_id.json": ["orders/create"],
    "shopify/bad_quantity_zero.json": ["orders/create"],
    "shopify/bad_float_id.json": ["orders/create"],
    "shopify/bad_refund_float_amount.json": ["refunds/create"],
    "woocommerce/order_created.json": ["order.created", "order.updated", "order.deleted"],
    "woocommerce/order_pending.json": ["order.updated"],
    "woocommerce/order_cancelled.json": ["order.updated"],
    "woocommerce/order_created_jpy.json": ["order.created"],
    "woocommerce/bad_float_total.json": ["order.created"],
    "woocommerce/bad_line_subtotal.json": ["order.created"],
    "generic/order_created.json": ["order.created", "order.paid", "order.cancelled"],
    "generic/order_created_kwd.json": ["order.created"],
    "generic/refund_created.json": ["refund.created"],
    "generic/bad_currency.json": ["order.created"],
    "generic/bad_float_price.json": ["order.created"],
    "generic/bad_quantity_fraction.json": ["order.created"],
}


def compact(raw):
    """The fixture as compact JSON (fuzzers like small inputs)."""
    return json.dumps(json.loads(raw), separators=(",", ":")).encode()


def webhook():
    d = reset("webhook")
    for path, topics in TOPICS.items():
        channel = path.split("/")[0]
        body = compact(fixture(path))
        for topic in topics:
            name = "%s-%s" % (os.path.basename(path)[:-5], topic.replace("/", "_").replace(".", "_"))
            put(d, "%s-%s" % (channel, name), b"%s %s\n%s" % (channel.encode(), topic.encode(), body))
    put(d, "woocommerce-ping", b"woocommerce order.created\nwebhook_id=42")
    put(d, "generic-empty-object", b"generic order.created\n{}")
    put(d, "shopify-not-object", b"shopify orders/create\n[1,2,3]")


def luajson():
    d = reset("luajson")
    for path in TOPICS:
        put(d, os.path.basename(path), compact(fixture(path)))
    cases = {
        "holes": '{"a":[1,null,3],"b":null,"c":[null],"d":[1,2,null]}',
        "numbers": '[0,-0,1.5,-2.5e-300,1e308,9223372036854775807,-9223372036854775808,0.1]',
        "strings": '["","a\\u0000b","\\u00e9\\ud83d\\ude00","\\n\\t"]',
        "scalars": "true",
        "nested": "[" * 64 + "]" * 64,
        "too-deep": "[" * 65 + "]" * 65,
        "objects": '{"1":1,"2":2,"":{},"x":[]}',
    }
    for name, text in cases.items():
        put(d, name, text)


def money():
    d = reset("money")
    codes = ["USD", "JPY", "KWD", "CLF", "UYW", "EUR", "BHD", "ISK", "XOF", "GBP",
             "usd", "XXX", "US", "USDD", ""]
    texts = ["19.99", "0", "-0.05", "19.990", "1.", ".5", "+1", "1e3", " 1",
             "92233720368547758.07", "92233720368547758.08", "-92233720368547758.07",
             "007.10", "1.2345", "123456789012345678901234567890", "-", ""]
    for i, code in enumerate(codes[:5]):
        for j, t in enumerate(texts):
            put(d, "text-%s-%02d" % (code, j), bytes([i << 1]) + t.encode())
    for i, v in enumerate([0, 1, -1, 1999, -(2**63), 2**63 - 1, -5]):
        put(d, "value-%d" % i, bytes([1]) + struct.pack("<q", v))
        put(d, "value-kwd-%d" % i, bytes([(2 << 1) | 1]) + struct.pack("<q", v))
    put(d, "raw-code", bytes([0xfe]) + b"KWD1.234")


def config():
    d = reset("config")
    for name in ("ordo.yaml", "example-full.yaml"):
        shutil.copy(os.path.join(ROOT, "config", name), os.path.join(d, name))
    cases = {
        "minimal": "merchants:\n  - id: a\n    currency: USD\n    workflow: w.lua\n",
        "env": 'server: { listen: "[::1]:0", body_limit: 64KiB }\nmerchants:\n'
               '  - id: a\n    currency: JPY\n    workflow: w.lua\n'
               '    api_keys: ["${ACME_API_KEY}", "x$${NOPE}-0123456789abcdef"]\n'
               '    channels: { generic: { secret: "${ORDO_FUZZ}" } }\n',
        "missing-env": 'merchants:\n  - id: a\n    currency: USD\n    workflow: w.lua\n'
                       '    channels: { shopify: { secret: "${NOT_SET_ANYWHERE}" } }\n',
        "alias": "a: &x [1]\nb: *x\n",
        "two-docs": "server: {}\n---\nserver: {}\n",
        "retry": "server:\n  retry: { max_attempts: 3, base_delay: 250ms, max_delay: 2s }\n"
                 "  durability: normal\n  database: ../var/x.db\n  scripts: ../scripts\n",
        "limits": "merchants:\n  - id: b-1\n    currency: KWD\n    timezone: Asia/Tokyo\n"
                  "    workflow: ../workflows/standard.lua\n"
                  "    limits: { instructions: 1000, memory: 1MiB, webhooks_per_second: 50 }\n",
        "listen-forms": 'server: { listen: ":8080", inbox_limit: 10 }\n'
                        "merchants:\n  - id: a\n    currency: USD\n    workflow: w.lua\n",
        "bad-tab": "server:\n\tlisten: x\n",
    }
    for name, text in cases.items():
        put(d, name, text)


def http_request(method, path, headers=(), body=b""):
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1"]
    lines += ["%s: %s" % h for h in headers]
    if body or method == "POST":
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def http():
    d = reset("http")
    # Webhooks carry a placeholder the harness replaces with the body's
    # signature, so mutated bodies still get past verification.
    b64, hexsig = "@@SIG64@@", "@@SIGHEX@@"
    for name, path, topic in [
        ("shopify", "shopify/orders_create.json", "orders/create"),
        ("shopify-refund", "shopify/refunds_create.json", "refunds/create"),
        ("woo", "woocommerce/order_created.json", "order.created"),
        ("generic", "generic/order_created.json", "order.created"),
    ]:
        body = compact(fixture(path))
        ch = path.split("/")[0]
        if ch == "shopify":
            hs = [("X-Shopify-Hmac-Sha256", b64), ("X-Shopify-Topic", topic),
                  ("X-Shopify-Webhook-Id", "d-1")]
        elif ch == "woocommerce":
            hs = [("X-WC-Webhook-Signature", b64), ("X-WC-Webhook-Topic", topic)]
        else:
            hs = [("X-Ordo-Signature", "sha256=" + hexsig), ("X-Ordo-Event", topic),
                  ("X-Ordo-Delivery", "d-1")]
        hs.append(("Content-Type", "application/json"))
        put(d, "webhook-" + name, http_request("POST", "/webhooks/fuzz/" + ch, hs, body))
    # A real signature, computed here (no placeholder).
    body = b'{"id":1,"currency":"USD","line_items":[]}'
    sig = base64.b64encode(hmac.new(HTTP_SECRET, body, hashlib.sha256).digest()).decode()
    put(d, "webhook-real-signature", http_request("POST", "/webhooks/fuzz/shopify",
        [("X-Shopify-Hmac-Sha256", sig), ("X-Shopify-Topic", "orders/create")], body))
    put(d, "webhook-bad-signature", http_request("POST", "/webhooks/fuzz/generic",
        [("X-Ordo-Signature", "sha256=00"), ("X-Ordo-Event", "order.created")], b"{}"))
    put(d, "webhook-woo-ping", http_request("POST", "/webhooks/fuzz/woocommerce", [], b"webhook_id=7"))
    put(d, "webhook-too-large", http_request("POST", "/webhooks/fuzz/generic",
        [("X-Ordo-Signature", "sha256=" + hexsig), ("X-Ordo-Event", "order.created")],
        b"{" + b" " * 9000 + b"}"))
    put(d, "webhook-unknown", http_request("POST", "/webhooks/nobody/shopify", [], b"{}"))
    put(d, "webhook-get", http_request("GET", "/webhooks/fuzz/shopify"))
    auth = [("Authorization", "Bearer " + HTTP_KEY)]
    for name, method, path in [
        ("api-order", "GET", "/api/v1/orders/1"),
        ("api-list", "GET", "/api/v1/orders?channel=shopify&external_id=5912345678901234567&limit=5"),
        ("api-list-cursor", "GET", "/api/v1/orders?status=placed&cursor=abc&limit=1000"),
        ("api-dead", "GET", "/api/v1/dead-letters?limit=3"),
        ("api-retry", "POST", "/api/v1/dead-letters/1/retry"),
        ("api-bad-route", "DELETE", "/api/v1/orders/1"),
    ]:
        put(d, name, http_request(method, path, auth))
    put(d, "api-no-auth", http_request("GET", "/api/v1/orders"))
    put(d, "healthz", http_request("GET", "/healthz"))
    put(d, "metrics", http_request("GET", "/metrics"))
    put(d, "pipelined", http_request("GET", "/healthz") + http_request("GET", "/api/v1/orders/2", auth))
    # Chunked: the signature is over the decoded body, so it is computed here.
    sig = hmac.new(HTTP_SECRET, b'{"id":"c-1"}', hashlib.sha256).hexdigest()
    put(d, "chunked", b"POST /webhooks/fuzz/generic HTTP/1.1\r\nHost: x\r\n"
        b"X-Ordo-Signature: sha256=" + sig.encode() + b"\r\nX-Ordo-Event: order.created\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n5\r\n{\"id\"\r\n7\r\n:\"c-1\"}\r\n0\r\n\r\n")
    put(d, "webhook-then-get", http_request("POST", "/webhooks/fuzz/generic",
        [("X-Ordo-Signature", "sha256=" + hexsig), ("X-Ordo-Event", "order.created"),
         ("X-Ordo-Delivery", "d-9")], compact(fixture("generic/order_created.json")))
        + http_request("GET", "/api/v1/orders?channel=generic&external_id=A-10042", auth))
    put(d, "http10", b"GET /healthz HTTP/1.0\r\n\r\n")
    put(d, "garbage", b"\x00\xff GET / HTTP/9\r\n\r\n")


if __name__ == "__main__":
    webhook()
    luajson()
    money()
    config()
    http()
