"""
Digital delivery against the real daemon: download links (limit, expiry,
ranges, traversal), license keys under concurrency, revocation on refund,
and the API's refusals. The customer's email goes to a sink on 127.0.0.1.
"""
import concurrent.futures
import hashlib
import os
import re
import sqlite3

import requests

from conftest import ROOT, q, run_ordo, shopify_order, shopify_refund, wait_until, write_config

DIGITAL_FLOW = (ROOT / "workflows" / "digital.lua").read_text()
GUIDE = bytes(range(256)) * 400 + b"end of the guide\n"     # 102417 bytes


def start(ordo_factory, tmp_path, sink=None, expiry="7d", limit=5, hooks="", edit=None):
    assets = tmp_path / "assets"
    (assets / "books").mkdir(parents=True, exist_ok=True)
    (assets / "books" / "guide.pdf").write_bytes(GUIDE)
    (tmp_path / "secret.txt").write_text("not for download\n")
    notify = "" if sink is None else f"""\
notifications:
  url: {q(sink.url + "/notify")}
  secret: "n-secret"
  templates:
    digital_delivery:
      subject: "Your downloads for order {{{{order.number}}}}"
      body: "{{{{data.links}}}}|{{{{data.keys}}}}"
"""
    extra = notify + hooks + f"""\
digital:
  assets: {q(str(assets))}
  base_url: "https://dl.example.com/"
  link_expiry: {expiry}
  download_limit: {limit}
  products:
    - {{ sku: GUIDE, file: books/guide.pdf }}
    - {{ sku: APPKEY, license: true }}
"""
    return ordo_factory(beta_workflow=DIGITAL_FLOW, beta_extra=extra, edit=edit)


def api(ordo, method, path, **kw):
    return ordo.api(method, path, "beta", **kw)


def buy(ordo, sku, n=1, order_id=None):
    body = shopify_order(order_id, lines=[("9.00", n, sku, sku)], financial_status="paid")
    assert ordo.shopify(body, merchant="beta").status_code == 200
    return ordo.wait_order("shopify", body["id"], merchant="beta", pred=lambda o: any(
        h["kind"] == "digital" or "license key" in (h.get("message") or "")
        for h in o.get("history", [])))


def grants(ordo, order):
    return api(ordo, "GET", f"orders/{order['id']}/digital").json()


def link_of(sink, order):
    (n,) = sink.wait_for(lambda r: r.path == "/notify" and r.json["order_id"] == order["id"])
    m = re.search(r"https://dl\.example\.com(/d/[0-9a-f]{64})", n.json["body"])
    assert m, n.json
    return m.group(1)


def get(ordo, path, **kw):
    return requests.get(ordo.base + path, timeout=10, **kw)


