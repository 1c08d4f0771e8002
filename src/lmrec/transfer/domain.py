"""Item-vector distributions of domains: whitening statistics, CORAL alignment and distances (Fréchet, MMD).

Everything here works on the frozen text vectors of a catalog alone (no interactions), which is what lets a
new domain be whitened, aligned and compared with the pretraining sources before any of its users is seen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lmrec.errors import LmrecError


@dataclass(frozen=True)
class VectorStats:
    """Mean and covariance of a catalog's item vectors (the sufficient statistics for whitening/CORAL)."""

    mean: np.ndarray
    cov: np.ndarray
    n: int

    @classmethod
    def of(cls, vectors: np.ndarray) -> VectorStats:
        """Statistics of the (n, d) matrix ``vectors``."""
        v = np.asarray(vectors, dtype=np.float64)
        if v.ndim != 2 or len(v) < 2:
            raise LmrecError(f"need an (n >= 2, d) matrix of item vectors, got shape {v.shape}")
        mean = v.mean(0)
        c = v - mean
        return cls(mean, c.T @ c / (len(v) - 1), len(v))

    @classmethod
    def pooled(cls, parts: list[VectorStats], weights: list[float] | None = None) -> VectorStats:
        """The mixture of several domains (weights default to their sizes)."""
        w = np.asarray(weights if weights is not None else [p.n for p in parts], dtype=np.float64)
        w = w / w.sum()
        mean = sum(wi * p.mean for wi, p in zip(w, parts, strict=True))
        second = sum(wi * (p.cov + np.outer(p.mean, p.mean)) for wi, p in zip(w, parts, strict=True))
        return cls(np.asarray(mean), np.asarray(second) - np.outer(mean, mean), int(sum(p.n for p in parts)))


def _sym_power(cov: np.ndarray, power: float, shrink: float) -> np.ndarray:
    evals, evecs = np.linalg.eigh(cov)
    evals = np.clip(evals, 0, None)
    evals = evals + shrink * evals.mean() + 1e-12  # same shrinkage as textseq's whitening
    return (evecs * evals**power) @ evecs.T


def zca(stats: VectorStats, shrink: float = 0.1) -> np.ndarray:
    """The ZCA whitening matrix of ``stats`` (symmetric; ``(x - mean) @ zca`` has ~identity covariance)."""
    return _sym_power(stats.cov, -0.5, shrink)


def coral(vectors: np.ndarray, source: VectorStats, shrink: float = 0.1) -> np.ndarray:
    """CORAL: re-colour ``vectors`` so that their mean and covariance match ``source`` (Sun et al., 2016).

    ``x -> (x - mu_t) C_t^-1/2 C_s^1/2 + mu_s``. Note: followed by the source's own ZCA whitening this equals
    whitening with the target's statistics up to shrinkage, so for textseq (which whitens per domain) CORAL
    matters only where the source whitening is kept (``align="coral"`` in :func:`lmrec.transfer.adapt`).
    """
    target = VectorStats.of(vectors)
    a = _sym_power(target.cov, -0.5, shrink) @ _sym_power(source.cov, 0.5, 0.0)
    return ((np.asarray(vectors, np.float64) - target.mean) @ a + source.mean).astype(np.float32)


def frechet_distance(a: VectorStats, b: VectorStats) -> float:
    """Fréchet (2-Wasserstein between Gaussians) distance:
    ``|mu_a - mu_b|^2 + tr(Ca + Cb - 2 (Ca Cb)^1/2)``."""
    ra = _sym_power(a.cov, 0.5, 0.0)
    m = ra @ b.cov @ ra
    evals = np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)
    tr_sqrt = float(np.sqrt(evals).sum())
    d = float(((a.mean - b.mean) ** 2).sum() + np.trace(a.cov) + np.trace(b.cov) - 2 * tr_sqrt)
    return max(d, 0.0)


def mmd_rbf(x: np.ndarray, y: np.ndarray, *, max_rows: int = 1000, seed: int = 0) -> float:
    """Squared maximum mean discrepancy with an RBF kernel (median-distance bandwidth) between two vector
    samples (subsampled to ``max_rows`` each; biased estimator)."""
    rng = np.random.default_rng(seed)
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    if len(x) > max_rows:
        x = x[rng.choice(len(x), max_rows, replace=False)]
    if len(y) > max_rows:
        y = y[rng.choice(len(y), max_rows, replace=False)]
    z = np.vstack([x, y])
    sq = (z**2).sum(1)
    d2 = np.clip(sq[:, None] + sq[None, :] - 2 * z @ z.T, 0, None)
    bw = float(np.median(d2[d2 > 0])) if (d2 > 0).any() else 1.0
    k = np.exp(-d2 / bw)
    n = len(x)
    return float(k[:n, :n].mean() + k[n:, n:].mean() - 2 * k[:n, n:].mean())


def source_weights(
    distances: dict[str, float], *, drop_factor: float = 3.0, temperature: float | None = None
) -> tuple[dict[str, float], list[str]]:
    """Sampling weights of source domains from their distance to the target, and the ones to drop.

    A source farther than ``drop_factor`` x the nearest one is dropped; the others get ``exp(-d / T)``
    weights (``T`` = the nearest distance, so weights depend on relative, not absolute, distances).
    """
    if not distances:
        return {}, []
    nearest = min(distances.values())
    t = temperature or max(nearest, 1e-9)
    drop = [k for k, d in distances.items() if d > drop_factor * max(nearest, 1e-9)]
    raw = {k: float(np.exp(-(d - nearest) / t)) for k, d in distances.items() if k not in drop}
    total = sum(raw.values())
    return {k: v / total for k, v in raw.items()}, drop
