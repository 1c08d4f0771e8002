"""Ranked lists and what the service does to them: one score scale, fusion, diversity and negative feedback.

**The meaning of ``score``** (every endpoint that returns items): the share of the catalog that the ranking
which produced the list scores below the item, in [0, 1] (1.0: nothing ranks above it; 0.5: the median
item). It is estimated against a fixed sample of up to :data:`SCORE_SAMPLE` catalog items (exact for smaller
catalogs), so it costs one small matrix product per request. The raw scores of the model (a dot product, an
EASE weight sum, a softmax logit, a popularity count, a cosine) differ by orders of magnitude between models
and paths; their position in the catalog does not. Lists fused from several rankings (history + text, or a
model + items added while serving) interleave them by reciprocal rank fusion, each item with its best score
in any of them; diversity and "not interested" re-ranking may also order a list differently from its
scores. Text matches
(``/search``, ``/items/{id}/similar``) also carry ``similarity``: the cosine of the text vectors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

SCORE_SAMPLE = 2048  # catalog items a score is placed among
_RRF_K = 60.0


@dataclass
class Ranked:
    """One recommended item with its score (see the module docstring) and why."""

    index: int
    score: float
    reason: str  # "history", "text", "new", "popular", "similar", "bandit"
    because: int | None = None
    because_similarity: float | None = None
    explanation: str | None = None  # the Explainer's sentence, when the item was explained from a history
    similarity: float | None = None  # text matches: the cosine of the text vectors


def score_sample(n_items: int, size: int = SCORE_SAMPLE, seed: int = 0) -> np.ndarray:
    """The fixed catalog sample scores are placed among: every item when the catalog is small."""
    if n_items <= size:
        return np.arange(n_items, dtype=np.int64)
    return np.sort(np.random.default_rng(seed).choice(n_items, size, replace=False)).astype(np.int64)


def placed(raw: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """The share of ``reference`` scores below each of ``raw`` (ties count half): the common score scale."""
    ref = np.sort(np.asarray(reference, dtype=np.float64)[np.isfinite(reference)])
    raw = np.asarray(raw, dtype=np.float64)
    if not len(ref):
        return np.ones_like(raw)
    below = np.searchsorted(ref, raw, side="left")
    upto = np.searchsorted(ref, raw, side="right")
    return (below + upto) / (2.0 * len(ref))


def ranked(ids: np.ndarray, raw: np.ndarray, reference: np.ndarray, reason: str) -> list[Ranked]:
    """Ranked items from candidate ids and their raw scores, scored on the common scale."""
    ids = np.asarray(ids, dtype=np.int64).ravel()
    raw = np.asarray(raw, dtype=np.float64).ravel()
    keep = (ids >= 0) & np.isfinite(raw)
    ids, raw = ids[keep], raw[keep]
    scores = placed(raw, reference)
    return [Ranked(int(i), float(s), reason) for i, s in zip(ids.tolist(), scores.tolist(), strict=True)]


def top(scores: np.ndarray, depth: int, reason: str, reference: np.ndarray) -> list[Ranked]:
    """The ``depth`` best of a full score vector (``-inf``: excluded)."""
    from lmrec.models.base import top_k

    idx, vals = top_k(scores[None, :], depth)
    return ranked(idx[0], vals[0], reference, reason)


def fuse(lists: list[list[Ranked]]) -> list[Ranked]:
    """Fuse rankings whose raw scores live on different scales: ordered by reciprocal rank fusion (they
    interleave), each item scored with its best score in any of them."""
    lists = [lst for lst in lists if lst]
    if len(lists) <= 1:
        return list(lists[0]) if lists else []
    fused: dict[int, float] = {}
    best: dict[int, Ranked] = {}
    for lst in lists:
        for rank, r in enumerate(lst):
            fused[r.index] = fused.get(r.index, 0.0) + 1.0 / (_RRF_K + rank + 1)
            seen = best.get(r.index)
            if seen is None:
                best[r.index] = Ranked(**vars(r))
            elif r.score > seen.score:
                seen.score = r.score
    order = sorted(fused, key=lambda i: (-fused[i], i))
    return [best[i] for i in order]


def rerank(
    candidates: list[Ranked],
    k: int,
    vectors: np.ndarray,
    diversity: float,
    avoid: np.ndarray | None = None,
    push: float = 1.0,
) -> list[Ranked]:
    """The first ``k`` of ``candidates`` after negative feedback and diversity.

    ``vectors``: one unit text vector per candidate; ``avoid``: unit vectors of the items the user marked
    "not interested": each candidate's relevance (its place in the list, 1 first to 0 last) loses
    ``push`` times its largest cosine with them, so similar items move down. ``diversity`` in [0, 1]:
    maximal marginal relevance (:func:`lmrec.rerank.mmr_rerank`) with ``lambda = 1 - diversity``.
    """
    if not candidates:
        return []
    if diversity <= 0 and (avoid is None or not len(avoid)):
        return candidates[:k]
    from lmrec.rerank import mmr_rerank

    # relevance from the list's order (which fusion may have set), 1 for the first candidate to 0 for the last
    rel = np.linspace(1.0, 0.0, len(candidates)) if len(candidates) > 1 else np.ones(1)
    if avoid is not None and len(avoid):
        rel = rel - push * np.clip((vectors @ avoid.T).max(axis=1), 0.0, None)
    order = mmr_rerank(np.arange(len(candidates)), rel, vectors, k=k, lambda_=1.0 - float(diversity))
    return [candidates[int(i)] for i in order]


def item_text(fields: dict[str, Any]) -> str:
    """The text a new item is encoded from: title, description, categories, brand and other fields."""
    parts: list[str] = []
    for key in ("title", "description"):
        if fields.get(key):
            parts.append(str(fields[key]).strip())
    if fields.get("categories"):
        parts.append(", ".join(str(c) for c in fields["categories"]))
    if fields.get("brand"):
        parts.append(str(fields["brand"]).strip())
    for key, value in sorted((fields.get("attributes") or {}).items()):
        parts.append(f"{key}: {value}")
    return ". ".join(p for p in parts if p)


def unit(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(n, 1e-12)


def ids_array(ids: Sequence[int] | set[int]) -> np.ndarray:
    return np.fromiter((int(i) for i in ids), dtype=np.int64, count=len(ids))
