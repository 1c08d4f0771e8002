"""Each integrity check fires on data built to have the problem and stays quiet on clean data."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lmrec.data._build import build_dataset
from lmrec.data.split import (
    TEST,
    TRAIN,
    Split,
    leave_one_out_split,
    random_split,
    temporal_split,
    user_cold_start_split,
)
from lmrec.evaluate.integrity import check_split, integrity_report


def _data(users, items, times, item_order=None):
    events = pd.DataFrame({"user": users, "item": items, "timestamp": times})
    frame = None if item_order is None else pd.DataFrame({"item_id": item_order})
    return build_dataset("t", "t", events, frame)


def _clean(n_users=40, n_items=60, per_user=6, seed=0):
    """Random sequences over randomly numbered items, no repeats, distinct times."""
    rng = np.random.default_rng(seed)
    users, items, times = [], [], []
    for u in range(n_users):
        for t, i in enumerate(rng.choice(n_items, per_user, replace=False)):
            users.append(f"u{u}")
            items.append(f"i{i}")
            times.append(1000 * t + u)
    order = [f"i{i}" for i in rng.permutation(n_items)]
    return _data(users, items, times, order)


def test_clean_leave_one_out_has_no_warnings():
    split = leave_one_out_split(_clean())
    assert check_split(split, "test") == []
    assert check_split(split, "valid") == []
    r = integrity_report(split)
    assert r["seen_targets"] == r["duplicate_pairs"] == r["targets_before_history"] == 0


def test_seen_target_and_duplicates_are_reported():
    # user a: x, y, x -> the test item x was already seen in training; (a, x) is a repeated pair
    data = _data(["a", "a", "a", "b", "b", "b"], ["x", "y", "x", "x", "y", "y"], [1, 2, 3, 1, 2, 2])
    split = leave_one_out_split(data)
    r = integrity_report(split, "test")
    # test items: a -> x (seen at t=1), b -> y (seen as validation at t=2)
    assert r["seen_targets"] == 2
    assert r["duplicate_pairs"] == 2 and r["duplicate_events"] == 1
    warnings = check_split(split, "test")
    assert any(w.startswith("2 of 2 test items") for w in warnings)
    assert any("repeated (user, item)" in w for w in warnings)


def test_random_split_leaks_time_per_user():
    split = random_split(_clean(), seed=0)
    assert integrity_report(split)["targets_before_history"] > 0
    assert any(w.startswith("time leakage") for w in check_split(split))


def test_global_cut_leak_is_reported():
    good = temporal_split(_clean(), valid_frac=0.1, test_frac=0.2)
    assert integrity_report(good)["train_after_cut"] == 0
    # move one test event into training: it lies after the cut
    a = good.assignment.copy()
    a[np.flatnonzero(a == TEST)[0]] = TRAIN
    bad = Split(good.dataset, a, good.protocol, good.params)
    assert integrity_report(bad)["train_after_cut"] == 1
    assert any("after the global cut-off" in w for w in check_split(bad))


def test_item_ids_in_sequence_order_are_reported():
    # the P5 bug: items numbered in order of first appearance while users walk through consecutive items
    users, items, times = [], [], []
    for u in range(30):
        start = 3 * u
        for t in range(6):
            users.append(u)
            items.append(f"i{start + t:03d}")
            times.append(t)
    leaky = _data(users, items, times, sorted(set(items)))
    r = integrity_report(leave_one_out_split(leaky))
    # every test item is the successor of the last validation item: 30 of 30
    assert r["successor_fraction"] == 1.0
    assert r["order_correlation"] > 0.99
    assert sum("item-id order leak" in w for w in check_split(leave_one_out_split(leaky))) == 2
    # the same events with randomly numbered items: no id warning
    order = list(np.random.default_rng(0).permutation(sorted(set(items))))
    fixed = _data(users, items, times, order)
    assert not any("item-id" in w for w in check_split(leave_one_out_split(fixed)))


def test_users_without_history_are_reported():
    split = user_cold_start_split(_clean(), valid_frac=0.1, test_frac=0.25, seed=0)
    r = integrity_report(split, "test")
    # 40 users: round(10) test users, all of them without any training/validation event
    assert r["n_target_users"] == r["users_without_history"] == 10
    assert any(w.startswith("10 of 10 test users have no") for w in check_split(split))
