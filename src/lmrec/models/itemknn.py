"""ItemKNN: item-item cosine similarity with shrinkage, pruned to the k nearest neighbours of each item.

sim(i, j) = |U_i ∩ U_j| / (sqrt(|U_i|) * sqrt(|U_j|) + shrink), diagonal zero; for each target item j only its
``k`` most similar items are kept, and a user's score of j is the sum of sim(i, j) over the items i in the
history (Sarwar et al. 2001; Deshpande & Karypis 2004). Computed with scipy.sparse.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field

from lmrec.config import BaseConfig
from lmrec.data import Interactions, ItemTable
from lmrec.models._util import histories_to_csr
from lmrec.models.base import BaseRecommender, FitOptions, UserBatch


class ItemKNNConfig(BaseConfig):
    """``k`` neighbours per item (0 = keep all), ``shrink`` added to the cosine denominator."""

    k: int = Field(50, ge=0)
    shrink: float = Field(0.0, ge=0.0)


def cosine_similarity(x, shrink: float = 0.0):  # noqa: ANN001, ANN201
    """Item-item cosine with shrinkage of a binary users x items CSR matrix, as CSC (zero diagonal)."""
    import scipy.sparse as sp

    x = x.tocsc().astype(np.float32)
    co = (x.T @ x).tocoo()
    norms = np.sqrt(np.asarray(x.sum(axis=0)).ravel())
    keep = co.row != co.col
    rows, cols, vals = co.row[keep], co.col[keep], co.data[keep]
    vals = vals / (norms[rows] * norms[cols] + shrink)
    n = x.shape[1]
    return sp.csc_matrix((vals.astype(np.float32), (rows, cols)), shape=(n, n))


def prune_columns(sim, k: int):  # noqa: ANN001, ANN201
    """Keep the ``k`` largest entries of each column (ties: lower row index) of a CSC matrix."""
    import scipy.sparse as sp

    sim = sim.tocsc()
    sim.sort_indices()
    if k <= 0:
        return sim
    indptr, indices, data = sim.indptr, sim.indices, sim.data
    keep = np.zeros(len(data), dtype=bool)
    for j in range(sim.shape[1]):
        a, b = indptr[j], indptr[j + 1]
        if b - a <= k:
            keep[a:b] = True
            continue
        # stable sort on -value keeps the lower row index first among ties (indices are sorted)
        order = np.argsort(-data[a:b], kind="stable")[:k]
        keep[a + order] = True
    cols = np.repeat(np.arange(sim.shape[1]), np.diff(indptr))
    return sp.csc_matrix((data[keep], (indices[keep], cols[keep])), shape=sim.shape)


class ItemKNN(BaseRecommender):
    """Item-based nearest neighbours over co-occurrence cosine; scores come from the history."""

    name: ClassVar[str] = "itemknn"
    Config: ClassVar[type[BaseConfig]] = ItemKNNConfig

    def _fit(
        self, train: Interactions, valid: Interactions | None, items: ItemTable | None, options: FitOptions
    ) -> None:
        cfg: ItemKNNConfig = self.config  # type: ignore[assignment]
        sim = cosine_similarity(train.to_csr(), cfg.shrink)
        self.similarity = prune_columns(sim, cfg.k).tocsr()

    def _score_batch(self, batch: UserBatch) -> np.ndarray:
        x = histories_to_csr(batch.histories, self.n_items)
        return np.asarray((x @ self.similarity).todense(), dtype=np.float32)

    def _state(self) -> dict[str, np.ndarray]:
        s = self.similarity.tocsr()
        return {"indptr": s.indptr.astype(np.int64), "indices": s.indices.astype(np.int64), "data": s.data}

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        import scipy.sparse as sp

        n = self.n_items
        self.similarity = sp.csr_matrix((state["data"], state["indices"], state["indptr"]), shape=(n, n))
