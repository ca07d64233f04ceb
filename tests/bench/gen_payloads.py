#!/usr/bin/python3
"""
gen_payloads — signed Shopify orders/create bodies for the wrk bench.

Writes N realistic bodies (unique order ids above 2^53, two line items,
~2 KB each) to a data file, one per line:

    <base64 HMAC-SHA256 of the body>\t<the body, compact JSON>

tests/bench/shopify.lua reads that file in each wrk thread and cycles
through it, adding a unique X-Shopify-Webhook-Id per request, so every
request is a new delivery whose signature is precomputed here (wrk does no
crypto in the hot path).

Usage: gen_payloads.py OUT N SECRET [--first-id ID]
Standard library only.
"""
import argparse
import base64
import hashlib
import hmac
import json
import sys

FIRST_ID = 2**53 + 1


def money(cents):
    return f"{cents // 100}.{cents % 100:02d}"


def order(order_id, n):
    """One orders/create body; `n` varies prices, quantities and names."""
    p1, q1 = 1999 + (n % 50) * 100, 1 + n % 3
    p2, q2 = 450 + (n % 7) * 5, 1 + n % 2
    items = p1 * q1 + p2 * q2
    shipping, tax = 500, (items * 8) // 100
    total = items + shipping + tax
    amt = lambda c: {"shop_money": {"amount": money(c), "currency_code": "USD"},  # noqa: E731
                     "presentment_money": {"amount": money(c), "currency_code": "USD"}}
    line = lambda k, sku, title, price, qty: {  # noqa: E731
        "id": order_id * 4 + k, "variant_id": 44000000000000 + k,
        "product_id": 8000000000000 + k, "sku": sku, "title": title, "name": title,
        "vendor": "Bench", "quantity": qty, "current_quantity": qty,
        "fulfillable_quantity": qty, "price": money(price), "price_set": amt(price),
        "total_discount": "0.00", "taxable": True, "requires_shipping": True,
        "fulfillment_status": None, "gift_card": False, "grams": 250,
        "tax_lines": [], "properties": []}
    email = f"buyer{n}@example.com"
    address = {"first_name": "Bench", "last_name": f"Buyer {n}",
               "address1": f"{n} Load Street", "address2": "", "city": "Springfield",
               "zip": "12345", "province": "Oregon", "province_code": "OR",
               "country": "United States", "country_code": "US", "phone": None}
    return {
        "id": order_id, "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
        "name": f"#{1000 + n}", "order_number": 1000 + n, "number": n,
        "email": email, "contact_email": email,
        "created_at": "2024-05-01T10:00:00-04:00", "updated_at": "2024-05-01T10:00:00-04:00",
        "processed_at": "2024-05-01T10:00:00-04:00",
        "currency": "USD", "presentment_currency": "USD",
        "total_line_items_price": money(items), "subtotal_price": money(items),
        "total_discounts": "0.00", "total_tax": money(tax), "total_price": money(total),
        "subtotal_price_set": amt(items), "total_tax_set": amt(tax),
        "total_shipping_price_set": amt(shipping), "total_price_set": amt(total),
        "taxes_included": False, "test": False, "financial_status": "paid",
        "fulfillment_status": None, "cancelled_at": None, "cancel_reason": None,
        "tags": "bench, load", "note": None, "source_name": "web",
        "customer": {"id": 7000000000000 + n, "email": email, "first_name": "Bench",
                     "last_name": f"Buyer {n}", "currency": "USD"},
        "billing_address": address, "shipping_address": address,
        "shipping_lines": [{"id": 4000000000 + n, "title": "Standard", "code": "Standard",
                            "price": money(shipping), "price_set": amt(shipping)}],
        "line_items": [line(1, f"SKU-{n % 97}", "Bench widget", p1, q1),
                       line(2, f"SKU-{n % 89}-B", "Bench gadget", p2, q2)],
    }


def three_lines(body, n, skus=5):
    """The reservations bench's order: three lines from a pool of `skus`
    SKUs, so concurrent orders contend for the same stock rows."""
    items = body["line_items"]
    third = dict(items[0], id=items[0]["id"] + 2, sku=f"POOL-{(n + 2) % skus}")
    items[0]["sku"] = f"POOL-{n % skus}"
    items[1]["sku"] = f"POOL-{(n + 1) % skus}"
    items.append(third)
    return body


def generate(out_path, n, secret, first_id=FIRST_ID, shape=None):
    """Write n signed bodies; return the list of order ids (as text).
    shape(body, k) may rewrite each body (three_lines)."""
    key = secret.encode()
    ids = []
    with open(out_path, "w", encoding="ascii") as out:
        for k in range(n):
            oid = first_id + k
            body = order(oid, k)
            if shape is not None:
                body = shape(body, k)
            raw = json.dumps(body, separators=(",", ":"), ensure_ascii=True)
            assert "\t" not in raw and "\n" not in raw
            sig = base64.b64encode(hmac.new(key, raw.encode(), hashlib.sha256).digest()).decode()
            out.write(f"{sig}\t{raw}\n")
            ids.append(str(oid))
    return ids


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("n", type=int)
    ap.add_argument("secret")
    ap.add_argument("--first-id", type=int, default=FIRST_ID)
    a = ap.parse_args(argv)
    generate(a.out, a.n, a.secret, a.first_id)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
