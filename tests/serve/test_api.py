"""The HTTP API against a real server: reads, writes, auth, validation, real-time updates, catalog changes."""

from __future__ import annotations

import threading
import uuid

import numpy as np

from lmrec.explain import short_title
from tests.serve.conftest import Server


def uid(prefix: str = "u") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def parity(item_id: str) -> int:
    """tiny_dataset: item i is a space film when i is even, a romantic comedy when odd."""
    return int(item_id[1:]) % 2


def test_health_and_openapi(server: Server) -> None:
    with server.client(auth=False) as c:
        h = c.get("/health").json()
        assert h["status"] == "ok" and h["model"] == "pop" and h["items"] >= 30
        assert h["index"]["kind"] == "exact" and h["schema_version"] == 2 and h["user_reads"] == "key"
        paths = c.get("/openapi.json").json()["paths"]
    for p in (
        "/health",
        "/items/{item_id}",
        "/users/{user_id}/recommendations",
        "/recommendations",
        "/items/{item_id}/similar",
        "/search",
        "/events",
        "/items",
        "/metrics",
    ):
        assert p in paths, p
    assert "delete" in paths["/items/{item_id}"]


def test_item_id_parameters_have_a_live_example(server: Server) -> None:
    """Every item_id path parameter carries a real catalog item as its example (for /docs' "Try it out"
    and for Schemathesis' example phase: random ids only ever reach the 404 branch)."""
    with server.client(auth=False) as c:
        paths = c.get("/openapi.json").json()["paths"]
        examples = {
            (path, method): p.get("example")
            for path, item in paths.items()
            for method, op in item.items()
            for p in op.get("parameters", [])
            if p["in"] == "path" and p["name"] == "item_id"
        }
        assert len(examples) >= 5, examples  # GET/DELETE item, similar, PUT/DELETE session
        (example,) = set(examples.values())
        assert example is not None and c.get(f"/items/{example}").status_code == 200
        assert c.put(f"/session/likes/{example}").status_code == 200


def test_item_and_unknown_item(server: Server) -> None:
    with server.client(auth=False) as c:
        item = c.get("/items/i3").json()
        assert item == {
            "id": "i3",
            "title": "Item 3 romantic comedy film",
            "text": "Item 3 romantic comedy film. romantic",
            "categories": ["romantic"],
            "year": None,  # the tiny catalog has no year, description or picture
            "description": None,
            "image_url": None,
        }
        r = c.get("/items/nope")
        assert r.status_code == 404 and "nope" in r.json()["detail"]
        assert c.get("/items/nope/similar").status_code == 404


def test_similar_items_share_the_topic(server: Server) -> None:
    with server.client(auth=False) as c:
        res = c.get("/items/i3/similar", params={"k": 5}).json()
    ids = [x["id"] for x in res["items"]]
    assert len(ids) == 5 and "i3" not in ids
    assert {parity(i) for i in ids} == {1}
    scores = [x["score"] for x in res["items"]]
    assert scores == sorted(scores, reverse=True)


def test_text_search(server: Server) -> None:
    with server.client(auth=False) as c:
        res = c.get("/search", params={"q": "space science fiction", "k": 8}).json()
        assert [parity(x["id"]) for x in res["items"]] == [0] * 8
        assert c.get("/search", params={"q": "   "}).status_code == 422
        assert c.get("/search").status_code == 422


def test_known_user_excludes_seen_and_explains(server: Server, tiny) -> None:
    seen = {f"i{i}" for i in tiny.interactions.item[tiny.interactions.user == 1]}
    with server.client() as c:
        res = c.get("/users/u1/recommendations", params={"k": 5, "explain": "true"}).json()
        assert not res["cold_start"] and len(res["items"]) == 5
        assert not {x["id"] for x in res["items"]} & seen
        titles = {f"i{i}": t for i, t in enumerate(tiny.item_titles())}
        for x in res["items"]:
            e = x["explanation"]
            assert e["because_item_id"] in seen and e["because_title"] == titles[e["because_item_id"]]
            # the Explainer's sentence (one of several wordings) names the real history title it credits
            assert short_title(e["because_title"]) in e["text"]
        with_seen = c.get("/users/u1/recommendations", params={"k": 30, "exclude_seen": "false"}).json()
        assert seen <= {x["id"] for x in with_seen["items"]}


