"""Data-parallel training when launched by ``torchrun`` (or any launcher that sets RANK / WORLD_SIZE).

:func:`train_loop` calls :func:`context` once: without ``WORLD_SIZE > 1`` in the environment it returns None
and nothing changes. Under ``torchrun --nproc_per_node=N`` every process runs the same program; the loop then

* joins the process group (``gloo`` on CPU, ``nccl`` when CUDA is available and the run asks for a GPU),
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
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class DistContext:
    """This process's place in the job."""

    rank: int
    world_size: int
    local_rank: int
    local_world_size: int
    backend: str

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_world() -> tuple[int, int, int, int]:
    """``(rank, world_size, local_rank, local_world_size)`` from the environment (1 process if unset)."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    rank = int(os.environ.get("RANK", "0") or 0)
    local_rank = int(os.environ.get("LOCAL_RANK", str(rank)) or 0)
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)) or world)
    return rank, world, local_rank, local_world


def is_main_process() -> bool:
    """True unless this is a non-zero rank of a distributed launch (what should save, print, evaluate)."""
    return env_world()[0] == 0


def context(device: str = "cpu") -> DistContext | None:
    """Join the process group described by the environment (once per process); None for a single process."""
    rank, world, local_rank, local_world = env_world()
    if world <= 1:
        return None
    import torch
    import torch.distributed as dist

    use_cuda = device.startswith("cuda") and torch.cuda.is_available()
    backend = "nccl" if use_cuda else "gloo"
    if not dist.is_initialized():
        if use_cuda:
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend=backend, rank=rank, world_size=world)
    return DistContext(rank, world, local_rank, local_world, dist.get_backend())


def shutdown() -> None:
    """Leave the process group if one was joined (call once at the end of a distributed program)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


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

    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= world
    offset = 0
    for p, g in zip(params, grads, strict=True):
        n = g.numel()
        chunk = flat[offset : offset + n].view_as(g)
        if p.grad is None:
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


def gather_rows(local: np.ndarray, n_total: int, ctx: DistContext) -> np.ndarray:
    """The full (n_total, ...) float32 array from per-rank blocks (rank r holds rows ``r::world``)."""
    import torch
    import torch.distributed as dist

    width = -(-n_total // ctx.world_size)  # all_gather wants equal shapes: pad every block to the largest
    block = np.zeros((width, *local.shape[1:]), dtype=np.float32)
    block[: len(local)] = local
    parts = [torch.zeros_like(torch.from_numpy(block)) for _ in range(ctx.world_size)]
    dist.all_gather(parts, torch.from_numpy(block))
    out = np.zeros((n_total, *local.shape[1:]), dtype=np.float32)
    for r, part in enumerate(parts):
        rows = len(range(r, n_total, ctx.world_size))
        out[r :: ctx.world_size] = part.numpy()[:rows]
    return out
