"""Shared loop of the token-level backends: tokenize once, sort by token length, pad per batch, pool.

Sorting by *token* length (not characters) and padding each batch only to its own longest text removes most of
the padding work on catalog texts of uneven length. Subclasses provide ``_forward(ids, mask) -> pooled``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from lmrec.text.encoders._base import BaseEncoder, Progress

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

    # per thread: a batch gives every thread as much work as one thread gets at one thread
    CPU_TEXTS, CPU_TOKENS = 32, 512
    BF16_TEXTS, BF16_TOKENS = 64, 2048

    def default_batch_size(self) -> int:
        """At most 32 texts per batch and thread on the CPU (64 in bf16), 64 on a GPU; see
        :meth:`default_batch_tokens`.

        On a 2-core Xeon (2026-12-06, 1,000 texts per dataset) plain batches of 32 encoded 7% (ML-100K
        titles) and 18% (Scientific texts) more texts/s with fp32 ONNX than batches of 64 at one thread."""
        if self._on_gpu():
            return 64
        return (self.BF16_TEXTS if self._bf16() else self.CPU_TEXTS) * self._threads()

    def default_batch_tokens(self) -> int | None:
        """At most 512 padded tokens per batch and thread on the CPU (2048 in bf16), no bound on a GPU (not
        measured).

        A batch of 32 texts of a few hundred tokens pads to its longest text and its activations (attention
        scores grow with the square of the length) leave the cache. Bounded by tokens, long texts go in small
        batches of similar length and short ones still go 32 at a time. On the same Xeon
        (``benchmarks/encoder_batching.py``, 1,000 texts per dataset), against plain batches of 32: at one
        thread fp32 ONNX 1.27x the texts/s on Scientific texts (68.8 against 54.1) and 1.04x on titles, int8
        ONNX 1.46x and 0.99x; at two threads 512 tokens (and 32 texts) gave 1.10x and 1.02x (fp32), 0.98x
        and 1.00x (int8), and 1,024 tokens (and 64 texts) 1.15x, 1.02x, 1.08x and 1.06x: the budget grows
        with the threads, so that many threads do not split a small batch into slivers. bf16's activations
        take half the bytes and its matrix units gain from longer products: 2048 tokens and 64 texts encoded
        1.09x (titles) and 1.13x (Scientific) the texts/s of plain batches of 32 at one thread (300 texts
        per dataset)."""
        if self._on_gpu():
            return None
        return (self.BF16_TOKENS if self._bf16() else self.CPU_TOKENS) * self._threads()

    def _threads(self) -> int:
        return max(1, int(getattr(self, "threads", None) or 1))

    def _on_gpu(self) -> bool:
        return getattr(getattr(self, "device", None), "type", "cpu") == "cuda"

    def _bf16(self) -> bool:
        return getattr(self, "precision", "fp32") == "bf16"

    def tokenize(self, texts: list[str]) -> tuple[list[list[int]], int]:
        """Token ids per text (with special tokens, truncated) and the number of truncated texts."""
        limit = self.max_tokens * CHARS_PER_TOKEN_BOUND
        cut = [len(t) > limit for t in texts]
        texts = [self.prefix + (t[:limit] if c else t) for t, c in zip(texts, cut, strict=True)]
        encs = self._tok.encode_batch(texts)
        n_trunc = sum(1 for e, c in zip(encs, cut, strict=True) if c or e.overflowing)
        return [e.ids for e in encs], n_trunc

    def _embed(
        self, texts: list[str], batch_size: int, progress: bool, *, batch_tokens: int = 0
    ) -> tuple[np.ndarray, int]:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        ids, n_trunc = self.tokenize(texts)
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        # longest first: the largest allocation happens at once, and the bar's ETA is pessimistic, not rosy
        order = np.argsort(-lengths, kind="stable")
        with Progress(progress, len(texts), f"encoding ({self.name})") as bar, self._no_grad():
            for idx in token_batches(order, lengths, batch_size, batch_tokens):
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


def token_batches(
    order: np.ndarray, lengths: np.ndarray, max_texts: int, max_tokens: int = 0
) -> Iterator[np.ndarray]:
    """Consecutive chunks of ``order`` (indices sorted longest first): each at most ``max_texts`` long and,
    when ``max_tokens`` > 0, at most ``max_tokens`` padded tokens (rows x the first, longest, text's length);
    a text longer than ``max_tokens`` goes alone."""
    start = 0
    while start < len(order):
        n = max_texts
        if max_tokens > 0:
            n = max(1, min(max_texts, max_tokens // max(int(lengths[order[start]]), 1)))
        yield order[start : start + n]
        start += n


def mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean of the token vectors where ``mask`` is 1 (numpy)."""
    m = mask[..., None].astype(np.float32)
    return (hidden * m).sum(1) / np.maximum(m.sum(1), 1.0)
