"""
Durable timers: set in a handler's transaction, fired once each as inbox
events in due order, surviving kill -9 (an overdue timer fires after the
restart, once, saying how late it is), cancelled and moved by key.
"""
import sqlite3
import time

from conftest import q, shopify_order, wait_until

TIMER_FLOW = """\
local flow = {}

function flow.order_created(ev)
  local order = orders.create(ev.order)
  local delay = tonumber(ev.order.number:match("%d+")) % 10   -- seconds, from the order number
  timers.after(delay, "remind", { order_id = order.id, n = 1 }, "remind-" .. order.id)
  timers.after("1h", "never", { order_id = order.id }, "never-" .. order.id)
  assert(timers.cancel("never-" .. order.id) == true, "cancel found nothing")
  assert(timers.cancel("no-such-timer") == false, "cancel found a phantom")
  -- Set twice with one key: the second wins (moved, not duplicated).
  timers.at(now() + 3600 * 1000, "moved", { v = 1 }, "moved-" .. order.id)
  timers.at(now() + delay * 1000, "moved", { v = 2 }, "moved-" .. order.id)
end

function flow.remind(ev)
  orders.note(ev.order_id, ("remind key=%s late=%d n=%d"):format(ev.timer.key, ev.timer.late_ms, ev.n))
end

function flow.moved(ev)
  orders.note(ev.timer.key:match("%d+") + 0, "moved v=" .. ev.v)
end

return flow
"""


def ack(r):
    assert r.status_code == 200, r.text
    return r.json()["id"]


def notes(o):
    return [h["message"] for h in o["history"] if h["kind"] == "note"]


def pending_timers(ordo):
    con = sqlite3.connect(f"file:{ordo.db}?mode=ro", uri=True, timeout=5)
    try:
        return con.execute("SELECT count(*) FROM timers").fetchone()[0]
    finally:
        con.close()


def beta_order(ordo, body, pred, timeout=10):
    def look():
        found = ordo.find("shopify", body["id"], merchant="beta")
        if found:
            o = ordo.order(found[0]["id"], merchant="beta")
            return o if pred(o) else None
        return None
    return wait_until(look, timeout=timeout, what="beta's order")


def test_timer_fires_once_cancel_and_move(ordo_factory):
    ordo = ordo_factory(beta_workflow=TIMER_FLOW)
    body = shopify_order(number=1001)                 # 1 s
    t0 = time.monotonic()
    ack(ordo.shopify(body, merchant="beta"))
    o = beta_order(ordo, body, lambda o: any(n.startswith("remind") for n in notes(o))
                   and any(n.startswith("moved") for n in notes(o)))
    assert time.monotonic() - t0 >= 0.9, "fired before it was due"
    (n,) = [n for n in notes(o) if n.startswith("remind")]
    assert n.startswith(f"remind key=remind-{o['id']} late=") and n.endswith(" n=1"), n
    assert int(n.split("late=")[1].split()[0]) < 2000, n
    assert [n for n in notes(o) if n.startswith("moved")] == ["moved v=2"]
    time.sleep(0.5)
    o = ordo.order(o["id"], merchant="beta")
    assert len([n for n in notes(o) if n.startswith("remind")]) == 1, notes(o)
    assert pending_timers(ordo) == 0, "fired timers are gone; the cancelled one too"
    assert ordo.dead_letters("beta") == []


def test_overdue_timer_fires_once_after_kill9(ordo_factory):
    ordo = ordo_factory(beta_workflow=TIMER_FLOW)
    body = shopify_order(number=1002)                 # 2 s
    ack(ordo.shopify(body, merchant="beta"))
    beta_order(ordo, body, lambda o: True)
    wait_until(lambda: pending_timers(ordo) == 2, what="two timers pending")
    ordo.kill9()
    time.sleep(3)                                     # both fall due while it is down
    ordo.start()
    o = beta_order(ordo, body, lambda o: any(n.startswith("remind") for n in notes(o)))
    (n,) = [n for n in notes(o) if n.startswith("remind")]
    assert int(n.split("late=")[1].split()[0]) >= 900, f"late_ms says how late: {n}"
    time.sleep(0.5)
    o = ordo.order(o["id"], merchant="beta")
    assert len([n for n in notes(o) if n.startswith("remind")]) == 1, notes(o)
    assert [n for n in notes(o) if n.startswith("moved")] == ["moved v=2"], notes(o)
    assert pending_timers(ordo) == 0


BAD_TIMERS = """\
return {
  order_created = function(ev)
    local order = orders.create(ev.order)
    local case = ev.order.number
    if case == "#1" then timers.after(-1, "x") end
    if case == "#2" then timers.after("soon", "x") end
    if case == "#3" then timers.after(1.5, "x") end
    if case == "#4" then timers.after(1, "Not An Event") end
    if case == "#5" then timers.at("yesterday", "x") end
    if case == "#6" then timers.after(1, "x", { 1, 2, 3 }) end
    if case == "#7" then timers.after(1, "x", {}, string.rep("k", 201)) end
  end,
}
"""


