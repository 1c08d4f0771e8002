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
from lmrec.models._util import available_memory_bytes, histories_to_csr
from lmrec.models.base import BaseRecommender, FitOptions, UserBatch


class EASEConfig(BaseConfig):
    """``l2`` is the ridge penalty λ added to the Gram matrix diagonal."""

    l2: float = Field(100.0, gt=0.0)
    max_items: int = Field(40_000, gt=0)


def ease_weights(x, l2: float) -> np.ndarray:  # noqa: ANN001
    """The EASE item-item matrix B of a users x items (sparse or dense) matrix ``x``.

    One n x n float64 buffer is worked in place: the Gram matrix, its Cholesky factor, the inverse P (LAPACK
    ``potrf`` / ``potri``), then B; with the float32 result that is 12 n^2 bytes (8.2 GB measured at 26,000
    items, 262 s on one core). The ``np.linalg.inv`` path held four n x n float64 arrays (32 n^2 bytes,
    traced).
    """
    from scipy.linalg import lapack
    from threadpoolctl import threadpool_limits

    g = np.asarray((x.T @ x).todense() if hasattr(x, "todense") else x.T @ x, dtype=np.float64)
    n = g.shape[0]
    g[np.diag_indices(n)] += l2
    # g is symmetric, so g and g.T are the same matrix: hand LAPACK the one in Fortran order (no copy)
    f = g if g.flags.f_contiguous else g.T
    if not (f.flags.f_contiguous and f.flags.writeable):
        f = np.asfortranarray(f)
    # one BLAS thread: OpenBLAS's threaded potrf crashed (SIGSEGV) from 16,000 items on a 2-core Xeon, in
    # scipy's OpenBLAS 0.3.30 and numpy's 0.3.31 alike; on one thread it does not
    with threadpool_limits(1, user_api="blas"):
        factor, info = lapack.dpotrf(f, lower=True, overwrite_a=True, clean=False)
        if info == 0:
            _, info = lapack.dpotri(factor, lower=True, overwrite_c=True)
    if info != 0:  # l2 > 0 makes the Gram matrix positive definite: only NaN/inf input gets here
        raise ConfigError(f"EASE: the Gram matrix plus l2={l2} is not positive definite (LAPACK info {info})")
    p = factor.T  # P's lower triangle (in factor's indexing) is filled: the upper one of this view
    _mirror_upper(p)
    p /= -np.diag(p).copy()[None, :]
    p[np.diag_indices(n)] = 0.0
    return p.astype(np.float32, order="C")


def _mirror_upper(a: np.ndarray, block: int = 1024) -> None:
    """Copy the upper triangle of the square ``a`` onto its lower triangle, in place, block by block."""
    n = a.shape[0]
    for i0 in range(0, n, block):
        i1 = min(n, i0 + block)
        a[i1:, i0:i1] = a[i0:i1, i1:].T
        diag = a[i0:i1, i0:i1]
        lower = np.tril_indices(i1 - i0, -1)
        diag[lower] = diag.T[lower]


def _size(n_bytes: float) -> str:
    return f"{n_bytes / 1e9:.1f} GB" if n_bytes >= 1e9 else f"{n_bytes / 1e6:.0f} MB"


def ease_memory_bytes(n_items: int) -> int:
    """Peak memory of :func:`ease_weights` for ``n_items`` items (the float64 buffer and the float32 B)."""
    return 12 * n_items * n_items


class EASE(BaseRecommender):
    """Embarrassingly shallow autoencoder; scores come from the history."""

    name: ClassVar[str] = "ease"
    Config: ClassVar[type[BaseConfig]] = EASEConfig

    def _fit(
        self, train: Interactions, valid: Interactions | None, items: ItemTable | None, options: FitOptions
    ) -> None:
        cfg: EASEConfig = self.config  # type: ignore[assignment]
        self.check_size(self.n_users, self.n_items)
        self.weights = ease_weights(train.to_csr(dtype=np.float64), cfg.l2)

    def check_size(self, n_users: int, n_items: int) -> None:
        cfg: EASEConfig = self.config  # type: ignore[assignment]
        if n_items > cfg.max_items:
            raise ConfigError(f"EASE: {n_items} items exceed max_items={cfg.max_items} (dense n² solve)")
        need, free = ease_memory_bytes(n_items), available_memory_bytes()
        if free is not None and need > 0.9 * free:
            raise ConfigError(
                f"EASE: {n_items:,} items need about {_size(need)} of memory for the dense solve, "
                f"{_size(free)} are available (leave EASE out, or use a machine with more memory)"
            )

    def _score_batch(self, batch: UserBatch) -> np.ndarray:
        x = histories_to_csr(batch.histories, self.n_items)
        return np.asarray(x @ self.weights, dtype=np.float32)

    def _state(self) -> dict[str, np.ndarray]:
        return {"weights": self.weights}

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        self.weights = state["weights"]
