"""The contract's quality check: the tasks, their floors, and that a model that learns nothing fails it."""

from __future__ import annotations

import numpy as np
import pytest

from lmrec.data.split import leave_one_out_split
from lmrec.models.popularity import Popularity
from lmrec.testing import RecommenderContract, floor_ndcg, quality_dataset


def test_random_floor_is_the_expected_ndcg_of_a_random_ranking():
    split = leave_one_out_split(quality_dataset("chains"))
    # every test user has 7 seen items of 24: the target is one of 17 ranked at random
    want = sum(1 / np.log2(r + 2) for r in range(10)) / 17
    assert floor_ndcg("random", split) == pytest.approx(want, abs=1e-9)


def test_popularity_beats_random_on_the_popular_task_only():
    popular = leave_one_out_split(quality_dataset("popular"))
    chains = leave_one_out_split(quality_dataset("chains"))
    assert floor_ndcg("popularity", popular) > 1.5 * floor_ndcg("random", popular)
    assert floor_ndcg("popularity", chains) == floor_ndcg("random", chains)  # flat popularity: random wins


class _PopularityPosingAsALearner(RecommenderContract):
    __test__ = False  # collected only through the test below
    must_beat = "popularity"

    def make_model(self):
        return Popularity()


def test_a_model_that_learns_nothing_fails_the_quality_check():
    with pytest.raises(AssertionError, match="did not learn the chains task"):
        _PopularityPosingAsALearner().test_beats_its_floor_on_a_task_it_must_learn()


def test_unknown_task_or_floor_is_an_error():
    with pytest.raises(ValueError, match="task"):
        quality_dataset("nope")
    with pytest.raises(ValueError, match="floor"):
        floor_ndcg("median", leave_one_out_split(quality_dataset()))
