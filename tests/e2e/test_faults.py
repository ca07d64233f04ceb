"""
Disk faults with a real full disk: the database lives on a small tmpfs
that the test fills to the last block, so SQLite's writes fail with
SQLITE_FULL exactly as they would on a full volume.

What must hold: a delivery that cannot be stored is answered 503 with
Retry-After (never 200), nothing acknowledged before the fault is lost,
/healthz says the database cannot write, and once space is freed the
daemon takes deliveries again on its own, without a restart, and exits 0
on SIGTERM.

Mounting a tmpfs needs root (or CAP_SYS_ADMIN); elsewhere these tests are
skipped. Every loop is bounded in time or count.
"""
import errno
import os
import sqlite3
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from conftest import q, shopify_order, unique_id, wait_until

DISK_SIZE = "8m"
PAD = "x" * 48 * 1024          # a ~50 KB delivery fills a full disk quickly


@pytest.fixture
def small_disk(tmp_path):
    """A fresh tmpfs of DISK_SIZE mounted under tmp_path; unmounted after."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_SIZE},mode=0755",
                        "tmpfs", str(mnt)], capture_output=True, text=True, timeout=10)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    yield mnt
    r = subprocess.run(["umount", str(mnt)], capture_output=True, text=True, timeout=10)
    if r.returncode != 0:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True, timeout=10)


def fill(disk):
    """Write a filler file until the file system refuses; return its path."""
    path = disk / f"filler-{uuid.uuid4().hex}"
    with open(path, "wb", buffering=0) as f:
        for chunk in (1 << 20, 1 << 12, 1):
            block = b"\0" * chunk
            for _ in range(64 * 1024):      # bounded: far beyond DISK_SIZE
                try:
                    f.write(block)
                except OSError as e:
                    assert e.errno == errno.ENOSPC, e
                    break
    return path


def deliver(o, merchant="beta"):
    """One signed Shopify orders/create of ~50 KB; return (order id, response)."""
    oid = unique_id()
    return oid, o.shopify(shopify_order(oid, note=PAD), merchant=merchant)


def webhook_rows(db):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return {row[0] for row in con.execute(
            "SELECT json_extract(payload, '$.id') FROM inbox WHERE source = 'webhook'")}
    finally:
        con.close()


def test_full_disk_refuses_with_503_and_recovers(small_disk, ordo_factory):
    o = ordo_factory(db=small_disk / "ordo.db", body_limit="1MiB")
    accepted, refused = [], []

    first_webhook_id = f"wh-first-{uuid.uuid4().hex}"
    oid = unique_id()
    r = o.shopify(shopify_order(oid, note=PAD), merchant="beta", webhook_id=first_webhook_id)
    assert r.status_code == 200, r.text
    accepted.append(oid)
    for _ in range(4):
        oid, r = deliver(o)
        assert r.status_code == 200, r.text
        accepted.append(oid)
    for oid in accepted:
        o.wait_order("shopify", oid, merchant="beta")

    # The disk fills up. Deliveries go on until one cannot be stored; the
    # WAL may still have room for a few, and those are stored for real.
    filler = fill(small_disk)
    deadline = time.monotonic() + 30
    while not refused and time.monotonic() < deadline and len(accepted) < 200:
        oid, r = deliver(o)
        assert r.status_code in (200, 503), f"{r.status_code} {r.text}"
        (accepted if r.status_code == 200 else refused).append(oid)
        if r.status_code == 503:
            assert r.headers.get("Retry-After", "").isdigit(), r.headers
            assert r.json()["error"]["code"] == "unavailable", r.text
    assert refused, "the disk was full but every delivery was acknowledged"

    # While the disk stays full, deliveries of the same size keep failing.
    for _ in range(3):
        oid, r = deliver(o)
        assert r.status_code == 503, f"{r.status_code} {r.text}"
        assert int(r.headers["Retry-After"]) >= 1
        refused.append(oid)

    # A burst from many connections at once shares group commits: every
    # waiter of a failed COMMIT is told 503, none is told 200.
    def burst(_):
        session = requests.Session()
        try:
            out = []
            for _ in range(3):
                oid = unique_id()
                r = o.shopify(shopify_order(oid, note=PAD), merchant="beta", session=session)
                out.append((oid, r.status_code, r.headers.get("Retry-After")))
            return out
        finally:
            session.close()
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = [x for chunk in pool.map(burst, range(8), timeout=60) for x in chunk]
    for oid, status, after in results:
        assert status == 503 and after and int(after) >= 1, (status, after)
        refused.append(oid)

    # A storefront retrying a delivery that was acknowledged before the
    # fault is told it is a duplicate: nothing needs writing for that.
    r = o.shopify(shopify_order(accepted[0], note=PAD), merchant="beta",
                  webhook_id=first_webhook_id)
    assert r.status_code == 200 and r.json()["duplicate"] is True, r.text

    # API writes are refused the same way; reads still work.
    spec = {"order": {"currency": "EUR", "total": 3000, "subtotal": 3000,
                      "email": "ada@example.com",
                      "lines": [{"sku": "BOX", "title": "Box", "quantity": 1,
                                 "unit_price": 3000, "total": 3000}]},
            "interval": "month", "external_id": "sub-during-fault"}
    r = o.api("POST", "subscriptions", "beta", json=spec)
    assert r.status_code == 503, r.text
    assert int(r.headers["Retry-After"]) >= 1, r.headers
    assert r.json()["error"]["code"] == "unavailable", r.text

    # /healthz tells an operator (or a load balancer) what is wrong.
    h = o.request("GET", "/healthz")
    assert h.status_code == 503, h.text
    assert h.json()["status"] == "degraded", h.text
    assert "full" in h.json()["error"], h.text
    assert isinstance(h.json()["inbox_depth"], int)
    # Reads still work: the API answers during the fault.
    assert o.find("shopify", accepted[0], merchant="beta")

    # Space comes back: the daemon writes again without a restart, and
    # /healthz turns ok on its own (it probes while degraded).
    filler.unlink()
    wait_until(lambda: o.request("GET", "/healthz").status_code == 200, timeout=10,
               what="/healthz ok after the disk was freed")
    for _ in range(3):
        oid, r = deliver(o)
        assert r.status_code == 200, r.text
        accepted.append(oid)

    # Every acknowledged delivery became exactly one order; no refused one
    # was stored.
    for oid in accepted:
        o.wait_order("shopify", oid, merchant="beta")
    for oid in refused:
        assert o.find("shopify", oid, merchant="beta") == []
    assert o.dead_letters("beta") == []
    assert o.stop() == 0

    stored = webhook_rows(o.db)
    assert {str(x) for x in accepted} <= {str(x) for x in stored}
    assert not {str(x) for x in refused} & {str(x) for x in stored}

    # A restart finds everything acknowledged, before and after the fault.
    o.start()
    for oid in accepted:
        assert len(o.find("shopify", oid, merchant="beta")) == 1
    assert o.stop() == 0


# Fails the first attempt of every event, succeeds on the second: with
# max_attempts 2, an attempt lost to the disk would make a dead letter.
SECOND_TIME_LUCKY = """
return {
  order_created = function(ev)
    if ev.attempt == 1 then error("try again") end
    orders.create(ev.order)
  end,
}
"""


def test_handler_retries_during_a_full_disk_are_not_counted(small_disk, ordo_factory):
    o = ordo_factory(db=small_disk / "ordo.db", beta_workflow=SECOND_TIME_LUCKY,
                     max_attempts=2, base_delay="1500ms", max_delay="1500ms")
    oid = unique_id()
    r = o.shopify(shopify_order(oid), merchant="beta")
    assert r.status_code == 200, r.text
    # The first attempt failed and was recorded; the retry is due in ~1 s.
    o.wait_log(lambda rec: rec.get("msg") == "event failed; will retry", what="first failure")

    filler = fill(small_disk)
    # The retry falls due while nothing can be written: it must not count.
    o.wait_log(lambda rec: rec.get("msg") == "dispatcher batch rolled back; retrying",
               timeout=15, what="a dispatcher batch failing on the full disk")
    assert o.find("shopify", oid, merchant="beta") == []
    filler.unlink()

    order = o.wait_order("shopify", oid, merchant="beta", timeout=15)
    assert order["external_id"] == str(oid)
    assert o.dead_letters("beta") == []
    assert o.stop() == 0


def test_effects_wait_while_their_answers_cannot_be_written(small_disk, ordo_factory, sink):
    # An outgoing webhook is in flight when the disk fills: its answer
    # cannot be recorded, so it will be sent again (same delivery id), but
    # not over and over while the disk stays full.
    extra = f"""\
