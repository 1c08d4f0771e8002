"""Reading helpers shared by the loaders: every failure becomes one-line :class:`DataError` naming the file.

pandas and the json module raise multi-line or context-free errors; these wrappers turn them into messages
that say which file, which line and which field is wrong, so the CLI can print exactly one line.

Two ways in, one module: whole-file readers with a strict encoding (:func:`read_bytes`,
:func:`read_text`, :func:`read_delimited`, :func:`load_json`, :func:`iter_json_lines`) for the table-shaped
formats, and streaming line readers that fall back to Latin-1 (:func:`iter_lines`, :func:`iter_records`,
:func:`read_tsv_lines`, :func:`read_text_lenient`) for the large, mixed-encoding review/news dumps. Both read
plain or gzip files and share the gzip failure handling.
"""

from __future__ import annotations

import ast
import csv
import gzip
import html
import io
import json
import re
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lmrec.errors import DataError

_QUOTED_LIST = re.compile(r"""^\s*(['"]).*\1\s*(,\s*(['"]).*\3\s*)*$""", re.S)

# what reading a damaged gzip stream raises (both the whole-file and the streaming readers catch these)
_GZIP_ERRORS = (EOFError, OSError, zlib.error)


def one_line(text: object) -> str:
    """The first non-empty line of an exception message (pandas messages span several lines)."""
    for line in str(text).splitlines():
        if line.strip():
            return line.strip()
    return str(text).strip() or "unknown error"


