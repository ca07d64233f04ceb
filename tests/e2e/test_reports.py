"""
KPIs (GET /api/v1/reports/kpis and `ordo report`) on a small fixed data set
whose every figure is computed by hand below.

The data is driven through the real daemon: signed Shopify and generic
orders (their placed_at comes from the payload), stock and shipments through
the API, a return received and refunded through the fake Stripe gateway, a
backorder, and three subscription renewals charged by flows.subscription —
one paid at once, one declined and recovered by the dunning retry, one
declined twice (past due). The daemon has no clock override, so the times
it stamps itself (shipped, delivered, the renewal orders, the refund, the
backorder) are pinned afterwards with one UPDATE each while it is stopped;
then it is started again on the same database and asked.

The merchant is beta: EUR, Europe/Berlin (CET, UTC+1 in November), so an
order at 23:30 local on Nov 2 is 22:30Z and one at 00:30 local on Nov 4 is
23:30Z on Nov 3: the buckets are local days.
"""
import json
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from conftest import q, run_ordo, shopify_order, wait_until
from test_inventory import LOCATIONS, put_stock

FLOW = """\
local routing = require "flows.routing"
local returns_flow = require "flows.returns"
local sub = require "flows.subscription"
sub.retry_after = { "1s" }

local flow = {}

function flow.order_created(ev)
  local order, created = orders.create(ev.order)
  if not created then return end
  local result = inventory.reserve(order, routing.fewest_shipments(order))
  if #result.short > 0 then inventory.backorder(order, result.short) end
  payments.authorize(order)
end

function flow.payment_authorized(ev) payments.capture(ev.order) end
function flow.payment_captured(ev) sub.paid(ev.order) end
function flow.payment_failed(ev) sub.payment_failed(ev) end
flow.subscription_renewal_due = sub.renewal_due
flow.dunning_retry = sub.retry
flow.return_refund_requested = returns_flow.refund_requested

return flow
"""

TEMPLATE = {"currency": "EUR", "total": 3000, "subtotal": 3000, "email": "ada@example.com",
            "lines": [{"sku": "BOX", "title": "Box", "quantity": 1, "unit_price": 3000,
                       "total": 3000}]}


def ms(text):
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


PLACED = {
    "A": "2026-11-02T09:00:00+01:00",   # Nov 2, shopify, 2 MUG: 25.00
    "B": "2026-11-02T23:30:00+01:00",   # Nov 2 (22:30Z), shopify, 1 HAT: 25.00
    "C": "2026-11-03T10:00:00Z",        # Nov 3, generic, 1 MUG: 15.00
    "D": "2026-11-04T00:30:00+01:00",   # Nov 4 (Nov 3 23:30Z), shopify, 1 BIG: 55.00
    "E": "2026-11-01T22:59:00Z",        # Nov 1 23:59 local: outside the range
}
RENEWAL_AT = "2026-11-03T12:00:00Z"     # the three renewal orders (Nov 3)
REFUND_AT = "2026-11-03T15:00:00Z"
BACKORDER_AT = "2026-11-04T00:00:00Z"

# Hand-computed, for from=2026-11-02 to=2026-11-04 (three local days).
EXPECTED = {
    "merchant": "beta", "currency": "EUR", "timezone": "Europe/Berlin",
    "from": "2026-11-01T23:00:00.000Z", "to": "2026-11-04T23:00:00.000Z", "bucket": "day",
    "buckets": [
        {"start": "2026-11-02", "orders": 2, "revenue": 5000,
         "by_channel": {"shopify": {"orders": 2, "revenue": 5000}}},
        {"start": "2026-11-03", "orders": 4, "revenue": 10500,
         "by_channel": {"generic": {"orders": 1, "revenue": 1500},
                        "subscription": {"orders": 3, "revenue": 9000}}},
        {"start": "2026-11-04", "orders": 1, "revenue": 5500,
         "by_channel": {"shopify": {"orders": 1, "revenue": 5500}}},
    ],
    "orders": {"total": 7, "by_channel": {"shopify": 3, "generic": 1, "subscription": 3}},
    "revenue": {"total": 21000,
                "by_channel": {"shopify": 10500, "generic": 1500, "subscription": 9000}},
    # A shipped 1 h after it was placed and arrived a day later; B shipped
    # after 2 h. p90 of two values by nearest rank is the larger.
    "lead_time": {"placed_to_shipped": {"count": 2, "avg_s": 5400, "p90_s": 7200},
                  "shipped_to_delivered": {"count": 1, "avg_s": 86400, "p90_s": 86400}},
    # A and B are shipped in full; C (not shipped), D (backordered) and the
    # three renewals (not shipped) are not: 2 of 7.
    "fulfillment_rate": pytest.approx(2 / 7),
    # MUG: A 2 + C 1 (E is outside); HAT: B; BIG: D; BOX: the renewals.
    "returns": {"rate_by_sku": [{"sku": "BIG", "sold": 1, "returned": 0, "rate": 0},
                                {"sku": "BOX", "sold": 3, "returned": 0, "rate": 0},
                                {"sku": "HAT", "sold": 1, "returned": 1, "rate": 1},
                                {"sku": "MUG", "sold": 3, "returned": 0, "rate": 0}],
                "by_reason": {"damaged": 1}},
    "refunds": {"total": 2000, "count": 1},          # B's hat, 20.00
    "renewals": {"attempted": 3, "succeeded": 2, "success_rate": pytest.approx(2 / 3)},
    "dunning": {"entered": 2, "recovered": 1, "recovery_rate": 0.5},
}


