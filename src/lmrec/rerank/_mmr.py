"""Maximal marginal relevance over item vectors (see :mod:`lmrec.rerank`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lmrec.errors import ConfigError, DataError


def mmr_rerank(
    items: Sequence[int] | np.ndarray,
    scores: Sequence[float] | np.ndarray,
    item_vectors: np.ndarray,
    *,
    k: int | None = None,
    lambda_: float = 0.7,
) -> np.ndarray:
    """The first ``k`` (default: all) of ``items`` in maximal-marginal-relevance order.

    ``items``: candidate item indices (rows of ``item_vectors``); ``scores``: their ranking scores, any scale
    (rescaled to [0, 1] over the candidates so that ``lambda_`` means the same for every model);
    ``lambda_`` in [0, 1]: 1 = by score only (the plain ranking, ties in input order), 0 = by novelty only
    after the top item. Similarity is the cosine of the item vectors (zero vectors are similar to nothing).
    """
    if not 0.0 <= float(lambda_) <= 1.0:
        raise ConfigError(f"mmr lambda must be in [0, 1], got {lambda_}")
    cand = np.asarray(items, dtype=np.int64).ravel()
    rel = np.asarray(scores, dtype=np.float64).ravel()
    if len(cand) != len(rel):
        raise DataError(f"{len(cand)} items but {len(rel)} scores", field="scores")
    if not np.isfinite(rel).all():
        raise DataError("scores must be finite", field="scores")
    vectors = np.asarray(item_vectors)
    if len(cand) and (cand.min() < 0 or cand.max() >= len(vectors)):
        raise DataError(f"item index out of range [0, {len(vectors)})", field="items")
    n = len(cand) if k is None else max(0, min(int(k), len(cand)))
    order = np.argsort(-rel, kind="stable")
    if lambda_ >= 1.0 or n <= 1:
        return cand[order[:n]]
    span = float(rel.max() - rel.min())
    rel = (rel - rel.min()) / span if span > 0 else np.zeros_like(rel)
    v = vectors[cand].astype(np.float64)
    v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    picked = [int(order[0])]
    left = np.ones(len(cand), dtype=bool)
    left[order[0]] = False
    max_sim = v @ v[order[0]]
    while len(picked) < n:
        gain = lambda_ * rel - (1.0 - lambda_) * max_sim
        gain[~left] = -np.inf
        # ties go to the higher-ranked candidate: look through the candidates in score order
        best = int(order[np.argmax(gain[order])])
        picked.append(best)
        left[best] = False
        max_sim = np.maximum(max_sim, v @ v[best])
    return cand[np.asarray(picked)]
