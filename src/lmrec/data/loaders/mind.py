"""MIND (Microsoft News Dataset): ``news.tsv`` + ``behaviors.tsv`` in one folder, tab separated, no header.

- ``news.tsv``: news id, category, subcategory, title, abstract, url, title entities, abstract entities
  (entities are JSON lists; their ``Label`` values are kept as an ``entities`` list column).
- ``behaviors.tsv``: impression id, user, time (``11/11/2019 9:05:58 AM``, read as UTC), the user's click
  history (space separated news ids, oldest first) and the impression (``N123-1 N456-0``: shown ids with a
  click label).

Interactions are the history clicks followed by the clicked impressions. History clicks have no time of their
own: they are placed, in order, in the seconds just before the user's first impression. Clicked impressions
are at the impression time. Each (user, news) pair is kept once, at its first occurrence.

The impression logs (shown items with labels, for bandit replay / CTR evaluation) are returned by
:func:`load_impressions` and attached to the dataset as ``Dataset.meta["impressions"]``. The item catalog
holds every news id of ``news.tsv`` plus every id referenced in histories or impressions; ids without a
``news.tsv`` row have empty text.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lmrec.data._build import build_dataset
from lmrec.data._dataset import Dataset
from lmrec.data.loaders._read import read_tsv_lines
from lmrec.errors import DataError

TEXT_FIELDS = ("title", "abstract", "category", "subcategory")
_TIME_FORMAT = "%m/%d/%Y %I:%M:%S %p"


def load(
    path: Path,
    *,
    format: str = "mind",
    news: str = "news.tsv",
    behaviors: str = "behaviors.tsv",
    with_impressions: bool = True,
    name: str = "mind",
    domain: str = "news",
) -> Dataset:
    """Load a MIND folder as a :class:`Dataset` (see the module docstring for how events are built).

    ``news`` / ``behaviors``: file names inside ``path``. ``with_impressions``: attach the long-format
    impression table (see :func:`load_impressions`) as ``meta["impressions"]``. ``meta["is_history"]`` is a
    boolean per interaction row: True for pre-period history clicks, False for clicked impressions.
    """
    folder = _folder(path)
    news_file, behaviors_file = folder / news, folder / behaviors
    items = _read_news(news_file)
    log = _read_behaviors(behaviors_file)
    events = _events(log)
    # every id seen anywhere joins the catalog, so replayed impressions can be scored
    shown = [item for s in log["shown"] for item in s]
    referenced = pd.unique(np.asarray(events["item"].tolist() + shown, dtype=object))
    extra = pd.Index(referenced).difference(pd.Index(items["item_id"]), sort=False)
    if len(extra):
        items = pd.concat([items, pd.DataFrame({"item_id": extra})], ignore_index=True)
    meta: dict[str, Any] = {"format": format, "is_history": events["is_history"].to_numpy(bool)}
    if with_impressions:
        meta["impressions"] = _long_impressions(log)
    ds = build_dataset(
        name,
        domain,
        events[["user", "item", "timestamp"]],
        items,
        source=behaviors_file,
        item_source=news_file,
        text_fields=TEXT_FIELDS,
        categorical_fields=("category", "subcategory"),
        meta=meta,
    )
    return ds


def load_impressions(path: Path, *, behaviors: str = "behaviors.tsv") -> pd.DataFrame:
    """The impression logs in long form, one row per shown item, in file order.

    Columns: ``impression_id`` (int64), ``user`` (str), ``timestamp`` (int64 seconds, UTC), ``position``
    (int32, place in the impression list), ``item`` (news id, str), ``label`` (int8, 1 = clicked).
    """
    return _long_impressions(_read_behaviors(_folder(Path(path)) / behaviors))


def _folder(path: Path) -> Path:
    path = Path(path)
    if path.is_file():  # the behaviors or news file itself: its folder holds both
        return path.parent
    if not path.is_dir():
        raise DataError("no such folder", file=path)
    return path


def _entity_labels(raw: str, path: Path, line: int) -> list[str]:
    if not raw.strip():
        return []
    try:
        ents = json.loads(raw)
    except ValueError:
        raise DataError("entities column is not valid JSON", file=path, line=line, field="entities") from None
    return [str(e["Label"]) for e in ents if isinstance(e, dict) and e.get("Label")]


def _read_news(path: Path) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    for n, f in read_tsv_lines(path):
        if len(f) < 4:
            raise DataError(f"expected 8 tab-separated fields, found {len(f)}", file=path, line=n)
        f = f + [""] * (8 - len(f))
        entities: list[str] = []
        for raw in f[6:8]:
            for label in _entity_labels(raw, path, n):
                if label not in entities:
                    entities.append(label)
        rows.append(
            {
                "item_id": f[0].strip(),
                "category": f[1].strip(),
                "subcategory": f[2].strip(),
                "title": f[3].strip(),
                "abstract": f[4].strip(),
                "url": f[5].strip(),
                "entities": entities,
            }
        )
    if not rows:
        raise DataError("no news found (empty file?)", file=path)
    return pd.DataFrame(rows)


def _read_behaviors(path: Path) -> pd.DataFrame:
    """One row per impression: id, user, time (seconds), history list, shown list, label list."""
    ids: list[int] = []
    users: list[str] = []
    times: list[str] = []
    histories: list[list[str]] = []
    shown: list[list[str]] = []
    labels: list[list[int]] = []
    lines: list[int] = []
    for n, f in read_tsv_lines(path):
        if len(f) != 5:
            raise DataError(f"expected 5 tab-separated fields, found {len(f)}", file=path, line=n)
        try:
            ids.append(int(f[0]))
        except ValueError:
            raise DataError(f"impression id {f[0]!r} is not an integer", file=path, line=n) from None
        users.append(f[1].strip())
        times.append(f[2].strip())
        histories.append(f[3].split())
        s: list[str] = []
        lab: list[int] = []
        for tok in f[4].split():
            item, sep, label = tok.rpartition("-")
            if not sep or label not in ("0", "1") or not item:
                raise DataError(f"impression entry {tok!r} is not ID-0 or ID-1", file=path, line=n)
            s.append(item)
            lab.append(int(label))
        shown.append(s)
        labels.append(lab)
        lines.append(n)
    if not ids:
        raise DataError("no impressions found (empty file?)", file=path)
    parsed = pd.to_datetime(pd.Series(times), format=_TIME_FORMAT, errors="coerce")
    if parsed.isna().any():
        row = int(np.flatnonzero(parsed.isna().to_numpy())[0])
        what = f"cannot parse time {times[row]!r} (expected like '11/11/2019 9:05:58 AM')"
        raise DataError(what, file=path, line=lines[row], field="time")
    seconds = parsed.to_numpy("datetime64[s]").astype(np.int64)
    return pd.DataFrame(
        {
            "impression_id": ids,
            "user": users,
            "timestamp": seconds,
            "history": histories,
            "shown": shown,
            "labels": labels,
        }
    )


def _events(log: pd.DataFrame) -> pd.DataFrame:
    order = np.argsort(log["timestamp"].to_numpy(), kind="stable")
    history: dict[str, list[str]] = {}
    first_time: dict[str, int] = {}
    clicks: list[tuple[str, str, int]] = []
    cols = [log[c].tolist() for c in ("user", "timestamp", "history", "shown", "labels")]
    for i in order.tolist():
        user, t, hist, shown, labels = (c[i] for c in cols)
        if user not in history:
            history[user] = []
            first_time[user] = int(t)
        history[user].extend(hist)
        clicks.extend((user, item, int(t)) for item, label in zip(shown, labels, strict=True) if label)
    users: list[str] = []
    items: list[str] = []
    stamps: list[int] = []
    is_hist: list[bool] = []
    seen: set[tuple[str, str]] = set()
    for user, hist in history.items():
        uniq = [h for h in dict.fromkeys(hist) if (user, h) not in seen]
        start = first_time[user] - len(uniq)
        for j, item in enumerate(uniq):
            seen.add((user, item))
            users.append(user)
            items.append(item)
            stamps.append(start + j)
            is_hist.append(True)
    for user, item, t in clicks:
        if (user, item) in seen:
            continue
        seen.add((user, item))
        users.append(user)
        items.append(item)
        stamps.append(t)
        is_hist.append(False)
    events = pd.DataFrame({"user": users, "item": items, "timestamp": stamps, "is_history": is_hist})
    # global time order (stable: a user's history keeps its order, history rows precede clicks)
    return events.iloc[np.argsort(events["timestamp"].to_numpy(), kind="stable")].reset_index(drop=True)


def _long_impressions(log: pd.DataFrame) -> pd.DataFrame:
    sizes = log["shown"].map(len).to_numpy()
    return pd.DataFrame(
        {
            "impression_id": np.repeat(log["impression_id"].to_numpy(np.int64), sizes),
            "user": np.repeat(log["user"].to_numpy(object), sizes),
            "timestamp": np.repeat(log["timestamp"].to_numpy(np.int64), sizes),
            "position": np.concatenate([np.arange(k, dtype=np.int32) for k in sizes]),
            "item": [item for s in log["shown"] for item in s],
            "label": np.asarray([v for lab in log["labels"] for v in lab], dtype=np.int8),
        }
    )
