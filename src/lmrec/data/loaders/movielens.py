"""MovieLens (GroupLens): 100K (``u.data``), 1M (``ratings.dat``) and the CSV releases (20M / 25M / latest).

Formats:

- ``movielens-100k``: folder with ``u.data`` (tab separated: user, item, rating, timestamp), ``u.item``
  (Latin-1, ``|`` separated: id, title, release date, video release date, IMDb URL, 19 genre flags named in
  ``u.genre``), optional ``u.user`` (id, age, gender, occupation, zip).
- ``movielens-1m``: folder with ``ratings.dat``, ``movies.dat`` (id, title, ``|``-joined genres), optional
  ``users.dat``; ``::`` separated, Latin-1.
- ``movielens-csv``: folder with ``ratings.csv`` (userId, movieId, rating, timestamp), ``movies.csv``
  (movieId, title, genres joined by ``|``), optional ``tags.csv`` (userId, movieId, tag, timestamp), UTF-8.

Items get the text fields ``title`` and ``genres`` (a list; ``tags`` too for the CSV releases), the numeric
feature ``year`` (from the title, else the release date) and ``genres`` as a multi-valued categorical.
Rating rows keep their file order: time ties are broken by it (for ML-100K this changes evaluation results).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lmrec.data._build import build_dataset
from lmrec.data._dataset import Dataset
from lmrec.data.loaders._read import check_numeric, read_delimited, read_text, to_timestamps
from lmrec.errors import DataError

ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
ML1M_OCCUPATIONS = (
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student", "customer service",
    "doctor/health care", "executive/managerial", "farmer", "homemaker", "K-12 student", "lawyer",
    "programmer", "retired", "sales/marketing", "scientist", "self-employed", "technician/engineer",
    "tradesman/craftsman", "unemployed", "writer",
)  # fmt: skip
_YEAR_IN_TITLE = re.compile(r"\((\d{4})\)\s*$")
_TEXT_FIELDS = ("title", "genres")


def load(
    path: Path,
    *,
    format: str = "movielens-100k",
    name: str | None = None,
    domain: str = "movies",
    encoding: str | None = None,
) -> Dataset:
    """Load a MovieLens release; ``path`` is its folder (or its ratings file)."""
    folder = path if path.is_dir() else path.parent
    if format == "movielens-100k":
        return _load_100k(folder, name or folder.name, domain, encoding or "latin-1")
    if format == "movielens-1m":
        return _load_1m(folder, name or folder.name, domain, encoding or "latin-1")
    if format == "movielens-csv":
        return _load_csv(folder, name or folder.name, domain, encoding or "utf-8")
    raise DataError(f"unknown MovieLens format '{format}' (movielens-100k, movielens-1m, movielens-csv)")


def _need(folder: Path, filename: str) -> Path:
    p = folder / filename
    if not p.is_file():
        raise DataError("required file is missing", file=p)
    return p


def _events(frame: pd.DataFrame, path: Path, first_line: int) -> pd.DataFrame:
    for col in ("user", "item"):
        empty = frame[col].str.strip() == ""
        if empty.any():
            row = int(np.flatnonzero(empty.to_numpy())[0])
            raise DataError("empty id", file=path, line=row + first_line, field=col)
    return pd.DataFrame(
        {
            "user": frame["user"].str.strip(),
            "item": frame["item"].str.strip(),
            "timestamp": to_timestamps(
                check_numeric(frame, "timestamp", path, first_line=first_line), path, first_line=first_line
            ),
            "rating": check_numeric(frame, "rating", path, first_line=first_line),
        }
    )


def _year(titles: pd.Series, dates: pd.Series | None = None) -> np.ndarray:
    years = titles.str.extract(_YEAR_IN_TITLE, expand=False)
    if dates is not None:
        years = years.fillna(dates.str.extract(r"(\d{4})", expand=False))
    return pd.to_numeric(years, errors="coerce").to_numpy(np.float64)


def _build(
    name: str,
    domain: str,
    events: pd.DataFrame,
    items: pd.DataFrame,
    users: pd.DataFrame | None,
    *,
    source: Path,
    item_source: Path,
    fmt: str,
    extra_text: tuple[str, ...] = (),
) -> Dataset:
    return build_dataset(
        name,
        domain,
        events,
        items,
        source=source,
        item_source=item_source,
        text_fields=(*_TEXT_FIELDS, *extra_text),
        numeric_fields=("year",),
        categorical_fields=("genres",),
        users=users,
        user_text_fields=("occupation",) if users is not None else (),
        meta={"format": fmt},
    )


def _load_100k(folder: Path, name: str, domain: str, encoding: str) -> Dataset:
    data_path = _need(folder, "u.data")
    raw = read_delimited(
        data_path, sep="\t", names=("user", "item", "rating", "timestamp"), quoting=csv.QUOTE_NONE
    )
    events = _events(raw, data_path, first_line=1)

    genres = ML100K_GENRES
    genre_path = folder / "u.genre"
    if genre_path.is_file():
        listed = [ln.split("|")[0] for ln in read_text(genre_path, encoding).splitlines() if ln.strip()]
        if len(listed) == len(ML100K_GENRES):
            genres = tuple(listed)
    item_path = _need(folder, "u.item")
    cols = (
        "item_id",
        "title",
        "release_date",
        "video_release_date",
        "imdb_url",
        *(f"g{i}" for i in range(19)),
    )
    raw_items = read_delimited(item_path, sep="|", names=cols, encoding=encoding, quoting=csv.QUOTE_NONE)
    flags = raw_items[[f"g{i}" for i in range(19)]]
    bad = ~flags.isin(["0", "1"])
    if bad.to_numpy().any():
        row, col = (int(x[0]) for x in np.nonzero(bad.to_numpy()))
        raise DataError(
            f"genre flag must be 0 or 1, got {flags.iat[row, col]!r}",
            file=item_path,
            line=row + 1,
            field=f"genre {genres[col]}",
        )
    flag_matrix = flags.to_numpy() == "1"
    items = pd.DataFrame(
        {
            "item_id": raw_items["item_id"].str.strip(),
            "title": raw_items["title"].str.strip(),
            "genres": [[g for g, on in zip(genres, row, strict=True) if on] for row in flag_matrix],
            "year": _year(raw_items["title"], raw_items["release_date"]),
            "release_date": raw_items["release_date"],
            "imdb_url": raw_items["imdb_url"],
        }
    )
    users = None
    user_path = folder / "u.user"
    if user_path.is_file():
        u = read_delimited(
            user_path,
            sep="|",
            names=("user_id", "age", "gender", "occupation", "zip"),
            encoding=encoding,
            quoting=csv.QUOTE_NONE,
        )
        users = u.assign(age=check_numeric(u, "age", user_path))
    return _build(
        name, domain, events, items, users, source=data_path, item_source=item_path, fmt="movielens-100k"
    )


def _load_1m(folder: Path, name: str, domain: str, encoding: str) -> Dataset:
    data_path = _need(folder, "ratings.dat")
    raw = read_delimited(
        data_path,
        sep="::",
        names=("user", "item", "rating", "timestamp"),
        encoding=encoding,
        quoting=csv.QUOTE_NONE,
    )
    events = _events(raw, data_path, first_line=1)
    item_path = _need(folder, "movies.dat")
    raw_items = read_delimited(
        item_path, sep="::", names=("item_id", "title", "genres"), encoding=encoding, quoting=csv.QUOTE_NONE
    )
    items = pd.DataFrame(
        {
            "item_id": raw_items["item_id"].str.strip(),
            "title": raw_items["title"].str.strip(),
            "genres": [_genre_list(g) for g in raw_items["genres"]],
            "year": _year(raw_items["title"]),
        }
    )
    users = None
    user_path = folder / "users.dat"
    if user_path.is_file():
        u = read_delimited(
            user_path,
            sep="::",
            names=("user_id", "gender", "age", "occupation_code", "zip"),
            encoding=encoding,
            quoting=csv.QUOTE_NONE,
        )
        codes = check_numeric(u, "occupation_code", user_path).astype(int)
        occupation = [ML1M_OCCUPATIONS[c] if 0 <= c < len(ML1M_OCCUPATIONS) else "" for c in codes]
        users = u.assign(age=check_numeric(u, "age", user_path), occupation=occupation)
    return _build(
        name, domain, events, items, users, source=data_path, item_source=item_path, fmt="movielens-1m"
    )


def _load_csv(folder: Path, name: str, domain: str, encoding: str) -> Dataset:
    data_path = _need(folder, "ratings.csv")
    raw = read_delimited(
        data_path, sep=",", encoding=encoding, required=("userId", "movieId", "rating", "timestamp")
    )
    raw = raw.rename(columns={"userId": "user", "movieId": "item"})
    events = _events(raw, data_path, first_line=2)
    item_path = _need(folder, "movies.csv")
    raw_items = read_delimited(item_path, sep=",", encoding=encoding, required=("movieId", "title", "genres"))
    items = pd.DataFrame(
        {
            "item_id": raw_items["movieId"].str.strip(),
            "title": raw_items["title"].str.strip(),
            "genres": [_genre_list(g) for g in raw_items["genres"]],
            "year": _year(raw_items["title"]),
        }
    )
    extra: tuple[str, ...] = ()
    tag_path = folder / "tags.csv"
    if tag_path.is_file():
        tags = read_delimited(tag_path, sep=",", encoding=encoding, required=("movieId", "tag"))
        items["tags"] = _tags_per_item(tags, items["item_id"])
        extra = ("tags",)
    return _build(
        name,
        domain,
        events,
        items,
        None,
        source=data_path,
        item_source=item_path,
        fmt="movielens-csv",
        extra_text=extra,
    )


def _genre_list(value: Any) -> list[str]:
    s = str(value).strip()
    if not s or s == "(no genres listed)":
        return []
    return [g for g in s.split("|") if g]


def _tags_per_item(tags: pd.DataFrame, item_ids: pd.Series) -> list[list[str]]:
    """Distinct tags per movie (case-insensitively deduplicated, first spelling and order kept)."""
    per_item: dict[str, dict[str, str]] = {}
    for movie, tag in zip(tags["movieId"].str.strip(), tags["tag"].str.strip(), strict=True):
        if tag:
            per_item.setdefault(movie, {}).setdefault(tag.lower(), tag)
    return [list(per_item.get(i, {}).values()) for i in item_ids]
