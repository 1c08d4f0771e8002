"""Shared reading helpers for the review/news loaders: line reading with file:line errors, HTML cleaning.

Every failure while reading a user's file becomes a one-line :class:`~lmrec.errors.DataError` naming the file
and, when known, the line.
"""

from __future__ import annotations

import ast
import gzip
import html
import json
import re
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from lmrec.errors import DataError

# also an unclosed tag at the end (Amazon 2018 '<span class="..."' titles)
_TAG = re.compile(r"</?[A-Za-z!][^<>]*(?:>|$)")  # a tag-like "<" only: "I <3 it" stays
_SPACE = re.compile(r"\s+")


def clean_html(value: Any) -> str:
    """Plain text from a scraped field: entities decoded, tags removed, whitespace collapsed.

    Entities are decoded twice because Amazon meta often double-escapes (``&amp;amp;``); tags are removed
    after decoding so that escaped markup (``&lt;b&gt;``) goes too.
    """
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return " ".join(p for p in (clean_html(v) for v in value) if p)
    text = html.unescape(html.unescape(str(value)))
    text = _TAG.sub(" ", text)
    return _SPACE.sub(" ", text).strip()


def decode_bytes(raw: bytes) -> str:
    """UTF-8, falling back to Latin-1 (old research dumps mix both; Latin-1 never fails)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def read_text(path: Path) -> str:
    """The whole file as text (gzip when the name ends in .gz), with one-line errors."""
    return "\n".join(line for _, line in iter_lines(path))


def iter_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for every line (1-based, newline stripped), plain or gzip.

    A truncated or corrupt gzip stream raises a DataError naming the last line that could be read.
    """
    if not path.is_file():
        raise DataError("no such file", file=path)
    opener: Callable[..., Any] = gzip.open if path.name.endswith(".gz") else open
    n = 0
    try:
        with opener(path, "rb") as fh:
            for raw in fh:
                n += 1
                yield n, decode_bytes(raw).rstrip("\r\n")
    except (EOFError, OSError, zlib.error) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        what = f"truncated or corrupt file after {n} lines ({reason})"
        raise DataError(what, file=path, line=n + 1) from None


def iter_records(path: Path, *, python_literals: bool = False) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, record)`` for each non-blank line holding one JSON object.

    ``python_literals``: lines are Python dict literals (Amazon 2014 meta: single quotes), parsed with
    :func:`ast.literal_eval` (never ``eval``). Either way the other syntax is tried before giving up, because
    mirrors of these dumps were re-serialised both ways.
    """
    first: Callable[[str], Any] = _literal if python_literals else json.loads
    second: Callable[[str], Any] = json.loads if python_literals else _literal
    for n, line in iter_lines(path):
        if not line.strip():
            continue
        try:
            rec = first(line)
        except (ValueError, SyntaxError, RecursionError, MemoryError, TypeError):
            try:
                rec = second(line)
            except (ValueError, SyntaxError, RecursionError, MemoryError, TypeError):
                what = "Python literal" if python_literals else "JSON"
                raise DataError(f"invalid {what} line: {line[:60]!r}", file=path, line=n) from None
        if not isinstance(rec, dict):
            raise DataError(f"expected an object per line, got {type(rec).__name__}", file=path, line=n)
        yield n, rec


def _literal(line: str) -> Any:
    return ast.literal_eval(line.strip())


def read_tsv_lines(path: Path) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line_number, fields)`` of a tab-separated file without quoting rules (MIND, HetRec)."""
    for n, line in iter_lines(path):
        if line.strip():
            yield n, line.split("\t")
