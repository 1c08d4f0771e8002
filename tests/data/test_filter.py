"""k-core and dedup: hand-checked results, and the input is never modified."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lmrec.data._build import build_dataset
from lmrec.data.filter import dedup, k_core, select_interactions
from lmrec.errors import DataError


def toy():
    events = pd.DataFrame(
        {
            "user": ["a", "a", "a", "b", "b", "c", "a", "b"],
            "item": ["x", "y", "z", "x", "y", "x", "x", "w"],
            "timestamp": [1, 2, 3, 1, 2, 1, 4, 5],
            "rating": [5, 4, 3, 5, 2, 1, 5, 3],
        }
    )
    items = pd.DataFrame({"item_id": ["x", "y", "z", "w", "v"], "title": ["X", "Y", "Z", "W", "V"]})
    return build_dataset("toy", "toy", events, items, text_fields=["title"])


def snapshot(data):
    inter = data.interactions
    return [
        a.copy() for a in (inter.user, inter.item, inter.timestamp, inter.rating)
    ], data.items.frame.copy()


def test_k_core_iterates_until_stable():
    data = toy()
    before, frame = snapshot(data)
    core = k_core(data, 2)
    # round 1: c (1 event) and z, w (1 event each) go; round 2: nothing else falls below 2
    assert sorted(core.user_ids.tolist()) == ["a", "b"]
    assert core.item_ids.tolist() == ["x", "y"]  # re-indexed in the old order; v (no events) dropped
    pairs = list(
        zip(core.user_ids[core.interactions.user], core.item_ids[core.interactions.item], strict=True)
    )
    assert pairs == [("a", "x"), ("a", "y"), ("b", "x"), ("b", "y"), ("a", "x")]  # file order kept
    assert core.items.frame["title"].tolist() == ["X", "Y"]
    after, frame_after = snapshot(data)
    for a, b in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)
    pd.testing.assert_frame_equal(frame, frame_after)
    assert data.n_items == 5 and len(data.interactions) == 8


def test_k_core_cascade_and_separate_thresholds():
    data = toy()
    # items need 3 events: only x (4 events) survives; users need 1: a (x twice), b, c stay
    core = k_core(data, user_k=1, item_k=3)
    assert core.user_ids.tolist() == ["a", "b", "c"] and core.item_ids.tolist() == ["x"]
    assert len(core.interactions) == 4
    # users need 2 as well: b and c fall, which leaves x with 2 events < 3, so the cascade empties it
    with pytest.raises(DataError, match="no interactions survive the 2/3-core"):
        k_core(data, user_k=2, item_k=3)


def test_k_core_keeps_index_space_when_asked():
    core = k_core(toy(), 2, drop_unused=False)
    assert (core.n_users, core.n_items) == (3, 5) and len(core.interactions) == 5


def test_dedup_keys_and_keep():
    data = toy()
    once = dedup(data)  # (a, x) appears twice
    assert len(once.interactions) == 7
    assert once.interactions.timestamp.tolist() == [1, 2, 3, 1, 2, 1, 5]
    last = dedup(data, keep="last")
    assert last.interactions.timestamp.tolist() == [2, 3, 1, 2, 1, 4, 5]
    assert len(dedup(data, ("user", "item", "timestamp")).interactions) == 8
    assert len(data.interactions) == 8
    with pytest.raises(DataError, match="field 'nope'"):
        dedup(data, ("user", "nope"))


def test_select_interactions_subsets_fixed_split_and_meta():
    data = toy()
    fixed = np.array([0, 0, 1, 0, 2, 0, 0, 0], dtype=np.int8)
    data = build_dataset(
        "toy", "toy", data.interactions.to_frame().rename(columns={}).assign(
            user=lambda f: data.user_ids[f.user], item=lambda f: data.item_ids[f.item]
        ), fixed_split=fixed, meta={"flag": np.arange(8) % 2 == 0, "note": "x"},
    )  # fmt: skip
    sub = select_interactions(data, np.array([0, 2, 4]))
    assert sub.fixed_split.tolist() == [0, 1, 2]
    assert sub.meta["flag"].tolist() == [True, True, True] and sub.meta["note"] == "x"
