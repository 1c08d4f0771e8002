"""Where torch runs: the ``--device`` / ``FitOptions.device`` choice, mixed precision, moving batches.

``device``: ``"auto"`` (a CUDA GPU when torch sees one, else the CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
Under ``torchrun`` on GPUs (``WORLD_SIZE > 1``) a plain ``"cuda"``/``"auto"`` means this process's own GPU,
``cuda:LOCAL_RANK``. Asking for CUDA where there is none is a one-line :class:`~lmrec.errors.ConfigError`
naming the option (the CLI turns it into exit code 2).

``precision``: ``"auto"`` (fp32: on an H200, 2026-12-04, bf16 autocast made textseq's and SASRec's epochs
slower, 0.82 against 0.66 and 0.86 against 0.62 s on ML-100K, at these model widths the casts cost more than
the matrix products save), ``"fp32"`` (no autocast) or ``"bf16"`` (autocast to bfloat16; on the CPU too,
where torch supports it, but it is rarely faster there). Only the training step's forward pass runs under
autocast; the backward pass, the optimiser, validation and scoring stay in fp32 (bf16 scores would tie many
items and blur the ranking metrics). bf16 needs no loss scaling.

Saved models never depend on the device: models save CPU copies of their weights and load on the CPU;
:meth:`lmrec.models.base.BaseRecommender.to` moves a loaded model to a device for scoring.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from lmrec.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import torch

DEVICES_HELP = "auto | cpu | cuda | cuda:N"
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16")
_FORM = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def check_device_spec(spec: str, option: str = "device") -> str:
    """``spec`` lower-cased and stripped if it has one of the accepted forms; else a one-line error."""
    value = str(spec).strip().lower()
    if not _FORM.match(value):
        raise ConfigError(f"option '{option}': must be one of {DEVICES_HELP}, not {spec!r}")
    return value


def resolve_device(spec: str | None = "auto", option: str = "device") -> torch.device:
    """The torch device that ``spec`` names on this machine (see the module docstring)."""
    import torch

    value = check_device_spec(spec or "auto", option)
    if value == "cpu":
        return torch.device("cpu")
    has_cuda = torch.cuda.is_available()
    if value == "auto":
        if not has_cuda:
            return torch.device("cpu")
        value = "cuda"
    if not has_cuda:
        why = "torch was built without CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
        raise ConfigError(f"option '{option}': {value!r} asked for, but {why}; use --device cpu or auto")
    if value == "cuda":
        world = int(os.environ.get("WORLD_SIZE", "1") or 1)
        index = int(os.environ.get("LOCAL_RANK", "0") or 0) if world > 1 else torch.cuda.current_device()
        value = f"cuda:{index}"
    index = int(value.split(":")[1])
    if index >= torch.cuda.device_count():
        raise ConfigError(
            f"option '{option}': {value!r} asked for, but this machine has {torch.cuda.device_count()} GPU(s)"
        )
    return torch.device(value)


def options_device(options: Any) -> torch.device:
    """The device of a :class:`~lmrec.models.base.FitOptions` (or any object with ``device``)."""
    return resolve_device(getattr(options, "device", "auto") or "auto")


def amp_dtype(device: torch.device, precision: str = "auto", option: str = "precision") -> torch.dtype | None:
    """The autocast dtype for ``device`` (None = fp32, no autocast); see the module docstring."""
    import torch

    value = str(precision).strip().lower()
    if value not in PRECISIONS:
        raise ConfigError(f"option '{option}': must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if value == "fp32":
        return None
    if value == "bf16":
        return torch.bfloat16
    return None  # auto: fp32 (see the module docstring for the measurement)


def bf16_matmul_supported(device: torch.device) -> bool:
    """Whether ``device`` multiplies bfloat16 matrices in hardware: a CUDA GPU that supports bf16, or a CPU
    with AMX or AVX512-BF16 (read from /proc/cpuinfo; False where it cannot be read). Elsewhere torch
    emulates bf16 and it is slower than fp32."""
    import torch

    if device.type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager[Any]:
    """``torch.autocast`` to ``dtype`` on ``device`` (a no-op context when ``dtype`` is None)."""
    if dtype is None:
        return contextlib.nullcontext()
    import torch

    return torch.autocast(device_type=device.type, dtype=dtype)


def to_device(batch: Any, device: torch.device) -> Any:
    """``batch`` with every tensor in it (nested tuples, lists, dicts) on ``device``; numpy arrays and other
    values pass unchanged. Tensors already there are not copied."""
    if hasattr(batch, "to") and hasattr(batch, "device"):
        return batch if batch.device == device else batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return type(batch)({k: to_device(v, device) for k, v in batch.items()})
    if isinstance(batch, tuple):
        return tuple(to_device(v, device) for v in batch)
    if isinstance(batch, list):
        return [to_device(v, device) for v in batch]
    return batch


def describe(device: torch.device, dtype: torch.dtype | None) -> dict[str, Any]:
    """What ran where, for ``fit_info``: the device, its name and the autocast dtype."""
    import torch

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    return {
        "device": str(device),
        "device_name": name,
        "amp": str(dtype).replace("torch.", "") if dtype else "fp32",
    }


__all__ = [
    "DEVICES_HELP",
    "PRECISIONS",
    "amp_dtype",
    "autocast",
    "check_device_spec",
    "describe",
    "options_device",
    "resolve_device",
    "to_device",
]