def test_link_downloads_five_times_then_410_and_resumes_with_range(sink, ordo_factory, tmp_path):
    ordo = start(ordo_factory, tmp_path, sink)
    order = buy(ordo, "GUIDE")
    path = link_of(sink, order)
    r = get(ordo, path)
    assert r.status_code == 200 and r.content == GUIDE
    assert r.headers["Content-Type"] == "application/pdf"
    assert r.headers["Content-Length"] == str(len(GUIDE))
    assert r.headers["Content-Disposition"] == 'attachment; filename="guide.pdf"'
    assert r.headers["Accept-Ranges"] == "bytes"
    # A resumed download: the rest of the file, and it does not use a download.
    r = get(ordo, path, headers={"Range": "bytes=100000-"})
    assert r.status_code == 206 and r.content == GUIDE[100000:]
    assert r.headers["Content-Range"] == f"bytes 100000-{len(GUIDE) - 1}/{len(GUIDE)}"
    r = get(ordo, path, headers={"Range": "bytes=-17"})
    assert r.status_code == 206 and r.content == b"end of the guide\n"
    r = get(ordo, path, headers={"Range": f"bytes={len(GUIDE)}-"})
    assert r.status_code == 416
    assert r.status_code == 416 and r.headers["Content-Range"] == f"bytes */{len(GUIDE)}"
    for _ in range(4):
        assert get(ordo, path).status_code == 200
    r = get(ordo, path)
    assert r.status_code == 410 and "used as many times" in r.text and GUIDE[:64] not in r.content
    (g,) = grants(ordo, order)["grants"]
    assert g["downloads"] == 5 and g["downloads_left"] == 0
    db = sqlite3.connect(ordo.db)
    rows = db.execute("SELECT first_byte, bytes, remote FROM digital_downloads ORDER BY id").fetchall()
    assert rows[0] == (0, len(GUIDE), "127.0.0.1") and rows[1] == (100000, len(GUIDE) - 100000, "127.0.0.1")
    assert len(rows) == 7   # 5 full, 2 resumed; the 416 and the 410 are not downloads
    # The grant keeps only the token's hash (the email's effect row holds
    # the link it sent, as any outbound message does until it is pruned).
    token = path.rsplit("/", 1)[1]
    (h,) = db.execute("SELECT token_hash FROM digital_grants").fetchone()
    assert h == hashlib.sha256(token.encode()).hexdigest()
    # The merchant extends it: two more downloads.
    r = api(ordo, "POST", f"grants/{g['id']}/extend", json={"downloads": 2})
    assert r.status_code == 200 and r.json()["grant"]["downloads_left"] == 2, r.text
    assert get(ordo, path).status_code == 200


