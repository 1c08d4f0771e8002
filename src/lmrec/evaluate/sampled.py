"""Sampled evaluation (only on explicit request): each user's held-out items ranked against N random unseen
items, with a warning (not comparable with full ranking) and the Krichene-Rendle correction."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from lmrec.errors import LmrecError
from lmrec.evaluate._ranking import rank_top_k

__all__ = ["SampledMetricsWarning", "krichene_rendle_correction"]


class SampledMetricsWarning(UserWarning):
    """Issued whenever metrics are computed over sampled candidates instead of the full catalog."""


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


_SAMPLED_WARNING = (
    "sampled evaluation: held-out items ranked against {n} random unseen items, not the full catalog; "
    "sampled metrics can reorder models (Krichene & Rendle, KDD'20) and are not comparable with full ranking"
)


def _warn_sampled(n: int, warnings: list[str]) -> None:
    import warnings as py_warnings

    text = _SAMPLED_WARNING.format(n=n)
    warnings.append(text)
    py_warnings.warn(text, SampledMetricsWarning, stacklevel=3)
