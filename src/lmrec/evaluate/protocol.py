"""The evaluation protocol: full ranking over the whole catalog, in user batches, excluding seen items.

What is ranked
    Every catalog item, for every user who has at least one held-out item in the stage (``"valid"`` or
    ``"test"``). Items the user has already seen are excluded from the ranking: at the validation stage the
    training items, at the test stage the training and validation items (and "history-only" events of
    few-shot splits). A held-out item that the user had already seen can therefore not be retrieved and counts
    as a miss; :mod:`lmrec.evaluate.integrity` warns when that happens.

Memory
    Scores are computed ``batch_size`` users at a time: memory is O(batch_size x n_items), never
    users x items.

Ties
    Equal scores are ordered by one seeded random permutation of the items (``seed``). Optimistic tie-breaking
    (the target first) inflates results, and item-id order leaks whenever ids correlate with time or with the
    users' sequences (the "P5 bug": ids assigned in order of appearance put the next item at id + 1). A random
    order is neither: in expectation a tied target lands in the middle of its tie group.

Averaging
    Per-user metrics are averaged over the evaluated users (those with at least one held-out item); see
    :mod:`lmrec.evaluate.metrics` for the definitions. Coverage is over the union of the users' lists.

Sampled evaluation
    Only on explicit request (``candidates=N``): each user's held-out items are ranked against N random unseen
    items. This is NOT comparable with full ranking (Krichene & Rendle, "On Sampled Metrics for Item
    Recommendation", KDD 2020), so it adds a warning; ``correction=gamma`` applies their bias-variance
    corrected metrics (single held-out item per user only; the full catalog size used by the correction is the
    median number of unseen items per user).
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from lmrec.data.split import Split
from lmrec.errors import LmrecError
from lmrec.evaluate import metrics as M

__all__ = [
    "EvalResult",
    "SampledMetricsWarning",
    "evaluate_model",
    "evaluate_scores",
    "krichene_rendle_correction",
    "rank_top_k",
]


class SampledMetricsWarning(UserWarning):
    """Issued whenever metrics are computed over sampled candidates instead of the full catalog."""


RANK_METRICS = ("ndcg", "recall", "precision", "f1", "hit", "mrr", "map")


@dataclass
class EvalResult:
    """What one evaluation measured.

    ``metrics``: ``"{name}@{k}"`` -> value (means over evaluated users; see the module docstring).
    ``per_user``: ``"users"`` (the evaluated user indices) and one array per rank metric, aligned with it.
    """

    metrics: dict[str, float]
    n_users: int
    protocol: str
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    per_user: dict[str, np.ndarray] | None = field(default=None, repr=False)
    params: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> float:
        return self.metrics[key]

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible summary (without the per-user arrays)."""
        return {
            "metrics": {k: float(v) for k, v in self.metrics.items()},
            "n_users": self.n_users,
            "protocol": self.protocol,
            "warnings": list(self.warnings),
            "seconds": self.seconds,
            "params": self.params,
        }


# -- ranking (shared by every entry point) -----------------------------------------------------------------


def _order_codes(scores: np.ndarray) -> np.ndarray:
    """Order-preserving uint32 codes of the scores taken as float32; 0 marks -inf (never recommended).

    Scores are compared as float32, the dtype of the Recommender protocol. NaN is a model bug and raises.
    """
    s = np.asarray(scores, dtype=np.float32)
    if np.isnan(s).any():
        raise LmrecError("the model returned NaN scores; cannot rank")
    s = s + np.float32(0.0)  # a copy, with -0.0 turned into +0.0 so that the two tie
    # negative floats: flip every bit; non-negative: set the sign bit (mask = sign-extended sign | 0x80000000)
    mask = s.view(np.int32) >> 31
    mask |= np.int32(-(2**31))
    code = s.view(np.uint32)
    code ^= mask.view(np.uint32)
    code[code == np.uint32(0x007FFFFF)] = 0  # -inf
    return code


