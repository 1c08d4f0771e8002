"""``sentence-transformers`` backend: ``SentenceTransformer.encode`` as the library ships it.

Kept as a backend of its own because it is the reference implementation (the peer the fast paths are checked
against) and it loads any sentence-transformers folder, including ones with extra modules (Dense layers).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lmrec.text.encoders._base import BaseEncoder, Progress
from lmrec.text.encoders._hf import fp32_model_id, read_pooling
from lmrec.text.encoders._resolve import quiet_transformers


class SentenceTransformerEncoder(BaseEncoder):
    """A SentenceTransformer model loaded from a local folder, on ``device`` (see :mod:`lmrec.device`; the
    CPU unless another device is asked for: this is the reference the fast paths are checked against)."""

    def __init__(
        self,
        folder: str | Path,
        *,
        name: str | None = None,
        label: str | None = None,
        threads: int | None = None,
        device: str = "cpu",
    ) -> None:
        import torch
        from sentence_transformers import SentenceTransformer

        from lmrec.device import resolve_device

        super().__init__()
        if threads is not None:
            torch.set_num_threads(int(threads))
        self.folder = Path(folder)
        self.device = resolve_device(device)
        with quiet_transformers():
            self.model = SentenceTransformer(str(self.folder), device=str(self.device))
        self.max_tokens = int(self.model.max_seq_length)
        get_dim = (
            getattr(self.model, "get_embedding_dimension", None)
            or self.model.get_sentence_embedding_dimension
        )
        self.dim = int(get_dim())
        self.name = name or str(self.folder)
        self.pooling = "mean"
        # same vectors as the other fp32 paths (checked in tests), so the same cache identity
        self.model_id = fp32_model_id(self.folder, label, read_pooling(self.folder), self.max_tokens)

    def _embed(
        self, texts: list[str], batch_size: int, progress: bool, *, batch_tokens: int = 0
    ) -> tuple[np.ndarray, int]:
        # batch_tokens: not used (batches of batch_size texts)
        tok = self.model.tokenizer
        ids = tok(texts, add_special_tokens=True, truncation=False, verbose=False)["input_ids"]
        parts = []
        step = max(1, batch_size) * 16
        with Progress(progress, len(texts), f"encoding ({self.name})") as bar:  # one progress system
            for lo in range(0, len(texts), step):
                chunk = texts[lo : lo + step]
                parts.append(
                    self.model.encode(
                        chunk,
                        batch_size=batch_size,
                        show_progress_bar=False,
                        convert_to_numpy=True,
                        normalize_embeddings=False,
                    )
                )
                bar.advance(len(chunk))
        vecs = np.concatenate(parts) if parts else np.zeros((0, self.dim), np.float32)
        return np.asarray(vecs, dtype=np.float32), sum(1 for x in ids if len(x) > self.max_tokens)
