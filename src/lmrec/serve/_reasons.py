"""A reason per recommendation, from :mod:`lmrec.explain`: the single history item most responsible for it
and what the two share, in the catalog's language."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from lmrec.index import ItemIndex
from lmrec.models.catalog import Catalog
from lmrec.serve._ranking import Ranked


class Reasons:
    """Builds the service's :class:`lmrec.explain.Explainer` (once per catalog state) and fills in reasons."""

    def __init__(self) -> None:
        self._explainer: Any = None
        self._key: tuple[int, int] | None = None
        self._lock = threading.Lock()

    def explainer(self, catalog: Catalog, text_index: ItemIndex, catalog_seq: int) -> Any:
        """The Explainer over the current catalog, rebuilt after catalog changes.

        Its vectors are the item text index's (a removed item gets a zero vector: it explains nothing); the
        catalog's categories (genres) are the shared attributes when most items have some."""
        from lmrec.explain import Explainer

        key = (catalog.n_items, catalog_seq)
        with self._lock:
            if self._explainer is None or self._key != key:
                n = catalog.n_items
                vecs = np.zeros((n, text_index.dim), dtype=np.float32)
                live = [i for i in range(n) if i in text_index]
                if live:
                    vecs[live] = text_index.vectors(live)
                texts = [t or title for t, title in zip(catalog.texts, catalog.titles, strict=True)]
                with_categories = sum(1 for c in catalog.categories if c)
                attributes = catalog.categories if with_categories > n / 2 else None
                self._explainer = Explainer(vecs, texts, list(catalog.titles), attributes=attributes)
                self._key = key
            return self._explainer

    def explain(self, out: list[Ranked], recent: list[int], ex: Any, model: Any, model_items: int) -> None:
        """Fill ``because`` (the named history item, with its text similarity to the recommendation) and
        ``explanation`` (the sentence) of each item of ``out``; wordings rotate along the list. Items no
        history item points at keep their source's reason."""
        from lmrec.explain import model_contributions

        model_hist = all(i < model_items for i in recent)
        start = out[0].index
        for n, r in enumerate(out):
            contrib = None
            if model_hist and r.index < model_items:
                contrib = model_contributions(model, recent, r.index)  # EASE/ItemKNN: its own terms
            e = ex.explain(r.index, recent, contributions=contrib, variant=start + n)
            if not e.because:
                continue
            named = e.because[0][0]
            r.because, r.explanation = named, e.display()
            r.because_similarity = float(ex.item_vectors[named] @ ex.item_vectors[r.index])
