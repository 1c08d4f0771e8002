"""Retrieval adapters: a model whose scores are query vector . item vector gets ANN retrieval.

The service looks, in order, for

1. the public protocol :class:`lmrec.models.base.RetrievalModel`: ``model.query_vectors(UserBatch) -> (n, d)``
   and ``model.retrieval_vectors() -> (n_items, d)`` (any model may add these two methods);
   (``textseq`` and its compressed, adapted and distilled forms implement it, text prior included);
2. the zero-shot ``content`` model (profile . item text vector, when ``popularity_weight`` is 0).

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
    return None
