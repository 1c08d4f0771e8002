"""Douban movies (Chinese): ``movies.csv`` (item table) and ``comments.csv`` (short reviews with 1-5 stars).

- ``movies.csv`` columns (header): ``MOVIE_ID``, ``NAME``, ``ALIAS``, ``ACTORS``, ``DIRECTORS``,
  ``DOUBAN_SCORE``, ``DOUBAN_VOTES``, ``GENRES``, ``LANGUAGES``, ``REGIONS``, ``RELEASE_DATE``, ``STORYLINE``,
  ``TAGS``, ``YEAR``. Multi-valued fields are ``/``-separated and become lists.
- ``comments.csv`` columns: ``douban_comment_id``, ``douban_id`` (movie), ``user_md5``, ``comment_time``
  (``2018-09-05 19:42:07``, Beijing time, stored as if UTC), ``rating`` (1-5, empty when unrated), ``votes``,
  ``content``.

In the public sample the comments are about *other* movies than ``movies.csv``. The dataset's item table
therefore holds every ``movies.csv`` movie (with Chinese text, for item-text similarity) followed by the
commented movies as items without text (``unknown_items="add"``): fine for sentiment / feedback work, useless
for collaborative filtering. Unrated comments are dropped from the interactions by default
(``unrated="drop"``); :func:`load_comments` keeps them all, with a NaN rating.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lmrec.data._build import build_dataset
from lmrec.data._dataset import Dataset
from lmrec.errors import DataError, LmrecError

MOVIE_COLUMNS = {
    "MOVIE_ID": "item_id",
    "NAME": "name",
    "ALIAS": "alias",
    "ACTORS": "actors",
    "DIRECTORS": "directors",
    "DOUBAN_SCORE": "score",
    "DOUBAN_VOTES": "votes",
    "GENRES": "genres",
    "LANGUAGES": "languages",
    "REGIONS": "regions",
    "RELEASE_DATE": "release_date",
    "STORYLINE": "storyline",
    "TAGS": "tags",
    "YEAR": "year",
}
_LIST_FIELDS = ("alias", "actors", "directors", "genres", "languages", "regions", "tags")
TEXT_FIELDS = ("name", "alias", "genres", "regions", "directors", "actors", "tags", "storyline")
_COMMENT_COLUMNS = (
    "douban_comment_id",
    "douban_id",
    "user_md5",
    "comment_time",
    "rating",
    "votes",
    "content",
)


def load(
    path: Path,
    *,
    format: str = "douban",
    movies: str = "movies.csv",
    comments: str = "comments.csv",
    unrated: str = "drop",
    name: str = "douban",
    domain: str = "movies-zh",
) -> Dataset:
    """Load the Douban folder as a :class:`Dataset` (see the module docstring).

    ``unrated``: ``"drop"`` leaves unrated comments out of the interactions; ``"zero"`` keeps them with
    rating 0 (an explicit "no stars" marker: filter ``rating > 0`` before rating-based training).
    ``meta["n_unrated"]`` counts the unrated comments either way.
    """
    if unrated not in ("drop", "zero"):
        raise LmrecError(f"douban loader: unrated must be 'drop' or 'zero', not {unrated!r}")
    folder = _folder(path)
    items = load_movies(folder, movies=movies)
    com = load_comments(folder, comments=comments)
    unrated_mask = com["rating"].isna()
    if unrated == "drop":
        com = com[~unrated_mask]
    events = pd.DataFrame(
        {
            "user": com["user"],
            "item": com["movie_id"],
            "timestamp": com["timestamp"],
            "rating": com["rating"].fillna(0.0),
            "text": com["text"],
        }
    )
    return build_dataset(
        name,
        domain,
        events,
        items,
        source=folder / comments,
        item_source=folder / movies,
        text_fields=TEXT_FIELDS,
        numeric_fields=("score", "votes", "year"),
        unknown_items="add",
        meta={"format": format, "n_unrated": int(unrated_mask.sum()), "n_movies_with_text": len(items)},
    )


def load_movies(folder: str | Path, *, movies: str = "movies.csv") -> pd.DataFrame:
    """The movie table: ``item_id`` (str) and lower-case fields; ``/``-separated fields become lists."""
    path = _folder(Path(folder)) / movies
    frame = _read_csv(path, tuple(MOVIE_COLUMNS))
    lines = frame["_line"].tolist()
    frame = frame[list(MOVIE_COLUMNS)].rename(columns=MOVIE_COLUMNS)
    frame["item_id"] = frame["item_id"].astype(str).str.strip()
    for col in ("name", "storyline", "release_date"):
        frame[col] = frame[col].fillna("").astype(str).str.strip()
    for col in _LIST_FIELDS:
        frame[col] = [_split(v) for v in frame[col]]
    for col in ("score", "votes", "year"):
        values = pd.to_numeric(frame[col], errors="coerce")
        bad = values.isna() & frame[col].notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(
                f"{frame[col].iloc[row]!r} is not a number", file=path, line=lines[row], field=col.upper()
            )
        frame[col] = values.astype(float)
    dup = frame["item_id"].duplicated()
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0])
        raise DataError(
            f"duplicate movie id {frame['item_id'].iloc[row]!r}", file=path, line=lines[row], field="MOVIE_ID"
        )
    return frame.reset_index(drop=True)


def load_comments(folder: str | Path, *, comments: str = "comments.csv") -> pd.DataFrame:
    """All comments in file order, for sentiment work.

    Columns: ``text`` (Chinese short review), ``rating`` (float 1-5, NaN when unrated), ``movie_id`` (str),
    ``user`` (str), ``timestamp`` (int64 seconds), ``votes`` (int), ``comment_id`` (str).
    """
    path = _folder(Path(folder)) / comments
    frame = _read_csv(path, _COMMENT_COLUMNS)
    lines = frame["_line"].tolist()
    rating = pd.to_numeric(frame["rating"], errors="coerce")
    bad = (rating.isna() & frame["rating"].notna()) | (rating.notna() & ~rating.between(1, 5))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"rating {frame['rating'].iloc[row]!r} is not empty or 1-5",
            file=path,
            line=lines[row],
            field="rating",
        )
    when = pd.to_datetime(frame["comment_time"], format="%Y-%m-%d %H:%M:%S", errors="coerce")
    if when.isna().any():
        row = int(np.flatnonzero(when.isna().to_numpy())[0])
        raise DataError(
            f"cannot parse time {frame['comment_time'].iloc[row]!r}",
            file=path,
            line=lines[row],
            field="comment_time",
        )
    return pd.DataFrame(
        {
            "text": frame["content"].fillna("").astype(str).str.strip(),
            "rating": rating.astype(float),
            "movie_id": frame["douban_id"].astype(str).str.strip(),
            "user": frame["user_md5"].astype(str).str.strip(),
            "timestamp": when.to_numpy("datetime64[s]").astype(np.int64),
            "votes": pd.to_numeric(frame["votes"], errors="coerce").fillna(0).astype(np.int64),
            "comment_id": frame["douban_comment_id"].astype(str),
        }
    )


def _folder(path: Path) -> Path:
    path = Path(path)
    if path.is_file():
        return path.parent
    if not path.is_dir():
        raise DataError("no such folder", file=path)
    return path


def _split(value: Any) -> list[str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    return [p.strip() for p in str(value).split("/") if p.strip()]


def _read_csv(path: Path, required: tuple[str, ...]) -> pd.DataFrame:
    """Read a CSV (UTF-8 with optional BOM, or GB18030 as Chinese exports often are) as strings.

    Empty cells become NaN. The ``_line`` column holds each row's first line in the file, for error messages
    (quoted fields may span lines).
    """
    if not path.is_file():
        raise DataError("no such file", file=path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = raw.decode("gb18030")
        except UnicodeDecodeError:
            raise DataError("file is neither UTF-8 nor GB18030 text", file=path) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise DataError("empty file", file=path) from None
    missing = [c for c in required if c not in header]
    if missing:
        what = f"missing column(s) {', '.join(missing)}; found {', '.join(header)}"
        raise DataError(what, file=path, line=1)
    rows: list[list[str]] = []
    lines: list[int] = []
    start = reader.line_num + 1
    try:
        for row in reader:
            if row:
                if len(row) != len(header):
                    raise DataError(f"expected {len(header)} fields, found {len(row)}", file=path, line=start)
                rows.append(row)
                lines.append(start)
            start = reader.line_num + 1
    except csv.Error as exc:
        raise DataError(f"bad CSV ({exc})", file=path, line=start) from None
    frame = pd.DataFrame(rows, columns=header, dtype=object).replace("", np.nan)
    frame["_line"] = lines
    return frame
