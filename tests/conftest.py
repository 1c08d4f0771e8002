"""Shared fixtures: real data location, threads, and session-scoped heavy objects."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _data_root() -> Path:
    env = os.environ.get("LMREC_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real datasets (``$LMREC_DATA`` or ``../shared/data``)."""
    root = _data_root()
    assert root.is_dir(), f"real data not found at {root}; set LMREC_DATA"
    return root


@pytest.fixture(autouse=True, scope="session")
def _torch_threads() -> None:
    try:
        import torch
    except ImportError:  # pragma: no cover
        return
    torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def _threads_restored():
    """A service sets its process's compute pools to one thread (lmrec.serve's set_compute_threads); later
    tests get the session's two back."""
    yield
    torch = sys.modules.get("torch")
    if torch is None or torch.get_num_threads() == 2:
        return
    from lmrec.serve._indexes import set_compute_threads

    set_compute_threads(2)


# real-data subsets shared by the feedback and explain tests (built once per session, only when used)
@pytest.fixture(scope="session")
def short_mdsd():
    """120 short (<= 45 words) MDSD electronics reviews per class, seeded: (texts, labels, ratings)."""
    from lmrec.feedback import review_corpus

    c = review_corpus("mdsd-electronics")
    short = np.array([len(t.split()) <= 45 for t in c.texts])
    c = c.subset(short)
    rng = np.random.default_rng(0)
    picks = [rng.choice(np.flatnonzero(c.label == k), 120, replace=False) for k in (0, 1)]
    rows = np.sort(np.concatenate(picks))
    return c.subset(rows)


@pytest.fixture(scope="session")
def ml100k_small():
    """ML-100K restricted to its first 400 movies (ids 1-400): (dataset, content model fitted on it)."""
    from lmrec.data import Dataset, Interactions, ItemTable, load_dataset
    from lmrec.models.content import ContentRecommender

    full = load_dataset("ml-100k")
    n = 400
    inter = full.interactions
    keep = inter.item < n
    small = Interactions(
        user=inter.user[keep],
        item=inter.item[keep],
        timestamp=inter.timestamp[keep],
        n_users=inter.n_users,
        n_items=n,
        rating=inter.rating[keep],
        domain=inter.domain,
    )
    items = ItemTable(full.items.frame.iloc[:n], text_fields=full.items.text_fields)
    data = Dataset("ml-100k-first400", full.domain, small, items, full.user_ids, full.item_ids[:n])
    model = ContentRecommender(template="{title}. {genres}").fit(data.interactions, items=data.items)
    return data, model


@pytest.fixture(scope="session")
def ml100k_vec_small():
    """ML-100K users 1-300 x movies 1-300 with ratings, leave-one-out by time: (dataset, split).

    The item table gains a ``vec`` column (a hashed bag of words of each movie's real text, 48 dims) so that
    textseq tests can train through ``vector_field="vec"`` without running a language model."""
    import zlib

    from lmrec.data import Dataset, Interactions, ItemTable, load_dataset
    from lmrec.data.split import leave_one_out_split

    full = load_dataset("ml-100k")
    n_users, n_items, dim = 300, 300, 48
    inter = full.interactions
    keep = (inter.item < n_items) & (inter.user < n_users)
    small = Interactions(
        user=inter.user[keep],
        item=inter.item[keep],
        timestamp=inter.timestamp[keep],
        n_users=n_users,
        n_items=n_items,
        rating=inter.rating[keep],
        domain=inter.domain,
    )
    frame = full.items.frame.iloc[:n_items].copy()
    vecs = np.zeros((n_items, dim), dtype=np.float32)
    for row, text in enumerate(full.items.texts()[:n_items]):
        for tok in text.lower().split():
            h = zlib.crc32(tok.encode())
            vecs[row, h % dim] += 1.0 if (h >> 16) & 1 else -1.0
        vecs[row] += 0.01 * np.sin(np.arange(dim) * (row + 1))  # no all-zero rows
    frame["vec"] = list(vecs / np.linalg.norm(vecs, axis=1, keepdims=True))
    items = ItemTable(frame, text_fields=full.items.text_fields, vector_fields=("vec",))
    data = Dataset(
        "ml-100k-300x300", full.domain, small, items, full.user_ids[:n_users], full.item_ids[:n_items]
    )
    return data, leave_one_out_split(data)
