"""Issue 22, the page's API: anonymous sessions (likes, unlike, "not interested"), search with a relevance
threshold and paging, one score scale on every endpoint, diversity, reasons naming one history item, item
details from the catalog, and the favicon."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lmrec.data import Dataset
from lmrec.serve import read_catalog, write_catalog
from lmrec.serve._sessions import COOKIE, digest
from tests.serve.conftest import Server


def space(title: str) -> bool:
    return "space" in title


def test_likes_belong_to_one_browser_session_and_need_no_key(server: Server) -> None:
    with server.client(auth=False) as a, server.client(auth=False) as b:
        assert a.get("/session").json() == {"likes": [], "not_interested": []}
        r = a.put("/session/likes/i3")
        assert r.status_code == 200 and [x["id"] for x in r.json()["likes"]] == ["i3"]
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
        a.put("/session/likes/i5")
        a.put("/session/not-interested/i2")
        mine = a.get("/session").json()
        assert [x["id"] for x in mine["likes"]] == ["i3", "i5"]
        assert [x["id"] for x in mine["not_interested"]] == ["i2"]
        # another browser sees nothing of it, and cannot undo it
        assert b.get("/session").json() == {"likes": [], "not_interested": []}
        b.delete("/session/likes/i3")
        assert [x["id"] for x in a.get("/session").json()["likes"]] == ["i3", "i5"]
        # the store keeps only the token's hash: its value does not open the session
        token = a.cookies[COOKIE]
        with server.client(auth=False) as forger:
            forger.cookies.set(COOKIE, digest(token)[:43])
            assert forger.get("/session").json()["likes"] == []
        # an item is liked or rejected, not both; unlike removes it
        a.put("/session/not-interested/i5")
        s = a.get("/session").json()
        assert [x["id"] for x in s["likes"]] == ["i3"] and {x["id"] for x in s["not_interested"]} == {
            "i2",
            "i5",
        }
        a.delete("/session/likes/i3")
        assert a.get("/session").json()["likes"] == []
        assert a.put("/session/likes/no-such-item").status_code == 404
        assert a.put("/session/loves/i3").status_code == 422


def test_not_interested_is_never_shown_and_pushes_similar_items_down(server: Server) -> None:
    with server.client(auth=False) as c:
        c.put("/session/likes/i1")  # a romantic comedy
        params = {"k": 12, "diversity": 0}
        before = c.get("/session/recommendations", params=params).json()["items"]
        rank_before = [n for n, x in enumerate(before) if space(x["title"])]
        shown_space = next(x["id"] for x in before if space(x["title"]))
        c.put(f"/session/not-interested/{shown_space}")
        after = c.get("/session/recommendations", params=params).json()["items"]
        assert shown_space not in [x["id"] for x in after]
        rank_after = [n for n, x in enumerate(after) if space(x["title"])]
        # the other space films move down the list (or out of it)
        assert len(rank_after) <= len(rank_before) and np.mean(rank_after or [99]) > np.mean(rank_before)
        # the anonymous list of POST /recommendations takes the same feedback
        posted = c.post(
            "/recommendations",
            json={"items": ["i1"], "not_interested": [shown_space], "k": 12, "diversity": 0},
        ).json()["items"]
        assert [x["id"] for x in posted] == [x["id"] for x in after]


def test_each_reason_names_one_history_item(server: Server) -> None:
    with server.client(auth=False) as c:
        c.put("/session/likes/i2")
        c.put("/session/likes/i1")
        items = c.get("/session/recommendations", params={"k": 10}).json()["items"]
    assert len(items) == 10
    named = [x["explanation"] for x in items if x["explanation"]["because_item_id"]]
    assert named, items
    for e in named:
        assert e["because_item_id"] in ("i1", "i2")
        other = "Item 1 " if e["because_item_id"] == "i2" else "Item 2 "
        assert e["because_title"] in e["text"] and other not in e["text"]  # one item, never two merged
    assert len({e["text"] for e in named}) > 1  # the wording varies along the list


def test_search_has_a_relevance_threshold_paging_and_similarity(server: Server) -> None:
    with server.client(auth=False) as c:
        none = c.get("/search", params={"q": "zzzzqqq"}).json()
        assert none["items"] == [] and not none["more"] and none["min_similarity"] > 0
        first = c.get("/search", params={"q": "space science fiction film", "k": 5}).json()
        second = c.get("/search", params={"q": "space science fiction film", "k": 5, "offset": 5}).json()
        assert first["more"] and len(first["items"]) == 5 and len(second["items"]) == 5
        ids = [x["id"] for x in first["items"] + second["items"]]
        assert len(set(ids)) == 10
        sims = [x["similarity"] for x in first["items"] + second["items"]]
        assert sims == sorted(sims, reverse=True) and all(s >= first["min_similarity"] for s in sims)
        # every result passes the threshold; asking for a stricter one returns fewer
        strict = c.get("/search", params={"q": "space science fiction film", "k": 100, "min_similarity": 0.8})
        loose = c.get("/search", params={"q": "space science fiction film", "k": 100, "min_similarity": -1})
        live = c.get("/health").json()["items"]  # other tests may have added items to this server
        assert 0 < len(strict.json()["items"]) < len(loose.json()["items"]) == min(live, 100)
        assert c.get("/search", params={"q": "space", "min_similarity": 2}).status_code == 422


def test_score_means_the_same_on_every_endpoint(server: Server) -> None:
    """``score`` is the item's place in the ranking that produced the list, in [0, 1], on every endpoint:
    the cold start's popularity too (it was a view count), history-based lists, text matches."""
    with server.client() as c:
        lists = {
            "cold": c.post("/recommendations", json={"k": 10, "diversity": 0}).json()["items"],
            "history": c.post("/recommendations", json={"items": ["i1", "i3"], "diversity": 0}).json()[
                "items"
            ],
            "text": c.post("/recommendations", json={"text": "space film", "diversity": 0}).json()["items"],
            "user": c.get("/users/nobody-yet/recommendations", params={"diversity": 0}).json()["items"],
            "search": c.get("/search", params={"q": "space film"}).json()["items"],
            "similar": c.get("/items/i1/similar").json()["items"],
        }
        c.put("/session/likes/i3")
        lists["session"] = c.get("/session/recommendations", params={"diversity": 0}).json()["items"]
    for name, items in lists.items():
        scores = [x["score"] for x in items]
        assert items and all(0.0 <= s <= 1.0 for s in scores), (name, scores)
        assert scores == sorted(scores, reverse=True), (name, scores)  # one list, ordered by it
        assert max(scores) > 0.5, (name, scores)  # the best items beat most of the catalog
    for name in ("search", "similar"):
        assert all(-1 <= x["similarity"] <= 1 for x in lists[name])
    assert all(x["similarity"] is None for x in lists["cold"] + lists["history"])
    assert lists["cold"][0]["score"] == lists["user"][0]["score"]  # a cold user gets the popular list


