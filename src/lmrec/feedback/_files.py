"""Review corpora from the user's own files, for ``lmrec feedback train/evaluate --data PATH``.

Three formats, told apart by the path where possible (``format=`` otherwise):

- ``mdsd``: a folder of Multi-Domain Sentiment Dataset files (``<domain>_positive.review`` and
  ``<domain>_negative.review``; every domain found), or one such file's domain;
- ``amazon``: Amazon review JSON lines (``.json`` / ``.jsonl``, gzip allowed): 2018 (``reviewText``,
  ``summary``, ``overall``) or 2023 (``text``, ``title``, ``rating``); title and body are joined;
- ``table``: a CSV / TSV / Parquet / JSON-lines table with a text column and a star column (``text=`` /
  ``rating=``, found by common names when not given: text, review, review_text, reviewText, comment,
  content, body; rating, stars, overall, score).

Ratings are stars from 1 to 5; rows without text or rating are left out (as the built-in corpora do).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lmrec.errors import DataError, LmrecError

REVIEW_FORMATS = ("mdsd", "amazon", "table")
TEXT_COLUMNS = ("text", "review", "review_text", "reviewText", "comment", "content", "body")
RATING_COLUMNS = ("rating", "stars", "overall", "score")
_TABLE_SUFFIXES = (".csv", ".tsv", ".tab", ".parquet", ".jsonl", ".ndjson", ".json")


def guess_review_format(path: Path) -> str | None:
    """``mdsd`` / ``amazon`` / ``table`` from the path alone, or None."""
    if path.is_dir():
        return "mdsd" if any(path.glob("*_positive.review")) else None
    if path.name.endswith(".review"):
        return "mdsd"
    lowered = path.name.lower().removesuffix(".gz")
    if lowered.endswith((".json", ".jsonl", ".ndjson")):
        return "amazon"  # JSON lines: the Amazon fields are tried first, then the table's names
    if lowered.endswith(_TABLE_SUFFIXES):
        return "table"
    return None


def corpus_from_path(
    path: str | Path, format: str | None = None, *, text: str | None = None, rating: str | None = None
) -> tuple[str, list[str], np.ndarray]:
    """(name, texts, star ratings) of a review file or folder (see the module docstring)."""
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError("no such file or folder", file=p)
    fmt = format or guess_review_format(p)
    if fmt is None:
        raise LmrecError(f"{p}: cannot tell the review format; pass --format ({' | '.join(REVIEW_FORMATS)})")
    if fmt not in REVIEW_FORMATS:
        raise LmrecError(f"unknown review format '{fmt}'; known: {', '.join(REVIEW_FORMATS)}")
    if fmt == "mdsd":
        return _mdsd(p)
    return _table(p, amazon=fmt == "amazon", text=text, rating=rating)


def _mdsd(path: Path) -> tuple[str, list[str], np.ndarray]:
    from lmrec.data.loaders.mdsd import available_domains, load_reviews

    folder = path if path.is_dir() else path.parent
    if path.is_file():
        domains = [path.name.rsplit("_", 1)[0]]
    else:
        domains = available_domains(folder)
    if not domains:
        raise DataError("no <domain>_positive.review / <domain>_negative.review pair", file=folder)
    frame = pd.concat([load_reviews(folder, d) for d in domains], ignore_index=True)
    texts = [_join(t, b) for t, b in zip(frame["title"], frame["text"], strict=True)]
    name = path.name if path.is_dir() else f"{folder.name}/{domains[0]}"
    return name, texts, frame["rating"].to_numpy(np.float32)


def _pick(frame: pd.DataFrame, given: str | None, names: tuple[str, ...], what: str, path: Path) -> str:
    if given is not None:
        if given not in frame.columns:
            found = ", ".join(map(str, frame.columns[:12]))
            raise DataError(f"no such column (found: {found})", file=path, field=given)
        return given
    for name in names:
        if name in frame.columns:
            return name
    found = ", ".join(map(str, frame.columns[:12]))
    option = "--text-column" if what == "text" else "--rating-column"
    raise DataError(f"no {what} column (found: {found}); name it with {option}", file=path, field=names[0])


def _table(
    path: Path, *, amazon: bool, text: str | None, rating: str | None
) -> tuple[str, list[str], np.ndarray]:
    from lmrec.data.loaders.table import read_table

    if path.is_dir():
        raise DataError("a review table is a file, not a folder (or pass --format mdsd)", file=path)
    frame, first_line = read_table(path, sep=None)
    if len(frame) == 0:
        raise DataError("no rows", file=path)
    text_col = _pick(frame, text, TEXT_COLUMNS, "text", path)
    rating_col = _pick(frame, rating, RATING_COLUMNS, "rating", path)
    title_col = next(
        (c for c in ("summary", "title") if amazon and c in frame.columns and c != text_col), None
    )
    raw = frame[rating_col]
    blank = raw.isna() | raw.astype(str).str.strip().isin(["", "nan", "None"])
    stars = pd.to_numeric(raw, errors="coerce")
    bad = (stars.isna() & ~blank) | (stars.notna() & ((stars < 1) | (stars > 5)))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        value = str(raw.iloc[row])
        value = value if len(value) <= 40 else value[:40] + "..."
        raise DataError(f"rating must be stars from 1 to 5, not {value!r}", file=path, line=row + first_line,
                        field=rating_col)  # fmt: skip
    bodies = frame[text_col].astype(object).where(frame[text_col].notna(), "").astype(str)
    titles = (
        frame[title_col].astype(object).where(frame[title_col].notna(), "").astype(str) if title_col else None
    )
    texts = [_join(titles.iloc[i] if titles is not None else "", bodies.iloc[i]) for i in range(len(frame))]
    keep = np.array([bool(t.strip()) for t in texts]) & stars.notna().to_numpy()
    if not keep.any():
        raise DataError("no row has both a text and a rating", file=path, field=text_col)
    name = path.name.split(".")[0]
    return name, [t for t, k in zip(texts, keep, strict=True) if k], stars.to_numpy(np.float32)[keep]


def _join(title: str, body: str) -> str:
    title, body = (title or "").strip(), (body or "").strip()
    if title and body:
        return title + (" " if title[-1] in ".!?" else ". ") + body
    return title or body


__all__ = ["REVIEW_FORMATS", "corpus_from_path", "guess_review_format"]
