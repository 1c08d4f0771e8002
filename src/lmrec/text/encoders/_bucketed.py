"""Shared loop of the token-level backends: tokenize once, sort by token length, pad per batch, pool.

Sorting by *token* length (not characters) and padding each batch only to its own longest text removes most of
the padding work on catalog texts of uneven length. Subclasses provide ``_forward(ids, mask) -> pooled``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lmrec.text.encoders._base import BaseEncoder, Progress, batches

# A token covers at least one character in WordPiece/SentencePiece vocabularies; cutting absurdly long strings
# before tokenizing bounds the tokenizer's work without changing the kept prefix.
CHARS_PER_TOKEN_BOUND = 64


def truncating_tokenizer(tokenizer: Any, max_tokens: int) -> Any:
    """A private copy of a Rust ``tokenizers.Tokenizer`` that truncates to ``max_tokens`` and never pads."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_str(tokenizer.to_str())
    tok.no_padding()
    tok.enable_truncation(int(max_tokens))
    return tok


class BucketedEncoder(BaseEncoder):
    """Base of the transformer backends (fp32 PyTorch, ONNX int8)."""

    name: str
    model_id: str
    dim: int
    max_tokens: int
    prefix: str = ""
    _tok: Any
    _pad_id: int = 0

    def default_batch_size(self) -> int:
        """32 texts on the CPU, 64 on a GPU. Why 32: length-sorted batches of 32 pad less and stay in cache.
        On a 2-core Xeon (2026-12-06, 1,000 texts per dataset) fp32 ONNX encoded 7% (ML-100K titles) and 18%
        (Scientific texts) more texts/s than with 64 at one thread, 2% and 15% at two; in
        ``benchmarks/encoders.py --batch-size 32`` against 64, int8 ONNX was faster at 32 too and bf16 about
        as fast (titles) or faster. A GPU keeps 64."""
        device = getattr(self, "device", None)
        return 64 if getattr(device, "type", "cpu") == "cuda" else 32

    def tokenize(self, texts: list[str]) -> tuple[list[list[int]], int]:
        """Token ids per text (with special tokens, truncated) and the number of truncated texts."""
        limit = self.max_tokens * CHARS_PER_TOKEN_BOUND
        cut = [len(t) > limit for t in texts]
        texts = [self.prefix + (t[:limit] if c else t) for t, c in zip(texts, cut, strict=True)]
        encs = self._tok.encode_batch(texts)
        n_trunc = sum(1 for e, c in zip(encs, cut, strict=True) if c or e.overflowing)
        return [e.ids for e in encs], n_trunc

    def _embed(self, texts: list[str], batch_size: int, progress: bool) -> tuple[np.ndarray, int]:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        ids, n_trunc = self.tokenize(texts)
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        # longest first: the largest allocation happens at once, and the bar's ETA is pessimistic, not rosy
        order = np.argsort(-lengths, kind="stable")
        with Progress(progress, len(texts), f"encoding ({self.name})") as bar, self._no_grad():
            for idx in batches(order, batch_size):
                width = int(lengths[idx[0]])
                input_ids = np.full((len(idx), width), self._pad_id, dtype=np.int64)
                mask = np.zeros((len(idx), width), dtype=np.int64)
                for r, i in enumerate(idx):
                    n = lengths[i]
                    input_ids[r, :n] = ids[i]
                    mask[r, :n] = 1
                out[idx] = self._forward(input_ids, mask)
                bar.advance(len(idx))
        return out, n_trunc

    def _no_grad(self) -> Any:
        import contextlib

        return contextlib.nullcontext()

    def _forward(self, input_ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        raise NotImplementedError


def mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean of the token vectors where ``mask`` is 1 (numpy)."""
    m = mask[..., None].astype(np.float32)
    return (hidden * m).sum(1) / np.maximum(m.sum(1), 1.0)
