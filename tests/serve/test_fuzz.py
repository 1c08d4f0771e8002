"""Property-based fuzzing from /openapi.json: no generated request, valid or not, gets a 5xx."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.serve.conftest import Server

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
SCALAR = st.one_of(
    st.text(max_size=40), st.integers(-(10**12), 10**12).map(str), st.sampled_from(["", "true", "0"])
)
CATALOG_ID = re.compile(
    r"^i\d+$"
)  # the fixture catalog: other tests rely on it, so the fuzzer leaves it alone


def _from_schema(
    schema: dict[str, Any], components: dict[str, Any], depth: int = 0
) -> st.SearchStrategy[Any]:
    """Values that follow ``schema`` (the subset of JSON Schema that FastAPI emits), often near its limits."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return _from_schema(components["schemas"][name], components, depth)
    if depth > 4:
        return st.none()
    if "anyOf" in schema or "oneOf" in schema:
        return st.one_of(
            [_from_schema(s, components, depth + 1) for s in schema.get("anyOf", schema.get("oneOf"))]
        )
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "const" in schema:
        return st.just(schema["const"])
    kind = schema.get("type")
    if kind == "string":
        lo, hi = schema.get("minLength", 0), min(schema.get("maxLength", 50), 60)
        return st.text(min_size=lo, max_size=max(lo, hi))
    if kind == "integer":
        return st.integers(schema.get("minimum", -(10**6)) - 2, schema.get("maximum", 10**6) + 2)
    if kind == "number":
        return st.floats(allow_nan=False) | st.integers(-5, 5)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        item = _from_schema(schema.get("items", {}), components, depth + 1)
        return st.lists(item, max_size=min(schema.get("maxItems", 4), 4))
    if kind == "object" or "properties" in schema:
        props = {k: _from_schema(v, components, depth + 1) for k, v in schema.get("properties", {}).items()}
        required = set(schema.get("required", []))
        return st.fixed_dictionaries(
            {k: v for k, v in props.items() if k in required},
            optional={k: v for k, v in props.items() if k not in required},
        )
    return JSON


def _operation(op: tuple[str, str, dict[str, Any]], components: dict[str, Any]) -> st.SearchStrategy[Any]:
    method, path, spec = op
    params = spec.get("parameters", [])
    path_params = {p["name"]: SCALAR for p in params if p["in"] == "path"}
    query = {}
    for p in params:
        if p["in"] == "query":
            query[p["name"]] = st.one_of(SCALAR, _from_schema(p.get("schema", {}), components).map(str))
    body: st.SearchStrategy[Any] = st.just(None)
    content = spec.get("requestBody", {}).get("content", {}).get("application/json")
    if content:
        body = st.one_of(_from_schema(content["schema"], components), JSON)
    return st.fixed_dictionaries(
        {
            "method": st.just(method.upper()),
            "path": st.just(path),
            "path_params": st.fixed_dictionaries(path_params),
            "query": st.fixed_dictionaries({}, optional=query),
            "body": body,
            "auth": st.booleans(),
        }
    )


@pytest.fixture(scope="module")
def spec(server: Server) -> dict[str, Any]:
    return httpx.get(server.url + "/openapi.json").json()


def test_no_server_error_on_generated_requests(server: Server, spec: dict[str, Any]) -> None:
    components = spec.get("components", {})
    ops = [(m, p, o) for p, item in spec["paths"].items() for m, o in item.items()]
    requests = st.sampled_from(ops).flatmap(lambda op: _operation(op, components))
    client = httpx.Client(base_url=server.url, timeout=60)
    failures: list[str] = []

    @settings(
        max_examples=100,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )
    @given(requests)
    def check(req: dict[str, Any]) -> None:
        path = req["path"]
        for name, value in req["path_params"].items():
            if req["method"] == "DELETE" and CATALOG_ID.match(value):
                value = "fuzz-" + value
            path = path.replace("{" + name + "}", quote(value, safe=""))
        body = req["body"]
        if isinstance(body, dict) and isinstance(body.get("id"), str) and CATALOG_ID.match(body["id"]):
            body["id"] = "fuzz-" + body["id"]
        headers = {"Authorization": f"Bearer {server.key}"} if req["auth"] else {}
        kwargs: dict[str, Any] = {"params": req["query"], "headers": headers}
        if body is not None:
            # json.dumps writes NaN/Infinity (not JSON): the server must reject those politely too
            kwargs["content"] = json.dumps(body)
            headers["Content-Type"] = "application/json"
        r = client.request(req["method"], path or "/", **kwargs)
        if r.status_code >= 500:
            failures.append(
                f"{req['method']} {path} {req['query']} {body!r:.200} -> {r.status_code} {r.text[:200]}"
            )
        assert r.status_code < 500, failures[-1]

    try:
        check()
    finally:
        client.close()
    assert httpx.get(server.url + "/health").status_code == 200