def _top_from_codes(code: np.ndarray, k: int, tie_key: np.ndarray | None = None) -> np.ndarray:
    """Columns of the ``k`` largest codes per row, best first; 0 codes -> -1.

    Ties go to the larger ``tie_key`` (distinct values in 1..n per column; default n - column, i.e. the lower
    column first). Each candidate code is widened to a unique 64-bit key (code, then tie key), so a partition
    is exact under ties. Wide rows are first cut down cheaply: the k-th largest of the chunk maxima is at most
    the k-th largest code, so only codes at or above it can be in the top k.
    """
    b, n = code.shape
    k = min(k, n)
    if k == 0 or b == 0:
        return np.full((b, k), -1, dtype=np.int64)
    low = np.uint64(n) - np.arange(n, dtype=np.uint64) if tie_key is None else tie_key.astype(np.uint64)
    if n >= 64 * k and n >= 1024:
        size = -(-n // (16 * k))  # ~16k chunks per row
        n_chunks = -(-n // size)
        padded = np.zeros((b, n_chunks * size), dtype=code.dtype)
        padded[:, :n] = code
        maxima = padded.reshape(b, n_chunks, size).max(axis=2)
        floor = np.partition(maxima, n_chunks - k, axis=1)[:, n_chunks - k]
        rows, cols = np.nonzero(code >= floor[:, None])
        counts = np.bincount(rows, minlength=b)
        width = int(counts.max())
        if width < n // 2:
            pos = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
            cand = np.full((b, width), -1, dtype=np.int64)
            cand[rows, pos] = cols
            cand_code = np.zeros((b, width), dtype=code.dtype)
            cand_code[rows, pos] = code[rows, cols]
            # padding slots get key 0, below every real key (real keys have a non-zero low half or code)
            key = (cand_code.astype(np.uint64) << np.uint64(32)) | np.where(
                cand >= 0, low[np.maximum(cand, 0)], np.uint64(0)
            )
            return _top_of_keys(key, cand, code, k)
    cols_all = np.broadcast_to(np.arange(n, dtype=np.int64), (b, n))
    key = (code.astype(np.uint64) << np.uint64(32)) | low
    return _top_of_keys(key, cols_all, code, k)


def _top_of_keys(key: np.ndarray, cols: np.ndarray, code: np.ndarray, k: int) -> np.ndarray:
    b, w = key.shape
    part = np.argpartition(key, w - k, axis=1)[:, w - k :] if k < w else np.tile(np.arange(w), (b, 1))
    order = np.argsort(np.take_along_axis(key, part, axis=1), axis=1)[:, ::-1]
    top = np.take_along_axis(cols, np.take_along_axis(part, order, axis=1), axis=1).astype(np.int64)
    bad = top < 0
    bad[~bad] = np.take_along_axis(code, np.where(bad, 0, top), axis=1)[~bad] == 0
    top[bad] = -1
    return top


def _check_nan(s: np.ndarray) -> None:
    """Raise on NaN scores. A NaN-free sum proves there is none (one cheap pass); otherwise look exactly."""
    with np.errstate(all="ignore"):
        total = np.add.reduce(s, axis=None)
    if np.isnan(total) and np.isnan(s).any():
        raise LmrecError("the model returned NaN scores; cannot rank")


def _fast_top(s: np.ndarray, k: int, tie_key: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` columns per row of float32 ``s`` (NaN-free, excluded columns at -inf) by a float top-k.

    Exact where the k-th best score is finite and strictly above the (k+1)-th: the top-k set is then unique
    and only its order among equal scores is left, settled here by the same (code, tie key) keys as
    :func:`_top_from_codes`. Returns the top columns (rows not exact hold zeros) and the mask of exact rows;
    callers rank the other rows (ties at the cut-off) with :func:`_top_from_codes`.
    """
    import torch

    b, n = s.shape
    vals_t, idx_t = torch.topk(torch.from_numpy(s), k + 1, dim=1, largest=True, sorted=True)
    vals, idx = vals_t.numpy(), idx_t.numpy()
    ok = (vals[:, k - 1] > vals[:, k]) & (vals[:, k - 1] > -np.inf)
    idx = idx[:, :k]
    code = _order_codes(vals[:, :k])
    low = (np.uint64(n) - idx.astype(np.uint64)) if tie_key is None else tie_key[idx]
    key = (code.astype(np.uint64) << np.uint64(32)) | low
    order = np.argsort(key, axis=1)[:, ::-1]
    top = np.take_along_axis(idx, order, axis=1).astype(np.int64)
    return top, ok


def _top_of_floats(
    s: np.ndarray, k: int, tie_key: np.ndarray | None, scratch: np.ndarray | None = None
) -> np.ndarray:
    """:func:`_top_from_codes` of ``_order_codes(s)`` for NaN-free float32 ``s``, without coding every score.

    Wide rows: a cut-off no higher than the k-th best score (the k-th largest of ~16k group maxima) leaves a
    few candidates per row, which are ranked exactly by their (code, tie key) keys; rows with too many
    candidates (ties at the cut-off, mostly -inf rows) take the exact path. Narrow rows: a float top-k.
    ``scratch``: an optional boolean buffer of at least ``s.shape`` (reused across batches: fresh large
    temporaries cost a page fault per 4 KiB).
    """
    b, n = s.shape
    k = min(k, n)
    if k == 0 or b == 0 or k >= n:
        return _top_from_codes(_order_codes(s), k, tie_key)
    size = n // (16 * k)
    if size < 2:
        top, ok = _fast_top(s, k, tie_key)
        if not ok.all():
            bad = np.flatnonzero(~ok)
            top[bad] = _top_from_codes(_order_codes(s[bad]), k, tie_key)
        return top
    s = np.ascontiguousarray(s)
    groups = n // size  # group j holds columns j, j + groups, j + 2 * groups, ... (the max is then SIMD)
    step = s.strides[1]
    view = np.lib.stride_tricks.as_strided(s, (b, size, groups), (s.strides[0], groups * step, step))
    maxima = view.max(axis=1)
    if groups * size < n:
        maxima = np.concatenate([maxima, s[:, groups * size :].max(axis=1, keepdims=True)], axis=1)
    m = maxima.shape[1]
    # k group maxima are >= floor, so at least k scores are: floor <= the k-th best score
    floor = np.partition(maxima, m - k, axis=1)[:, m - k]
    above = None if scratch is None else scratch.reshape(-1)[: b * n].reshape(b, n)
    flat = np.flatnonzero(np.greater_equal(s, floor[:, None], out=above))
    rows = flat // n
    counts = np.bincount(rows, minlength=b)
    good = counts <= max(16 * k, 256)
    top = np.full((b, k), -1, dtype=np.int64)
    if not good.all():
        keep = good[rows]
        flat, rows = flat[keep], rows[keep]
        counts[~good] = 0
    if good.any():
        cols = flat - rows * n
        width = int(counts.max())
        # each candidate's slot in a (b, width) block, row by row; flat indices (cheaper than 2-D ones)
        slot = rows * width + (np.arange(len(rows)) - (np.cumsum(counts) - counts)[rows])
        low = (np.uint64(n) - cols.astype(np.uint64)) if tie_key is None else tie_key[cols]
        key = np.zeros(b * width, dtype=np.uint64)  # padding: 0, below every real key (low >= 1)
        key[slot] = (_order_codes(s.reshape(-1)[flat]).astype(np.uint64) << np.uint64(32)) | low
        cand_cols = np.zeros(b * width, dtype=np.int64)
        cand_cols[slot] = cols
        best = np.argsort(key.reshape(b, width), axis=1)[:, ::-1][:, :k]  # keys are unique: exact
        best += (np.arange(b, dtype=np.int64) * width)[:, None]
        picked = cand_cols[best]
        # code 0 is -inf (never recommended), padding has key 0
        picked[(key[best] >> np.uint64(32)) == 0] = -1
        top[:, : picked.shape[1]] = picked
    if not good.all():
        bad = np.flatnonzero(~good)
        top[bad] = _top_from_codes(_order_codes(s[bad]), k, tie_key)
    return top


def rank_top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the ``k`` best scores per row, best first; ties go to the lower column.

    Exact under ties (unlike a bare argpartition). ``-inf`` marks excluded columns; rows with fewer than
    ``k`` other scores are padded with -1. Callers put columns in their tie-break order before calling.
    """
    s = np.array(scores, dtype=np.float32)
    if s.ndim != 2:
        return _top_from_codes(_order_codes(s), k)
    _check_nan(s)
    return _top_of_floats(s, k, None)


def _tie_counts_float(
    s: np.ndarray, tgt: np.ndarray, top: np.ndarray, max_k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per row (NaN-free float32 scores, excluded items at -inf) with one target column ``tgt``: items scoring
    strictly above it and other items tied with it. ``top`` is the row's ranked top list.

    An excluded (seen) target can never be retrieved: it gets ``n_greater = n_items``. So does a target below
    the ``max_k``-th best score, without counting: at least ``max_k`` items beat it, and the expected metrics
    at every k <= ``max_k`` are then 0 whatever the counts, so only the few rows near the top are counted.
    """
    b, n = s.shape
    st = s[np.arange(b), tgt]
    greater = np.full(b, n, dtype=np.int64)
    tied = np.zeros(b, dtype=np.int64)
    near = st > -np.inf
    if top.shape[1] >= max_k:
        kth = top[:, max_k - 1]
        near &= (kth < 0) | (st >= s[np.arange(b), np.maximum(kth, 0)])
    rows = np.flatnonzero(near)
    if len(rows):
        sub, sv = s[rows], st[rows, None]
        greater[rows] = np.count_nonzero(sub > sv, axis=1)
        tied[rows] = np.count_nonzero(sub == sv, axis=1) - 1
    return greater, tied


class _Ragged(NamedTuple):
    """Rows of item indices in one flat array (CSR): row r is ``indices[indptr[r] : indptr[r + 1]]``."""

    indptr: np.ndarray  # int64, len n_rows + 1
    indices: np.ndarray  # int64

    @classmethod
    def of(cls, rows: Sequence[Any]) -> _Ragged:
        lens = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lens, out=indptr[1:])
        if indptr[-1]:
            indices = np.concatenate([np.asarray(r).ravel() for r in rows if len(r)]).astype(np.int64)
        else:
            indices = np.zeros(0, dtype=np.int64)
        return cls(indptr, indices)

    def take(self, rows: np.ndarray) -> _Ragged:
        """The rows ``rows``, in that order."""
        lens = np.diff(self.indptr)[rows]
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lens, out=indptr[1:])
        pos = np.arange(indptr[-1], dtype=np.int64) + np.repeat(self.indptr[rows] - indptr[:-1], lens)
        return _Ragged(indptr, self.indices[pos])

    def row(self, r: int) -> np.ndarray:
        return self.indices[self.indptr[r] : self.indptr[r + 1]]

    def rows(self, lo: int, hi: int) -> list[np.ndarray]:
        ip = self.indptr[lo : hi + 1].tolist()
        return [self.indices[a:b] for a, b in zip(ip[:-1], ip[1:], strict=True)]

    def flat_cells(self, lo: int, hi: int, width: int) -> np.ndarray:
        """Flat positions ``(r - lo) * width + item`` of rows lo..hi-1 in a C-order (hi - lo, width) block."""
        a, b = int(self.indptr[lo]), int(self.indptr[hi])
        lens = np.diff(self.indptr[lo : hi + 1])
        return np.repeat(np.arange(hi - lo, dtype=np.int64) * width, lens) + self.indices[a:b]


def _check_range(rows: _Ragged, n_items: int, what: str) -> None:
    if len(rows.indices) and (rows.indices.min() < 0 or rows.indices.max() >= n_items):
        raise LmrecError(f"{what} item index out of range [0, {n_items})")


# -- the evaluation core -----------------------------------------------------------------------------------


def _evaluate(
    score_rows: Callable[[np.ndarray], np.ndarray],
    *,
    n_items: int,
    users: np.ndarray,
    targets: _Ragged,
    exclude: _Ragged,
    ks: Sequence[int],
    seed: int,
    batch_size: int,
    popularity: np.ndarray | None,
    n_pop_users: int,
    item_vectors: np.ndarray | None,
    candidates: int | None,
    correction: float | None,
    progress: bool,
    protocol: str,
    warnings: list[str],
    ties: str = "expected",
    item_pool: np.ndarray | None = None,
) -> EvalResult:
    """Rank, score and average. ``score_rows(rows)`` returns scores for positions ``rows`` of ``users``.

    ``targets`` (each row's distinct held-out items, sorted) and ``exclude`` (seen items) have one row per
    user; item indices must lie in [0, n_items).
    """
    start = time.perf_counter()
    ks = sorted({int(k) for k in ks})
    if not ks or ks[0] < 1:
        raise LmrecError(f"ks must be positive integers, got {ks}")
    if batch_size < 1:
        raise LmrecError(f"batch_size must be >= 1, got {batch_size}")
    if item_vectors is not None and len(item_vectors) != n_items:
        raise LmrecError(f"item_vectors has {len(item_vectors)} rows for {n_items} items")
    _check_range(targets, n_items, "held-out")
    _check_range(exclude, n_items, "excluded")
    max_k = ks[-1]
    rng = np.random.default_rng(seed)
    key_order = rng.permutation(n_items)
    # tie-break: the item at position j of the seeded permutation gets key n - j (earlier position wins)
    tie_key = np.empty(n_items, dtype=np.uint64)
    tie_key[key_order] = np.uint64(n_items) - np.arange(n_items, dtype=np.uint64)
    outside = np.zeros(0, dtype=np.int64)
    n_ranked = n_items
    if item_pool is not None:
        pool = np.zeros(n_items, dtype=bool)
        pool[np.asarray(item_pool, dtype=np.int64)] = True
        outside = np.flatnonzero(~pool)
        n_ranked = int(pool.sum())
        n_out = int(np.count_nonzero(~pool[targets.indices]))
        if n_out:
            warnings.append(f"{n_out} held-out items lie outside the item pool and count as misses")
    # excluding the rest of the catalog is the same as seeing it: full ranking masks those columns directly
    n_users = len(users)
    n_rel = np.diff(targets.indptr)
    per_user: dict[str, np.ndarray] = {}
    for k in ks:
        for name in RANK_METRICS:
            per_user[f"{name}@{k}"] = np.zeros(n_users)
    list_metrics = candidates is None
    if list_metrics:
        if popularity is None:
            popularity = np.zeros(n_items)
        share = np.maximum(popularity, 1.0) / max(n_pop_users, 1)
        share = np.minimum(share, 1.0)
        covered = {k: np.zeros(n_items, dtype=bool) for k in ks}
        for k in ks:
            per_user[f"novelty@{k}"] = np.zeros(n_users)
            per_user[f"popularity@{k}"] = np.zeros(n_users)
            if item_vectors is not None:
                per_user[f"diversity@{k}"] = np.zeros(n_users)
    if ties not in ("random", "expected"):
        raise LmrecError(f"ties must be 'random' or 'expected', not {ties!r}")
    multi_target = False
    sampled_ranks = np.full(n_users, -1, dtype=np.int64)
    n_full_negatives = np.zeros(n_users, dtype=np.int64)

    bar = _progress(progress, n_users)
    # one score buffer and one boolean buffer for all batches, instead of fresh ones (page faults) per batch
    width = min(batch_size, n_users)
    work = np.empty((width, n_items), dtype=np.float32) if candidates is None else None
    flags = np.empty((width, n_items), dtype=bool) if candidates is None else None
    for lo in range(0, n_users, batch_size):
        hi = min(lo + batch_size, n_users)
        rows = np.arange(lo, hi)
        b = hi - lo
        scores = np.asarray(score_rows(rows))
        if scores.shape != (b, n_items):
            raise LmrecError(f"model scores have shape {scores.shape}, expected {(b, n_items)}")
        expected_rows = np.zeros(0, dtype=np.int64)
        need_rel = True
        if candidates is None:
            # float32 scores, seen items at -inf: the same order as _order_codes with seen codes set to 0
            # (-0.0 and +0.0 compare equal as floats; _order_codes merges them wherever codes are built)
            assert work is not None and flags is not None
            s = work[:b]
            np.copyto(s, scores, casting="unsafe")  # what np.array(scores, dtype=np.float32) gives
            _check_nan(s)
            s.reshape(-1)[exclude.flat_cells(lo, hi, n_items)] = -np.inf
            if len(outside):
                s[:, outside] = -np.inf
            top = _top_of_floats(s, max_k, tie_key, flags)
            if ties == "expected":
                expected_rows = np.flatnonzero(n_rel[lo:hi] == 1)
                if len(expected_rows) < b:
                    multi_target = True
                # every rank metric of these rows is replaced by its expectation below
                need_rel = len(expected_rows) < b
                all_rows = len(expected_rows) == b
                s_exp = s if all_rows else s[expected_rows]  # no copy when all
                tgt = targets.indices[targets.indptr[lo:hi][expected_rows]]
                top_exp = top if all_rows else top[expected_rows]
                g, t = _tie_counts_float(s_exp, tgt, top_exp, max_k)
                expected = M.expected_single_target_metrics(g, t, ks)
            del s
            if need_rel:
                is_target = flags[:b]
                is_target.fill(False)
                is_target.reshape(-1)[targets.flat_cells(lo, hi, n_items)] = True
        else:
            b_targets = targets.rows(lo, hi)
            b_exclude = exclude.rows(lo, hi)
            if len(outside):
                b_exclude = [np.concatenate([e, outside]) for e in b_exclude]
            top, is_target, ranks, n_neg = _sampled_top(
                scores, b_targets, b_exclude, key_order, max_k, candidates, rng
            )
            sampled_ranks[rows] = ranks
            n_full_negatives[rows] = n_neg
        if need_rel:
            valid = top >= 0
            rel = np.take_along_axis(is_target, np.maximum(top, 0), axis=1) & valid
            nr = n_rel[rows]
        for k in ks:
            if need_rel:
                per_user[f"ndcg@{k}"][rows] = M.ndcg_at_k(rel, k, n_relevant=nr)
                per_user[f"recall@{k}"][rows] = M.recall_at_k(rel, nr, k)
                per_user[f"precision@{k}"][rows] = M.precision_at_k(rel, k)
                per_user[f"f1@{k}"][rows] = M.f1_at_k(rel, nr, k)
                per_user[f"hit@{k}"][rows] = M.hit_rate_at_k(rel, k)
                per_user[f"mrr@{k}"][rows] = M.mrr_at_k(rel, k)
                per_user[f"map@{k}"][rows] = M.map_at_k(rel, nr, k)
            if len(expected_rows):
                for name in RANK_METRICS:
                    per_user[f"{name}@{k}"][rows[expected_rows]] = expected[f"{name}@{k}"]
            if list_metrics:
                tk = top[:, :k]
                covered[k][tk[tk >= 0]] = True
                per_user[f"novelty@{k}"][rows] = M.novelty(top, share, k)
                per_user[f"popularity@{k}"][rows] = M.average_popularity(top, popularity, k)
                if item_vectors is not None:
                    per_user[f"diversity@{k}"][rows] = M.intra_list_diversity(top, item_vectors, k)
        if bar is not None:
            bar.advance(b)
    if bar is not None:
        bar.close()

    if multi_target:
        warnings.append(
            "ties='expected' applies to users with one held-out item; others used the random order"
        )
    results: dict[str, float] = {}
    for key, values in per_user.items():
        results[key] = M.mean_over_users(values, n_rel)
    if list_metrics:
        for k in ks:
            results[f"coverage@{k}"] = float(covered[k].sum() / n_ranked) if n_ranked else float("nan")
    if candidates is not None and correction is not None:
        if (n_rel != 1).any():
            warnings.append("sampled-metric correction needs exactly one held-out item per user; not applied")
        else:
            n_full = int(np.median(n_full_negatives)) if n_users else 0
            for k in ks:
                for name in RANK_METRICS:
                    key = f"{name}@{k}"
                    mapping = krichene_rendle_correction(
                        lambda r, name=name, k=k: M.single_target_metrics(r, [k])[f"{name}@{k}"],
                        n_full,
                        candidates,
                        gamma=correction,
                    )
                    results[f"sampled_{key}"] = results[key]
                    results[key] = float(mapping[sampled_ranks].mean()) if n_users else float("nan")
    order = sorted(results, key=_metric_sort_key)
    per_user["users"] = np.asarray(users)
    return EvalResult(
        metrics={k: results[k] for k in order},
        n_users=n_users,
        protocol=protocol,
        warnings=warnings,
        seconds=time.perf_counter() - start,
        per_user=per_user,
    )


def _metric_sort_key(key: str) -> tuple[int, str, int]:
    name, _, k = key.partition("@")
    return (int(k) if k.isdigit() else 0, name, 0)


def _progress(enabled: bool, total: int) -> Any:
    """The evaluation's bar on the shared display (lmrec.progress; ``close()`` ends it), or None."""
    from lmrec import progress

    if not progress.enabled(enabled):
        return None
    return progress.OpenTask("evaluate", total)


def _sampled_top(
    scores: np.ndarray,
    targets: Sequence[np.ndarray],
    exclude: Sequence[np.ndarray],
    key_order: np.ndarray,
    max_k: int,
    n_candidates: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rank each row's targets against ``n_candidates`` random unseen non-target items."""
    b, n_items = scores.shape
    key = np.empty(n_items, dtype=np.int64)
    key[key_order] = np.arange(n_items)
    width = n_candidates + max((len(t) for t in targets), default=0)
    cand_items = np.full((b, width), -1, dtype=np.int64)
    ranks = np.full(b, -1, dtype=np.int64)
    n_neg = np.zeros(b, dtype=np.int64)
    for i in range(b):
        forbidden = np.zeros(n_items, dtype=bool)
        forbidden[exclude[i]] = True
        t = np.unique(targets[i])
        t = t[~forbidden[t]]  # a seen target cannot be retrieved (as in full ranking)
        forbidden[targets[i]] = True
        pool = np.flatnonzero(~forbidden)
        n_neg[i] = len(pool)
        neg = rng.choice(pool, size=min(n_candidates, len(pool)), replace=False)
        items = np.concatenate([t, neg])
        items = items[np.argsort(key[items], kind="stable")]  # tie-break order
        cand_items[i, : len(items)] = items
        if len(t) == 1:
            # 0-based sampled rank: sampled negatives strictly better, plus tied ones earlier in the order
            st = scores[i, t[0]]
            sn = scores[i, neg]
            ranks[i] = int((sn > st).sum() + ((sn == st) & (key[neg] < key[t[0]])).sum())
    valid = cand_items >= 0
    gathered = np.take_along_axis(scores, np.maximum(cand_items, 0), axis=1)
    s = np.where(valid, gathered, -np.inf).astype(np.float64)
    cols = rank_top_k(s, max_k)
    top = np.where(cols >= 0, np.take_along_axis(cand_items, np.maximum(cols, 0), axis=1), -1)
    is_target = np.zeros((b, n_items), dtype=bool)
    for i, t in enumerate(targets):
        is_target[i, t] = True
    return top, is_target, ranks, n_neg


def krichene_rendle_correction(
    metric_of_rank: Callable[[np.ndarray], np.ndarray],
    n_negatives: int,
    n_sampled: int,
    *,
    gamma: float = 0.1,
    max_grid: int = 20_000,
) -> np.ndarray:
    """Corrected metric value for each sampled rank 0..n_sampled (Krichene & Rendle, KDD'20, section 5).

    With the target's full rank R (0..n_negatives negatives above it) and its sampled rank r ~
    Hypergeometric(n_negatives, R, n_sampled), choose values m_r minimising, over a uniform prior on R,
    (E[m_r | R] - metric(R))^2 + gamma * Var[m_r | R]. ``gamma=0`` is their minimal-bias correction,
    ``gamma=1`` the posterior mean of the metric given r. R runs over a grid of at most ``max_grid`` values.
    """
    from scipy.stats import hypergeom

    if not 0.0 <= gamma <= 1.0:
        raise LmrecError(f"correction gamma must be in [0, 1], got {gamma}")
    n_sampled = min(n_sampled, n_negatives)
    if n_negatives <= 0:
        return metric_of_rank(np.zeros(1, dtype=np.int64))
    grid = np.unique(np.linspace(0, n_negatives, min(n_negatives + 1, max_grid)).round().astype(np.int64))
    r = np.arange(n_sampled + 1)
    a = hypergeom.pmf(r[None, :], n_negatives, grid[:, None], n_sampled)
    target = np.asarray(metric_of_rank(grid), dtype=np.float64)
    c = a.sum(axis=0)
    lhs = (1.0 - gamma) * a.T @ a + gamma * np.diag(c)
    rhs = a.T @ target
    sol, *_ = np.linalg.lstsq(lhs, rhs, rcond=None)
    return sol


# -- entry points ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Stage:
    """What every evaluation of one split stage shares, computed once per (split, stage) and cached.

    ``histories``: each user's history in time order (read-only arrays); ``targets``: each user's distinct
    held-out items, sorted; ``users``: the users with at least one; ``history_rows`` / ``target_rows``: the
    histories and targets of exactly those users; ``popularity`` / ``n_pop_users``: see :func:`_popularity`.
    """

    histories: list[np.ndarray]
    users: np.ndarray
    history_rows: _Ragged
    target_rows: _Ragged
    popularity: np.ndarray
    n_pop_users: int


# Split -> stage -> _Stage. A Split is immutable (read-only assignment over an immutable dataset), so what is
# derived from it cannot go stale; weak keys drop an entry together with its split.
_STAGES: weakref.WeakKeyDictionary[Split, dict[str, _Stage]] = weakref.WeakKeyDictionary()


def _stage(split: Split, stage: str) -> _Stage:
    """Per-user histories (time order) and held-out items of ``stage`` (cached per split)."""
    if stage not in ("valid", "test"):
        raise LmrecError(f"stage must be 'valid' or 'test', not {stage!r}")
    cached = _STAGES.setdefault(split, {}).get(stage)
    if cached is not None:
        return cached
    inter = split.dataset.interactions
    history = split.history(stage)
    histories = history.sequences()
    tgt = split.valid if stage == "valid" else split.test
    # each user's distinct items, sorted (what np.unique per user gives), from one sort of all the pairs
    order = np.lexsort((tgt.item, tgt.user))
    t_users, t_items = tgt.user[order], tgt.item[order]
    first = np.ones(len(t_users), dtype=bool)
    first[1:] = (t_users[1:] != t_users[:-1]) | (t_items[1:] != t_items[:-1])
    t_users, t_items = t_users[first], t_items[first]
    targets = _Ragged(
        np.searchsorted(t_users, np.arange(inter.n_users + 1)).astype(np.int64), t_items.astype(np.int64)
    )
    users = np.flatnonzero(np.diff(targets.indptr)).astype(np.int64)
    order = history.time_order()
    h_items = history.item[order].astype(np.int64)
    h_indptr = np.searchsorted(history.user[order], np.arange(inter.n_users + 1)).astype(np.int64)
    all_histories = _Ragged(h_indptr, h_items)
    popularity, n_pop_users = _popularity(all_histories, inter.n_items)
    out = _Stage(
        histories=histories,
        users=users,
        history_rows=all_histories.take(users),
        target_rows=targets.take(users),
        popularity=popularity,
        n_pop_users=n_pop_users,
    )
    _STAGES[split][stage] = out
    return out


def evaluate_model(
    model: Any,
    split: Split,
    *,
    ks: Sequence[int] = (5, 10, 20),
    stage: str = "test",
    batch_size: int = 256,
    seed: int = 0,
    item_vectors: np.ndarray | None = None,
    max_users: int | None = None,
    progress: bool = False,
    candidates: int | None = None,
    correction: float | None = None,
    checks: bool = True,
    ties: str = "expected",
    item_pool: np.ndarray | None = None,
    test_history: str = "train_valid",
) -> EvalResult:
    """Evaluate a fitted recommender on ``split`` by full ranking (see the module docstring).

    ``stage="valid"``: histories = training sequences, targets = validation items, training items masked.
    ``stage="test"``: histories = training + validation sequences, targets = test items, both masked.
    ``max_users`` evaluates a seeded random subset of the users. ``item_vectors`` (n_items x d) adds intra-
    list diversity. ``candidates=N`` switches to sampled evaluation (with a warning); ``correction`` (gamma in
    [0, 1]) then reports Krichene-Rendle corrected metrics. ``checks`` runs the integrity checks of
    :mod:`lmrec.evaluate.integrity` and adds their findings to ``warnings``. ``ties="expected"`` replaces the
    seeded random tie order of the rank metrics by its exact expectation (users with one held-out item; this
    is how REFERENCE-NUMBERS.md averages ties); coverage, novelty, popularity and diversity always use the
    seeded order. The default is ``"expected"`` (deterministic and free of tie-order luck); ``"random"`` keeps
    one seeded order for every metric. ``item_pool`` ranks only those items (e.g.
    ``split.params["test_items"]`` of an item cold-start split); coverage is then relative to the pool.
    ``test_history="train"`` gives models only the training sequences as input at the test stage (validation
    items stay masked): the convention of REFERENCE-NUMBERS.md for non-sequential baselines, which therefore
    reads about .005 lower on ML-100K EASE.
    """
    from lmrec.models.base import UserBatch

    prepared = _stage(split, stage)
    if test_history not in ("train_valid", "train"):
        raise LmrecError(f"test_history must be 'train_valid' or 'train', not {test_history!r}")
    histories = inputs = prepared.histories
    if stage == "test" and test_history == "train":
        inputs = _stage(split, "valid").histories
    n_items = split.dataset.n_items
    users = prepared.users
    history_rows, target_rows = prepared.history_rows, prepared.target_rows
    warnings: list[str] = []
    if checks:
        from lmrec.evaluate.integrity import check_split

        warnings.extend(check_split(split, stage=stage))
    if max_users is not None and max_users < len(users):
        rng = np.random.default_rng(seed + 1)
        total = len(users)
        chosen = np.sort(rng.choice(len(users), size=max_users, replace=False))
        users = users[chosen]  # users is sorted: the same users as choosing among the users themselves
        history_rows, target_rows = history_rows.take(chosen), target_rows.take(chosen)
        warnings.append(f"evaluated on a random subset of {max_users} of {total} users (seed {seed})")
    if len(users) == 0:
        raise LmrecError(f"no user has a held-out item in the {stage} stage of this split")

    def score_rows(rows: np.ndarray) -> np.ndarray:
        batch_users = users[rows]
        batch = UserBatch(batch_users, [inputs[u] for u in batch_users.tolist()])
        return model.score(batch)

    pool_size = None if item_pool is None else len(np.unique(item_pool))
    protocol = _protocol_text(split, stage, candidates, correction, ties, pool_size)
    if inputs is not histories:
        protocol += "; model input = training history only"
    if candidates is not None:
        _warn_sampled(candidates, warnings)
    result = _evaluate(
        score_rows,
        n_items=n_items,
        users=users,
        targets=target_rows,
        exclude=history_rows,
        ks=ks,
        seed=seed,
        batch_size=batch_size,
        popularity=prepared.popularity,
        n_pop_users=prepared.n_pop_users,
        item_vectors=item_vectors,
        candidates=candidates,
        correction=correction,
        progress=progress,
        protocol=protocol,
        warnings=warnings,
        ties=ties,
        item_pool=item_pool,
    )
    result.params = {
        "stage": stage,
        "ks": list(ks),
        "seed": seed,
        "split_hash": split.hash,
        "split_protocol": split.protocol,
        "model": getattr(model, "name", type(model).__name__),
        "max_users": max_users,
        "candidates": candidates,
        "ties": ties,
        "test_history": test_history,
        "item_pool": None if item_pool is None else len(item_pool),
    }
    return result


_SAMPLED_WARNING = (
    "sampled evaluation: held-out items ranked against {n} random unseen items, not the full catalog; "
    "sampled metrics can reorder models (Krichene & Rendle, KDD'20) and are not comparable with full ranking"
)


def _warn_sampled(n: int, warnings: list[str]) -> None:
    import warnings as py_warnings

    text = _SAMPLED_WARNING.format(n=n)
    warnings.append(text)
    py_warnings.warn(text, SampledMetricsWarning, stacklevel=3)


def evaluate_scores(
    scores: np.ndarray,
    targets: Sequence[np.ndarray],
    *,
    exclude: Sequence[np.ndarray] | None = None,
    users: np.ndarray | None = None,
    ks: Sequence[int] = (5, 10, 20),
    seed: int = 0,
    batch_size: int = 256,
    item_popularity: np.ndarray | None = None,
    item_vectors: np.ndarray | None = None,
    candidates: int | None = None,
    correction: float | None = None,
    protocol: str = "precomputed scores, full ranking",
    ties: str = "expected",
    item_pool: np.ndarray | None = None,
) -> EvalResult:
    """Evaluate a precomputed ``(n_rows, n_items)`` score matrix with the same ranking and metric code.

    Row i has held-out items ``targets[i]`` and excluded (seen) items ``exclude[i]``. Rows without targets
    are skipped. ``item_popularity`` (interactions per item) feeds novelty and popularity; without it, both
    are computed from the excluded items.
    """
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise LmrecError(f"scores must be 2-D (rows x items), got shape {scores.shape}")
    n_rows, n_items = scores.shape
    if len(targets) != n_rows:
        raise LmrecError(f"{len(targets)} target lists for {n_rows} score rows")
    if exclude is not None and len(exclude) != n_rows:
        raise LmrecError(f"{len(exclude)} exclude lists for {n_rows} score rows")
    tg = _sorted_sets(_ragged(targets))
    if exclude is None:
        ex = _Ragged(np.zeros(n_rows + 1, dtype=np.int64), np.zeros(0, dtype=np.int64))
    else:
        ex = _ragged(exclude)
    _check_range(ex, n_items, "excluded")
    n_tg = np.diff(tg.indptr)
    keep = np.flatnonzero(n_tg).astype(np.int64)
    if item_popularity is None:
        popularity, n_pop = _popularity(ex, n_items)
    else:
        popularity = np.asarray(item_popularity, dtype=np.float64)
        n_pop = int(np.count_nonzero(np.diff(ex.indptr))) or n_rows
    warnings: list[str] = []
    if candidates is not None:
        _warn_sampled(candidates, warnings)
    row_ids = keep if users is None else np.asarray(users)[keep]
    if len(keep) == n_rows:

        def score_rows(rows: np.ndarray) -> np.ndarray:
            return scores[rows[0] : rows[-1] + 1]  # batches are contiguous: a view, not a copy
    else:
        tg, ex = tg.take(keep), ex.take(keep)

        def score_rows(rows: np.ndarray) -> np.ndarray:
            return scores[keep[rows]]

    return _evaluate(
        score_rows,
        n_items=n_items,
        users=row_ids,
        targets=tg,
        exclude=ex,
        ks=ks,
        seed=seed,
        batch_size=batch_size,
        popularity=popularity,
        n_pop_users=n_pop,
        item_vectors=item_vectors,
        candidates=candidates,
        correction=correction,
        progress=False,
        protocol=protocol,
        warnings=warnings,
        ties=ties,
        item_pool=item_pool,
    )


def _ragged(rows: Sequence[Any]) -> _Ragged:
    """Item lists (arrays, lists or scalars) as one int64 :class:`_Ragged`, each list flattened."""
    try:
        # the common case, 1-D arrays or lists: one concatenation instead of one conversion per row
        lens = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
        flat = np.concatenate(rows) if len(rows) and lens.sum() else np.zeros(0, dtype=np.int64)
        if flat.ndim == 1 and len(flat) == lens.sum():
            indptr = np.zeros(len(rows) + 1, dtype=np.int64)
            np.cumsum(lens, out=indptr[1:])
            return _Ragged(indptr, flat.astype(np.int64, copy=False))
    except (TypeError, ValueError):
        pass
    return _Ragged.of([np.asarray(r, dtype=np.int64).ravel() for r in rows])


def _sorted_sets(rows: _Ragged) -> _Ragged:
    """Each row's distinct items, sorted (np.unique per row), by one sort of all the rows' pairs."""
    lens = np.diff(rows.indptr)
    if not (lens > 1).any():
        return rows  # rows of at most one item are already sets
    row_of = np.repeat(np.arange(len(lens), dtype=np.int64), lens)
    order = np.lexsort((rows.indices, row_of))
    r, items = row_of[order], rows.indices[order]
    first = np.ones(len(r), dtype=bool)
    first[1:] = (r[1:] != r[:-1]) | (items[1:] != items[:-1])
    indptr = np.zeros(len(lens) + 1, dtype=np.int64)
    np.cumsum(np.bincount(r[first], minlength=len(lens)), out=indptr[1:])
    return _Ragged(indptr, items[first])


def _popularity(histories: _Ragged, n_items: int) -> tuple[np.ndarray, int]:
    """Number of users with each item in their history, and the number of users with any history.

    Items must lie in [0, n_items).
    """
    lens = np.diff(histories.indptr)
    n_users = len(lens)
    n_nonempty = int(np.count_nonzero(lens))
    if not n_nonempty:
        return np.zeros(n_items), 0
    items = histories.indices
    cells = np.repeat(np.arange(n_users, dtype=np.int64) * n_items, lens) + items
    if n_users * n_items <= 1 << 25:
        # distinct (user, item) pairs: a bitmap of all pairs is cheaper than a sort
        seen = np.zeros(n_users * n_items, dtype=bool)
        seen[cells] = True
        if np.count_nonzero(seen) != len(items):
            items = np.flatnonzero(seen) % n_items
    else:
        pairs = np.sort(cells)
        items = pairs[np.concatenate(([True], pairs[1:] != pairs[:-1]))] % n_items
    return np.bincount(items, minlength=n_items).astype(np.float64), n_nonempty


_TIES_TEXT = {
    "random": "ties by seeded random item order",
    "expected": "ties averaged over all orders (expected value)",
}


def _protocol_text(
    split: Split,
    stage: str,
    candidates: int | None,
    correction: float | None,
    ties: str,
    pool_size: int | None = None,
) -> str:
    masked = "train items" if stage == "valid" else "train+valid items"
    if candidates is None:
        how = (
            "full ranking over the catalog"
            if pool_size is None
            else f"full ranking over a pool of {pool_size} items"
        )
    else:
        how = f"SAMPLED ranking against {candidates} random negatives"
        if correction is not None:
            how += f" (Krichene-Rendle corrected, gamma={correction})"
    return (
        f"{split.protocol}; stage={stage}; {how}; {masked} masked; "
        f"{_TIES_TEXT.get(ties, ties)}; split {split.hash}"
    )