def read_bytes(path: Path) -> bytes:
    """The file's bytes, transparently gunzipped when the name ends in ``.gz``."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read file: {exc.strerror or exc}", file=path) from None
    if path.suffix == ".gz":
        try:
            return gzip.decompress(raw)
        except _GZIP_ERRORS as exc:
            partial = _partial_gunzip(raw)
            line = partial.count(b"\n") + 1 if partial else None
            last = partial[partial.rfind(b"\n") + 1 :].decode("utf-8", errors="replace") if partial else ""
            raise DataError(
                f"truncated or corrupt gzip file ({one_line(exc)})",
                file=path,
                line=line,
                field=last_json_key(last),
            ) from None
    return raw


def _partial_gunzip(raw: bytes) -> bytes:
    """As much of a damaged gzip stream as can be decompressed (to say where it breaks)."""
    d = zlib.decompressobj(wbits=31)
    out = b""
    try:
        for i in range(0, len(raw), 1 << 16):
            out += d.decompress(raw[i : i + (1 << 16)])
    except zlib.error:
        pass
    return out


_JSON_KEY = re.compile(r'"((?:[^"\\]|\\.)*)"\s*:')


def last_json_key(text: str) -> str | None:
    """The last ``"key":`` in ``text`` (the JSON field a truncated or broken document stops in)."""
    keys = _JSON_KEY.findall(text)
    return keys[-1] if keys else None


def decode(
    data: bytes,
    path: Path,
    encoding: str = "utf-8",
    *,
    sep: str | None = None,
    columns: Sequence[str] | None = None,
) -> str:
    """Decode ``data``; a decoding error names the line and (when ``sep``/``columns`` are known) the field."""
    if encoding.lower().replace("-", "") in ("utf8", "utf8sig") and data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        field = None
        if sep is not None:
            start = data.rfind(b"\n", 0, exc.start) + 1
            col = data[start : exc.start].count(sep.encode(encoding, errors="replace"))
            if columns is not None and col < len(columns):
                field = str(columns[col])
            elif columns is None and line > 1:
                header = data[: data.find(b"\n")].decode(encoding, errors="replace").split(sep)
                field = header[col].strip() if col < len(header) else f"column {col + 1}"
            else:
                field = f"column {col + 1}"
        raise DataError(
            f"byte 0x{data[exc.start]:02x} is not valid {encoding} (wrong encoding? pass encoding=...)",
            file=path,
            line=line,
            field=field,
        ) from None


def read_text(path: Path, encoding: str = "utf-8", **kwargs: Any) -> str:
    """Read and decode a (possibly gzipped) text file."""
    return decode(read_bytes(path), path, encoding, **kwargs)


def read_delimited(
    path: Path,
    *,
    sep: str,
    names: Sequence[str] | None = None,
    encoding: str = "utf-8",
    quoting: int = csv.QUOTE_MINIMAL,
    required: Sequence[str] = (),
) -> pd.DataFrame:
    """A delimited file as a frame of strings (no NA guessing: empty cells are ``""``).

    With ``names`` the file has no header row; otherwise the first row is the header. Multi-character
    separators (MovieLens ``::``) are swapped for a control character so the fast C parser can be used.
    ``required`` columns must be present (one-line DataError naming the first missing one).
    """
    data = read_bytes(path)
    text = decode(data, path, encoding, sep=sep, columns=names)
    first_field = required[0] if required else (names[0] if names else None)
    if not text.strip():
        raise DataError("file is empty", file=path, field=first_field)
    if len(sep) > 1:
        text = text.replace(sep, "\x1f")
        sep = "\x1f"
    try:
        # with ``names`` the file is read without them and its width checked below: pandas would drop the
        # extra fields of a wider file with only a warning
        frame = pd.read_csv(
            io.StringIO(text),
            sep=sep,
            header=None if names is not None else 0,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            quoting=quoting,
            engine="c",
            skip_blank_lines=True,
            index_col=False,
        )
    except pd.errors.EmptyDataError:
        raise DataError("file is empty", file=path, field=first_field) from None
    except pd.errors.ParserError as exc:
        msg = one_line(exc)
        m = re.search(r"line (\d+)", msg)
        raise DataError(f"malformed row ({msg})", file=path, line=int(m.group(1)) if m else None) from None
    if names is not None:
        frame = _fit_width(frame, list(names), path)
    frame.columns = [str(c).strip() for c in frame.columns]
    require_columns(frame, required, path)
    return frame


def _fit_width(frame: pd.DataFrame, names: list[str], path: Path) -> pd.DataFrame:
    """Name the columns of a header-less file; a row with more fields than ``names`` is a DataError (empty
    trailing fields, a separator at the end of the line, are allowed); missing trailing fields are ``""``."""
    width = frame.shape[1]
    if width > len(names):
        extra = frame.iloc[:, len(names) :].astype(str).apply(lambda c: c.str.strip() != "").any(axis=1)
        if extra.any():
            row = int(np.flatnonzero(extra.to_numpy())[0])
            raise DataError(
                f"{width} fields, expected {len(names)} ({', '.join(names)})",
                file=path,
                line=row + 1,
                field=f"column {len(names) + 1}",
            )
        frame = frame.iloc[:, : len(names)].copy()
    for col in range(frame.shape[1], len(names)):
        frame[col] = ""
    frame.columns = names
    return frame


def require_columns(frame: pd.DataFrame, columns: Sequence[str], path: Path | str | None) -> None:
    """Raise a one-line DataError naming the first of ``columns`` missing from ``frame``."""
    for col in columns:
        if col not in frame.columns:
            found = ", ".join(map(str, frame.columns[:12]))
            hint = ""
            if len(frame.columns) == 1:  # one column whose name holds another separator: say which
                sep = next((c for c in (";", "\t", "|") if c in str(frame.columns[0])), None)
                if sep is not None:
                    shown = "\\t" if sep == "\t" else sep
                    hint = f"; the header looks separated by {sep!r}: give the loader option sep={shown}"
            raise DataError(f"missing column (found: {found}){hint}", file=path, field=col)


def check_numeric(
    frame: pd.DataFrame,
    column: str,
    path: Path | str | None,
    *,
    first_line: int = 1,
    allow_missing: bool = False,
    field: str | None = None,
) -> np.ndarray:
    """Parse one column as float64; unparsable, NaN or infinite values raise a DataError with the file line.

    ``first_line`` is the file line of the frame's first row (2 when the file has a header row).
    """
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce")
    if pd.api.types.is_numeric_dtype(raw.dtype):
        empty = raw.isna()
    else:
        empty = raw.isna() | raw.astype(str).str.strip().isin(["", "None", "null"])
    # 'NaN' / 'inf' parse as numbers and are reported as such below
    bad = values.isna() & ~empty & ~raw.astype(str).str.strip().str.lower().isin(["nan", "-nan"])
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"cannot parse {shorten(repr(raw.iloc[row]))} as a number",
            file=path,
            line=row + first_line,
            field=field or column,
        )
    arr = values.to_numpy(dtype=np.float64)
    nonfinite = ~np.isfinite(arr)
    if allow_missing:
        nonfinite &= ~empty.to_numpy()
    if nonfinite.any():
        row = int(np.flatnonzero(nonfinite)[0])
        what = "missing" if bool(empty.iloc[row]) else "NaN or infinite"
        raise DataError(f"value is {what}", file=path, line=row + first_line, field=field or column)
    return arr


# timestamps are seconds (milliseconds in some releases); 2**53 is where float64 stops counting exactly, far
# beyond any real clock and far below int64's limit, where a cast would silently wrap around
MAX_TIMESTAMP = 2**53


def to_timestamps(
    values: np.ndarray, path: Path | str | None, *, first_line: int = 1, field: str = "timestamp"
) -> np.ndarray:
    """Finite float timestamps as int64; a negative or out-of-range value is a DataError naming its line."""
    values = np.asarray(values, dtype=np.float64)
    bad = (values < 0) | (values > MAX_TIMESTAMP) | ~np.isfinite(values)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        v = values[row]
        what = f"is negative ({v:.0f})" if v < 0 else f"is out of range ({shorten(f'{v:.6g}')}; at most 2^53)"
        raise DataError(f"timestamp {what}", file=path, line=row + first_line, field=field)
    return values.astype(np.int64)


# an id longer than this is not an id (a whole file pasted into a cell, a broken quote); longer ids would also
# make numpy's fixed-width string arrays (len x rows) explode
MAX_ID_LENGTH = 1000


def shorten(value: object, limit: int = 60) -> str:
    """``value`` as text, cut to ``limit`` characters with its full length said (for error messages)."""
    text = str(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text):,} characters)"


def load_json(path: Path, encoding: str = "utf-8", *, field: str | None = None) -> Any:
    """Parse a JSON document; a syntax error (e.g. a truncated file) names the line and the last key read.

    ``field`` is named when the file is empty (what was expected in it)."""
    text = read_text(path, encoding)
    if not text.strip():
        raise DataError("file is empty", file=path, field=field)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        what = "truncated JSON" if _truncated(exc, text) else f"invalid JSON ({exc.msg})"
        key = last_json_key(text[max(0, exc.pos - 100_000) : exc.pos]) or field
        raise DataError(what, file=path, line=exc.lineno, field=key) from None


def _truncated(exc: json.JSONDecodeError, text: str) -> bool:
    """Does the document stop early (rather than hold a wrong character)?"""
    return exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string")


def iter_json_lines(
    path: Path, encoding: str = "utf-8", *, field: str | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line of a JSON-lines file (gzip allowed)."""
    text = read_text(path, encoding)
    if not text.strip():
        raise DataError("file is empty", file=path, field=field)
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            what = "truncated JSON line" if _truncated(exc, line) else f"invalid JSON line ({exc.msg})"
            raise DataError(what, file=path, line=n, field=last_json_key(line[: exc.pos]) or field) from None
        if not isinstance(obj, dict):
            raise DataError("each line must be a JSON object", file=path, line=n)
        yield n, obj


