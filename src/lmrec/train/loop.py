"""The shared epoch loop: AdamW, early stopping on a validation metric, checkpoints + resume, progress bar.

A model hands the loop its torch module and three callables::

    result = train_loop(
        module,
        batches=lambda epoch, rng: ...,      # iterable of batches for one epoch (rng: numpy Generator)
        step=lambda batch: loss_tensor,      # forward pass of one batch -> scalar loss
        validate=lambda: {"ndcg@10": ...},   # metrics on validation data (module is in eval mode)
        config=LoopConfig(epochs=20, lr=1e-3, patience=3),
        options=FitOptions(seed=0, checkpoint_dir="ckpt/"),
    )

Randomness is re-seeded at the start of every epoch from ``(seed, epoch)``, so an interrupted run resumed from
its last checkpoint replays exactly the epochs it missed and ends with the same weights.

This module imports nothing from ``lmrec.models`` (``options`` is any object shaped like
:class:`lmrec.models.base.FitOptions`), so models can train themselves with it without an import cycle.

Checkpoints (``checkpoint_dir/last.pt``) hold only tensors, numbers and strings and are read back with
``torch.load(weights_only=True)``: no arbitrary pickle is ever executed.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lmrec.errors import LmrecError
from lmrec.train.config import LoopConfig

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from lmrec.models.base import FitOptions

log = logging.getLogger("lmrec.train")

CHECKPOINT_FILE = "last.pt"
CHECKPOINT_VERSION = 1


@dataclass
class TrainResult:
    """What happened during training."""

    epochs_run: int
    best_epoch: int
    best_metric: float
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    resumed_from_epoch: int = 0
    stopped_early: bool = False
    monitor: str = ""
    stopped_on_time: bool = False  # FitOptions.max_seconds ended the run before its epochs or patience did

    @property
    def time_to_best(self) -> float:
        """Seconds of training until the end of the best epoch (its validation included): the time a run
        with a perfect stopping rule would take; ``seconds`` adds the epochs that early stopping waited."""
        if 0 < self.best_epoch <= len(self.history) and "seconds" in self.history[self.best_epoch - 1]:
            return float(self.history[self.best_epoch - 1]["seconds"])
        return self.seconds

    def to_dict(self) -> dict[str, Any]:
        return {
            "epochs_run": self.epochs_run,
            "best_epoch": self.best_epoch,
            "best_metric": self.best_metric,
            "history": self.history,
            "seconds": round(self.seconds, 3),
            "time_to_best_s": round(self.time_to_best, 3),
            "resumed_from_epoch": self.resumed_from_epoch,
            "stopped_early": self.stopped_early,
            "monitor": self.monitor,
            "stopped_on_time": self.stopped_on_time,
        }


def sensible_threads(requested: int | None = None) -> int:
    """Threads for torch: the explicit request, else ``OMP_NUM_THREADS``, else the usable cores (at most 4:
    the shapes here are small), lowered to the cores left idle by other processes
    (:func:`lmrec.train.threads.pick_threads`, without a size estimate).

    Why the last rule: on an oversubscribed machine OpenMP threads spin-wait for each other, and a small
    model trained with 2 threads on 2 busy cores ran 25x slower than with 1 thread (measured).
    """
    from lmrec.train.threads import pick_threads

    return pick_threads(requested).threads


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of one epoch: a pure function of the run seed and the epoch (what makes resume exact)."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def train_loop(
    module: torch.nn.Module,
    *,
    batches: Callable[[int, np.random.Generator], Iterable[Any]],
    step: Callable[[Any], torch.Tensor],
    validate: Callable[[], Mapping[str, float]] | None,
    config: LoopConfig,
    options: FitOptions,
    fingerprint: str = "",
    on_epoch_start: Callable[[int], None] | None = None,
    on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
    param_groups: list[dict[str, Any]] | None = None,
    sparse_params: list[torch.Tensor] | None = None,
) -> TrainResult:
    """Train ``module`` in place and return a :class:`TrainResult`.

    ``fingerprint`` identifies the run (model config + data); a checkpoint written by a different run is an
    error rather than a silent mix. ``on_epoch_end(epoch, record)`` runs after the checkpoint is written (a
    test can raise there to simulate a kill). ``param_groups`` (AdamW groups, e.g. a smaller lr for a
    pretrained part) defaults to every trainable parameter of ``module``. ``sparse_params``: those of
    them whose gradient is sparse (rows looked up with ``embedding(..., sparse=True)``, e.g. a large item
    table under a sampled softmax); SparseAdam updates only the rows a step touched
    (:mod:`lmrec.train.optim`).
    """
    import torch

    from lmrec.device import amp_dtype, autocast, options_device, to_device
    from lmrec.progress import note
    from lmrec.train import distributed
    from lmrec.train.optim import build_optimizer, clip_gradients
    from lmrec.train.threads import pick_threads

    device = options_device(options)
    dist_ctx = distributed.context(str(device))  # None unless launched by torchrun
    main = dist_ctx is None or dist_ctx.is_main
    module.to(device)
    dtype = amp_dtype(device, getattr(options, "precision", "auto") or "auto")
    on_cpu = device.type == "cpu"
    if param_groups is None:
        param_groups = [{"params": [p for p in module.parameters() if p.requires_grad]}]
    params = [p for g in param_groups for p in g["params"]]
    # one step's work, roughly: every parameter used by a batch of ~256 positions
    choice = pick_threads(options.threads, work=256.0 * sum(p.numel() for p in module.parameters()))
    torch.set_num_threads(distributed.per_process_threads(choice.threads, dist_ctx))
    note(f"lmrec: training with {choice.describe()}", requested=options.progress and main, once=True)
    if not params:
        raise LmrecError("nothing to train: the model has no trainable parameters")
    if any(p.device != device for p in params):
        raise LmrecError(f"train_loop: some trainable parameters are not on {device} (move them first)")
    # fused AdamW: one kernel for all parameters on a GPU (the per-parameter loop is launch-bound there)
    optim = build_optimizer(
        param_groups,
        lr=config.lr,
        weight_decay=config.weight_decay,
        sparse_params=sparse_params or (),
        fused=device.type == "cuda",
    )

    ckpt_path = Path(options.checkpoint_dir) / CHECKPOINT_FILE if options.checkpoint_dir else None
    history: list[dict[str, float]] = []
    best_metric, best_epoch, bad_rounds = -math.inf, 0, 0
    best_state: dict[str, torch.Tensor] | None = None
    start_epoch, elapsed_before = 0, 0.0
    stopped_early = False
    saved_ema: list[torch.Tensor] | None = None

    if ckpt_path is not None and ckpt_path.is_file():
        ck = _read_checkpoint(ckpt_path, fingerprint)
        module.load_state_dict(ck["module"])
        optim.load_state_dict(ck["optimizer"])
        history = list(ck["history"])
        best_metric, best_epoch = float(ck["best_metric"]), int(ck["best_epoch"])
        bad_rounds, start_epoch = int(ck["bad_rounds"]), int(ck["epoch"])
        elapsed_before = float(ck["seconds"])
        best_state = ck.get("best_state") or None
        saved_ema = [t.to(device) for t in ck["ema"]] if ck.get("ema") else None
        stopped_early = bool(ck.get("stopped_early", False))
    resumed_from = start_epoch
    if resumed_from and main:
        message = f"resumed from epoch {resumed_from} (checkpoint {ckpt_path})"
        log.info(message)
        note(f"lmrec: {message}", requested=options.progress)
    if dist_ctx is not None:
        distributed.broadcast_module(module)  # every replica starts from rank 0's weights
    ema = None  # the moving average of params (config.ema), from the checkpoint or the current weights
    if config.ema:
        ema = list(saved_ema) if saved_ema else [p.detach().clone() for p in params]

    progress = _Progress(options.progress and main, config.epochs, start_epoch)
    t0 = time.perf_counter()
    try:
        progress.start()
        epoch, stopped_on_time = start_epoch, False
        while epoch < config.epochs and not stopped_early:
            out_of_time = (
                options.max_seconds is not None
                and elapsed_before + time.perf_counter() - t0 > options.max_seconds
            )
            if dist_ctx is not None and options.max_seconds is not None:  # all ranks stop together
                out_of_time = distributed.sum_across_ranks([float(out_of_time)])[0] > 0
            if out_of_time:
                stopped_on_time = True
                break
            seed = epoch_seed(options.seed, epoch)
            torch.manual_seed(seed)
            rng = np.random.default_rng(seed)
            if on_epoch_start is not None:
                on_epoch_start(epoch)
            module.train()
            # the epoch's loss sum stays on the device: reading it every step would make a GPU wait
            total_t, count = torch.zeros((), dtype=torch.float64, device=device), 0
            for batch in batches(epoch, rng):
                if dist_ctx is not None:  # this rank's rows of the global batch
                    batch = distributed.shard_batch(batch, dist_ctx.rank, dist_ctx.world_size)
                    if batch is None:
                        continue
                batch = to_device(batch, device)  # a no-op for batches the model built on the device
                optim.zero_grad(set_to_none=True)
                with autocast(device, dtype):
                    loss = step(batch)
                if on_cpu and not torch.isfinite(loss):
                    raise LmrecError(f"training diverged at epoch {epoch + 1} (loss {loss.item()}); lower lr")
                loss.backward()
                if dist_ctx is not None:
                    distributed.average_gradients(params, dist_ctx.world_size)
                if config.grad_clip:
                    clip_gradients(params, config.grad_clip)
                optim.step()
                if ema is not None:
                    with torch.no_grad():
                        torch._foreach_lerp_(ema, [p.detach() for p in params], 1.0 - config.ema)
                total_t += loss.detach().double()
                count += 1
                if progress.enabled:
                    progress.batch(float(total_t) / count)
            total = float(total_t)
            if not math.isfinite(total):  # on a GPU the check runs once per epoch, not once per step
                raise LmrecError(f"training diverged at epoch {epoch + 1} (loss {total}); lower lr")
            if dist_ctx is not None:
                total, count = distributed.sum_across_ranks([total, count])
            record: dict[str, float] = {"epoch": float(epoch + 1), "loss": total / max(count, 1)}
            last = epoch + 1 == config.epochs
            if validate is not None and ((epoch + 1) % config.validate_every == 0 or last):
                module.eval()
                with torch.no_grad(), _swapped(params, ema):  # validate and keep the averaged weights
                    metrics = dict(validate())
                    if config.monitor not in metrics:
                        raise LmrecError(f"validation returned no '{config.monitor}' (got {sorted(metrics)})")
                    value = float(metrics[config.monitor])
                    improved = value > best_metric
                    if improved:
                        best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
                record.update({k: float(v) for k, v in metrics.items()})
                if improved:
                    best_metric, best_epoch, bad_rounds = value, epoch + 1, 0
                else:
                    bad_rounds += 1
                    if config.patience and bad_rounds >= config.patience:
                        stopped_early = True
            record["seconds"] = elapsed_before + time.perf_counter() - t0
            history.append(record)
            progress.epoch(record, config.monitor)
            if main:
                log.info("epoch %d: %s", epoch + 1, " ".join(f"{k}={v:.4f}" for k, v in record.items()))
            epoch += 1
            if ckpt_path is not None and main:
                _write_checkpoint(
                    ckpt_path,
                    {
                        "version": CHECKPOINT_VERSION,
                        "fingerprint": fingerprint,
                        "epoch": epoch,
                        "module": module.state_dict(),
                        "optimizer": optim.state_dict(),
                        "history": history,
                        "best_metric": best_metric,
                        "best_epoch": best_epoch,
                        "bad_rounds": bad_rounds,
                        "best_state": best_state or {},
                        "seconds": record["seconds"],
                        "stopped_early": stopped_early,
                        **({"ema": ema} if ema is not None else {}),
                    },
                )
            if on_epoch_end is not None:
                on_epoch_end(epoch, record)
    finally:
        progress.close()
    if config.restore_best and best_state:
        module.load_state_dict(best_state)
    elif ema is not None:
        _copy_into(params, ema)
    module.eval()
    if best_epoch == 0:  # no validation: the last epoch is "best"
        best_epoch = len(history)
        best_metric = float("nan")
    return TrainResult(
        epochs_run=len(history),
        best_epoch=best_epoch,
        best_metric=best_metric,
        history=history,
        seconds=elapsed_before + time.perf_counter() - t0,
        resumed_from_epoch=resumed_from,
        stopped_early=stopped_early,
        monitor=config.monitor if validate is not None else "",
        stopped_on_time=stopped_on_time,
    )


@contextmanager
def _swapped(params: list[torch.Tensor], ema: list[torch.Tensor] | None) -> Iterator[None]:
    """The averaged weights in place of the trained ones for the duration (nothing to do without EMA)."""
    if ema is None:
        yield
        return
    live = [p.detach().clone() for p in params]
    _copy_into(params, ema)
    try:
        yield
    finally:
        _copy_into(params, live)


def _copy_into(params: list[torch.Tensor], values: list[torch.Tensor]) -> None:
    for p, v in zip(params, values, strict=True):
        p.data.copy_(v)


def _write_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)  # atomic: a kill during the write leaves the previous checkpoint intact


def _read_checkpoint(path: Path, fingerprint: str) -> dict[str, Any]:
    import torch

    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupted or foreign file
        raise LmrecError(
            f"{path}: cannot read checkpoint: {type(exc).__name__}: {exc}".splitlines()[0]
        ) from None
    if not isinstance(ck, dict) or ck.get("version") != CHECKPOINT_VERSION:
        raise LmrecError(f"{path}: not an lmrec training checkpoint (or an incompatible version)")
    if ck.get("fingerprint", "") != fingerprint:
        raise LmrecError(
            f"{path}: checkpoint belongs to a different run (model config or data changed); "
            "use another checkpoint_dir or delete it"
        )
    return ck


class _Progress:
    """The epochs' bar on the shared display (:mod:`lmrec.progress`): the running loss, the last validation
    metric, and the epoch a resumed run started from."""

    def __init__(self, enabled: bool, total: int, done: int) -> None:
        from contextlib import ExitStack

        from lmrec import progress

        self._stack = ExitStack()
        self._enabled, self._total, self._done = enabled, total, done
        self._progress = progress
        self._task: Any = None
        self._last = ""
        self._resumed = f"resumed from epoch {done} " if done else ""

    @property
    def enabled(self) -> bool:
        """Whether the bar was asked for (the loop then reads the running loss every batch)."""
        return self._enabled

    def start(self) -> None:
        bar = self._progress.task(
            "train", self._total, requested=self._enabled, completed=self._done, info=self._resumed.strip()
        )
        self._task = self._stack.enter_context(bar)

    def batch(self, loss: float) -> None:
        if self._task is not None:
            self._task.update(info=f"{self._resumed}loss {loss:.4f} {self._last}")

    def epoch(self, record: dict[str, float], monitor: str) -> None:
        if self._task is None:
            return
        if monitor in record:
            self._last = f"{monitor} {record[monitor]:.4f}"
        self._task.advance(1)
        self._task.update(info=f"{self._resumed}loss {record['loss']:.4f} {self._last}")

    def close(self) -> None:
        self._stack.close()
