import numpy as np
import pytest

from lmrec.data import Interactions
from lmrec.models.base import FitOptions
from lmrec.models.sasrec import SASRec, _windows
from lmrec.testing import RecommenderContract


class TestSASRecContract(RecommenderContract):
    def make_model(self):
        return SASRec(max_len=10, dim=16, layers=1, epochs=2, batch_size=16)


def test_windows_cover_every_target_once():
    seq = np.arange(23)
    wins = _windows([seq, np.arange(1), np.arange(5)], max_len=10)
    targets = np.concatenate([w[1:] for w in wins[:-1]])
    assert sorted(targets.tolist()) == list(range(1, 23))
    assert all(len(w) <= 11 for w in wins)
    np.testing.assert_array_equal(wins[-1], np.arange(5))


@pytest.mark.parametrize("loss_options", [{}, {"mask_seen": True, "future_k": 3}])
def test_sasrec_learns_a_deterministic_chain(loss_options):
    n_items, rng = 20, np.random.default_rng(0)
    users, items, times = [], [], []
    for u in range(60):
        start = int(rng.integers(0, n_items))
        for t in range(8):
            users.append(u)
            items.append((start + t) % n_items)
            times.append(t)
    inter = Interactions(user=users, item=items, timestamp=times, n_users=60, n_items=n_items)
    train = inter.subset(np.array(times) < 7)
    valid = inter.subset(np.array(times) == 7)
    model = SASRec(
        max_len=8,
        dim=16,
        layers=1,
        dropout=0.0,
        lr=0.02,
        epochs=12,
        batch_size=32,
        patience=30,
        **loss_options,
    )
    model.fit(train, valid, options=FitOptions(seed=0, threads=1))
    assert model.fit_info["train"]["best_metric"] > 0.9
    idx, _ = model.recommend([[3, 4, 5], [17, 18, 19]], k=1)
    assert idx[:, 0].tolist() == [6, 0]
