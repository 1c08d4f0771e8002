"""P5 / OpenP5 sequences: ``user_sequence.txt`` with an optional RecBole ``.item`` file for item text.

Each line of ``user_sequence.txt`` is a user id followed by that user's items, oldest first, separated by
spaces; there are no timestamps, so the position in the line is the time. The item file (``items=`` or the
only ``*.item`` file in the folder) is read as a RecBole atomic item file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lmrec.data._build import build_dataset
from lmrec.data._dataset import Dataset
from lmrec.data.cache import resolve_file_option
from lmrec.data.loaders import recbole
from lmrec.data.loaders._read import read_text
from lmrec.errors import DataError

SEQUENCE_FILE = "user_sequence.txt"


def load(
    path: Path,
    *,
    format: str = "p5-sequence",
    items: str | None = None,
    name: str | None = None,
    domain: str | None = None,
    unknown_items: str = "add",
    encoding: str = "utf-8",
) -> Dataset:
    """Load a P5 sequence file (``path``: its folder or the file). Items missing from the item file are added
    without text (``unknown_items="error"`` refuses them)."""
    folder = path if path.is_dir() else path.parent
    seq_path = path / SEQUENCE_FILE if path.is_dir() else path
    if not seq_path.is_file():
        raise DataError("required file is missing", file=seq_path)
    users: list[str] = []
    item_ids: list[str] = []
    positions: list[int] = []
    seen: set[str] = set()
    for line_no, line in enumerate(read_text(seq_path, encoding).splitlines(), start=1):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) < 2:
            raise DataError("user has no items", file=seq_path, line=line_no, field="items")
        if tokens[0] in seen:
            raise DataError(
                f"user {tokens[0]!r} appears on two lines", file=seq_path, line=line_no, field="user"
            )
        seen.add(tokens[0])
        users.extend([tokens[0]] * (len(tokens) - 1))
        item_ids.extend(tokens[1:])
        positions.extend(range(len(tokens) - 1))
    if not users:
        raise DataError("file is empty", file=seq_path, field="user")
    events = pd.DataFrame({"user": users, "item": item_ids, "timestamp": np.asarray(positions, np.int64)})

    item_path = _item_file(folder, items)
    if item_path is None:
        return build_dataset(
            name or folder.name,
            domain or folder.name,
            events,
            source=seq_path,
            meta={"format": "p5-sequence"},
        )
    item_frame, fields = recbole.read_items(item_path, encoding=encoding)
    return build_dataset(
        name or folder.name,
        domain or folder.name,
        events,
        item_frame,
        source=seq_path,
        item_source=item_path,
        text_fields=fields["text"],
        numeric_fields=fields["numeric"],
        categorical_fields=fields["categorical"],
        vector_fields=fields["vector"],
        unknown_items=unknown_items,
        meta={"format": "p5-sequence", "time": "position in sequence"},
    )


def _item_file(folder: Path, items: str | None) -> Path | None:
    if items is not None:
        p = resolve_file_option(items, folder)
        if not p.is_file():
            raise DataError("item file is missing", file=p)
        return p
    found = sorted(p for p in folder.glob("*.item") if p.is_file())
    return found[0] if len(found) == 1 else None
