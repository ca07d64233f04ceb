"""Backpressure: past server.inbox_limit pending events, webhooks get 503
with Retry-After and nothing is stored; the daemon keeps answering."""
from conftest import metric, shopify_order, unique_id

ALWAYS_FAILS = """
return { order_created = function(ev) error("the warehouse system is down") end }
"""


def test_webhooks_get_503_past_the_inbox_limit(ordo_factory):
    # beta's handler fails and retries an hour later, so its events stay pending.
    o = ordo_factory(beta_workflow=ALWAYS_FAILS, max_attempts=8, base_delay="1h",
                     max_delay="2h", extra_server="  inbox_limit: 3\n")
    for _ in range(3):
        r = o.shopify(shopify_order(unique_id()), merchant="beta")
        assert r.status_code == 200, r.text
    assert o.request("GET", "/healthz").json()["inbox_depth"] == 3

    refused = unique_id()
    for merchant in ("beta", "acme"):  # one inbox: the limit protects everyone
        r = o.shopify(shopify_order(refused), merchant=merchant)
        assert r.status_code == 503, r.text
        assert r.headers.get("Retry-After") == "30"
        body = r.json()["error"]
        assert body["code"] == "unavailable"
        assert "3 events are waiting" in body["message"]

    # Nothing from the refused deliveries was stored.
    health = o.request("GET", "/healthz").json()
    assert health["status"] == "ok" and health["inbox_depth"] == 3
    assert o.find("shopify", str(refused)) == []
    samples = o.metrics()
    assert metric(samples, "ordo_webhooks_total", channel="shopify", outcome="backpressure") == 2