def test_diversity_is_a_setting_and_a_parameter(server: Server) -> None:
    with server.client(auth=False) as c:
        body = {"items": ["i1"], "k": 10}
        plain = c.post("/recommendations", json={**body, "diversity": 0}).json()["items"]
        varied = c.post("/recommendations", json={**body, "diversity": 1}).json()["items"]
        default = c.post("/recommendations", json=body).json()["items"]
        assert [x["id"] for x in plain] != [x["id"] for x in varied]
        assert plain[0]["id"] == varied[0]["id"]  # MMR keeps the best item first
        assert len(default) == 10
        assert c.get("/session/recommendations", params={"diversity": 1.5}).status_code == 422
        assert c.post("/recommendations", json={**body, "diversity": -0.1}).status_code == 422


def test_item_pages_show_year_genres_description_and_image(tmp_path) -> None:
    """write_catalog keeps the item-page details a catalog has (MovieLens: year and genres)."""
    from lmrec.data import Interactions, ItemTable

    frame = pd.DataFrame(
        {
            "item_id": ["1", "2"],
            "title": ["Toy Story (1995)", "Heat (1995)"],
            "genres": [["Animation", "Comedy"], ["Crime"]],
            "year": [1995.0, float("nan")],
            "description": ["Toys come alive.", None],
            "image_url": ["https://example.org/toy.jpg", "http://insecure.example/heat.jpg"],
        }
    )
    inter = Interactions(
        user=np.array([0]), item=np.array([0]), timestamp=np.array([1]), n_users=1, n_items=2
    )
    data = Dataset(
        name="toy",
        domain="movies",
        interactions=inter,
        items=ItemTable(frame, text_fields=("title",)),
        user_ids=np.array(["u"]),
        item_ids=frame["item_id"].to_numpy(),
    )
    write_catalog(data, tmp_path)
    cat = read_catalog(tmp_path, 2, 1)
    assert cat.categories == [["Animation", "Comedy"], ["Crime"]]
    assert cat.details[0] == {
        "year": 1995,
        "description": "Toys come alive.",
        "image_url": "https://example.org/toy.jpg",
    }
    assert cat.details[1] == {}  # no year, no description, and only https pictures are kept


