"""
Operating ordo: /healthz, /metrics, `ordo check`, `ordo version`, help.
"""
import os
import re

import pytest

from conftest import ORDO_BIN, metric, run_ordo, shopify_order, wait_until, write_config


def test_healthz(ordo):
    r = ordo.request("GET", "/healthz")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "ok"
    assert r.headers["Content-Type"].startswith("application/json")


def test_metrics_counters_move(ordo):
    before = ordo.metrics()
    r = ordo.request("GET", "/metrics")
    assert r.headers["Content-Type"].startswith("text/plain"), r.headers
    assert "ordo_inbox_depth" in r.text

    bodies = [shopify_order() for _ in range(2)]
    for i, b in enumerate(bodies):
        assert ordo.shopify(b, webhook_id=f"m-{i}").status_code == 200
    assert ordo.shopify(bodies[0], webhook_id="m-0").json()["duplicate"] is True
    assert ordo.shopify(bodies[0], secret="bad").status_code == 401
    for b in bodies:
        ordo.wait_order("shopify", b["id"])

    def moved():
        after = ordo.metrics()
        d = lambda name, **l: metric(after, name, **l) - metric(before, name, **l)  # noqa: E731
        ok = (d("ordo_webhooks_total", channel="shopify", outcome="accepted") == 2 and
              d("ordo_webhooks_total", channel="shopify", outcome="duplicate") == 1 and
              d("ordo_webhooks_total", channel="shopify", outcome="invalid_signature") == 1 and
              d("ordo_events_processed_total") >= 2 and
              d("ordo_handler_seconds_count") >= 2)
        return after if ok else None
    after = wait_until(moved, timeout=5, what="the counters to move")
    assert metric(after, "ordo_events_failed_total") == metric(before, "ordo_events_failed_total")
    assert metric(after, "ordo_handler_seconds_sum") > 0
    buckets = [(dict(ls), v) for (n, ls), v in after.items() if n == "ordo_handler_seconds_bucket"]
    assert any(b.get("le") == "+Inf" for b, _ in buckets), buckets
    # Histogram buckets are cumulative.
    inf = sum(v for b, v in buckets if b.get("le") == "+Inf")
    assert inf == metric(after, "ordo_handler_seconds_count")
    assert ("ordo_inbox_depth" in {n for n, _ in after})
    wait_until(lambda: metric(ordo.metrics(), "ordo_inbox_depth") == 0, timeout=5,
               what="an empty inbox")


def test_version_and_help():
    r = run_ordo("version")
    assert r.returncode == 0, r.stderr
    assert re.search(r"\d+\.\d+", r.stdout + r.stderr), (r.stdout, r.stderr)
    for args in (["--help"], ["serve", "--help"], ["check", "--help"]):
        r = run_ordo(*args)
        assert r.returncode == 0, (args, r.stderr)
        assert "usage" in (r.stdout + r.stderr).lower(), (args, r.stdout, r.stderr)
    r = run_ordo("no-such-command")
    assert r.returncode != 0


def test_check_accepts_the_test_config(tmp_path):
    cfg = write_config(tmp_path)
    r = run_ordo("check", "-c", cfg)
    assert r.returncode == 0, r.stderr


def _broken(tmp_path, edit):
    cfg = write_config(tmp_path)
    text = edit(cfg.read_text())
    cfg.write_text(text)
    return cfg, text


def _line_of(text, needle):
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


FILE_LINE_COL = r"{path}:(\d+):(\d+): \S"


