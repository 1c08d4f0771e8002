"""Text models in the service (in-process app): ANN retrieval equals the model's own ranking, new items flow
through ``add_items``, and a CJK catalog picks the multilingual encoder."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from lmrec.data import Dataset, Interactions, ItemTable
from lmrec.index import IndexConfig
from lmrec.models.base import FitOptions, UserBatch
from lmrec.serve import ServeSettings, create_app, write_catalog


def _app(model, data, tmp_path, **settings):
    model.save(tmp_path / "model")
    write_catalog(data, tmp_path / "model")
    app = create_app(tmp_path / "model", f"sqlite:///{tmp_path / 's.sqlite'}", ServeSettings(**settings))
    return app, app.state.service


def _restart(tmp_path, kind="hnsw", **index):
    """The service again on the model folder ``_app`` wrote (its index cache included), HNSW index (or
    ``kind``)."""
    settings = ServeSettings(index=IndexConfig(kind=kind, **index))
    return create_app(tmp_path / "model", f"sqlite:///{tmp_path / 's.sqlite'}", settings).state.service


@pytest.mark.parametrize(("kind", "pop"), [("exact", 0.0), ("hnsw", 0.0), ("ivfpq", 0.0), ("exact", 0.5)])
def test_content_model_uses_the_index_and_matches_score(tiny, tmp_path, kind: str, pop: float) -> None:
    """Pure text profiles share the text index; with a popularity bonus (one more dimension) the model's
    retrieval vectors get an index of their own. Either way the service ranks as the model does."""
    from lmrec.models.content import ContentRecommender

    model = ContentRecommender(popularity_weight=pop)
    model.fit(tiny.interactions, items=tiny.items, options=FitOptions())
    app, service = _app(model, tiny, tmp_path, index=IndexConfig(kind=kind))
    assert service.rec_index is not None and service.rec_index.kind == kind
    assert (service.rec_index is service.text_index) == (pop == 0)
    auth = {"Authorization": f"Bearer {service.store.create_key('t', ['read'])}"}
    with TestClient(app) as c:
        res = c.get("/users/u3/recommendations", params={"k": 5, "diversity": 0}, headers=auth)
        got = [x["id"] for x in res.json()["items"]]
    hist = service.model.histories[3]
    idx, _ = service.model.recommend([hist], k=5)
    assert got == [f"i{i}" for i in idx[0]]
    cached = list((tmp_path / "model" / "serve-index").glob("text-*"))
    assert len(cached) == (0 if kind == "exact" else 1)
    if kind != "exact":  # a restart loads the built index instead of rebuilding it
        again = _restart(tmp_path, kind)
        q = service.text_index.vectors([0])
        np.testing.assert_array_equal(again.text_index.search(q, 10)[0], service.text_index.search(q, 10)[0])


def test_the_recommendation_index_is_calibrated_on_training_users_queries(
    tiny, tmp_path, monkeypatch
) -> None:
    """An HNSW index sets its beam to reach a recall target; the service's recommendation index measures that
    on what it will be asked (users' query vectors), and a restart reuses the cached calibration."""
    from lmrec.index import ItemIndex
    from lmrec.models.content import ContentRecommender

    model = ContentRecommender(popularity_weight=0.5)
    model.fit(tiny.interactions, items=tiny.items, options=FitOptions())
    _, service = _app(model, tiny, tmp_path, index=IndexConfig(kind="hnsw"))
    users = sum(len(h) > 0 for h in model.histories)
    rec, text = service.rec_index.calibration, service.text_index.calibration
    assert rec["queries"] == min(200, users) and rec["target"] == 0.95 and rec["recall@10"] >= 0.95
    assert text["queries"] == min(200, tiny.n_items)  # text search: its own vectors stand in
    assert rec["sample"] == "queries, seen excluded" and text["sample"] == "own vectors"
    calls = []
    monkeypatch.setattr(ItemIndex, "calibrate", lambda self, *a, **k: calls.append(1) or {})
    again = _restart(tmp_path)
    assert again.rec_index.calibration == rec and calls == []
    # another target: the cached graph is calibrated again, not rebuilt
    _restart(tmp_path, hnsw_target_recall=0.99)
    assert len(calls) == 2 and len(list((tmp_path / "model" / "serve-index").glob("*"))) == 2


def test_a_shared_text_and_recommendation_index_is_calibrated_on_users_queries(
    tiny, tmp_path, monkeypatch
) -> None:
    """Found at 1M items (benchmarks/serve_load.py): the content model ranks by the text vectors, so one index
    serves both; calibrated on item vectors it reported recall .986 at beam 96 while users' queries got .680.
    It is now calibrated on the users' queries, their seen items left out as in the recommendations it
    serves, also when an older cache entry was calibrated otherwise."""
    from lmrec.index import ItemIndex
    from lmrec.models.content import ContentRecommender

    model = ContentRecommender()
    model.fit(tiny.interactions, items=tiny.items, options=FitOptions())
    model.save(tmp_path / "model")
    write_catalog(tiny, tmp_path / "model")
    real_calibrate = ItemIndex.calibrate
    earlier = {  # indexes cached by earlier code: calibrated on its own vectors, then on users' raw top 10s
        "own vectors": lambda self, queries=None, exclude=None, **k: real_calibrate(self, None, **k),
        "queries": lambda self, queries=None, exclude=None, **k: real_calibrate(self, queries, **k),
    }
    users = sum(len(h) > 0 for h in model.histories)
    for sample, calibrate in earlier.items():
        shutil.rmtree(tmp_path / "model" / "serve-index", ignore_errors=True)
        with monkeypatch.context() as m:
            m.setattr(ItemIndex, "calibrate", calibrate)
            old = _restart(tmp_path)
        assert old.text_index.calibration["sample"] == sample
        service = _restart(tmp_path)
        assert service.rec_index is service.text_index
        cal = service.text_index.calibration
        assert cal["sample"] == "queries, seen excluded" and cal["queries"] == min(200, users)
    # kept in the cache: the next process loads it and calibrates nothing
    calls = []
    monkeypatch.setattr(ItemIndex, "calibrate", lambda self, *a, **k: calls.append(1) or {})
    again = _restart(tmp_path)
    assert again.text_index.calibration == cal and calls == []


def test_textseq_model_uses_its_state_vectors_and_absorbs_new_items(tiny, tmp_path) -> None:
    from lmrec.models.textseq import TextSeq

    model = TextSeq(epochs=2, dim=16, n_layers=1, n_experts=2, batch_size=64)
    model.fit(tiny.interactions, items=tiny.items, options=FitOptions(seed=0))
    app, service = _app(model, tiny, tmp_path)
    assert service.retrieval is not None and service.rec_index is not service.text_index
    key = service.store.create_key("t", ["catalog"])
    with TestClient(app) as c:
        got = [
            x["id"] for x in c.post("/recommendations", json={"items": ["i1", "i2"], "k": 5}).json()["items"]
        ]
        idx, _ = service.model.recommend([np.array([1, 2])], k=5)
        assert got == [f"i{i}" for i in idx[0]]
        r = c.post(
            "/items",
            json={"id": "new", "title": "space science fiction film"},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert r.status_code == 201
    assert service.model.n_items == tiny.n_items + 1 and len(service.rec_index) == tiny.n_items + 1
    assert service.model_items == service.catalog.n_items


def test_finetuned_textseq_encodes_new_items_with_its_own_encoder(tiny, tmp_path) -> None:
    from lmrec.models.textseq import TextSeq
    from lmrec.serve._service import item_text

    model = TextSeq(epochs=1, dim=16, n_layers=1, n_experts=2, batch_size=64, finetune_encoder=1)
    model.fit(tiny.interactions, items=tiny.items, options=FitOptions(seed=0))
    app, service = _app(model, tiny, tmp_path)
    assert service.model.has_finetuned_encoder  # loaded from the saved encoder.safetensors
    key = service.store.create_key("t", ["catalog"])
    fields = {"title": "space science fiction film"}
    with TestClient(app) as c:
        r = c.post("/items", json={"id": "new", **fields}, headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 201
    assert service.model.n_items == tiny.n_items + 1
    text = item_text(fields)
    own = service.model.encode_texts([text])[0]
    np.testing.assert_allclose(service.model.item_vectors[-1], own, rtol=1e-5, atol=1e-6)
    assert np.abs(service.encode([text])[0] - own).max() > 1e-3  # not the frozen encoder's vector


def test_cjk_catalog_uses_the_multilingual_encoder_end_to_end(tmp_path) -> None:
    from lmrec.models.popularity import Popularity
    from lmrec.text import MULTILINGUAL_ENCODER

    titles = ["最新的科技新闻：人工智能芯片发布", "家常菜烹饪教程", "海岛旅游攻略分享", "足球比赛精彩回顾"]
    frame = pd.DataFrame({"item_id": [f"c{i}" for i in range(4)], "title": titles})
    inter = Interactions(
        user=np.array([0, 0, 1]),
        item=np.array([1, 2, 3]),
        timestamp=np.array([1, 2, 3]),
        n_users=2,
        n_items=4,
    )
    data = Dataset(
        "zh",
        "news",
        inter,
        ItemTable(frame, text_fields=("title",)),
        np.array(["a", "b"]),
        frame["item_id"].to_numpy(),
    )
    app, service = _app(Popularity().fit(inter, items=data.items), data, tmp_path)
    assert service._encoder_name == MULTILINGUAL_ENCODER
    with TestClient(app) as c:
        res = c.post("/recommendations", json={"text": "我想了解最新的科技资讯", "k": 2}).json()
        assert res["items"][0]["id"] == "c0"
        assert c.get("/search", params={"q": "旅游"}).json()["items"][0]["id"] == "c2"
        # explanations come from lmrec.explain in the catalog's language, naming the user's history item
        expl = c.post("/recommendations", json={"items": ["c0"], "k": 3, "explain": True}).json()["items"]
        for x in expl:
            e = x["explanation"]
            if e["because_item_id"] is not None:
                assert e["because_item_id"] == "c0" and f"《{titles[0]}》" in e["text"]
                assert titles[0] in e["text"]
        assert any(x["explanation"]["because_item_id"] == "c0" for x in expl)


def test_bandit_explores_and_learns_from_events(tiny, tmp_path) -> None:
    from lmrec.models.popularity import Popularity

    model = Popularity().fit(tiny.interactions, items=tiny.items)
    app, service = _app(model, tiny, tmp_path, bandit=True)
    assert service.bandit is not None and service.bandit.n_items == tiny.n_items
    seen = {f"i{i}" for i in tiny.interactions.item[tiny.interactions.user == 1]}
    auth = {"Authorization": f"Bearer {service.store.create_key('tests', ['read', 'events'])}"}
    with TestClient(app) as c:
        res = c.get(
            "/users/u1/recommendations", params={"k": 5, "explore": "true", "explain": "true"}, headers=auth
        )
        assert res.status_code == 200
        items = res.json()["items"]
        ids = [x["id"] for x in items]
        assert len(ids) == 5 == len(set(ids)) and not set(ids) & seen
        assert all(x["source"] == "bandit" for x in items)
        assert [x["score"] for x in items] == sorted((x["score"] for x in items), reverse=True)
        b0 = service.bandit.b.copy()
        n0 = service.bandit.n_updates
        ev = [
            {"user_id": "u1", "type": "click", "item_id": ids[0]},
            {"user_id": "u1", "type": "view", "item_id": ids[1]},
            {"user_id": "u1", "type": "search", "text": "space"},  # no item: no reward
        ]
        assert c.post("/events", json={"events": ev}, headers=auth).status_code == 200
    assert service.bandit.n_updates == n0 + 2  # the click (reward 1) and the view (reward 0)
    assert not np.allclose(service.bandit.b, b0)
    # the clicked item's posterior mean, in the context it was clicked in (the history before the two
    # events), is x' A^-1 x > 0: the prior's zero moved up
    before = UserBatch(np.asarray([-1]), [np.asarray(service.user_state("u1").history[:-2])])
    clicked = np.asarray([int(ids[0][1:])])
    assert service.bandit.score(before, clicked, explore=False)[0, 0] > 0


def test_a_model_loaded_by_the_caller_is_served_without_a_second_read(tiny, tmp_path, monkeypatch) -> None:
    import lmrec.models
    from lmrec.models.checks import check_model_dir
    from lmrec.models.content import ContentRecommender

    model = ContentRecommender().fit(tiny.interactions, items=tiny.items, options=FitOptions())
    model.save(tmp_path / "model")
    write_catalog(tiny, tmp_path / "model")
    checked, _ = check_model_dir(tmp_path / "model")  # what `lmrec serve` loads to check the folder
    reads = []
    real = lmrec.models.load_model
    monkeypatch.setattr(lmrec.models, "load_model", lambda *a, **k: reads.append(a) or real(*a, **k))
    app = create_app(tmp_path / "model", f"sqlite:///{tmp_path / 's.sqlite'}", ServeSettings(), model=checked)
    assert app.state.service.model is checked and reads == []
    create_app(tmp_path / "model", f"sqlite:///{tmp_path / 's2.sqlite'}", ServeSettings())
    assert len(reads) == 1  # without it the service reads the folder itself


def test_same_vectors_compares_block_by_block() -> None:
    from lmrec.serve._vectors import same_vectors

    a = np.random.default_rng(0).normal(size=(10, 4)).astype(np.float32)
    b = a.copy()
    assert same_vectors(a, b, block=3)
    b[9, 2] += 1e-3  # in the last, partial block
    assert not same_vectors(a, b, block=3)
    assert not same_vectors(a, a[:, :3], block=3)


def test_a_server_process_runs_its_compute_pools_on_one_thread(tiny, tmp_path) -> None:
    """Found at 1M items on 2 cores: with `--workers 2` each process kept numpy's BLAS (and torch) at two
    threads, which spin-waited against each other: 4-5 ms of CPU per request instead of 1.7. Once its indexes
    are built the service sets every pool to ``faiss_threads`` (1)."""
    import torch
    from threadpoolctl import threadpool_info, threadpool_limits

    from lmrec.models.content import ContentRecommender

    torch.set_num_threads(2)
    threadpool_limits(limits=2)
    model = ContentRecommender().fit(tiny.interactions, items=tiny.items, options=FitOptions())
    _app(model, tiny, tmp_path, index=IndexConfig(kind="exact"))
    assert torch.get_num_threads() == 1
    assert {pool["num_threads"] for pool in threadpool_info()} == {1}
