"""A saved model's catalog: external item ids, titles and texts, and the external user ids.

A model directory stores only dense indices; :func:`write_catalog` saves the id maps and item texts of the
dataset next to it (``MODEL_DIR/catalog/``) so ``lmrec recommend`` and ``lmrec serve`` speak in external ids.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lmrec.data import Dataset
from lmrec.errors import LmrecError

CATALOG_DIR = "catalog"


@dataclass
class Catalog:
    """Items (dense index -> id, title, text, categories) and users (dense index -> id); items can grow."""

    item_ids: list[str]
    titles: list[str]
    texts: list[str]
    categories: list[list[str]]
    user_ids: list[str]
    # optional per-item details shown on item pages: "year" (int), "description", "image_url" (https)
    details: list[dict[str, Any]] = field(default_factory=list)
    _item_index: dict[str, int] = field(default_factory=dict, repr=False)
    _user_index: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._item_index = {k: i for i, k in enumerate(self.item_ids)}
        self._user_index = {k: i for i, k in enumerate(self.user_ids)}
        if len(self.details) != len(self.item_ids):
            self.details = [{} for _ in self.item_ids]

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def item_index(self, item_id: str) -> int | None:
        return self._item_index.get(item_id)

    def user_index(self, user_id: str) -> int | None:
        return self._user_index.get(user_id)

    def require_item(self, item_id: str) -> int:
        """Dense index of an external item id; one-line error when unknown."""
        idx = self._item_index.get(item_id.strip())
        if idx is None:
            raise LmrecError(f"unknown item id {item_id.strip()!r} (not in this model's catalog)")
        return idx

    def require_user(self, user_id: str) -> int:
        """Dense index of an external user id; one-line error when unknown."""
        idx = self._user_index.get(user_id.strip())
        if idx is None:
            raise LmrecError(f"unknown user id {user_id.strip()!r} (not in this model's catalog)")
        return idx

    def title(self, idx: int) -> str:
        return self.titles[idx] if 0 <= idx < len(self.titles) else f"(new item {idx})"

    def external_id(self, idx: int) -> str:
        return self.item_ids[idx] if 0 <= idx < len(self.item_ids) else str(idx)

    def append(
        self,
        item_id: str,
        title: str,
        text: str,
        categories: list[str],
        details: dict[str, Any] | None = None,
    ) -> int:
        idx = len(self.item_ids)
        self.item_ids.append(item_id)
        self.titles.append(title)
        self.texts.append(text)
        self.categories.append(categories)
        self.details.append(dict(details or {}))
        self._item_index[item_id] = idx
        return idx

    def update(
        self, idx: int, title: str, text: str, categories: list[str], details: dict[str, Any] | None = None
    ) -> None:
        self.titles[idx], self.texts[idx], self.categories[idx] = title, text, categories
        self.details[idx] = dict(details or {})

    @classmethod
    def placeholder(cls, n_items: int, n_users: int) -> Catalog:
        """Ids ``"0".."n-1"`` when the model directory has no catalog."""
        ids = [str(i) for i in range(n_items)]
        return cls(
            ids,
            [f"item {i}" for i in ids],
            ["" for _ in ids],
            [[] for _ in ids],
            [str(u) for u in range(n_users)],
        )


def write_catalog(dataset: Dataset, model_dir: str | Path, *, template: str | None = None) -> Path:
    """Save ``dataset``'s id maps and item texts to ``model_dir/catalog/`` (items.parquet, users.json)."""
    from lmrec.text import item_texts

    out = Path(model_dir) / CATALOG_DIR
    out.mkdir(parents=True, exist_ok=True)
    frame = dataset.items.frame
    cats: list[list[str]] = []
    cat_column = "categories" if "categories" in frame.columns else "genres"  # MovieLens names them genres
    if cat_column in frame.columns:
        for v in frame[cat_column].tolist():
            if isinstance(v, (list, tuple, np.ndarray)):
                cats.append([str(x) for x in v])
            elif isinstance(v, str) and v:
                cats.append([v])
            else:
                cats.append([])
    else:
        cats = [[] for _ in range(dataset.n_items)]
    columns: dict[str, Any] = {
        "item_id": [str(x) for x in dataset.item_ids],
        "title": dataset.item_titles(),
        "text": item_texts(dataset.items, template),
        "categories": [json.dumps(c, ensure_ascii=False) for c in cats],
    }
    columns.update(_detail_columns(frame))
    pd.DataFrame(columns).to_parquet(out / "items.parquet", index=False)
    (out / "users.json").write_text(json.dumps([str(u) for u in dataset.user_ids]), encoding="utf-8")
    return out