CASES = [
    # name, edit, needle for the expected line (None: any line), words in the message
    ("unknown key", lambda t: t.replace("server:\n", "server:\n  bogus_key: 1\n", 1),
     "bogus_key", "bogus_key"),
    ("bad durability", lambda t: t.replace("durability: full", "durability: sometimes"),
     "durability: sometimes", "durability"),
    ("bad currency", lambda t: t.replace("currency: USD", "currency: XYZ"),
     "currency: XYZ", "XYZ"),
    ("short api key", lambda t: t.replace('api_keys: ["acme-api-key-0123456789abcdef"]',
                                         'api_keys: ["short"]'),
     "short", "api"),
    ("duplicate merchant", lambda t: t.replace("- id: beta", "- id: acme"),
     "- id: acme\n", "acme"),
    ("bad body limit", lambda t: t.replace('body_limit: "64KiB"', 'body_limit: "lots"'),
     "lots", "body_limit"),
    ("yaml syntax", lambda t: t.replace("    name: \"Beta Goods\"", "    name: [\"Beta Goods\""),
     None, None),
    ("missing workflow", lambda t: t.replace("beta.lua", "nope.lua"),
     "nope.lua", "nope.lua"),
    ("missing env var", lambda t: t.replace('"beta-shopify-secret-0004"',
                                           '"${ORDO_E2E_UNSET_VARIABLE}"'),
     "ORDO_E2E_UNSET_VARIABLE", "ORDO_E2E_UNSET_VARIABLE"),
]


@pytest.mark.parametrize("name,edit,needle,words", CASES, ids=[c[0] for c in CASES])
def test_check_reports_file_line_column(tmp_path, name, edit, needle, words):
    cfg, text = _broken(tmp_path, edit)
    env = {k: v for k, v in os.environ.items() if k != "ORDO_E2E_UNSET_VARIABLE"}
    r = run_ordo("check", "-c", cfg, env=env)
    assert r.returncode != 0, f"{name}: check passed\n{r.stdout}{r.stderr}"
    m = re.search(FILE_LINE_COL.format(path=re.escape(str(cfg))), r.stderr)
    assert m, f"{name}: no file:line:column in {r.stderr!r}"
    if needle == "- id: acme\n":
        # The second "acme": the duplicate, not the first.
        lines = [i for i, ln in enumerate(text.splitlines(), 1) if ln.strip() == "- id: acme"]
        assert int(m.group(1)) == lines[1], (r.stderr, lines)
    elif needle:
        assert int(m.group(1)) == _line_of(text, needle), (r.stderr, text)
    assert int(m.group(2)) >= 1
    if words:
        assert words.lower() in r.stderr.lower(), r.stderr
    # serve refuses the same config with the same message, and does not start.
    s = run_ordo("serve", "-c", cfg, "--listen", "127.0.0.1:0", "--db", tmp_path / "x.db",
                 env=env, timeout=10)
    assert s.returncode != 0
    assert re.search(FILE_LINE_COL.format(path=re.escape(str(cfg))), s.stderr), s.stderr


def test_check_compiles_workflows(tmp_path):
    cfg = write_config(tmp_path, beta_workflow="return {\n  order_created = function(ev)\n    x = = 1\n  end,\n}\n")
    r = run_ordo("check", "-c", cfg)
    assert r.returncode != 0, r.stdout + r.stderr
    assert re.search(r"beta\.lua:3\b", r.stderr), r.stderr


def test_env_var_secret_expands(ordo_factory, monkeypatch):
    monkeypatch.setenv("ORDO_E2E_SECRET", "from-env-secret-1")
    ordo = ordo_factory(edit=lambda t: t.replace('"beta-shopify-secret-0004"',
                                                 '"${ORDO_E2E_SECRET}"'))
    body = shopify_order()
    assert ordo.shopify(body, merchant="beta", secret="beta-shopify-secret-0004").status_code == 401
    r = ordo.shopify(body, merchant="beta", secret="from-env-secret-1")
    assert r.status_code == 200, r.text
    ordo.wait_order("shopify", body["id"], merchant="beta")


def test_binary_exists():
    assert os.access(ORDO_BIN, os.X_OK), f"{ORDO_BIN} is missing; run make build/ordo"


SERVICE = os.path.join(os.path.dirname(__file__), "..", "..", "config", "ordo.service")


