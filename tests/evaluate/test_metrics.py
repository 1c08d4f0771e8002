"""Metrics against hand-computed values (the arithmetic is in the comments) and property tests."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lmrec.metrics as M

# one user, list of 5, relevant items at positions 0 and 2 (1-based ranks 1 and 3), 3 relevant items in total
REL = np.array([[1, 0, 1, 0, 0]])
NREL = np.array([3])


def test_precision_recall_f1_hit_by_hand():
    # top-3: hits at ranks 1 and 3 -> 2 hits; precision = 2/3, recall = 2/3 (3 relevant)
    assert M.precision_at_k(REL, 3)[0] == pytest.approx(2 / 3)
    assert M.recall_at_k(REL, NREL, 3)[0] == pytest.approx(2 / 3)
    # top-2: 1 hit; precision = 1/2, recall = 1/3, F1 = 2 * (1/2 * 1/3) / (1/2 + 1/3) = (1/3) / (5/6) = 0.4
    assert M.f1_at_k(REL, NREL, 2)[0] == pytest.approx(0.4)
    assert M.hit_rate_at_k(REL, 1)[0] == 1.0
    assert M.hit_rate_at_k(np.array([[0, 0, 1]]), 2)[0] == 0.0
    # a short list (3 slots) evaluated at K=5: precision still divides by K -> 1/5
    assert M.precision_at_k(np.array([[0, 1, 0]]), 5)[0] == pytest.approx(0.2)


def test_ndcg_binary_by_hand():
    # DCG@5 = 1/log2(2) + 1/log2(4) = 1 + 0.5 = 1.5
    # IDCG@5 with 3 relevant = 1 + 1/log2(3) + 1/log2(4) = 1 + 0.6309298 + 0.5 = 2.1309298
    expected = 1.5 / (1 + 1 / math.log2(3) + 0.5)
    assert M.ndcg_at_k(REL, 5, n_relevant=NREL)[0] == pytest.approx(expected)
    assert expected == pytest.approx(0.703918, abs=1e-6)
    # K=1: DCG = 1, IDCG = 1 -> 1.0
    assert M.ndcg_at_k(REL, 1, n_relevant=NREL)[0] == pytest.approx(1.0)


def test_ndcg_graded_by_hand():
    # gains at positions 0..2: 3, 0, 1; user's relevant gains: 3, 2, 1
    rel = np.array([[3.0, 0.0, 1.0]])
    ideal = np.array([[1.0, 3.0, 2.0]])  # any order: sorted descending inside
    # linear: DCG = 3/1 + 0 + 1/2 = 3.5; IDCG = 3 + 2/log2(3) + 1/2 = 3 + 1.2618595 + 0.5 = 4.7618595
    lin = 3.5 / (3 + 2 / math.log2(3) + 0.5)
    assert M.ndcg_at_k(rel, 3, ideal=ideal)[0] == pytest.approx(lin)
    # exponential: DCG = 7 + 0 + 1/2 = 7.5; IDCG = 7 + 3/log2(3) + 1/2 = 7 + 1.8927893 + 0.5 = 9.3927893
    ex = 7.5 / (7 + 3 / math.log2(3) + 0.5)
    assert M.ndcg_at_k(rel, 3, ideal=ideal, gain="exp")[0] == pytest.approx(ex)


def test_mrr_and_map_by_hand():
    # first hit at rank 1 -> MRR 1; list [0, 1, 1]: first hit at rank 2 -> 0.5
    assert M.mrr_at_k(REL, 5)[0] == 1.0
    assert M.mrr_at_k(np.array([[0, 1, 1]]), 3)[0] == 0.5
    assert M.mrr_at_k(np.array([[0, 0, 1]]), 2)[0] == 0.0
    # AP@5: precision at the hits: rank1 -> 1/1, rank3 -> 2/3; sum = 5/3; / min(3, 5) = 5/9
    assert M.map_at_k(REL, NREL, 5)[0] == pytest.approx(5 / 9)
    # AP@2: hit at rank 1 only -> 1; / min(3, 2) = 1/2
    assert M.map_at_k(REL, NREL, 2)[0] == pytest.approx(0.5)


def test_mean_over_users_skips_users_without_relevant_items():
    # users: values .5, 1, 0 with n_relevant 1, 2, 0 -> mean of the first two = .75
    assert M.mean_over_users(np.array([0.5, 1.0, 0.0]), np.array([1, 2, 0])) == pytest.approx(0.75)
    assert math.isnan(M.mean_over_users(np.array([1.0]), np.array([0])))


def test_single_target_metrics_by_hand_and_equal_to_general():
    ranks = np.array([0, 3, 9, 10, 25])
    out = M.single_target_metrics(ranks, [10])
    # rank 3 (4th place): NDCG = 1/log2(5) = 0.4306766; MRR = 1/4; precision = 1/10; F1 = 2*.1*1/(1.1)
    assert out["ndcg@10"][1] == pytest.approx(1 / math.log2(5))
    assert out["mrr@10"][1] == pytest.approx(0.25)
    assert out["precision@10"][1] == pytest.approx(0.1)
    assert out["f1@10"][1] == pytest.approx(0.2 / 1.1)
    assert out["hit@10"].tolist() == [1, 1, 1, 0, 0]
    rel = M.relevance_from_ranks(ranks, 10)
    ones = np.ones(len(ranks))
    np.testing.assert_allclose(out["ndcg@10"], M.ndcg_at_k(rel, 10, n_relevant=ones))
    np.testing.assert_allclose(out["map@10"], M.map_at_k(rel, ones, 10))
    np.testing.assert_allclose(out["f1@10"], M.f1_at_k(rel, ones, 10))
    np.testing.assert_allclose(out["recall@10"], M.recall_at_k(rel, ones, 10))


def test_list_metrics_by_hand():
    top = np.array([[0, 1], [1, 2], [1, -1]])
    # coverage: items {0, 1, 2} of 5 = 0.6; at K=1: {0, 1} = 0.4
    assert M.catalog_coverage(top, 5, 2) == pytest.approx(0.6)
    assert M.catalog_coverage(top, 5, 1) == pytest.approx(0.4)
    share = np.array([0.5, 0.25, 1.0, 0.125, 1.0])
    # novelty user 0: (-log2 .5 - log2 .25)/2 = (1 + 2)/2 = 1.5; user 1: (2 + 0)/2 = 1; user 2: item 1 -> 2
    np.testing.assert_allclose(M.novelty(top, share, 2), [1.5, 1.0, 2.0])
    counts = np.array([10, 4, 2, 0, 0])
    # popularity: (10 + 4)/2 = 7, (4 + 2)/2 = 3, 4
    np.testing.assert_allclose(M.average_popularity(top, counts, 2), [7.0, 3.0, 4.0])


def test_intra_list_diversity_by_hand():
    vecs = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0], [-3.0, 0.0]])
    # list [0, 1, 2]: cos(0,1)=0 -> d 1; cos(0,2)=1/sqrt2 -> d 0.2928932; cos(1,2)=1/sqrt2 -> d 0.2928932
    # mean over the 3 pairs = (1 + 2 * 0.2928932) / 3 = 0.5285955
    # list [0, 3]: cos = -1 -> d = 2; list [2]: no pair -> 0
    top = np.array([[0, 1, 2], [0, 3, -1], [2, -1, -1]])
    d = M.intra_list_diversity(top, vecs, 3)
    np.testing.assert_allclose(d, [(1 + 2 * (1 - 1 / math.sqrt(2))) / 3, 2.0, 0.0])


def test_bad_inputs_raise():
    with pytest.raises(ValueError):
        M.precision_at_k(np.array([1, 0]), 1)
    with pytest.raises(ValueError):
        M.ndcg_at_k(REL, 0, n_relevant=NREL)
    with pytest.raises(ValueError):
        M.novelty(np.array([[0]]), np.array([0.0]), 1)


# -- properties -------------------------------------------------------------------------------------------

rel_lists = st.lists(st.lists(st.integers(0, 1), min_size=1, max_size=15), min_size=1, max_size=8)


def _matrix(rows: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    width = max(len(r) for r in rows)
    rel = np.zeros((len(rows), width))
    for i, r in enumerate(rows):
        rel[i, : len(r)] = r
    # n_relevant >= hits: some relevant items may be outside the list
    n_rel = rel.sum(axis=1) + np.arange(len(rows)) % 3
    return rel, n_rel


@settings(max_examples=60, deadline=None)
@given(rel_lists, st.integers(1, 20))
def test_metrics_are_bounded(rows, k):
    rel, n_rel = _matrix(rows)
    for values in (
        M.precision_at_k(rel, k),
        M.recall_at_k(rel, n_rel, k),
        M.f1_at_k(rel, n_rel, k),
        M.hit_rate_at_k(rel, k),
        M.ndcg_at_k(rel, k, n_relevant=n_rel),
        M.mrr_at_k(rel, k),
        M.map_at_k(rel, n_rel, k),
    ):
        assert np.all(values >= 0.0)
        assert np.all(values <= 1.0 + 1e-12)


@settings(max_examples=60, deadline=None)
@given(rel_lists, st.integers(1, 19))
def test_recall_hit_ndcg_non_decreasing_in_k(rows, k):
    rel, n_rel = _matrix(rows)
    assert np.all(M.recall_at_k(rel, n_rel, k + 1) >= M.recall_at_k(rel, n_rel, k))
    assert np.all(M.hit_rate_at_k(rel, k + 1) >= M.hit_rate_at_k(rel, k))
    assert np.all(M.mrr_at_k(rel, k + 1) >= M.mrr_at_k(rel, k))
    # NDCG@K is not monotone in general (the ideal grows too) when several items are relevant; it is with one
    single = rel.copy()
    single[:, 1:] = 0
    ones = np.ones(len(rel))
    longer = M.ndcg_at_k(single, k + 1, n_relevant=ones)
    assert np.all(longer >= M.ndcg_at_k(single, k, n_relevant=ones) - 1e-12)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 12), min_size=1, max_size=6), st.integers(1, 15))
def test_perfect_ranking_scores_one(n_relevant, k):
    # all relevant items first, then irrelevant ones
    width = max(n_relevant) + 5
    rel = np.zeros((len(n_relevant), width))
    for i, n in enumerate(n_relevant):
        rel[i, :n] = 1
    n_rel = np.array(n_relevant)
    np.testing.assert_allclose(M.ndcg_at_k(rel, k, n_relevant=n_rel), 1.0)
    np.testing.assert_allclose(M.map_at_k(rel, n_rel, k), 1.0)
    np.testing.assert_allclose(M.mrr_at_k(rel, k), 1.0)
    np.testing.assert_allclose(M.hit_rate_at_k(rel, k), 1.0)
    # recall is 1 once K covers every relevant item; precision is 1 while K does not exceed them
    np.testing.assert_allclose(M.recall_at_k(rel, n_rel, k)[n_rel <= k], 1.0)
    np.testing.assert_allclose(M.precision_at_k(rel, k)[n_rel >= k], 1.0)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 30), min_size=1, max_size=10), st.integers(1, 25))
def test_single_target_agrees_with_general(ranks, k):
    r = np.array(ranks)
    rel = M.relevance_from_ranks(r, 31)
    ones = np.ones(len(r))
    fast = M.single_target_metrics(r, [k])
    np.testing.assert_allclose(fast[f"ndcg@{k}"], M.ndcg_at_k(rel, k, n_relevant=ones))
    np.testing.assert_allclose(fast[f"mrr@{k}"], M.mrr_at_k(rel, k))
    np.testing.assert_allclose(fast[f"precision@{k}"], M.precision_at_k(rel, k))
    np.testing.assert_allclose(fast[f"hit@{k}"], M.hit_rate_at_k(rel, k))


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_diversity_in_range(seed):
    rng = np.random.default_rng(seed)
    vecs = rng.normal(size=(12, 4))
    top = np.stack([rng.permutation(12)[:5] for _ in range(4)])
    d = M.intra_list_diversity(top, vecs, 5)
    assert np.all(d >= -1e-12) and np.all(d <= 2 + 1e-12)


def test_target_metrics_by_hand():
    scores = np.array([[0.9, 0.5, 0.1, 0.7], [0.2, 0.2, 0.2, 0.2]])
    m = M.target_metrics(scores, np.array([3, 0]), ks=(1, 2))
    # row 0: target ranked 2nd; row 1: all tied -> midpoint rank 2.5
    assert m["recall@1"].tolist() == [0.0, 0.0] and m["recall@2"].tolist() == [1.0, 0.0]
    np.testing.assert_allclose(m["ndcg@2"], [1 / np.log2(3), 0.0])
    np.testing.assert_allclose(M.midpoint_ranks(scores, np.array([3, 0])), [1.0, 1.5])


def test_target_metrics_without_ties_equal_the_protocols_single_target_metrics():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(50, 30))
    targets = rng.integers(0, 30, 50)
    got = M.target_metrics(scores, targets, ks=(5, 10))
    want = M.single_target_metrics(M.midpoint_ranks(scores, targets), [5, 10])
    for key in ("ndcg@5", "recall@5", "ndcg@10", "recall@10"):
        np.testing.assert_allclose(got[key], want[key])


def test_old_module_name_is_the_same_home():
    from lmrec.evaluate import metrics as old

    assert old.ndcg_at_k is M.ndcg_at_k and set(old.__all__) == set(M.__all__)
