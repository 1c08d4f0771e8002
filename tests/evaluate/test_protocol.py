"""The full-ranking protocol: masking, ties, batching, sampled mode and the ML-100K reference numbers."""

from __future__ import annotations

import pandas as pd
import pytest

from lmrec.data._build import build_dataset
from lmrec.data.split import leave_one_out_split
from lmrec.evaluate import EvalResult, evaluate_model
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
    res = evaluate_model(model, split, ks=(10,))
    assert isinstance(res, EvalResult)
    assert res.n_users == 943
    assert res.metrics["recall@10"] == pytest.approx(0.0848, abs=0.003)
    assert res.metrics["ndcg@10"] == pytest.approx(0.0441, abs=0.003)
    assert res.warnings == []


def test_popularity_ml100k_expected_ties_reproduce_reference_exactly(ml100k):
    # ties="expected" averages each tied target over every order, as REFERENCE-NUMBERS.md does
    split = leave_one_out_split(ml100k)
    res = evaluate_model(Popularity().fit(split.train), split, ks=(10,), ties="expected")
    assert res.metrics["recall@10"] == pytest.approx(0.0848, abs=0.0005)
    assert res.metrics["ndcg@10"] == pytest.approx(0.0441, abs=0.0005)