def test_unknown_user_gets_popular_items(server: Server, tiny) -> None:
    counts = np.bincount(tiny.interactions.item, minlength=tiny.n_items)
    with server.client() as c:
        res = c.get(f"/users/{uid()}/recommendations", params={"k": 3, "explain": "true"}).json()
    assert res["cold_start"]
    top = [int(x["id"][1:]) for x in res["items"]]
    assert [counts[i] for i in top] == sorted(counts, reverse=True)[:3]
    assert res["items"][0]["explanation"]["text"] == "Popular right now"


def test_an_event_changes_the_next_recommendation(server: Server) -> None:
    user = uid()
    with server.client() as c:
        before = c.get(f"/users/{user}/recommendations", params={"k": 5}).json()
        assert before["cold_start"]
        liked = before["items"][0]["id"]
        r = c.post("/events", json={"events": [{"user_id": user, "type": "like", "item_id": liked}]})
        assert r.status_code == 200 and r.json()["accepted"] == 1
        after = c.get(f"/users/{user}/recommendations", params={"k": 5, "explain": True}).json()
    assert not after["cold_start"]
    assert liked not in [x["id"] for x in after["items"]]
    assert all(x["explanation"]["because_item_id"] == liked for x in after["items"])


def test_explore_without_a_bandit_is_422(server: Server) -> None:
    with server.client() as c:
        r = c.get("/users/u1/recommendations", params={"explore": "true"})
    assert r.status_code == 422
    (err,) = r.json()["detail"]
    assert err["loc"] == ["query", "explore"] and "bandit=true" in err["msg"]


def test_search_event_steers_a_cold_start(server: Server) -> None:
    user = uid()
    with server.client() as c:
        c.post(
            "/events", json={"events": [{"user_id": user, "type": "search", "text": "space science fiction"}]}
        )
        res = c.get(f"/users/{user}/recommendations", params={"k": 1}).json()
    assert res["cold_start"] and parity(res["items"][0]["id"]) == 0


def test_writes_need_a_valid_key(server: Server) -> None:
    event = {"events": [{"user_id": "x", "type": "view", "item_id": "i1"}]}
    with server.client(auth=False) as c:
        assert c.post("/events", json=event).status_code == 401
        bad = {"Authorization": "Bearer lmk_000000000000_nope"}
        assert c.post("/events", json=event, headers=bad).status_code == 401
        assert c.post("/events", json=event, headers={"Authorization": "Basic abc"}).status_code == 401
        assert c.post("/items", json={"id": "z", "title": "t"}).status_code == 401
        assert c.delete("/items/i1").status_code == 401
        assert c.get("/items/i1").status_code == 200  # catalog reads are open by default
        assert c.get("/users/u1/recommendations").status_code == 401  # a user's data is not
        assert c.get("/items/i1", headers=bad).status_code == 401  # an invalid key is never ignored


def test_idempotency_key_stores_a_retry_once(server: Server) -> None:
    user = uid()
    body = {
        "events": [
            {"user_id": user, "type": "view", "item_id": "i2"},
            {"user_id": user, "type": "rating", "item_id": "i4", "value": 5},
        ]
    }
    key = uuid.uuid4().hex
    results: list[dict] = []

    def post() -> None:
        with server.client() as c:
            results.append(c.post("/events", json=body, headers={"Idempotency-Key": key}).json())

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4
    assert len({tuple(r["ids"]) for r in results}) == 1
    assert sum(not r["duplicate"] for r in results) == 1
    from lmrec.serve.store import Store

    store = Store(server.db_url)
    assert [e.item_id for e in store.user_events(user)] == ["i2", "i4"]
    store.close()


