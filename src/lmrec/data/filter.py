"""Filters: k-core and deduplication. Pure functions: they return a new :class:`Dataset` and never modify the
one they are given.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd

from lmrec.data._dataset import Dataset, Interactions, ItemTable, UserTable
from lmrec.errors import DataError

DEDUP_KEYS = ("user", "item", "timestamp", "rating", "text")


def select_interactions(data: Dataset, rows: np.ndarray, *, drop_unused: bool = True) -> Dataset:
    """The dataset restricted to interaction ``rows`` (a boolean mask or indices; file order is kept).

    With ``drop_unused`` users and items left without events are removed and the rest re-indexed densely,
    in their old order; otherwise the index spaces (and the catalog) stay as they are. ``fixed_split`` and
    ``meta`` arrays holding one value per interaction are subset alike.
    """
    inter = data.interactions
    rows = np.asarray(rows)
    mask = rows if rows.dtype == bool else np.isin(np.arange(len(inter)), rows)
    if len(mask) != len(inter):
        raise DataError(f"row mask has length {len(mask)} for {len(inter)} interactions")
    sub = inter.subset(mask)
    meta = {
        k: (v[mask] if isinstance(v, np.ndarray) and v.ndim >= 1 and len(v) == len(inter) else v)
        for k, v in data.meta.items()
        if k != "cache"
    }
    fixed = None if data.fixed_split is None else data.fixed_split[mask]
    if not drop_unused:
        return dataclasses.replace(data, interactions=sub, fixed_split=fixed, meta=meta)

    keep_users = np.unique(sub.user)
    keep_items = np.unique(sub.item)
    user_map = np.full(inter.n_users, -1, dtype=np.int64)
    user_map[keep_users] = np.arange(len(keep_users))
    item_map = np.full(inter.n_items, -1, dtype=np.int64)
    item_map[keep_items] = np.arange(len(keep_items))
    new_inter = Interactions(
        user=user_map[sub.user],
        item=item_map[sub.item],
        timestamp=sub.timestamp,
        n_users=len(keep_users),
        n_items=len(keep_items),
        rating=sub.rating,
        text=sub.text,
        domain=sub.domain,
    )
    items = data.items
    new_items = ItemTable(
        items.frame.iloc[keep_items].reset_index(drop=True),
        text_fields=items.text_fields,
        numeric_fields=items.numeric_fields,
        categorical_fields=items.categorical_fields,
        vector_fields=items.vector_fields,
    )
    users = None
    if data.users is not None:
        users = UserTable(data.users.frame.iloc[keep_users].reset_index(drop=True), data.users.text_fields)
    return Dataset(
        name=data.name,
        domain=data.domain,
        interactions=new_inter,
        items=new_items,
        user_ids=data.user_ids[keep_users],
        item_ids=data.item_ids[keep_items],
        users=users,
        fixed_split=fixed,
        meta=meta,
    )


def k_core(
    data: Dataset,
    k: int = 5,
    *,
    user_k: int | None = None,
    item_k: int | None = None,
    drop_unused: bool = True,
    max_rounds: int = 1000,
) -> Dataset:
    """The k-core: repeatedly drop users with fewer than ``user_k`` events and items with fewer than
    ``item_k`` events (both default to ``k``) until every remaining user and item has enough.

    Events are counted as rows; run :func:`dedup` first to count distinct items. Raises a DataError when
    nothing survives.
    """
    user_k = k if user_k is None else user_k
    item_k = k if item_k is None else item_k
    if user_k < 1 or item_k < 1:
        raise DataError(f"k must be >= 1 (user_k={user_k}, item_k={item_k})", field="k")
    inter = data.interactions
    keep = np.ones(len(inter), dtype=bool)
    for _ in range(max_rounds):
        user_counts = np.bincount(inter.user[keep], minlength=inter.n_users)
        item_counts = np.bincount(inter.item[keep], minlength=inter.n_items)
        ok = keep & (user_counts[inter.user] >= user_k) & (item_counts[inter.item] >= item_k)
        if ok.sum() == keep.sum():
            break
        keep = ok
    if not keep.any():
        raise DataError(f"no interactions survive the {user_k}/{item_k}-core", field="k")
    return select_interactions(data, keep, drop_unused=drop_unused)


def dedup(data: Dataset, keys: Sequence[str] = ("user", "item"), *, keep: str = "first") -> Dataset:
    """Drop repeated events: rows equal on ``keys`` (any of user, item, timestamp, rating, text) after the
    first (``keep="first"``) or before the last (``keep="last"``). Index spaces are kept."""
    if keep not in ("first", "last"):
        raise DataError(f"keep must be 'first' or 'last', not {keep!r}", field="keep")
    inter = data.interactions
    cols: dict[str, np.ndarray] = {}
    for key in keys:
        if key not in DEDUP_KEYS:
            raise DataError(f"unknown dedup key; use any of {', '.join(DEDUP_KEYS)}", field=key)
        values = getattr(inter, key)
        if values is None:
            raise DataError("the dataset has no such column", field=key)
        cols[key] = values
    if not cols:
        raise DataError("no dedup keys given", field="keys")
    duplicated = pd.DataFrame(cols).duplicated(keep=keep).to_numpy()
    if not duplicated.any():
        return dataclasses.replace(data, meta={k: v for k, v in data.meta.items() if k != "cache"})
    return select_interactions(data, ~duplicated, drop_unused=False)
