"""Backpressure: past server.inbox_limit pending events webhooks get 503, and
past a merchant's webhooks_per_second they get 429, both with Retry-After;
nothing is stored from a refused delivery and the daemon keeps answering."""
import time

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


def test_per_merchant_webhook_rate_limit_is_429(ordo_factory):
    # beta: 2 verified deliveries per second, bursts of 4; acme: no limit.
    def limit_beta(text):
        return text.replace('      memory: "16MiB"\n',
                            '      memory: "16MiB"\n      webhooks_per_second: 2\n')
    o = ordo_factory(edit=limit_beta)
    codes, limited = [], None
    for _ in range(7):
        oid = unique_id()
        r = o.shopify(shopify_order(oid), merchant="beta")
        codes.append(r.status_code)
        if r.status_code == 429 and limited is None:
            limited = (oid, r)
    assert codes[:4] == [200] * 4, codes
    assert 429 in codes[4:], codes
    oid, r = limited
    assert r.json()["error"]["code"] == "rate_limited"
    assert "2 webhooks per second" in r.json()["error"]["message"]
    assert int(r.headers["Retry-After"]) >= 1
    # Other merchants are not limited.
    for _ in range(5):
        assert o.shopify(shopify_order(unique_id()), merchant="acme").status_code == 200
    # Nothing from the refused delivery was stored.
    assert o.find("shopify", str(oid), merchant="beta") == []
    samples = o.metrics()
    assert metric(samples, "ordo_webhooks_total", channel="shopify", outcome="rate_limited") >= 1
    # The bucket refills: after a second, beta is served again.
    time.sleep(1.1)
    assert o.shopify(shopify_order(unique_id()), merchant="beta").status_code == 200
