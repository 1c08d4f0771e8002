"""The read-through user-state cache stays exact across processes sharing one store.

Two RecService instances over one SQLite file stand in for two `lmrec serve --workers 2` processes
(deterministically: each call names the instance); the last test runs the real thing, two uvicorn workers."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest

from lmrec.serve import ServeSettings
from lmrec.serve._service import RecService
from lmrec.serve.store import EventRecord, Store
from tests.serve.conftest import settings_file, start_workers, stop_server


def _ids(ranked) -> list[int]:
    return [r.index for r in ranked]


@pytest.fixture(scope="module")
def fast_settings(tmp_path_factory: pytest.TempPathFactory, tiny) -> Path:
    """Settings with precomputed item text vectors: no encoder is loaded, so each process starts fast."""
    out = tmp_path_factory.mktemp("cache_settings")
    vecs = np.random.default_rng(0).normal(size=(tiny.n_items, 8)).astype(np.float32)
    np.save(out / "vectors.npy", vecs)
    return settings_file(out / "settings.json", item_vectors=str(out / "vectors.npy"))


def test_an_event_stored_by_another_process_shows_at_once(
    model_dir: Path, tmp_path: Path, tiny, fast_settings: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    a = RecService(model_dir, Store(url), ServeSettings.from_json(fast_settings))
    b = RecService(model_dir, Store(url), ServeSettings.from_json(fast_settings))
    user = "cache-user"
    cold, is_cold = a.recommend_user(user, 5, explain=False)
    assert is_cold
    assert a.cached_user(user) is a.cached_user(user)  # unchanged stamp: served from the cache
    liked = tiny.item_ids[cold[0].index]
    b.record_events([EventRecord(user, "like", liked)], None)  # "the other worker"
    warm, is_cold = a.recommend_user(user, 5, explain=False)
    assert not is_cold
    assert cold[0].index not in _ids(warm)  # the liked item is now seen, hence excluded
    assert a.cached_user(user).state.history == [cold[0].index]
    # a second event by the other process, then the same answer from both
    b.record_events([EventRecord(user, "view", tiny.item_ids[warm[0].index])], None)
    assert _ids(a.recommend_user(user, 5, explain=False)[0]) == _ids(
        b.recommend_user(user, 5, explain=False)[0]
    )
    assert a.cached_user(user).state.history == [cold[0].index, warm[0].index]


def test_the_cache_is_bounded(model_dir: Path, tmp_path: Path, fast_settings: Path) -> None:
    settings = ServeSettings.from_dict(
        {**ServeSettings.from_json(fast_settings).to_dict(), "user_cache_size": 3}
    )
    svc = RecService(model_dir, Store(f"sqlite:///{tmp_path / 's.sqlite'}"), settings)
    for i in range(10):
        svc.recommend_user(f"u{i % 5}-x", 3, explain=False)
    assert len(svc._users) <= 3


def test_stamp_counts_events_and_tracks_the_catalog(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'st.sqlite'}")
    assert store.user_stamp("nobody") == (0, 0, 0)
    ids = store.add_events([EventRecord("x", "view", "i1"), EventRecord("y", "view", "i2")])[0]["ids"]
    store.add_events([EventRecord("x", "click", "i3")])
    count, last, seq = store.user_stamp("x")
    assert (count, seq) == (2, 0) and last > ids[0]
    store.log_item("new", "delete", None, None)
    assert store.user_stamp("x")[2] == 1


def test_two_worker_processes_see_each_others_events(
    model_dir: Path, tmp_path: Path, fast_settings: Path
) -> None:
    srv = start_workers(model_dir, tmp_path, fast_settings)
    user = f"w-{uuid.uuid4().hex[:8]}"

    def fresh_get() -> dict:
        # a new connection each time, so the kernel spreads the requests over both worker processes
        with srv.client() as c:  # a key with the read scope: user data is private by default
            return c.get(f"/users/{user}/recommendations", params={"k": 5}).json()

    try:
        before = [fresh_get() for _ in range(12)]  # fills both workers' caches with the cold state
        assert all(r["cold_start"] for r in before)
        liked = before[0]["items"][0]["id"]
        with srv.client() as c:
            r = c.post("/events", json={"events": [{"user_id": user, "type": "like", "item_id": liked}]})
            assert r.status_code == 200
        after = [fresh_get() for _ in range(12)]
        assert not any(r["cold_start"] for r in after)
        assert all(liked not in [x["id"] for x in r["items"]] for r in after)
    finally:
        stop_server(srv)


def test_the_fast_read_path_answers_like_the_fastapi_route(server) -> None:
    """Plain requests take the middleware fast path; repeating a parameter (the fast path takes only
    unambiguous requests) sends the same request through the FastAPI route: same JSON and headers. Invalid
    ones still get 422, and neither path answers a caller without the read scope."""
    with server.client() as c:
        for user in ("u1", "u3", f"unknown-{uuid.uuid4().hex[:6]}"):
            fast = c.get(f"/users/{user}/recommendations", params={"k": 4, "explain": "false"})
            slow = c.get(
                f"/users/{user}/recommendations", params=[("k", "4"), ("k", "4"), ("explain", "false")]
            )
            assert fast.status_code == slow.status_code == 200
            assert fast.headers["content-type"] == slow.headers["content-type"] == "application/json"
            assert fast.headers["cache-control"] == slow.headers["cache-control"] == "no-store"
            assert fast.json() == slow.json() and len(fast.json()["items"]) == 4
            seen = c.get(f"/users/{user}/recommendations", params={"exclude_seen": "false"}).json()
            twice = [("exclude_seen", "false"), ("exclude_seen", "false")]
            assert seen == c.get(f"/users/{user}/recommendations", params=twice).json()
        for bad in ({"k": "0"}, {"k": "abc"}, {"k": "101"}, {"exclude_seen": "maybe"}, {"exclude_seen": "0"}):
            r = c.get("/users/u1/recommendations", params=bad)
            assert r.status_code == 422, bad
        assert c.get("/users/%01x/recommendations").status_code == 422  # control character in the id
        metrics = c.get("/metrics").text
    with server.client(auth=False) as anon:
        assert anon.get("/users/u1/recommendations").status_code == 401  # would be the fast path's request
    assert 'route="/users/{user_id}/recommendations",status="200"' in metrics


def test_workers_load_the_index_the_parent_built_once(
    model_dir: Path, tmp_path: Path, fast_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `lmrec serve --workers N` builds the ANN graphs once (build_index_caches) and every worker loads them:
    # at a million items each worker building its own held ~7 GB and a core for minutes
    from lmrec.index import ItemIndex
    from lmrec.serve.app import build_index_caches

    base = ServeSettings.from_json(fast_settings).to_dict()
    settings = ServeSettings.from_dict(
        {**base, "index": {"kind": "hnsw"}, "index_cache": str(tmp_path / "ix")}
    )
    url = f"sqlite:///{tmp_path / 'ix.sqlite'}"
    build_index_caches(model_dir, url, settings)
    assert list((tmp_path / "ix").glob("text-*/index.json"))

    def no_build(*args: object, **kwargs: object) -> None:
        raise AssertionError("a worker built an index the parent had cached")

    monkeypatch.setattr(ItemIndex, "build", no_build)
    worker = RecService(model_dir, Store(url), settings)
    assert worker.text_index.kind == "hnsw" and len(worker.text_index) > 0
    # with the cache off there is nothing to share: nothing is built up front (build still raises here)
    build_index_caches(model_dir, url, ServeSettings.from_dict({**base, "index_cache": "off"}))