webhooks:
  - url: {q(sink.url + "/hook")}
    secret: "hook-secret"
    topics: [order.created]
effects: {{timeout: 10s, max_attempts: 5, base_delay: 10ms, max_delay: 50ms}}
"""
    o = ordo_factory(db=small_disk / "ordo.db", beta_extra=extra)
    sink.delay_next(1, 2.0, path="/hook")
    oid = unique_id()
    r = o.shopify(shopify_order(oid), merchant="beta")
    assert r.status_code == 200, r.text
    wait_until(lambda: sink.posts("/hook"), what="the webhook to arrive")   # now held 2 s
    filler = fill(small_disk)
    o.wait_log(lambda rec: rec.get("msg", "").startswith("effect results could not be written"),
               timeout=15, what="the effect's answer failing to commit")
    time.sleep(4)                       # the disk stays full for a while
    during = len(sink.posts("/hook"))
    filler.unlink()

    def succeeded():
        effects = o.api("GET", "effects", "beta").json()["effects"]
        return [e for e in effects if e["status"] == "succeeded"]
    wait_until(succeeded, timeout=15, what="the webhook effect to succeed")
    posts = sink.posts("/hook")
    # The one in flight when the disk filled, and nothing more until it
    # had room again; then once more, with the same delivery id.
    assert during == 1, f"{during} sends while the disk was full"
    assert len(posts) == 2, len(posts)
    assert len({p.header("X-Ordo-Delivery") for p in posts}) == 1
    assert o.stop() == 0


# ---------------------------------------------------------------------------
# I/O errors and a read-only file system, without root: an LD_PRELOAD shim
# (tests/e2e/native/faultio.c) makes every write, sync and truncate of the
# database's files fail with EIO or EROFS while a flag file exists.
# ---------------------------------------------------------------------------

NATIVE = os.path.join(os.path.dirname(__file__), "native")


@pytest.fixture(scope="module")
def faultio(tmp_path_factory):
    out = tmp_path_factory.mktemp("faultio") / "faultio.so"
    r = subprocess.run(["cc", "-shared", "-fPIC", "-o", str(out), os.path.join(NATIVE, "faultio.c"), "-ldl"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return out


@pytest.mark.parametrize("err, words", [("EIO", "disk I/O error"), ("EROFS", "disk I/O error")])
def test_io_errors_refuse_with_503_and_recover(faultio, ordo_factory, tmp_path, err, words):
    data = tmp_path / "data"
    data.mkdir()
    flag = tmp_path / "fail-writes"
    wrap = ["env", f"LD_PRELOAD={faultio}", f"FAULTIO_DIR={data}", f"FAULTIO_FLAG={flag}",
            f"FAULTIO_ERRNO={err}", "ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0"]
    o = ordo_factory(db=data / "ordo.db", wrap=wrap)
    accepted, refused = [], []
    for _ in range(3):
        oid, r = deliver(o)
        assert r.status_code == 200, r.text
        accepted.append(oid)
    for oid in accepted:
        o.wait_order("shopify", oid, merchant="beta")

    flag.touch()
    for _ in range(5):
        oid, r = deliver(o)
        assert r.status_code == 503, f"{r.status_code} {r.text}"
        assert int(r.headers["Retry-After"]) >= 1
        assert r.json()["error"]["code"] == "unavailable", r.text
        refused.append(oid)
    h = o.request("GET", "/healthz")
    assert h.status_code == 503 and h.json()["status"] == "degraded", h.text
    assert words in h.json()["error"], h.text
    assert o.find("shopify", accepted[0], merchant="beta")         # reads still work
    assert metric_value(o, "ordo_database_write_failing") == 1

    flag.unlink()
    wait_until(lambda: o.request("GET", "/healthz").status_code == 200, timeout=10,
               what="/healthz ok once writes work again")
    for _ in range(3):
        oid, r = deliver(o)
        assert r.status_code == 200, r.text
        accepted.append(oid)
    for oid in accepted:
        o.wait_order("shopify", oid, merchant="beta")
    for oid in refused:
        assert o.find("shopify", oid, merchant="beta") == []
    assert o.dead_letters("beta") == []
    assert o.stop() == 0
    con = sqlite3.connect(o.db)
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    con.close()
    stored = webhook_rows(o.db)
    assert {str(x) for x in accepted} <= {str(x) for x in stored}
    assert not {str(x) for x in refused} & {str(x) for x in stored}
    o.start()
    for oid in accepted:
        assert len(o.find("shopify", oid, merchant="beta")) == 1
    assert o.stop() == 0


def metric_value(o, name):
    from conftest import metric
    return metric(o.metrics(), name)
