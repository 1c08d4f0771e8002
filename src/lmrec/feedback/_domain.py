"""Domain alignment of review vectors: make source-domain vectors look like the target's unlabeled vectors.

- :func:`coral` (Sun, Feng & Saenko, AAAI 2016): re-colour whitened source vectors with the target covariance,
  so a classifier trained on the aligned source sees target-like second-order statistics.
- :func:`mean_align`: shift the source mean onto the target mean (first-order only).
- :class:`Whitening` / :func:`whiten_each`: centre and whiten each domain with its own statistics (each domain
  mapped to zero mean, identity covariance); the classifier then works in a shared whitened space.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _cov(x: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64)
    mu = x.mean(0)
    c = np.cov(x - mu, rowvar=False) if len(x) > 1 else np.zeros((x.shape[1], x.shape[1]))
    return mu, c + eps * np.eye(x.shape[1])


def _sym_power(c: np.ndarray, power: float) -> np.ndarray:
    vals, vecs = np.linalg.eigh(c)
    vals = np.clip(vals, 1e-12, None)
    return (vecs * vals**power) @ vecs.T


def coral(
    source: np.ndarray, target: np.ndarray, *, eps: float = 1e-3, keep_mean: bool = False
) -> np.ndarray:
    """CORAL-aligned copy of ``source``: ``(x - mu_s) C_s^-1/2 C_t^1/2 + mu_t``.

    ``eps`` regularises both covariances (``eps * I`` is added, as in the paper's ``+ I``, scaled to the tiny
    variances of unit-norm sentence vectors). ``keep_mean=True`` keeps the source mean (the paper's variant
    aligns covariances only); the default also moves the mean to the target's.
    """
    mu_s, cs = _cov(source, eps)
    mu_t, ct = _cov(target, eps)
    transform = _sym_power(cs, -0.5) @ _sym_power(ct, 0.5)
    out = (np.asarray(source, np.float64) - mu_s) @ transform + (mu_s if keep_mean else mu_t)
    return out.astype(np.float32)


def mean_align(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``source`` shifted so that its mean equals the mean of ``target``."""
    s = np.asarray(source, np.float64)
    return (s - s.mean(0) + np.asarray(target, np.float64).mean(0)).astype(np.float32)


@dataclass(frozen=True)
class Whitening:
    """``(x - mean) @ proj``: zero mean and (regularised) identity covariance for the data it was fit on."""

    mean: np.ndarray
    proj: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray, *, eps: float = 1e-3) -> Whitening:
        mu, c = _cov(x, eps)
        return cls(mu.astype(np.float32), _sym_power(c, -0.5).astype(np.float32))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return ((np.asarray(x, np.float32) - self.mean) @ self.proj).astype(np.float32)


def whiten_each(*domains: np.ndarray, eps: float = 1e-3) -> list[np.ndarray]:
    """Each array whitened with its own statistics (the per-domain whitening of UniSRec-style adaptors)."""
    return [Whitening.fit(d, eps=eps)(d) for d in domains]


def alignment_gap(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(distance between the means, Frobenius distance between the covariances) of two vector sets."""
    mu_a, ca = _cov(a, 0.0)
    mu_b, cb = _cov(b, 0.0)
    return float(np.linalg.norm(mu_a - mu_b)), float(np.linalg.norm(ca - cb))
