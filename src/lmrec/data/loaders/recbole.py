"""RecBole atomic files: ``NAME.inter`` with optional ``NAME.item`` and ``NAME.user``.

Each file is tab separated with a typed header, e.g. ``user_id:token  item_id:token  rating:float
timestamp:float``. Types: ``token`` (a string id or label), ``token_seq`` (space separated tokens),
``float``, ``float_seq`` (space separated numbers).

Mapping: ``user_id`` / ``item_id`` / ``timestamp`` / ``rating`` columns of the ``.inter`` file (names can be
changed with ``user_field=`` etc.). In the ``.item`` file, ``token_seq`` columns and well-known text columns
(title, brand, ...) become item text; ``float`` columns numeric features; ``float_seq`` vector features; other
``token`` columns categorical features. ``rename={"movie_title": "title"}`` renames item columns.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lmrec.data._build import build_dataset
from lmrec.data._dataset import Dataset
from lmrec.data.loaders._read import check_numeric, find_data_file, read_delimited, split_list, to_timestamps
from lmrec.errors import DataError

TYPES = ("token", "token_seq", "float", "float_seq")
# token columns that hold words rather than labels
TEXT_TOKEN_COLUMNS = frozenset({"title", "name", "brand", "description", "summary", "abstract", "text"})


def load(
    path: Path,
    *,
    format: str = "recbole",
    dataset: str | None = None,
    name: str | None = None,
    domain: str | None = None,
    user_field: str = "user_id",
    item_field: str = "item_id",
    time_field: str = "timestamp",
    rating_field: str = "rating",
    rename: Mapping[str, str] | None = None,
    text_fields: Sequence[str] | None = None,
    list_fields: Sequence[str] = (),
    numeric_fields: Sequence[str] = (),
    unknown_items: str = "error",
    encoding: str = "utf-8",
) -> Dataset:
    """Load RecBole atomic files. ``path`` is the folder (``dataset=`` picks the prefix when several) or the
    ``.inter`` file. ``list_fields`` are item columns whose space separated tokens form a list (genres);
    ``numeric_fields`` are token item columns to read as numbers (a release year; non-numbers become NaN)."""
    inter_path = find_data_file(path, dataset, ".inter", "a RecBole")
    prefix = inter_path.name[: -len(".inter")]
    folder = inter_path.parent
    inter = _read_atomic(inter_path, encoding)
    types = inter.attrs["types"]
    for col in (user_field, item_field):
        if col not in inter.columns:
            raise DataError(f"missing column (found: {', '.join(inter.columns)})", file=inter_path, field=col)
    events = pd.DataFrame({"user": inter[user_field].str.strip(), "item": inter[item_field].str.strip()})
    for col, target in ((time_field, "timestamp"), (rating_field, "rating")):
        if col in inter.columns:
            if types[col] != "float":
                raise DataError(f"must be typed float, not {types[col]}", file=inter_path, field=col)
            values = check_numeric(inter, col, inter_path, first_line=2)
            if target == "timestamp":
                values = to_timestamps(values, inter_path, first_line=2, field=col)
            events[target] = values

    items = None
    item_path = folder / f"{prefix}.item"
    fields: dict[str, tuple[str, ...]] = {"text": (), "numeric": (), "categorical": (), "vector": ()}
    if item_path.is_file():
        items, fields = read_items(
            item_path, item_field, rename, text_fields, list_fields, encoding, numeric_fields=numeric_fields
        )
    users = None
    user_path = folder / f"{prefix}.user"
    if user_path.is_file():
        u = _read_atomic(user_path, encoding)
        if user_field not in u.columns:
            raise DataError("missing column", file=user_path, field=user_field)
        for col, typ in u.attrs["types"].items():
            if typ == "float":
                u[col] = check_numeric(u, col, user_path, first_line=2, allow_missing=True)
        users = u.rename(columns={user_field: "user_id"})
    return build_dataset(
        name or prefix,
        domain or prefix,
        events,
        items,
        source=inter_path,
        item_source=item_path,
        text_fields=fields["text"],
        numeric_fields=fields["numeric"],
        categorical_fields=fields["categorical"],
        vector_fields=fields["vector"],
        users=users,
        unknown_items=unknown_items,
        meta={"format": "recbole"},
    )


def _read_atomic(path: Path, encoding: str) -> pd.DataFrame:
    """A RecBole file as strings with plain column names; ``frame.attrs['types']`` maps name -> type."""
    frame = read_delimited(path, sep="\t", encoding=encoding)
    names: list[str] = []
    types: dict[str, str] = {}
    for col in frame.columns:
        base, _, typ = col.partition(":")
        if typ not in TYPES:
            raise DataError(
                f"header must be name:type with type one of {', '.join(TYPES)} (got {col!r})",
                file=path,
                line=1,
                field=base or col,
            )
        names.append(base)
        types[base] = typ
    frame.columns = names
    frame.attrs["types"] = types
    return frame


def read_items(
    path: Path,
    item_field: str = "item_id",
    rename: Mapping[str, str] | None = None,
    text_fields: Sequence[str] | None = None,
    list_fields: Sequence[str] = (),
    encoding: str = "utf-8",
    *,
    numeric_fields: Sequence[str] = (),
) -> tuple[pd.DataFrame, dict[str, tuple[str, ...]]]:
    """A RecBole ``.item`` file as an item frame (column ``item_id``) and its field kinds
    (``text`` / ``numeric`` / ``categorical`` / ``vector``)."""
    rename = rename or {}
    raw = _read_atomic(path, encoding)
    types = dict(raw.attrs["types"])
    if item_field not in raw.columns:
        raise DataError(f"missing column (found: {', '.join(raw.columns)})", file=path, field=item_field)
    out: dict[str, Any] = {"item_id": raw[item_field].str.strip()}
    kinds: dict[str, list[str]] = {"text": [], "numeric": [], "categorical": [], "vector": []}
    for col in raw.columns:
        if col == item_field:
            continue
        new = rename.get(col, col)
        typ = types[col]
        if typ == "float":
            out[new] = check_numeric(raw, col, path, first_line=2, allow_missing=True)
            kinds["numeric"].append(new)
        elif col in numeric_fields or new in numeric_fields:
            # a token column read as numbers on request: labels such as 'unknown' become missing values
            out[new] = pd.to_numeric(raw[col].str.strip(), errors="coerce").to_numpy(np.float64)
            kinds["numeric"].append(new)
        elif typ == "float_seq":
            out[new] = [_floats(v, path, row + 2, col) for row, v in enumerate(raw[col])]
            kinds["vector"].append(new)
        else:
            values = raw[col].map(lambda v: html.unescape(v.strip()) if "&" in v else v.strip())
            is_text = (text_fields is not None and new in text_fields) or (
                text_fields is None and (typ == "token_seq" or new in TEXT_TOKEN_COLUMNS)
            )
            if col in list_fields or new in list_fields:
                out[new] = [v.split() for v in values]
            elif typ == "token_seq" and values.str.match(r"\s*['\"]").any():
                # quoted, comma separated lists ('Beauty', 'Makeup'): the whole column becomes lists
                out[new] = [split_list(v) for v in values]
            else:
                out[new] = values
            kinds["text" if is_text else "categorical"].append(new)
    return pd.DataFrame(out), {k: tuple(v) for k, v in kinds.items()}


def _floats(value: str, path: Path, line: int, field: str) -> list[float]:
    try:
        vec = [float(x) for x in value.split()]
    except ValueError:
        raise DataError(
            f"cannot parse {value[:40]!r} as numbers", file=path, line=line, field=field
        ) from None
    if not all(np.isfinite(vec)):
        raise DataError("value is NaN or infinite", file=path, line=line, field=field)
    return vec
