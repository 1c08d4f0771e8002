"""Maximal marginal relevance: lambda 1 is the plain ranking; lower lambdas stop one franchise filling
a list."""

from __future__ import annotations

import numpy as np
import pytest

from lmrec.errors import ConfigError, DataError
from lmrec.rerank import mmr_rerank


def _franchise():
    # items 0-4: five Star Trek films (nearly the same vector), 5-7: three different films
    rng = np.random.default_rng(0)
    trek = np.array([1.0, 0.0, 0.0, 0.0]) + 0.01 * rng.standard_normal((5, 4))
    others = np.array([[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
    vectors = np.vstack([trek, others]).astype(np.float32)
    scores = np.array([0.9, 0.89, 0.88, 0.87, 0.86, 0.8, 0.79, 0.78])
    return vectors, scores


def test_lambda_one_is_the_plain_ranking():
    vectors, scores = _franchise()
    items = np.arange(8)[::-1].copy()  # candidates in any order
    assert mmr_rerank(items, scores[items], vectors, lambda_=1.0).tolist() == list(range(8))
    assert mmr_rerank(items, scores[items], vectors, k=3, lambda_=1.0).tolist() == [0, 1, 2]
    # ties keep the input order
    assert mmr_rerank([4, 2, 7], [1.0, 1.0, 1.0], vectors, lambda_=1.0).tolist() == [4, 2, 7]


def test_lower_lambda_stops_one_franchise_filling_the_list():
    vectors, scores = _franchise()
    top5 = mmr_rerank(np.arange(8), scores, vectors, k=5, lambda_=0.5).tolist()
    assert top5[0] == 0  # the best item stays first
    assert sum(i < 5 for i in top5) == 2 and {5, 6, 7} <= set(top5)
    # a high lambda keeps the ranking: diversity only breaks near-ties
    assert mmr_rerank(np.arange(8), scores, vectors, k=5, lambda_=0.99).tolist() == [0, 1, 2, 3, 4]
    # every candidate comes back exactly once when k is not given
    assert sorted(mmr_rerank(np.arange(8), scores, vectors, lambda_=0.3).tolist()) == list(range(8))


def test_bad_input_is_one_line():
    vectors, scores = _franchise()
    with pytest.raises(ConfigError, match=r"lambda must be in \[0, 1\]"):
        mmr_rerank([0, 1], [1.0, 0.5], vectors, lambda_=1.5)
    with pytest.raises(DataError, match="2 items but 1 scores"):
        mmr_rerank([0, 1], [1.0], vectors)
    with pytest.raises(DataError, match="out of range"):
        mmr_rerank([0, 99], [1.0, 0.5], vectors)
    assert mmr_rerank([], [], vectors).tolist() == []
