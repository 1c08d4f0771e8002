"""Hugging Face ``transformers`` backend: AutoModel + mean pooling, length-bucketed batches.

Texts are tokenized once (Rust ``tokenizers``), sorted by token length and cut into batches, so each batch
pads only to its own longest text. With catalog texts of very uneven length this removes most of the padding
work that a fixed-order batcher does.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lmrec.text.encoders._base import (
    EncoderStats,
    Progress,
    batches,
    clean_texts,
    unit_rows,
    warn_empty,
)
from lmrec.text.encoders._resolve import model_fingerprint, quiet_transformers

# A token covers at least one character in WordPiece/SentencePiece vocabularies; cutting absurdly long strings
# before tokenizing bounds the tokenizer's work without changing the kept prefix.
_CHARS_PER_TOKEN_BOUND = 64


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


class TransformersEncoder:
    """Mean- (or CLS-) pooled transformer encoder in fp32 PyTorch.

    ``folder``: a local model folder (config.json + weights + a fast tokenizer). ``threads``: torch intra-op
    threads to use (None keeps torch's setting, which defaults to the number of physical cores).
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
    ) -> None:
        import torch
        from tokenizers import Tokenizer
        from transformers import AutoModel, AutoTokenizer

        if threads is not None:
            torch.set_num_threads(int(threads))
        self.folder = Path(folder)
        hf_tok = AutoTokenizer.from_pretrained(str(self.folder), use_fast=True)
        if not getattr(hf_tok, "is_fast", False):
            from lmrec.errors import LmrecError

            raise LmrecError(f"encoder {self.folder}: needs a fast tokenizer (tokenizer.json)")
        with quiet_transformers():
            self.model = AutoModel.from_pretrained(str(self.folder), attn_implementation="sdpa").eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.pooling = read_pooling(self.folder)
        self.max_tokens = int(max_tokens or read_max_tokens(self.folder, self.model.config, hf_tok))
        # own copy of the Rust tokenizer so changing its truncation does not touch the shared HF object
        self._tok = Tokenizer.from_str(hf_tok.backend_tokenizer.to_str())
        self._tok.no_padding()
        self._tok.enable_truncation(self.max_tokens)
        self._pad_id = int(hf_tok.pad_token_id or 0)
        self.prefix = prefix
        self.dim = int(self.model.config.hidden_size)
        self.name = name or str(self.folder)
        base = label or self.folder.name
        self.model_id = (
            f"{base}@{model_fingerprint(self.folder)}|{self.pooling}|max{self.max_tokens}"
            f"{'|prefix=' + prefix if prefix else ''}|fp32"
        )
        self.stats = EncoderStats()

    def tokenize(self, texts: list[str]) -> tuple[list[list[int]], int]:
        """Token ids per text (with special tokens, truncated) and the number of truncated texts."""
        limit = self.max_tokens * _CHARS_PER_TOKEN_BOUND
        cut = [len(t) > limit for t in texts]
        texts = [self.prefix + (t[:limit] if c else t) for t, c in zip(texts, cut, strict=True)]
        encs = self._tok.encode_batch(texts)
        n_trunc = sum(1 for e, c in zip(encs, cut, strict=True) if c or e.overflowing)
        return [e.ids for e in encs], n_trunc

    def encode(
        self, texts: Sequence[str | None], *, batch_size: int = 64, progress: bool = False
    ) -> np.ndarray:
        """Embed ``texts`` -> float32 ``(n, dim)``, unit rows, input order."""
        import torch

        t0 = time.perf_counter()
        clean, empty = clean_texts(texts)
        warn_empty(self.name, int(empty.sum()), len(clean))
        out = np.empty((len(clean), self.dim), dtype=np.float32)
        if not clean:
            return out
        ids, n_trunc = self.tokenize(clean)
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        # longest first: the largest allocation happens at once, and the bar's ETA is pessimistic, not rosy
        order = np.argsort(-lengths, kind="stable")
        with Progress(progress, len(clean), f"encoding ({self.name})") as bar, torch.inference_mode():
            for idx in batches(order, max(1, int(batch_size))):
                width = int(lengths[idx[0]])
                input_ids = np.full((len(idx), width), self._pad_id, dtype=np.int64)
                mask = np.zeros((len(idx), width), dtype=np.int64)
                for r, i in enumerate(idx):
                    n = lengths[i]
                    input_ids[r, :n] = ids[i]
                    mask[r, :n] = 1
                out[idx] = self._forward(torch.from_numpy(input_ids), torch.from_numpy(mask))
                bar.advance(len(idx))
        self.stats.texts += len(clean)
        self.stats.empty += int(empty.sum())
        self.stats.truncated += n_trunc
        self.stats.seconds += time.perf_counter() - t0
        return unit_rows(out)

    def _forward(self, input_ids: Any, mask: Any) -> np.ndarray:
        hidden = self.model(input_ids=input_ids, attention_mask=mask).last_hidden_state
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            m = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * m).sum(1) / m.sum(1).clamp_min(1.0)
        return pooled.float().numpy()
