"""The splitters: purity (never mutate the input), determinism (same hash twice) and what each promises."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lmrec.data._build import build_dataset
from lmrec.data.split import (
    HISTORY,
    TEST,
    TRAIN,
    VALID,
    few_shot,
    fixed_split,
    item_cold_start_split,
    leave_one_out_split,
    random_split,
    temporal_split,
    user_cold_start_split,
)
from lmrec.errors import DataError
from lmrec.testing.contract import tiny_dataset

SPLITTERS = {
    "loo": lambda d: leave_one_out_split(d),
    "temporal": lambda d: temporal_split(d, 0.1, 0.2),
    "random": lambda d: random_split(d, 0.1, 0.2, seed=3),
    "user_cold": lambda d: user_cold_start_split(d, 0.1, 0.2, seed=3),
    "item_cold": lambda d: item_cold_start_split(d, 0.1, 0.2, seed=3),
    "few_shot": lambda d: few_shot(leave_one_out_split(d), 0.5, seed=3),
}


@pytest.fixture(scope="module")
def data():
    return tiny_dataset(n_users=60, n_items=40, per_user=10, seed=1)


@pytest.mark.parametrize("name", sorted(SPLITTERS))
def test_splits_are_pure_and_deterministic(data, name):
    inter = data.interactions
    before = [inter.user.copy(), inter.item.copy(), inter.timestamp.copy()]
    first = SPLITTERS[name](data)
    second = SPLITTERS[name](data)
    assert first.hash == second.hash
    assert len(first.hash) == 16
    np.testing.assert_array_equal(first.assignment, second.assignment)
    for a, b in zip(before, [inter.user, inter.item, inter.timestamp], strict=True):
        np.testing.assert_array_equal(a, b)
    assert not first.assignment.flags.writeable
    info = first.describe()
    assert info["split_hash"] == first.hash and info["protocol"] == first.protocol
    assert info["train"] + info["valid"] + info["test"] + info["history_only"] + info["dropped"] == len(inter)
    assert info["train"] > 0 and info["test"] > 0


def test_seed_changes_random_splits(data):
    assert random_split(data, seed=1).hash != random_split(data, seed=2).hash
    assert item_cold_start_split(data, seed=1).hash != item_cold_start_split(data, seed=2).hash


def test_temporal_split_cuts_by_global_time(data):
    split = temporal_split(data, valid_frac=0.1, test_frac=0.2)
    t, a = data.interactions.timestamp, split.assignment
    valid_cut, test_cut = split.params["cutoffs"]
    assert t[a == TRAIN].max() < valid_cut <= t[a == VALID].min()
    assert t[a == VALID].max() < test_cut <= t[a == TEST].min()
    # 600 events with distinct times: exactly 20% test, 10% validation
    assert (a == TEST).sum() == 120 and (a == VALID).sum() == 60


def test_temporal_split_keeps_time_ties_together():
    events = pd.DataFrame({"user": list("abcdef"), "item": list("xyzxyz"), "timestamp": [1, 2, 3, 3, 3, 4]})
    split = temporal_split(build_dataset("t", "t", events), valid_frac=0.0, test_frac=0.5)
    # the 50% quantile falls inside the tie at t=3: all three events at t=3 go to test
    assert split.assignment.tolist() == [TRAIN, TRAIN, TEST, TEST, TEST, TEST]


def test_random_split_ratios_per_user(data):
    split = random_split(data, valid_frac=0.1, test_frac=0.2, seed=0)
    inter = data.interactions
    for u in range(inter.n_users):
        codes = split.assignment[inter.user == u]
        # 10 events per user: round(2.0) test, round(1.0) validation, 7 training
        assert (codes == TEST).sum() == 2 and (codes == VALID).sum() == 1 and (codes == TRAIN).sum() == 7


def test_user_cold_start_holds_out_whole_users(data):
    split = user_cold_start_split(data, valid_frac=0.1, test_frac=0.2, seed=0)
    train_users = set(split.train.user.tolist())
    test_users = set(split.params["test_users"])
    assert len(test_users) == 12 and len(split.params["valid_users"]) == 6
    assert not train_users & test_users
    assert set(split.test.user.tolist()) == test_users
    assert not set(split.valid.user.tolist()) & test_users


def test_item_cold_start_items_never_in_training(data):
    split = item_cold_start_split(data, valid_frac=0.1, test_frac=0.2, seed=0)
    cold = set(split.params["test_items"]) | set(split.params["valid_items"])
    assert cold and not cold & set(split.train.item.tolist())
    assert set(split.test.item.tolist()) == set(split.params["test_items"])


def test_few_shot_keeps_evaluation_unchanged(data):
    base = leave_one_out_split(data)
    small = few_shot(base, 0.25, seed=0)
    for code in (VALID, TEST):
        np.testing.assert_array_equal(small.assignment == code, base.assignment == code)
    # histories seen at evaluation are the same rows; only the training rows shrink to 15 of 60 users
    for stage in ("valid", "test"):
        np.testing.assert_array_equal(small.history_rows(stage), base.history_rows(stage))
    assert len(np.unique(small.train.user)) == 15
    assert (small.assignment == HISTORY).sum() == (base.assignment == TRAIN).sum() - len(small.train)
    with pytest.raises(DataError):
        few_shot(base, 0.0)


def test_fixed_split_uses_the_dataset_assignment():
    events = pd.DataFrame({"user": list("aaab"), "item": list("xyzx"), "timestamp": [1, 2, 3, 1]})
    data = build_dataset("t", "t", events, fixed_split=np.array([0, 1, 2, 0]))
    split = fixed_split(data)
    assert split.assignment.tolist() == [TRAIN, VALID, TEST, TRAIN]
    assert "fixed" in split.protocol
    with pytest.raises(DataError, match="no fixed split"):
        fixed_split(build_dataset("t", "t", events))


def test_bad_fractions_are_one_line_errors(data):
    with pytest.raises(DataError, match="test_frac"):
        temporal_split(data, 0.5, 0.6)
    with pytest.raises(DataError, match="valid_frac"):
        random_split(data, -0.1, 0.2)
