"""EASE (Steck, WWW 2019): a shallow item-item autoencoder with a closed-form solution.

B = I - P · diagMat(1 / diag(P)) with P = (XᵀX + λI)⁻¹, so diag(B) = 0; scores = history row · B.
The solve costs O(n_items³) time and n_items² memory: fine up to a few tens of thousands of items.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field

from lmrec.config import BaseConfig
from lmrec.data import Interactions, ItemTable
from lmrec.errors import ConfigError
from lmrec.models._util import histories_to_csr
from lmrec.models.base import BaseRecommender, FitOptions, UserBatch


class EASEConfig(BaseConfig):
    """``l2`` is the ridge penalty λ added to the Gram matrix diagonal."""

    l2: float = Field(100.0, gt=0.0)
    max_items: int = Field(40_000, gt=0)


def ease_weights(x, l2: float) -> np.ndarray:  # noqa: ANN001
    """The EASE item-item matrix B of a users x items (sparse or dense) matrix ``x``."""
    g = np.asarray((x.T @ x).todense() if hasattr(x, "todense") else x.T @ x, dtype=np.float64)
    g[np.diag_indices_from(g)] += l2
    p = np.linalg.inv(g)
    b = -p / np.diag(p)[None, :]
    b[np.diag_indices_from(b)] = 0.0
    return b.astype(np.float32)


class EASE(BaseRecommender):
    """Embarrassingly shallow autoencoder; scores come from the history."""

    name: ClassVar[str] = "ease"
    Config: ClassVar[type[BaseConfig]] = EASEConfig

    def _fit(
        self, train: Interactions, valid: Interactions | None, items: ItemTable | None, options: FitOptions
    ) -> None:
        cfg: EASEConfig = self.config  # type: ignore[assignment]
        if self.n_items > cfg.max_items:
            raise ConfigError(f"EASE: {self.n_items} items exceed max_items={cfg.max_items} (dense n² solve)")
        self.weights = ease_weights(train.to_csr(dtype=np.float64), cfg.l2)

    def _score_batch(self, batch: UserBatch) -> np.ndarray:
        x = histories_to_csr(batch.histories, self.n_items)
        return np.asarray(x @ self.weights, dtype=np.float32)

    def _state(self) -> dict[str, np.ndarray]:
        return {"weights": self.weights}

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        self.weights = state["weights"]