def api(ordo, method, path, **kw):
    return ordo.api(method, path, "beta", **kw)


def order_of(ordo, channel, ext, pred=None):
    return ordo.wait_order(channel, ext, merchant="beta", pred=pred)


def paid(o):
    return o["payment_status"] == "paid"


def ship(ordo, order_id, deliver=False):
    r = api(ordo, "POST", f"orders/{order_id}/shipments", json={"location": "portland"})
    assert r.status_code == 201, r.text
    sid = r.json()["shipment"]["id"]
    assert api(ordo, "POST", f"shipments/{sid}/ship", json={}).status_code == 200
    if deliver:
        assert api(ordo, "POST", f"shipments/{sid}/deliver", json={}).status_code == 200
    return sid


def renew(ordo, gateway, declines, settled):
    """Create a subscription, let its renewal fall due now; wait until
    `settled(renewal order)`."""
    r = api(ordo, "POST", "subscriptions", json={"order": TEMPLATE, "interval": "month"})
    assert r.status_code == 201, r.text
    sid = r.json()["subscription"]["id"]
    if declines:
        gateway.decline_next(declines, ops=["authorize"])
    at = (datetime.now(timezone.utc) + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    r = api(ordo, "POST", f"subscriptions/{sid}/next", json={"at": at})
    assert r.status_code == 200, r.text
    return order_of(ordo, "subscription", f"sub-{sid}-1", pred=settled)


def failed_auths(o):
    return sum(1 for p in o["payments"] if p["kind"] == "authorization" and p["status"] == "failed")


@pytest.fixture
def reported(ordo_factory, gateway):
    """A daemon over the fixed data set; yields (ordo, ids)."""
    extra = LOCATIONS + (f"payments:\n  gateway: stripe\n  base_url: {q(gateway.url)}\n"
                         f"  api_key: {q(gateway.api_key)}\n")
    ordo = ordo_factory(beta_workflow=FLOW, beta_extra=extra)
    put_stock(ordo, "MUG", portland=10)
    put_stock(ordo, "HAT", portland=5)
    ids = {}
    shop = {"A": [("10.00", 2, "MUG", "Mug")], "B": [("20.00", 1, "HAT", "Hat")],
            "D": [("50.00", 1, "BIG", "Big")], "E": [("10.00", 1, "MUG", "Mug")]}
    for name, lines in shop.items():
        body = shopify_order(lines=lines, currency="EUR", created_at=PLACED[name])
        assert ordo.shopify(body, merchant="beta").status_code == 200
        ids[name] = order_of(ordo, "shopify", body["id"], pred=paid)["id"]
    generic = {"id": "kpi-c", "currency": "EUR", "total": "15.00", "subtotal": "10.00",
               "shipping": "5.00", "placed_at": PLACED["C"],
               "lines": [{"sku": "MUG", "quantity": 1, "price": "10.00"}]}
    assert ordo.generic(generic, merchant="beta").status_code == 200
    ids["C"] = order_of(ordo, "generic", "kpi-c", pred=paid)["id"]

    ids["ship_A"] = ship(ordo, ids["A"], deliver=True)
    ids["ship_B"] = ship(ordo, ids["B"])
    ship(ordo, ids["E"])                          # outside the range: counts nowhere
    r = api(ordo, "POST", f"orders/{ids['B']}/returns",
            json={"lines": [{"line": 1, "quantity": 1}], "reason": "damaged"})
    assert r.status_code == 201, r.text
    rid = r.json()["return"]["id"]
    for step in ("approve", "receive", "refund"):
        assert api(ordo, "POST", f"returns/{rid}/{step}", json={}).status_code == 200, step
    wait_until(lambda: api(ordo, "GET", f"returns/{rid}").json()["status"] == "refunded",
               what="the return refunded")

    renew(ordo, gateway, 0, paid)
    renew(ordo, gateway, 1, paid)                 # declined, retried after 1 s, paid
    renew(ordo, gateway, 2, lambda o: failed_auths(o) == 2)   # declined twice: past due

    assert ordo.stop() == 0
    con = sqlite3.connect(str(ordo.db), timeout=10)
    with con:
        placed = {k: ms(v) for k, v in PLACED.items()}
        con.execute("UPDATE shipments SET shipped_at = ?, delivered_at = ? WHERE id = ?",
                    (placed["A"] + 3600_000, placed["A"] + 3600_000 + 86400_000, ids["ship_A"]))
        con.execute("UPDATE shipments SET shipped_at = ? WHERE id = ?",
                    (placed["B"] + 7200_000, ids["ship_B"]))
        assert con.execute("UPDATE orders SET placed_at = ?, created_at = ?"
                           " WHERE channel = 'subscription'",
                           (ms(RENEWAL_AT), ms(RENEWAL_AT))).rowcount == 3
        assert con.execute("UPDATE payments SET created_at = ? WHERE kind = 'refund'",
                           (ms(REFUND_AT),)).rowcount == 1
        assert con.execute("UPDATE backorders SET created_at = ? WHERE status = 'waiting'",
                           (ms(BACKORDER_AT),)).rowcount == 1
    con.close()
    ordo.start()
    yield ordo, ids


def kpis(ordo, **params):
    r = api(ordo, "GET", "reports/kpis", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def check_backorders(doc):
    """One open backorder, pinned at BACKORDER_AT: its age at as_of."""
    age = (ms(doc["as_of"]) - ms(BACKORDER_AT)) / 1000
    assert doc["backorders"] == {"open": 1, "avg_age_s": age, "oldest_age_s": age}


def test_every_kpi_matches_the_hand_computed_figures(reported):
    ordo, _ = reported
    doc = kpis(ordo, **{"from": "2026-11-02", "to": "2026-11-04"})
    check_backorders(doc)
    for key, want in EXPECTED.items():
        assert doc[key] == want, key
    assert set(doc) == set(EXPECTED) | {"as_of", "backorders"}

    # The same days by ISO week: one bucket, the week of Monday Nov 2.
    week = kpis(ordo, **{"from": "2026-11-02", "to": "2026-11-04", "bucket": "week"})
    assert [(b["start"], b["orders"], b["revenue"]) for b in week["buckets"]] == \
        [("2026-11-02", 7, 21000)]
    assert week["orders"] == EXPECTED["orders"] and week["bucket"] == "week"

    # RFC 3339 bounds: exactly Nov 2 local, end exclusive.
    day = kpis(ordo, **{"from": "2026-11-01T23:00:00Z", "to": "2026-11-02T23:00:00+00:00"})
    assert [b["start"] for b in day["buckets"]] == ["2026-11-02"]
    assert day["orders"]["total"] == 2 and day["revenue"]["total"] == 5000
    assert day["refunds"] == {"total": 0, "count": 0}
    assert day["renewals"] == {"attempted": 0, "succeeded": 0, "success_rate": None}
    assert day["dunning"] == {"entered": 0, "recovered": 0, "recovery_rate": None}
    assert day["lead_time"]["shipped_to_delivered"]["count"] == 1

    # Nothing in the range: zero counts, null rates.
    empty = kpis(ordo, **{"from": "2026-10-01", "to": "2026-10-02"})
    assert empty["orders"] == {"total": 0, "by_channel": {}}
    assert empty["fulfillment_rate"] is None
    assert empty["lead_time"]["placed_to_shipped"] == {"count": 0, "avg_s": None, "p90_s": None}
    assert empty["returns"] == {"rate_by_sku": [], "by_reason": {}}

    # Default: the last 30 local days, ending with today.
    dflt = kpis(ordo)
    assert len(dflt["buckets"]) == 30 and dflt["bucket"] == "day"

    # Another merchant sees none of it.
    acme = ordo.api("GET", "reports/kpis", "acme",
                    params={"from": "2026-11-02", "to": "2026-11-04"}).json()
    assert acme["merchant"] == "acme" and acme["orders"]["total"] == 0


def test_cli_report_prints_the_same(reported):
    ordo, _ = reported
    args = ["report", "-c", ordo.config, "--db", ordo.db, "--merchant", "beta",
            "--from", "2026-11-02", "--to", "2026-11-04"]
    out = run_ordo(*args, "--json")
    assert out.returncode == 0, out.stderr
    cli = json.loads(out.stdout)
    doc = kpis(ordo, **{"from": "2026-11-02", "to": "2026-11-04"})
    check_backorders(cli)
    for d in (cli, doc):
        d.pop("as_of")
        d.pop("backorders")
    assert cli == doc

    out = run_ordo(*args)
    assert out.returncode == 0, out.stderr
    lines = [" ".join(line.split()) for line in out.stdout.splitlines()]
    for want in ["2026-11-02 2 50.00", "2026-11-03 4 105.00", "2026-11-04 1 55.00",
                 "total 7 210.00", "generic 1 15.00", "shopify 3 105.00",
                 "subscription 3 90.00",
                 "placed to shipped 2 01:30:00 02:00:00",
                 "shipped to delivered 1 1d 00:00:00 1d 00:00:00",
                 "fulfillment rate 28.6%", "refunds 20.00 in 1",
                 "renewals 2 of 3 succeeded (66.7%)", "dunning 1 of 2 recovered (50.0%)",
                 "HAT 1 1 100.0%", "MUG 3 0 0.0%", "damaged 1"]:
        assert want in lines, (want, out.stdout)
    assert any(line.startswith("backorders open 1 (") for line in lines), out.stdout

    bad = run_ordo(*args[:-2], "--to", "2026-11-01")
    assert bad.returncode == 2 and "from must be before to" in bad.stderr
    bad = run_ordo(*args, "--bucket", "month")
    assert bad.returncode == 2 and "bucket must be day or week" in bad.stderr
    bad = run_ordo("report", "-c", ordo.config, "--db", ordo.db, "--merchant", "nobody")
    assert bad.returncode == 2 and 'no merchant "nobody"' in bad.stderr
    missing = ordo.tmp / "no-such.db"
    bad = run_ordo("report", "-c", ordo.config, "--db", missing, "--merchant", "beta")
    assert bad.returncode == 1 and "no database at" in bad.stderr and not missing.exists()


@pytest.mark.parametrize("params,status,code,words", [
    ({"bucket": "month"}, 400, "invalid_parameter", "bucket must be day or week"),
    ({"from": "2026-02-30"}, 400, "invalid_parameter", "from must be a date"),
    ({"from": "yesterday"}, 400, "invalid_parameter", "from must be a date"),
    ({"to": "2026-11-04T25:00:00Z"}, 400, "invalid_parameter", "to must be a date"),
    ({"from": "2026-11-05", "to": "2026-11-04"}, 422, "invalid_range", "from must be before to"),
    ({"from": "2026-11-04T10:00:00Z", "to": "2026-11-04T10:00:00Z"}, 422, "invalid_range",
     "from must be before to"),
    ({"from": "2020-01-01", "to": "2026-01-01"}, 422, "invalid_range", "more than 400 days"),
])
def test_bad_parameters(ordo, params, status, code, words):
    r = ordo.api("GET", "reports/kpis", "beta", params=params)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code and words in err["message"], err


def test_needs_a_key_and_get(ordo):
    assert ordo.api("GET", "reports/kpis", "beta", key="").status_code == 401
    assert ordo.api("POST", "reports/kpis", "beta", json={}).status_code == 405


def test_canceled_units_are_neither_sold_nor_owed(gateway, sink, ordo_factory):
    """3 mugs and a pen; 2 mugs canceled before shipping; the rest ships:
    the order counts as fulfilled and 1 mug as sold (was 0.0 and 3)."""
    from test_edits import line, place, start, wait
    ordo = start(ordo_factory, gateway, sink)
    put_stock(ordo, "MUG", portland=3)
    put_stock(ordo, "PEN", portland=1)
    body, o = place(ordo, [("10.00", 3, "MUG", "Mug"), ("5.00", 1, "PEN", "Pen")])
    r = ordo.api("POST", f"orders/{o['id']}/cancel", "beta", json={"lines": [{"line": 1, "quantity": 2}]})
    assert r.status_code == 202, r.text
    o = wait(ordo, body, lambda o: line(o, 1)["canceled_quantity"] == 2 and line(o, 1)["reserved"] == 1)
    r = ordo.api("POST", f"orders/{o['id']}/shipments", "beta", json={"location": "portland"})
    assert r.status_code == 201, r.text
    assert ordo.api("POST", f"shipments/{r.json()['shipment']['id']}/ship", "beta", json={}).status_code == 200
    assert ordo.order(o["id"], "beta")["fulfillment_status"] == "fulfilled"
    placed = datetime.fromisoformat((o.get("placed_at") or o["created_at"]).replace("Z", "+00:00"))
    span = {"from": (placed - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "to": (placed + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")}
    doc = ordo.api("GET", "reports/kpis", "beta", params=span).json()
    assert doc["orders"]["total"] == 1 and doc["fulfillment_rate"] == 1.0, doc
    sold = {x["sku"]: x["sold"] for x in doc["returns"]["rate_by_sku"]}
    assert sold == {"MUG": 1, "PEN": 1}, sold