def test_download_records_the_client_behind_a_trusted_proxy(sink, ordo_factory, tmp_path):
    """Behind nginx the peer is the proxy: with server.trusted_proxies the
    recorded address is the rightmost X-Forwarded-For hop that is not a
    trusted proxy; a hop that is not an address stops the walk; without the
    setting the header is ignored (anyone can send it)."""
    ordo = start(ordo_factory, tmp_path, sink, limit=100, edit=lambda t: t.replace(
        "server:\n", 'server:\n  trusted_proxies: ["127.0.0.1", "::1"]\n', 1))
    path = link_of(sink, buy(ordo, "GUIDE"))
    for xff in ("203.0.113.9, 198.51.100.7", "198.51.100.8,127.0.0.1", "203.0.113.1, not-an-ip, 127.0.0.1",
                "2001:db8::5"):
        assert get(ordo, path, headers={"X-Forwarded-For": xff}).status_code == 200
    assert get(ordo, path).status_code == 200
    db = sqlite3.connect(ordo.db)
    got = [r[0] for r in db.execute("SELECT remote FROM digital_downloads ORDER BY id")]
    assert got == ["198.51.100.7", "198.51.100.8", "127.0.0.1", "2001:db8::5", "127.0.0.1"], got

    plain = start(ordo_factory, tmp_path / "plain", sink, limit=100)
    buy(plain, "GUIDE")
    order = buy(plain, "GUIDE")          # id 2: only this daemon has one
    path = link_of(sink, order)
    assert get(plain, path, headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 200
    (remote,) = sqlite3.connect(plain.db).execute("SELECT remote FROM digital_downloads").fetchone()
    assert remote == "127.0.0.1", remote


def test_trusted_proxies_must_be_addresses(tmp_path):
    cfg = write_config(tmp_path)
    text = open(cfg).read().replace("server:\n", 'server:\n  trusted_proxies: ["10.0.0.1", "nginx"]\n', 1)
    open(cfg, "w").write(text)
    r = run_ordo("check", "-c", cfg)
    assert r.returncode != 0 and re.search(r":\d+:\d+: server.trusted_proxies\[1\]: expected an IP address, got \"nginx\"",
                                            r.stderr), r.stderr


def test_link_works_before_expiry_and_410_after(sink, ordo_factory, tmp_path):
    ordo = start(ordo_factory, tmp_path, sink, expiry="2s", limit=1000)
    order = buy(ordo, "GUIDE")
    path = link_of(sink, order)
    # A first download that starts mid-file still uses a download, and is
    # recorded from where it started.
    r = get(ordo, path, headers={"Range": "bytes=100-"})
    assert r.status_code == 206 and r.content == GUIDE[100:]
    (g,) = grants(ordo, order)["grants"]
    assert g["downloads"] == 1
    assert sqlite3.connect(ordo.db).execute(
        "SELECT first_byte, bytes FROM digital_downloads").fetchall() == [(100, len(GUIDE) - 100)]
    assert get(ordo, path).status_code == 200
    wait_until(lambda: get(ordo, path).status_code == 410, timeout=10, interval=0.25,
               what="the link to expire")
    r = get(ordo, path)
    assert "expired" in r.text and r.headers["Content-Type"].startswith("text/html")
    r = api(ordo, "POST", f"grants/{g['id']}/extend", json={"expires_at": "2000-01-01T00:00:00Z"})
    assert r.status_code == 422 and "after now" in r.json()["error"]["message"]
    r = api(ordo, "POST", f"grants/{g['id']}/extend", json={"expires_at": "2099-01-01T00:00:00Z"})
    assert r.status_code == 200
    assert get(ordo, path).status_code == 200
    assert api(ordo, "POST", f"grants/{g['id']}/revoke").status_code == 200
    r = get(ordo, path)
    assert r.status_code == 410 and "revoked" in r.text
    r = api(ordo, "POST", f"grants/{g['id']}/revoke")
    assert r.status_code == 409, r.text


def test_nothing_outside_the_asset_folder(sink, ordo_factory, tmp_path):
    ordo = start(ordo_factory, tmp_path, sink)
    path = link_of(sink, buy(ordo, "GUIDE"))
    token = path.rsplit("/", 1)[1]
    tries = [
        "/d/../secret.txt", "/d/%2e%2e/secret.txt", "/d/..%2fsecret.txt",
        f"/d/{token}/../../secret.txt", f"/d/{token}%2f..%2f..%2fsecret.txt",
        "/d/" + "0" * 64, "/d/" + token.upper(), "/d/" + token[:-1], "/d/secret.txt",
        f"/d/{token}?file=../../secret.txt", "/d//etc/passwd", "/d/%00",
    ]
    for t in tries:
        s = requests.Session()
        req = requests.Request("GET", ordo.base + t).prepare()
        req.url = ordo.base + t        # as typed: requests would normalise the dots away
        r = s.send(req, timeout=10)
        assert b"not for download" not in r.content, t
        if "?" not in t:
            assert r.status_code in (404, 400) and GUIDE[:64] not in r.content, (t, r.status_code)
    # The query string is not a way in either: the token alone names the file.
    r = get(ordo, f"{path}?file=../../secret.txt")
    assert r.status_code == 200 and r.content == GUIDE


def test_config_refuses_files_outside_assets(tmp_path):
    import subprocess
    from conftest import ORDO_BIN
    assets = tmp_path / "assets"
    assets.mkdir()
    (tmp_path / "outside.pdf").write_bytes(b"x")
    os.symlink(tmp_path / "outside.pdf", assets / "link.pdf")
    wf = tmp_path / "wf.lua"
    wf.write_text("return {}\n")
    for file, msg in [("../outside.pdf", 'without ".." or a leading "/"'),
                      ("/etc/passwd", 'without ".." or a leading "/"'),
                      ("link.pdf", "leads outside digital.assets"),
                      ("missing.pdf", "cannot open")]:
        cfg = tmp_path / "c.yaml"
        cfg.write_text(f"""\
merchants:
  - id: m
    currency: USD
    workflow: wf.lua
    digital:
      assets: assets
      products:
        - {{ sku: X, file: {q(file)} }}
""")
        r = subprocess.run([ORDO_BIN, "check", "-c", str(cfg)], capture_output=True, text=True)
        assert r.returncode != 0 and msg in r.stderr and "c.yaml:8:" in r.stderr, (file, r.stderr)


def test_32_concurrent_purchases_from_a_pool_of_20(sink, ordo_factory, tmp_path):
    ordo = start(ordo_factory, tmp_path, hooks=f"""\
webhooks:
  - {{ url: {q(sink.url + "/hook")}, secret: "h-secret", topics: [license_pool.empty] }}
""")
    keys = [f"KEY-{i:04d}" for i in range(20)]
    r = api(ordo, "POST", "license-pools/APPKEY/keys", json={"keys": keys + ["KEY-0003"]})
    assert r.status_code == 200, r.text
    assert r.json()["added"] == 20 and r.json()["duplicates"] == ["KEY-0003"]
    r = api(ordo, "POST", "license-pools/APPKEY/keys", json={"keys": ["KEY-0001", "KEY-NEW"]})
    assert r.json()["added"] == 1 and r.json()["duplicates"] == ["KEY-0001"]
    assert r.json()["available"] == 21
    db = sqlite3.connect(ordo.db)
    db.execute("DELETE FROM license_keys WHERE key = 'KEY-NEW'")   # back to 20
    db.commit()
    bodies = [shopify_order(lines=[("9.00", 1, "APPKEY", "App")], financial_status="paid")
              for _ in range(32)]
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(lambda b: ordo.shopify(b, merchant="beta", session=requests.Session())
                              .status_code, bodies))
    assert codes == [200] * 32
    orders = [ordo.wait_order("shopify", b["id"], merchant="beta",
                              pred=lambda o: any(h["kind"] == "digital" or "No license key" in
                                                 (h.get("message") or "") for h in o["history"]))
              for b in bodies]
    handed = [k["key"] for o in orders for k in grants(ordo, o)["keys"]]
    assert len(handed) == 20 and sorted(handed) == sorted(keys)
    empty = [o for o in orders if "license-pool-empty" in o["tags"]]
    assert len(empty) == 12
    assert all("license_pool_empty" in " ".join(h.get("message") or "" for h in o["history"])
               for o in empty)
    # The merchant heard of each shortfall once.
    alerts = sink.wait_for(lambda r: r.path == "/hook", count=12)
    assert sorted(a.json["data"]["order_id"] for a in alerts) == sorted(o["id"] for o in empty)
    assert all(a.verify("h-secret") and a.json["data"]["skus"] == ["APPKEY"] for a in alerts)
    pool_state = api(ordo, "GET", "license-pools/APPKEY").json()
    assert pool_state == {"sku": "APPKEY", "available": 0, "assigned": 20, "revoked": 0}


