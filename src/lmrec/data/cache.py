"""On-disk cache of parsed datasets: Parquet tables plus a small JSON file, keyed by the source bytes.

The key is a sha256 over the loader's format and options, the lmrec version, the source code of the loader
module, and the bytes of every source file, so any change to the data or to the parser gives a new entry.
A cache entry that cannot be read (truncated, edited, from another version) is discarded and the files are
parsed again. Entries are written to a temporary folder and renamed into place, so concurrent loads never see
half an entry. Location: ``parsed/`` in :func:`lmrec.paths.cache_root` (default ``~/.cache/lmrec/parsed``);
downloaded datasets live in the cache root itself.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lmrec.data._dataset import Dataset, Interactions, ItemTable, UserTable
from lmrec.paths import cache_root

CACHE_VERSION = 1
_META_FILE = "dataset.json"
# loader options whose values name files (their bytes are part of the key)
FILE_OPTIONS = ("items_path", "items", "reviews", "meta", "news", "behaviors")


def resolve_file_option(value: str | Path, folder: Path) -> Path:
    """Where a file option points: an absolute path as it is; a relative one from the working folder when
    it exists there, else next to the data (inside ``folder``). The loaders and the cache key share it, so
    the key always covers the file a load reads."""
    p = Path(value).expanduser()
    return p if p.is_absolute() or p.exists() else folder / p


def parsed_dir() -> Path:
    """Where parsed datasets are cached."""
    return cache_root() / "parsed"


def source_files(path: Path, options: Mapping[str, Any] | None = None) -> list[Path]:
    """The files a load reads: every regular file of the folder (or the file itself and its folder's files
    named by options such as ``items_path=``)."""
    files: set[Path] = set()
    if path.is_dir():
        files.update(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        folder = path
    else:
        files.add(path)
        folder = path.parent
    for key in FILE_OPTIONS:
        value = (options or {}).get(key)
        if isinstance(value, (str, Path)):
            p = resolve_file_option(value, folder)
            if p.is_file():
                files.add(p)
    return sorted(files)


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _code_digest(modules: Iterable[str]) -> str:
    h = hashlib.sha256()
    for module in modules:
        spec = importlib.util.find_spec(module)
        if spec is not None and spec.origin and Path(spec.origin).is_file():
            h.update(Path(spec.origin).read_bytes())
    return h.hexdigest()


def cache_key(fmt: str, path: Path, options: Mapping[str, Any], *, loader_module: str | None = None) -> str:
    """A sha256 (hex) identifying the parse of ``path`` with ``fmt`` and ``options``."""
    from lmrec import __version__

    h = hashlib.sha256()
    spec = {"v": CACHE_VERSION, "lmrec": __version__, "format": fmt, "options": options}
    h.update(json.dumps(spec, sort_keys=True, default=str).encode())
    modules = ["lmrec.data._build", "lmrec.data._dataset", "lmrec.data.loaders._read"]
    if loader_module:
        modules.append(loader_module)
    h.update(_code_digest(modules).encode())
    # loaders other than `table` read the files next to the one they are given (u.item beside u.data)
    scope = path if path.is_dir() or fmt == "table" else path.parent
    for f in source_files(scope, options):
        h.update(f.name.encode() + b"\0" + _file_digest(f).encode())
    return h.hexdigest()


def cached_load(
    fmt: str,
    path: Path,
    options: Mapping[str, Any],
    load: Callable[[], Dataset],
    *,
    cache_dir: Path | None = None,
    loader_module: str | None = None,
) -> Dataset:
    """``load()`` through the cache: a hit reads Parquet; a miss (or an unreadable entry) parses and saves.

    The returned dataset's ``meta["cache"]`` is ``"hit"`` or ``"miss"``.
    """
    root = Path(cache_dir) if cache_dir is not None else parsed_dir()
    key = cache_key(fmt, path, options, loader_module=loader_module)
    entry = root / key[:32]
    if (entry / _META_FILE).is_file():
        try:
            return _with_meta(read_dataset(entry), cache="hit")
        except Exception:  # noqa: BLE001 - any unreadable entry is simply rebuilt
            shutil.rmtree(entry, ignore_errors=True)
    data = load()
    try:
        write_dataset(data, entry)
    except (OSError, TypeError, ValueError, ImportError) as exc:
        # a dataset whose metadata cannot be stored (or a read-only cache) is still returned, uncached
        return _with_meta(data, cache=f"not stored: {type(exc).__name__}")
    return _with_meta(data, cache="miss")


def _with_meta(data: Dataset, **extra: Any) -> Dataset:
    data.meta.update(extra)
    return data


def write_dataset(data: Dataset, entry: Path) -> None:
    """Store ``data`` in folder ``entry`` (written elsewhere first, then renamed into place)."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=entry.name + ".", dir=entry.parent))
    try:
        inter = data.interactions
        cols: dict[str, Any] = {"user": inter.user, "item": inter.item, "timestamp": inter.timestamp}
        if inter.rating is not None:
            cols["rating"] = inter.rating
        if inter.text is not None:
            cols["text"] = inter.text
        if data.fixed_split is not None:
            cols["fixed_split"] = data.fixed_split
        _to_parquet(pd.DataFrame(cols), tmp / "interactions.parquet")
        _to_parquet(data.items.frame, tmp / "items.parquet")
        _to_parquet(pd.DataFrame({"id": data.user_ids}), tmp / "user_ids.parquet")
        _to_parquet(pd.DataFrame({"id": data.item_ids}), tmp / "item_ids.parquet")
        if data.users is not None:
            _to_parquet(data.users.frame, tmp / "users.parquet")
        meta, tables = _split_meta(data.meta)
        for key, frame in tables.items():
            _to_parquet(frame, tmp / f"meta-{key}.parquet")
        doc = {
            "version": CACHE_VERSION,
            "name": data.name,
            "domain": data.domain,
            "interactions_domain": inter.domain,
            "n_users": inter.n_users,
            "n_items": inter.n_items,
            "item_fields": {
                "text": list(data.items.text_fields),
                "numeric": list(data.items.numeric_fields),
                "categorical": list(data.items.categorical_fields),
                "vector": list(data.items.vector_fields),
            },
            "user_text_fields": None if data.users is None else list(data.users.text_fields),
            "meta": meta,
            "meta_tables": sorted(tables),
        }
        (tmp / _META_FILE).write_text(json.dumps(doc), encoding="utf-8")
        if entry.exists():
            shutil.rmtree(entry, ignore_errors=True)
        os.replace(tmp, entry)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_dataset(entry: Path) -> Dataset:
    """Read a dataset stored by :func:`write_dataset`."""
    doc = json.loads((entry / _META_FILE).read_text(encoding="utf-8"))
    if doc.get("version") != CACHE_VERSION:
        raise ValueError("cache entry from another version")
    inter_frame = pd.read_parquet(entry / "interactions.parquet")
    inter = Interactions(
        user=inter_frame["user"].to_numpy(),
        item=inter_frame["item"].to_numpy(),
        timestamp=inter_frame["timestamp"].to_numpy(),
        n_users=int(doc["n_users"]),
        n_items=int(doc["n_items"]),
        rating=inter_frame["rating"].to_numpy() if "rating" in inter_frame else None,
        text=inter_frame["text"].to_numpy(object) if "text" in inter_frame else None,
        domain=doc["interactions_domain"],
    )
    fields = doc["item_fields"]
    items = ItemTable(
        _from_parquet(entry / "items.parquet"),
        text_fields=tuple(fields["text"]),
        numeric_fields=tuple(fields["numeric"]),
        categorical_fields=tuple(fields["categorical"]),
        vector_fields=tuple(fields["vector"]),
    )
    users = None
    if doc["user_text_fields"] is not None:
        users = UserTable(_from_parquet(entry / "users.parquet"), text_fields=tuple(doc["user_text_fields"]))
    meta = dict(doc["meta"])
    for key in doc["meta_tables"]:
        table = _from_parquet(entry / f"meta-{key}.parquet")
        if key.endswith(".array"):
            meta[key[: -len(".array")]] = table["value"].to_numpy()
        else:
            meta[key] = table
    return Dataset(
        name=doc["name"],
        domain=doc["domain"],
        interactions=inter,
        items=items,
        user_ids=pd.read_parquet(entry / "user_ids.parquet")["id"].to_numpy(),
        item_ids=pd.read_parquet(entry / "item_ids.parquet")["id"].to_numpy(),
        users=users,
        fixed_split=inter_frame["fixed_split"].to_numpy() if "fixed_split" in inter_frame else None,
        meta=meta,
    )


