"""Core data types: Interactions, ItemTable, UserTable, Dataset.

All are immutable views: numpy arrays are read-only, frames are copied on the way out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from lmrec.errors import DataError


def _frozen(a: np.ndarray | None, dtype: Any = None) -> np.ndarray | None:
    if a is None:
        return None
    arr = np.array(a, dtype=dtype, copy=True)
    arr.setflags(write=False)
    return arr


# item columns that hold a display name, in order of preference
TITLE_COLUMNS = ("title", "name", "product_name")


@dataclass(frozen=True, eq=False)
class Interactions:
    """User-item events as parallel columns, in file order.

    ``timestamp`` is seconds since the epoch, or the position in the user's sequence when the source has no
    time. Row order is meaningful: sorting by time is stable, so ties keep the order of the source file.
    ``n_users`` / ``n_items`` are the sizes of the dense index spaces (the whole catalog, not only the items
    that occur here).
    """

    user: np.ndarray
    item: np.ndarray
    timestamp: np.ndarray
    n_users: int
    n_items: int
    rating: np.ndarray | None = None
    text: np.ndarray | None = None  # optional review/comment text per event (object array)
    domain: str | None = None

    def __post_init__(self) -> None:
        n = len(self.user)
        object.__setattr__(self, "user", _frozen(self.user, np.int32))
        object.__setattr__(self, "item", _frozen(self.item, np.int32))
        object.__setattr__(self, "timestamp", _frozen(self.timestamp, np.int64))
        object.__setattr__(self, "rating", _frozen(self.rating, np.float32))
        object.__setattr__(self, "text", _frozen(self.text, object))
        for name in ("item", "timestamp", "rating", "text"):
            col = getattr(self, name)
            if col is not None and len(col) != n:
                raise DataError(f"column length {len(col)} != {n} users", field=name)
        if n:
            if self.user.min() < 0 or self.user.max() >= self.n_users:
                raise DataError(f"user index out of range [0, {self.n_users})", field="user")
            if self.item.min() < 0 or self.item.max() >= self.n_items:
                raise DataError(f"item index out of range [0, {self.n_items})", field="item")
        if self.rating is not None and len(self.rating) and not np.isfinite(self.rating).all():
            bad = int(np.flatnonzero(~np.isfinite(self.rating))[0])
            raise DataError("rating is NaN or infinite", line=bad, field="rating")

    def __len__(self) -> int:
        return len(self.user)

    def subset(self, rows: np.ndarray) -> Interactions:
        """The rows selected by a boolean mask or an index array (kept in their original order)."""
        rows = np.asarray(rows)
        if rows.dtype != bool:
            rows = np.sort(rows)
        part = Interactions(
            user=self.user[rows],
            item=self.item[rows],
            timestamp=self.timestamp[rows],
            n_users=self.n_users,
            n_items=self.n_items,
            rating=None if self.rating is None else self.rating[rows],
            text=None if self.text is None else self.text[rows],
            domain=self.domain,
        )
        if rows.dtype == bool and "_time_order" in self.__dict__:
            # a mask keeps rows in order, so the part's time order is this one's, filtered and renumbered:
            # no new sort (the same order: by user, time, then row)
            order = self._time_order
            kept = order[rows[order]]
            renumber = np.cumsum(rows, dtype=np.int64) - 1
            part_order = renumber[kept]
            part_order.setflags(write=False)
            part.__dict__["_time_order"] = part_order
        return part

    def concat(self, other: Interactions) -> Interactions:
        """This followed by ``other`` (same index spaces)."""
        if (self.n_users, self.n_items) != (other.n_users, other.n_items):
            raise DataError("cannot concatenate interactions over different index spaces")

        def cat(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
            return None if a is None or b is None else np.concatenate([a, b])

        return Interactions(
            user=np.concatenate([self.user, other.user]),
            item=np.concatenate([self.item, other.item]),
            timestamp=np.concatenate([self.timestamp, other.timestamp]),
            n_users=self.n_users,
            n_items=self.n_items,
            rating=cat(self.rating, other.rating),
            text=cat(self.text, other.text),
            domain=self.domain,
        )

    # Derived views are computed once and cached (the columns are read-only, so they cannot go stale). The
    # caches live in the instance __dict__ under these names and are left out of pickling (__getstate__);
    # equality is identity (eq=False), so they never take part in it either.
    _CACHED = ("_time_order", "_sequences", "_fingerprint")

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in self._CACHED}

    def time_order(self) -> np.ndarray:
        """Row indices sorted by (user, timestamp), stable: ties keep file order (read-only, cached)."""
        return self._time_order

    @cached_property
    def _time_order(self) -> np.ndarray:
        by_time = np.argsort(self.timestamp, kind="stable")
        order = by_time[np.argsort(self.user[by_time], kind="stable")]
        order.setflags(write=False)
        return order

    def sequences(self) -> list[np.ndarray]:
        """Each user's items in time order (oldest first); empty arrays for users without events.

        A new list on every call; its arrays are read-only views of one cached array.
        """
        return list(self._sequences)

    @cached_property
    def _sequences(self) -> tuple[np.ndarray, ...]:
        order = self.time_order()
        users = self.user[order]
        items = self.item[order]
        items.setflags(write=False)
        bounds = np.searchsorted(users, np.arange(self.n_users + 1)).tolist()
        return tuple(items[bounds[u] : bounds[u + 1]] for u in range(self.n_users))

    def to_csr(self, *, binary: bool = True, dtype: Any = np.float32) -> Any:
        """A users x items scipy CSR matrix (1 per event, duplicates collapsed when ``binary``)."""
        import scipy.sparse as sp

        vals = np.ones(len(self), dtype=dtype)
        m = sp.csr_matrix((vals, (self.user, self.item)), shape=(self.n_users, self.n_items), dtype=dtype)
        m.sum_duplicates()
        if binary:
            m.data[:] = 1
        return m

    def to_frame(self) -> pd.DataFrame:
        """A copy as a pandas DataFrame."""
        cols: dict[str, Any] = {"user": self.user, "item": self.item, "timestamp": self.timestamp}
        if self.rating is not None:
            cols["rating"] = self.rating
        if self.text is not None:
            cols["text"] = self.text
        return pd.DataFrame(cols)

    def fingerprint(self) -> str:
        """A short hash of the content (used to identify splits; cached)."""
        return self._fingerprint

    @cached_property
    def _fingerprint(self) -> str:
        h = hashlib.sha256()
        for a in (self.user, self.item, self.timestamp):
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()[:16]


@dataclass(frozen=True, eq=False)
class ItemTable:
    """Per-item attributes indexed by dense item index 0..n-1.

    ``text_fields`` are the columns that describe the item in words (title, description, categories, brand,
    ...); ``numeric_fields``, ``categorical_fields`` and ``vector_fields`` are optional feature columns.
    """

    frame: pd.DataFrame
    text_fields: tuple[str, ...] = ()
    numeric_fields: tuple[str, ...] = ()
    categorical_fields: tuple[str, ...] = ()
    vector_fields: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        frame = self.frame.reset_index(drop=True).copy()
        for name in (*self.text_fields, *self.numeric_fields, *self.categorical_fields, *self.vector_fields):
            if name not in frame.columns:
                raise DataError("declared column is missing from the item table", field=name)
        object.__setattr__(self, "frame", frame)

    def __len__(self) -> int:
        return len(self.frame)

    def to_pandas(self) -> pd.DataFrame:
        """A copy of the table."""
        return self.frame.copy()

    def column(self, name: str) -> np.ndarray:
        """A read-only numpy copy of one column."""
        if name not in self.frame.columns:
            raise DataError("no such item column", field=name)
        arr = self.frame[name].to_numpy(copy=True)
        arr.setflags(write=False)
        return arr

    def texts(self, fields: Sequence[str] | None = None, sep: str = ". ") -> list[str]:
        """One string per item: the non-empty values of ``fields`` (default: all text fields) joined."""
        fields = list(fields if fields is not None else self.text_fields)
        out: list[str] = []
        cols = [self.frame[f].tolist() for f in fields if f in self.frame.columns]
        for values in zip(*cols, strict=True) if cols else [() for _ in range(len(self))]:
            parts = [_as_text(v) for v in values]
            out.append(sep.join(p for p in parts if p))
        return out

    def has_text(self) -> np.ndarray:
        """Boolean per item: does it have any non-empty text field?"""
        return np.array([bool(t.strip()) for t in self.texts()], dtype=bool)


def _as_text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and np.isnan(v):
        return ""
    if isinstance(v, (list, tuple, np.ndarray)):
        return ", ".join(_as_text(x) for x in v if _as_text(x))
    return str(v).strip()


@dataclass(frozen=True, eq=False)
class UserTable:
    """Per-user attributes indexed by dense user index (e.g. age, occupation, profile text)."""

    frame: pd.DataFrame
    text_fields: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "frame", self.frame.reset_index(drop=True).copy())

    def __len__(self) -> int:
        return len(self.frame)

    def to_pandas(self) -> pd.DataFrame:
        return self.frame.copy()


@dataclass(frozen=True, eq=False)
class Dataset:
    """A named dataset: interactions over dense indices, the item (and user) tables and the id maps.

    ``user_ids[u]`` / ``item_ids[i]`` are the external ids of dense indices ``u`` / ``i``. The item table has
    exactly one row per item index. ``fixed_split`` holds the source's own train/valid/test assignment per
    interaction row (0/1/2) when the format ships one (UniSRec).
    """

    name: str
    domain: str
    interactions: Interactions
    items: ItemTable
    user_ids: np.ndarray
    item_ids: np.ndarray
    users: UserTable | None = None
    fixed_split: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "user_ids", _frozen(np.asarray(self.user_ids).astype(str)))
        object.__setattr__(self, "item_ids", _frozen(np.asarray(self.item_ids).astype(str)))
        object.__setattr__(self, "fixed_split", _frozen(self.fixed_split, np.int8))
        if len(self.item_ids) != self.interactions.n_items:
            raise DataError(f"{len(self.item_ids)} item ids for {self.interactions.n_items} items")
        if len(self.user_ids) != self.interactions.n_users:
            raise DataError(f"{len(self.user_ids)} user ids for {self.interactions.n_users} users")
        if len(self.items) != self.n_items:
            raise DataError(f"item table has {len(self.items)} rows for {self.n_items} items")
        if self.fixed_split is not None and len(self.fixed_split) != len(self.interactions):
            raise DataError("fixed split length differs from the number of interactions")

    @property
    def n_users(self) -> int:
        return self.interactions.n_users

    @property
    def n_items(self) -> int:
        return self.interactions.n_items

    def item_index(self, external_id: str) -> int:
        """Dense index of an external item id (KeyError-free: raises DataError)."""
        idx = self._item_lookup.get(str(external_id))
        if idx is None:
            raise DataError(f"unknown item id {external_id!r}", field="item")
        return idx

    def user_index(self, external_id: str) -> int:
        idx = self._user_lookup.get(str(external_id))
        if idx is None:
            raise DataError(f"unknown user id {external_id!r}", field="user")
        return idx

    @cached_property
    def _item_lookup(self) -> dict[str, int]:
        return {k: i for i, k in enumerate(self.item_ids.tolist())}

    @cached_property
    def _user_lookup(self) -> dict[str, int]:
        return {k: i for i, k in enumerate(self.user_ids.tolist())}

    def item_titles(self) -> list[str]:
        """A short display name per item: its ``title`` (or ``name``, as Douban calls it) when present, else
        the external id."""
        for column in TITLE_COLUMNS:
            if column in self.items.frame.columns:
                titles = self.items.frame[column].tolist()
                return [_as_text(t) or str(self.item_ids[i]) for i, t in enumerate(titles)]
        return [str(x) for x in self.item_ids]