def split_list(value: Any) -> list[str]:
    """A list-valued cell as a list of strings.

    Handles the quoted, comma-separated form used by some RecBole item files (``'Beauty', 'Makeup'``), plain
    comma lists and ``|`` lists; anything else becomes a one-element list.
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, (list, tuple, np.ndarray)):
        return [str(v) for v in value]
    s = str(value).strip()
    if not s:
        return []
    if _QUOTED_LIST.match(s):
        return [p for p in _quoted_items(s) if p]
    for sep in ("|", ","):
        if sep in s:
            return [p.strip() for p in s.split(sep) if p.strip()]
    return [s]


def _quoted_items(s: str) -> list[str]:
    out: list[str] = []
    i, n = 0, len(s)
    while i < n:
        while i < n and s[i] in " ,":
            i += 1
        if i >= n:
            break
        quote = s[i]
        if quote not in "'\"":
            j = s.find(",", i)
            j = n if j < 0 else j
            out.append(s[i:j].strip())
            i = j
            continue
        j = i + 1
        # a closing quote is one followed by optional spaces and then a comma or the end
        while j < n:
            if s[j] == quote:
                k = j + 1
                while k < n and s[k] == " ":
                    k += 1
                if k >= n or s[k] == ",":
                    break
            j += 1
        out.append(s[i + 1 : j].strip())
        i = j + 1
    return out


def find_data_file(path: Path, dataset: str | None, suffix: str, kind: str) -> Path:
    """The ``*{suffix}`` file a loader reads: ``path`` itself, ``path/{dataset}{suffix}``, or the only such
    file in the folder ``path`` (none or several: a DataError asking for ``dataset=NAME``).

    ``kind`` names the format in the error for a file with the wrong suffix (``"a RecBole"``)."""
    if path.is_file():
        if not path.name.endswith(suffix):
            raise DataError(f"expected {kind} {suffix} file", file=path)
        return path
    if dataset is not None:
        p = path / f"{dataset}{suffix}"
        if not p.is_file():
            raise DataError("required file is missing", file=p)
        return p
    found = sorted(p for p in path.glob(f"*{suffix}") if p.is_file())
    if len(found) != 1:
        what = (
            f"no {suffix} file"
            if not found
            else f"several {suffix} files ({', '.join(p.name for p in found)})"
        )
        raise DataError(f"{what}; pass dataset=NAME", file=path)
    return found[0]


def folder_and_file(path: Path, default_name: str | None = None) -> tuple[Path, Path | None]:
    """(folder, file): ``path`` may be the dataset folder or one of its files."""
    if path.is_dir():
        return path, (path / default_name if default_name else None)
    return path.parent, path


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


def read_text_lenient(path: Path) -> str:
    """The whole file as text via :func:`iter_lines` (gzip allowed, Latin-1 fallback per line, line ends
    normalised), with one-line errors."""
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
    except _GZIP_ERRORS as exc:
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