def test_refund_revokes_links_and_keys(sink, ordo_factory, tmp_path):
    ordo = start(ordo_factory, tmp_path, sink)
    api(ordo, "POST", "license-pools/APPKEY/keys", json={"keys": ["K-1", "K-2"]})
    body = shopify_order(lines=[("9.00", 1, "GUIDE", "Guide"), ("5.00", 2, "APPKEY", "App")],
                         financial_status="paid")
    assert ordo.shopify(body, merchant="beta").status_code == 200
    order = ordo.wait_order("shopify", body["id"], merchant="beta",
                            pred=lambda o: any(h["kind"] == "digital" for h in o["history"]))
    path = link_of(sink, order)
    (n,) = sink.wait_for(lambda r: r.path == "/notify")
    assert "K-1" in n.json["body"] and "K-2" in n.json["body"]
    assert get(ordo, path).status_code == 200
    assert ordo.shopify(shopify_refund(body["id"]), merchant="beta",
                        topic="refunds/create").status_code == 200
    wait_until(lambda: get(ordo, path).status_code == 410, what="the link revoked")
    d = grants(ordo, order)
    assert all(k["revoked_at"] for k in d["keys"]) and d["grants"][0]["revoked_at"]
    assert api(ordo, "GET", "license-pools/APPKEY").json()["revoked"] == 2


