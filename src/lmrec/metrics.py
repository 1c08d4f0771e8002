"""Ranking metrics as pure numpy functions over rank positions: the one home of lmrec's metric math.

This module imports nothing of lmrec, so every layer may use it: the evaluation protocol
(:mod:`lmrec.evaluate`) and the models' validation during training (:func:`target_metrics`).

Conventions (shared by every function here):

- ``rel`` is a ``(n_users, L)`` array: ``rel[u, p]`` is the relevance (gain) of the item recommended to user
  ``u`` at position ``p`` (0 = best). Binary relevance is 0/1; graded relevance is any non-negative number.
  ``L`` must be at least ``k``; positions past the end of a short list hold 0.
- ``n_relevant[u]`` is the number of relevant (held-out) items of user ``u``, whether or not they were
  recommended. Users with ``n_relevant == 0`` are excluded from every average (see :func:`mean_over_users`).
- Every per-user function returns a float64 array of shape ``(n_users,)``; aggregate with
  :func:`mean_over_users` = the mean over users with at least one relevant item.
- ``ranks`` (single target, leave-one-out) are 0-based positions of the one held-out item in the full ranking;
  :func:`relevance_from_ranks` turns them into ``rel``. :func:`single_target_metrics` computes the same
  numbers directly from ranks (vectorised, no ``rel`` matrix).

Definitions at cut-off K (``hits`` = number of relevant items in the top K):

- Precision@K = hits / K (the list length K, even if the list is shorter);
- Recall@K = hits / n_relevant;
- F1@K = harmonic mean of the per-user precision and recall (0 when both are 0);
- HitRate@K = 1 if hits > 0;
- NDCG@K = DCG / IDCG with DCG = sum_p gain_p / log2(p + 2) (linear gain; ``gain="exp"`` uses 2^g - 1) and
  IDCG the DCG of the best possible list (binary: min(n_relevant, K) ones; graded: the user's relevant gains
  sorted descending, passed as ``ideal``);
- MRR@K = 1 / (position of the first relevant item + 1), 0 if none in the top K;
- MAP@K = sum over relevant positions p <= K of Precision@(p+1), divided by min(n_relevant, K).

List-level metrics take the recommended item indices ``top`` (``(n_users, L)``, -1 = empty slot):
catalog coverage, novelty, intra-list diversity and average recommendation popularity.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "average_popularity",
    "catalog_coverage",
    "dcg_at_k",
    "expected_single_target_metrics",
    "f1_at_k",
    "hit_rate_at_k",
    "intra_list_diversity",
    "map_at_k",
    "mean_over_users",
    "midpoint_ranks",
    "mrr_at_k",
    "ndcg_at_k",
    "novelty",
    "precision_at_k",
    "recall_at_k",
    "relevance_from_ranks",
    "single_target_metrics",
    "target_metrics",
]


def _rel(rel: np.ndarray, k: int) -> np.ndarray:
    rel = np.asarray(rel, dtype=np.float64)
    if rel.ndim != 2:
        raise ValueError(f"rel must be 2-D (users x positions), got shape {rel.shape}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if rel.shape[1] < k:
        # a short list: the missing positions recommend nothing
        rel = np.pad(rel, ((0, 0), (0, k - rel.shape[1])))
    return rel[:, :k]


def _discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(k, dtype=np.float64) + 2.0)


def relevance_from_ranks(ranks: np.ndarray, length: int) -> np.ndarray:
    """Binary ``(n_users, length)`` relevance of one held-out item at 0-based ``ranks`` (>= length: miss)."""
    ranks = np.asarray(ranks)
    rel = np.zeros((len(ranks), length), dtype=np.float64)
    ok = (ranks >= 0) & (ranks < length)
    rel[np.flatnonzero(ok), ranks[ok].astype(np.int64)] = 1.0
    return rel


def hit_rate_at_k(rel: np.ndarray, k: int) -> np.ndarray:
    """1.0 where at least one relevant item is in the top ``k``."""
    return (_rel(rel, k) > 0).any(axis=1).astype(np.float64)


def precision_at_k(rel: np.ndarray, k: int) -> np.ndarray:
    """Relevant items in the top ``k`` divided by ``k``."""
    return (_rel(rel, k) > 0).sum(axis=1) / float(k)


def recall_at_k(rel: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Relevant items in the top ``k`` divided by the user's number of relevant items (0 where that is 0)."""
    hits = (_rel(rel, k) > 0).sum(axis=1).astype(np.float64)
    n = np.asarray(n_relevant, dtype=np.float64)
    return np.divide(hits, n, out=np.zeros_like(hits), where=n > 0)


