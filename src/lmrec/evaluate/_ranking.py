"""Ranking kernels of the evaluation protocol: exact top-k under ties over float32 scores, and tie counts.

Scores are compared as float32 (the dtype of the Recommender protocol); ties are broken by a tie key (the
protocol's seeded random item order) so that a partition is exact; NaN scores are a model bug and raise.
"""

from __future__ import annotations

import numpy as np

from lmrec.errors import LmrecError

__all__ = ["rank_top_k"]


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
