"""One module per public format; each exposes ``load(path, **options) -> Dataset``.

``FORMATS`` is the explicit format-name -> module mapping (no scanning). ``path`` is the dataset's folder or
main file, as each module documents.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any

from lmrec.errors import LmrecError

FORMATS: dict[str, str] = {
    "movielens-100k": "lmrec.data.loaders.movielens",
    "movielens-1m": "lmrec.data.loaders.movielens",
    "movielens-csv": "lmrec.data.loaders.movielens",  # 20M / 25M / latest
    "amazon-2014": "lmrec.data.loaders.amazon",
    "amazon-2018": "lmrec.data.loaders.amazon",
    "amazon-2023": "lmrec.data.loaders.amazon",
    "unisrec": "lmrec.data.loaders.unisrec",
    "lcrec-json": "lmrec.data.loaders.lcrec",
    "p5-sequence": "lmrec.data.loaders.p5",
    "recbole": "lmrec.data.loaders.recbole",
    "mind": "lmrec.data.loaders.mind",
    "lastfm-hetrec": "lmrec.data.loaders.lastfm",
    "mdsd": "lmrec.data.loaders.mdsd",
    "douban": "lmrec.data.loaders.douban",
    "table": "lmrec.data.loaders.table",  # generic CSV/TSV/Parquet/JSONL with a column mapping
}


class UnknownOptionError(LmrecError):
    """A loader option the format does not have (``load_dataset`` adds a hint when it guessed the format)."""


def load_format(fmt: str, path: str | Path, **options: Any) -> Any:
    """Load ``path`` with the loader of format ``fmt``."""
    module = FORMATS.get(fmt)
    if module is None:
        raise LmrecError(f"unknown format '{fmt}'; known: {', '.join(sorted(FORMATS))}")
    p = Path(path)
    if not p.exists():
        raise LmrecError(f"{p}: no such file or folder")
    load = importlib.import_module(module).load
    return load(p, format=fmt, **_checked_options(fmt, load, options))


def _checked_options(fmt: str, load: Any, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` checked against the loader's parameters: an unknown name is a one-line error listing the
    known ones, and a string given for a list of columns is a comma list (``item_text=title,genre``; a
    single name stays one column, never its letters)."""
    params = inspect.signature(load).parameters
    known = [p.name for p in list(params.values())[1:] if p.name != "format" and p.kind is not p.VAR_KEYWORD]
    out: dict[str, Any] = {}
    for key, value in options.items():
        if key not in known:
            raise UnknownOptionError(f"format '{fmt}' has no option '{key}'; its options: {', '.join(known)}")
        if isinstance(value, str) and "Sequence[str]" in str(params[key].annotation):
            value = [part.strip() for part in value.split(",") if part.strip()]
        out[key] = value
    return out
