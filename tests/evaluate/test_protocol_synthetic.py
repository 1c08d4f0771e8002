"""Protocol behaviour on small synthetic data: masking, ties, batching, stages, sampled mode, errors."""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmrec.data._build import build_dataset
from lmrec.data.split import leave_one_out_split, random_split
from lmrec.errors import LmrecError
from lmrec.evaluate import evaluate_model, evaluate_scores
from lmrec.evaluate.protocol import SampledMetricsWarning, krichene_rendle_correction, rank_top_k
from lmrec.models.base import UserBatch
from lmrec.testing.contract import tiny_dataset


class ScoreFn:
    """A stand-in model: scores = fn(batch) (records the batches it saw)."""

    name: ClassVar[str] = "fn"

    def __init__(self, fn):
        self.fn = fn
        self.batches: list[UserBatch] = []

    def score(self, batch):
        self.batches.append(batch)
        return self.fn(batch)


@pytest.fixture(scope="module")
def split():
    return leave_one_out_split(tiny_dataset(n_users=50, n_items=30, per_user=8, seed=2))


def _targets(split, stage):
    part = split.test if stage == "test" else split.valid
    out = {}
    for u, i in zip(part.user.tolist(), part.item.tolist(), strict=True):
        out.setdefault(u, []).append(i)
    return out


def oracle(split, stage, *, seen_first):
    """Target scored 1; seen items scored 2 when ``seen_first`` (masking must remove them); rest 0."""
    targets = _targets(split, stage)
    n = split.dataset.n_items

    def fn(batch):
        s = np.zeros((len(batch), n), dtype=np.float32)
        for row, (u, hist) in enumerate(zip(batch.users, batch.histories, strict=True)):
            s[row, targets[int(u)]] = 1.0
            if seen_first:
                s[row, hist] = 2.0
        return s

    return ScoreFn(fn)


@pytest.mark.parametrize("stage", ["valid", "test"])
def test_seen_items_are_masked(split, stage):
    res = evaluate_model(oracle(split, stage, seen_first=True), split, stage=stage, ks=(1, 5))
    # seen items (scored 2) are removed, so the target (scored 1) comes first -- unless the target itself was
    # already seen: then it is masked too and counts as a miss (and the integrity check says so)
    hist = split.history_rows(stage)
    inter = split.dataset.interactions
    seen_pairs = set(zip(inter.user[hist].tolist(), inter.item[hist].tolist(), strict=True))
    targets = _targets(split, stage)
    n_seen = sum((u, t[0]) in seen_pairs for u, t in targets.items())
    assert 0 < n_seen < len(targets)
    share = 1 - n_seen / len(targets)
    assert res.metrics["ndcg@5"] == pytest.approx(share)
    assert res.metrics["hit@1"] == pytest.approx(share)
    assert res.metrics["mrr@5"] == pytest.approx(share)
    assert any(w.startswith(f"{n_seen} of {len(targets)} {stage} items") for w in res.warnings)


def test_histories_follow_the_stage(split):
    model = oracle(split, "valid", seen_first=False)
    evaluate_model(model, split, stage="valid", checks=False)
    train_seqs = split.train.sequences()
    b = model.batches[0]
    for u, h in zip(b.users, b.histories, strict=True):
        np.testing.assert_array_equal(h, train_seqs[u])
    model = oracle(split, "test", seen_first=False)
    evaluate_model(model, split, stage="test", checks=False)
    tv_seqs = split.train_valid.sequences()
    b = model.batches[0]
    for u, h in zip(b.users, b.histories, strict=True):
        np.testing.assert_array_equal(h, tv_seqs[u])


def test_batch_size_does_not_change_results(split):
    rng = np.random.default_rng(0)
    table = rng.integers(0, 4, size=(split.dataset.n_users, split.dataset.n_items)).astype(np.float32)
    model = ScoreFn(lambda b: table[b.users])
    runs = [evaluate_model(model, split, batch_size=bs, seed=5, checks=False) for bs in (1, 7, 256)]
    for other in runs[1:]:
        assert other.metrics == runs[0].metrics
    # batches really were bounded by batch_size
    assert max(len(b) for b in model.batches[: split.dataset.n_users]) == 1


