"""
End-to-end harness: the real `ordo serve` on 127.0.0.1, a fresh database
and config per test, driven over HTTP.

The `ordo` fixture starts a daemon with two merchants:

  acme   workflows/standard.lua; shopify, woocommerce and generic channels
  beta   a workflow the test supplies (default: a tiny one that records the
         order); shopify and generic channels only; small sandbox limits

`ordo_factory(**options)` starts one with other options (beta's workflow
text, retry settings, body limit...). Every daemon is stopped with SIGTERM
at teardown and must exit 0; its stderr (JSON lines) is printed when it
does not, and on any failure.

Payload builders (shopify_order, woo_order, ...) live here too so the tests
read as data; tests import them with `from conftest import ...`.

Only 127.0.0.1 is ever contacted, and every wait is bounded in time.
"""
import base64
import decimal
import hashlib
import hmac
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import textwrap
import time
from pathlib import Path

import pytest
import requests

from fakes import FakeGateway, Sink

ROOT = Path(__file__).resolve().parents[2]
ORDO_BIN = os.environ.get("ORDO_BIN", str(ROOT / "build" / "ordo"))
FIXTURES = ROOT / "tests" / "fixtures"

HOST = "127.0.0.1"
HTTP_TIMEOUT = 10          # seconds, any single request
START_TIMEOUT = 10         # seconds until the daemon logs its port
STOP_TIMEOUT = 15          # seconds after SIGTERM
POLL_TIMEOUT = 10          # seconds to wait for asynchronous processing

ACME_KEY = "acme-api-key-0123456789abcdef"
BETA_KEY = "beta-api-key-0123456789abcdef"
SECRETS = {
    "acme": {
        "shopify": "acme-shopify-secret-0001",
        "woocommerce": "acme-woo-secret-0002",
        "generic": "acme-generic-secret-0003",
    },
    "beta": {
        "shopify": "beta-shopify-secret-0004",
        "generic": "beta-generic-secret-0005",
        "carrier": "beta-carrier-secret-0006",
    },
}
API_KEYS = {"acme": ACME_KEY, "beta": BETA_KEY}

# beta's default workflow: record the order, nothing else.
BETA_RECORD = """\
return {
  order_created = function(ev)
    orders.create(ev.order)
  end,
}
"""

BIG_ID = 2**53 + 1          # 9007199254740993: not representable as a double
_ids = itertools.count(1)


def unique_id(base=BIG_ID):
    """A fresh storefront id above 2^53 (distinct within the test run)."""
    return base + 1000 * next(_ids) + (os.getpid() % 1000)


