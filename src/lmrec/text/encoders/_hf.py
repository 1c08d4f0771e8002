"""Hugging Face ``transformers`` backend: AutoModel + mean pooling, length-bucketed batches.

Texts are tokenized once (Rust ``tokenizers``), sorted by token length and cut into batches, so each batch
pads only to its own longest text. With catalog texts of very uneven length this removes most of the padding
work that a fixed-order batcher does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from lmrec.text.encoders._bucketed import BucketedEncoder, truncating_tokenizer
from lmrec.text.encoders._resolve import model_fingerprint, quiet_transformers


def read_pooling(folder: Path) -> str:
    """Pooling mode of a sentence-transformers folder ('mean' unless its Pooling config says 'cls')."""
    cfg = folder / "1_Pooling" / "config.json"
    if cfg.is_file():
        data = json.loads(cfg.read_text(encoding="utf-8"))
        if data.get("pooling_mode_cls_token"):
            return "cls"
    return "mean"


def read_max_tokens(folder: Path, config: Any, tokenizer: Any) -> int:
    """The model's sequence limit: sentence-transformers' max_seq_length, else the position table size."""
    st_cfg = folder / "sentence_bert_config.json"
    if st_cfg.is_file():
        value = json.loads(st_cfg.read_text(encoding="utf-8")).get("max_seq_length")
        if value:
            return int(value)
    limits = [getattr(config, "max_position_embeddings", 512) or 512]
    tmax = getattr(tokenizer, "model_max_length", None)
    if tmax and tmax < 1_000_000:
        limits.append(int(tmax))
    return int(min(limits))


def fp32_model_id(folder: Path, label: str | None, pooling: str, max_tokens: int, prefix: str = "") -> str:
    """The cache identity of a folder's fp32 vectors, shared by every fp32 path (PyTorch, ONNX, ST)."""
    return (
        f"{label or folder.name}@{model_fingerprint(folder)}|{pooling}|max{max_tokens}"
        f"{'|prefix=' + prefix if prefix else ''}|fp32"
    )


def folder_limits(folder: Path) -> tuple[int, str]:
    """``(max_tokens, pooling)`` of a model folder without loading its weights."""
    from transformers import AutoConfig, AutoTokenizer

    config = AutoConfig.from_pretrained(str(folder))
    tok = AutoTokenizer.from_pretrained(str(folder), use_fast=True)
    return read_max_tokens(folder, config, tok), read_pooling(folder)


class TransformersEncoder(BucketedEncoder):
    """Mean- (or CLS-) pooled transformer encoder in PyTorch, fp32 unless ``precision="bf16"``.

    ``folder``: a local model folder (config.json + weights + a fast tokenizer). ``threads``: torch intra-op
    threads to use (None keeps torch's setting, which defaults to the number of physical cores).
    ``device``: where the model runs (``auto``: a CUDA GPU when there is one; see :mod:`lmrec.device`);
    on a GPU the batches run in fp32 too (the cached vectors must not depend on the device beyond rounding).
    ``precision="bf16"``: the weights and activations in bfloat16 (pooling in fp32), for devices that
    multiply bf16 matrices in hardware (:func:`lmrec.device.bf16_matmul_supported`; elsewhere a one-line
    :class:`~lmrec.errors.ConfigError`). Its vectors get their own ``model_id`` (``...|bf16``). Measured on
    this project's 2-core Xeon (AMX), one thread, each at its default batching (2026-12-06): 2.1x the
    texts/s of fp32 ONNX on ML-100K titles and 2.6x on Scientific texts, cosine to fp32 .99996
    (benchmarks/encoders.py).
    """

    def __init__(
        self,
        folder: str | Path,
        *,
        name: str | None = None,
        label: str | None = None,
        threads: int | None = None,
        max_tokens: int | None = None,
        prefix: str = "",
        device: str = "auto",
        precision: str = "fp32",
    ) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        from lmrec.device import bf16_matmul_supported, resolve_device
        from lmrec.errors import ConfigError, LmrecError

        if precision not in ("fp32", "bf16"):
            raise ConfigError(f"encoder precision must be fp32 or bf16, not {precision!r}")
        self.device = resolve_device(device)
        if precision == "bf16" and not bf16_matmul_supported(self.device):  # before loading anything
            where = "this CPU has no bfloat16 matrix units (AMX or AVX512-BF16)"
            if self.device.type == "cuda":
                where = f"{self.device} does not support bfloat16"
            raise ConfigError(
                f"encoder {name or folder}: {where}, so bf16 would be slower than fp32; use minilm "
                "(fp32) or minilm-onnx-int8"
            )

        if threads is not None:
            torch.set_num_threads(int(threads))
        self.folder = Path(folder)
        hf_tok = AutoTokenizer.from_pretrained(str(self.folder), use_fast=True)
        if not getattr(hf_tok, "is_fast", False):
            raise LmrecError(f"encoder {self.folder}: needs a fast tokenizer (tokenizer.json)")
        with quiet_transformers():
            self.model = AutoModel.from_pretrained(str(self.folder), attn_implementation="sdpa").eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.precision = precision
        self.model.to(self.device, dtype=torch.bfloat16 if precision == "bf16" else torch.float32)
        self.pooling = read_pooling(self.folder)
        self.max_tokens = int(max_tokens or read_max_tokens(self.folder, self.model.config, hf_tok))
        # own copy of the Rust tokenizer so changing its truncation does not touch the shared HF object
        self._tok = truncating_tokenizer(hf_tok.backend_tokenizer, self.max_tokens)
        self._pad_id = int(hf_tok.pad_token_id or 0)
        self.prefix = prefix
        self.dim = int(self.model.config.hidden_size)
        self.name = name or str(self.folder)
        self.model_id = fp32_model_id(self.folder, label, self.pooling, self.max_tokens, prefix)
        if precision == "bf16":
            self.model_id = self.model_id.removesuffix("|fp32") + "|bf16"
        super().__init__()

    @property
    def threads(self) -> int:
        """torch's intra-op threads when the encoder runs (they are process-wide)."""
        import torch

        return int(torch.get_num_threads())

    def _no_grad(self) -> Any:
        import torch

        return torch.inference_mode()

    def _forward(self, input_ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        import torch

        input_ids, mask = torch.from_numpy(input_ids).to(self.device), torch.from_numpy(mask).to(self.device)
        hidden = self.model(input_ids=input_ids, attention_mask=mask).last_hidden_state.float()
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            m = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * m).sum(1) / m.sum(1).clamp_min(1.0)
        return pooled.float().cpu().numpy()
