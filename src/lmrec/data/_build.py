"""Build a :class:`Dataset` from raw event and item frames: dense id maps and validation.

Every loader parses its format into two pandas frames and calls :func:`build_dataset`:

- events: columns ``user``, ``item`` (external ids, any type), optional ``timestamp`` (seconds), ``rating``,
  ``text``; row order = file order (kept: time ties are broken by it).
- items: column ``item_id`` (external id) plus text / feature columns; may be ``None``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lmrec.data._dataset import Dataset, Interactions, ItemTable, UserTable
from lmrec.errors import DataError


def build_dataset(
    name: str,
    domain: str,
    events: pd.DataFrame,
    items: pd.DataFrame | None = None,
    *,
    source: str | Path | None = None,
    item_source: str | Path | None = None,
    text_fields: Sequence[str] = (),
    numeric_fields: Sequence[str] = (),
    categorical_fields: Sequence[str] = (),
    vector_fields: Sequence[str] = (),
    users: pd.DataFrame | None = None,
    user_text_fields: Sequence[str] = (),
    unknown_items: str = "error",
    keep_items_without_events: bool = True,
    fixed_split: np.ndarray | None = None,
    meta: dict[str, Any] | None = None,
    first_line: int = 1,
    item_first_line: int = 1,
) -> Dataset:
    """Map external ids to dense indices, validate, and assemble the dataset.

    ``unknown_items``: what to do with events whose item is missing from ``items``: ``"error"`` (one-line
    DataError naming the row), ``"drop"``, or ``"add"`` (add an item row without text).
    Items that have a row in ``items`` but no events are kept (they are part of the catalog) unless
    ``keep_items_without_events`` is False. Item indices follow first appearance in ``items``, then in events;
    user indices follow first appearance in events.
    ``first_line`` / ``item_first_line``: the file line of the first event / item row (2 after a header), so
    that error messages point at the right line.
    """
    for col in ("user", "item"):
        if col not in events.columns:
            raise DataError("missing column", file=source, field=col)
    if len(events) == 0:
        raise DataError("no interactions found (empty file?)", file=source)
    events = events.reset_index(drop=True)
    fixed = None if fixed_split is None else np.asarray(fixed_split)
    ev_items = events["item"].astype(str)
    _check_id_length(events["user"].astype(str), source, first_line, "user")
    _check_id_length(ev_items, source, first_line, "item")

    if items is not None:
        if "item_id" not in items.columns:
            raise DataError("missing column", file=item_source, field="item_id")
        items = items.reset_index(drop=True).copy()
        items["item_id"] = items["item_id"].astype(str)
        _check_id_length(items["item_id"], item_source, item_first_line, "item_id")
        items = _dedup_items(items, text_fields, item_source, item_first_line)
        known = pd.Index(items["item_id"])
        missing = ~ev_items.isin(known)
        if missing.any():
            if unknown_items == "error":
                row = int(np.flatnonzero(missing.to_numpy())[0])
                raise DataError(
                    f"interaction refers to unknown item {ev_items.iloc[row]!r} ({int(missing.sum())} such "
                    "rows; the loader option unknown_items=add keeps them without text, =drop drops them)",
                    file=source,
                    line=row + first_line,
                    field="item",
                )
            if unknown_items == "drop":
                keep = ~missing.to_numpy()
                events = events[keep].reset_index(drop=True)
                ev_items = ev_items[keep].reset_index(drop=True)
                fixed = None if fixed is None else fixed[keep]
            elif unknown_items == "add":
                extra = pd.unique(ev_items[missing])
                items = pd.concat([items, pd.DataFrame({"item_id": extra})], ignore_index=True)
            else:
                raise ValueError(f"unknown_items must be error|drop|add, not {unknown_items!r}")
        if not keep_items_without_events:
            items = items[items["item_id"].isin(set(ev_items))].reset_index(drop=True)
    else:
        items = pd.DataFrame({"item_id": pd.unique(ev_items)})

    item_ids = items["item_id"].to_numpy()
    item_codes = pd.Index(item_ids).get_indexer(ev_items)
    user_codes, user_ids = pd.factorize(events["user"].astype(str), sort=False)

    timestamp = (
        _numeric(events, "timestamp", source, np.int64, first_line) if "timestamp" in events.columns else None
    )
    if timestamp is not None and (timestamp < 0).any():
        row = int(np.flatnonzero(timestamp < 0)[0])
        what = f"timestamp is negative ({int(timestamp[row])})"
        raise DataError(what, file=source, line=row + first_line, field="timestamp")
    if timestamp is None:
        # no time: order within each user = file order
        timestamp = events.groupby(user_codes).cumcount().to_numpy(np.int64)
    rating = (
        _numeric(events, "rating", source, np.float32, first_line) if "rating" in events.columns else None
    )
    text = events["text"].to_numpy(object) if "text" in events.columns else None

    inter = Interactions(
        user=user_codes,
        item=item_codes,
        timestamp=timestamp,
        n_users=len(user_ids),
        n_items=len(item_ids),
        rating=rating,
        text=text,
        domain=domain,
    )
    user_table = None
    if users is not None:
        if "user_id" not in users.columns:
            raise DataError("missing column", field="user_id")
        users = users.copy()
        users["user_id"] = users["user_id"].astype(str)
        users = (
            users.drop_duplicates("user_id").set_index("user_id").reindex(pd.Index(user_ids, name="user_id"))
        )
        user_table = UserTable(users.reset_index(), text_fields=tuple(user_text_fields))
    return Dataset(
        name=name,
        domain=domain,
        interactions=inter,
        items=ItemTable(
            items,
            text_fields=tuple(f for f in text_fields if f in items.columns),
            numeric_fields=tuple(numeric_fields),
            categorical_fields=tuple(categorical_fields),
            vector_fields=tuple(vector_fields),
        ),
        user_ids=np.asarray(user_ids),
        item_ids=item_ids,
        users=user_table,
        fixed_split=fixed,
        meta=dict(meta or {}),
    )


def _check_id_length(ids: pd.Series, source: str | Path | None, first_line: int, field: str) -> None:
    """An id longer than MAX_ID_LENGTH is a DataError naming its line (it is cut in the message)."""
    from lmrec.data.loaders._read import MAX_ID_LENGTH, shorten

    lengths = ids.str.len().to_numpy()
    if len(lengths) and lengths.max() > MAX_ID_LENGTH:
        row = int(np.flatnonzero(lengths > MAX_ID_LENGTH)[0])
        raise DataError(
            f"id is too long ({int(lengths[row]):,} characters, at most {MAX_ID_LENGTH:,}): "
            f"{shorten(ids.iloc[row], 40)!r}",
            file=source,
            line=row + first_line,
            field=field,
        )


def _numeric(
    frame: pd.DataFrame, col: str, source: str | Path | None, dtype: Any, first_line: int = 1
) -> np.ndarray:
    from lmrec.data.loaders._read import shorten, to_timestamps

    values = pd.to_numeric(frame[col], errors="coerce")
    bad = values.isna() & frame[col].notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"cannot parse {shorten(repr(frame[col].iloc[row]))} as a number",
            file=source,
            line=row + first_line,
            field=col,
        )
    arr = values.to_numpy(dtype=np.float64)
    if not np.isfinite(arr).all():
        row = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise DataError("value is NaN, infinite or missing", file=source, line=row + first_line, field=col)
    if col == "timestamp":
        return to_timestamps(arr, source, first_line=first_line).astype(dtype)
    return arr.astype(dtype)


def _dedup_items(
    items: pd.DataFrame, text_fields: Sequence[str], source: str | Path | None, first_line: int = 1
) -> pd.DataFrame:
    dup = items["item_id"].duplicated(keep=False)
    if not dup.any():
        return items
    cols = [c for c in text_fields if c in items.columns]
    sub = items.loc[dup, ["item_id", *cols]].astype(str)
    conflicts = sub.groupby("item_id").nunique()
    conflicts = conflicts[(conflicts > 1).any(axis=1)] if cols else conflicts.iloc[0:0]
    if len(conflicts):
        item = conflicts.index[0]
        row = int(np.flatnonzero((items["item_id"] == item).to_numpy())[1])
        raise DataError(
            f"duplicate item id {item!r} with different text",
            file=source,
            line=row + first_line,
            field="item_id",
        )
    return items.drop_duplicates("item_id").reset_index(drop=True)
