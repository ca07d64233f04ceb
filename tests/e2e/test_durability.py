"""
Acknowledged means on disk: kill -9 right after a 200, SIGTERM with
requests in flight, restarts on the same database.
"""
import signal
import threading
import time

import requests

from conftest import shopify_order, unique_id, wait_until


def ack(r):
    assert r.status_code == 200, f"{r.status_code} {r.text}"
    return r.json()


def test_kill9_right_after_200_keeps_the_order_exactly_once(ordo):
    body = shopify_order()
    first = ack(ordo.shopify(body, webhook_id="crash-1"))
    ordo.kill9()                         # no chance to process or flush anything

    ordo.start()                         # same config, same database
    o = ordo.wait_order("shopify", body["id"])
    assert o["external_id"] == str(body["id"])
    # The storefront retries after the crash: a duplicate with the same id.
    again = ack(ordo.shopify(body, webhook_id="crash-1"))
    assert again["duplicate"] is True and again["id"] == first["id"]
    time.sleep(0.3)
    assert len(ordo.find("shopify", body["id"])) == 1
    assert [h["kind"] for h in ordo.order(o["id"])["history"]].count("created") == 1


def test_kill9_after_a_burst_loses_nothing_acknowledged(ordo):
    bodies = [shopify_order(unique_id()) for _ in range(30)]
    acked = {}
    for i, b in enumerate(bodies):
        acked[b["id"]] = ack(ordo.shopify(b, webhook_id=f"burst-{i}"))["id"]
    ordo.kill9()
    ordo.start()
    for b in bodies:
        ordo.wait_order("shopify", b["id"])
    # A second crash and restart changes nothing.
    ordo.kill9()
    ordo.start()
    time.sleep(0.3)
    all_orders = ordo.orders(limit=200)["orders"]
    assert sorted(o["external_id"] for o in all_orders) == sorted(str(b["id"]) for b in bodies)
    for i, b in enumerate(bodies):
        r = ack(ordo.shopify(b, webhook_id=f"burst-{i}"))
        assert r["duplicate"] is True and r["id"] == acked[b["id"]]


def test_sigterm_exits_0_and_keeps_what_it_acknowledged(ordo):
    body = shopify_order()
    ack(ordo.shopify(body))
    assert ordo.stop(signal.SIGTERM) == 0, ordo.logs()
    ordo.start()
    ordo.wait_order("shopify", body["id"])


def test_sigterm_with_requests_in_flight(ordo):
    """Every delivery that got a 200 before the stop is there after it."""
    acked, lock = [], threading.Lock()
    stop_at = time.monotonic() + 10

    def sender(n):
        s = requests.Session()
        for i in range(200):
            if time.monotonic() > stop_at:
                break
            b = shopify_order(unique_id())
            try:
                r = ordo.shopify(b, session=s)
            except requests.RequestException:
                break                       # the daemon stopped listening
            if r.status_code == 200:
                with lock:
                    acked.append(b["id"])
            else:
                assert r.status_code == 503, r.text
        s.close()

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    wait_until(lambda: len(acked) >= 20, timeout=10, what="20 acknowledged deliveries")
    rc = ordo.stop(signal.SIGTERM)
    for t in threads:
        t.join(timeout=15)
    assert rc == 0, ordo.logs()
    assert acked

    ordo.start()
    want = {str(i) for i in acked}

    def collect():
        seen, cursor = set(), None
        for _ in range(50):
            params = {"limit": 200, "channel": "shopify"}
            if cursor:
                params["cursor"] = cursor
            page = ordo.orders(**params)
            seen |= {o["external_id"] for o in page["orders"]}
            cursor = page["next_cursor"]
            if not cursor:
                break
        return seen if seen >= want else None

    wait_until(collect, timeout=20, what="every acknowledged order after restart")


SLOW_RECORD = """\
return {
  order_created = function(ev)
    local o = orders.create(ev.order)
    for i = 1, 100000 do end          -- a few ms: the crash lands mid-batch
    orders.tag(o, "done")
  end,
}
"""


def test_kill9_in_the_middle_of_processing(ordo_factory):
    ordo = ordo_factory(beta_workflow=SLOW_RECORD, beta_instructions=5000000)
    bodies = [shopify_order(unique_id()) for _ in range(40)]
    for i, b in enumerate(bodies):
        ack(ordo.shopify(b, merchant="beta", webhook_id=f"mid-{i}"))
    ordo.kill9()                          # most events are still to run
    ordo.start()
    time.sleep(0.05)
    ordo.kill9()                          # and again, while it catches up
    ordo.start()
    for b in bodies:
        o = ordo.wait_order("shopify", b["id"], merchant="beta",
                            pred=lambda o: "done" in o["tags"])
        # A rolled-back attempt leaves no trace: one creation, one tag.
        kinds = [h["kind"] for h in o["history"]]
        assert kinds.count("created") == 1 and kinds.count("tag") == 1, o["history"]
    assert len(ordo.orders("beta", limit=200)["orders"]) == len(bodies)
    assert ordo.dead_letters("beta") == []
