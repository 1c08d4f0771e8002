"""Data-parallel training: batch sharding, and a real 2-process gloo run (torchrun launcher) on ML-100K users
that matches the single-process run with the same global batch and saves a model that loads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from lmrec.train.distributed import env_world, is_main_process, per_process_threads, shard_batch

REPO = Path(__file__).resolve().parents[2]


def test_shard_batch_takes_every_world_th_row():
    inp, tgt = torch.arange(10).reshape(5, 2), torch.arange(5)
    a = shard_batch((inp, tgt), 0, 2)
    b = shard_batch((inp, tgt), 1, 2)
    assert a[0].tolist() == [[0, 1], [4, 5], [8, 9]] and a[1].tolist() == [0, 2, 4]
    assert b[0].tolist() == [[2, 3], [6, 7]] and b[1].tolist() == [1, 3]
    d = shard_batch({"x": np.arange(6), "y": [np.arange(6)]}, 2, 3)
    assert d["x"].tolist() == [2, 5] and d["y"][0].tolist() == [2, 5]
    # fewer rows than processes: every rank skips the batch alike (no rank waits in a collective alone)
    assert shard_batch((torch.arange(1), torch.arange(1)), 0, 2) is None


def test_environment_detection(monkeypatch):
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(k, raising=False)
    assert env_world() == (0, 1, 0, 1) and is_main_process()
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert env_world() == (1, 2, 1, 2) and not is_main_process()


def test_two_gloo_processes_match_one_process(shared_data, tmp_path):
    from lmrec.models import load_model
    from tests.train._ddp_job import run

    one = run(shared_data, tmp_path / "one")
    # the checkout's own lmrec (src/) first, then the repository root (for the tests package)
    path = os.pathsep.join([str(REPO / "src"), str(REPO)])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": path}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    cmd += [str(REPO / "tests/train/_ddp_job.py"), str(shared_data), str(tmp_path / "two")]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    two = json.loads((tmp_path / "two" / "history.json").read_text())
    # same global batch of 64 windows, each rank got 32 of them: the loss after the epoch's ~40 steps agrees
    # (not bitwise: each rank averages over its own target positions, so the gradient mean differs slightly)
    l1, l2 = one["history"][0]["loss"], two["history"][0]["loss"]
    assert abs(l1 - l2) / l1 < 0.01
    assert l2 < np.log(1682)  # it learned something: below the loss of a uniform guess over the catalog
    assert abs(one["best_metric"] - two["best_metric"]) < 0.01
    model = load_model(tmp_path / "two")
    idx, scores = model.recommend(np.arange(5), k=10)
    assert idx.shape == (5, 10) and np.isfinite(scores).all()
    # only rank 0 wrote the model: one safetensors file, no per-rank leftovers
    assert sorted(p.name for p in (tmp_path / "two").iterdir() if p.suffix == ".safetensors") == [
        "model.safetensors"
    ]


def test_threads_are_split_between_processes_of_a_node():
    from lmrec.train.distributed import DistContext

    ctx = DistContext(rank=0, world_size=2, local_rank=0, local_world_size=2, backend="gloo")
    cores = os.cpu_count() or 1
    assert per_process_threads(64, ctx) == max(1, cores // 2)
    assert per_process_threads(3, None) == 3


def test_sparse_gradients_are_averaged_and_stay_row_sparse(tmp_path):
    """A sampled-loss item table has a sparse gradient (lazy Adam needs it sparse): the all-reduce takes it
    dense and hands it back sparse, holding the rows some rank touched (here one rank: the same values)."""
    import torch.distributed as dist

    from lmrec.train.distributed import average_gradients

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        table, head = torch.nn.Parameter(torch.randn(50, 3)), torch.nn.Parameter(torch.randn(3))
        (torch.nn.functional.embedding(torch.tensor([4, 9, 9]), table, sparse=True) @ head).sum().backward()
        want_table, want_head = table.grad.to_dense().clone(), head.grad.clone()
        average_gradients([table, head], world=1)
        assert table.grad.is_sparse and sorted(table.grad.coalesce().indices()[0].tolist()) == [4, 9]
        torch.testing.assert_close(table.grad.to_dense(), want_table)
        torch.testing.assert_close(head.grad, want_head)
    finally:
        dist.destroy_process_group()
