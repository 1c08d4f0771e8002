"""Who may call what (every route against every kind of caller), revocation, per-key idempotency, rate limits,
security headers and the Allow header, on the in-process app (no encoder: text vectors are hashed words)."""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from lmrec.errors import ConfigError
from lmrec.serve import ServeSettings, create_app
from lmrec.serve._settings import RateLimit
from lmrec.serve.security import RateLimiter
from tests.serve.conftest import STORES, TEST_LIMITS, fresh_db_url


def _word_vectors(texts: list[str]) -> np.ndarray:
    """A stand-in text encoder (8 dims, words hashed): deterministic and instant."""
    out = np.zeros((len(texts), 8), dtype=np.float32)
    for i, t in enumerate(texts):
        for w in t.lower().split():
            out[i, hashlib.sha256(w.encode()).digest()[0] % 8] += 1.0
    out[:, 0] += 1e-3
    return out


def make_app(
    model_dir: Path, tmp: Path, db_url: str | None = None, **settings: Any
) -> tuple[Any, dict[str, str]]:
    """The app (store ``db_url``, default a new SQLite file) with keys of every scope (plus one revoked) and
    ``settings`` over the test limits."""
    tmp.mkdir(parents=True, exist_ok=True)
    np.save(tmp / "v.npy", np.random.default_rng(0).normal(size=(30, 8)).astype(np.float32))
    base = {**TEST_LIMITS, "item_vectors": str(tmp / "v.npy"), **settings}
    app = create_app(model_dir, db_url or f"sqlite:///{tmp / 's.sqlite'}", ServeSettings.from_dict(base))
    app.state.service.encode = _word_vectors
    store = app.state.service.store
    keys = {scope: store.create_key(scope, [scope]) for scope in ("read", "events", "catalog", "admin")}
    keys["revoked"] = store.create_key("gone", ["admin"])
    store.revoke_key(keys["revoked"].split("_")[1])
    keys["invalid"] = "lmk_000000000000_" + "x" * 43
    keys["malformed"] = "not-a-key"
    return app, keys


@pytest.fixture(scope="module")
def secured(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[TestClient, dict[str, str]]:
    app, keys = make_app(model_dir, tmp_path_factory.mktemp("secured"))
    with TestClient(app) as client:
        yield client, keys


def auth(key: str | None) -> dict[str, str]:
    return {} if key is None else {"Authorization": f"Bearer {key}"}


EVENT = {"events": [{"user_id": "matrix-user", "type": "like", "item_id": "i2"}]}
# (method, path template, concrete path, request kwargs, who may call it)
ROUTES = [
    ("GET", "/health", "/health", {}, "open"),
    ("GET", "/metrics", "/metrics", {}, "open"),
    ("GET", "/items/{item_id}", "/items/i1", {}, "public"),
    ("GET", "/items/{item_id}/similar", "/items/i1/similar", {}, "public"),
    ("GET", "/search", "/search", {"params": {"q": "space film"}}, "public"),
    ("POST", "/recommendations", "/recommendations", {"json": {"items": ["i1"], "text": "space"}}, "public"),
    ("GET", "/users/{user_id}/recommendations", "/users/u1/recommendations", {}, "read"),
    ("POST", "/events", "/events", {"json": EVENT}, "events"),
    ("POST", "/items", "/items", {"json": {"id": "matrix-item", "title": "a matrix film"}}, "catalog"),
    ("DELETE", "/items/{item_id}", "/items/matrix-nothing", {}, "catalog"),
    ("GET", "/session", "/session", {}, "public"),
    ("PUT", "/session/{kind}/{item_id}", "/session/likes/i1", {}, "public"),
    ("DELETE", "/session/{kind}/{item_id}", "/session/not-interested/i1", {}, "public"),
    ("GET", "/session/recommendations", "/session/recommendations", {}, "public"),
]
CALLERS = [None, "malformed", "invalid", "revoked", "read", "events", "catalog", "admin"]


def expected(level: str, caller: str | None) -> str:
    """'ok', 401 or 403: what ``caller`` gets from an operation open to ``level``."""
    if level == "open":
        return "ok"
    if caller in ("malformed", "invalid", "revoked"):
        return "401"
    if level == "public":
        return "ok"
    if caller is None:
        return "401"
    return "ok" if caller in (level, "admin") else "403"


def test_the_matrix_covers_every_operation(secured) -> None:
    client, _ = secured
    spec = client.get("/openapi.json").json()
    operations = {(m.upper(), p) for p, item in spec["paths"].items() for m in item}
    assert operations == {(m, p) for m, p, *_ in ROUTES}


@pytest.mark.parametrize("caller", CALLERS, ids=str)
@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r[0]} {r[1]}")
def test_every_route_and_scope(secured, route, caller) -> None:
    client, keys = secured
    method, _, path, kwargs, level = route
    r = client.request(method, path, headers=auth(keys.get(caller)), **kwargs)
    want = expected(level, caller)
    if want == "ok":
        assert r.status_code < 400 or (method == "DELETE" and r.status_code == 404), r.text
    else:
        assert r.status_code == int(want), r.text
        assert "detail" in r.json()
        if want == "401":
            assert r.headers["www-authenticate"] == "Bearer"
        else:
            assert f"lacks the '{level}' scope" in r.json()["detail"]