def wait_until(fn, timeout=POLL_TIMEOUT, interval=0.05, what="condition"):
    """Call fn until it returns something truthy; fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = fn()
        if last:
            return last
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}; last={last!r}")
        time.sleep(interval)


# ---------------------------------------------------------------------------
# Money
# ---------------------------------------------------------------------------

EXPONENT = {"USD": 2, "EUR": 2, "GBP": 2, "JPY": 0, "KWD": 3, "BHD": 3}


def minor(text, currency):
    """Decimal text -> integer minor units, exactly ("19.99" USD -> 1999)."""
    value = decimal.Decimal(text) * (10 ** EXPONENT[currency])
    assert value == value.to_integral_value(), (text, currency)
    return int(value)


def fmt(units, currency):
    """Integer minor units -> decimal text as a storefront sends it."""
    exp = EXPONENT[currency]
    if exp == 0:
        return str(units)
    sign = "-" if units < 0 else ""
    units = abs(units)
    return f"{sign}{units // 10**exp}.{units % 10**exp:0{exp}d}"


# ---------------------------------------------------------------------------
# Payloads
# ---------------------------------------------------------------------------

def shopify_order(order_id=None, *, currency="USD", lines=None, shipping="5.00",
                  tax="0.00", discount="0.00", number=1001, email="ada@example.com",
                  tags="vip, wholesale", financial_status="pending", **extra):
    """A Shopify orders/create (orders/updated, orders/paid...) body.

    lines: [(price_text, quantity, sku, title)], default one "19.99" line.
    Totals are computed exactly from the lines.
    """
    order_id = order_id or unique_id()
    lines = lines or [("19.99", 1, "SKU-RED", "Red widget")]
    items, items_total = [], 0
    for i, (price, qty, sku, title) in enumerate(lines):
        items_total += minor(price, currency) * qty
        items.append({
            "id": order_id * 10 + i + 1 if order_id < 2**62 else i + 1,
            "admin_graphql_api_id": f"gid://shopify/LineItem/{order_id + i + 1}",
            "variant_id": 44000000000000 + i,
            "product_id": 8000000000000 + i,
            "sku": sku, "title": title, "name": title, "vendor": "Acme",
            "quantity": qty, "current_quantity": qty, "fulfillable_quantity": qty,
            "price": price,
            "price_set": {"shop_money": {"amount": price, "currency_code": currency},
                          "presentment_money": {"amount": price, "currency_code": currency}},
            "total_discount": fmt(0, currency), "taxable": True,
            "requires_shipping": True, "fulfillment_status": None,
            "gift_card": False, "grams": 100, "tax_lines": [], "properties": [],
        })
    subtotal = items_total - minor(discount, currency)
    total = subtotal + minor(shipping, currency) + minor(tax, currency)
    money = lambda units: {  # noqa: E731
        "shop_money": {"amount": fmt(units, currency), "currency_code": currency},
        "presentment_money": {"amount": fmt(units, currency), "currency_code": currency}}
    body = {
        "id": order_id,
        "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
        "name": f"#{number}", "order_number": number, "number": number - 1000,
        "email": email, "contact_email": email, "phone": None,
        "created_at": "2024-05-01T10:00:00-04:00",
        "updated_at": "2024-05-01T10:00:01-04:00",
        "processed_at": "2024-05-01T10:00:00-04:00",
        "currency": currency, "presentment_currency": currency,
        "total_line_items_price": fmt(items_total, currency),
        "subtotal_price": fmt(subtotal, currency),
        "total_discounts": discount, "total_tax": tax,
        "total_price": fmt(total, currency),
        "current_total_price": fmt(total, currency),
        "total_line_items_price_set": money(items_total),
        "subtotal_price_set": money(subtotal),
        "total_discounts_set": money(minor(discount, currency)),
        "total_tax_set": money(minor(tax, currency)),
        "total_shipping_price_set": money(minor(shipping, currency)),
        "total_price_set": money(total),
        "taxes_included": False, "test": False,
        "financial_status": financial_status, "fulfillment_status": None,
        "cancelled_at": None, "cancel_reason": None, "closed_at": None,
        "tags": tags, "note": None, "note_attributes": [],
        "source_name": "web", "gateway": "manual", "payment_gateway_names": ["manual"],
        "customer": {"id": 7000000000000 + number, "email": email,
                     "first_name": "Ada", "last_name": "Lovelace",
                     "phone": None, "currency": currency},
        "billing_address": {"first_name": "Ada", "last_name": "Lovelace",
                            "address1": "1 Analytical Way", "city": "London",
                            "zip": "N1 9GU", "country": "United Kingdom",
                            "country_code": "GB", "province": None, "phone": None},
        "shipping_address": {"first_name": "Ada", "last_name": "Lovelace",
                             "name": "Ada Lovelace",
                             "address1": "1 Analytical Way", "address2": "",
                             "city": "London", "zip": "N1 9GU",
                             "country": "United Kingdom", "country_code": "GB",
                             "province": None, "province_code": None, "phone": None},
        "shipping_lines": [{"id": 4000000000 + number, "title": "Standard",
                            "code": "Standard", "price": shipping,
                            "price_set": money(minor(shipping, currency)),
                            "discounted_price": shipping, "tax_lines": []}],
        "discount_codes": [], "discount_applications": [], "refunds": [],
        "fulfillments": [],
        "line_items": items,
    }
    body.update(extra)
    return body


def shopify_refund(order_id, amount="5.00", currency="USD", refund_id=None, note="Damaged in transit"):
    """A Shopify refunds/create body."""
    refund_id = refund_id or 900000000000 + next(_ids)
    return {
        "id": refund_id, "order_id": order_id,
        "admin_graphql_api_id": f"gid://shopify/Refund/{refund_id}",
        "created_at": "2024-05-02T10:00:00-04:00",
        "processed_at": "2024-05-02T10:00:00-04:00",
        "note": note, "restock": False, "user_id": None,
        "refund_line_items": [], "order_adjustments": [],
        "transactions": [{
            "id": refund_id + 1, "order_id": order_id, "kind": "refund",
            "gateway": "manual", "status": "success", "amount": amount,
            "currency": currency, "parent_id": None, "test": False,
        }],
    }


def woo_order(order_id=None, *, currency="EUR", lines=None, shipping="4.90",
              tax="3.80", discount="0.00", status="processing",
              modified="2024-05-01T10:00:05", email="grace@example.com", **extra):
    """A WooCommerce order.created / order.updated body (REST v3 shape).

    lines: [(unit_price_text, quantity, sku, name)]; `price` is a JSON float
    in real Woo payloads, exactly as here, so an adapter must not use it.
    """
    order_id = order_id or unique_id()
    lines = lines or [("9.99", 2, "MUG-1", "Mug")]
    items, items_total = [], 0
    for i, (price, qty, sku, name) in enumerate(lines):
        line_total = minor(price, currency) * qty
        items_total += line_total
        items.append({
            "id": 100 + i, "name": name, "product_id": 93 + i, "variation_id": 0,
            "quantity": qty, "tax_class": "", "subtotal": fmt(line_total, currency),
            "subtotal_tax": "0.00", "total": fmt(line_total, currency), "total_tax": "0.00",
            "taxes": [], "meta_data": [], "sku": sku,
            "price": float(decimal.Decimal(price)), "parent_name": None,
        })
    total = items_total - minor(discount, currency) + minor(shipping, currency) + minor(tax, currency)
    body = {
        "id": order_id, "parent_id": 0, "status": status, "currency": currency,
        "version": "8.8.3", "prices_include_tax": False,
        "date_created": "2024-05-01T12:00:00", "date_created_gmt": "2024-05-01T10:00:00",
        "date_modified": modified.replace("T10", "T12"), "date_modified_gmt": modified,
        "discount_total": discount, "discount_tax": fmt(0, currency),
        "shipping_total": shipping, "shipping_tax": fmt(0, currency),
        "cart_tax": tax, "total": fmt(total, currency), "total_tax": tax,
        "customer_id": 7, "order_key": f"wc_order_{order_id % 100000}",
        "billing": {"first_name": "Grace", "last_name": "Hopper", "company": "",
                    "address_1": "2 Compiler Road", "address_2": "", "city": "Berlin",
                    "state": "", "postcode": "10115", "country": "DE",
                    "email": email, "phone": ""},
        "shipping": {"first_name": "Grace", "last_name": "Hopper", "company": "",
                     "address_1": "2 Compiler Road", "address_2": "", "city": "Berlin",
                     "state": "", "postcode": "10115", "country": "DE", "phone": ""},
        "payment_method": "bacs", "payment_method_title": "Direct bank transfer",
        "transaction_id": "", "customer_ip_address": "127.0.0.1",
        "customer_user_agent": "pytest", "created_via": "checkout",
        "customer_note": "", "date_completed": None, "date_paid": None,
        "date_paid_gmt": None, "cart_hash": "", "number": str(order_id),
        "meta_data": [], "line_items": items, "tax_lines": [],
        "shipping_lines": [{"id": 200, "method_title": "Flat rate",
                            "method_id": "flat_rate", "instance_id": "1",
                            "total": shipping, "total_tax": fmt(0, currency),
                            "taxes": [], "meta_data": []}],
        "fee_lines": [], "coupon_lines": [], "refunds": [],
    }
    body.update(extra)
    return body


def load_fixture(channel, name):
    """Raw bytes of tests/fixtures/<channel>/<name>, or None when absent."""
    path = FIXTURES / channel / name
    return path.read_bytes() if path.is_file() else None


# ---------------------------------------------------------------------------
# Signatures
# ---------------------------------------------------------------------------

def as_bytes(body):
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body).encode()


def sign_base64(secret, raw):
    return base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode()


def sign_hex(secret, raw):
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


# ---------------------------------------------------------------------------
# Config
# ---------------------------------------------------------------------------

def q(value):
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(str(value))


def merchant_keys(text):
    """YAML text -> extra keys of a merchant block (indented 4 spaces).

    Write it at any indentation (it is dedented first); "" adds nothing.
    """
    text = textwrap.dedent(text).strip("\n")
    return textwrap.indent(text, "    ") + "\n" if text.strip() else ""


def write_config(tmp, *, beta_workflow=BETA_RECORD, max_attempts=3,
                 base_delay="10ms", max_delay="50ms", body_limit="64KiB",
                 durability="full", beta_instructions=1000000,
                 beta_memory="16MiB", extra_server="", db=None,
                 acme_extra="", beta_extra=""):
    """Write beta.lua and ordo.yaml into `tmp`; return the config path.

    acme_extra / beta_extra: YAML added as extra keys of that merchant
    (payments:, notifications:, webhooks:, effects: ...), see merchant_keys.
    """
    tmp = Path(tmp)
    (tmp / "beta.lua").write_text(beta_workflow)
    db = db or tmp / "ordo.db"
    ch = lambda m: "\n".join(  # noqa: E731
        f"      {name}:\n        secret: {q(secret)}" for name, secret in SECRETS[m].items())
    text = f"""\
