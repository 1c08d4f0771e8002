"""Data preparation for :class:`~lmrec.models.textseq.TextSeq` (numpy only): the last event per user
(validation targets), ratings aligned with the training windows, item feature matrices, negative-sampling
probabilities and checks of item vectors. :mod:`lmrec.transfer` and :mod:`lmrec.compress` use them too."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from lmrec.data import Interactions, ItemTable
from lmrec.errors import ConfigError, LmrecError
from lmrec.models.seqdata import training_windows
from lmrec.models.textprior import unit_rows  # noqa: F401 - re-exported for textseq


def check_vectors(vectors: np.ndarray, dim: int) -> np.ndarray:
    """``vectors`` as a contiguous float32 (n, ``dim``) matrix; a one-line error if the shape is wrong or a
    value is not finite (item vectors given by a user: new items, scored vectors)."""
    vecs = np.asarray(vectors, dtype=np.float32)
    if vecs.ndim != 2 or vecs.shape[1] != dim:
        raise LmrecError(f"item vectors must have shape (n, {dim}), got {vecs.shape}")
    if not np.isfinite(vecs).all():
        raise LmrecError("item vectors contain NaN or infinite values")
    return np.ascontiguousarray(vecs)


def rating_windows(
    train: Interactions, histories: list[np.ndarray], max_len: int
) -> tuple[np.ndarray, tuple[float, float]]:
    """Ratings aligned with the targets of :func:`training_windows` over ``histories`` (NaN where there is no
    target), and the training ratings' (mean, std) used to standardise them."""
    if train.rating is None:
        raise ConfigError(
            "textseq: aux_rating_weight / aux_sentiment_weight need ratings in the training data"
        )
    order = train.time_order()  # the order of train.sequences(), which made ``histories``
    ratings = np.asarray(train.rating, dtype=np.float32)[order]
    mean = float(ratings.mean()) if len(ratings) else 0.0
    std = float(ratings.std()) if len(ratings) else 0.0
    if not std > 0:
        raise ConfigError(
            "textseq: the training ratings are all equal; nothing for an auxiliary head to learn"
        )
    bounds = np.cumsum([0] + [len(h) for h in histories])
    rows = [np.arange(bounds[u], bounds[u + 1], dtype=np.int64) for u in range(len(histories))]
    # the same windows as the item targets, but over event row numbers
    _, target_rows = training_windows(histories, max_len, targets=rows)
    out = np.full(target_rows.shape, np.nan, dtype=np.float32)
    has = target_rows >= 0
    out[has] = ratings[target_rows[has]]
    return out, (mean, std)


def last_event_per_user(inter: Interactions) -> tuple[np.ndarray, np.ndarray]:
    """(users, items): each user's last interaction in time order (ties keep the data's order), users
    ascending; the next-item targets of a validation or test split."""
    order = inter.time_order()
    users, items = inter.user[order], inter.item[order]
    last = np.r_[users[1:] != users[:-1], True] if len(users) else np.zeros(0, bool)
    return users[last].astype(np.int64), items[last].astype(np.int64)


def item_features(
    items: ItemTable | None, names: tuple[str, ...], n_items: int
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Numeric (standardised), categorical (index lists, 0 = none) and vector feature matrices per item for
    the item columns ``names``, and their spec (saved as ``fit_info["arch"]["features"]``); a one-line error
    naming the column if one is not a declared field of ``items``."""
    feats: dict[str, np.ndarray] = {}
    spec = no_features()
    if not names:
        return feats, spec
    if items is None:
        raise ConfigError("textseq: option 'features' needs an item table (fit(items=...))")
    numeric = []
    for name in names:
        if name in items.numeric_fields:
            col = np.asarray(items.frame[name].to_numpy(), dtype=np.float64)
            mean = np.nanmean(col) if np.isfinite(col).any() else 0.0
            std = np.nanstd(col) if np.isfinite(col).any() else 1.0
            col = np.where(np.isfinite(col), (col - mean) / (std or 1.0), 0.0)
            numeric.append(col.astype(np.float32))
            spec["numeric"].append(name)
        elif name in items.categorical_fields:
            values = items.frame[name].tolist()
            lists = [_as_list(v) for v in values]
            vocab = {v: i + 1 for i, v in enumerate(sorted({str(x) for lst in lists for x in lst}))}
            width = max(1, max((len(lst) for lst in lists), default=1))
            mat = np.zeros((n_items, width), dtype=np.int64)
            for row, lst in enumerate(lists):
                for j, x in enumerate(lst):
                    mat[row, j] = vocab[str(x)]
            feats[f"cat.{name}"] = mat
            spec["categorical"][name] = len(vocab) + 1
        elif name in items.vector_fields:
            mat = np.stack([np.asarray(v, dtype=np.float32) for v in items.frame[name].tolist()])
            feats[f"vec.{name}"] = np.nan_to_num(mat)
            spec["vector"][name] = int(mat.shape[1])
        else:
            raise ConfigError(
                f"invalid TextSeqConfig: option 'features': item column {name!r} is not a declared numeric, "
                "categorical or vector field of the item table"
            )
    if numeric:
        feats["numeric"] = np.stack(numeric, axis=1)
    return feats, spec


def _as_list(v: Any) -> list[Any]:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return []
    if isinstance(v, (list, tuple, np.ndarray)):
        return list(v)
    if isinstance(v, str) and "|" in v:
        return [x for x in v.split("|") if x]
    return [v]


def no_features() -> dict[str, Any]:
    """The feature spec of a model without item feature columns."""
    return {"numeric": [], "categorical": {}, "vector": {}}
