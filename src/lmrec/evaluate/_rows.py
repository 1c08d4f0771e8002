"""Ragged rows of item indices (each user's held-out or seen items) in one flat CSR array, and what the
protocol derives from them: distinct sorted sets and item popularity."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from lmrec.errors import LmrecError


class _Ragged(NamedTuple):
    """Rows of item indices in one flat array (CSR): row r is ``indices[indptr[r] : indptr[r + 1]]``."""

    indptr: np.ndarray  # int64, len n_rows + 1
    indices: np.ndarray  # int64

    @classmethod
    def of(cls, rows: Sequence[Any]) -> _Ragged:
        lens = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lens, out=indptr[1:])
        if indptr[-1]:
            indices = np.concatenate([np.asarray(r).ravel() for r in rows if len(r)]).astype(np.int64)
        else:
            indices = np.zeros(0, dtype=np.int64)
        return cls(indptr, indices)

    def take(self, rows: np.ndarray) -> _Ragged:
        """The rows ``rows``, in that order."""
        lens = np.diff(self.indptr)[rows]
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lens, out=indptr[1:])
        pos = np.arange(indptr[-1], dtype=np.int64) + np.repeat(self.indptr[rows] - indptr[:-1], lens)
        return _Ragged(indptr, self.indices[pos])

    def row(self, r: int) -> np.ndarray:
        return self.indices[self.indptr[r] : self.indptr[r + 1]]

    def rows(self, lo: int, hi: int) -> list[np.ndarray]:
        ip = self.indptr[lo : hi + 1].tolist()
        return [self.indices[a:b] for a, b in zip(ip[:-1], ip[1:], strict=True)]

    def flat_cells(self, lo: int, hi: int, width: int) -> np.ndarray:
        """Flat positions ``(r - lo) * width + item`` of rows lo..hi-1 in a C-order (hi - lo, width) block."""
        a, b = int(self.indptr[lo]), int(self.indptr[hi])
        lens = np.diff(self.indptr[lo : hi + 1])
        return np.repeat(np.arange(hi - lo, dtype=np.int64) * width, lens) + self.indices[a:b]


def _check_range(rows: _Ragged, n_items: int, what: str) -> None:
    if len(rows.indices) and (rows.indices.min() < 0 or rows.indices.max() >= n_items):
        raise LmrecError(f"{what} item index out of range [0, {n_items})")


# -- the evaluation core -----------------------------------------------------------------------------------


def _ragged(rows: Sequence[Any]) -> _Ragged:
    """Item lists (arrays, lists or scalars) as one int64 :class:`_Ragged`, each list flattened."""
    try:
        # the common case, 1-D arrays or lists: one concatenation instead of one conversion per row
        lens = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
        flat = np.concatenate(rows) if len(rows) and lens.sum() else np.zeros(0, dtype=np.int64)
        if flat.ndim == 1 and len(flat) == lens.sum():
            indptr = np.zeros(len(rows) + 1, dtype=np.int64)
            np.cumsum(lens, out=indptr[1:])
            return _Ragged(indptr, flat.astype(np.int64, copy=False))
    except (TypeError, ValueError):
        pass
    return _Ragged.of([np.asarray(r, dtype=np.int64).ravel() for r in rows])


def _sorted_sets(rows: _Ragged) -> _Ragged:
    """Each row's distinct items, sorted (np.unique per row), by one sort of all the rows' pairs."""
    lens = np.diff(rows.indptr)
    if not (lens > 1).any():
        return rows  # rows of at most one item are already sets
    row_of = np.repeat(np.arange(len(lens), dtype=np.int64), lens)
    order = np.lexsort((rows.indices, row_of))
    r, items = row_of[order], rows.indices[order]
    first = np.ones(len(r), dtype=bool)
    first[1:] = (r[1:] != r[:-1]) | (items[1:] != items[:-1])
    indptr = np.zeros(len(lens) + 1, dtype=np.int64)
    np.cumsum(np.bincount(r[first], minlength=len(lens)), out=indptr[1:])
    return _Ragged(indptr, items[first])


def _popularity(histories: _Ragged, n_items: int) -> tuple[np.ndarray, int]:
    """Number of users with each item in their history, and the number of users with any history.

    Items must lie in [0, n_items).
    """
    lens = np.diff(histories.indptr)
    n_users = len(lens)
    n_nonempty = int(np.count_nonzero(lens))
    if not n_nonempty:
        return np.zeros(n_items), 0
    items = histories.indices
    cells = np.repeat(np.arange(n_users, dtype=np.int64) * n_items, lens) + items
    if n_users * n_items <= 1 << 25:
        # distinct (user, item) pairs: a bitmap of all pairs is cheaper than a sort
        seen = np.zeros(n_users * n_items, dtype=bool)
        seen[cells] = True
        if np.count_nonzero(seen) != len(items):
            items = np.flatnonzero(seen) % n_items
    else:
        pairs = np.sort(cells)
        items = pairs[np.concatenate(([True], pairs[1:] != pairs[:-1]))] % n_items
    return np.bincount(items, minlength=n_items).astype(np.float64), n_nonempty
