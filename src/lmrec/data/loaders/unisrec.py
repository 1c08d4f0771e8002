"""UniSRec's published preprocessing: ``X.train.inter`` / ``X.valid.inter`` / ``X.test.inter`` with
``X.text``, ``X.item2index`` and ``X.user2index``.

The ``.inter`` files hold one row per prediction target: ``user_id:token`` (user index),
``item_id_list:token_seq`` (the history, truncated to the last ``max_len`` items) and ``item_id:token`` (the
target index). Each user's full sequence is rebuilt by chaining the rows (the history of step ``t+1`` is the
history of step ``t`` plus its target), and the dataset's own split is kept in ``Dataset.fixed_split``: 0 for
the first items and every training target, 1 for the validation target, 2 for the test target, so results are
comparable with published numbers. External ids are the ASINs / reviewer ids of ``item2index`` /
``user2index``; the dense indices equal UniSRec's indices. Item text: the ``text`` field of ``X.text``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lmrec.data._build import build_dataset
from lmrec.data._dataset import Dataset
from lmrec.data.loaders._read import read_delimited
from lmrec.errors import DataError

PARTS = ("train", "valid", "test")
INTER_COLUMNS = ("user_id:token", "item_id_list:token_seq", "item_id:token")


@dataclass
class _Row:
    history: tuple[str, ...]
    target: str
    file: Path
    line: int


def load(
    path: Path,
    *,
    format: str = "unisrec",
    dataset: str | None = None,
    name: str | None = None,
    domain: str | None = None,
    encoding: str = "utf-8",
) -> Dataset:
    """Load UniSRec files; ``path`` is their folder or one of them (``dataset=`` picks the prefix, e.g.
    ``Scientific``, when the folder holds several)."""
    folder = path if path.is_dir() else path.parent
    prefix = dataset or _prefix(path)
    rows: dict[str, dict[str, list[_Row]]] = {}
    max_len = 1
    for part in PARTS:
        p = folder / f"{prefix}.{part}.inter"
        if not p.is_file():
            raise DataError("required file is missing", file=p)
        frame = read_delimited(p, sep="\t", encoding=encoding, required=INTER_COLUMNS, quoting=csv.QUOTE_NONE)
        per_user: dict[str, list[_Row]] = {}
        cols = (frame[c].str.strip().tolist() for c in INTER_COLUMNS)
        for i, (user, hist, target) in enumerate(zip(*cols, strict=True)):
            for value, field in ((user, "user_id"), (target, "item_id")):
                if not value:
                    raise DataError("empty id", file=p, line=i + 2, field=field)
            history = tuple(hist.split())
            max_len = max(max_len, len(history))
            per_user.setdefault(user, []).append(_Row(history, target, p, i + 2))
        rows[part] = per_user

    users, items, codes = _rebuild(rows, max_len)
    events = pd.DataFrame({"user": users, "item": items})

    item_map = _index_file(folder / f"{prefix}.item2index", "item_id", encoding)
    user_map = _index_file(folder / f"{prefix}.user2index", "user_id", encoding)
    item_frame = None
    if item_map is not None:
        events["item"] = _translate(events["item"], item_map, folder / f"{prefix}.item2index", "item_id")
        item_frame = pd.DataFrame({"item_id": item_map.to_numpy()})
    if user_map is not None:
        events["user"] = _translate(events["user"], user_map, folder / f"{prefix}.user2index", "user_id")

    text_path = folder / f"{prefix}.text"
    fields: tuple[str, ...] = ()
    if text_path.is_file():
        raw = read_delimited(
            text_path,
            sep="\t",
            encoding=encoding,
            required=("item_id:token", "text:token_seq"),
            quoting=csv.QUOTE_NONE,
        )
        text = pd.DataFrame(
            {"item_id": raw["item_id:token"].str.strip(), "text": raw["text:token_seq"].str.strip()}
        )
        dup = text["item_id"].duplicated()
        if dup.any():
            row = int(np.flatnonzero(dup.to_numpy())[0])
            raise DataError(
                f"duplicate item id {text['item_id'].iloc[row]!r}",
                file=text_path,
                line=row + 2,
                field="item_id",
            )
        if item_frame is None:
            item_frame = text
        else:
            item_frame = item_frame.merge(text, on="item_id", how="left")
            item_frame["text"] = item_frame["text"].fillna("")
        fields = ("text",)
    return build_dataset(
        name or prefix,
        domain or prefix,
        events,
        item_frame,
        source=folder / f"{prefix}.train.inter",
        item_source=text_path if text_path.is_file() else None,
        text_fields=fields,
        unknown_items="add",
        fixed_split=np.asarray(codes, dtype=np.int8),
        meta={"format": "unisrec", "time": "position in sequence", "max_len": max_len},
    )


def _prefix(path: Path) -> str:
    if path.is_file():
        for suffix in (*(f".{p}.inter" for p in PARTS), ".text", ".item2index", ".user2index"):
            if path.name.endswith(suffix):
                return path.name[: -len(suffix)]
        raise DataError("not a UniSRec file", file=path)
    found = sorted(p.name[: -len(".train.inter")] for p in path.glob("*.train.inter"))
    if len(found) != 1:
        what = "no .train.inter file" if not found else f"several datasets ({', '.join(found)})"
        raise DataError(f"{what}; pass dataset=NAME", file=path)
    return found[0]


def _int_key(value: str) -> tuple[int, int | str]:
    return (0, int(value)) if value.isdigit() else (1, value)


def _rebuild(rows: dict[str, dict[str, list[_Row]]], max_len: int) -> tuple[list[str], list[str], list[int]]:
    """Each user's full sequence (oldest first) and the split code of every position."""
    users: list[str] = []
    items: list[str] = []
    codes: list[int] = []
    all_users = sorted(set(rows["train"]) | set(rows["valid"]) | set(rows["test"]), key=_int_key)
    for user in all_users:
        train = rows["train"].get(user, [])
        valid = rows["valid"].get(user, [])
        test = rows["test"].get(user, [])
        for part, found in (("valid", valid), ("test", test)):
            if len(found) > 1:
                r = found[1]
                raise DataError(
                    f"user {user!r} has {len(found)} {part} rows", file=r.file, line=r.line, field="user_id"
                )
        start = min(train, key=lambda r: len(r.history)) if train else (valid or test)[0]
        seq = list(start.history)
        code = [0] * len(seq)
        by_history = {r.history: r for r in train}
        if len(by_history) != len(train):
            r = train[-1]
            raise DataError(
                f"user {user!r} has repeated histories", file=r.file, line=r.line, field="item_id_list"
            )
        while by_history:
            r = by_history.pop(tuple(seq[-max_len:]), None)
            if r is None:
                r = next(iter(by_history.values()))
                raise DataError(
                    f"user {user!r}: history does not continue the user's earlier rows",
                    file=r.file,
                    line=r.line,
                    field="item_id_list",
                )
            seq.append(r.target)
            code.append(0)
        for part_code, found in ((1, valid), (2, test)):
            for r in found:
                if r.history != tuple(seq[-max_len:]):
                    raise DataError(
                        f"user {user!r}: history differs from the training sequence",
                        file=r.file,
                        line=r.line,
                        field="item_id_list",
                    )
                seq.append(r.target)
                code.append(part_code)
        users.extend([user] * len(seq))
        items.extend(seq)
        codes.extend(code)
    return users, items, codes


def _index_file(path: Path, field: str, encoding: str) -> pd.Series | None:
    """An ``id \\t index`` file as a Series index -> external id (sorted by index), or None if absent."""
    if not path.is_file():
        return None
    frame = read_delimited(
        path, sep="\t", names=("external", "index"), encoding=encoding, quoting=csv.QUOTE_NONE
    )
    index = frame["index"].str.strip()
    bad = ~index.str.isdigit()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"index {index.iloc[row]!r} is not an integer", file=path, line=row + 1, field=field)
    series = pd.Series(frame["external"].str.strip().to_numpy(), index=index.astype(int).to_numpy())
    if series.index.duplicated().any():
        row = int(np.flatnonzero(series.index.duplicated())[0])
        raise DataError("duplicate index", file=path, line=row + 1, field=field)
    return series.sort_index()


def _translate(values: pd.Series, mapping: pd.Series, path: Path, field: str) -> np.ndarray:
    idx = pd.to_numeric(values, errors="coerce")
    unknown = idx.isna() | ~idx.isin(mapping.index)
    if unknown.any():
        bad = values[unknown].iloc[0]
        raise DataError(f"index {bad!r} used in the .inter files is not listed", file=path, field=field)
    return mapping.loc[idx.astype(int)].to_numpy()