def _split_meta(meta: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """JSON-able metadata and the tables (frames, arrays) stored beside it; anything else is refused."""
    plain: dict[str, Any] = {}
    tables: dict[str, pd.DataFrame] = {}
    for key, value in meta.items():
        if key == "cache":
            continue
        if isinstance(value, pd.DataFrame):
            tables[key] = value
        elif isinstance(value, np.ndarray):
            tables[f"{key}.array"] = pd.DataFrame({"value": value})
        else:
            json.dumps(value)  # TypeError when it cannot be stored faithfully
            plain[key] = value
    return plain, tables


def _to_parquet(frame: pd.DataFrame, path: Path) -> None:
    frame = frame.reset_index(drop=True)
    out = {}
    for col in frame.columns:
        s = frame[col]
        if s.dtype == object:
            # missing cells in list/text columns are stored as nulls (pyarrow rejects a float NaN in a list)
            s = s.map(lambda v: None if isinstance(v, float) and np.isnan(v) else v)
        out[str(col)] = s
    pd.DataFrame(out).to_parquet(path, index=False)


def _from_parquet(path: Path) -> pd.DataFrame:
    frame = pd.read_parquet(path)
    for col in frame.columns:
        s = frame[col]
        if s.dtype == object:
            frame[col] = s.map(lambda v: v.tolist() if isinstance(v, np.ndarray) else v)
    return frame