def test_ties_use_a_seeded_random_order_not_item_ids():
    # every user's test item is item 0 and every score is equal: item-id order would give hit@1 = 1
    n_users, n_items = 400, 20
    users = np.repeat(np.arange(n_users), 2)
    items = np.tile([5, 0], n_users)
    events = pd.DataFrame({"user": users, "item": items, "timestamp": np.tile([1, 2], n_users)})
    items_frame = pd.DataFrame({"item_id": np.arange(n_items)})
    data = build_dataset("t", "t", events, items_frame)
    split = leave_one_out_split(data)  # 2 events: first train, second test
    model = ScoreFn(lambda b: np.zeros((len(b), n_items), dtype=np.float32))
    a = evaluate_model(model, split, ks=(1, 10), seed=0, checks=False, ties="random")
    b = evaluate_model(model, split, ks=(1, 10), seed=0, checks=False, ties="random")
    assert a.metrics == b.metrics
    # one seeded permutation for all users: the target's rank among the 19 unseen items is the same for all
    # users, so hit@10 is 0 or 1 per seed, while its expectation is 10/19
    exp = evaluate_model(model, split, ks=(1, 10), checks=False)  # the default
    assert exp.metrics["hit@10"] == pytest.approx(10 / 19)
    assert exp.metrics["hit@1"] == pytest.approx(1 / 19)
    # NDCG@10 expectation = (1/19) * sum_{r=0..9} 1/log2(r + 2)
    assert exp.metrics["ndcg@10"] == pytest.approx(sum(1 / math.log2(r + 2) for r in range(10)) / 19)
    assert a.metrics["hit@10"] in (0.0, 1.0)
    # item-id order would put item 0 first for everyone; across seeds the random order does not
    runs = [evaluate_model(model, split, ks=(1,), seed=s, checks=False, ties="random") for s in range(8)]
    hits_at_1 = [r.metrics["hit@1"] for r in runs]
    assert sum(hits_at_1) <= 3


def test_evaluate_scores_matches_evaluate_model(split):
    rng = np.random.default_rng(1)
    table = rng.normal(size=(split.dataset.n_users, split.dataset.n_items)).astype(np.float32)
    res = evaluate_model(ScoreFn(lambda b: table[b.users]), split, seed=3, checks=False)
    hist = split.train_valid.sequences()
    targets = [split.test.item[split.test.user == u] for u in range(split.dataset.n_users)]
    direct = evaluate_scores(table, targets, exclude=hist, seed=3)
    for key in ("ndcg@10", "recall@5", "map@20", "coverage@10", "novelty@10", "popularity@5"):
        assert direct.metrics[key] == pytest.approx(res.metrics[key]), key
    assert direct.n_users == res.n_users


def test_evaluate_scores_by_hand_with_several_targets():
    # 2 users, 6 items. user 0: scores rank items 0,1,2,3,4,5; item 0 seen (excluded); targets {2, 5}
    # -> list @3 = [1, 2, 3]: rel [0, 1, 0]
    #    recall@3 = 1/2; precision@3 = 1/3; NDCG@3 = (1/log2 3) / (1 + 1/log2 3) = 0.6309298/1.6309298
    #    MRR@3 = 1/2; AP@3 = (1/2) / min(2, 3) = 1/4
    # user 1: scores rank 5,4,...; nothing seen; target {5} -> rel [1, 0, 0]: everything 1, precision 1/3
    scores = np.array([[6, 5, 4, 3, 2, 1], [1, 2, 3, 4, 5, 6]], dtype=np.float32)
    res = evaluate_scores(scores, [[2, 5], [5]], exclude=[[0], []], ks=(3,))
    ndcg0 = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    assert res.metrics["recall@3"] == pytest.approx((0.5 + 1) / 2)
    assert res.metrics["precision@3"] == pytest.approx(1 / 3)
    assert res.metrics["ndcg@3"] == pytest.approx((ndcg0 + 1) / 2)
    assert res.metrics["mrr@3"] == pytest.approx(0.75)
    assert res.metrics["map@3"] == pytest.approx((0.25 + 1) / 2)
    # lists [1, 2, 3] and [5, 4, 3]: 5 distinct of 6 items
    assert res.metrics["coverage@3"] == pytest.approx(5 / 6)
    np.testing.assert_array_equal(res.per_user["users"], [0, 1])


