"""Paired comparison of two models on the same users: hand-computed means, t-test and interval behaviour."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lmrec.errors import LmrecError
from lmrec.evaluate import paired_comparison


def test_means_ratio_and_paired_t_test_match_hand_computation():
    a = np.array([1.0, 0.0, 1.0, 0.0])
    b = np.array([0.0, 0.0, 1.0, 0.0])
    res = paired_comparison(a, b, n_boot=2000)
    assert (res.n, res.mean_a, res.mean_b, res.diff, res.ratio) == (4, 0.5, 0.25, 0.25, 2.0)
    # differences 1, 0, 0, 0: mean .25, sd .5, t = .25 / (.5 / 2) = 1 with 3 degrees of freedom;
    # Student's t CDF for 3 df: 1/2 + (t / (sqrt(3) (1 + t^2 / 3)) + atan(t / sqrt(3))) / pi
    cdf = 0.5 + (1 / (math.sqrt(3) * (4 / 3)) + math.atan(1 / math.sqrt(3))) / math.pi
    assert res.p_value == pytest.approx(2 * (1 - cdf), abs=1e-9)
    assert res.diff_ci[0] <= res.diff <= res.diff_ci[1] and res.diff_ci[0] >= 0  # A never loses a user


def test_identical_models_and_a_clear_winner():
    rng = np.random.default_rng(0)
    base = rng.random(500)
    same = paired_comparison(base, base.copy())
    assert same.ratio == 1.0 and same.ratio_ci == (1.0, 1.0) and same.diff_ci == (0.0, 0.0)
    assert same.p_value == 1.0
    better = paired_comparison(base + 0.1 + rng.normal(0, 0.01, 500), base)
    assert better.ratio_ci[0] > 1 and better.diff_ci == pytest.approx((0.1, 0.1), abs=0.003)
    assert better.p_value < 1e-6
    noisy = paired_comparison(base + rng.normal(0, 0.3, 500), base, seed=1)
    assert noisy.ratio_ci[0] < noisy.ratio < noisy.ratio_ci[1]


def test_wider_confidence_gives_a_wider_interval_and_bad_input_is_an_error():
    rng = np.random.default_rng(3)
    a, b = rng.random(300), rng.random(300)
    narrow, wide = paired_comparison(a, b, confidence=0.5), paired_comparison(a, b, confidence=0.99)
    assert wide.ratio_ci[0] < narrow.ratio_ci[0] and narrow.ratio_ci[1] < wide.ratio_ci[1]
    assert paired_comparison(a, b, seed=7) == paired_comparison(a, b, seed=7)  # deterministic
    with pytest.raises(LmrecError, match="shapes"):
        paired_comparison(a, b[:-1])
    with pytest.raises(LmrecError, match="confidence"):
        paired_comparison(a, b, confidence=1.0)
