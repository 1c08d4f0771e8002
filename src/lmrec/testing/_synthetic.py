"""Building a small synthetic :class:`~lmrec.data.Dataset` from event lists and an item table."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lmrec.data import Dataset, Interactions, ItemTable


def synthetic_dataset(
    name: str,
    events: tuple[list[int], list[int], list[int]],
    frame: pd.DataFrame,
    text_fields: tuple[str, ...],
    n_users: int,
    rng: np.random.Generator,
) -> Dataset:
    """``events`` = (users, items, timestamps); ``frame`` has ``item_id`` and the text fields, one row per
    item; ratings 1-5 are drawn from ``rng`` (for models that read them); user ids are ``u0``, ``u1``..."""
    users, items, times = events
    inter = Interactions(
        user=np.array(users),
        item=np.array(items),
        timestamp=np.array(times),
        n_users=n_users,
        n_items=len(frame),
        rating=rng.integers(1, 6, len(users)).astype(np.float32),
    )
    return Dataset(
        name=name,
        domain="synthetic",
        interactions=inter,
        items=ItemTable(frame, text_fields=text_fields),
        user_ids=np.array([f"u{u}" for u in range(n_users)]),
        item_ids=frame["item_id"].to_numpy(),
    )
