"""``content``: zero-shot text recommender. No training on interactions.

Every item is a text vector (``lmrec.text.encode_items`` on the item table given to ``fit``). A user's profile
is the recency-weighted mean of the vectors of their history (the newest item weighs most), optionally mixed
with a free text (a query such as "I want the latest tech news", or the user's own description); items are
ranked by cosine similarity to the profile. ``similar_items`` and ``recommend_for_text`` (anonymous users)
work the same way.

The vectors are stored in the saved model with a reference (encoder model id, template, hashes), so a loaded
model ranks offline; only free-text queries need the encoder again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from lmrec.config import BaseConfig
from lmrec.data import Interactions, ItemTable
from lmrec.errors import LmrecError
from lmrec.models.base import BaseRecommender, FitOptions, UserBatch, top_k
from lmrec.models.textprior import profiles, unit_rows
from lmrec.models.textvec import (
    ItemVectorRef,
    ItemVectorRefHooks,
    TextVectorConfig,
    encode_query_texts,
    item_vectors_for,
)


class ContentConfig(TextVectorConfig):
    """Options of :class:`ContentRecommender`.

    ``half_life``: how many steps back an item's weight halves (the newest item has weight 1); 0 = plain
    mean. ``max_history``: only the newest items count. ``text_weight``: share of a free text in the profile
    when one is given. ``popularity_weight``: small bonus for items popular in ``fit``'s data (0 = pure
    zero-shot, the default).
    """

    half_life: float = Field(5.0, ge=0.0)
    max_history: int = Field(50, ge=1)
    text_weight: float = Field(0.5, ge=0.0, le=1.0)
    popularity_weight: float = Field(0.0, ge=0.0)


class ContentRecommender(ItemVectorRefHooks, BaseRecommender):
    """Zero-shot text-profile recommender; see the module docstring."""

    writes_model_card: ClassVar[bool] = True
    name: ClassVar[str] = "content"
    Config: ClassVar[type[BaseConfig]] = ContentConfig
    config: ContentConfig

    def __init__(self, config: BaseConfig | None = None, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self.vectors: np.ndarray | None = None
        self.log_pop: np.ndarray | None = None
        self.vector_ref: ItemVectorRef | None = None

    def _fit(
        self, train: Interactions, valid: Interactions | None, items: ItemTable | None, options: FitOptions
    ) -> None:
        cfg = self.config
        vecs, self.vector_ref, _ = item_vectors_for(items, self.n_items, cfg, progress=options.progress)
        self.vectors = unit_rows(vecs)
        counts = np.bincount(train.item, minlength=self.n_items).astype(np.float32)
        self.log_pop = np.log1p(counts) / max(1.0, float(np.log1p(counts.max())))
        self.fit_info.update(
            {
                "domain": train.domain,
                "n_train_events": int(len(train)),
                "train_fingerprint": train.fingerprint(),
                "item_vectors": self.vector_ref.to_dict(),
            }
        )

    # -- profiles ----------------------------------------------------------------------------------------
    def profile(self, history: np.ndarray) -> np.ndarray:
        """The unit profile vector of one history (zeros for an empty history)."""
        return self._profiles_of([history])[0]

    def _profiles_of(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        cfg = self.config
        return profiles(histories, self._vectors(), cfg.half_life, cfg.max_history)

    def _vectors(self) -> np.ndarray:
        if self.vectors is None:
            raise LmrecError("content: call fit() (or load()) before scoring")
        return self.vectors

    def _scores_for_profiles(self, users: np.ndarray) -> np.ndarray:
        scores = users @ self._vectors().T
        if self.config.popularity_weight and self.log_pop is not None:
            scores = scores + self.config.popularity_weight * self.log_pop[None, :]
        return scores.astype(np.float32)

    def _score_batch(self, batch: UserBatch) -> np.ndarray:
        return self._scores_for_profiles(self._profiles_of(batch.histories))

    # -- retrieval (lmrec.models.base.RetrievalModel) ----------------------------------------------------
    def _pop_dimension(self) -> bool:
        return bool(self.config.popularity_weight) and self.log_pop is not None

    def query_vectors(self, query: Any) -> np.ndarray:
        """User-side vectors: ``query_vectors(q) @ retrieval_vectors().T`` equals :meth:`score`. The profile,
        followed by the popularity weight when the model has a popularity bonus."""
        users = self._profiles_of(self.as_batch(query).histories)
        if not self._pop_dimension():
            return users
        weight = np.full((len(users), 1), self.config.popularity_weight, np.float32)
        return np.hstack([users, weight])

    def retrieval_vectors(self) -> np.ndarray:
        """Item-side vectors matching :meth:`query_vectors`: the text vector (followed by the item's log
        popularity with a popularity bonus; without one these are the item text vectors themselves)."""
        vecs = self._vectors()
        if not self._pop_dimension():
            return vecs
        assert self.log_pop is not None
        return np.hstack([vecs, self.log_pop[:, None].astype(np.float32)])

    # -- text and item queries ---------------------------------------------------------------------------
    def encode_text(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of free texts, from the catalog's encoder (needs the encoder installed)."""
        if self.vector_ref is not None and self.vector_ref.encoder.startswith("column:"):
            raise LmrecError("content: this model's vectors came from an item column; it cannot encode text")
        return unit_rows(encode_query_texts(list(texts), self.config.encoder, self.config.cache_dir))

    def score_text(
        self, text: str, *, history: Sequence[int] | None = None, text_weight: float | None = None
    ) -> np.ndarray:
        """Scores of every item for a free text, optionally mixed with a history profile."""
        q = self.encode_text([text])[0]
        if history is not None and len(history):
            w = self.config.text_weight if text_weight is None else float(text_weight)
            q = unit_rows((w * q + (1 - w) * self.profile(np.asarray(history)))[None, :])[0]
        return self._scores_for_profiles(q[None, :])[0]

    def recommend_for_text(
        self,
        text: str,
        k: int = 10,
        *,
        history: Sequence[int] | None = None,
        text_weight: float | None = None,
        exclude: Sequence[int] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` items for a free text (anonymous user), optionally mixed with a history.

        ``history`` items are excluded from the result, as are ``exclude``.
        """
        scores = self.score_text(text, history=history, text_weight=text_weight)[None, :].copy()
        for block in (history, exclude):
            if block is not None and len(block):
                scores[0, np.asarray(block, dtype=np.int64)] = -np.inf
        idx, vals = top_k(scores, k)
        return idx[0], vals[0]

    def similar_items(self, item: int, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` items whose text is closest to ``item`` (the item itself excluded)."""
        vecs = self._vectors()
        if not 0 <= int(item) < len(vecs):
            raise LmrecError(f"item index {item} out of range [0, {len(vecs)})")
        scores = (vecs @ vecs[int(item)])[None, :].astype(np.float32)
        scores[0, int(item)] = -np.inf
        idx, vals = top_k(scores, k)
        return idx[0], vals[0]

    def add_items(self, vectors: np.ndarray) -> np.ndarray:
        """Append new items by their text vectors; returns their indices (recommendable at once)."""
        vecs = np.asarray(vectors, dtype=np.float32)
        if vecs.ndim != 2 or vecs.shape[1] != self._vectors().shape[1]:
            raise LmrecError(
                f"item vectors must have shape (n, {self._vectors().shape[1]}), got {vecs.shape}"
            )
        start = self.n_items
        self.vectors = np.concatenate([self._vectors(), unit_rows(vecs)])
        if self.log_pop is not None:
            self.log_pop = np.concatenate([self.log_pop, np.zeros(len(vecs), np.float32)])
        self.n_items += len(vecs)
        if self.vector_ref is not None:
            self.vector_ref = self.vector_ref.with_added(len(vecs))
        return np.arange(start, self.n_items, dtype=np.int64)

    # -- persistence -------------------------------------------------------------------------------------
    def _state(self) -> dict[str, np.ndarray]:
        return {"item_vectors": self._vectors(), "log_popularity": self.log_pop}  # type: ignore[dict-item]

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        self.vectors = np.asarray(state["item_vectors"], dtype=np.float32)
        self.log_pop = np.asarray(state["log_popularity"], dtype=np.float32)
