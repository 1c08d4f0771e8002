"""Loaders, splits and filters never modify their input (real data: ML-100K and UniSRec Scientific)."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest

from lmrec.data import split as splits
from lmrec.data.filter import dedup, k_core
from lmrec.data.loaders import load_format


def file_digests(folder: Path) -> dict[str, tuple[str, int]]:
    return {
        p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(folder.iterdir())
        if p.is_file()
    }


def dataset_digest(data) -> str:
    inter = data.interactions
    h = hashlib.sha256()
    for arr in (
        inter.user,
        inter.item,
        inter.timestamp,
        inter.rating,
        data.user_ids,
        data.item_ids,
        data.fixed_split,
    ):
        if arr is not None:
            h.update(np.ascontiguousarray(arr).tobytes())
    h.update(pickle.dumps(data.items.frame.to_dict("list")))
    h.update(pickle.dumps(sorted(k for k in data.meta if k != "cache")))
    return h.hexdigest()


@pytest.fixture(
    scope="module", params=[("movielens-100k", "ml-100k"), ("unisrec", "amazon-scientific-unisrec")]
)
def loaded(request, shared_data):
    fmt, folder = request.param
    before = file_digests(shared_data / folder)
    data = load_format(fmt, shared_data / folder)
    # loading read the files and changed nothing (bytes and modification times)
    assert file_digests(shared_data / folder) == before
    return data


def test_splits_and_filters_leave_the_dataset_unchanged(loaded):
    data = loaded
    before = dataset_digest(data)
    results = [
        splits.leave_one_out_split(data),
        splits.temporal_split(data),
        splits.random_split(data, seed=1),
        splits.user_cold_start_split(data, seed=1),
        splits.item_cold_start_split(data, seed=1),
        k_core(data, 5),
        dedup(data),
    ]
    results.append(splits.few_shot(results[0], 0.5, seed=1))
    if data.fixed_split is not None:
        results.append(splits.fixed_split(data))
    assert dataset_digest(data) == before
    for arr in (data.interactions.user, data.interactions.item, data.interactions.timestamp, data.item_ids):
        assert not arr.flags.writeable
    # splits hand out views that cannot write back either
    part = results[0].train
    assert not part.item.flags.writeable
    assert len(part) + len(results[0].valid) + len(results[0].test) == len(data.interactions)
