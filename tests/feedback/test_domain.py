"""Domain alignment: CORAL moves source statistics to the target's; mean alignment and whitening exactly."""

from __future__ import annotations

import numpy as np

from lmrec.feedback import Whitening, alignment_gap, coral, mean_align, whiten_each


def _domains(seed=0, n=400, d=8):
    rng = np.random.default_rng(seed)
    source = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) * 0.3 + 1.0
    target = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) * 0.1 - 0.5
    return source.astype(np.float32), target.astype(np.float32)


def test_coral_changes_source_statistics_toward_target():
    source, target = _domains()
    mean_gap, cov_gap = alignment_gap(source, target)
    aligned = coral(source, target, eps=1e-6)
    new_mean_gap, new_cov_gap = alignment_gap(aligned, target)
    assert new_mean_gap < 1e-4 * max(1.0, mean_gap)
    assert new_cov_gap < 0.01 * cov_gap
    np.testing.assert_allclose(np.cov(aligned, rowvar=False), np.cov(target, rowvar=False), atol=1e-4)
    # covariance-only variant keeps the source mean
    kept = coral(source, target, eps=1e-6, keep_mean=True)
    np.testing.assert_allclose(kept.mean(0), source.mean(0), atol=1e-4)
    # the regulariser eps shrinks the alignment: the result's covariance is target cov + something, not equal
    loose = coral(source, target, eps=1.0)
    assert alignment_gap(loose, target)[1] > new_cov_gap


def test_mean_align_and_whitening():
    source, target = _domains(1)
    np.testing.assert_allclose(mean_align(source, target).mean(0), target.mean(0), atol=1e-5)
    w = Whitening.fit(source, eps=0.0)
    z = w(source)
    np.testing.assert_allclose(z.mean(0), 0.0, atol=1e-4)
    np.testing.assert_allclose(np.cov(z, rowvar=False), np.eye(source.shape[1]), atol=1e-3)
    a, b = whiten_each(source, target, eps=0.0)
    assert alignment_gap(a, b)[1] < 0.01 * alignment_gap(source, target)[1]
