"""The full-ranking protocol: masking, ties, batching, sampled mode and the ML-100K reference numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lmrec.data._build import build_dataset
from lmrec.data.split import leave_one_out_split
from lmrec.evaluate import EvalResult, evaluate_model, evaluate_scores
from lmrec.models.popularity import Popularity


@pytest.fixture(scope="module")
def ml100k(shared_data):
    events = pd.read_csv(
        shared_data / "ml-100k" / "u.data", sep="\t", names=["user", "item", "rating", "timestamp"]
    )
    return build_dataset("ml-100k", "movies", events)


def test_popularity_ml100k_matches_reference(ml100k):
    # REFERENCE-NUMBERS.md: Pop, leave-one-out by time (stable), full ranking: Recall@10 .0848, NDCG@10 .0441
    split = leave_one_out_split(ml100k)
    model = Popularity().fit(split.train)
    res = evaluate_model(model, split, ks=(10,), ties="random")
    assert isinstance(res, EvalResult)
    assert res.n_users == 943
    assert res.metrics["recall@10"] == pytest.approx(0.0848, abs=0.003)
    assert res.metrics["ndcg@10"] == pytest.approx(0.0441, abs=0.003)
    assert res.warnings == []


def test_popularity_ml100k_expected_ties_reproduce_reference_exactly(ml100k):
    # the default ties="expected" averages each tied target over every order, as REFERENCE-NUMBERS.md does
    split = leave_one_out_split(ml100k)
    res = evaluate_model(Popularity().fit(split.train), split, ks=(10,))
    assert res.metrics["recall@10"] == pytest.approx(0.0848, abs=0.0005)
    assert res.metrics["ndcg@10"] == pytest.approx(0.0441, abs=0.0005)


def _ease(x: np.ndarray, l2: float) -> np.ndarray:
    g = x.T @ x
    g[np.diag_indices_from(g)] += l2
    p = np.linalg.inv(g)
    b = -p / np.diag(p)
    np.fill_diagonal(b, 0.0)
    return b


def test_ease_ml100k_reproduces_reference_and_shows_the_history_choice(ml100k):
    # REFERENCE-NUMBERS.md: numpy EASE lambda=100, Recall@10 .1379, NDCG@10 .0700. EASE has no score ties, so
    # this checks the ranking and metric code on real data. The reference scored each user from the TRAINING
    # matrix (train+valid masked); evaluate_model gives models the train+valid history at test time.
    split = leave_one_out_split(ml100k)
    x_train = split.train.to_csr().toarray().astype(np.float64)
    b = _ease(x_train, 100.0)
    hist = split.train_valid.sequences()
    targets = [split.test.item[split.test.user == u] for u in range(ml100k.n_users)]
    ref = evaluate_scores(x_train @ b, targets, exclude=hist, ks=(10,))
    assert ref.metrics["recall@10"] == pytest.approx(0.1379, abs=0.0005)
    assert ref.metrics["ndcg@10"] == pytest.approx(0.0700, abs=0.0005)

    x_tv = split.train_valid.to_csr().toarray().astype(np.float32)

    class Ease:
        name = "ease"

        def score(self, batch):
            return x_tv[batch.users] @ b

    res = evaluate_model(Ease(), split, ks=(10,))
    # measured: Recall@10 .1432, NDCG@10 .0711 with the validation item in the history
    assert res.metrics["recall@10"] == pytest.approx(0.1432, abs=0.001)
    assert res.metrics["ndcg@10"] == pytest.approx(0.0711, abs=0.001)

    class EaseFromHistory:
        name = "ease"

        def score(self, batch):
            x = np.zeros((len(batch), ml100k.n_items))
            for row, h in enumerate(batch.histories):
                x[row, h] = 1.0
            return x @ b

    # test_history="train": the model sees the training history only -> the reference numbers again
    same = evaluate_model(EaseFromHistory(), split, ks=(10,), test_history="train")
    assert same.metrics["recall@10"] == pytest.approx(ref.metrics["recall@10"], abs=1e-9)
    assert same.metrics["ndcg@10"] == pytest.approx(ref.metrics["ndcg@10"], abs=1e-9)
    assert "training history only" in same.protocol
