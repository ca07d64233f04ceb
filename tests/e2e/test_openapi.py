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

from conftest import ORDO_BIN, ROOT, shopify_order

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


def check(doc, schema, value, where):
    """`value` against `schema`: type, nullable, enum, required, properties,
    items, oneOf/allOf and $ref (enough of JSON Schema for this document).
    Properties not described are allowed."""
    if "$ref" in schema:
        return check(doc, resolve(doc, schema["$ref"]), value, where)
    if value is None:
        assert schema.get("nullable") or "type" not in schema, f"{where}: null"
        return
    if "oneOf" in schema:
        fits = 0
        for alt in schema["oneOf"]:
            try:
                check(doc, alt, value, where)
                fits += 1
            except AssertionError:
                pass
        assert fits >= 1, f"{where}: {value!r} fits none of oneOf"
        return
    for alt in schema.get("allOf", []):
        check(doc, alt, value, where)
    t = schema.get("type")
    types = {"object": dict, "array": list, "string": str, "boolean": bool,
             "integer": int, "number": (int, float)}
    if t:
        assert isinstance(value, types[t]) and not (t == "integer" and isinstance(value, bool)), \
            f"{where}: {value!r} is not {t}"
    if "enum" in schema:
        assert value in schema["enum"], f"{where}: {value!r} not in {schema['enum']}"
    if t == "object":
        for k in schema.get("required", []):
            assert k in value, f"{where}: missing {k}"
        for k, sub in schema.get("properties", {}).items():
            if k in value:
                check(doc, sub, value[k], f"{where}.{k}")
    if t == "array":
        for i, item in enumerate(value):
            check(doc, schema.get("items", {}), item, f"{where}[{i}]")


def check_response(doc, method, path, op, r):
    """The status is documented for the operation, and a JSON body fits."""
    where = f"{method} {path} -> {r.status_code}"
    responses = op["responses"]
    assert str(r.status_code) in responses, f"{where} is not documented: {r.text[:300]}"
    resp = responses[str(r.status_code)]
    resp = resolve(doc, resp["$ref"]) if "$ref" in resp else resp
    media = r.headers.get("Content-Type", "").split(";")[0]
    content = resp.get("content", {})
    if media == "application/json" and "application/json" in content:
        check(doc, content["application/json"]["schema"], r.json(), where)


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
            code = (body.get("error") or {}).get("code") if isinstance(body, dict) else None
        assert code != "no_route" and r.status_code != 405, (method, url, r.status_code, r.text)
        check_response(doc, method, path, op, r)
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


def test_head_answers_every_get_route_as_get_does(ordo):
    """HEAD is GET without the body, on every GET route the daemon serves,
    except a download link: a HEAD must not count as a download (405)."""
    h = {"Authorization": "Bearer acme-api-key-0123456789abcdef"}
    checked = 0
    for method, pattern in sorted(implemented_routes()):
        if method != "GET":
            continue
        url = re.sub(r"\{[a-z_]+\}", "1", pattern)
        get = ordo.request("GET", url, headers=h)
        head = ordo.request("HEAD", url, headers=h)
        if pattern == "/d/{token}":
            assert head.status_code == 405 and head.headers["Allow"] == "GET", head.status_code
            continue
        assert head.status_code == get.status_code, (url, get.status_code, head.status_code)
        assert head.content == b"", url
        assert head.headers.get("Content-Type") == get.headers.get("Content-Type"), url
        checked += 1
    assert checked >= 20


def test_the_document_is_served_without_a_key(ordo):
    r = ordo.request("GET", "/api/v1/openapi.json")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/json"
    assert r.json() == load_doc(), "the binary serves the document built into it"
    assert ordo.request("POST", "/api/v1/openapi.json").status_code == 405


def test_answers_fit_their_schemas(ordo):
    """Real data through the read routes: each answer fits the document."""
    doc = load_doc()
    body = shopify_order()
    assert ordo.shopify(body).status_code == 200
    o = ordo.wait_order("shopify", body["id"])
    ops = {(m, p): op for m, p, op in operations(doc)}
    h = {"Authorization": "Bearer acme-api-key-0123456789abcdef"}
    for path, url in [("/api/v1/orders", "/api/v1/orders"),
                      ("/api/v1/orders/{id}", f"/api/v1/orders/{o['id']}"),
                      ("/api/v1/orders/{id}/digital", f"/api/v1/orders/{o['id']}/digital"),
                      ("/api/v1/dead-letters", "/api/v1/dead-letters"),
                      ("/api/v1/effects", "/api/v1/effects"),
                      ("/api/v1/subscriptions", "/api/v1/subscriptions"),
                      ("/api/v1/inventory", "/api/v1/inventory"),
                      ("/api/v1/returns", "/api/v1/returns"),
                      ("/healthz", "/healthz")]:
        r = ordo.request("GET", url, headers=h)
        assert r.status_code == 200, (url, r.text)
        check_response(doc, "GET", path, ops[("GET", path)], r)
    # Writes too: a subscription created, read and paused; a bad one refused.
    template = {"currency": "USD", "total": 3000, "subtotal": 3000, "email": "ada@example.com",
                "lines": [{"sku": "BOX", "title": "Box", "quantity": 1, "unit_price": 3000,
                           "total": 3000}]}
    r = ordo.request("POST", "/api/v1/subscriptions", headers=h,
                     json={"order": template, "interval": "month", "start": "2030-01-31T08:00:00Z"})
    assert r.status_code == 201, r.text
    check_response(doc, "POST", "/api/v1/subscriptions", ops[("POST", "/api/v1/subscriptions")], r)
    sid = r.json()["subscription"]["id"]
    for method, path, url, js in [
            ("GET", "/api/v1/subscriptions/{id}", f"/api/v1/subscriptions/{sid}", None),
            ("POST", "/api/v1/subscriptions/{id}/pause", f"/api/v1/subscriptions/{sid}/pause", {}),
            ("POST", "/api/v1/subscriptions", "/api/v1/subscriptions", {"interval": "fortnight"})]:
        r = ordo.request(method, url, headers=h, json=js)
        check_response(doc, method, path, ops[(method, path)], r)
    assert r.status_code == 422, r.text
    # The check can fail: a wrong type is caught.
    bad = dict(o, total="24.99")
    with pytest.raises(AssertionError):
        check(doc, {"$ref": "#/components/schemas/Order"}, bad, "order")
