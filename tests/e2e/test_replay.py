"""
`ordo replay`: an order's recorded events run again, on scratch copies of
the database, against the current workflow and an edited one; the
difference is printed, and the original database is not changed.

The edit is workflows/standard.lua without its capture step: the replay
must show the capture effect (and what follows from it) missing.
"""
import hashlib
import sqlite3

from conftest import ROOT, q, run_ordo, shopify_order

API_KEY = "sk_test_123"
FAST = "{timeout: 2s, max_attempts: 4, base_delay: 10ms, max_delay: 50ms}"
STANDARD = ROOT / "workflows" / "standard.lua"


def config(gateway, sink):
    return f"""\
payments:
  gateway: stripe
  base_url: {q(gateway.url)}
  api_key: {q(API_KEY)}
notifications:
  url: {q(sink.url + "/notify")}
  secret: "notify-secret"
  templates:
    order_confirmation:
      subject: "Order {{{{order.number}}}} confirmed"
      body: "Thanks {{{{order.customer.first_name}}}}: {{{{data.total}}}} {{{{order.currency}}}}."
effects: {FAST}
"""


def without_capture(tmp_path):
    text = STANDARD.read_text()
    step = "  if CAPTURE == \"immediately\" then\n    payments.capture(ev.order)\n  end\n"
    assert step in text
    path = tmp_path / "standard_no_capture.lua"
    path.write_text(text.replace(step, ""))
    return path


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def paid_order(ordo, gateway):
    body = shopify_order(financial_status="pending", email="ada@example.com")
    assert ordo.shopify(body).status_code == 200
    return ordo.wait_order("shopify", body["id"], merchant="acme",
                           pred=lambda o: o["payment_status"] == "paid"
                           and any("Payment captured" in (h["message"] or "") for h in o["history"]))


def test_replay_shows_the_missing_capture(gateway, sink, ordo_factory, tmp_path):
    ordo = ordo_factory(acme_extra=config(gateway, sink))
    first = paid_order(ordo, gateway)
    second = paid_order(ordo, gateway)   # a newer order: the replay must not mind it
    assert second["id"] > first["id"]
    assert ordo.stop() == 0
    before = digest(ordo.db)
    edited = without_capture(tmp_path)

    r = run_ordo("replay", "-c", ordo.config, "--db", ordo.db, "--merchant", "acme",
                 "--order", first["id"], "--workflow", edited)
    assert r.returncode == 1, r.stdout + r.stderr
    out = r.stdout
    removed = [l[2:] for l in out.splitlines() if l.startswith("- ")]
    added = [l[2:] for l in out.splitlines() if l.startswith("+ ")]
    total = first["total"]
    # The capture effect, with its amount, is what the edit loses...
    assert any(l.startswith(f"effect: payment capture {total} USD ({gateway.url}/")
               for l in removed), out
    assert not any("capture" in l and l.startswith("effect:") for l in added), out
    # ... and so the order stays authorized instead of paid.
    assert f"order: status placed, payment paid, fulfillment unfulfilled, total {total} USD" in removed
    assert f"order: status placed, payment authorized, fulfillment unfulfilled, total {total} USD" in added
    # Both runs authorized and confirmed: those lines are common.
    common = [l[2:] for l in out.splitlines() if l.startswith("  ")]
    assert any(l.startswith(f"effect: payment authorize {total} USD") for l in common), out
    assert "notification: order_confirmation to ada@example.com" in common, out
    # The recorded capture answer finds no capture in the new run.
    assert any(l.startswith("event payment_result as payment_captured: handled") for l in removed), out
    assert any(l.startswith("event payment_result: failed") for l in added), out

    # The original database is unchanged, byte for byte.
    assert digest(ordo.db) == before
    db = sqlite3.connect(ordo.db)
    try:
        assert db.execute("SELECT payment_status FROM orders WHERE id = ?",
                          (first["id"],)).fetchone() == ("paid",)
    finally:
        db.close()


def test_replay_of_the_same_workflow_shows_no_difference(gateway, sink, ordo_factory):
    ordo = ordo_factory(acme_extra=config(gateway, sink))
    order = paid_order(ordo, gateway)
    # Against the live database of a running daemon: read, never written.
    charges = gateway.charges_for(order["id"])
    live = run_ordo("replay", "-c", ordo.config, "--db", ordo.db, "--merchant", "acme",
                    "--order", order["id"], "--workflow", STANDARD)
    assert live.returncode == 0, live.stdout + live.stderr
    assert ordo.order(order["id"])["history"] == order["history"]
    assert gateway.charges_for(order["id"]) == charges      # no effect was sent
    assert ordo.stop() == 0
    before = digest(ordo.db)
    r = run_ordo("replay", "-c", ordo.config, "--db", ordo.db, "--merchant", "acme",
                 "--order", order["external_id"], "--workflow", STANDARD)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.rstrip().endswith("no difference"), r.stdout
    assert "- " not in r.stdout and "+ " not in r.stdout
    assert f"effect: payment capture {order['total']} USD" in r.stdout
    assert digest(ordo.db) == before


def test_replay_usage_and_unknown_order(ordo):
    r = run_ordo("replay", "-c", ordo.config, "--merchant", "acme")
    assert r.returncode == 2 and "usage: ordo replay" in r.stderr
    r = run_ordo("replay", "-c", ordo.config, "--db", ordo.db, "--merchant", "acme",
                 "--order", "999999", "--workflow", STANDARD)
    assert r.returncode == 2 and 'no order "999999"' in r.stderr, r.stderr
    r = run_ordo("replay", "-c", ordo.config, "--db", ordo.db, "--merchant", "nobody",
                 "--order", "1", "--workflow", STANDARD)
    assert r.returncode == 2 and 'no merchant "nobody"' in r.stderr


def test_an_interrupted_replay_leaves_no_copy_behind(gateway, sink, ordo_factory, tmp_path):
    """The scratch copies hold the merchant's customers: Ctrl-C while a
    copy exists removes it (and its -wal/-shm) before the process dies of
    the signal."""
    import os
    import signal
    import subprocess
    import time
    from conftest import ORDO_BIN
    ordo = ordo_factory(acme_extra=config(gateway, sink))
    first = paid_order(ordo, gateway)
    assert ordo.stop() == 0
    # Make the copy slow enough to be caught: 200 MB of filler in the file.
    con = sqlite3.connect(ordo.db)
    con.execute("CREATE TABLE filler (b BLOB)")
    con.executemany("INSERT INTO filler VALUES (zeroblob(1048576))", [()] * 200)
    con.commit()
    con.close()
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    p = subprocess.Popen([ORDO_BIN, "replay", "-c", str(ordo.config), "--db", str(ordo.db),
                          "--merchant", "acme", "--order", str(first["id"]),
                          "--workflow", str(without_capture(tmp_path))],
                         env=dict(os.environ, TMPDIR=str(scratch)),
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while not os.listdir(scratch) and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    seen = os.listdir(scratch)
    p.send_signal(signal.SIGINT)
    rc = p.wait(timeout=30)
    assert seen, "the replay never made a copy (or finished first)"
    assert rc == -signal.SIGINT, (rc, p.stderr.read())
    assert os.listdir(scratch) == []