def test_bad_input_is_422_with_the_field(server: Server) -> None:
    with server.client() as c:
        # an event's required fields depend on its type (a discriminated union: the tag is in the loc)
        r = c.post("/events", json={"events": [{"user_id": "a", "type": "rating", "item_id": "i1"}]})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == [
            "body",
            "events",
            0,
            "rating",
            "value",
        ]
        r = c.post("/events", json={"events": [{"user_id": "a", "type": "click"}]})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "item_id"
        r = c.post("/events", json={"events": [{"user_id": "a", "type": "teleport", "item_id": "i1"}]})
        assert r.status_code == 422 and r.json()["detail"][0]["type"] == "union_tag_invalid"
        assert "teleport" in r.json()["detail"][0]["msg"]
        assert c.post("/events", json={"events": []}).status_code == 422
        r = c.post("/events", content=b"{not json", headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and "not valid JSON" in r.json()["detail"]
        r = c.post("/events", content=b'{"events": []}', headers={"Content-Type": "text/plain"})
        assert r.status_code == 415
        r = c.post("/recommendations", json={"items": ["i1"], "explain": 0})  # strict booleans
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "explain"]
        assert c.get("/users/u1/recommendations", params={"explain": "1"}).status_code == 422
        assert c.get("/users/u1/recommendations", params={"k": 0}).status_code == 422
        assert c.get("/users/u1/recommendations", params={"k": 10_000}).status_code == 422
        assert c.get("/users/u1/recommendations", params={"k": "ten"}).status_code == 422
        r = c.post("/events", json={"events": [{"user_id": "a", "type": "view", "item_id": "missing"}]})
        assert r.status_code == 404 and "missing" in r.json()["detail"]
        assert c.post("/recommendations", json={"items": ["missing"]}).status_code == 404
        nul = {"events": [{"user_id": "a", "type": "review", "item_id": "i1", "text": "a\x00b"}]}
        assert c.post("/events", json=nul).status_code == 422  # PostgreSQL text cannot store NUL
        assert c.get("/users/a%00b/recommendations").status_code == 422
        big = {"events": [{"user_id": "a", "type": "review", "item_id": "i1", "text": "x" * 4000}] * 300}
        assert c.post("/events", json=big).status_code == 413


def test_session_recommendations(server: Server) -> None:
    with server.client(auth=False) as c:
        res = c.post("/recommendations", json={"items": ["i2", "i4"], "k": 4, "explain": True}).json()
        assert len(res["items"]) == 4 and not {"i2", "i4"} & {x["id"] for x in res["items"]}
        assert all(x["explanation"]["because_item_id"] in ("i2", "i4") for x in res["items"])
        by_text = c.post("/recommendations", json={"text": "a romantic comedy", "k": 3}).json()
        assert [parity(x["id"]) for x in by_text["items"]] == [1, 1, 1]
        zh = c.post("/recommendations", json={"text": "我想了解最新的科技资讯", "k": 3})
        assert zh.status_code == 200 and len(zh.json()["items"]) == 3
        cold = c.post("/recommendations", json={}).json()
        assert cold["cold_start"] and len(cold["items"]) == 10


def test_new_item_is_searchable_and_recommendable_at_once(server: Server) -> None:
    new_id = uid("item")
    with server.client() as c:
        r = c.post(
            "/items",
            json={
                "id": new_id,
                "title": "Robots of the outer galaxy",
                "description": "A space science fiction film about robots.",
                "categories": ["space"],
            },
        )
        assert r.status_code == 201 and r.json()["created"]
        assert c.get(f"/items/{new_id}").json()["categories"] == ["space"]
        found = [x["id"] for x in c.get("/search", params={"q": "robots in space", "k": 3}).json()["items"]]
        assert new_id in found
        recs = c.post("/recommendations", json={"items": ["i2", "i4", "i6"], "k": 3}).json()["items"]
        assert new_id in [x["id"] for x in recs]
        # posting the same id again replaces the item
        again = c.post("/items", json={"id": new_id, "title": "Robots, the sequel"})
        assert again.status_code == 200 and not again.json()["created"]
        assert c.get(f"/items/{new_id}").json()["title"] == "Robots, the sequel"
        user = uid()
        assert c.post(
            "/events", json={"events": [{"user_id": user, "type": "like", "item_id": new_id}]}
        ).is_success


