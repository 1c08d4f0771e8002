"""The fast paths of the protocol give exactly what the plain definitions give.

Threshold top-k vs ranking every item by (score code, tie key); tie counts taken only near the top vs the
hand-computed expectation; ragged inputs in every accepted form; the per-split cache vs a fresh split.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from lmrec.data.split import leave_one_out_split
from lmrec.errors import LmrecError
from lmrec.evaluate import evaluate_model, evaluate_scores
from lmrec.evaluate._ranking import _order_codes, _top_from_codes, _top_of_floats
from lmrec.testing.contract import tiny_dataset


@pytest.mark.parametrize("kind", ["normal", "few levels", "mostly -inf", "signed zeros"])
@pytest.mark.parametrize("n", [40, 700])
def test_threshold_top_k_equals_the_exact_ranking(kind, n):
    rng = np.random.default_rng(n)
    for k in (1, 5, 20):
        s = rng.standard_normal((30, n)).astype(np.float32)
        if kind == "few levels":
            s = rng.integers(0, 3, (30, n)).astype(np.float32)
        elif kind == "mostly -inf":
            s[rng.random(s.shape) < 0.97] = -np.inf
            s[0] = -np.inf
        elif kind == "signed zeros":
            s[rng.random(s.shape) < 0.5] = 0.0
            s[rng.random(s.shape) < 0.3] = -0.0
        tie_key = np.uint64(n) - rng.permutation(n).astype(np.uint64)
        for key in (None, tie_key):
            want = _top_from_codes(_order_codes(s), k, key)
            np.testing.assert_array_equal(_top_of_floats(s.copy(), k, key), want)
            scratch = np.empty((64, n), dtype=bool)
            np.testing.assert_array_equal(_top_of_floats(s.copy(), k, key, scratch), want)


def test_expected_ties_near_the_cut_off_by_hand():
    n = 400  # wide enough for the threshold path at k=5
    rng = np.random.default_rng(0)
    s = rng.uniform(0.0, 1.0, (5, n)).astype(np.float32)
    targets = [[7], [8], [9], [10], [11]]
    exclude: list[list[int]] = [[], [], [], [10], []]
    s[0, [7, 1, 2, 3]] = 5.0  # target tied with 3 others at the top: ranks 0..3
    s[1, [100, 101, 102]] = 9.0  # 3 items above the target ...
    s[1, [8, 20, 21, 22, 23]] = 5.0  # ... which ties with 4 others: ranks 3..7
    s[2, :20] = 9.0  # 20 items above the target: a miss at every k <= 20
    s[2, 9] = 2.0
    s[3, 10] = 99.0  # the best score, but the item was seen: excluded, a miss
    s[4, :] = -np.inf  # nothing else to recommend: the target is first
    s[4, 11] = 0.0
    res = evaluate_scores(s, targets, exclude=exclude, ks=(5,))
    dcg = [1.0 / math.log2(r + 2) for r in range(8)]
    hit = [1.0, 2 / 5, 0.0, 0.0, 1.0]
    ndcg = [sum(dcg[0:4]) / 4, sum(dcg[3:5]) / 5, 0.0, 0.0, 1.0]
    mrr = [sum(1 / (r + 1) for r in range(4)) / 4, (1 / 4 + 1 / 5) / 5, 0.0, 0.0, 1.0]
    np.testing.assert_allclose(res.per_user["hit@5"], hit, rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.per_user["ndcg@5"], ndcg, rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.per_user["mrr@5"], mrr, rtol=0, atol=1e-12)
    assert res["recall@5"] == pytest.approx(sum(hit) / 5)


def test_evaluate_scores_takes_lists_scalars_and_any_int_dtype():
    rng = np.random.default_rng(1)
    s = rng.standard_normal((6, 300)).astype(np.float32)
    t_arrays = [
        np.array([3]),
        np.array([5, 2, 5]),
        np.array([], dtype=np.int64),
        np.array([7]),
        np.array([1, 9]),
        np.array([0]),
    ]
    e_arrays = [
        np.array([4, 4, 8]),
        np.array([], dtype=np.int64),
        np.array([1]),
        np.array([2, 3]),
        np.array([]),
        np.array([299]),
    ]
    want = evaluate_scores(s, t_arrays, exclude=e_arrays, ks=(1, 5))
    forms = [
        ([t.tolist() for t in t_arrays], [e.tolist() for e in e_arrays]),
        ([t.astype(np.int32) for t in t_arrays], [e.astype(np.int32) for e in e_arrays]),
        ([3, [5, 2, 5], [], 7, np.array([[1, 9]]), 0], e_arrays),  # scalars and a 2-D row are flattened
    ]
    for targets, exclude in forms:
        got = evaluate_scores(s, targets, exclude=exclude, ks=(1, 5))
        assert got.metrics == want.metrics
        np.testing.assert_array_equal(got.per_user["users"], [0, 1, 3, 4, 5])


def test_out_of_range_items_are_a_one_line_error():
    s = np.zeros((2, 10), dtype=np.float32)
    with pytest.raises(LmrecError, match=r"excluded item index out of range \[0, 10\)"):
        evaluate_scores(s, [[1], [2]], exclude=[[10], []])
    with pytest.raises(LmrecError, match="held-out item index out of range"):
        evaluate_scores(s, [[1], [-3]])


def test_the_per_split_cache_changes_nothing():
    data = tiny_dataset(n_users=60, n_items=300, per_user=9, seed=4)
    split = leave_one_out_split(data)
    rng = np.random.default_rng(2)
    table = rng.integers(0, 6, (data.n_users, data.n_items)).astype(np.float32)
    seen: list[np.ndarray] = []

    class Model:
        name = "table"

        def score(self, batch):
            seen.extend(batch.histories)
            return table[batch.users]

    first = evaluate_model(Model(), split, ks=(5, 10), checks=False)
    again = evaluate_model(Model(), split, ks=(5, 10), checks=False)
    copy = dataclasses.replace(data, interactions=dataclasses.replace(data.interactions))
    fresh = evaluate_model(Model(), leave_one_out_split(copy), ks=(5, 10), checks=False)
    valid = evaluate_model(Model(), split, ks=(5, 10), checks=False, stage="valid")
    for other in (again, fresh):
        assert other.metrics == first.metrics
        for key, values in first.per_user.items():
            np.testing.assert_array_equal(other.per_user[key], values)
    assert valid.metrics != first.metrics
    # the histories the model sees are the train + valid sequences, read-only (they are shared)
    tv = split.train_valid.sequences()
    users = first.per_user["users"]
    for u, h in zip(users.tolist(), seen[: len(users)], strict=True):
        np.testing.assert_array_equal(h, tv[u])
        assert not h.flags.writeable
