"""LC-Rec JSON: ``X.inter.json`` (user index -> ordered list of item indices, oldest first) and
``X.item.json`` (item index -> ``title``, ``description``, ``brand``, ``categories``).

There are no timestamps: the position in the list is the time. ``categories`` (a comma separated string)
become a list.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lmrec.data._build import build_dataset
from lmrec.data._dataset import Dataset
from lmrec.data.loaders._read import find_data_file, load_json, split_list
from lmrec.errors import DataError

ITEM_FIELDS = ("title", "description", "brand", "categories")


def load(
    path: Path,
    *,
    format: str = "lcrec-json",
    dataset: str | None = None,
    name: str | None = None,
    domain: str | None = None,
    unknown_items: str = "error",
) -> Dataset:
    """Load LC-Rec JSON files; ``path`` is the folder (``dataset=`` picks the prefix when several) or the
    ``.inter.json`` file."""
    inter_path = find_data_file(path, dataset, ".inter.json", "an LC-Rec")
    prefix = inter_path.name[: -len(".inter.json")]
    data = load_json(inter_path, field="items")
    if not isinstance(data, dict):
        raise DataError("expected a JSON object mapping user -> list of items", file=inter_path, field="user")
    users: list[str] = []
    items: list[str] = []
    positions: list[int] = []
    for user, seq in data.items():
        if not isinstance(seq, list):
            raise DataError(f"user {user!r}: expected a list of items", file=inter_path, field="items")
        for pos, item in enumerate(seq):
            if not isinstance(item, (int, str)) or isinstance(item, bool):
                raise DataError(f"user {user!r}: item {item!r} is not an id", file=inter_path, field="items")
            users.append(str(user))
            items.append(str(item))
            positions.append(pos)
    if not users:
        raise DataError("no interactions found", file=inter_path, field="items")
    events = pd.DataFrame({"user": users, "item": items, "timestamp": np.asarray(positions, np.int64)})

    item_path = inter_path.with_name(f"{prefix}.item.json")
    item_frame = None
    fields: tuple[str, ...] = ()
    if item_path.is_file():
        item_frame, fields = _items(item_path)
    return build_dataset(
        name or prefix,
        domain or prefix,
        events,
        item_frame,
        source=inter_path,
        item_source=item_path,
        text_fields=fields,
        unknown_items=unknown_items,
        meta={"format": "lcrec-json", "time": "position in sequence"},
    )


def _items(path: Path) -> tuple[pd.DataFrame, tuple[str, ...]]:
    data = load_json(path, field="item_id")
    if not isinstance(data, dict):
        raise DataError("expected a JSON object mapping item -> attributes", file=path, field="item_id")
    rows: list[dict[str, Any]] = []
    present: set[str] = set()
    for item, attrs in data.items():
        if not isinstance(attrs, dict):
            raise DataError(f"item {item!r}: expected an object", file=path, field="item_id")
        row: dict[str, Any] = {"item_id": str(item)}
        for key in ITEM_FIELDS:
            value = attrs.get(key)
            if value is None:
                continue
            present.add(key)
            if key == "categories":
                row[key] = split_list(value)
            elif isinstance(value, (list, tuple)):
                row[key] = " ".join(str(v) for v in value)
            else:
                row[key] = str(value).strip()
        rows.append(row)
    frame = pd.DataFrame(rows)
    fields = tuple(f for f in ITEM_FIELDS if f in present)
    for f in fields:
        if f != "categories":
            frame[f] = frame[f].fillna("")
    return frame, fields