def test_diversity_only_with_vectors(split):
    model = ScoreFn(lambda b: np.random.default_rng(0).normal(size=(len(b), split.dataset.n_items)))
    assert "diversity@10" not in evaluate_model(model, split, checks=False).metrics
    vecs = np.random.default_rng(1).normal(size=(split.dataset.n_items, 8))
    res = evaluate_model(model, split, item_vectors=vecs, checks=False)
    assert 0.0 < res.metrics["diversity@10"] < 2.0


def test_max_users_subsamples_with_a_warning(split):
    model = ScoreFn(lambda b: np.zeros((len(b), split.dataset.n_items)))
    res = evaluate_model(model, split, max_users=10, checks=False)
    assert res.n_users == 10 and len(res.per_user["users"]) == 10
    assert any("subset of 10" in w for w in res.warnings)


def test_bad_model_output_is_a_one_line_error(split):
    with pytest.raises(LmrecError, match="shape"):
        evaluate_model(ScoreFn(lambda b: np.zeros((len(b), 3))), split, checks=False)
    with pytest.raises(LmrecError, match="NaN"):
        nan = ScoreFn(lambda b: np.full((len(b), split.dataset.n_items), np.nan))
        evaluate_model(nan, split, checks=False)
    with pytest.raises(LmrecError, match="stage"):
        evaluate_model(ScoreFn(lambda b: None), split, stage="train")


def test_integrity_warnings_reach_the_result():
    split = random_split(tiny_dataset(n_users=30, n_items=20, per_user=8, seed=0), seed=0)
    model = ScoreFn(lambda b: np.zeros((len(b), 20)))
    res = evaluate_model(model, split)
    assert any("time leakage" in w for w in res.warnings)


def test_rank_top_k_is_exact_under_ties():
    rng = np.random.default_rng(0)
    s = rng.integers(0, 3, size=(50, 12)).astype(np.float64)
    s[rng.random(s.shape) < 0.2] = -np.inf
    for k in (1, 4, 12):
        got = rank_top_k(s, k)
        for row in range(len(s)):
            order = np.lexsort((np.arange(12), -s[row]))
            order = order[np.isfinite(s[row, order])][:k]
            want = np.full(k, -1)
            want[: len(order)] = order
            np.testing.assert_array_equal(got[row], want)


def test_sampled_evaluation_warns_and_correction_moves_towards_full_ranking():
    # 1500 users, 400 items, noisy scores; the full-ranking recall@10 is the truth
    rng = np.random.default_rng(0)
    n_users, n_items = 1500, 400
    target = rng.integers(0, n_items, n_users)
    scores = rng.normal(size=(n_users, n_items))
    scores[np.arange(n_users), target] += 2.0
    targets = [[t] for t in target]
    full = evaluate_scores(scores, targets, ks=(10,)).metrics["recall@10"]
    with pytest.warns(SampledMetricsWarning, match="not the full catalog"):
        raw = evaluate_scores(scores, targets, ks=(10,), candidates=50)
    with pytest.warns(SampledMetricsWarning):
        fixed = evaluate_scores(scores, targets, ks=(10,), candidates=50, correction=0.1)
    assert any("sampled evaluation" in w for w in raw.warnings)
    assert "coverage@10" not in raw.metrics
    # sampling inflates recall a lot; the correction removes most of the gap
    assert raw.metrics["recall@10"] > full + 0.2
    assert abs(fixed.metrics["recall@10"] - full) < 0.25 * abs(raw.metrics["recall@10"] - full)
    assert fixed.metrics["sampled_recall@10"] == pytest.approx(raw.metrics["recall@10"])