@pytest.mark.skipif(not os.path.exists("/usr/bin/systemd-analyze"), reason="systemd-analyze is not installed")
def test_systemd_unit_verifies(tmp_path):
    """config/ordo.service parses without a warning (systemd-analyze exits 0
    even on unknown keys, so any output is a failure) and its ExecStart and
    ExecStartPre name this build's commands."""
    import subprocess
    text = open(SERVICE).read()
    assert "ExecStart=/opt/ordo/build/ordo serve -c /etc/ordo/ordo.yaml" in text
    assert "ExecStartPre=/opt/ordo/build/ordo check -c /etc/ordo/ordo.yaml" in text
    assert "ExecReload=/bin/kill -HUP $MAINPID" in text
    unit = tmp_path / "ordo.service"
    unit.write_text(text.replace("/opt/ordo/build/ordo", os.path.abspath(ORDO_BIN)))
    r = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    out = (r.stdout + r.stderr).strip()
    assert r.returncode == 0 and out == "", out
    # The verb the unit runs exists and takes the flags the unit gives it.
    for verb in ("serve", "check"):
        h = run_ordo(verb, "--help")
        assert h.returncode == 0 and "-c" in h.stdout, h.stdout + h.stderr


def test_backup_while_webhooks_flow(ordo_factory, tmp_path):
    """`ordo backup` copies a live database: the copy checks out, holds a
    consistent prefix of what was acknowledged (every order with its lines),
    has no -wal to lose, refuses to overwrite, and a daemon serves it."""
    import sqlite3
    import threading
    ordo = ordo_factory()
    acked, stop = [], threading.Event()

    def send():
        while not stop.is_set() and len(acked) < 150:
            body = shopify_order(lines=[("5.00", 1, "MUG", "Mug"), ("7.00", 2, "TEA", "Tea")])
            if ordo.shopify(body).status_code == 200:
                acked.append(str(body["id"]))

    t = threading.Thread(target=send)
    t.start()
    try:
        wait_until(lambda: len(acked) >= 20, what="20 acknowledged orders")
        out = tmp_path / "copy.db"
        r = run_ordo("backup", "-c", str(ordo.config), "--db", str(ordo.db), str(out), timeout=60)
        n_at_backup = len(acked)
    finally:
        stop.set()
        t.join(timeout=30)
    assert r.returncode == 0, r.stderr
    assert "backed up" in r.stdout
    assert not os.path.exists(str(out) + "-wal")
    db = sqlite3.connect(out)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert db.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    inbox = db.execute("SELECT count(*) FROM inbox").fetchone()[0]
    assert 20 <= inbox <= n_at_backup + 1, (inbox, n_at_backup)
    # Every copied order has both its lines: no transaction was split.
    torn = db.execute("SELECT count(*) FROM orders o WHERE"
                      " (SELECT count(*) FROM order_lines l WHERE l.order_id = o.id) != 2").fetchone()[0]
    assert torn == 0
    n_orders = db.execute("SELECT count(*) FROM orders").fetchone()[0]
    db.close()
    # The file exists now: a second backup to it is refused and leaves it.
    size = os.path.getsize(out)
    r = run_ordo("backup", "--db", str(ordo.db), str(out))
    assert r.returncode == 1 and "already exists" in r.stderr, r.stderr
    assert os.path.getsize(out) == size
    assert not [p for p in os.listdir(tmp_path) if ".tmp-" in p]
    # A missing source is a clear error, not an empty copy.
    r = run_ordo("backup", "--db", str(tmp_path / "nope.db"), str(tmp_path / "x.db"))
    assert r.returncode == 1 and "cannot open database" in r.stderr, r.stderr
    assert not os.path.exists(tmp_path / "x.db")
    # Restored: a daemon on the copy serves the orders it holds, and
    # handles the events that were still waiting when it was taken.
    ordo.stop()
    ordo.db = out
    ordo.start()
    assert len(ordo.orders(limit=200)["orders"]) >= n_orders
    wait_until(lambda: len(ordo.orders(limit=200)["orders"]) == inbox, what="every copied event handled")
