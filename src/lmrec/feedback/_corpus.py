"""Labelled review corpora for the review model: texts with stars, from the catalog's review datasets.

``review_corpus("mdsd-books")`` -> :class:`ReviewCorpus` (texts, ratings 1-5, binary labels). Sources:

- ``mdsd-<domain>``: Multi-Domain Sentiment Dataset, title + body; labels are the dataset's own polarity
  (4-5 stars positive, 1-2 negative; there are no 3-star reviews).
- ``amazon-magazine`` / ``amazon-gift-cards`` / ``amazon-all-beauty``: Amazon 2018 reviews (deduplicated by
  the loader), summary + body; label 1 for 4-5 stars, 0 for 1-2, -1 (no binary label) for 3.
- ``douban-movies-zh``: Douban short comments (Chinese); unrated comments are left out; labels as Amazon.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lmrec.errors import LmrecError

MDSD_DOMAINS = ("books", "dvd", "electronics")
AMAZON_REVIEWS = ("amazon-magazine", "amazon-gift-cards", "amazon-all-beauty")
CORPORA = (*(f"mdsd-{d}" for d in MDSD_DOMAINS), *AMAZON_REVIEWS, "douban-movies-zh")


@dataclass(frozen=True)
class ReviewCorpus:
    """Reviews with stars. ``label`` is 1 (positive, >= 4 stars), 0 (negative, <= 2 stars) or -1 (3 stars)."""

    name: str
    texts: list[str]
    rating: np.ndarray
    label: np.ndarray
    language: str = "en"

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, rows: np.ndarray) -> ReviewCorpus:
        """The reviews at ``rows`` (indices or a boolean mask)."""
        rows = np.asarray(rows)
        idx = np.flatnonzero(rows) if rows.dtype == bool else rows
        return ReviewCorpus(
            self.name, [self.texts[i] for i in idx], self.rating[idx], self.label[idx], self.language
        )

    def binary(self) -> ReviewCorpus:
        """Only the reviews with a binary label (3-star reviews dropped)."""
        return self.subset(self.label >= 0)


def stars_to_label(rating: np.ndarray) -> np.ndarray:
    """1 for >= 4 stars, 0 for <= 2, -1 for 3 (and anything in between)."""
    r = np.asarray(rating, dtype=np.float32)
    return np.where(r >= 4, 1, np.where(r <= 2, 0, -1)).astype(np.int8)


def review_corpus(
    name: str, format: str | None = None, *, text: str | None = None, rating: str | None = None
) -> ReviewCorpus:
    """The labelled reviews of catalog dataset ``name`` (one of :data:`CORPORA`), or of a file or folder of
    the user's own (an MDSD folder, Amazon review JSON lines, a CSV/Parquet table with ``text`` and
    ``rating`` columns; ``format`` where the path does not tell; see :mod:`lmrec.feedback._files`)."""
    from pathlib import Path

    from lmrec.data.load import missing_message
    from lmrec.data.registry import get_entry, locate

    if name not in CORPORA:
        if Path(name).expanduser().exists() or format is not None or "/" in name or "." in name:
            from lmrec.feedback._files import corpus_from_path

            label, texts, stars = corpus_from_path(name, format, text=text, rating=rating)
            return ReviewCorpus(label, texts, stars, stars_to_label(stars))
        raise LmrecError(
            f"no review corpus '{name}' and no such file or folder; known: {', '.join(CORPORA)} (or give a "
            "path: an MDSD folder, Amazon review JSON lines, a CSV/Parquet table with text and rating)"
        )
    found = locate(name)
    if found is None:
        raise LmrecError(missing_message(get_entry(name)))
    folder, _ = found
    if name.startswith("mdsd-"):
        from lmrec.data.loaders.mdsd import load_reviews

        frame = load_reviews(folder, name.removeprefix("mdsd-"))
        texts = [_join(t, b) for t, b in zip(frame["title"], frame["text"], strict=True)]
        rating = frame["rating"].to_numpy(np.float32)
        return ReviewCorpus(name, texts, rating, frame["label"].to_numpy(np.int8))
    if name == "douban-movies-zh":
        from lmrec.data.loaders.douban import load_comments

        frame = load_comments(folder)
        frame = frame[frame["rating"].notna() & (frame["text"].str.len() > 0)]
        rating = frame["rating"].to_numpy(np.float32)
        return ReviewCorpus(name, frame["text"].tolist(), rating, stars_to_label(rating), language="zh")
    from lmrec.data.load import load_dataset

    inter = load_dataset(name).interactions
    if inter.text is None or inter.rating is None:
        raise LmrecError(f"dataset '{name}' has no review text with ratings")
    keep = np.array([bool(str(t or "").strip()) for t in inter.text])
    rating = inter.rating[keep].astype(np.float32)
    texts = [str(t) for t in inter.text[keep]]
    return ReviewCorpus(name, texts, rating, stars_to_label(rating))


def _join(title: str, body: str) -> str:
    title, body = (title or "").strip(), (body or "").strip()
    if title and body:
        return title + (" " if title[-1] in ".!?" else ". ") + body
    return title or body


def balanced_sample(corpus: ReviewCorpus, per_class: int, *, seed: int = 0) -> ReviewCorpus:
    """A seeded random subset with ``per_class`` positive and ``per_class`` negative reviews (or all of a
    class when it has fewer), in the corpus's order."""
    rng = np.random.default_rng(seed)
    rows = []
    for cls in (1, 0):
        idx = np.flatnonzero(corpus.label == cls)
        rows.append(rng.choice(idx, size=min(per_class, len(idx)), replace=False))
    return corpus.subset(np.sort(np.concatenate(rows)))
