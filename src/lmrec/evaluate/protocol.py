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
    :mod:`lmrec.metrics` for the definitions. Coverage is over the union of the users' lists.

Sampled evaluation
    Only on explicit request (``candidates=N``): each user's held-out items are ranked against N random unseen
    items. This is NOT comparable with full ranking (Krichene & Rendle, "On Sampled Metrics for Item
    Recommendation", KDD 2020), so it adds a warning; ``correction=gamma`` applies their bias-variance
    corrected metrics (single held-out item per user only; the full catalog size used by the correction is the
    median number of unseen items per user).

Parts
    :mod:`lmrec.evaluate._core` ranks, scores and averages; :mod:`lmrec.evaluate._ranking` holds the exact
    top-k under ties, :mod:`lmrec.evaluate._rows` the ragged item rows, :mod:`lmrec.evaluate.sampled` the
    sampled evaluation; this module, the entry points :func:`evaluate_model` and :func:`evaluate_scores`.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lmrec.data.split import Split
from lmrec.errors import LmrecError
from lmrec.evaluate._core import EvalResult, _evaluate
from lmrec.evaluate._ranking import rank_top_k
from lmrec.evaluate._rows import _check_range, _popularity, _Ragged, _ragged, _sorted_sets
from lmrec.evaluate.sampled import SampledMetricsWarning, _warn_sampled, krichene_rendle_correction

__all__ = [
    "EvalResult",
    "SampledMetricsWarning",
    "evaluate_model",
    "evaluate_scores",
    "krichene_rendle_correction",
    "rank_top_k",
]


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
