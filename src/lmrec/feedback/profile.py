"""Behaviour as user text: a user state that merges history item vectors with search-query / browsing text
vectors under exponential time decay.

Each event is a unit vector (an item's text vector, or the encoded query text) with a time and a kind weight;
the state is the unit-normalised sum ``sum_e kind_weight(e) * 0.5 ** ((now - t_e) / half_life) * v_e``.
A query typed a minute ago therefore outweighs items liked months ago, and fades the same way.

It ranks with any model that exposes unit item vectors in the same space (the ``content`` model's ``vectors``,
built from the same encoder): :func:`recommend_with_state`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from lmrec.errors import DataError, LmrecError

KIND_WEIGHTS = {"item": 1.0, "query": 2.0, "browse": 0.5}


@dataclass
class UserState:
    """A decayed mix of item and text events (see the module docstring).

    ``half_life``: seconds (or whatever unit the event times use) after which an event's weight halves.
    ``kind_weights``: how much one event of each kind counts at age 0 (a query counts double an item by
    default: it states the current intent explicitly).
    """

    dim: int
    half_life: float = 7 * 24 * 3600.0
    kind_weights: dict[str, float] = field(default_factory=lambda: dict(KIND_WEIGHTS))
    vectors: list[np.ndarray] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)

    def add(self, vector: np.ndarray, time: float, *, kind: str = "item", label: str = "") -> UserState:
        """Add one event vector (normalised to unit length) observed at ``time``."""
        v = np.asarray(vector, dtype=np.float32).reshape(-1)
        if v.shape[0] != self.dim:
            raise DataError(f"event vector has dimension {v.shape[0]}, the state {self.dim}")
        if kind not in self.kind_weights:
            raise LmrecError(f"unknown event kind {kind!r}; known: {', '.join(self.kind_weights)}")
        self.vectors.append(v / max(float(np.linalg.norm(v)), 1e-12))
        self.times.append(float(time))
        self.kinds.append(kind)
        self.labels.append(label)
        return self

    def add_items(
        self, item_vectors: np.ndarray, items: Sequence[int], times: Sequence[float], *, kind: str = "item"
    ) -> UserState:
        """Add history items (indices into ``item_vectors``) with their times."""
        if len(items) != len(times):
            raise DataError(f"{len(items)} items but {len(times)} times")
        for i, t in zip(items, times, strict=True):
            self.add(item_vectors[int(i)], t, kind=kind, label=f"item:{int(i)}")
        return self

    def add_text(self, encoder_fn, text: str, time: float, *, kind: str = "query") -> UserState:  # noqa: ANN001
        """Add a query or browsing text, encoded by ``encoder_fn(list_of_texts) -> (n, dim)`` (e.g. the
        content model's ``encode_text``)."""
        return self.add(np.asarray(encoder_fn([text]))[0], time, kind=kind, label=text)

    def weights(self, now: float | None = None) -> np.ndarray:
        """The current weight of every event (kind weight times time decay)."""
        if not self.times:
            return np.zeros(0, dtype=np.float32)
        t = np.asarray(self.times)
        now = float(t.max()) if now is None else float(now)
        age = np.maximum(now - t, 0.0)
        decay = 0.5 ** (age / self.half_life) if self.half_life > 0 else np.ones_like(age)
        kind = np.array([self.kind_weights[k] for k in self.kinds])
        return (kind * decay).astype(np.float32)

    def vector(self, now: float | None = None) -> np.ndarray:
        """The unit state vector at time ``now`` (default: the newest event's time); zeros when empty."""
        if not self.vectors:
            return np.zeros(self.dim, dtype=np.float32)
        v = (self.weights(now)[:, None] * np.stack(self.vectors)).sum(0)
        return (v / max(float(np.linalg.norm(v)), 1e-12)).astype(np.float32)


def state_from_history(
    item_vectors: np.ndarray,
    history: Sequence[int],
    times: Sequence[float] | None = None,
    *,
    half_life: float = 7 * 24 * 3600.0,
) -> UserState:
    """A state holding a user's history items (``times`` default: one time unit apart, newest last)."""
    items = list(history)
    times = list(times) if times is not None else [float(i) for i in range(len(items))]
    state = UserState(dim=int(item_vectors.shape[1]), half_life=half_life)
    return state.add_items(item_vectors, items, times)


def recommend_with_state(
    model,  # noqa: ANN001
    state: UserState,
    k: int = 10,
    *,
    now: float | None = None,
    exclude: Sequence[int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` items for a user state with a model that has unit item ``vectors`` (``content``):
    cosine of the state vector with every item, ``exclude`` (e.g. the history) left out."""
    from lmrec.models.base import top_k

    vectors = getattr(model, "vectors", None)
    if vectors is None:
        name = getattr(model, "name", type(model).__name__)
        raise LmrecError(f"{name}: needs a fitted model with item vectors")
    if vectors.shape[1] != state.dim:
        raise DataError(f"state dimension {state.dim} differs from the item vectors' ({vectors.shape[1]})")
    scores = (vectors @ state.vector(now))[None, :].astype(np.float32)
    if exclude is not None and len(exclude):
        scores[0, np.asarray(exclude, dtype=np.int64)] = -np.inf
    idx, vals = top_k(scores, k)
    return idx[0], vals[0]
