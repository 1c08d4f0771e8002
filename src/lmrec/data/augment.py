"""Sequence augmentations for training sequential recommenders (CL4SRec-style crop / mask / reorder).

Every function is pure: it takes a 1-d array of item indices (oldest first) and a numpy ``Generator`` and
returns a new array; the input is never modified. Sequences shorter than two items are returned unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MASK = -2
"""The item index a masked position gets (models map it to a learned mask embedding)."""

AUGMENTATIONS = ("crop", "mask", "reorder")


def crop(seq: np.ndarray, rng: np.random.Generator, ratio: float = 0.8) -> np.ndarray:
    """A random contiguous sub-sequence holding ``ratio`` of the items (at least 2)."""
    seq = np.asarray(seq)
    n = len(seq)
    if n < 2:
        return seq.copy()
    length = max(2, int(round(n * ratio)))
    start = int(rng.integers(0, n - length + 1))
    return seq[start : start + length].copy()


def mask(seq: np.ndarray, rng: np.random.Generator, ratio: float = 0.2, token: int = MASK) -> np.ndarray:
    """A copy with a random ``ratio`` of the positions replaced by ``token`` (the last item is never masked,
    so the most recent signal survives)."""
    seq = np.array(seq, copy=True)
    n = len(seq)
    if n < 2:
        return seq
    count = int(round((n - 1) * ratio))
    if count:
        seq[rng.choice(n - 1, size=count, replace=False)] = token
    return seq


def reorder(seq: np.ndarray, rng: np.random.Generator, ratio: float = 0.2) -> np.ndarray:
    """A copy with a random contiguous span of ``ratio`` of the items shuffled."""
    seq = np.array(seq, copy=True)
    n = len(seq)
    length = int(round(n * ratio))
    if n < 2 or length < 2:
        return seq
    start = int(rng.integers(0, n - length + 1))
    seq[start : start + length] = rng.permutation(seq[start : start + length])
    return seq


def augment(
    seq: np.ndarray,
    rng: np.random.Generator,
    methods: Sequence[str],
    *,
    prob: float = 0.5,
    crop_ratio: float = 0.8,
    mask_ratio: float = 0.2,
    reorder_ratio: float = 0.2,
) -> np.ndarray:
    """With probability ``prob`` apply one of ``methods`` (chosen uniformly) to ``seq``; else a copy."""
    unknown = [m for m in methods if m not in AUGMENTATIONS]
    if unknown:
        raise ValueError(f"unknown augmentation {unknown[0]!r}; known: {', '.join(AUGMENTATIONS)}")
    if not methods or rng.random() >= prob:
        return np.array(seq, copy=True)
    method = methods[int(rng.integers(0, len(methods)))]
    if method == "crop":
        return crop(seq, rng, crop_ratio)
    if method == "mask":
        return mask(seq, rng, mask_ratio)
    return reorder(seq, rng, reorder_ratio)
