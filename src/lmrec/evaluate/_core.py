"""The evaluation core shared by every entry point: rank each batch of users (full or sampled), compute the
per-user rank and list metrics (:mod:`lmrec.metrics`) and average them into an :class:`EvalResult`."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import lmrec.metrics as M
from lmrec.errors import LmrecError
from lmrec.evaluate._ranking import _check_nan, _tie_counts_float, _top_of_floats
from lmrec.evaluate._rows import _check_range, _Ragged
from lmrec.evaluate.sampled import _sampled_top, krichene_rendle_correction

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