def test_bad_timer_arguments_are_clear_dead_letters(ordo_factory):
    ordo = ordo_factory(beta_workflow=BAD_TIMERS, max_attempts=1)
    want = {1: "delay must be 0 to a century", 2: 'bad delay "soon"', 3: "not a fraction",
            4: "is not an event name", 5: "is not an ISO 8601 time",
            6: "not a list", 7: "key must be 1 to 200 bytes"}
    ids = {}
    for n in want:
        ids[ack(ordo.shopify(shopify_order(number=n), merchant="beta"))] = n
    dls = wait_until(lambda: (lambda d: d if len(d) == len(want) else None)(
        ordo.dead_letters("beta")), what="every bad call dead-lettered")
    for d in dls:
        assert want[ids[d["event_id"]]] in d["error"], d
        assert "timers." in d["error"], d
    assert pending_timers(ordo) == 0, "nothing half-applied"
    assert ordo.orders(merchant="beta")["orders"] == [], "the handlers rolled back"


RENEWAL_FLOW = """\
local flow = {}
function flow.order_created(ev)
  local order = orders.create(ev.order)
  local line = order.lines[1]
  local s = subscriptions.create {
    order = { currency = order.currency, email = order.email, total = line.total,
              subtotal = line.total, lines = { { sku = line.sku, title = line.title,
              quantity = line.quantity, unit_price = line.unit_price, total = line.total } } },
    interval = "day", external_id = "sub-of-" .. order.id }
  subscriptions.set_next(s, now() + 1500)          -- due in 1.5 s, not a day
end
function flow.subscription_renewal_due(ev)
  orders.note(ev.order, "renewal late=" .. ev.timer.late_ms)
  payments.authorize(ev.order)
end
function flow.payment_authorized(ev) payments.capture(ev.order) end
return flow
"""


def test_renewal_due_while_killed_fires_once_and_charges_once(gateway, ordo_factory):
    ordo = ordo_factory(beta_workflow=RENEWAL_FLOW, beta_extra=f"""\
payments: {{gateway: stripe, base_url: {q(gateway.url)}, api_key: "sk_test_123"}}
effects: {{timeout: 2s, max_attempts: 5, base_delay: 10ms, max_delay: 50ms}}
""")
    body = shopify_order(number=3001, financial_status="paid")
    ack(ordo.shopify(body, merchant="beta"))
    beta_order(ordo, body, lambda o: True)
    wait_until(lambda: pending_timers(ordo) == 1, what="the renewal timer")
    ordo.kill9()
    time.sleep(2.5)                                   # due while down
    ordo.start()

    def renewal():
        found = [o for o in ordo.orders(merchant="beta")["orders"] if o["channel"] == "subscription"]
        if len(found) == 1:
            o = ordo.order(found[0]["id"], merchant="beta")
            return o if o["payment_status"] == "paid" else None
        assert len(found) <= 1, found
        return None
    o = wait_until(renewal, what="the renewal order, paid")
    late = [n for n in notes(o) if n.startswith("renewal late=")]
    assert len(late) == 1 and int(late[0].split("=")[1]) >= 500, late
    assert gateway.charges_for(o["id"]) == [o["total"]], "the renewal charged once"
    assert len(gateway.ops("authorize")) == 1
    time.sleep(0.5)
    subs = [x for x in ordo.orders(merchant="beta")["orders"] if x["channel"] == "subscription"]
    assert len(subs) == 1, "one renewal order"
    assert ordo.dead_letters("beta") == []


ZERO_FLOW = """\
local flow = {}

function flow.order_created(ev)
  local order = orders.create(ev.order)
  local ok, err = pcall(timers.at, 0, "never", {})
  orders.note(order, "at(0): " .. tostring(ok) .. " " .. tostring(err))
  timers.after(1, "remind", { order_id = order.id })
end

function flow.remind(ev) orders.note(ev.order_id, "remind") end

return flow
"""


def test_timer_at_zero_is_refused_and_others_still_fire(ordo_factory):
    # timers.at(0, ...) was accepted; the runner read MIN(due_at) = 0 as
    # "no timers pending" and stopped firing every merchant's timers.
    ordo = ordo_factory(beta_workflow=ZERO_FLOW)
    body = shopify_order(number=1001)
    ack(ordo.shopify(body, merchant="beta"))
    o = beta_order(ordo, body, lambda o: "remind" in notes(o), timeout=10)
    (n,) = [n for n in notes(o) if n.startswith("at(0)")]
    assert n.startswith("at(0): false ") and "after 1970" in n, n
    assert pending_timers(ordo) == 0
