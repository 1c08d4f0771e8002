"""Retrieval adapters: a model whose scores are query vector . item vector gets ANN retrieval.

The service asks for the public protocol :class:`lmrec.models.base.RetrievalModel`:
``model.query_vectors(query) -> (n, d)`` and ``model.retrieval_vectors() -> (n_items, d)`` (any model may add
these two methods; ``content``, ``textseq`` and textseq's compressed, adapted and distilled forms do).
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


def retrieval_for(model: Any) -> Retrieval | None:
    """The adapter for ``model``, or None when its scores are not a plain dot product."""
    from lmrec.models.base import RetrievalModel

    if isinstance(model, RetrievalModel):
        return Retrieval(
            queries=lambda b: np.asarray(model.query_vectors(b), np.float32),
            items=lambda: np.asarray(model.retrieval_vectors(), np.float32),
        )
    return None


def same_vectors(a: np.ndarray, b: np.ndarray, block: int = 65_536) -> bool:
    """Whether two (n, d) arrays hold the same vectors (to 1e-6), compared a block of rows at a time so a
    million-item catalog needs no full-size temporary."""
    return a.shape == b.shape and all(
        np.allclose(a[i : i + block], b[i : i + block], atol=1e-6) for i in range(0, len(a), block)
    )