def test_deleted_item_disappears_at_once(server: Server) -> None:
    victim = uid("item")
    with server.client() as c:
        c.post("/items", json={"id": victim, "title": "Item romantic comedy film to delete"})
        assert victim in [
            x["id"] for x in c.get("/search", params={"q": "romantic comedy film to delete"}).json()["items"]
        ]
        assert c.delete(f"/items/{victim}").status_code == 204
        assert c.get(f"/items/{victim}").status_code == 404
        assert c.delete(f"/items/{victim}").status_code == 404
        everything = c.get("/search", params={"q": "romantic comedy film to delete", "k": 100}).json()[
            "items"
        ]
        assert victim not in [x["id"] for x in everything]
        sims = c.get("/items/i1/similar", params={"k": 100}).json()["items"]
        assert victim not in [x["id"] for x in sims]


def test_metrics(server: Server) -> None:
    with server.client(auth=False) as c:
        c.get("/health")
        text = c.get("/metrics").text
    assert 'lmrec_http_requests_total{method="GET",route="/health",status="200"}' in text
    assert "lmrec_http_request_duration_seconds_bucket" in text
    items = [line for line in text.splitlines() if line.startswith("lmrec_index_items ")]
    assert items and float(items[0].split()[1]) >= 30


def test_web_pages(server: Server) -> None:
    with server.client(auth=False) as c:
        r = c.get("/")
        page = r.text
        assert '<label for="q">' in page and "<h1>" in page
        assert 'data-key-storage="memory"' in page  # no key in localStorage unless the operator opts in
        csp = r.headers["content-security-policy"]
        assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert "<script>" not in page and "style=" not in page and " on" + "click=" not in page
        assert c.get("/static/app.js").status_code == 200
        # /report is the report itself (no frame, so no scroll inside a scroll), with a bar back to the page
        shown = c.get("/report", follow_redirects=True)
        assert shown.url.path == "/report/files/report.html" and "iframe" not in shown.text
        assert "NDCG@10 table" in shown.text and 'href="/"' in shown.text
        # the report may not run scripts
        assert "script-src" not in shown.headers["content-security-policy"]  # default-src 'none' applies


def test_text_patterns_mean_the_same_in_python_and_json_schema(server: Server) -> None:
    """A schema-valid request must not be rejected (Schemathesis ST202 found ``"https://a\\x85b"``): the
    patterns in /openapi.json spell white space out instead of ``\\s``, whose meaning differs between
    Python (\\x1c-\\x1f, \\x85) and JSON Schema's ECMA regexes (\\ufeff); the server rejects the union."""
    import re

    from lmrec.serve._schemas import HTTPS_URL, NOT_BLANK, NOT_SPACE

    with server.client(auth=False) as c:
        doc = c.get("/openapi.json").text
    assert not re.search(r"\\\\[sS]", doc)  # no \s or \S in any pattern
    for ch in "\t\x1c\x85\xa0\u2003\u3000\ufeff ":
        assert not re.fullmatch(HTTPS_URL, f"https://a{ch}b"), repr(ch)
        assert not re.search(NOT_BLANK, ch * 3) and not re.search(NOT_SPACE, ch * 3), repr(ch)
    assert re.fullmatch(HTTPS_URL, "https://example.com/é.png") and re.search(NOT_BLANK, " x ")
