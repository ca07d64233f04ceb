"""
Workflow failures: sandbox limits, retries with backoff, dead letters and
their retry, and SIGHUP reloads. beta runs the script under test; acme runs
workflows/standard.lua and must keep being served throughout.
"""
import re
import signal
import time

import pytest

from conftest import metric, shopify_order, wait_until

INFINITE_LOOP = """\
return {
  order_created = function(ev)
    while true do end
  end,
}
"""

LOOP_IN_PCALL = """\
return {
  order_created = function(ev)
    while true do pcall(function() while true do end end) end
  end,
}
"""

STRING_REP_BOMB = """\
return {
  order_created = function(ev)
    local s = string.rep("x", 1 << 30)
    orders.create(ev.order)
    return #s
  end,
}
"""

DOUBLING_BOMB = """\
return {
  order_created = function(ev)
    local s = "0123456789abcdef"
    for i = 1, 40 do s = s .. s end
    return #s
  end,
}
"""

TABLE_BOMB = """\
return {
  order_created = function(ev)
    local t = {}
    for i = 1, 1e9 do t[i] = {i, i, i, i} end
  end,
}
"""

FAILING = """\
return {
  order_created = function(ev)
    error("boom: the warehouse is closed")
  end,
}
"""

FLAKY = """\
return {
  order_created = function(ev)
    if ev.attempt < 3 then error("flaky attempt " .. ev.attempt) end
    local o = orders.create(ev.order)
    orders.tag(o, "attempt-" .. ev.attempt)
  end,
}
"""

TAGGING = """\
return {
  order_created = function(ev)
    local o = orders.create(ev.order)
    orders.tag(o, "%s")
  end,
}
"""


def ack(r):
    assert r.status_code == 200, f"{r.status_code} {r.text}"
    assert r.json()["duplicate"] is False
    return r.json()["id"]


def acme_still_served(ordo):
    body = shopify_order()
    ack(ordo.shopify(body, merchant="acme"))
    o = ordo.wait_order("shopify", body["id"], merchant="acme")
    assert o["status"] == "placed"


@pytest.mark.parametrize("script,limit", [
    (INFINITE_LOOP, "instruction"),
    (LOOP_IN_PCALL, "instruction"),
    (STRING_REP_BOMB, "memory"),
    (DOUBLING_BOMB, "memory"),
    (TABLE_BOMB, "memory|instruction"),
], ids=["infinite-loop", "loop-in-pcall", "string-rep", "doubling", "table-growth"])
def test_hostile_script_is_dead_lettered_and_others_are_served(ordo_factory, script, limit):
    ordo = ordo_factory(beta_workflow=script, beta_instructions=1000000, beta_memory="16MiB")
    hostile = shopify_order()
    t0 = time.monotonic()
    event_id = ack(ordo.shopify(hostile, merchant="beta"))
    # The other merchant is served while (and after) beta's script misbehaves.
    acme_still_served(ordo)

    dl = ordo.wait_dead_letter("beta", lambda d: d["event_id"] == event_id)
    assert time.monotonic() - t0 < 10
    assert re.search(rf"({limit}) limit", dl["error"], re.I), dl
    assert "exceeded" in dl["error"], dl
    # A limit is deterministic: dead-lettered at once, not retried 3 times.
    assert dl["attempts"] == 1, dl
    assert dl["channel"] == "shopify" and dl["topic"] == "orders/create", dl
    for k in ("id", "created_at"):
        assert k in dl, dl
    assert ordo.find("shopify", hostile["id"], merchant="beta") == []
    # The hostile merchant's dead letters are its own.
    assert all(d["event_id"] != event_id for d in ordo.dead_letters("acme"))

    m = ordo.metrics()
    assert metric(m, "ordo_events_dead_lettered_total") >= 1
    # And again: the state survived its limit and the loop keeps going.
    second = ack(ordo.shopify(shopify_order(), merchant="beta"))
    ordo.wait_dead_letter("beta", lambda d: d["event_id"] == second)
    acme_still_served(ordo)


def test_instruction_limit_message_names_the_number(ordo_factory):
    ordo = ordo_factory(beta_workflow=INFINITE_LOOP, beta_instructions=250000)
    ev = ack(ordo.shopify(shopify_order(), merchant="beta"))
    dl = ordo.wait_dead_letter("beta", lambda d: d["event_id"] == ev)
    assert re.search(r"instruction limit of 250,?000 exceeded", dl["error"]), dl


def test_handler_error_retries_then_dead_letters_with_file_and_line(ordo_factory):
    ordo = ordo_factory(beta_workflow=FAILING, max_attempts=3, base_delay="10ms",
                        max_delay="50ms")
    body = shopify_order()
    ev = ack(ordo.shopify(body, merchant="beta"))
    dl = ordo.wait_dead_letter("beta", lambda d: d["event_id"] == ev)
    assert "boom: the warehouse is closed" in dl["error"], dl
    assert re.search(r"beta\.lua:3", dl["error"]), dl
    assert dl["attempts"] == 3, dl
    m = ordo.metrics()
    assert metric(m, "ordo_events_failed_total") >= 2
    assert metric(m, "ordo_events_dead_lettered_total") >= 1
    acme_still_served(ordo)


