"""Sharded catalog encoding: two gloo processes (torchrun launcher) each encode half of 120 real ML-100K
titles; both end with all vectors, equal to one process encoding everything, and the cache is written once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from lmrec.text import encode_texts
from lmrec.text.cache import EmbeddingCache
from lmrec.text.encoders import get_encoder

REPO = Path(__file__).resolve().parents[2]
N = 120


def test_two_processes_share_the_catalog_encoding(shared_data, tmp_path):
    from tests.text._shard_job import titles

    texts = titles(shared_data, N)
    one = encode_texts(texts, encoder="minilm", use_cache=False)
    # a single process ignores shard=True (no process group to join)
    assert np.array_equal(encode_texts(texts, encoder="minilm", use_cache=False, shard=True), one)

    # the checkout's own lmrec (src/) first, then the repository root (for the tests package)
    path = os.pathsep.join([str(REPO / "src"), str(REPO)])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": path}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    cmd += [str(REPO / "tests/text/_shard_job.py"), str(shared_data), str(tmp_path), str(N)]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]

    distinct = len(set(texts))
    shares = []
    for rank in (0, 1):
        vecs = np.load(tmp_path / f"rank{rank}.npy")
        # every rank holds every vector, equal to the single-process encoding (batches differ: float noise)
        assert vecs.shape == one.shape
        np.testing.assert_allclose(vecs, one, atol=2e-5)
        shares.append(json.loads((tmp_path / f"rank{rank}.json").read_text())["encoded"])
    # first call: each rank encoded its half of the distinct titles; second call: all cache hits
    assert sorted(s[0] for s in shares) == sorted([distinct // 2, distinct - distinct // 2])
    assert [s[1] for s in shares] == [0, 0]
    # only rank 0 wrote the cache: one shard holding each distinct title once
    enc = get_encoder("minilm")
    cache = EmbeddingCache(enc.model_id, enc.dim, tmp_path / "cache")
    assert len(cache) == distinct
    assert len(list((tmp_path / "cache").rglob("shard-*.npy"))) == 1