def read_catalog(path: str | Path, n_items: int, n_users: int, *, placeholder: bool = False) -> Catalog:
    """The catalog saved by :func:`write_catalog` in ``path`` (model dir or catalog dir).

    Every file is checked against the model (one-line :class:`LmrecError` naming the file). A folder without
    a catalog is refused: a user id would otherwise be read as an internal index, and items would be named
    by index. ``placeholder=True`` returns ids ``0..n-1`` instead (for code that speaks in indices)."""
    p = Path(path)
    if (p / CATALOG_DIR).is_dir():
        p = p / CATALOG_DIR
    items_file = p / "items.parquet"
    if not items_file.is_file():
        if placeholder:
            return Catalog.placeholder(n_items, n_users)
        raise LmrecError(
            f"{Path(path) / CATALOG_DIR}: no catalog (the model's external item and user ids); save the "
            "model with model.save(dir, dataset=data) or call lmrec.models.catalog.write_catalog(data, dir)"
        )
    try:
        frame = pd.read_parquet(items_file)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise LmrecError(f"{items_file}: cannot read ({_one_line(exc)}); truncated or not Parquet") from None
    for col in ("item_id", "title", "text", "categories"):
        if col not in frame.columns:
            raise LmrecError(f"{items_file}: no column '{col}' (not written by write_catalog)")
    if len(frame) != n_items:
        raise LmrecError(f"{items_file}: {len(frame)} items, but the model has {n_items}")
    users_file = p / "users.json"
    users: Any = []
    if users_file.is_file():
        try:
            users = json.loads(users_file.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise LmrecError(f"{users_file}: invalid JSON ({exc})") from None
        if not isinstance(users, list):
            raise LmrecError(f"{users_file}: must hold a JSON list of user ids")
    elif n_users:
        raise LmrecError(f"{users_file}: missing (the model's user ids)")
    if len(users) != n_users:
        raise LmrecError(f"{users_file}: {len(users):,} user ids, but the model has {n_users:,} users")
    try:
        categories = [json.loads(x) if isinstance(x, str) and x else [] for x in frame["categories"].tolist()]
    except json.JSONDecodeError as exc:
        raise LmrecError(f"{items_file}: column 'categories' holds invalid JSON ({exc})") from None
    return Catalog(
        item_ids=[str(x) for x in frame["item_id"].tolist()],
        titles=[str(x) for x in frame["title"].tolist()],
        texts=[str(x) for x in frame["text"].tolist()],
        categories=categories,
        user_ids=[str(u) for u in users],
        details=_read_details(frame),
    )


# item-table columns kept as item-page details, first name found wins: (detail, candidate column names)
DETAIL_COLUMNS = (
    ("year", ("year",)),
    ("description", ("description", "summary", "plot")),
    ("image_url", ("image_url", "image", "imUrl", "cover")),
)


def _detail_columns(frame: pd.DataFrame) -> dict[str, list[Any]]:
    """The optional detail columns of an item table (year, description, image URL) as catalog columns."""
    out: dict[str, list[Any]] = {}
    for name, candidates in DETAIL_COLUMNS:
        column = next((c for c in candidates if c in frame.columns), None)
        if column is None:
            continue
        values = [_detail_value(name, v) for v in frame[column].tolist()]
        if any(v is not None for v in values):
            out[name] = values
    return out


def _detail_value(name: str, value: Any) -> Any:
    if isinstance(value, (list, tuple, np.ndarray)):
        value = next((v for v in value if v), None)  # an image list: its first entry
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return None
    if name == "year":
        try:
            year = int(float(value))
        except (TypeError, ValueError):
            return None
        return year if 0 < year < 10_000 else None
    text = str(value).strip()
    if name == "image_url" and not text.startswith("https://"):
        return None  # pages load images over https only (and a relative path means nothing here)
    return text or None


def _read_details(frame: pd.DataFrame) -> list[dict[str, Any]]:
    present = [name for name, _ in DETAIL_COLUMNS if name in frame.columns]
    details: list[dict[str, Any]] = [{} for _ in range(len(frame))]
    for name in present:
        for d, v in zip(details, frame[name].tolist(), strict=True):
            v = _detail_value(name, v)
            if v is not None:
                d[name] = v
    return details


def _one_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[0][:200] if lines else type(exc).__name__
