"""Summary statistics of a dataset (what ``lmrec datasets stats`` prints)."""

from __future__ import annotations

from typing import Any

import numpy as np

from lmrec.data._dataset import Dataset

QUANTILES = (0.0, 0.25, 0.5, 0.75, 0.9, 1.0)


def dataset_stats(data: Dataset) -> dict[str, Any]:
    """Counts, density, sequence-length quantiles, text coverage and the rating histogram, JSON-ready."""
    inter = data.interactions
    n = len(inter)
    lengths = np.bincount(inter.user, minlength=inter.n_users)
    active = lengths[lengths > 0]
    has_text = data.items.has_text() if data.items.text_fields else np.zeros(data.n_items, dtype=bool)
    out: dict[str, Any] = {
        "name": data.name,
        "domain": data.domain,
        "format": data.meta.get("format"),
        "users": int(data.n_users),
        "items": int(data.n_items),
        "interactions": int(n),
        "items_with_events": int(np.count_nonzero(np.bincount(inter.item, minlength=inter.n_items))),
        "distinct_pairs": int(len(np.unique(inter.user.astype(np.int64) * inter.n_items + inter.item))),
        "density": float(n / (data.n_users * data.n_items)) if data.n_users and data.n_items else 0.0,
        "sequence_length": {
            "mean": float(active.mean()) if len(active) else 0.0,
            **{f"p{int(q * 100)}": float(np.quantile(active, q)) if len(active) else 0.0 for q in QUANTILES},
        },
        "items_with_text": float(has_text.mean()) if len(has_text) else 0.0,
        "text_fields": list(data.items.text_fields),
        "rating_histogram": rating_histogram(inter.rating),
        "event_text": inter.text is not None,
    }
    if data.fixed_split is not None:
        codes = np.bincount(data.fixed_split.astype(np.int64), minlength=3)
        out["fixed_split"] = {"train": int(codes[0]), "valid": int(codes[1]), "test": int(codes[2])}
    return out


def rating_histogram(rating: np.ndarray | None, max_values: int = 20) -> dict[str, int] | None:
    """Counts per rating value (or per ten equal-width bins when there are many distinct values)."""
    if rating is None or len(rating) == 0:
        return None
    values, counts = np.unique(rating, return_counts=True)
    if len(values) <= max_values:
        return {_label(v): int(c) for v, c in zip(values, counts, strict=True)}
    hist, edges = np.histogram(rating, bins=10)
    return {f"{edges[i]:.3g}-{edges[i + 1]:.3g}": int(hist[i]) for i in range(len(hist))}


def _label(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"
