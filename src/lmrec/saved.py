"""The saved-folder format shared by everything lmrec writes to disk: one JSON file of metadata (the
config, what training found), safetensors files of numpy arrays, and optionally a generated ``README.md``
card. Never pickle: a folder can be read without running code from it.

Used by saved models (:meth:`lmrec.models.base.BaseRecommender.save`: ``config.json`` +
``model.safetensors``), pretrained transformers (``pretrained.json`` + ``weights.safetensors`` +
``domains.safetensors``), review heads (``config.json`` + ``head.safetensors``) and item indexes
(``index.json`` + ``vectors.safetensors``). Reading gives one-line :class:`~lmrec.errors.LmrecError`\\ s
naming the file. This module imports nothing of lmrec but its errors; safetensors loads on first use.
"""

from __future__ import annotations

import json
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
    from safetensors.numpy import load_file

    f = Path(file)
    if not f.is_file():
        state = "is a folder, not a file" if f.exists() else "is missing"
        raise LmrecError(f"{f}: {state} ({hint or noun})")
    try:
        return load_file(str(f))
    except Exception as exc:  # safetensors raises its own error types for damaged files
        raise LmrecError(
            f"{f}: cannot read {noun} ({first_line(exc)}); the file is truncated or not safetensors"
        ) from None


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message, with its type when the message is empty."""
    for line in str(exc).splitlines():
        if line.strip():
            text = line.strip()
            return text if len(text) <= 200 else text[:197] + "..."
    return type(exc).__name__
