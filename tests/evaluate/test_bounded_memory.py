"""Full-ranking evaluation at scale keeps memory O(batch_size x n_items), never users x items (issue #21)."""

from __future__ import annotations

import tracemalloc
from typing import ClassVar

import numpy as np
import pytest

from lmrec.data.split import leave_one_out_split
from lmrec.data.synthetic import synthetic_dataset
from lmrec.evaluate import evaluate_model


class FactorModel:
    """Scores = user factors x item factors, computed per batch (as the real models do)."""

    name: ClassVar[str] = "factors"

    def __init__(self, n_users: int, n_items: int) -> None:
        rng = np.random.default_rng(0)
        self.users = rng.normal(size=(n_users, 8)).astype(np.float32)
        self.items = rng.normal(size=(n_items, 8)).astype(np.float32)
        self.rows: list[int] = []

    def score(self, batch):
        self.rows.append(len(batch.users))
        return self.users[batch.users] @ self.items.T


@pytest.fixture(scope="module")
def split():
    return leave_one_out_split(synthetic_dataset(60_000, n_items=4_000, seed=1))


@pytest.mark.parametrize("batch_size", [64, 256])
def test_peak_memory_is_bounded_by_the_batch_not_the_user_count(split, batch_size):
    data = split.dataset
    model = FactorModel(data.n_users, data.n_items)
    full = data.n_users * data.n_items * 4  # one float32 users x items matrix: ~107 MB here
    evaluate_model(model, split, batch_size=batch_size, checks=False)  # derived split data cached, warm
    model.rows.clear()
    tracemalloc.start()
    try:
        result = evaluate_model(model, split, batch_size=batch_size, checks=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.n_users == data.n_users > 5_000
    assert max(model.rows) <= batch_size and sum(model.rows) == data.n_users
    per_batch = batch_size * data.n_items * 4
    # scores + the float32 work buffer + the boolean buffer + top-k scratch: a few batch matrices, plus the
    # per-user metric arrays; far below one users x items matrix
    assert peak < 12 * per_batch + 64 * data.n_users * 8, (peak, per_batch)
    assert peak < full / 4, (peak, full)