def f1_at_k(rel: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Per-user harmonic mean of precision@k and recall@k (0 where both are 0)."""
    p = precision_at_k(rel, k)
    r = recall_at_k(rel, n_relevant, k)
    s = p + r
    return np.divide(2 * p * r, s, out=np.zeros_like(s), where=s > 0)


def dcg_at_k(rel: np.ndarray, k: int, *, gain: str = "linear") -> np.ndarray:
    """Discounted cumulative gain of the top ``k`` (``gain``: ``"linear"`` g or ``"exp"`` 2^g - 1)."""
    g = _rel(rel, k)
    if gain == "exp":
        g = np.exp2(g) - 1.0
    elif gain != "linear":
        raise ValueError(f"gain must be 'linear' or 'exp', not {gain!r}")
    return g @ _discounts(k)


def ndcg_at_k(
    rel: np.ndarray,
    k: int,
    *,
    n_relevant: np.ndarray | None = None,
    ideal: np.ndarray | None = None,
    gain: str = "linear",
) -> np.ndarray:
    """Normalised DCG at ``k``.

    Binary relevance: pass ``n_relevant`` (the ideal list has min(n_relevant, k) ones). Graded relevance: pass
    ``ideal``, each user's relevant gains (any order, zero-padded; sorted here). Without either, the ideal is
    the user's own recommended gains sorted, which is only right when every relevant item was retrieved.
    """
    dcg = dcg_at_k(rel, k, gain=gain)
    if ideal is not None:
        ideal_sorted = -np.sort(-np.asarray(ideal, dtype=np.float64), axis=1)
        idcg = dcg_at_k(ideal_sorted, k, gain=gain)
    elif n_relevant is not None:
        n = np.minimum(np.asarray(n_relevant, dtype=np.int64), k)
        cum = np.r_[0.0, np.cumsum(_discounts(k))]
        idcg = cum[n]  # binary: 2^1 - 1 = 1, the same ideal under both gains
    else:
        idcg = dcg_at_k(-np.sort(-_rel(rel, k), axis=1), k, gain=gain)
    return np.divide(dcg, idcg, out=np.zeros_like(dcg), where=idcg > 0)


def mrr_at_k(rel: np.ndarray, k: int) -> np.ndarray:
    """Reciprocal of the 1-based position of the first relevant item in the top ``k`` (0 if none)."""
    hit = _rel(rel, k) > 0
    first = hit.argmax(axis=1)
    return np.where(hit.any(axis=1), 1.0 / (first + 1.0), 0.0)


def map_at_k(rel: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Average precision at ``k``: sum of precision@(p+1) over relevant positions p, / min(n_relevant, k)."""
    hit = (_rel(rel, k) > 0).astype(np.float64)
    prec = np.cumsum(hit, axis=1) / np.arange(1, k + 1, dtype=np.float64)
    denom = np.minimum(np.asarray(n_relevant, dtype=np.float64), k)
    total = (prec * hit).sum(axis=1)
    return np.divide(total, denom, out=np.zeros_like(total), where=denom > 0)


def mean_over_users(values: np.ndarray, n_relevant: np.ndarray) -> float:
    """Mean of a per-user metric over the users with at least one relevant item (nan if there are none)."""
    keep = np.asarray(n_relevant) > 0
    if not keep.any():
        return float("nan")
    return float(np.asarray(values, dtype=np.float64)[keep].mean())


def single_target_metrics(ranks: np.ndarray, ks: Sequence[int]) -> dict[str, np.ndarray]:
    """Per-user metrics for leave-one-out (one relevant item per user) straight from its 0-based ``ranks``.

    Equal to the general functions with ``n_relevant = 1``: hit = recall = 1[r < K], precision = hit / K,
    NDCG = 1/log2(r + 2), MRR = MAP = 1/(r + 1) when r < K.
    """
    r = np.asarray(ranks, dtype=np.float64)
    out: dict[str, np.ndarray] = {}
    for k in ks:
        hit = (r >= 0) & (r < k)
        h = hit.astype(np.float64)
        p = h / k
        out[f"hit@{k}"] = h
        out[f"recall@{k}"] = h
        out[f"precision@{k}"] = p
        out[f"f1@{k}"] = np.where(hit, 2 * p / (p + 1.0), 0.0)
        out[f"ndcg@{k}"] = np.where(hit, 1.0 / np.log2(np.where(hit, r, 0) + 2.0), 0.0)
        rr = np.where(hit, 1.0 / (np.where(hit, r, 0) + 1.0), 0.0)
        out[f"mrr@{k}"] = rr
        out[f"map@{k}"] = rr
    return out


def midpoint_ranks(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """0-based rank of each row's target column ``targets[r]`` among ``scores[r]``: the items scored strictly
    higher plus half of the other items tied with it (its expected position in a random order of the ties).
    Items that may not be recommended (seen ones) should already score ``-inf``."""
    scores = np.asarray(scores)
    target_scores = scores[np.arange(len(scores)), np.asarray(targets)][:, None]
    higher = (scores > target_scores).sum(axis=1)
    ties = (scores == target_scores).sum(axis=1) - 1
    return higher + ties / 2.0


def target_metrics(
    scores: np.ndarray, targets: np.ndarray, ks: Sequence[int] = (10,)
) -> dict[str, np.ndarray]:
    """Per-row ``ndcg@k`` and ``recall@k`` of one held-out target column among ``scores`` (seen items at
    ``-inf``), at its :func:`midpoint_ranks` position: a hit when the 1-based midpoint rank is at most k.

    What models validate on during training (early stopping): one pass over the scores, close to the
    protocol's exact expectation over tie orders (:func:`expected_single_target_metrics`) and equal to it
    when the target ties with nothing.
    """
    rank = midpoint_ranks(scores, targets) + 1.0  # 1-based
    out: dict[str, np.ndarray] = {}
    for k in ks:
        hit = rank <= k
        out[f"recall@{k}"] = hit.astype(np.float64)
        out[f"ndcg@{k}"] = np.where(hit, 1.0 / np.log2(rank + 1.0), 0.0)
    return out


def expected_single_target_metrics(
    n_greater: np.ndarray, n_tied: np.ndarray, ks: Sequence[int]
) -> dict[str, np.ndarray]:
    """Single-target metrics averaged over every order of the items tied with the target.

    ``n_greater[u]`` items score strictly higher than user u's target and ``n_tied[u]`` other items score
    exactly the same, so in a uniformly random order of the ties the target's 0-based rank R is uniform on
    ``n_greater .. n_greater + n_tied``; each metric is the mean of its value over those ranks. This is the
    expectation of the seeded random tie-break, without its sampling noise.
    """
    g = np.asarray(n_greater, dtype=np.int64)
    t = np.asarray(n_tied, dtype=np.int64)
    width = (t + 1).astype(np.float64)
    out: dict[str, np.ndarray] = {}
    for k in ks:
        pos = np.arange(k, dtype=np.float64)
        # cumulative sums over ranks 0..k-1 of each metric's value at that rank; ranks >= k are worth 0
        tables = {
            "hit": np.r_[0.0, np.cumsum(np.ones(k))],
            "ndcg": np.r_[0.0, np.cumsum(1.0 / np.log2(pos + 2.0))],
            "mrr": np.r_[0.0, np.cumsum(1.0 / (pos + 1.0))],
        }
        lo = np.minimum(g, k)
        hi = np.minimum(g + t + 1, k)
        for name, cum in tables.items():
            out[f"{name}@{k}"] = (cum[hi] - cum[lo]) / width
        out[f"recall@{k}"] = out[f"hit@{k}"]
        out[f"precision@{k}"] = out[f"hit@{k}"] / k
        out[f"map@{k}"] = out[f"mrr@{k}"]
        # F1 with one relevant item is 2/(k+1) on a hit, 0 otherwise: linear in the hit probability
        out[f"f1@{k}"] = out[f"hit@{k}"] * 2.0 / (k + 1.0)
    return out


# -- list-level metrics over recommended item indices ------------------------------------------------------


def _top(top: np.ndarray, k: int) -> np.ndarray:
    top = np.asarray(top)
    if top.ndim != 2:
        raise ValueError(f"top must be 2-D (users x positions), got shape {top.shape}")
    return top[:, :k].astype(np.int64)


def catalog_coverage(top: np.ndarray, n_items: int, k: int) -> float:
    """Fraction of the ``n_items`` catalog that appears in at least one user's top ``k``."""
    t = _top(top, k)
    t = t[t >= 0]
    if n_items <= 0:
        return float("nan")
    return float(len(np.unique(t)) / n_items)


def novelty(top: np.ndarray, popularity_share: np.ndarray, k: int) -> np.ndarray:
    """Per-user mean self-information -log2(p_i) of the recommended items (empty slots skipped).

    ``popularity_share[i]`` is item i's share of the training population, in (0, 1]: the protocol uses the
    fraction of users who interacted with i, with items never seen counted as one user (so log2 stays finite).
    """
    t = _top(top, k)
    share = np.asarray(popularity_share, dtype=np.float64)
    if (share <= 0).any() or (share > 1).any():
        raise ValueError("popularity_share must be in (0, 1]")
    valid = t >= 0
    info = np.where(valid, -np.log2(share[np.where(valid, t, 0)]), 0.0)
    n = valid.sum(axis=1)
    return np.divide(info.sum(axis=1), n, out=np.zeros(len(t)), where=n > 0)


def average_popularity(top: np.ndarray, popularity: np.ndarray, k: int) -> np.ndarray:
    """Per-user mean popularity (e.g. number of training interactions) of the recommended items."""
    t = _top(top, k)
    pop = np.asarray(popularity, dtype=np.float64)
    valid = t >= 0
    vals = np.where(valid, pop[np.where(valid, t, 0)], 0.0)
    n = valid.sum(axis=1)
    return np.divide(vals.sum(axis=1), n, out=np.zeros(len(t)), where=n > 0)


def intra_list_diversity(top: np.ndarray, item_vectors: np.ndarray, k: int) -> np.ndarray:
    """Per-user mean pairwise cosine distance (1 - cosine) between the recommended items' vectors.

    Lists with fewer than two items score 0. Zero vectors count as orthogonal to everything (distance 1).
    """
    t = _top(top, k)
    v = np.asarray(item_vectors, dtype=np.float64)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    vn = np.divide(v, norms, out=np.zeros_like(v), where=norms > 0)
    valid = t >= 0
    x = vn[np.where(valid, t, 0)] * valid[..., None]
    sim = np.einsum("ukd,uld->ukl", x, x)
    pair = valid[:, :, None] & valid[:, None, :]
    pair &= ~np.eye(t.shape[1], dtype=bool)  # drop self-pairs
    n_pairs = pair.sum(axis=(1, 2))
    dist = np.where(pair, 1.0 - sim, 0.0).sum(axis=(1, 2))
    return np.divide(dist, n_pairs, out=np.zeros(len(t)), where=n_pairs > 0)
