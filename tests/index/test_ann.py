"""ItemIndex: exact results equal brute force; ANN finds most of them; add/remove/exclude/save/load."""

from __future__ import annotations

import numpy as np
import pytest

from lmrec.errors import DataError
from lmrec.index import IndexConfig, ItemIndex


def unit(n: int, d: int = 16, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def brute(x: np.ndarray, q: np.ndarray, k: int, exclude: list[list[int]] | None = None) -> np.ndarray:
    s = q @ x.T
    if exclude:
        for r, e in enumerate(exclude):
            s[r, e] = -np.inf
    return np.argsort(-s, axis=1, kind="stable")[:, :k]


def test_auto_kind_follows_threshold() -> None:
    cfg = IndexConfig(exact_max_items=100)
    assert ItemIndex.build(unit(100), config=cfg).kind == "exact"
    assert ItemIndex.build(unit(101), config=cfg).kind == "ivfpq"
    assert ItemIndex.build(unit(101), config=cfg.replace(ann="hnsw")).kind == "hnsw"


def test_exact_equals_brute_force_with_exclusion() -> None:
    x = unit(300)
    index = ItemIndex.build(x, config=IndexConfig(kind="exact"))
    q = unit(5, seed=1)
    excl = [[int(i) for i in brute(x, q[r : r + 1], 3)[0]] for r in range(5)]
    ids, scores = index.search(q, 10, exclude=excl)
    np.testing.assert_array_equal(ids, brute(x, q, 10, excl))
    np.testing.assert_allclose(scores, np.take_along_axis(q @ x.T, ids, axis=1), rtol=1e-5)
    for r in range(5):
        assert not set(excl[r]) & set(ids[r].tolist())


@pytest.mark.parametrize("kind", ["hnsw", "ivfpq"])
def test_ann_recall(kind: str) -> None:
    x = unit(1500, d=16)
    q = unit(50, d=16, seed=2)
    ids, _ = ItemIndex.build(x, config=IndexConfig(kind=kind)).search(q, 10)
    truth = brute(x, q, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids.tolist(), truth.tolist(), strict=True)])
    assert recall >= 0.8


@pytest.mark.parametrize("kind", ["exact", "hnsw", "ivfpq"])
def test_remove_then_readd(kind: str) -> None:
    x = unit(500)
    index = ItemIndex.build(x, config=IndexConfig(kind=kind))
    q = x[7:8]
    assert index.search(q, 1)[0][0, 0] == 7
    assert index.remove([7, 10_000]) == 1
    assert 7 not in index and len(index) == 499
    assert 7 not in index.search(q, 50)[0][0]
    # re-added with another vector: found under the new vector, never twice, never under the old one
    index.add([7], x[8:9])
    ids, scores = index.search(x[8:9], 5)
    assert {7, 8} <= set(ids[0].tolist())
    assert np.allclose(scores[0, :2], 1.0, atol=1e-5)  # candidates are re-scored exactly
    assert list(index.search(q, 500)[0][0]).count(7) == 1


def test_add_new_ids_grows_and_pads_short_results() -> None:
    index = ItemIndex.build(unit(3), config=IndexConfig(kind="exact"))
    index.add([10], unit(1, seed=5))
    assert len(index) == 4 and 10 in index and 5 not in index
    ids, scores = index.search(unit(1, seed=5), 6, exclude=[[0]])
    assert ids[0, 0] == 10
    assert list(ids[0, 3:]) == [-1, -1, -1] and np.isneginf(scores[0, 3:]).all()


@pytest.mark.parametrize("kind", ["exact", "hnsw", "ivfpq"])
def test_save_load_round_trip(tmp_path, kind: str) -> None:
    x = unit(200)
    index = ItemIndex.build(x, config=IndexConfig(kind=kind))
    index.remove([3])
    index.add([250], x[3:4])
    index.save(tmp_path / "ix")
    back = ItemIndex.load(tmp_path / "ix")
    assert back.kind == kind and len(back) == len(index) and 3 not in back and 250 in back
    q = unit(4, seed=9)
    np.testing.assert_array_equal(back.search(q, 10)[0], index.search(q, 10)[0])
    back.add([3], x[3:4])  # versions survive the round trip: no stale duplicate appears
    assert list(back.search(x[3:4], 5)[0][0]).count(3) == 1


def test_bad_input_is_a_data_error() -> None:
    index = ItemIndex.build(unit(10))
    with pytest.raises(DataError, match="dimension"):
        index.search(np.zeros((1, 3), np.float32))
    with pytest.raises(DataError, match="non-negative"):
        index.add([-1], unit(1))
    with pytest.raises(DataError, match="NaN"):
        index.add([11], np.full((1, 16), np.nan, np.float32))
    with pytest.raises(DataError, match="not in the index"):
        index.vectors([99])


def test_ivfpq_keeps_fine_codes_when_the_dimension_has_no_small_divisor() -> None:
    """Found at 1M items (benchmarks/scale.py): textseq's retrieval vectors had 449 dims, a prime, and the
    product quantiser took the largest divisor of the dimension up to dim / 4: 1, one 256-word codebook for
    the whole vector, so recall@10 stayed at .45 whatever lists or candidates the calibration tried. The
    vectors are now zero-padded for the codes (inner products unchanged) to keep about 4 dims per code."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 449)).astype(np.float32)
    q = x[rng.choice(4000, 100, replace=False)] + rng.normal(size=(100, 449)).astype(np.float32)
    # every list scanned: only the codes decide what is found (448 dims: .97; 449 before the fix: .12)
    cfg = IndexConfig(kind="ivfpq", ivf_target_recall=None, ann_candidates=4, ivf_nprobe=1000)
    index = ItemIndex.build(x, config=cfg)
    found, scores = index.search(q, 10)
    truth = brute(x, q, 10)
    recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found.tolist(), truth.tolist(), strict=True)])
    assert recall >= 0.9
    np.testing.assert_allclose(scores, np.take_along_axis(q @ x.T, found, axis=1), rtol=1e-4, atol=1e-4)
    index.add([5000], x[:1])  # added and searched through the same padding
    assert index.search(x[:1], 2)[0][0].tolist() in ([0, 5000], [5000, 0])
