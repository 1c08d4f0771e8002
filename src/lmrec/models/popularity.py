"""Most-popular items: the floor every recommender must clear."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from lmrec.config import BaseConfig
from lmrec.data import Interactions, ItemTable
from lmrec.models.base import BaseRecommender, FitOptions, UserBatch


class PopularityConfig(BaseConfig):
    """No hyper-parameters; ``recent_days`` > 0 counts only the last days of training data."""

    recent_days: float = 0.0


class Popularity(BaseRecommender):
    """Scores each item by its number of training interactions (the same list for everyone)."""

    name: ClassVar[str] = "pop"
    Config: ClassVar[type[BaseConfig]] = PopularityConfig

    def _fit(
        self, train: Interactions, valid: Interactions | None, items: ItemTable | None, options: FitOptions
    ) -> None:
        keep = np.ones(len(train), dtype=bool)
        days = self.config.recent_days  # type: ignore[attr-defined]
        if days > 0 and len(train):
            keep = train.timestamp >= train.timestamp.max() - days * 86400
        counts = np.bincount(train.item[keep], minlength=self.n_items).astype(np.float32)
        self.counts = counts

    def _score_batch(self, batch: UserBatch) -> np.ndarray:
        return np.broadcast_to(self.counts, (len(batch), self.n_items)).copy()

    def _state(self) -> dict[str, np.ndarray]:
        return {"counts": self.counts}

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        self.counts = state["counts"]
