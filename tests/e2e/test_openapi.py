"""
The OpenAPI document (api/openapi.json, served at /api/v1/openapi.json)
against the implementation, both ways:

- every documented (method, path) is served: a request with a valid key and
  placeholder ids gets anything but the router's own 404 `no_route` or 405;
- every route the daemon serves is documented: the list comes from the
  daemon's own routing tables (`ordo routes`, the tables that dispatch).

Plus the document's structure, with plain Python: OpenAPI 3.x, every
operation has responses, every $ref resolves, path parameters match the
template.

Operations marked `x-ordo-pending` are routes being added on other
branches; until they are merged they may be missing from the
implementation (the marker comes off at the merge, and then they are
checked like the rest).
"""
import json
import re
import subprocess

import pytest

from conftest import ORDO_BIN, ROOT

DOC_PATH = ROOT / "api" / "openapi.json"
METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def load_doc():
    return json.loads(DOC_PATH.read_text())


def operations(doc):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield method.upper(), path, op


def implemented_routes():
    out = subprocess.run([ORDO_BIN, "routes"], capture_output=True, text=True, timeout=10,
                         check=True).stdout
    routes = set()
    for line in out.splitlines():
        method, pattern = line.split(" ", 1)
        routes.add((method, pattern))
    assert len(routes) > 40, out
    return routes


def normalize(path):
    """Template parameter names do not matter: /a/{id} == /a/{sku}."""
    return re.sub(r"\{[^}/]+\}", "{}", path)


def resolve(doc, ref):
    assert ref.startswith("#/"), ref
    node = doc
    for part in ref[2:].split("/"):
        assert isinstance(node, dict) and part in node, f"$ref {ref} does not resolve"
        node = node[part]
    return node


def walk_refs(doc, node, where="#"):
    if isinstance(node, dict):
        if "$ref" in node:
            resolve(doc, node["$ref"])
        for k, v in node.items():
            walk_refs(doc, v, f"{where}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            walk_refs(doc, v, f"{where}/{i}")


def test_document_structure():
    doc = load_doc()
    assert re.fullmatch(r"3\.\d+\.\d+", doc["openapi"]), doc["openapi"]
    assert doc["info"]["title"] and doc["info"]["version"]
    walk_refs(doc, doc)
    assert "Error" in doc["components"]["schemas"]
    err = doc["components"]["schemas"]["Error"]
    assert set(err["properties"]["error"]["required"]) == {"code", "message"}
    seen = set()
    for method, path, op in operations(doc):
        where = f"{method} {path}"
        assert path.startswith("/"), where
        assert (method, normalize(path)) not in seen, f"{where} documented twice"
        seen.add((method, normalize(path)))
        assert op.get("summary"), f"{where} has no summary"
        assert op.get("responses"), f"{where} has no responses"
        for code, resp in op["responses"].items():
            assert re.fullmatch(r"[1-5]\d\d|default", code), (where, code)
            resp = resolve(doc, resp["$ref"]) if "$ref" in resp else resp
            assert resp.get("description"), (where, code)
        # Every {name} of the template is a path parameter, and only those.
        params = [resolve(doc, p["$ref"]) if "$ref" in p else p for p in op.get("parameters", [])]
        in_path = {p["name"] for p in params if p["in"] == "path"}
        assert in_path == set(re.findall(r"\{([^}/]+)\}", path)), where
        for p in params:
            assert p["in"] in ("path", "query", "header", "cookie"), (where, p)
            assert "schema" in p, (where, p)
            if p["in"] == "path":
                assert p["required"] is True, (where, p)
        # Errors share the one shape.
        for code, resp in op["responses"].items():
            if code.startswith(("4", "5")) and "$ref" not in resp:
                for media, body in resp.get("content", {}).items():
                    if media == "application/json":
                        error = {"$ref": "#/components/schemas/Error"}
                        assert body["schema"] == error or error in body["schema"].get("oneOf", []), \
                            (where, code)
        if method in ("POST", "PUT") and "requestBody" in op:
            assert "application/json" in op["requestBody"]["content"], where


def test_every_route_the_daemon_serves_is_documented():
    doc = load_doc()
    documented = {(m, normalize(p)) for m, p, _ in operations(doc)}
    missing = sorted(f"{m} {p}" for m, p in implemented_routes()
                     if (m, normalize(p)) not in documented)
    assert missing == [], "served but not in api/openapi.json: " + ", ".join(missing)


def placeholder(path):
    return re.sub(r"\{[^}/]+\}", lambda m: "acme" if m.group(0) == "{merchant}" else "1", path)


def test_every_documented_route_exists(ordo):
    doc = load_doc()
    served = {(m, normalize(p)) for m, p in implemented_routes()}
    checked = 0
    for method, path, op in operations(doc):
        if op.get("x-ordo-pending") and (method, normalize(path)) not in served:
            continue            # being added on another branch; see the module's comment
        url = placeholder(path)
        kw = {"headers": {"Idempotency-Key": "openapi-check"}}
        if path.startswith("/api/v1/"):
            kw["headers"]["Authorization"] = "Bearer acme-api-key-0123456789abcdef"
        if method in ("POST", "PUT"):
            kw["data"] = b"{}"
        r = ordo.request(method, url, **kw)
        code = None
        if r.headers.get("Content-Type", "").startswith("application/json"):
            body = r.json()
            code = body.get("error", {}).get("code") if isinstance(body, dict) else None
        assert code != "no_route" and r.status_code != 405, (method, url, r.status_code, r.text)
        checked += 1
    assert checked >= 50


def test_the_router_tells_a_missing_route_from_a_missing_resource(ordo):
    # The distinction the check above stands on.
    h = {"Authorization": "Bearer acme-api-key-0123456789abcdef"}
    r = ordo.request("GET", "/api/v1/orders/1/nothing", headers=h)
    assert r.status_code == 404 and r.json()["error"]["code"] == "no_route", r.text
    assert "cancel" in r.json()["error"]["message"], "names the routes beside it"
    r = ordo.request("GET", "/api/v1/orders/424242", headers=h)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", r.text
    r = ordo.request("DELETE", "/api/v1/orders/1", headers=h)
    assert r.status_code == 405 and r.headers["Allow"] == "GET", r.text
    r = ordo.request("PUT", "/healthz")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
    r = ordo.request("GET", "/nowhere")
    assert r.status_code == 404 and r.json()["error"]["code"] == "no_route"
    # Without a key the API says 401 whatever the path, so it lists nothing.
    assert ordo.request("GET", "/api/v1/nowhere").status_code == 401


def test_the_document_is_served_without_a_key(ordo):
    r = ordo.request("GET", "/api/v1/openapi.json")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/json"
    assert r.json() == load_doc(), "the binary serves the document built into it"
    assert ordo.request("POST", "/api/v1/openapi.json").status_code == 405