def test_transient_error_is_retried_until_it_succeeds(ordo_factory):
    ordo = ordo_factory(beta_workflow=FLAKY, max_attempts=3, base_delay="10ms",
                        max_delay="50ms")
    body = shopify_order()
    ack(ordo.shopify(body, merchant="beta"))
    o = ordo.wait_order("shopify", body["id"], merchant="beta")
    assert "attempt-3" in o["tags"], o["tags"]
    # Failed attempts rolled back: exactly one creation.
    assert [h["kind"] for h in o["history"]].count("created") == 1
    assert ordo.dead_letters("beta") == []


def test_dead_letter_retry_via_api_after_fixing_the_script(ordo_factory):
    ordo = ordo_factory(beta_workflow=FAILING, max_attempts=2)
    body = shopify_order()
    ev = ack(ordo.shopify(body, merchant="beta"))
    dl = ordo.wait_dead_letter("beta", lambda d: d["event_id"] == ev)

    # Another merchant cannot see or retry it.
    assert all(d["id"] != dl["id"] for d in ordo.dead_letters("acme"))
    r = ordo.api("POST", f"dead-letters/{dl['id']}/retry", merchant="acme")
    assert r.status_code == 404, r.text

    (ordo.tmp / "beta.lua").write_text(TAGGING % "fixed")
    reload_and_wait(ordo)
    r = ordo.api("POST", f"dead-letters/{dl['id']}/retry", merchant="beta")
    assert r.status_code == 202, r.text
    assert r.json() == {"ok": True, "event_id": ev}
    o = ordo.wait_order("shopify", body["id"], merchant="beta")
    assert "fixed" in o["tags"]
    assert any(h["event_id"] == ev for h in o["history"])
    # Done: it is no longer an open dead letter, and a second retry is refused.
    wait_until(lambda: all(d["id"] != dl["id"] for d in ordo.dead_letters("beta")),
               what="the retried dead letter to leave the list")
    r = ordo.api("POST", f"dead-letters/{dl['id']}/retry", merchant="beta")
    assert r.status_code == 404, r.text
    assert len(ordo.find("shopify", body["id"], merchant="beta")) == 1
    r = ordo.api("POST", "dead-letters/999999/retry", merchant="beta")
    assert r.status_code == 404, r.text


def reload_and_wait(ordo):
    """SIGHUP, then wait (bounded) until a log record after it mentions reload."""
    before = len(ordo.records())
    ordo.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        recs = ordo.records()[before:]
        if any("reload" in (r.get("msg") or "").lower() for r in recs):
            time.sleep(0.2)      # the outcome is logged right after the start
            return ordo.records()[before:]
        time.sleep(0.05)
    return ordo.records()[before:]


def test_sighup_swaps_in_a_good_script_and_keeps_the_old_one_on_error(ordo_factory):
    ordo = ordo_factory(beta_workflow=TAGGING % "v1")
    a = shopify_order()
    ack(ordo.shopify(a, merchant="beta"))
    assert "v1" in ordo.wait_order("shopify", a["id"], merchant="beta")["tags"]

    (ordo.tmp / "beta.lua").write_text(TAGGING % "v2")
    reload_and_wait(ordo)
    b = shopify_order()
    ack(ordo.shopify(b, merchant="beta"))
    assert "v2" in ordo.wait_order("shopify", b["id"], merchant="beta")["tags"]

    # A script that does not compile: the old one keeps running, and the
    # log says why, naming the file.
    (ordo.tmp / "beta.lua").write_text("return {\n  order_created = function(ev)\n    oops(\n")
    recs = reload_and_wait(ordo)
    assert ordo.running()
    assert any("beta.lua" in str(r) for r in recs), recs
    c = shopify_order()
    ack(ordo.shopify(c, merchant="beta"))
    assert "v2" in ordo.wait_order("shopify", c["id"], merchant="beta")["tags"]
    # A script that compiles but fails while loading is refused the same way.
    (ordo.tmp / "beta.lua").write_text('error("refusing to load")\n')
    reload_and_wait(ordo)
    d = shopify_order()
    ack(ordo.shopify(d, merchant="beta"))
    assert "v2" in ordo.wait_order("shopify", d["id"], merchant="beta")["tags"]
    acme_still_served(ordo)


def test_sandbox_has_no_io_os_or_bytecode(ordo_factory):
    script = """\
return {
  order_created = function(ev)
    local found = {}
    for _, name in ipairs({"io", "os", "debug", "package", "dofile", "loadfile"}) do
      if _G[name] ~= nil then found[#found + 1] = name end
    end
    local ok, dumped = pcall(function() return string.dump(function() end) end)
    if ok and dumped then
      for _, mode in ipairs({"b", "bt"}) do
        local lok, fn = pcall(load, dumped, "x", mode)
        if lok and fn then found[#found + 1] = "bytecode:" .. mode end
      end
    end
    local o = orders.create(ev.order)
    orders.tag(o, #found == 0 and "clean" or table.concat(found, ","))
  end,
}
"""
    ordo = ordo_factory(beta_workflow=script)
    body = shopify_order()
    ack(ordo.shopify(body, merchant="beta"))
    o = ordo.wait_order("shopify", body["id"], merchant="beta", timeout=10,
                        pred=lambda o: o["tags"])
    assert "clean" in o["tags"], o["tags"]
