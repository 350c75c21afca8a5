"""Issue 8: /api/v1/openapi.json documents every API route, and is a valid OpenAPI document."""
from __future__ import annotations

import re

from openapi_spec_validator import validate

PREFIX = "/api/v1"


def api_routes(app) -> set[tuple[str, str]]:
    """(method, path) of every route under /api/v1, with <converter:name> written as {name}."""
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(PREFIX + "/"):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule[len(PREFIX):])
        routes |= {(method.lower(), path) for method in rule.methods - {"HEAD", "OPTIONS"}}
    return routes


def test_every_api_route_is_documented_and_nothing_else(app, anonymous):
    document = anonymous.get(f"{PREFIX}/openapi.json").get_json()
    documented = {(method, path) for path, item in document["paths"].items() for method in item
                  if method in ("get", "post", "put", "patch", "delete")}
    routes = api_routes(app)
    assert routes - documented == set(), "routes missing from the OpenAPI document"
    assert documented - routes == set(), "documented operations that do not exist"


def test_the_document_is_valid_openapi(anonymous):
    document = anonymous.get(f"{PREFIX}/openapi.json").get_json()
    validate(document)
    assert document["openapi"].startswith("3.")
    for path, item in document["paths"].items():
        for operation in item.values():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == set(re.findall(r"{(\w+)}", path)), path
            assert operation["responses"], path

