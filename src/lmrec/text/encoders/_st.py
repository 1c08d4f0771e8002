"""``sentence-transformers`` backend: ``SentenceTransformer.encode`` as the library ships it.

Kept as a backend of its own because it is the reference implementation (the peer the fast paths are checked
against) and it loads any sentence-transformers folder, including ones with extra modules (Dense layers).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lmrec.text.encoders._base import EncoderStats, clean_texts, unit_rows, warn_empty
from lmrec.text.encoders._resolve import model_fingerprint, quiet_transformers


class SentenceTransformerEncoder:
    """A SentenceTransformer model loaded from a local folder, on CPU."""

    def __init__(
        self,
        folder: str | Path,
        *,
        name: str | None = None,
        label: str | None = None,
        threads: int | None = None,
    ) -> None:
        import torch
        from sentence_transformers import SentenceTransformer

        if threads is not None:
            torch.set_num_threads(int(threads))
        self.folder = Path(folder)
        with quiet_transformers():
            self.model = SentenceTransformer(str(self.folder), device="cpu")
        self.max_tokens = int(self.model.max_seq_length)
        get_dim = (
            getattr(self.model, "get_embedding_dimension", None)
            or self.model.get_sentence_embedding_dimension
        )
        self.dim = int(get_dim())
        self.name = name or str(self.folder)
        self.pooling = "mean"
        self.model_id = (
            f"{label or self.folder.name}@{model_fingerprint(self.folder)}|st|max{self.max_tokens}|fp32"
        )
        self.stats = EncoderStats()

    def encode(
        self, texts: Sequence[str | None], *, batch_size: int = 64, progress: bool = False
    ) -> np.ndarray:
        """Embed ``texts`` -> float32 ``(n, dim)``, unit rows, input order."""
        t0 = time.perf_counter()
        clean, empty = clean_texts(texts)
        warn_empty(self.name, int(empty.sum()), len(clean))
        if not clean:
            return np.empty((0, self.dim), dtype=np.float32)
        tok = self.model.tokenizer
        lengths = [
            len(x) for x in tok(clean, add_special_tokens=True, truncation=False, verbose=False)["input_ids"]
        ]
        vecs = self.model.encode(
            clean,
            batch_size=batch_size,
            show_progress_bar=progress,
            convert_to_numpy=True,
            normalize_embeddings=False,
        )
        self.stats.texts += len(clean)
        self.stats.empty += int(empty.sum())
        self.stats.truncated += sum(1 for n in lengths if n > self.max_tokens)
        self.stats.seconds += time.perf_counter() - t0
        return unit_rows(vecs)
