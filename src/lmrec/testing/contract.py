"""The contract every recommender passes.

Use it by subclassing in a pytest module and providing a factory::

    class TestEASE(RecommenderContract):
        def make_model(self):
            return EASE(l2=10.0)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lmrec.data import Dataset, Interactions, ItemTable
from lmrec.errors import LmrecError


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
    inter = Interactions(
        user=np.array(users),
        item=np.array(items),
        timestamp=np.array(times),
        n_users=n_users,
        n_items=n_items,
        rating=rng.integers(1, 6, len(users)).astype(np.float32),
    )
    return Dataset(
        name="tiny",
        domain="synthetic",
        interactions=inter,
        items=ItemTable(frame, text_fields=("title", "categories")),
        user_ids=np.array([f"u{u}" for u in range(n_users)]),
        item_ids=frame["item_id"].to_numpy(),
    )


class RecommenderContract:
    """pytest mixin: subclasses implement :meth:`make_model`; every test here must pass."""

    def make_model(self) -> Any:  # pragma: no cover - provided by subclasses
        raise NotImplementedError

    def fitted(self) -> tuple[Any, Dataset]:
        from lmrec.data.split import leave_one_out_split
        from lmrec.models.base import FitOptions

        data = tiny_dataset()
        split = leave_one_out_split(data)
        model = self.make_model()
        model.fit(split.train, split.valid, items=data.items, options=FitOptions(seed=0))
        return model, data

    def test_score_shape_and_finite(self) -> None:
        model, data = self.fitted()
        users = np.arange(5)
        s = model.score(users)
        assert s.shape == (5, data.n_items)
        assert s.dtype == np.float32
        assert np.isfinite(s).all()
        sub = model.score(users, items=np.array([3, 1]))
        np.testing.assert_allclose(sub, s[:, [3, 1]], rtol=1e-5, atol=1e-6)

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
        self.make_model().fit(train, split.valid, items=data.items)
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
