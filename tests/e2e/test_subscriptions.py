"""
The subscriptions API: create, read, list, and the customer and merchant
actions, each answered with the right status and a clear message, nothing
changed on an error, and an event for the workflow on success.
"""
from conftest import ACME_KEY, BETA_KEY, wait_until

TEMPLATE = {"currency": "USD", "total": 3000, "subtotal": 3000, "email": "ada@example.com",
            "lines": [{"sku": "BOX", "title": "Box", "quantity": 1, "unit_price": 3000,
                       "total": 3000}]}

EVENTS_FLOW = """\
return {
  subscription_paused = function(ev) log.info("heard", { what = "paused", id = ev.subscription_id }) end,
  subscription_resumed = function(ev) log.info("heard", { what = "resumed", id = ev.subscription_id }) end,
}
"""


def api(ordo, method, path, merchant="beta", **kw):
    return ordo.api(method, path, merchant, **kw)


def create(ordo, merchant="beta", **fields):
    spec = {"order": TEMPLATE, "interval": "month", **fields}
    return api(ordo, "POST", "subscriptions", merchant, json=spec)


def test_create_get_list(ordo_factory):
    ordo = ordo_factory(beta_workflow=EVENTS_FLOW)
    r = create(ordo, start="2030-01-31T08:00:00Z", external_id="web-1", timezone="Europe/Berlin")
    assert r.status_code == 201, r.text
    sub = r.json()["subscription"]
    assert sub["status"] == "active" and sub["interval"] == "month" and sub["cycle"] == 0
    assert sub["timezone"] == "Europe/Berlin" and sub["anchor_day"] == 31, sub
    assert sub["next_renewal"] == "2030-02-28T08:00:00.000Z", "Jan 31 monthly: Feb 28, 09:00 CET"
    assert create(ordo, start="yesterday").status_code == 422
    again = create(ordo, external_id="web-1", timezone="Europe/Berlin")
    assert again.status_code == 200 and again.json()["created"] is False
    assert again.json()["subscription"]["id"] == sub["id"]
    got = api(ordo, "GET", f"subscriptions/{sub['id']}")
    assert got.status_code == 200 and got.json()["id"] == sub["id"]
    lst = api(ordo, "GET", "subscriptions", params={"status": "active"}).json()["subscriptions"]
    assert [s["id"] for s in lst] == [sub["id"]]
    assert api(ordo, "GET", "subscriptions", params={"status": "paused"}).json()["subscriptions"] == []
    assert api(ordo, "GET", f"subscriptions/{sub['id']}", "acme").status_code == 404


def test_bad_input_is_refused_and_changes_nothing(ordo_factory):
    ordo = ordo_factory(beta_workflow=EVENTS_FLOW)
    cases = [
        ({"count": 0}, 422, "count must be a whole number of intervals"),
        ({"timezone": "Mars/Olympus"}, 422, 'unknown time zone "Mars/Olympus"'),
        ({"interval": "fortnight"}, 422, "interval must be day, week, month or year"),
        ({"order": {**TEMPLATE, "lines": []}}, 422, "order.lines must list at least one line"),
    ]
    for fields, status, msg in cases:
        r = create(ordo, **fields)
        assert r.status_code == status and msg in r.json()["error"]["message"], (fields, r.text)
    r = api(ordo, "POST", "subscriptions", data="{not json")
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json", r.text
    assert api(ordo, "GET", "subscriptions").json()["subscriptions"] == [], "nothing created"

    sub = create(ordo).json()["subscription"]
    r = api(ordo, "POST", f"subscriptions/{sub['id']}/quantity", json={"line": 1, "quantity": -2})
    assert r.status_code == 422 and "quantity must be" in r.json()["error"]["message"], r.text
    r = api(ordo, "POST", f"subscriptions/{sub['id']}/cancel", json={"reason": "test"})
    assert r.status_code == 200 and r.json()["subscription"]["status"] == "canceled", r.text
    before = api(ordo, "GET", f"subscriptions/{sub['id']}").json()
    r = api(ordo, "POST", f"subscriptions/{sub['id']}/pause", json={})
    assert r.status_code == 409, r.text
    assert "is canceled; it cannot be paused" in r.json()["error"]["message"]
    assert api(ordo, "GET", f"subscriptions/{sub['id']}").json() == before, "nothing changed"
    assert api(ordo, "POST", "subscriptions/999/pause", json={}).status_code == 404
    assert api(ordo, "POST", f"subscriptions/{sub['id']}/explode", json={}).status_code == 404
    assert api(ordo, "POST", f"subscriptions/{sub['id']}/pause", "acme", json={}).status_code == 404


def test_actions_raise_events_for_the_workflow(ordo_factory):
    ordo = ordo_factory(beta_workflow=EVENTS_FLOW)
    sub = create(ordo).json()["subscription"]
    r = api(ordo, "POST", f"subscriptions/{sub['id']}/pause", json={})
    assert r.status_code == 200 and r.json()["subscription"]["status"] == "paused"
    assert r.json()["subscription"]["next_renewal"] is None
    r = api(ordo, "POST", f"subscriptions/{sub['id']}/resume", json={})
    assert r.status_code == 200 and r.json()["subscription"]["status"] == "active"
    assert r.json()["subscription"]["next_renewal"], r.json()
    r = api(ordo, "POST", f"subscriptions/{sub['id']}/skip", json={})
    assert r.status_code == 200 and r.json()["subscription"]["skip_next"] is True
    r = api(ordo, "POST", f"subscriptions/{sub['id']}/next", json={"at": "2031-06-01T09:00:00Z"})
    assert r.status_code == 200 and r.json()["subscription"]["next_renewal"] == "2031-06-01T09:00:00.000Z"
    r = api(ordo, "POST", f"subscriptions/{sub['id']}/quantity", json={"quantity": 3})
    assert r.json()["subscription"]["order"]["total"] == 9000, r.json()
    heard = wait_until(lambda: (lambda h: h if len(h) == 2 else None)(
        [x.get("what") for x in ordo.records() if x.get("msg") == "heard"]),
        what="the workflow hearing paused and resumed")
    assert heard == ["paused", "resumed"]
