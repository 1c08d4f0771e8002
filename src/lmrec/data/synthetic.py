"""Synthetic datasets of any size, for scale tests: Zipf-like popularity, topical users, long-tailed lengths.

:func:`synthetic_dataset` builds ``n_interactions`` events in memory (vectorised numpy; 10M events take
seconds) with the shape of public recommendation data rather than uniform noise:

* **Sequence lengths** are ``min_length`` plus a log-normal draw (``length_sigma``), scaled so that the mean
  is ``mean_length``: most users have a few events, a few have hundreds (capped at ``max_length``), like
  Amazon reviews after 5-core filtering (Beauty: mean 8.9, median 6, max 204; the default mean is 9) or
  MovieLens (mean 106, median 65).
* **Item popularity** is Zipf-like: the item of popularity rank ``r`` (0-based) is drawn with weight
  ``(r + 1) ** -zipf``; the default 0.6 gives the top 1% / 10% of items 11-16% / 39-45% of the events from
  100k to 10M events (Amazon Beauty: 10% / 43%, Scientific 10% / 37%, ML-100K 7% / 43%). Ranks are mapped
  to item indices by a seeded permutation, so an item's index says nothing about its popularity or time.
* **Topics**: items belong to ``n_topics`` topics (rank ``r`` to topic ``r % n_topics``, so every topic has
  head and tail items). Each user has one topic; each of their events is drawn from it with probability
  ``topic_share`` (Zipf within the topic), else from the whole catalog. Models therefore have something to
  learn, and the item texts and vectors below carry the topic.
* **Time**: each user starts at a uniform time within two years; gaps between events are exponential with a
  mean of one day. Timestamps are seconds, non-decreasing within a user.
* **Item text** (``title``, ``category``) comes from a small vocabulary: a topic's own words plus shared ones,
  so an encoder sees related titles for related items. ``vector_dim > 0`` adds a ``vec`` column: the
  topic's random unit centre plus Gaussian noise (``vector_noise`` per coordinate), unit rows, for models
  that take item vectors from a column (``vector_field="vec"``) without running a text encoder.

The same arguments give the same dataset on every machine.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd

from lmrec.data._dataset import Dataset, Interactions, ItemTable
from lmrec.errors import DataError

_SYLLABLES = (
    "ka",
    "lo",
    "mi",
    "ren",
    "sa",
    "tu",
    "vi",
    "zor",
    "pel",
    "dan",
    "fo",
    "gri",
    "hu",
    "ne",
    "qua",
    "bri",
)
_SHARED_WORDS = 64  # words any title may use
_TOPIC_WORDS = 6  # words of one topic
_START = 1_600_000_000  # 2020-09-13, seconds
_SPAN = 2 * 365 * 86_400
_GAP = 86_400.0


def _words(n: int) -> list[str]:
    """``n`` distinct made-up words of two to four syllables (deterministic)."""
    out: list[str] = []
    for size in (2, 3, 4):
        out += [
            "".join(p) for p in itertools.islice(itertools.product(_SYLLABLES, repeat=size), n - len(out))
        ]
    return out


def zipf_ranks(rng: np.random.Generator, n: int, support: int, exponent: float) -> np.ndarray:
    """``n`` draws of a rank in ``[0, support)`` with weight ``(rank + 1) ** -exponent`` (inverse CDF)."""
    cdf = np.cumsum((np.arange(support, dtype=np.float64) + 1.0) ** -float(exponent))
    u = rng.random(n) * cdf[-1]
    return np.minimum(np.searchsorted(cdf, u, side="right"), support - 1).astype(np.int64)


def sequence_lengths(
    rng: np.random.Generator,
    n_interactions: int,
    *,
    mean_length: float,
    min_length: int,
    max_length: int,
    sigma: float,
) -> np.ndarray:
    """Per-user event counts summing to exactly ``n_interactions`` (the last user may be shorter)."""
    extra = mean_length - min_length
    if extra <= 0:
        lengths = np.full(max(1, -(-n_interactions // min_length)), min_length, dtype=np.int64)
    else:
        mu = np.log(extra + 0.5) - sigma**2 / 2  # mean ``extra + 0.5``, ``extra`` after the floor below
        guess = int(n_interactions / mean_length * 1.3) + 16
        parts: list[np.ndarray] = []
        total = 0
        while total < n_interactions:
            draw = min_length + np.floor(rng.lognormal(mu, sigma, guess)).astype(np.int64)
            draw = np.minimum(draw, max_length)
            parts.append(draw)
            total += int(draw.sum())
        lengths = np.concatenate(parts)
    ends = np.cumsum(lengths)
    keep = int(np.searchsorted(ends, n_interactions, side="left")) + 1
    lengths = lengths[:keep].copy()
    lengths[-1] -= int(lengths.sum()) - n_interactions
    return lengths


def synthetic_dataset(
    n_interactions: int,
    *,
    n_items: int | None = None,
    mean_length: float = 9.0,
    min_length: int = 5,
    max_length: int = 2_000,
    length_sigma: float = 1.0,
    zipf: float = 0.6,
    n_topics: int | None = None,
    topic_share: float = 0.7,
    vector_dim: int = 0,
    vector_noise: float = 0.05,
    seed: int = 0,
) -> Dataset:
    """A dataset of exactly ``n_interactions`` events (see the module docstring).

    ``n_items`` defaults to ``n_interactions // 20`` (at least 100): about Amazon's ratio of events to items.
    ``n_topics`` defaults to ``n_items // 200`` (between 2 and 1,000).
    """
    if n_interactions < 1:
        raise DataError(f"must be >= 1, got {n_interactions}", field="n_interactions")
    if not 1 <= min_length <= mean_length <= max_length:
        raise DataError("need 1 <= min_length <= mean_length <= max_length", field="mean_length")
    n_items = int(n_items if n_items is not None else max(100, n_interactions // 20))
    if n_items < 1:
        raise DataError(f"must be >= 1, got {n_items}", field="n_items")
    n_topics = int(n_topics if n_topics is not None else min(1_000, max(2, n_items // 200)))
    if not 1 <= n_topics <= n_items:
        raise DataError(f"must lie in [1, n_items], got {n_topics}", field="n_topics")
    if not 0.0 <= topic_share <= 1.0:
        raise DataError(f"must lie in [0, 1], got {topic_share}", field="topic_share")
    rng = np.random.default_rng(seed)

    lengths = sequence_lengths(
        rng,
        n_interactions,
        mean_length=mean_length,
        min_length=min_length,
        max_length=max_length,
        sigma=length_sigma,
    )
    n_users = len(lengths)
    user = np.repeat(np.arange(n_users, dtype=np.int32), lengths)

    # popularity rank -> item index, and each rank's topic
    rank_to_item = rng.permutation(n_items).astype(np.int32)
    item_topic = np.empty(n_items, dtype=np.int32)
    item_topic[rank_to_item] = np.arange(n_items) % n_topics
    # a user's topic follows the topics' own popularity (topic t holds ranks t, t + T, ...)
    user_topic = zipf_ranks(rng, n_users, n_topics, zipf)
    in_topic = rng.random(n_interactions) < topic_share
    rank = zipf_ranks(rng, n_interactions, n_items, zipf)
    n_topical = int(in_topic.sum())
    if n_topical:
        topic = user_topic[user[in_topic]]
        per_topic = (n_items - topic + n_topics - 1) // n_topics  # ranks t, t + T, ... below n_items
        within = zipf_ranks(rng, n_topical, int(per_topic.max()), zipf)
        within = np.minimum(within, per_topic - 1)
        rank[in_topic] = within * n_topics + topic
    item = rank_to_item[rank]

    start = rng.integers(_START, _START + _SPAN, n_users)
    gaps = np.ceil(rng.exponential(_GAP, n_interactions)).astype(np.int64)
    first = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    gaps[first] = 0
    run = np.cumsum(gaps)
    timestamp = np.repeat(start, lengths) + run - np.repeat(run[first], lengths)

    interactions = Interactions(
        user=user,
        item=item,
        timestamp=timestamp,
        n_users=n_users,
        n_items=n_items,
        domain="synthetic",
    )
    frame, fields = _item_frame(rng, item_topic, n_topics, vector_dim, vector_noise)
    params: dict[str, Any] = {
        "n_interactions": n_interactions,
        "n_items": n_items,
        "n_users": n_users,
        "mean_length": mean_length,
        "min_length": min_length,
        "max_length": max_length,
        "length_sigma": length_sigma,
        "zipf": zipf,
        "n_topics": n_topics,
        "topic_share": topic_share,
        "vector_dim": vector_dim,
        "seed": seed,
    }
    return Dataset(
        name=f"synthetic-{n_interactions}",
        domain="synthetic",
        interactions=interactions,
        items=ItemTable(frame, text_fields=("title", "category"), vector_fields=fields),
        user_ids=np.char.add("u", np.arange(n_users).astype(str)),
        item_ids=np.char.add("i", np.arange(n_items).astype(str)),
        meta={"source": "lmrec.data.synthetic", "synthetic": params},
    )


def _item_frame(
    rng: np.random.Generator, item_topic: np.ndarray, n_topics: int, vector_dim: int, noise: float
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Titles and categories from a small vocabulary (and optional vectors) for items of these topics."""
    n_items = len(item_topic)
    vocab = np.asarray(_words(_SHARED_WORDS + n_topics * _TOPIC_WORDS))
    shared, topical = vocab[:_SHARED_WORDS], vocab[_SHARED_WORDS:].reshape(n_topics, _TOPIC_WORDS)
    pick = rng.integers(0, _TOPIC_WORDS, (n_items, 2))
    own = topical[item_topic[:, None], pick]
    common = shared[rng.integers(0, _SHARED_WORDS, (n_items, 2))]
    model = rng.integers(100, 1000, n_items).astype(str)
    title = common[:, 0]
    for part in (np.full(n_items, " "), own[:, 0], np.full(n_items, " "), own[:, 1]):
        title = np.char.add(title, part)
    title = np.char.add(np.char.add(title, np.full(n_items, " ")), common[:, 1])
    title = np.char.add(np.char.add(title, np.full(n_items, " ")), model)
    category = np.char.add(topical[item_topic, 0], np.full(n_items, " goods"))
    frame = pd.DataFrame({"title": title.astype(object), "category": category.astype(object)})
    if vector_dim <= 0:
        return frame, ()
    centres = rng.normal(size=(n_topics, vector_dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    vecs = centres[item_topic] + rng.normal(scale=noise, size=(n_items, vector_dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    frame["vec"] = list(vecs)
    return frame, ("vec",)


__all__ = ["sequence_lengths", "synthetic_dataset", "zipf_ranks"]
