"""Retrieval adapters: a model whose scores are query vector . item vector gets ANN retrieval.

The service looks, in order, for

1. the public protocol :class:`lmrec.models.base.RetrievalModel`: ``model.query_vectors(UserBatch) -> (n, d)``
   and ``model.retrieval_vectors() -> (n_items, d)`` (any model may add these two methods);
2. the zero-shot ``content`` model (profile . item text vector, when ``popularity_weight`` is 0);
3. the ``textseq`` model (transformer state . adapted item representation; the temperature does not
   change the order).

Anything else is ranked by ``model.score`` over the whole catalog: exact, and fine unless the catalog is huge.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Retrieval:
    """How to get query vectors for a batch and the item vectors they are matched against."""

    queries: Callable[[Any], np.ndarray]
    items: Callable[[], np.ndarray]
    same_as_text: bool = False  # the item vectors are the text vectors: one index serves both


def retrieval_for(model: Any) -> Retrieval | None:
    """The adapter for ``model``, or None when its scores are not a plain dot product."""
    from lmrec.models.base import RetrievalModel

    if isinstance(model, RetrievalModel):
        return Retrieval(
            queries=lambda b: np.asarray(model.query_vectors(b), np.float32),
            items=lambda: np.asarray(model.retrieval_vectors(), np.float32),
        )
    name = getattr(model, "name", "")
    if name == "content" and not getattr(model.config, "popularity_weight", 0.0):
        return Retrieval(
            queries=lambda b: np.stack([model.profile(h) for h in b.histories]).astype(np.float32),
            items=lambda: np.asarray(model.vectors, np.float32),
            same_as_text=True,
        )
    if name == "textseq" and hasattr(model, "_user_states") and hasattr(model, "_item_reps"):
        normalize = bool(getattr(model.config, "normalize", False))

        def queries(b: Any) -> np.ndarray:
            return _rows(model._user_states(list(b.histories)), normalize)

        def items() -> np.ndarray:
            return _rows(model._item_reps(), normalize)

        return Retrieval(queries=queries, items=items)
    return None


def _rows(t: Any, normalize: bool) -> np.ndarray:
    x = t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)
    x = np.ascontiguousarray(x, dtype=np.float32)
    if normalize:
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return x
