"""Amazon review dumps of the McAuley lab: 2014, 2018 and 2023 releases.

Reviews are JSON lines (plain or ``.gz``), one review per line:

- ``amazon-2014`` / ``amazon-2018``: ``reviewerID``, ``asin``, ``overall`` (stars), ``reviewText``,
  ``summary``, ``unixReviewTime`` (seconds). 2014 meta lines are Python dict literals (``asin``, ``title``,
  ``description`` str, ``brand``, ``categories`` list of lists); 2018 meta lines are JSON (``asin``,
  ``title``, ``description`` list, ``brand``, ``category`` list, ``feature`` list).
- ``amazon-2023``: reviews with ``user_id``, ``parent_asin``, ``rating``, ``title``, ``text``,
  ``timestamp`` (milliseconds, converted to seconds); meta with ``parent_asin``, ``title``, ``description``
  list, ``features``, ``categories``, ``store``. Items are keyed by ``parent_asin``.

Review text (summary/title + body) goes to ``Interactions.text``, stars to ``rating``. HTML entities and tags
are removed from item titles and descriptions. Reviews repeated under several product variants are
deduplicated on (user, review text, time), keeping the first occurrence. The catalog is the set of reviewed
items (the meta dumps cover a whole category); reviewed items without a meta row are kept with empty text.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd

from lmrec.data._build import build_dataset
from lmrec.data._dataset import Dataset
from lmrec.data.cache import resolve_file_option
from lmrec.data.loaders._read import clean_html, iter_records
from lmrec.errors import DataError, LmrecError

FORMATS = ("amazon-2014", "amazon-2018", "amazon-2023")
TEXT_FIELDS = ("title", "brand", "categories", "features", "description")
_REVIEW_SUFFIXES = (".json.gz", ".jsonl.gz", ".json", ".jsonl")


def load(
    path: Path,
    *,
    format: str = "amazon-2018",
    reviews: str | Path | None = None,
    meta: str | Path | bool | None = None,
    dedup: bool = True,
    category: str | None = None,
    name: str | None = None,
    domain: str | None = None,
    unknown_items: str = "add",
    keep_items_without_events: bool = False,
) -> Dataset:
    """Load an Amazon review file (and its meta file) as a :class:`Dataset`.

    ``path``: a reviews file, or a folder; in a folder the reviews file is ``reviews`` (a name inside it), or
    the file of ``category`` (``{category}_5.json.gz``, ``{category}.json.gz``, ``{category}.jsonl`` ...,
    also with a ``reviews_`` prefix as in 2014), or the only reviews file there.
    ``meta``: a meta file (name inside the folder or a path); ``None`` looks for ``meta_{category}`` next to
    the reviews file and goes on without item text when there is none; ``False`` ignores meta.
    ``dedup``: drop repeated (user, review text, time) reviews. ``unknown_items``: what to do with reviewed
    items that have no meta row (``"add"`` with empty text, ``"drop"``, ``"error"``).
    ``keep_items_without_events``: keep meta-only items in the catalog (default: only reviewed items).
    """
    if format not in FORMATS:
        raise LmrecError(f"amazon loader: format must be one of {', '.join(FORMATS)}, not {format!r}")
    path = Path(path)
    review_file = _find_reviews(path, reviews, category)
    stem = _category_of(review_file)
    meta_file = _find_meta(review_file.parent, meta, stem, path if path.is_dir() else review_file.parent)

    events = _read_reviews(review_file, format)
    n_raw = len(events)
    if dedup:
        events = events.drop_duplicates(["user", "_dedup_text", "timestamp"], keep="first")
    events = events.drop(columns="_dedup_text").reset_index(drop=True)
    items = _read_meta(meta_file, format) if meta_file is not None else None
    return build_dataset(
        name or stem,
        domain or stem,
        events,
        items,
        source=review_file,
        item_source=meta_file,
        text_fields=TEXT_FIELDS,
        unknown_items=unknown_items,
        keep_items_without_events=keep_items_without_events,
        meta={
            "format": format,
            "reviews_file": str(review_file),
            "meta_file": None if meta_file is None else str(meta_file),
            "n_reviews_raw": n_raw,
            "n_duplicates_dropped": n_raw - len(events),
        },
    )


def _find_reviews(path: Path, reviews: str | Path | None, category: str | None) -> Path:
    if path.is_file():
        return path
    if not path.is_dir():
        raise DataError("no such file or folder", file=path)
    if reviews is not None:
        f = path / reviews
        if not f.is_file():
            raise DataError("reviews file not found", file=f)
        return f
    if category is not None:
        for prefix in ("", "reviews_"):
            for mid in ("_5", ""):
                for suffix in _REVIEW_SUFFIXES:
                    f = path / f"{prefix}{category}{mid}{suffix}"
                    if f.is_file():
                        return f
        expected = f"{category}_5.json.gz or similar"
        raise DataError(f"no reviews file for category {category!r} (expected {expected})", file=path)
    found = sorted(
        p
        for p in path.iterdir()
        if p.is_file() and p.name.endswith(_REVIEW_SUFFIXES) and not p.name.startswith("meta")
    )
    if len(found) != 1:
        names = ", ".join(p.name for p in found) or "none"
        raise DataError(
            f"cannot tell which reviews file to load (found: {names}); pass reviews= or category=", file=path
        )
    return found[0]


def _category_of(review_file: Path) -> str:
    stem = review_file.name
    for suffix in _REVIEW_SUFFIXES:
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    stem = re.sub(r"^reviews_", "", stem)
    return re.sub(r"_5$", "", stem)


def _find_meta(folder: Path, meta: str | Path | bool | None, stem: str, base: Path) -> Path | None:
    if meta is False:
        return None
    if meta is True or meta is None:
        for suffix in _REVIEW_SUFFIXES:
            f = folder / f"meta_{stem}{suffix}"
            if f.is_file():
                return f
        if meta is True:
            raise DataError(f"no meta file meta_{stem}.json.gz next to the reviews", file=folder)
        return None
    f = resolve_file_option(meta, base)
    if not f.is_file():
        raise DataError("meta file not found", file=f)
    return f


def _join_review(title: str, body: str) -> str:
    if title and body:
        sep = " " if title[-1] in ".!?" else ". "
        return title + sep + body
    return title or body


def _read_reviews(path: Path, fmt: str) -> pd.DataFrame:
    users: list[str] = []
    items: list[str] = []
    times: list[int] = []
    ratings: list[float] = []
    texts: list[str] = []
    dedup_texts: list[Any] = []
    modern = fmt == "amazon-2023"
    user_key, item_key, rating_key, time_key = (
        ("user_id", "parent_asin", "rating", "timestamp")
        if modern
        else ("reviewerID", "asin", "overall", "unixReviewTime")
    )
    for n, rec in iter_records(path):
        item = rec.get(item_key) or (rec.get("asin") if modern else None)
        for field, value in (
            (user_key, rec.get(user_key)),
            (item_key, item),
            (rating_key, rec.get(rating_key)),
            (time_key, rec.get(time_key)),
        ):
            if value is None or value == "":
                raise DataError("missing value", file=path, line=n, field=field)
        try:
            rating = float(rec[rating_key])
            stamp = int(rec[time_key])
        except (TypeError, ValueError):
            what = f"rating {rec[rating_key]!r} / time {rec[time_key]!r}"
            raise DataError(f"cannot parse {what} as numbers", file=path, line=n) from None
        if modern:
            stamp //= 1000  # 2023 timestamps are milliseconds
            body, head = rec.get("text"), rec.get("title")
        else:
            body, head = rec.get("reviewText"), rec.get("summary")
        users.append(str(rec[user_key]))
        items.append(str(item))
        times.append(stamp)
        ratings.append(rating)
        texts.append(_join_review(clean_html(head), clean_html(body)))
        dedup_texts.append(body)  # the README's dedup key uses the raw body, None included
    if not users:
        raise DataError("no reviews found (empty file?)", file=path)
    return pd.DataFrame(
        {
            "user": users,
            "item": items,
            "timestamp": times,
            "rating": ratings,
            "text": texts,
            "_dedup_text": pd.Series(dedup_texts, dtype=object).fillna("\x00missing"),
        }
    )


def _categories(value: Any) -> list[str]:
    """Flatten category lists (2014: list of paths) into unique cleaned names, in order."""
    out: list[str] = []
    stack = [value]
    flat: list[Any] = []
    while stack:  # iterative flatten keeps the original order via reversed pushes
        v = stack.pop()
        if isinstance(v, (list, tuple)):
            stack.extend(reversed(v))
        elif v is not None:
            flat.append(v)
    for v in flat:
        c = clean_html(v)
        if c and c not in out:
            out.append(c)
    return out


def _read_meta(path: Path, fmt: str) -> pd.DataFrame:
    rows: dict[str, dict[str, Any]] = {}
    modern = fmt == "amazon-2023"
    key = "parent_asin" if modern else "asin"
    for n, rec in iter_records(path, python_literals=fmt == "amazon-2014"):
        item = rec.get(key) or rec.get("asin")
        if not item:
            raise DataError("missing value", file=path, line=n, field=key)
        item = str(item)
        if modern:
            brand = rec.get("store")
            cats = [rec.get("main_category"), rec.get("categories")]
            feats = rec.get("features")
        else:
            brand = rec.get("brand")
            cats = rec.get("categories") if fmt == "amazon-2014" else rec.get("category")
            feats = rec.get("feature")
        row = {
            "item_id": item,
            "title": clean_html(rec.get("title")),
            "brand": clean_html(brand),
            "categories": _categories(cats),
            "features": clean_html(feats),
            "description": clean_html(rec.get("description")),
        }
        seen = rows.get(item)
        if seen is None:
            rows[item] = row
        else:  # crawls repeat an item (often with a broken field): first non-empty value per field wins
            for field, value in row.items():
                if not seen[field] and value:
                    seen[field] = value
    if not rows:
        raise DataError("no items found (empty file?)", file=path)
    return pd.DataFrame(list(rows.values()))
