"""Data-parallel training when launched by ``torchrun`` (or any launcher that sets RANK / WORLD_SIZE).

:func:`train_loop` calls :func:`context` once: without ``WORLD_SIZE > 1`` in the environment it returns None
and nothing changes. Under ``torchrun --nproc_per_node=N`` every process runs the same program; the loop then

* joins the process group (``gloo`` on CPU; on a GPU run ``nccl`` for CUDA tensors and ``gloo`` for CPU ones),
* broadcasts rank 0's initial weights so every replica starts equal,
* gives rank r the rows ``r, r + N, r + 2N ...`` of every global batch (DistributedSampler-style sharding:
  the global order is the same on every rank, as it comes from the shared per-epoch seed),
* averages gradients across ranks after each backward pass (one flat all-reduce),
* averages the reported epoch loss, and lets only rank 0 write checkpoints, log and draw progress.

Gradients are averaged explicitly instead of wrapping the module in ``DistributedDataParallel``: models hand
the loop a ``step`` callable that calls their own loss methods (``module.full_loss``), not ``module(...)``,
and DDP only synchronises gradients of calls that go through ``forward``. The all-reduce is what DDP does
(without bucketing overlap, which matters little at these model sizes).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

# the process-group basics live below lmrec.text (sharded catalog encoding uses them too)
from lmrec.process_group import DistContext, context, env_world, is_main_process, shutdown

__all__ = [
    "DistContext",
    "average_gradients",
    "broadcast_module",
    "context",
    "env_world",
    "is_main_process",
    "per_process_threads",
    "shard_batch",
    "shutdown",
    "sum_across_ranks",
]


def per_process_threads(threads: int, ctx: DistContext | None) -> int:
    """Torch threads per process: the cores are shared by the processes of one node."""
    if ctx is None:
        return threads
    cores = os.cpu_count() or 1
    return max(1, min(threads, cores // max(ctx.local_world_size, 1)))


def shard_batch(batch: Any, rank: int, world: int) -> Any:
    """Rows ``rank::world`` of a batch (a tensor / array, or a tuple / list / dict of them, sliced along the
    first axis); None when the batch has fewer rows than processes (then every rank skips it alike)."""
    n = _rows(batch)
    if n is not None and n < world:
        return None
    return _slice(batch, rank, world)


def _rows(batch: Any) -> int | None:
    if hasattr(batch, "shape") and len(batch.shape):
        return int(batch.shape[0])
    if isinstance(batch, Mapping):
        sizes = [_rows(v) for v in batch.values()]
    elif isinstance(batch, Sequence) and not isinstance(batch, (str, bytes)):
        sizes = [_rows(v) for v in batch]
    else:
        return None
    known = [s for s in sizes if s is not None]
    return min(known) if known else None


def _slice(batch: Any, rank: int, world: int) -> Any:
    if hasattr(batch, "shape") and len(batch.shape):
        return batch[rank::world]
    if isinstance(batch, Mapping):
        return type(batch)({k: _slice(v, rank, world) for k, v in batch.items()})
    if isinstance(batch, tuple):
        return tuple(_slice(v, rank, world) for v in batch)
    if isinstance(batch, list):
        return [_slice(v, rank, world) for v in batch]
    return batch


def broadcast_module(module: Any) -> None:
    """Rank 0's parameters and buffers on every rank."""
    import torch.distributed as dist

    for t in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(t.data, src=0)


def average_gradients(params: Sequence[Any], world: int) -> None:
    """Average the gradients of ``params`` across ranks (missing gradients count as zeros)."""
    import torch
    import torch.distributed as dist

    # a sparse gradient is reduced dense and handed back row-sparse (only the rows some rank touched)
    grads = [
        torch.zeros_like(p) if p.grad is None else p.grad.to_dense() if p.grad.is_sparse else p.grad
        for p in params
    ]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= world
    offset = 0
    for p, g in zip(params, grads, strict=True):
        n = g.numel()
        chunk = flat[offset : offset + n].view_as(g)
        if p.grad is not None and p.grad.is_sparse:
            p.grad = chunk.to_sparse(1)
        elif p.grad is None:
            p.grad = chunk.clone()
        else:
            p.grad.copy_(chunk)
        offset += n


def sum_across_ranks(values: Sequence[float]) -> list[float]:
    """Each value summed over ranks (e.g. loss totals and batch counts)."""
    import torch
    import torch.distributed as dist

    t = torch.tensor(np.asarray(values, dtype=np.float64))
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return [float(x) for x in t]