def test_without_the_scope_nothing_is_read_or_changed(secured) -> None:
    client, keys = secured
    store = client.app.state.service.store
    before = store.count_events()
    for who in (None, "read", "catalog", "invalid"):
        assert client.post("/events", json=EVENT, headers=auth(keys.get(who))).status_code in (401, 403)
    for who in (None, "read", "events", "invalid"):
        body = {"id": f"never-{who}", "title": "x"}
        assert client.post("/items", json=body, headers=auth(keys.get(who))).status_code in (401, 403)
        assert client.delete("/items/i5", headers=auth(keys.get(who))).status_code in (401, 403)
        r = client.post("/items", json={"id": "i6", "title": "hijacked"}, headers=auth(keys.get(who)))
        assert r.status_code in (401, 403)
    for who in (None, "events", "catalog", "invalid"):
        r = client.get("/users/u1/recommendations", params={"explain": "true"}, headers=auth(keys.get(who)))
        assert r.status_code in (401, 403) and "items" not in r.json() and "cold_start" not in r.json()
    assert store.count_events() == before
    assert client.get("/items/never-None").status_code == 404
    assert client.get("/items/i5").status_code == 200
    assert client.get("/items/i6").json()["title"] != "hijacked"


def test_open_user_reads_opens_only_user_reads(model_dir, tmp_path) -> None:
    app, keys = make_app(model_dir, tmp_path, open_user_reads=True)
    with TestClient(app) as c:
        assert c.get("/health").json()["user_reads"] == "open"
        assert c.get("/users/u1/recommendations", params={"explain": "true"}).status_code == 200
        assert c.get("/users/u1/recommendations", headers=auth(keys["invalid"])).status_code == 401
        assert c.post("/events", json=EVENT).status_code == 401
        spec = c.get("/openapi.json").json()
    assert spec["paths"]["/users/{user_id}/recommendations"]["get"]["security"] == [{}, {"apiKey": []}]
    assert "open to anyone" in spec["info"]["description"]
    with pytest.raises(ConfigError, match="contradict"):
        ServeSettings.from_dict({"open_user_reads": True, "require_key_for_reads": True})


def test_a_revoked_key_stops_working_within_the_cache_time(model_dir, tmp_path) -> None:
    app, keys = make_app(model_dir, tmp_path)
    store = app.state.service.store
    key = store.create_key("soon-gone", ["read"])
    with TestClient(app) as c:
        assert c.get("/users/u1/recommendations", headers=auth(key)).status_code == 200
        store.revoke_key(key.split("_")[1])
        time.sleep(app.state.service.settings.key_cache_seconds + 0.05)
        assert c.get("/users/u1/recommendations", headers=auth(key)).status_code == 401
        assert "within 0.5 s" in c.get("/openapi.json").json()["info"]["description"]
    with pytest.raises(ConfigError, match="key_cache_seconds"):
        ServeSettings.from_dict({"key_cache_seconds": 1.0})  # never a second or more


@pytest.mark.parametrize("kind", STORES)
def test_idempotency_keys_are_per_api_key_and_bound_to_the_events(kind: str, model_dir, tmp_path) -> None:
    app, keys = make_app(model_dir, tmp_path, fresh_db_url(kind, tmp_path, "lmrec_idempotency_tests"))
    with TestClient(app) as client:
        _idempotency_checks(client, keys)


def _idempotency_checks(client: TestClient, keys: dict[str, str]) -> None:
    store = client.app.state.service.store
    a = {**auth(keys["events"]), "Idempotency-Key": "order-17"}
    b = {**auth(keys["admin"]), "Idempotency-Key": "order-17"}
    body = {"events": [{"user_id": "idem-a", "type": "view", "item_id": "i3"}]}
    other = {"events": [{"user_id": "idem-a", "type": "view", "item_id": "i4"}]}
    first = client.post("/events", json=body, headers=a).json()
    assert not first["duplicate"]
    n = store.count_events()
    retry = client.post("/events", json=body, headers=a).json()
    assert retry == {**first, "duplicate": True} and store.count_events() == n
    # the same key in the body instead of the header, spelt differently: the same request
    spelt = {
        "idempotency_key": "order-17",
        "events": [{"item_id": "i3", "type": "view", "user_id": "idem-a"}],
    }
    assert client.post("/events", json=spelt, headers=auth(keys["events"])).json()["duplicate"]
    # the same key with other events: a conflict naming the key, nothing stored
    r = client.post("/events", json=other, headers=a)
    assert r.status_code == 409 and "order-17" in r.json()["detail"] and "different" in r.json()["detail"]
    assert store.count_events() == n
    # another API key's identical idempotency key is its own request: stored, never A's answer
    from_b = client.post("/events", json=other, headers=b).json()
    assert not from_b["duplicate"] and not set(from_b["ids"]) & set(first["ids"])
    assert store.count_events() == n + 1
    # sent in both places, the header's key is the one used
    both = client.post("/events", json={**body, "idempotency_key": "other"}, headers=a).json()
    assert both == {**first, "duplicate": True}


