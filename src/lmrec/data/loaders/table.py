"""Any event table (CSV, TSV, Parquet, JSON lines; optionally gzipped) with a column mapping.

Options: ``user=`` / ``item=`` (id columns, default ``user_id`` / ``item_id``), ``time=`` (seconds or dates;
default ``timestamp`` when present, else file order), ``rating=`` (default ``rating`` when present), ``text=``
(per-event review text), ``item_text=[...]`` (item text columns, read from the event file unless
``items_path=`` names a separate item file whose id column is ``item_id=``, by default the ``item`` column
name),
``item_numeric=[...]``, ``item_categorical=[...]``, ``sep=`` (default by extension), ``encoding=``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from lmrec.data._build import build_dataset
from lmrec.data._dataset import Dataset
from lmrec.data.cache import resolve_file_option
from lmrec.data.loaders._read import (
    check_numeric,
    iter_json_lines,
    one_line,
    read_bytes,
    read_delimited,
    require_columns,
    shorten,
    to_timestamps,
)
from lmrec.errors import DataError

_SEPARATORS = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".txt": "\t"}


def load(
    path: Path,
    *,
    format: str = "table",
    user: str = "user_id",
    item: str = "item_id",
    time: str | None = None,
    rating: str | None = None,
    text: str | None = None,
    item_text: Sequence[str] | None = None,
    item_numeric: Sequence[str] = (),
    item_categorical: Sequence[str] = (),
    items_path: str | Path | None = None,
    item_id: str | None = None,
    sep: str | None = None,
    encoding: str = "utf-8",
    name: str | None = None,
    domain: str | None = None,
    unknown_items: str = "error",
) -> Dataset:
    """Load an event table with a column mapping (see the module docstring)."""
    if path.is_dir():
        raise DataError("the table format needs a file, not a folder", file=path)
    frame, first_line = read_table(path, sep=sep, encoding=encoding, required=(user, item))
    if len(frame) == 0:
        raise DataError("no rows after the header", file=path, field=user)
    if time is None and "timestamp" in frame.columns:
        time = "timestamp"
    if rating is None and "rating" in frame.columns:
        rating = "rating"
    require_columns(frame, [c for c in (time, rating, text) if c is not None], path)

    events = pd.DataFrame(
        {
            "user": _ids(frame, user, path, first_line),
            "item": _ids(frame, item, path, first_line),
        }
    )
    if time is not None:
        events["timestamp"] = parse_time(frame, time, path, first_line)
    if rating is not None:
        events["rating"] = check_numeric(frame, rating, path, first_line=first_line)
    if text is not None:
        events["text"] = frame[text].astype(object).where(frame[text].notna(), "").to_numpy()

    items = None
    item_source: Path | None = None
    item_first = first_line
    numeric = tuple(item_numeric)
    categorical = tuple(item_categorical)
    if items_path is not None:
        item_source = resolve_file_option(items_path, path.parent)
        id_col = item_id or item
        raw_items, item_first = read_table(item_source, sep=None, encoding=encoding, required=(id_col,))
        items = pd.DataFrame({"item_id": _ids(raw_items, id_col, item_source, item_first)})
        if item_text is None:
            item_text = [
                c
                for c in raw_items.columns
                if c != id_col
                and c not in numeric
                and c not in categorical
                and not _looks_numeric(raw_items[c])
            ]
        require_columns(raw_items, [*item_text, *numeric, *categorical], item_source)
        for col in item_text:
            items[col] = _text(raw_items[col])
        for col in numeric:
            items[col] = check_numeric(raw_items, col, item_source, first_line=item_first, allow_missing=True)
        for col in categorical:
            items[col] = raw_items[col].astype(str).to_numpy()
    elif item_text or numeric or categorical:
        item_source = path
        require_columns(frame, [*(item_text or ()), *numeric, *categorical], path)
        items = pd.DataFrame({"item_id": events["item"]})
        for col in item_text or ():
            items[col] = _text(frame[col])
        for col in numeric:
            items[col] = check_numeric(frame, col, path, first_line=first_line, allow_missing=True)
        for col in categorical:
            items[col] = frame[col].astype(str).to_numpy()
    return build_dataset(
        name or path.name.split(".")[0],
        domain or path.name.split(".")[0],
        events,
        items,
        source=path,
        item_source=item_source,
        text_fields=tuple(item_text or ()),
        numeric_fields=numeric,
        categorical_fields=categorical,
        unknown_items=unknown_items,
        meta={"format": "table"},
        first_line=first_line,
        item_first_line=item_first,
    )


def read_table(
    path: Path, *, sep: str | None, encoding: str = "utf-8", required: Sequence[str] = ()
) -> tuple[pd.DataFrame, int]:
    """(frame, file line of its first row) for a CSV/TSV/Parquet/JSON-lines file (``.gz`` allowed)."""
    if not path.is_file():
        raise DataError("no such file", file=path)
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    ext = suffixes[-1] if suffixes else ""
    if ext == ".parquet":
        try:
            frame = pd.read_parquet(io.BytesIO(read_bytes(path)))
        except Exception as exc:  # pyarrow raises many types for corrupt files
            raise DataError(f"cannot read Parquet ({one_line(exc)})", file=path) from None
        if len(frame) == 0:
            raise DataError("file has no rows", file=path, field=required[0] if required else None)
        require_columns(frame, required, path)
        return frame, 1
    if ext in (".jsonl", ".json", ".ndjson"):
        records = [obj for _, obj in iter_json_lines(path, encoding, field=required[0] if required else None)]
        frame = pd.DataFrame.from_records(records)
        require_columns(frame, required, path)
        return frame, 1
    if sep == "\\t":  # typed on a command line: --data-option 'sep=\t'
        sep = "\t"
    if sep is None:
        sep = _SEPARATORS.get(ext)
        if sep is None:
            raise DataError("unknown file type; pass sep=... (or use .csv/.tsv/.parquet/.jsonl)", file=path)
    frame = read_delimited(path, sep=sep, encoding=encoding, required=required, quoting=csv.QUOTE_MINIMAL)
    return frame, 2


def parse_time(frame: pd.DataFrame, column: str, path: Path, first_line: int) -> np.ndarray:
    """Seconds since the epoch from numbers or date strings (ISO dates and the like)."""
    raw = frame[column]
    numbers = pd.to_numeric(raw, errors="coerce")
    if numbers.notna().all():
        values = check_numeric(frame, column, path, first_line=first_line)
        return to_timestamps(values, path, first_line=first_line, field=column)
    dates = pd.to_datetime(raw.astype(str), errors="coerce", utc=True, format="mixed")
    parsed = numbers.notna() | dates.notna()
    if parsed.all() and numbers.isna().all():
        # resolution-independent (pandas 3 parses to microseconds, pandas 2 to nanoseconds)
        epoch = pd.Timestamp(0, tz="UTC")
        seconds = ((dates - epoch) // pd.Timedelta(seconds=1)).to_numpy(np.float64)
        return to_timestamps(seconds, path, first_line=first_line, field=column)
    row = int(
        np.flatnonzero((~parsed | numbers.notna()).to_numpy() if parsed.all() else ~parsed.to_numpy())[0]
    )
    raise DataError(
        f"cannot parse {shorten(repr(raw.iloc[row]))} as a number or a date",
        file=path,
        line=row + first_line,
        field=column,
    )


def _ids(frame: pd.DataFrame, column: str, path: Path, first_line: int) -> np.ndarray:
    raw = frame[column]
    values = raw.astype(str).str.strip()
    if pd.api.types.is_float_dtype(raw.dtype) and raw.notna().all() and (raw == raw.round()).all():
        values = raw.astype(np.int64).astype(str)  # 1.0 -> "1" (JSON/Parquet ids read as floats)
    empty = raw.isna() | values.isin(["", "nan", "None"])
    if empty.any():
        row = int(np.flatnonzero(empty.to_numpy())[0])
        raise DataError("missing id", file=path, line=row + first_line, field=column)
    return values.to_numpy(dtype=object)


def _text(col: pd.Series) -> np.ndarray:
    return np.asarray([_cell_text(v) for v in col], dtype=object)


def _cell_text(v: object) -> object:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    if isinstance(v, (list, tuple, np.ndarray)):
        return [str(x) for x in v]
    return str(v).strip()


def _looks_numeric(col: pd.Series) -> bool:
    if pd.api.types.is_numeric_dtype(col.dtype):
        return True
    values = col[col.astype(str).str.strip() != ""]
    return len(values) > 0 and pd.to_numeric(values, errors="coerce").notna().all()
