"""Process-group basics shared by data-parallel training (:mod:`lmrec.train.distributed`) and sharded catalog
encoding (:func:`lmrec.text.encode_texts` with ``shard=True``): which process this is, joining the group that
``torchrun`` describes in the environment, and gathering per-rank rows.

It sits below ``lmrec.text`` and ``lmrec.train`` (it imports nothing from lmrec) so both can use it without
an import pointing the wrong way. torch is imported only inside the functions that need it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

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
    """Join the process group described by the environment (once per process); None for a single process.

    On a GPU run the group gets two backends, ``cpu:gloo,cuda:nccl``: gradients (CUDA tensors) go through
    nccl, while the small CPU collectives (loss totals, gathered catalog vectors) go through gloo, which nccl
    alone cannot carry. Whoever joins first fixes the backends for the process.
    """
    rank, world, local_rank, local_world = env_world()
    if world <= 1:
        return None
    import torch
    import torch.distributed as dist

    use_cuda = device.startswith("cuda") and torch.cuda.is_available()
    if not dist.is_initialized():
        if use_cuda:
            torch.cuda.set_device(local_rank)
        backend = "cpu:gloo,cuda:nccl" if use_cuda else "gloo"
        dist.init_process_group(backend=backend, rank=rank, world_size=world)
    return DistContext(rank, world, local_rank, local_world, str(dist.get_backend()))


def shutdown() -> None:
    """Leave the process group if one was joined (call once at the end of a distributed program)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def gather_rows(local: np.ndarray, n_total: int, ctx: DistContext) -> np.ndarray:
    """The full (n_total, ...) float32 array on every rank from per-rank blocks (rank r holds rows
    ``r::world``, possibly none)."""
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


def all_true(mask: np.ndarray) -> np.ndarray:
    """Element-wise AND of a boolean mask over all ranks (every rank passes the same length)."""
    import torch
    import torch.distributed as dist

    t = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.uint8).astype(np.int32))
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return t.numpy().astype(bool)


def barrier() -> None:
    """Wait until every rank gets here."""
    import torch.distributed as dist

    dist.barrier()