def test_rate_limits_per_address_and_per_key(model_dir, tmp_path) -> None:
    slow = {"per_second": 0.001, "burst": 3}
    app, keys = make_app(
        model_dir, tmp_path, rate_limits={"address": slow, "key": {"per_second": 0.001, "burst": 2}}
    )
    with TestClient(app) as c:
        assert [c.get("/items/i1").status_code for _ in range(3)] == [200] * 3
        r = c.get("/items/i1")
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert "per client address" in r.json()["detail"]
        assert c.get("/health").status_code == 200 and c.get("/").status_code == 200  # not limited
        # a key has its own bucket, whatever its address's state
        assert [c.get("/items/i1", headers=auth(keys["read"])).status_code for _ in range(2)] == [200, 200]
        r = c.get("/users/u1/recommendations", headers=auth(keys["read"]))  # the fast path is limited too
        assert r.status_code == 429 and "per API key" in r.json()["detail"] and r.headers["retry-after"]
        assert c.get("/items/i1", headers=auth(keys["admin"])).status_code == 200  # another key
    # made-up keys cost a store lookup each: at most the address's burst of them reach the store
    app, keys = make_app(model_dir, tmp_path / "lookups", rate_limits={"address": slow})
    verifier, lookups = app.state.verifier, []
    real_verify = verifier._verify
    verifier._verify = lambda key: lookups.append(key) or real_verify(key)
    with TestClient(app) as c:
        got = [
            c.get("/items/i1", headers=auth(f"lmk_abcdef01234{i}_" + "y" * 43)).status_code for i in range(8)
        ]
        assert got == [401] * 3 + [429] * 5 and len(lookups) == 3
        assert c.get("/items/i1", headers=auth(keys["read"])).status_code == 429  # a new key: same bucket


def test_encoder_backed_requests_have_a_stricter_limit(model_dir, tmp_path) -> None:
    app, keys = make_app(
        model_dir,
        tmp_path,
        rate_limits={**TEST_LIMITS["rate_limits"], "encoder_address": {"per_second": 0.001, "burst": 2}},
    )
    with TestClient(app) as c:
        assert [c.get("/search", params={"q": "space"}).status_code for _ in range(2)] == [200, 200]
        r = c.get("/search", params={"q": "space"})
        assert r.status_code == 429 and "text-encoding" in r.json()["detail"] and r.headers["retry-after"]
        assert c.post("/recommendations", json={"text": "space"}).status_code == 429
        assert c.post("/recommendations", json={"items": ["i1"]}).status_code == 200  # no text: no encoder
        assert c.get("/items/i1/similar").status_code == 200
        assert c.get("/search", params={"q": "space"}, headers=auth(keys["read"])).status_code == 200


def test_forwarded_for_is_trusted_only_when_configured(model_dir, tmp_path) -> None:
    limits = {"rate_limits": {"address": {"per_second": 0.001, "burst": 1}}}
    for trust in (False, True):
        app, _ = make_app(model_dir, tmp_path / str(trust), trust_forwarded_for=trust, **limits)
        with TestClient(app) as c:
            got = [
                c.get("/items/i1", headers={"X-Forwarded-For": f"10.0.0.{i}"}).status_code for i in range(3)
            ]
        assert got == ([200, 200, 200] if trust else [200, 429, 429])


def test_token_bucket_refills_and_stays_bounded() -> None:
    now = [0.0]
    limiter = RateLimiter(max_buckets=3, clock=lambda: now[0])
    limit = RateLimit(per_second=2, burst=2)
    assert [limiter.take(("k", "a"), limit) for _ in range(2)] == [0.0, 0.0]
    assert limiter.take(("k", "a"), limit) == pytest.approx(0.5)
    now[0] += 0.25
    assert limiter.take(("k", "a"), limit) == pytest.approx(0.25)
    now[0] += 0.25
    assert limiter.take(("k", "a"), limit) == 0.0
    for name in "bcdefg":
        limiter.take(("k", name), limit)
    assert len(limiter._buckets) <= 3


