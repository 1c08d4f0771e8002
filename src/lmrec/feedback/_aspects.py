"""Aspect keywords per item from its reviews: terms frequent in the item's reviews and rare across items.

Score of term t for item i: ``df_i(t) * log((1 + n_items) / (1 + n_items_with(t)))`` where ``df_i(t)`` is the
number of the item's reviews that contain t (so one long review cannot dominate), counted only when at least
``min_reviews`` of the item's reviews use the term. English: words and two-word phrases without stopwords;
Chinese: character 2-3-grams.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np

from lmrec.feedback.terms import drop_contained, is_cjk_text, terms_of


def aspect_keywords(
    items: Sequence[int] | np.ndarray,
    texts: Sequence[str],
    *,
    top: int = 5,
    min_reviews: int = 2,
    language: str | None = None,
) -> dict[int, list[tuple[str, float]]]:
    """Top aspect terms per item from review ``texts`` (row r is a review of ``items[r]``).

    ``language``: "en", "zh" or None (detected from the texts). Returns item -> [(term, score), ...] best
    first (items without a qualifying term map to an empty list).
    """
    items = np.asarray(items)
    if len(items) != len(texts):
        from lmrec.errors import DataError

        raise DataError(f"{len(items)} items for {len(texts)} review texts")
    if language is None:
        sample = [str(t) for t in texts[:200]]
        language = "zh" if sum(is_cjk_text(t) for t in sample) > len(sample) / 2 else "en"
    per_item: dict[int, Counter[str]] = {}
    for item, text in zip(items.tolist(), texts, strict=True):
        per_item.setdefault(int(item), Counter()).update(set(terms_of(str(text or ""), language)))
    item_df: Counter[str] = Counter()
    for counts in per_item.values():
        item_df.update(counts.keys())
    n = len(per_item)
    out: dict[int, list[tuple[str, float]]] = {}
    for item, counts in per_item.items():
        scored = [
            (t, c * math.log((1 + n) / (1 + item_df[t]))) for t, c in counts.items() if c >= min_reviews
        ]
        scored.sort(key=lambda tc: (-tc[1], tc[0]))
        keep = drop_contained([t for t, _ in scored[: top * 3]])[:top]
        score = dict(scored)
        out[item] = [(t, float(score[t])) for t in keep]
    return out
