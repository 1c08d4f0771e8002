"""Sequence augmentations: pure, seeded, and each does what it says."""

from __future__ import annotations

import numpy as np
import pytest

from lmrec.data.augment import MASK, augment, crop, mask, reorder


def test_crop_is_a_contiguous_subsequence():
    seq = np.arange(10)
    out = crop(seq, np.random.default_rng(0), ratio=0.6)
    assert len(out) == 6
    assert (np.diff(out) == 1).all() and out[0] >= 0 and out[-1] <= 9
    assert (seq == np.arange(10)).all()  # input untouched


def test_mask_hides_a_share_but_never_the_last_item():
    seq = np.arange(11)
    out = mask(seq, np.random.default_rng(1), ratio=0.3)
    assert (out == MASK).sum() == 3 and out[-1] == 10
    kept = out != MASK
    assert (out[kept] == seq[kept]).all()


def test_reorder_permutes_one_span_only():
    seq = np.arange(20)
    out = reorder(seq, np.random.default_rng(2), ratio=0.25)
    assert sorted(out.tolist()) == list(range(20))
    changed = np.flatnonzero(out != seq)
    assert len(changed) and changed.max() - changed.min() < 5


def test_augment_probability_and_determinism():
    seq = np.arange(8)
    assert (augment(seq, np.random.default_rng(0), ("crop",), prob=0.0) == seq).all()
    a = augment(seq, np.random.default_rng(5), ("crop", "mask", "reorder"), prob=1.0)
    b = augment(seq, np.random.default_rng(5), ("crop", "mask", "reorder"), prob=1.0)
    assert (a == b).all()
    short = np.array([3])
    assert (augment(short, np.random.default_rng(0), ("crop", "mask", "reorder"), prob=1.0) == short).all()
    with pytest.raises(ValueError, match="unknown augmentation"):
        augment(seq, np.random.default_rng(0), ("shuffle",))