server:
  listen: "127.0.0.1:0"
  database: {q(db)}
  durability: {durability}
  body_limit: {q(body_limit)}
  scripts: {q(ROOT / "scripts")}
  retry:
    max_attempts: {max_attempts}
    base_delay: {q(base_delay)}
    max_delay: {q(max_delay)}
{extra_server}
merchants:
  - id: acme
    name: "Acme Widgets"
    currency: USD
    timezone: "America/New_York"
    workflow: {q(ROOT / "workflows" / "standard.lua")}
    api_keys: [{q(ACME_KEY)}]
    channels:
{ch("acme")}
{merchant_keys(acme_extra)}  - id: beta
    name: "Beta Goods"
    currency: EUR
    timezone: "Europe/Berlin"
    workflow: {q(tmp / "beta.lua")}
    api_keys: [{q(BETA_KEY)}]
    channels:
{ch("beta")}
    limits:
      instructions: {beta_instructions}
      memory: {q(beta_memory)}
{merchant_keys(beta_extra)}"""
    path = tmp / "ordo.yaml"
    path.write_text(text)
    return path


# ---------------------------------------------------------------------------
# The daemon
# ---------------------------------------------------------------------------

class Ordo:
    """One `ordo serve` process and an HTTP client for it."""

    def __init__(self, tmp, config, db=None, wrap=None):
        self.tmp = Path(tmp)
        self.wrap = list(wrap or [])     # a command the daemon runs under
        self.config = Path(config)
        self.db = Path(db) if db else self.tmp / "ordo.db"
        self.proc = None
        self.port = None
        self.runs = 0
        self.log_path = None
        self.http = requests.Session()

    # -- process -----------------------------------------------------------

    def start(self):
        """Start (or restart, on the same database) and wait for the port."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.runs += 1
        self.log_path = self.tmp / f"ordo-{self.runs}.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            self.wrap + [ORDO_BIN, "serve", "-c", str(self.config),
             "--listen", f"{HOST}:0", "--db", str(self.db)],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            cwd=str(self.tmp))
        self.http.close()
        self.http = requests.Session()
        rec = self.wait_log(lambda r: r.get("msg") == "listening" and r.get("port"),
                            timeout=START_TIMEOUT, what="the 'listening' log line")
        self.port = int(rec["port"])
        self.base = f"http://{HOST}:{self.port}"
        return self

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Signal the daemon and wait; return its exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
                self._log.close()
                pytest.fail(f"ordo did not exit within {timeout}s of {sig!r}\n" + self.logs())
        self._log.close()
        self.http.close()
        return self.proc.returncode

    def kill9(self):
        self.proc.kill()
        self.proc.wait(timeout=5)
        self._log.close()

    # -- logs --------------------------------------------------------------

    def logs(self, run=None):
        """Everything the daemon wrote (all runs, or one), as text."""
        runs = [run] if run else range(1, self.runs + 1)
        out = []
        for r in runs:
            p = self.tmp / f"ordo-{r}.log"
            if p.exists():
                out.append(f"--- ordo run {r} ({p}) ---\n" + p.read_text(errors="replace"))
        return "\n".join(out)

    def records(self):
        """The current run's log as parsed JSON records (non-JSON lines kept as msg)."""
        recs = []
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return recs
        for line in text.splitlines():
            try:
                rec = json.loads(line)
                recs.append(rec if isinstance(rec, dict) else {"msg": line, "raw": True})
            except ValueError:
                recs.append({"msg": line, "raw": True})
        return recs

    def wait_log(self, pred, timeout=POLL_TIMEOUT, what="a log record"):
        deadline = time.monotonic() + timeout
        while True:
            for rec in self.records():
                if pred(rec):
                    return rec
            if self.proc.poll() is not None:
                pytest.fail(f"ordo exited with {self.proc.returncode} while waiting for "
                            f"{what}\n" + self.logs())
            if time.monotonic() >= deadline:
                pytest.fail(f"timed out after {timeout}s waiting for {what}\n" + self.logs())
            time.sleep(0.05)

    # -- HTTP --------------------------------------------------------------

    def request(self, method, path, session=None, **kw):
        """One HTTP request; `session` for use from another thread."""
        kw.setdefault("timeout", HTTP_TIMEOUT)
        return (session or self.http).request(method, self.base + path, **kw)

    def post_webhook(self, merchant, channel, raw, headers, session=None):
        h = {"Content-Type": "application/json", "User-Agent": "ordo-e2e"}
        h.update(headers)
        return self.request("POST", f"/webhooks/{merchant}/{channel}", session=session,
                            data=raw, headers=h)

    def shopify(self, body, *, merchant="acme", topic="orders/create", webhook_id=None,
                secret=None, signature=None, headers=None, drop=(), session=None):
        """Send a signed Shopify delivery; return the response."""
        raw = as_bytes(body)
        secret = secret if secret is not None else SECRETS.get(merchant, {}).get("shopify", "x")
        h = {
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": signature if signature is not None else sign_base64(secret, raw),
            "X-Shopify-Shop-Domain": f"{merchant}.myshopify.com",
            "X-Shopify-Webhook-Id": webhook_id or f"wh-{unique_id()}",
            "X-Shopify-Api-Version": "2024-04",
            "X-Shopify-Triggered-At": "2024-05-01T14:00:00.000Z",
        }
        h.update(headers or {})
        for name in drop:
            h.pop(name, None)
        return self.post_webhook(merchant, "shopify", raw, h, session)

    def woo(self, body, *, merchant="acme", topic="order.created", delivery_id=None,
            secret=None, signature=None, headers=None, drop=(), session=None):
        """Send a signed WooCommerce delivery; return the response."""
        raw = as_bytes(body)
        secret = secret if secret is not None else SECRETS.get(merchant, {}).get("woocommerce", "x")
        resource, _, event = topic.partition(".")
        h = {
            "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-Resource": resource,
            "X-WC-Webhook-Event": event,
            "X-WC-Webhook-Signature": signature if signature is not None else sign_base64(secret, raw),
            "X-WC-Webhook-ID": "12",
            "X-WC-Webhook-Delivery-ID": delivery_id or f"{unique_id()}",
            "X-WC-Webhook-Source": "https://shop.example.com/",
            "User-Agent": "WooCommerce/8.8.3 Hookshot (WordPress/6.5.3)",
        }
        h.update(headers or {})
        for name in drop:
            h.pop(name, None)
        return self.post_webhook(merchant, "woocommerce", raw, h, session)

    def generic(self, body, *, merchant="acme", event="order.created", delivery=None,
                secret=None, signature=None, headers=None, drop=(), session=None):
        """Send a signed generic delivery; return the response."""
        raw = as_bytes(body)
        secret = secret if secret is not None else SECRETS.get(merchant, {}).get("generic", "x")
        h = {
            "X-Ordo-Event": event,
            "X-Ordo-Signature": signature if signature is not None else sign_hex(secret, raw),
            "X-Ordo-Delivery": delivery or f"dlv-{unique_id()}",
        }
        h.update(headers or {})
        for name in drop:
            h.pop(name, None)
        return self.post_webhook(merchant, "generic", raw, h, session)

    def carrier(self, body, *, merchant="beta", event="tracking.updated", secret=None):
        """Send a signed carrier tracking update; return the response."""
        raw = as_bytes(body)
        secret = secret if secret is not None else SECRETS.get(merchant, {}).get("carrier", "x")
        h = {"X-Ordo-Event": event, "X-Ordo-Signature": sign_hex(secret, raw),
             "X-Ordo-Delivery": f"trk-{unique_id()}"}
        return self.post_webhook(merchant, "carrier", raw, h, None)

    def api(self, method, path, merchant="acme", key=None, **kw):
        """Call /api/v1/<path> with the merchant's key (or `key`, "" for none)."""
        key = API_KEYS[merchant] if key is None else key
        headers = kw.pop("headers", {})
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return self.request(method, "/api/v1/" + path.lstrip("/"), headers=headers, **kw)

    def orders(self, merchant="acme", **params):
        r = self.api("GET", "orders", merchant, params=params)
        assert r.status_code == 200, r.text
        return r.json()

    def order(self, order_id, merchant="acme"):
        r = self.api("GET", f"orders/{order_id}", merchant)
        assert r.status_code == 200, r.text
        return r.json()

    def find(self, channel, external_id, merchant="acme"):
        """The merchant's orders with this channel and external id (a list)."""
        return self.orders(merchant, channel=channel, external_id=str(external_id))["orders"]

    def wait_order(self, channel, external_id, merchant="acme", timeout=POLL_TIMEOUT, pred=None):
        """Poll until the order exists (and pred(order) holds); return it in full."""
        def look():
            found = self.find(channel, external_id, merchant)
            if not found:
                return None
            assert len(found) == 1, f"{len(found)} orders for {channel}:{external_id}"
            full = self.order(found[0]["id"], merchant)
            return full if pred is None or pred(full) else None
        return wait_until(look, timeout, what=f"order {channel}:{external_id} of {merchant}")

    def dead_letters(self, merchant="acme"):
        r = self.api("GET", "dead-letters", merchant)
        assert r.status_code == 200, r.text
        return r.json()["dead_letters"]

    def wait_dead_letter(self, merchant, pred=lambda d: True, timeout=POLL_TIMEOUT):
        return wait_until(lambda: next((d for d in self.dead_letters(merchant) if pred(d)), None),
                          timeout, what=f"a dead letter for {merchant}")

    def metrics(self):
        """GET /metrics parsed: {(name, frozenset(label pairs)): value}."""
        r = self.request("GET", "/metrics")
        assert r.status_code == 200, r.text
        return parse_metrics(r.text)


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    out = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        m = SAMPLE.match(line.strip())
        assert m, f"malformed Prometheus line: {line!r}"
        labels = frozenset(LABEL.findall(m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def metric(samples, name, **labels):
    """Sum of every sample of `name` whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


@pytest.fixture
def ordo_factory(tmp_path):
    """Start daemons: ordo_factory(beta_workflow=..., ...) -> a running Ordo."""
    started = []

    def start(edit=None, **options):
        """edit: a function of the config text returning the text to use."""
        d = tmp_path / f"d{len(started)}"
        d.mkdir()
        wrap = options.pop("wrap", None)
        cfg = write_config(d, **options)
        if edit:
            cfg.write_text(edit(cfg.read_text()))
        o = Ordo(d, cfg, db=options.get("db"), wrap=wrap)
        started.append(o)
        return o.start()

    yield start
    problems = []
    for o in started:
        if o.running():
            rc = o.stop()
            if rc != 0:
                problems.append(f"ordo exited {rc} after SIGTERM")
        print(o.logs()[-20000:])
    if problems:
        pytest.fail("; ".join(problems))


@pytest.fixture
def ordo(ordo_factory):
    return ordo_factory()


@pytest.fixture
def gateway():
    """A FakeGateway on 127.0.0.1 (api key "sk_test_123"), stopped after the test."""
    g = FakeGateway(api_key="sk_test_123").start()
    yield g
    g.stop()


@pytest.fixture
def sink():
    """A Sink recording POSTs on 127.0.0.1, stopped after the test."""
    s = Sink().start()
    yield s
    s.stop()


def run_ordo(*args, timeout=20, **kw):
    """Run a one-shot ordo command; return CompletedProcess with text output."""
    return subprocess.run([ORDO_BIN, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, **kw)


def raw_http(port, head, body=b"", timeout=5.0, send_body_after=0.5):
    """Send a request over a raw socket; return (status, response bytes).

    The head goes first; if no answer arrives within `send_body_after`
    seconds the body follows. A server that refuses on Content-Length alone
    answers before the body, and one that reads first answers after it.
    """
    s = socket.create_connection((HOST, port), timeout=timeout)
    try:
        s.sendall(head)
        data = b""
        s.settimeout(send_body_after)
        try:
            data = s.recv(65536)
        except socket.timeout:
            data = b""
        if not data:
            s.settimeout(timeout)
            try:
                s.sendall(body)
            except (BrokenPipeError, ConnectionResetError):
                pass
        s.settimeout(timeout)
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in data and time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    m = re.match(rb"HTTP/1\.[01] (\d{3})", data)
    return (int(m.group(1)) if m else None), data
