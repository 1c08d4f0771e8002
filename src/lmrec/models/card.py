"""A generated ``README.md`` model card for saved models: data, split, metrics, training time, config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def model_card(model: Any) -> str:
    """Markdown describing a fitted model from its ``config`` and ``fit_info``."""
    info: dict[str, Any] = dict(model.fit_info)
    lines = [f"# lmrec model: `{model.name}`", ""]
    lines += ["## Data", ""]
    data = info.get("dataset") or {}
    rows = [
        ("dataset", data.get("name")),
        ("domain", info.get("domain") or data.get("domain")),
        ("users", model.n_users),
        ("items", model.n_items),
        ("training interactions", info.get("n_train_events")),
        ("training data fingerprint", info.get("train_fingerprint")),
    ]
    split = info.get("split") or {}
    if split:
        rows += [("split protocol", split.get("protocol")), ("split hash", split.get("split_hash"))]
    lines += [f"- {k}: {v}" for k, v in rows if v is not None]
    ref = info.get("item_vectors")
    if ref:
        lines += ["", "## Item vectors", ""]
        lines += [f"- {k}: {v}" for k, v in ref.items() if v is not None]
    lines += ["", "## Metrics", ""]
    metrics = info.get("metrics") or {}
    train = info.get("train") or {}
    if metrics:
        lines += ["| metric | value |", "|---|---|"] + [f"| {k} | {_fmt(v)} |" for k, v in metrics.items()]
    if train.get("best_epoch"):
        best = train.get("best_metric", float("nan"))
        what = f"validation {train.get('monitor') or 'metric'}"
        lines += ["", f"best {what} {best:.4f} at epoch {train['best_epoch']} of {train.get('epochs_run')}"]
    if not metrics and not train:
        lines += ["(no metrics recorded)"]
    lines += ["", "## Training", ""]
    for key in ("fit_seconds", "encode_seconds"):
        if key in info:
            lines.append(f"- {key.replace('_', ' ')}: {info[key]}")
    if train.get("seconds") is not None:
        lines.append(f"- training loop seconds: {train['seconds']}")
    aux = info.get("aux") or {}
    if aux:
        cfg = model.config
        lines += ["", "## Auxiliary tasks", ""]
        lines.append(
            f"- rating head weight {cfg.aux_rating_weight}, positive-rating (>= {cfg.sentiment_threshold}) "
            f"head weight {cfg.aux_sentiment_weight}; training ratings mean {aux.get('rating_mean', 0):.3f}, "
            f"std {aux.get('rating_std', 0):.3f}"
        )
        if aux.get("train_history"):
            lines.append(f"- last epoch's auxiliary losses: {aux['train_history'][-1]}")
    distill = info.get("distill") or {}
    if distill:
        lines += ["", "## Distillation", ""]
        lines.append(
            f"- distilled from a teacher of {distill.get('teacher_parameters')} parameters into "
            f"{distill.get('student_parameters')} (temperature {distill.get('temperature')}, "
            f"alpha {distill.get('alpha')})"
        )
        for k, v in (distill.get("teacher_metrics") or {}).items():
            lines.append(f"- teacher {k}: {_fmt(v)}")
    lines += ["", "## Config", "", "```json", json.dumps(model.config.to_dict(), indent=2), "```", ""]
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def write_model_card(model: Any, out: Path) -> Path:
    path = Path(out) / "README.md"
    path.write_text(model_card(model), encoding="utf-8")
    return path
