"""Small synthetic tasks a recommender must learn, and the floors it must beat on them (the contract's
quality check, :meth:`lmrec.testing.RecommenderContract.test_beats_its_floor`).

``chains``: each user stays in one of two topics (items with topic words in their titles) and watches a run
of consecutive items of it (i, i+1, ...); item popularity is flat. A model that learns anything from who
watched what, from the order of events or from the item texts ranks the held-out next item far above
popularity and above random. ``popular``: each user's items are drawn by a Zipf law over the catalog and
nothing else; popularity wins there, and it must at least beat random.

Random is measured, not assumed: a scorer that gives every item the same score, ranked with the protocol's
expected tie order, gets exactly the expected metric of a random ranking.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lmrec.data import Dataset
from lmrec.testing._synthetic import synthetic_dataset

__all__ = ["QUALITY_TASKS", "floor_ndcg", "quality_dataset"]

# which task a model is checked on, for each floor it must beat
QUALITY_TASKS: dict[str, str] = {"popularity": "chains", "random": "popular"}

_TOPICS = (
    ("space", ("rocket launch", "astronaut mission", "galaxy telescope", "mars planet", "orbit station")),
    ("cooking", ("pasta recipe", "bread baking", "curry spices", "chocolate cake", "sushi rice")),
)


def quality_dataset(
    task: str = "chains", n_users: int = 60, per_topic: int = 12, per_user: int = 8, seed: int = 0
) -> Dataset:
    """The ``chains`` or ``popular`` task (see the module docstring): ``2 * per_topic`` items with titles,
    ``n_users`` users with ``per_user`` events each (ratings 1-5 at random, for models that read them)."""
    if task not in ("chains", "popular"):
        raise ValueError(f"task must be 'chains' or 'popular', not {task!r}")
    rng = np.random.default_rng(seed)
    n_items = 2 * per_topic
    zipf = 1.0 / np.arange(1, n_items + 1)
    users, items, times = [], [], []
    for u in range(n_users):
        if task == "chains":
            start = int(rng.integers(0, per_topic))
            seq = [(u % 2) * per_topic + (start + t) % per_topic for t in range(per_user)]
        else:
            seq = rng.choice(n_items, per_user, replace=False, p=zipf / zipf.sum()).tolist()
        for t, i in enumerate(seq):
            users.append(u)
            items.append(int(i))
            times.append(1_000 + 10 * t)
    titles = [
        f"{_TOPICS[i // per_topic][1][i % len(_TOPICS[0][1])]} {_TOPICS[i // per_topic][0]} {i}"
        for i in range(n_items)
    ]
    frame = pd.DataFrame({"item_id": [f"i{i}" for i in range(n_items)], "title": titles})
    return synthetic_dataset(f"quality-{task}", (users, items, times), frame, ("title",), n_users, rng)


class _SameScore:
    """Every item scores the same: with expected tie order, exactly a random ranking's metrics."""

    name = "random"

    def __init__(self, n_items: int) -> None:
        self.n_items = n_items

    def score(self, batch: Any) -> np.ndarray:
        return np.zeros((len(batch), self.n_items), dtype=np.float32)


def floor_ndcg(floor: str, split: Any) -> float:
    """Test NDCG@10 on ``split`` of the floor ``"random"`` or ``"popularity"`` (the better of popularity and
    random: on flat popularity, popularity can fall below random)."""
    from lmrec.evaluate import evaluate_model
    from lmrec.models.popularity import Popularity

    random = evaluate_model(_SameScore(split.dataset.n_items), split, ks=(10,), checks=False)["ndcg@10"]
    if floor == "random":
        return random
    if floor != "popularity":
        raise ValueError(f"floor must be 'random' or 'popularity', not {floor!r}")
    pop = Popularity().fit(split.train, split.valid)
    return max(random, evaluate_model(pop, split, ks=(10,), checks=False)["ndcg@10"])