def test_correction_with_gamma_one_is_the_posterior_mean():
    # 4 negatives, 2 sampled: P(r | R) hypergeometric; gamma=1 -> m_r = sum_R P(r|R) M(R) / sum_R P(r|R)
    from scipy.stats import hypergeom

    def hit1(r):
        return (np.asarray(r) < 1).astype(float)

    m = krichene_rendle_correction(hit1, 4, 2, gamma=1.0)
    grid = np.arange(5)
    p = hypergeom.pmf(np.arange(3)[None, :], 4, grid[:, None], 2)
    want = (p * hit1(grid)[:, None]).sum(0) / p.sum(0)
    np.testing.assert_allclose(m, want)
    # r = 0 happens for R = 0 (prob 1), 1 (1/2), 2 (1/6): posterior mean of hit@1 = 1 / (1 + 1/2 + 1/6) = 0.6
    assert m[0] == pytest.approx(0.6)


def test_item_pool_ranks_only_cold_items():
    from lmrec.data.split import item_cold_start_split

    split = item_cold_start_split(tiny_dataset(n_users=60, n_items=40, per_user=8, seed=3), 0.1, 0.2, seed=0)
    pool = np.array(split.params["test_items"])
    n_items = split.dataset.n_items
    # a model that loves the warm items: over the full catalog it never finds a cold test item
    warm_first = np.ones(n_items, dtype=np.float32)
    warm_first[pool] = 0.0
    model = ScoreFn(lambda b: np.tile(warm_first, (len(b), 1)))
    full = evaluate_model(model, split, ks=(5,), checks=False)
    assert full.metrics["hit@5"] == 0.0
    pooled = evaluate_model(model, split, ks=(5,), item_pool=pool, checks=False)
    assert pooled.metrics["hit@5"] > 0.0
    assert "pool of 8 items" in pooled.protocol
    # coverage is relative to the pool: at most the 8 pool items can appear
    assert 0 < pooled.metrics["coverage@5"] <= 1.0


@pytest.mark.parametrize("levels", [3, 50, 100_000])
def test_rank_top_k_is_exact_on_wide_rows(levels):
    # wide rows take the chunk-threshold path; few levels = massive ties (like popularity counts)
    rng = np.random.default_rng(levels)
    s = rng.integers(0, levels, size=(40, 3000)).astype(np.float32)
    s[rng.random(s.shape) < 0.3] = -np.inf
    s[0] = -np.inf  # a row with nothing to recommend
    s[1, :] = -np.inf
    s[1, [7, 2999]] = [1.0, 2.0]  # a row with fewer candidates than k
    got = rank_top_k(s, 20)
    for row in range(len(s)):
        order = np.lexsort((np.arange(s.shape[1]), -s[row]))
        order = order[np.isfinite(s[row, order])][:20]
        want = np.full(20, -1)
        want[: len(order)] = order
        np.testing.assert_array_equal(got[row], want)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 4))
def test_perfect_scores_give_perfect_metrics(seed, n_targets):
    # targets scored above everything else (and never seen) -> every rank metric is 1 at K >= n_targets
    rng = np.random.default_rng(seed)
    n_rows, n_items = 12, 30
    scores = rng.normal(size=(n_rows, n_items)).astype(np.float32)
    targets, exclude = [], []
    for row in range(n_rows):
        items = rng.permutation(n_items)
        targets.append(items[:n_targets])
        exclude.append(items[n_targets : n_targets + 5])
        scores[row, items[:n_targets]] += 100.0
        scores[row, items[n_targets : n_targets + 5]] += 1000.0  # seen: masked away
    res = evaluate_scores(scores, targets, exclude=exclude, ks=(4, 10))
    for name in ("ndcg", "recall", "hit", "mrr", "map"):
        assert res.metrics[f"{name}@4"] == pytest.approx(1.0)
        assert res.metrics[f"{name}@10"] == pytest.approx(1.0)
    assert res.metrics["precision@4"] == pytest.approx(n_targets / 4)
