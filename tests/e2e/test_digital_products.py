"""
Digital products by API (GET|PUT|DELETE /api/v1/digital-products/{sku})
against the real daemon: a SKU set digital by API is delivered like one in
the config (a working link, the content type given); a path outside the
asset folder, a symlink out of it, both kinds or neither are refused and
store nothing; the config's SKUs are the config's.
"""
import os

from conftest import shopify_order
from test_digital import api, get, link_of, start


def test_a_sku_set_by_api_is_delivered_like_config(sink, ordo_factory, tmp_path):
    ordo = start(ordo_factory, tmp_path, sink)
    assets = tmp_path / "assets"
    (assets / "music").mkdir()
    (assets / "music" / "song.ogg").write_bytes(b"OggS" + bytes(2000))
    os.symlink(tmp_path / "secret.txt", assets / "music" / "leak.txt")
    (assets / "music" / "album").mkdir()

    listed = api(ordo, "GET", "digital-products").json()["products"]
    assert [(p["sku"], p["kind"], p["source"]) for p in listed] == \
        [("GUIDE", "file", "config"), ("APPKEY", "license", "config")]

    refusals = [
        ({"file": "../secret.txt"}, 422, "without"),
        ({"file": "music/../../secret.txt"}, 422, "without"),
        ({"file": "/etc/passwd"}, 422, "leading"),
        ({"file": "music/./song.ogg"}, 422, "without"),
        ({"file": "music/leak.txt"}, 422, "leads outside"),
        ({"file": "music/album"}, 422, "not a file"),
        ({"file": "music/none.ogg"}, 422, "no file"),
        ({"file": "music/song.ogg", "license": True}, 422, "exactly one"),
        ({}, 422, "exactly one"),
        ({"license": True, "content_type": "text/plain"}, 422, "content_type is for files"),
        ({"file": "music/song.ogg", "content_type": "audio/ogg\r\nSet-Cookie: x=1"}, 422,
         "control characters"),
        ({"file": 7}, 400, "give"),
        ({"license": "yes"}, 400, "give"),
    ]
    for body, status, text in refusals:
        r = api(ordo, "PUT", "digital-products/SONG", json=body)
        assert r.status_code == status and text in r.json()["error"]["message"], (body, r.text)
        assert str(tmp_path) not in r.text                 # the folder's path is not shown
    assert api(ordo, "PUT", "digital-products/SONG", data=b"[1").status_code == 400
    assert api(ordo, "GET", "digital-products/SONG").status_code == 404
    # The config's SKUs are the config's.
    r = api(ordo, "PUT", "digital-products/GUIDE", json={"file": "music/song.ogg"})
    assert r.status_code == 409 and "in the config" in r.json()["error"]["message"]
    assert api(ordo, "DELETE", "digital-products/GUIDE").status_code == 409
    assert api(ordo, "GET", "digital-products/GUIDE").json()["product"]["file"] == "books/guide.pdf"

    r = api(ordo, "PUT", "digital-products/SONG",
            json={"file": "music/song.ogg", "content_type": "audio/ogg"})
    assert r.status_code == 201, r.text
    assert r.json()["product"] == {"sku": "SONG", "kind": "file", "file": "music/song.ogg",
                                   "content_type": "audio/ogg", "source": "api"}
    assert api(ordo, "PUT", "digital-products/SONG",
               json={"file": "music/song.ogg", "content_type": "audio/ogg"}).status_code == 200
    # Another merchant does not see it.
    assert ordo.api("GET", "digital-products/SONG", "acme").status_code == 404

    body = shopify_order(lines=[("1.00", 1, "SONG", "Song")], financial_status="paid")
    assert ordo.shopify(body, merchant="beta").status_code == 200
    o = ordo.wait_order("shopify", body["id"], merchant="beta")
    r = get(ordo, link_of(sink, o))
    assert r.status_code == 200 and r.content == b"OggS" + bytes(2000)
    assert r.headers["Content-Type"] == "audio/ogg"

    # A license SKU by API has a pool.
    assert api(ordo, "PUT", "digital-products/PRO", json={"license": True}).status_code == 201
    r = api(ordo, "POST", "license-pools/PRO/keys", json={"keys": ["P-1", "P-2"]})
    assert r.status_code == 200 and r.json()["added"] == 2, r.text
    assert api(ordo, "POST", "license-pools/NOPE/keys", json={"keys": ["X"]}).status_code == 404

    assert api(ordo, "DELETE", "digital-products/SONG").status_code == 200
    assert api(ordo, "DELETE", "digital-products/SONG").status_code == 404
    assert api(ordo, "GET", "digital-products/SONG").status_code == 404
    # What was granted stays downloadable.
    assert get(ordo, link_of(sink, o)).content == b"OggS" + bytes(2000)
    listed = api(ordo, "GET", "digital-products").json()["products"]
    assert [p["sku"] for p in listed] == ["GUIDE", "APPKEY", "PRO"]
