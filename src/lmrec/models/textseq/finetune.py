"""End-to-end fine-tuning of the sentence encoder while a :class:`~lmrec.models.textseq.TextSeq` trains
(``finetune_encoder``)."""

from __future__ import annotations

import time
from typing import Any

from lmrec.errors import ConfigError
from lmrec.models.textseq.config import TextSeqConfig


class EncoderFinetuner:
    """End-to-end fine-tuning of the top layers of the sentence encoder.

    Each epoch the whole catalog is re-encoded (no gradient) into the model's text buffer; at each step the
    items of the batch are re-encoded *with* gradient and written into the buffer, so the loss reaches the
    unfrozen encoder layers through them (the other rows act as a slightly stale cache, as Recformer does).
    The frozen bottom layers run once per item at the start (their token states are kept), so steps and
    re-encodings only run the unfrozen top layers.
    """

    def __init__(self, cfg: TextSeqConfig, texts: list[str] | None, module: Any, device: Any = "cpu") -> None:
        from lmrec.models.textvec import trainable_encoder

        if texts is None:
            raise ConfigError("textseq: finetune_encoder needs item texts (not a precomputed vector_field)")
        self.texts = texts
        self.module = module
        self.model, self.layers = trainable_encoder(cfg.encoder, cfg.finetune_encoder)
        self.model.to(device)
        t = time.perf_counter()
        self.model.cache_frozen(texts)
        self.cache_seconds = time.perf_counter() - t
        self.reencode_seconds = 0.0
        self.step_seconds = 0.0
        self.n_reencodes = 0

    def parameters(self) -> list[Any]:
        """The encoder parameters that train (its unfrozen top layers)."""
        return [p for p in self.model.parameters() if p.requires_grad]

    def _encode_rows(self, rows: list[int]) -> Any:
        return self.model.forward_cached(rows, [self.texts[i] for i in rows])

    def reencode_catalog(self, batch_size: int = 128) -> None:
        """Re-encode every item text (no gradient) into the module's text buffer."""
        import torch

        t = time.perf_counter()
        self.model.eval()
        with torch.no_grad():
            n = len(self.texts)
            starts = range(0, n, batch_size)
            parts = [self._encode_rows(list(range(s, min(s + batch_size, n)))) for s in starts]
        self.module.text = torch.cat(parts).detach()
        self.module._white = None
        self.reencode_seconds += time.perf_counter() - t
        self.n_reencodes += 1

    def refresh_rows(self, rows: Any) -> None:
        """Re-encode the items ``rows`` (a tensor) with gradient into the module's text buffer."""
        import torch

        t = time.perf_counter()
        self.model.train()
        fresh = self._encode_rows(rows.tolist())
        text = self.module.text.detach().clone()
        index = rows.unsqueeze(1).expand(-1, text.shape[1])
        self.module.text = torch.scatter(text, 0, index, fresh.to(text.dtype))  # bf16 under autocast
        self.step_seconds += time.perf_counter() - t

    def stats(self) -> dict[str, Any]:
        """Timings and counts of the fine-tuning (for ``fit_info["finetune"]``)."""
        return {
            "layers": self.layers,
            "frozen_layers_seconds": round(self.cache_seconds, 2),
            "reencode_seconds": round(self.reencode_seconds, 2),
            "encoder_step_seconds": round(self.step_seconds, 2),
            "n_reencodes": self.n_reencodes,
        }
