"""A few sample recommendations with their explanations, for reports: what a person would actually see.

Users are picked deterministically (evenly spread over those with at least five events), each gets the
model's top-``k`` after their whole history, and each item an explanation from
:class:`lmrec.explain.Explainer` (the model's own contributions for EASE and ItemKNN; text or attribute
similarity otherwise). An explanation that fails :meth:`lmrec.explain.Explainer.check` is left out rather
than shown. A popularity model ignores the history, so its items are explained as popular, never as "because
you liked".
"""

from __future__ import annotations

import re
import zlib
from typing import Any

import numpy as np

__all__ = ["sample_recommendations"]

_HISTORY_FREE = frozenset({"pop"})


def display_title(title: str) -> str:
    """A catalog title for people, year kept: "Empire Strikes Back, The (1980)" -> "The Empire Strikes Back
    (1980)"."""
    from lmrec.explain import short_title

    year = re.search(r"\((\d{4})\)\s*$", str(title))
    return short_title(title) + (f" ({year.group(1)})" if year else "")


def _fallback_vectors(
    texts: list[str], attributes: list[tuple[str, ...]] | None, dim: int = 512
) -> np.ndarray:
    """Bag-of-attributes (or hashed bag-of-words) item vectors: enough to find the history item most alike
    the recommended one when no text encoder is at hand."""
    vectors = np.zeros((len(texts), dim), dtype=np.float32)
    for i, text in enumerate(texts):
        words = re.findall(r"\w{3,}", text.lower())
        features = attributes[i] if attributes is not None and attributes[i] else words
        for f in features:
            vectors[i, zlib.crc32(str(f).encode()) % dim] += 1.0
    return vectors


def sample_recommendations(
    model: Any,
    dataset: Any,
    *,
    model_name: str | None = None,
    users: int = 3,
    k: int = 5,
    item_vectors: np.ndarray | None = None,
    recent: int = 5,
) -> list[dict[str, Any]]:
    """``[{"user", "model", "recent": [titles], "items": [{"title", "explanation"}]}]`` for ``users`` users.

    ``item_vectors``: text vectors of the catalog for the explanations (default: the model's own ``vectors``
    when it has them, else bags of the catalog's attributes or words)."""
    from lmrec.explain import Explainer, catalog_attributes
    from lmrec.models.base import UserBatch

    name = model_name or str(getattr(model, "name", "model"))
    history = dataset.interactions.sequences()
    eligible = [u for u in range(dataset.n_users) if len(history[u]) >= 5]
    if not eligible or users <= 0:
        return []
    picks = sorted({eligible[int(i)] for i in np.linspace(0, len(eligible) - 1, min(users, len(eligible)))})
    top, _ = model.recommend(UserBatch(np.asarray(picks, dtype=np.int64), [history[u] for u in picks]), k=k)
    titles = dataset.item_titles()
    texts = dataset.items.texts()
    attributes = catalog_attributes(dataset.items) if dataset.items.categorical_fields else None
    if attributes is not None and not any(attributes):
        attributes = None
    vectors = item_vectors
    if vectors is None:
        own = getattr(model, "vectors", None)
        vectors = own if own is not None and len(own) == len(titles) else _fallback_vectors(texts, attributes)
    explainer = Explainer(np.asarray(vectors), texts, titles, attributes=attributes)
    explainer.model = model
    out = []
    for row, u in enumerate(picks):
        items = [int(i) for i in top[row] if int(i) >= 0]
        hist = history[u]
        if name.split(":")[0].split("#")[0] in _HISTORY_FREE:
            why = ["Popular with other users." for _ in items]
        else:
            why = []
            for e in explainer.explain_many(items, hist):
                why.append(e.text if explainer.check(e, hist) is None else "")
        out.append(
            {
                "user": str(dataset.user_ids[u]),
                "model": name,
                "recent": [_name(explainer, titles, int(i)) for i in hist[-recent:][::-1]],
                "items": [
                    {"title": _name(explainer, titles, i), "explanation": w}
                    for i, w in zip(items, why, strict=True)
                ],  # fmt: skip
            }
        )
    return out


def _name(explainer: Any, titles: list[str], i: int) -> str:
    return display_title(titles[i]) if titles[i] else explainer.display_title(i)