def test_api_refusals_change_nothing(ordo_factory, tmp_path):
    ordo = start(ordo_factory, tmp_path)
    cases = [
        ("POST", "license-pools/GUIDE/keys", {"keys": ["A"]}, 404, "license: true"),
        ("POST", "license-pools/NOPE/keys", {"keys": ["A"]}, 404, "no license pool"),
        ("POST", "license-pools/APPKEY/keys", {"keys": []}, 422, "1 to 100000"),
        ("POST", "license-pools/APPKEY/keys", {"keys": ["OK", 7]}, 422, "keys[1]"),
        ("POST", "license-pools/APPKEY/keys", {"keys": ["OK", "bad\nkey"]}, 422, "keys[1]"),
        ("POST", "license-pools/APPKEY/keys", {"keys": "A"}, 422, "list"),
        ("GET", "grants/999", None, 404, "no download grant 999"),
        ("POST", "grants/999/revoke", {}, 404, "not found"),
        ("POST", "grants/999/extend", {"downloads": 1}, 404, "not found"),
        ("POST", "grants/1/teleport", {}, 404, "revoke, extend"),
        ("POST", "grants/abc/revoke", {}, 404, "no such download grant"),
        ("GET", "orders/999/digital", None, 404, "no order"),
    ]
    for method, path, body, status, msg in cases:
        r = api(ordo, method, path, json=body) if body is not None else api(ordo, method, path)
        assert r.status_code == status and msg in r.json()["error"]["message"], (path, r.text)
    r = api(ordo, "POST", "license-pools/APPKEY/keys", data=b"{not json")
    assert r.status_code == 400
    assert api(ordo, "GET", "license-pools/APPKEY").json()["available"] == 0
    r = requests.post(ordo.base + "/d/" + "0" * 64, timeout=10)
    assert r.status_code == 405


def test_an_edit_delivers_only_what_it_adds(gateway, sink, ordo_factory, tmp_path):
    """A guide and a license key bought through our gateway, then a second
    key added by an edit: the difference is charged, and once it is captured
    one more key goes out; the guide's link and the first key are not
    issued again."""
    pay = f"""\
payments: {{gateway: stripe, base_url: {q(gateway.url)}, api_key: "sk_test_123"}}
effects: {{timeout: 2s, max_attempts: 4, base_delay: 10ms, max_delay: 50ms}}
"""
    ordo = start(ordo_factory, tmp_path, sink, hooks=pay)
    assert api(ordo, "POST", "license-pools/APPKEY/keys",
               json={"keys": ["K-1", "K-2", "K-3"]}).status_code == 200
    body = shopify_order(lines=[("9.00", 1, "GUIDE", "GUIDE"), ("5.00", 1, "APPKEY", "App key")],
                         shipping="0.00", financial_status="pending")
    assert ordo.shopify(body, merchant="beta").status_code == 200
    order = ordo.wait_order("shopify", body["id"], merchant="beta",
                            pred=lambda o: o["payment_status"] == "paid" and len(grants(ordo, o)["keys"]) == 1)
    link_of(sink, order)
    r = api(ordo, "POST", f"orders/{order['id']}/edits", json={"change": [{"line": 2, "quantity": 2}]})
    assert r.status_code == 202, r.text
    wait_until(lambda: len(grants(ordo, order)["keys"]) == 2, what="the added key delivered")
    mails = wait_until(lambda: (lambda m: m if len(m) == 2 else None)(
        [p for p in sink.posts("/notify") if p.json["order_id"] == order["id"]]), what="two emails")
    d = grants(ordo, order)
    assert len(d["grants"]) == 1 and len(d["keys"]) == 2, d   # not a second link, not 3 keys
    assert gateway.charges_for(order["id"]) == [1400, 500]
    assert "K-2" in mails[1].json["body"] and "K-1" not in mails[1].json["body"], mails[1].json
    assert "/d/" not in mails[1].json["body"], mails[1].json
    o = ordo.order(order["id"], "beta")
    assert o["total"] == 1900 and o["payment_status"] == "paid", o
    assert ordo.dead_letters("beta") == []
