"""The model card of a compressed model: the parent's card plus a "Compression" section."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def text_prior_line(prior: Any) -> str:
    """One line on what compression did with the model's text prior (``fit_info["compression"]
    ["text_prior"]``: the codec's description when kept, ``"dropped"`` or ``"none"``)."""
    if isinstance(prior, dict):
        return (
            f"text prior: kept, item text vectors {prior['method']} "
            f"({prior['bytes_per_item']} B/item, {prior['total_bytes'] / 1e6:.2f} MB)"
        )
    if prior == "dropped":
        return "text prior: dropped (the learned score only; --text-prior keep keeps it)"
    return "text prior: none (the model had none)"


def compression_section(info: dict[str, Any]) -> str:
    """Markdown describing what :func:`lmrec.compress.compress_model` did and what it measured."""
    lines = ["## Compression", ""]
    if info.get("source"):
        lines.append(f"- converted from: `{info['source']}`")
    if info.get("encoder"):
        lines.append(
            f"- text encoder for new items and queries: `{info['encoder']}` "
            f"(was `{info.get('encoder_before')}`)"
        )
    lines.append(
        f"- sequence transformer Linear layers int8 (dynamic quantization): {bool(info.get('dynamic_int8'))}"
    )
    prune = info.get("prune")
    if prune:
        lines.append(
            f"- pruning: {prune['kind']} {prune['amount']:.0%} of the transformer projections; zero share "
            f"{prune.get('pruned_params_zero_share', 0):.3f}; "
            f"fine-tuned {prune.get('finetune_epochs', 0)} epoch(s)"
        )
    vec = info.get("vectors") or {}
    if vec:
        lines.append(
            f"- item representations: {vec['method']} "
            + ", ".join(f"{k} {v}" for k, v in vec.items() if k != "method")
        )
    lines.append(f"- {text_prior_line(info.get('text_prior'))}")
    checks = info.get("checks") or {}
    if checks:
        lines += ["", "| check | value |", "|---|---|"]
        lines += [
            f"| {k} | {v:.4f} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in checks.items()
        ]
    lines += ["", "```json", json.dumps(info, indent=2, default=str), "```", ""]
    return "\n".join(lines)


def write_compressed_card(model: Any, out: Path) -> Path:
    from lmrec.models.card import model_card

    text = model_card(model).replace("# lmrec model:", "# lmrec model (compressed):", 1)
    marker = "## Config"
    section = compression_section(model.fit_info.get("compression") or {})
    text = text.replace(marker, section + "\n" + marker, 1) if marker in text else text + "\n" + section
    path = Path(out) / "README.md"
    path.write_text(text, encoding="utf-8")
    return path
