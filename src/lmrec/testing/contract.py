"""The contract every recommender passes.

Use it by subclassing in a pytest module and providing a factory::

    class TestEASE(RecommenderContract):
        def make_model(self):
            return EASE(l2=10.0)

Besides shapes, masking, save/load and errors it checks that the model learns: on a small synthetic task
(:mod:`lmrec.testing.quality`) its test NDCG@10 must be a clear margin above a floor, popularity (and random)
for models that learn from interactions or text, random for popularity itself (``must_beat``). A model whose
factory trains too briefly for that gives a longer schedule in :meth:`RecommenderContract.make_quality_model`;
a model made by converting a trained one (compression) overrides :meth:`RecommenderContract.fit_model`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from lmrec.data import Dataset, Interactions, ItemTable
from lmrec.errors import LmrecError
from lmrec.testing._synthetic import synthetic_dataset


def tiny_dataset(n_users: int = 40, n_items: int = 30, per_user: int = 8, seed: int = 0) -> Dataset:
    """A small synthetic dataset with structure: users follow item chains (i -> i+1) with noise, items
    have short texts in two topics so text models have something to learn from."""
    rng = np.random.default_rng(seed)
    users, items, times = [], [], []
    for u in range(n_users):
        start = int(rng.integers(0, n_items))
        for t in range(per_user):
            i = (start + t) % n_items if rng.random() > 0.2 else int(rng.integers(0, n_items))
            users.append(u)
            items.append(i)
            times.append(1_000_000 + 1000 * t + u)
    topics = ["space science fiction film", "romantic comedy film"]
    frame = pd.DataFrame(
        {
            "item_id": [f"i{i}" for i in range(n_items)],
            "title": [f"Item {i} {topics[i % 2]}" for i in range(n_items)],
            "categories": [topics[i % 2].split()[0] for i in range(n_items)],
        }
    )
    return synthetic_dataset("tiny", (users, items, times), frame, ("title", "categories"), n_users, rng)


class RecommenderContract:
    """pytest mixin: subclasses implement :meth:`make_model`; every test here must pass."""

    #: the floor of the quality check: "popularity" (the ``chains`` task) or "random" (the ``popular`` task)
    must_beat: ClassVar[str] = "popularity"
    #: the model's test NDCG@10 must reach this multiple of the floor's
    quality_margin: ClassVar[float] = 1.3

    def make_model(self) -> Any:  # pragma: no cover - provided by subclasses
        raise NotImplementedError

    def make_quality_model(self) -> Any:
        """The model of the quality check (default :meth:`make_model`; override for a longer schedule)."""
        return self.make_model()

    def fit_model(self, model: Any, train: Interactions, valid: Interactions | None, items: ItemTable) -> Any:
        """Fit ``model`` and return the fitted recommender (a conversion after training returns another)."""
        from lmrec.models.base import FitOptions

        return model.fit(train, valid, items=items, options=FitOptions(seed=0))

    def fitted(self) -> tuple[Any, Dataset]:
        from lmrec.data.split import leave_one_out_split

        data = tiny_dataset()
        split = leave_one_out_split(data)
        return self.fit_model(self.make_model(), split.train, split.valid, data.items), data

    def test_beats_its_floor_on_a_task_it_must_learn(self) -> None:
        from lmrec.data.split import leave_one_out_split
        from lmrec.evaluate import evaluate_model
        from lmrec.testing.quality import QUALITY_TASKS, floor_ndcg, quality_dataset

        task = QUALITY_TASKS[self.must_beat]
        data = quality_dataset(task)
        split = leave_one_out_split(data)
        model = self.fit_model(self.make_quality_model(), split.train, split.valid, data.items)
        got = evaluate_model(model, split, ks=(10,), checks=False)["ndcg@10"]
        floor = floor_ndcg(self.must_beat, split)
        assert got >= self.quality_margin * floor, (
            f"{type(model).__name__} did not learn the {task} task: test NDCG@10 {got:.3f}, "
            f"{self.must_beat} {floor:.3f} (needs {self.quality_margin}x)"
        )

    def test_config_round_trip(self, tmp_path: Path) -> None:
        model = self.make_model()
        cfg = model.config
        assert type(cfg).from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
        (tmp_path / "config.json").write_text(json.dumps(cfg.to_dict()), encoding="utf-8")
        assert type(cfg).from_json(tmp_path / "config.json") == cfg
        assert type(model)(type(cfg).from_dict(cfg.to_dict())).config == cfg

    def test_score_shape_and_finite(self) -> None:
        model, data = self.fitted()
        users = np.arange(5)
        s = model.score(users)
        assert s.shape == (5, data.n_items)
        assert s.dtype == np.float32
        assert np.isfinite(s).all()
        sub = model.score(users, items=np.array([3, 1]))
        np.testing.assert_allclose(sub, s[:, [3, 1]], rtol=1e-5, atol=1e-6)

    def test_retrieval_vectors_reproduce_scores(self) -> None:
        """A model that offers ANN retrieval (:class:`lmrec.models.base.RetrievalModel`) must score by the
        dot product of its query and item vectors exactly: the service ranks with them alone."""
        from lmrec.models.base import RetrievalModel

        model, _ = self.fitted()
        if not isinstance(model, RetrievalModel):
            return  # nothing promised: the service scores such a model over the whole catalog
        for query in (np.arange(6), [[0, 1, 2], [5]]):
            dots = model.query_vectors(query) @ model.retrieval_vectors().T
            np.testing.assert_allclose(dots, model.score(query), rtol=1e-4, atol=1e-4)

    def test_recommend_excludes_seen_and_is_sorted(self) -> None:
        model, data = self.fitted()
        users = np.arange(6)
        idx, vals = model.recommend(users, k=5)
        assert idx.shape == (6, 5)
        assert (np.diff(vals, axis=1) <= 1e-6).all()
        batch = model.as_batch(users)
        for row, hist in enumerate(batch.histories):
            assert not set(idx[row].tolist()) & set(hist.tolist())
            assert len(set(idx[row].tolist())) == 5

    def test_anonymous_history(self) -> None:
        model, data = self.fitted()
        idx, _ = model.recommend([[0, 1, 2], [5]], k=3)
        assert idx.shape == (2, 3)
        assert 0 not in idx[0] and 5 not in idx[1]

    def test_save_load_round_trip(self, tmp_path: Path) -> None:
        model, _ = self.fitted()
        model.save(tmp_path / "m")
        assert (tmp_path / "m" / "config.json").is_file()
        assert (tmp_path / "m" / "model.safetensors").is_file()
        assert not list((tmp_path / "m").glob("*.pkl"))
        loaded = type(model).load(tmp_path / "m")
        users = np.arange(8)
        np.testing.assert_allclose(loaded.score(users), model.score(users), rtol=1e-5, atol=1e-5)
        assert loaded.config == model.config

    def test_fit_does_not_mutate_input(self) -> None:
        from lmrec.data.split import leave_one_out_split

        data = tiny_dataset()
        split = leave_one_out_split(data)
        train = split.train
        before = (train.user.copy(), train.item.copy(), train.timestamp.copy())
        self.fit_model(self.make_model(), train, split.valid, data.items)
        for a, b in zip(before, (train.user, train.item, train.timestamp), strict=True):
            np.testing.assert_array_equal(a, b)

    def test_unfitted_score_is_a_clear_error(self) -> None:
        import pytest

        with pytest.raises(LmrecError):
            self.make_model().score(np.arange(2))

    def test_unknown_option_is_a_config_error(self) -> None:
        import pytest

        from lmrec.errors import ConfigError

        model = self.make_model()
        with pytest.raises(ConfigError, match="unknown option"):
            type(model)(no_such_option_xyz=1)