def test_security_headers_and_allow(secured) -> None:
    client, keys = secured
    r = client.options("/items/i1")
    assert r.status_code == 204 and r.headers["allow"] == "DELETE, GET, OPTIONS"
    r = client.put("/items/i1", headers=auth(keys["admin"]))
    assert r.status_code == 405 and r.headers["allow"] == "DELETE, GET, OPTIONS"
    assert client.options("/events").headers["allow"] == "OPTIONS, POST"
    assert client.options("/users/u1/recommendations").headers["allow"] == "GET, OPTIONS"
    docs = client.get("/docs")
    csp = docs.headers["content-security-policy"]
    script_src = csp.split("script-src", 1)[1].split(";")[0]
    # Swagger UI is served from this package (works offline): scripts from the service only, none inline
    assert script_src.strip() == "'self'" and "https:" not in csp and "cdn" not in csp
    assert "<script>" not in docs.text
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', docs.text):
        assert client.get(asset).status_code == 200, asset
    assert "swagger-ui-bundle.js" in docs.text
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    api = client.get("/items/i1")
    assert api.headers["x-content-type-options"] == "nosniff" and api.headers["x-frame-options"] == "DENY"
    user = client.get("/users/u1/recommendations", headers=auth(keys["read"]))
    assert user.headers["cache-control"] == "no-store"


def test_the_page_may_keep_its_key_only_when_the_operator_opts_in(model_dir, tmp_path) -> None:
    app, _ = make_app(model_dir, tmp_path, web_key_storage="local")
    with TestClient(app) as c:
        assert 'data-key-storage="local"' in c.get("/").text
    js = (Path(__file__).resolve().parents[2] / "src/lmrec/serve/static/app.js").read_text()
    # the key reaches localStorage only behind the operator's setting; otherwise a stored one is removed
    assert js.count('localStorage.setItem("lmrec.key"') == 1
    assert 'if (state.keyStorage === "local") localStorage.setItem("lmrec.key"' in js
    assert 'localStorage.removeItem("lmrec.key")' in js


def test_schema_states_the_rules(secured) -> None:
    client, _ = secured
    spec = client.get("/openapi.json").json()
    events = spec["components"]["schemas"]["EventsRequest"]["properties"]["events"]["items"]
    assert events["discriminator"]["propertyName"] == "type" and len(events["oneOf"]) == 3
    assert set(spec["components"]["schemas"]["RatingEvent"]["required"]) == {
        "user_id",
        "type",
        "item_id",
        "value",
    }
    assert set(spec["components"]["schemas"]["ItemEvent"]["required"]) == {"user_id", "type", "item_id"}
    params = {p["name"]: p for p in spec["paths"]["/users/{user_id}/recommendations"]["get"]["parameters"]}
    assert params["explore"]["schema"]["enum"] == [False]  # no bandit here: only false is valid
    for path, item in spec["paths"].items():
        for method, op in item.items():
            codes = set(op["responses"])
            if path in ("/health", "/metrics"):
                assert "security" not in op
                continue
            assert {"401", "429"} <= codes, (method, path)
            assert op["responses"]["429"]["headers"]["Retry-After"]["required"]
            if method == "post":
                assert {"400", "413", "415", "422"} <= codes, (method, path)
            if op["security"] == [{"apiKey": []}]:
                assert "403" in codes, (method, path)
    assert {"200", "201"} <= set(spec["paths"]["/items"]["post"]["responses"])
    assert "409" in spec["paths"]["/events"]["post"]["responses"]


def test_lmrec_serve_warns_loudly_when_user_reads_are_open(model_dir, tmp_path) -> None:
    from tests.serve.conftest import settings_file, start_server, stop_server

    np.save(tmp_path / "v.npy", np.random.default_rng(0).normal(size=(30, 8)).astype(np.float32))
    settings = settings_file(tmp_path / "s.json", item_vectors=str(tmp_path / "v.npy"))
    db = f"sqlite:///{tmp_path / 's.sqlite'}"
    server = start_server(
        model_dir, db, tmp_path / "log", "--settings", str(settings), "--open-user-reads", scopes=("events",)
    )
    try:
        with server.client(auth=False) as c:
            assert c.get("/health").json()["user_reads"] == "open"
            assert c.get("/users/u1/recommendations").status_code == 200
    finally:
        stop_server(server)
    log = server.log.read_text()
    assert "WARNING" in log and "open_user_reads is ON" in log and "ANY user's" in log


def test_contradicting_read_settings_are_a_one_line_error(model_dir, tmp_path, capsys) -> None:
    from lmrec.cli import main as cli

    (tmp_path / "s.json").write_text('{"require_key_for_reads": true}')
    code = cli(["serve", str(model_dir), "--settings", str(tmp_path / "s.json"), "--open-user-reads"])
    err = capsys.readouterr().err
    assert code == 2 and "contradict" in err and len(err.strip().splitlines()) == 1
