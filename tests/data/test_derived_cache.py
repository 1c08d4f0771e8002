"""Derived views of the immutable Interactions and Split are cached, read-only and kept out of pickling."""

from __future__ import annotations

import hashlib
import pickle

import numpy as np
import pandas as pd
import pytest

from lmrec.data._build import build_dataset
from lmrec.data.split import TEST, TRAIN, VALID, leave_one_out_split
from lmrec.errors import DataError


@pytest.fixture()
def data():
    events = pd.DataFrame(
        {
            "user": ["a", "a", "a", "a", "b", "b", "c"],
            "item": ["x", "y", "z", "w", "x", "y", "z"],
            "timestamp": [1, 5, 5, 2, 3, 3, 9],
        }
    )
    return build_dataset("t", "t", events)


def test_sequences_are_cached_read_only_views(data):
    inter = data.interactions
    a, b = inter.sequences(), inter.sequences()
    assert a is not b  # a new list each call: callers may append or reorder it freely
    assert all(x is y for x, y in zip(a, b, strict=True))  # the same cached arrays
    x, y, z, w = (data.item_index(i) for i in "xyzw")
    # user a by time, stable on ties: x(1) w(2) y(5) z(5)
    assert [s.tolist() for s in a] == [[x, w, y, z], [x, y], [z]]
    with pytest.raises(ValueError):
        a[0][0] = 3
    order = inter.time_order()
    assert order.tolist() == [0, 3, 1, 2, 4, 5, 6]
    assert not order.flags.writeable
    assert inter.time_order() is order


def test_split_parts_and_hash_are_cached(data):
    split = leave_one_out_split(data)
    assert split.train is split.train
    assert split.train_valid is split.train_valid
    assert split.history("test") is split.history("test")
    np.testing.assert_array_equal(split.test.item, data.interactions.item[split.assignment == TEST])
    rows = (split.assignment == TRAIN) | (split.assignment == VALID)
    np.testing.assert_array_equal(split.history("test").item, data.interactions.item[rows])
    np.testing.assert_array_equal(split.history("valid").user, split.train.user)
    want = hashlib.sha256()
    inter = data.interactions
    fp = hashlib.sha256(
        b"".join(np.ascontiguousarray(c).tobytes() for c in (inter.user, inter.item, inter.timestamp))
    )
    want.update(fp.hexdigest()[:16].encode())
    want.update(split.assignment.tobytes())
    assert split.hash == want.hexdigest()[:16] == split.hash
    with pytest.raises(DataError, match="stage"):
        split.history("train")


def test_caches_stay_out_of_pickles(data):
    split = leave_one_out_split(data)
    split.train.sequences()
    _ = split.hash
    state = split.__getstate__()
    assert "hash" not in state and "_parts" not in state
    assert "_sequences" not in split.train.__getstate__()
    assert "_sequences" in split.train.__dict__
    back = pickle.loads(pickle.dumps(split))
    assert "hash" not in back.__dict__
    assert back.hash == split.hash
    assert [s.tolist() for s in back.train.sequences()] == [s.tolist() for s in split.train.sequences()]


def test_a_masked_part_inherits_the_time_order_without_sorting(data):
    rng = np.random.default_rng(0)
    n = 400
    inter = type(data.interactions)(
        user=rng.integers(0, 9, n),
        item=rng.integers(0, 30, n),
        timestamp=rng.integers(0, 5, n),  # many time ties: file order must decide them
        n_users=9,
        n_items=30,
    )
    inter.time_order()  # cached on the parent
    mask = rng.random(n) < 0.6
    part = inter.subset(mask)
    assert "_time_order" in part.__dict__
    fresh = type(inter)(user=part.user, item=part.item, timestamp=part.timestamp, n_users=9, n_items=30)
    np.testing.assert_array_equal(part.time_order(), fresh.time_order())
    assert not part.time_order().flags.writeable
    assert [s.tolist() for s in part.sequences()] == [s.tolist() for s in fresh.sequences()]