def test_serve_takes_a_diversity_option(model_dir, tmp_path) -> None:
    import subprocess

    from tests.serve.conftest import lmrec_cmd, settings_file, start_server, stop_server

    bad = subprocess.run(
        lmrec_cmd("serve", str(model_dir), "--diversity", "2"), capture_output=True, text=True, timeout=120
    )
    assert bad.returncode == 2 and "--diversity" in bad.stderr and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    settings = settings_file(tmp_path / "s.json")
    srv = start_server(
        model_dir,
        f"sqlite:///{tmp_path / 'd.sqlite'}",
        tmp_path / "d.log",
        "--diversity",
        "1",
        "--settings",
        str(settings),
    )
    try:
        with srv.client(auth=False) as c:
            body = {"items": ["i1"], "k": 10}
            default = [x["id"] for x in c.post("/recommendations", json=body).json()["items"]]
            full = [
                x["id"] for x in c.post("/recommendations", json={**body, "diversity": 1}).json()["items"]
            ]
            plain = [
                x["id"] for x in c.post("/recommendations", json={**body, "diversity": 0}).json()["items"]
            ]
        assert default == full != plain  # the option set the service's default
    finally:
        stop_server(srv)


def test_a_session_keeps_its_latest_items_for_a_limited_time(tmp_path) -> None:
    import time

    from lmrec.serve import _sessions as sessions
    from lmrec.serve.store import Store

    store = Store(f"sqlite:///{tmp_path / 's.sqlite'}")
    a, b = sessions.new_token(), sessions.new_token()
    for item in ("x1", "x2", "x3"):
        sessions.put(store, a, item, "like", max_items=2, max_age=3600)
        time.sleep(0.01)
    assert sessions.read(store, a).likes == ["x2", "x3"]  # the oldest went
    sessions.put(store, b, "y1", "not_interested", max_items=2, max_age=3600)
    time.sleep(0.05)
    sessions.put(store, b, "y2", "like", max_items=2, max_age=0.04)  # everything older than 40 ms goes
    assert sessions.read(store, a).likes == [] and sessions.read(store, b).likes == ["y2"]
    assert sessions.read(store, b).not_interested == []
    assert sessions.read(store, "not a token").likes == []


def test_a_cold_start_with_a_search_mixes_its_matches_with_popular_items(server: Server) -> None:
    with server.client() as c:
        c.post(
            "/events", json={"events": [{"user_id": "cold-searcher", "type": "search", "text": "romantic"}]}
        )
        got = c.get("/users/cold-searcher/recommendations", params={"k": 10, "diversity": 0}).json()
        popular = c.post("/recommendations", json={"k": 10, "diversity": 0}).json()["items"]
        matches = c.post("/recommendations", json={"text": "romantic", "k": 10, "diversity": 0}).json()[
            "items"
        ]
    ids = [x["id"] for x in got["items"]]
    assert got["cold_start"] and len(ids) == 10
    only_popular = [x["id"] for x in popular if x["id"] not in {m["id"] for m in matches}]
    only_matching = [x["id"] for x in matches if x["id"] not in {p["id"] for p in popular}]
    assert set(ids) & set(only_popular) and set(ids) & set(only_matching)  # both lists take part
