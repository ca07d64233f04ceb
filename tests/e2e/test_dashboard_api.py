"""
The dashboard's server side: the files built into the binary and their
headers, sign-in sessions (cookie, CSRF token, sign-out, a wrong key), and
the API additions the pages use (order search, counts, an order's events).
The pages themselves are tested in Chromium (tests/browser).
"""
import hashlib
import re

import requests

from conftest import ACME_KEY, BETA_KEY, HTTP_TIMEOUT, shopify_order, wait_until


def sign_in(ordo, key=ACME_KEY):
    """A fresh requests.Session signed in to the dashboard; (session, body)."""
    http = requests.Session()
    r = http.post(ordo.base + "/api/v1/session", json={"api_key": key}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 201, r.text
    return http, r


def test_static_files_carry_strict_headers(ordo):
    r = ordo.request("GET", "/")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "http" not in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Cache-Control"] == "no-cache"
    # No script in the page itself, and nothing loaded from another host.
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", r.text), r.text
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", r.text), r.text
    # Client-side routes get the same page; files have their own types.
    assert ordo.request("GET", "/app/orders/42").text == r.text
    js = ordo.request("GET", "/static/app.js")
    assert js.status_code == 200
    assert js.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert "http://" not in js.text and "https://" not in js.text
    assert ordo.request("GET", "/static/app.css").headers["Content-Type"].startswith("text/css")
    # Revalidation: the same bytes answer 304.
    again = ordo.request("GET", "/static/app.js", headers={"If-None-Match": js.headers["ETag"]})
    assert again.status_code == 304 and again.content == b""
    assert ordo.request("GET", "/static/nope.js").status_code == 404
    assert ordo.request("GET", "/static/../ordo.db").status_code == 404
    assert ordo.request("POST", "/").status_code == 405


def test_sign_in_sets_a_strict_cookie_and_a_wrong_key_sets_none(ordo):
    bad = requests.post(ordo.base + "/api/v1/session", json={"api_key": "not-a-key-at-all-000"},
                        timeout=HTTP_TIMEOUT)
    assert bad.status_code == 401, bad.text
    assert bad.json()["error"]["code"] == "unauthorized"
    assert "Set-Cookie" not in bad.headers
    form = requests.post(ordo.base + "/api/v1/session", data={"api_key": ACME_KEY},
                         timeout=HTTP_TIMEOUT)
    assert form.status_code == 400 and "Set-Cookie" not in form.headers

    http, r = sign_in(ordo)
    cookie = r.headers["Set-Cookie"]
    assert re.match(r"ordo_session=[0-9a-f]{64}; ", cookie), cookie
    for attr in ("HttpOnly", "SameSite=Strict", "Path=/"):
        assert attr in cookie, cookie
    body = r.json()
    assert body["merchant"] == "acme" and body["currency"] == "USD"
    assert re.fullmatch(r"[0-9a-f]{64}", body["csrf_token"])
    assert body["csrf_token"] not in cookie
    assert r.headers["Cache-Control"] == "no-store"
    # Only a digest of the token is stored.
    token = http.cookies["ordo_session"]
    stored = b"".join(p.read_bytes() for p in ordo.db.parent.glob(ordo.db.name + "*"))
    assert b"CREATE TABLE sessions" in stored
    assert token.encode() not in stored
    assert hashlib.sha256(token.encode()).hexdigest().encode() in stored

    # The cookie alone reads the API; the session tells the CSRF token again.
    me = http.get(ordo.base + "/api/v1/session", timeout=HTTP_TIMEOUT)
    assert me.status_code == 200 and me.json()["csrf_token"] == body["csrf_token"]
    assert http.get(ordo.base + "/api/v1/orders", timeout=HTTP_TIMEOUT).status_code == 200

    # Sign out: the cookie stops working.
    r = http.delete(ordo.base + "/api/v1/session", headers={"X-CSRF-Token": body["csrf_token"]},
                    timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, r.text
    assert "Max-Age=0" in r.headers["Set-Cookie"]
    r = requests.get(ordo.base + "/api/v1/orders", cookies={"ordo_session": token},
                     timeout=HTTP_TIMEOUT)
    assert r.status_code == 401


def test_changes_with_the_cookie_need_the_csrf_token(ordo_factory):
    ordo = ordo_factory(beta_workflow="return { order_created = function(ev) error('no') end }",
                        max_attempts=1)
    body = shopify_order()
    assert ordo.shopify(body, merchant="beta").status_code == 200
    dl = ordo.wait_dead_letter("beta")
    http, r = sign_in(ordo, BETA_KEY)
    csrf = r.json()["csrf_token"]
    url = f"{ordo.base}/api/v1/dead-letters/{dl['id']}/retry"
    for headers in ({}, {"X-CSRF-Token": ""}, {"X-CSRF-Token": csrf[:-1] + "0" if csrf[-1] != "0"
                                               else csrf[:-1] + "1"}):
        r = http.post(url, headers=headers, timeout=HTTP_TIMEOUT)
        assert r.status_code == 403, (headers, r.text)
        assert r.json()["error"]["code"] == "csrf_failed"
    assert any(d["id"] == dl["id"] for d in ordo.dead_letters("beta"))   # nothing changed
    # Another merchant's session: its CSRF token does not help, and the
    # dead letter is not found.
    acme, ra = sign_in(ordo, ACME_KEY)
    r = acme.post(url, headers={"X-CSRF-Token": csrf}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 403
    r = acme.post(url, headers={"X-CSRF-Token": ra.json()["csrf_token"]}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 404
    r = http.post(url, headers={"X-CSRF-Token": csrf}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 202, r.text
    # An API key needs no CSRF token (no browser involved).
    assert ordo.api("POST", f"dead-letters/{dl['id']}/retry", "beta").status_code in (202, 404)


def test_a_cookie_is_not_used_when_an_authorization_header_is_sent(ordo):
    http, _ = sign_in(ordo)
    r = http.get(ordo.base + "/api/v1/orders", headers={"Authorization": "Bearer wrong-key-xxxx"},
                 timeout=HTTP_TIMEOUT)
    assert r.status_code == 401
    r = requests.get(ordo.base + "/api/v1/orders", cookies={"ordo_session": "0" * 64},
                     timeout=HTTP_TIMEOUT)
    assert r.status_code == 401


def test_order_search_counts_and_events(ordo):
    a = shopify_order(email="Ada@Example.com", lines=[("10.00", 1, "SKU-BLUE", "Blue")])
    b = shopify_order(email="bob@example.com", number=1002, lines=[("5.00", 2, "SKU-RED", "Red")])
    for body in (a, b):
        assert ordo.shopify(body).status_code == 200
    oa = ordo.wait_order("shopify", a["id"])
    ob = ordo.wait_order("shopify", b["id"])

    def ids(**params):
        return [o["id"] for o in ordo.orders(**params)["orders"]]

    assert ids(email="ada@example.com") == [oa["id"]]
    assert ids(sku="SKU-RED") == [ob["id"]]
    assert ids(q=str(a["id"])) == [oa["id"]]
    assert ids(q="bob@example.com") == [ob["id"]]
    assert ids(q="SKU-BLUE") == [oa["id"]]
    assert ids(q="ADA@example.COM") == [oa["id"]]
    assert ids(q="SKU-BLUE", status="canceled") == []
    assert ids(q="SKU-BLUE", status=oa["status"]) == [oa["id"]]
    assert ids(q="nothing-like-it") == []
    assert ordo.orders(merchant="beta", q=str(a["id"]))["orders"] == []

    r = ordo.api("GET", "orders/summary")
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["total"] == 2
    assert sum(s["status"].values()) == 2
    assert s["status"].get(oa["status"]) >= 1
    assert ordo.api("GET", "orders/summary", "beta").json()["total"] == 0

    # The order's events: the delivery that created it, handled.
    ev = oa["events"]
    assert ev and ev[0]["topic"] == "orders/create" and ev[0]["status"] == "done", ev
    assert ev[0]["channel"] == "shopify" and ev[0]["event"] == "order_created"
    created = [h for h in oa["history"] if h["kind"] == "created"][0]
    assert created["event_id"] == ev[0]["id"]
    # An update that fails for this order is on its timeline too.
    upd = dict(a, note="late")
    r = ordo.shopify(upd, topic="orders/updated")
    assert r.status_code == 200
    full = wait_until(lambda: (o := ordo.order(oa["id"])) and len(o["events"]) >= 2 and o,
                      what="the update on the order's events")
    assert full["events"][-1]["topic"] == "orders/updated"
