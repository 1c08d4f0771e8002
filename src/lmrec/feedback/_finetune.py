"""Fine-tune the top layers of the MiniLM review encoder on labelled reviews (the expensive option).

The lower transformer layers stay frozen; the top ``layers`` layers and a linear sentiment head on the
mean-pooled, unit-normalised output are trained with binary cross-entropy (AdamW). The tuned encoder is saved
as a plain transformers folder (config, weights, tokenizer), which ``lmrec.text.get_encoder(folder)`` and
:class:`~lmrec.feedback.ReviewModel` (``encoder=str(folder)``) load like any local model; a frozen head is
then trained on its vectors as usual.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lmrec.errors import DataError


def finetune_encoder(
    texts: Sequence[str],
    labels: np.ndarray,
    out: str | Path,
    *,
    base: str | Path | None = None,
    layers: int = 2,
    epochs: int = 1,
    batch_size: int = 16,
    lr: float = 3e-5,
    max_tokens: int = 128,
    seed: int = 0,
    max_seconds: float | None = None,
) -> dict[str, Any]:
    """Fine-tune the top ``layers`` of ``base`` (default: all-MiniLM-L6-v2) on (``texts``, 1/0 ``labels``),
    save the encoder to ``out`` and return a summary (steps, seconds, last loss)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from lmrec.text.encoders import minilm_folder

    y = np.asarray(labels)
    keep = y >= 0
    texts = [t for t, k in zip(texts, keep, strict=True) if k]
    y = y[keep].astype(np.float32)
    if len(texts) < 2 or len(np.unique(y)) < 2:
        raise DataError("fine-tuning needs labelled reviews of both classes")
    folder = Path(base) if base is not None else minilm_folder()
    torch.manual_seed(seed)
    tok = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModel.from_pretrained(str(folder))
    n_layers = len(model.encoder.layer)
    for p in model.parameters():
        p.requires_grad_(False)
    trainable = [p for layer in model.encoder.layer[max(0, n_layers - layers) :] for p in layer.parameters()]
    for p in trainable:
        p.requires_grad_(True)
    head = torch.nn.Linear(model.config.hidden_size, 1)
    opt = torch.optim.AdamW(trainable, lr=lr)
    head_opt = torch.optim.AdamW(head.parameters(), lr=1e-2)  # the fresh head needs a larger step
    order = np.random.default_rng(seed).permutation(len(texts))
    steps, start, last = 0, time.perf_counter(), float("nan")
    model.train()
    for _ in range(epochs):
        for s in range(0, len(texts), batch_size):
            rows = order[s : s + batch_size].tolist()
            enc = tok(
                [texts[i] for i in rows],
                padding=True,
                truncation=True,
                max_length=max_tokens,
                return_tensors="pt",
            )
            hidden = model(**enc).last_hidden_state
            m = enc["attention_mask"].unsqueeze(-1).float()
            pooled = torch.nn.functional.normalize((hidden * m).sum(1) / m.sum(1).clamp_min(1), dim=-1)
            logit = head(pooled * 10.0).squeeze(-1)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logit, torch.from_numpy(y[rows]))
            opt.zero_grad()
            head_opt.zero_grad()
            loss.backward()
            opt.step()
            head_opt.step()
            steps += 1
            last = float(loss.detach())
            if max_seconds and time.perf_counter() - start > max_seconds:
                break
    model.eval()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    tok.save_pretrained(str(out))
    summary = {
        "base": str(folder),
        "layers": layers,
        "epochs": epochs,
        "steps": steps,
        "n": len(texts),
        "seconds": round(time.perf_counter() - start, 1),
        "last_loss": last,
        "max_tokens": max_tokens,
    }
    (out / "lmrec_finetune.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary
