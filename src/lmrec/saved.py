"""The saved-folder format shared by everything lmrec writes to disk: one JSON file of metadata (the
config, what training found), safetensors files of numpy arrays, and optionally a generated ``README.md``
card. Never pickle: a folder can be read without running code from it.

Used by saved models (:meth:`lmrec.models.base.BaseRecommender.save`: ``config.json`` +
``model.safetensors``), pretrained transformers (``pretrained.json`` + ``weights.safetensors`` +
``domains.safetensors``), review heads (``config.json`` + ``head.safetensors``) and item indexes
(``index.json`` + ``vectors.safetensors``). Reading gives one-line :class:`~lmrec.errors.LmrecError`\\ s
naming the file. This module imports nothing of lmrec but its errors; safetensors loads on first use (writing;
reading is numpy's, see :func:`_read_safetensors`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from lmrec.errors import LmrecError

__all__ = ["CARD_FILE", "first_line", "read_arrays", "read_meta", "write_saved"]

CARD_FILE = "README.md"


def write_saved(
    folder: str | Path,
    *,
    meta_file: str,
    meta: Mapping[str, Any],
    arrays: Mapping[str, Mapping[str, np.ndarray]] | None = None,
    card: str | None = None,
) -> Path:
    """Write ``meta`` as indented JSON to ``folder/meta_file``, each ``arrays[file]`` (name -> numpy array)
    as a safetensors file, and ``card`` (Markdown) as ``README.md``; the folder is created. Returns it."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    if arrays:
        from safetensors.numpy import save_file

        for file, tensors in arrays.items():
            save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(out / file))
    (out / meta_file).write_text(json.dumps(dict(meta), indent=2, default=str), encoding="utf-8")
    if card is not None:
        (out / CARD_FILE).write_text(card, encoding="utf-8")
    return out


def read_meta(folder: str | Path, meta_file: str, *, what: str) -> dict[str, Any]:
    """The JSON object in ``folder/meta_file``; a one-line error naming the file when it is missing (``what``
    says what the folder should have been, e.g. "a saved lmrec model"), not JSON or not an object."""
    p = Path(folder)
    file = p / meta_file
    if not file.is_file():
        raise LmrecError(f"{p}: not {what} (no {meta_file})")
    try:
        meta = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LmrecError(f"{file}: invalid JSON: {exc}") from None
    if not isinstance(meta, dict):
        raise LmrecError(f"{file}: expected a JSON object, not {type(meta).__name__}")
    return meta


def read_arrays(file: str | Path, *, noun: str = "the arrays", hint: str = "") -> dict[str, np.ndarray]:
    """The arrays of a safetensors file; a missing, truncated or foreign file is a one-line error naming it
    (``noun``: what the file holds, e.g. "the weights"; ``hint``: what to do when it is missing)."""
    f = Path(file)
    if not f.is_file():
        state = "is a folder, not a file" if f.exists() else "is missing"
        raise LmrecError(f"{f}: {state} ({hint or noun})")
    try:
        return _read_safetensors(f)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise LmrecError(
            f"{f}: cannot read {noun} ({first_line(exc)}); the file is truncated or not safetensors"
        ) from None


# safetensors' dtype names -> numpy (little-endian, as the format stores them)
_DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
    "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?",
}  # fmt: skip


def _read_safetensors(f: Path) -> dict[str, np.ndarray]:
    """The safetensors layout (an 8-byte little-endian header length, a JSON header of name -> dtype, shape
    and byte offsets, then the data), read with ``np.fromfile``.

    Why not ``safetensors.numpy.load_file``: it holds the GIL while it copies the data. For a 1M-item index
    (1.5 GB) that is 1.1 s, 4 s with two server workers loading at once, and uvicorn kills a worker whose
    health-check thread gets no answer in 5 s: the worker was restarted over and over. numpy releases the
    GIL while it reads, and reads about twice as fast."""
    size = f.stat().st_size
    with f.open("rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise ValueError(f"{size} bytes, less than the 8-byte header length")
        n = int.from_bytes(head, "little")
        if n > size - 8:
            raise ValueError(f"a {n}-byte header in a {size}-byte file")
        header = json.loads(fh.read(n))
        if not isinstance(header, dict):
            raise ValueError("the header is not a JSON object")
        out: dict[str, np.ndarray] = {}
        for name, spec in header.items():
            if name == "__metadata__":
                continue
            if spec.get("dtype") not in _DTYPES:
                raise ValueError(f"{name}: dtype {spec.get('dtype')!r} has no numpy type")
            dtype = np.dtype(_DTYPES[spec["dtype"]])
            shape = tuple(int(d) for d in spec["shape"])
            begin, end = (int(o) for o in spec["data_offsets"])
            count = math.prod(shape)
            if begin < 0 or end - begin != count * dtype.itemsize or 8 + n + end > size:
                raise ValueError(f"{name}: its bytes {begin}..{end} do not fit its shape or the file")
            fh.seek(8 + n + begin)
            data = np.fromfile(fh, dtype=dtype, count=count)
            out[name] = data.reshape(shape).astype(dtype.newbyteorder("="), copy=False)
    return out


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message, with its type when the message is empty."""
    for line in str(exc).splitlines():
        if line.strip():
            text = line.strip()
            return text if len(text) <= 200 else text[:197] + "..."
    return type(exc).__name__
