"""Behaviour as user text: a user state that merges history item vectors with search-query text vectors under
exponential time decay.

Events are unit vectors with a time: ``item`` (a liked or consumed item's text vector), ``browse`` (a viewed
item or page; counts ``browse_weight`` of an item) and ``query`` (an encoded search text). Each event's weight
decays as ``0.5 ** (age / half_life)``. The state is

    unit((1 - a) * unit(decayed mean of item/browse vectors) + a * unit(decayed mean of query vectors))

with ``a = text_weight * decay(newest query)``: a fresh query weighs ``text_weight`` (0.5, as the ``content``
model's ``text_weight``) however long the history is, and its pull fades as the query ages.

It ranks with any model that exposes unit item vectors in the same space (the ``content`` model's ``vectors``,
built with the same encoder as the queries: use its ``encode_text``): :func:`recommend_with_state`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from lmrec.errors import DataError, LmrecError

KINDS = ("item", "browse", "query")


@dataclass
class UserState:
    """A decayed mix of item and text events (see the module docstring). ``half_life`` is in the unit of the
    event times (seconds by default: one week)."""

    dim: int
    half_life: float = 7 * 24 * 3600.0
    text_weight: float = 0.5
    browse_weight: float = 0.5
    vectors: list[np.ndarray] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)

    def add(self, vector: np.ndarray, time: float, *, kind: str = "item", label: str = "") -> UserState:
        """Add one event vector (normalised to unit length) observed at ``time``."""
        v = np.asarray(vector, dtype=np.float32).reshape(-1)
        if v.shape[0] != self.dim:
            raise DataError(f"event vector has dimension {v.shape[0]}, the state {self.dim}")
        if kind not in KINDS:
            raise LmrecError(f"unknown event kind {kind!r}; known: {', '.join(KINDS)}")
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
        """Add a query (or browsed page) text, encoded by ``encoder_fn(list_of_texts) -> (n, dim)`` (e.g. the
        content model's ``encode_text``)."""
        return self.add(np.asarray(encoder_fn([text]))[0], time, kind=kind, label=text)

    def decay(self, now: float | None = None) -> np.ndarray:
        """Each event's time decay at ``now`` (default: the newest event's time)."""
        if not self.times:
            return np.zeros(0, dtype=np.float64)
        t = np.asarray(self.times)
        now = float(t.max()) if now is None else float(now)
        age = np.maximum(now - t, 0.0)
        return 0.5 ** (age / self.half_life) if self.half_life > 0 else np.ones_like(age)

    def query_share(self, now: float | None = None) -> float:
        """``a`` of the module docstring: how much the queries pull the state now."""
        kinds = np.array(self.kinds)
        q = kinds == "query"
        if not q.any():
            return 0.0
        if q.all():
            return 1.0
        return float(self.text_weight * self.decay(now)[q].max())

    def vector(self, now: float | None = None) -> np.ndarray:
        """The unit state vector at time ``now`` (default: the newest event's time); zeros when empty."""
        if not self.vectors:
            return np.zeros(self.dim, dtype=np.float32)
        kinds = np.array(self.kinds)
        w = self.decay(now) * np.where(kinds == "browse", self.browse_weight, 1.0)
        vecs = np.stack(self.vectors).astype(np.float64)
        a = self.query_share(now)
        out = np.zeros(self.dim)
        for mask, share in ((kinds != "query", 1.0 - a), (kinds == "query", a)):
            if share > 0 and mask.any():
                part = (w[mask, None] * vecs[mask]).sum(0)
                out += share * part / max(float(np.linalg.norm(part)), 1e-12)
        return (out / max(float(np.linalg.norm(out)), 1e-12)).astype(np.float32)


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
