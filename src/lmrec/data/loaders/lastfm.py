"""Last.fm HetRec 2011 (GroupLens): tab-separated ``.dat`` files with a header line, in one folder.

- ``artists.dat``: ``id``, ``name``, ``url``, ``pictureURL``
- ``user_artists.dat``: ``userID``, ``artistID``, ``weight`` (listening count)
- ``tags.dat``: ``tagID``, ``tagValue`` (the original file is Latin-1; UTF-8 copies exist: both are read)
- ``user_taggedartists.dat``: ``userID``, ``artistID``, ``tagID``, ``day``, ``month``, ``year``

Interactions are the user-artist pairs with the play count as ``rating``; the source has no listening times,
so the order within a user is the file order. Item text is the artist name plus the artist's most used tags
(``tags`` column: the ``top_tags`` tags applied most often by all users, ties by tag id).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import pandas as pd

from lmrec.data._build import build_dataset
from lmrec.data._dataset import Dataset
from lmrec.data.loaders._read import read_tsv_lines
from lmrec.errors import DataError, LmrecError

TEXT_FIELDS = ("name", "tags")


def load(
    path: Path,
    *,
    format: str = "lastfm-hetrec",
    top_tags: int = 10,
    name: str = "lastfm",
    domain: str = "music",
) -> Dataset:
    """Load a HetRec Last.fm folder as a :class:`Dataset` (see the module docstring).

    ``top_tags``: how many of each artist's most used tags go into its text (0: none; the tag files are then
    optional). Listens of artists missing from ``artists.dat`` are kept as items without text.
    """
    if top_tags < 0:
        raise LmrecError(f"lastfm loader: top_tags must be >= 0, not {top_tags}")
    folder = Path(path)
    if folder.is_file():
        folder = folder.parent
    if not folder.is_dir():
        raise DataError("no such folder", file=folder)
    artists = _table(folder / "artists.dat", ("id", "name", "url", "pictureURL"))
    listens = _table(folder / "user_artists.dat", ("userID", "artistID", "weight"))
    items = pd.DataFrame(
        {
            "item_id": [r[0] for r in artists],
            "name": [r[1] for r in artists],
            "url": [r[2] for r in artists],
        }
    )
    tags_file, assigned_file = folder / "tags.dat", folder / "user_taggedartists.dat"
    if top_tags:
        tag_names = {r[0]: r[1] for r in _table(tags_file, ("tagID", "tagValue"))}
        assignments = _table(assigned_file, ("userID", "artistID", "tagID"))
        items["tags"] = _top_tags(assignments, tag_names, items["item_id"].tolist(), top_tags, assigned_file)
    else:
        items["tags"] = [[] for _ in range(len(items))]
    events = pd.DataFrame(
        {
            "user": [r[0] for r in listens],
            "item": [r[1] for r in listens],
            "rating": [_count(r[2], folder / "user_artists.dat", r[3]) for r in listens],
        }
    )
    return build_dataset(
        name,
        domain,
        events,
        items,
        source=folder / "user_artists.dat",
        item_source=folder / "artists.dat",
        text_fields=TEXT_FIELDS,
        unknown_items="add",
        meta={"format": format, "top_tags": top_tags},
    )


def _table(path: Path, columns: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Rows of a HetRec file as tuples of the named columns (checked against the header), stripped.

    The file line number is appended to each tuple, for error messages.
    """
    rows: list[tuple[str, ...]] = []
    index: list[int] = []
    width = 0
    for n, fields in read_tsv_lines(path):
        if not index:
            header = [f.strip() for f in fields]
            missing = [c for c in columns if c not in header]
            if missing:
                raise DataError(f"missing column(s) {', '.join(missing)} in header", file=path, line=n)
            index = [header.index(c) for c in columns]
            width = len(header)
            continue
        if len(fields) < max(index) + 1:
            raise DataError(f"expected {width} tab-separated fields, found {len(fields)}", file=path, line=n)
        rows.append((*(fields[i].strip() for i in index), str(n)))
    if not index:
        raise DataError("empty file", file=path)
    return rows


def _count(value: str, path: Path, line: str) -> float:
    try:
        count = float(value)
    except ValueError:
        count = float("nan")
    if not count >= 0:  # also NaN
        raise DataError(
            f"weight {value!r} is not a non-negative number", file=path, line=int(line), field="weight"
        )
    return count


def _top_tags(
    assignments: list[tuple[str, ...]],
    tag_names: dict[str, str],
    artist_ids: list[str],
    k: int,
    path: Path,
) -> list[list[str]]:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for _user, artist, tag, line in assignments:
        if tag not in tag_names:
            raise DataError(f"tag id {tag!r} is not in tags.dat", file=path, line=int(line), field="tagID")
        counts[artist][tag] += 1

    def tag_order(item: tuple[str, int]) -> tuple[int, int | str]:
        tag, count = item
        return (-count, int(tag) if tag.isdigit() else tag)

    out: list[list[str]] = []
    for artist in artist_ids:
        ranked = sorted(counts.get(artist, Counter()).items(), key=tag_order)[:k]
        out.append([tag_names[tag] for tag, _ in ranked])
    return out
