"""The parsed-dataset cache: hits skip parsing, any change in bytes or options misses, damage re-parses."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lmrec.data.loaders.recbole as recbole_loader
from lmrec.data import load_dataset
from lmrec.data.cache import cache_key, cached_load, read_dataset, write_dataset
from lmrec.data.loaders import load_format

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "formats"


@pytest.fixture()
def recbole_copy(tmp_path):
    folder = tmp_path / "data" / "toy"
    shutil.copytree(FIXTURES / "recbole", folder)
    return folder


@pytest.fixture()
def counting_loader(monkeypatch):
    calls = []
    real = recbole_loader.load

    @functools.wraps(real)  # the same signature: load_format checks options against it
    def load(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(recbole_loader, "load", load)
    return calls


def assert_same(a, b):
    for col in ("user", "item", "timestamp", "rating"):
        np.testing.assert_array_equal(getattr(a.interactions, col), getattr(b.interactions, col))
    np.testing.assert_array_equal(a.user_ids, b.user_ids)
    np.testing.assert_array_equal(a.item_ids, b.item_ids)
    pd.testing.assert_frame_equal(a.items.frame, b.items.frame)
    assert a.items.text_fields == b.items.text_fields and a.items.vector_fields == b.items.vector_fields
    pd.testing.assert_frame_equal(a.users.frame, b.users.frame)
    assert (a.name, a.domain, a.n_users, a.n_items) == (b.name, b.domain, b.n_users, b.n_items)


def test_second_load_is_served_from_cache(recbole_copy, tmp_path, counting_loader):
    cache = tmp_path / "cache"
    first = load_dataset(recbole_copy, "recbole", cache=cache)
    second = load_dataset(recbole_copy, "recbole", cache=cache)
    assert len(counting_loader) == 1
    assert (first.meta["cache"], second.meta["cache"]) == ("miss", "hit")
    assert_same(first, second)
    assert second.items.frame.set_index("item_id").loc["i1", "categories"] == ["Beauty", "Makeup"]


def test_cache_dir_from_environment(recbole_copy, tmp_path, monkeypatch, counting_loader):
    monkeypatch.setenv("LMREC_CACHE", str(tmp_path / "env-cache"))
    load_dataset(recbole_copy, "recbole")
    assert load_dataset(recbole_copy, "recbole").meta["cache"] == "hit"
    assert len(list((tmp_path / "env-cache" / "parsed").iterdir())) == 1


def test_changed_bytes_or_options_miss(recbole_copy, tmp_path, counting_loader):
    cache = tmp_path / "cache"
    load_dataset(recbole_copy, "recbole", cache=cache)
    load_dataset(recbole_copy, "recbole", cache=cache, list_fields=["categories"])
    with open(recbole_copy / "toy.inter", "a") as f:
        f.write("u3\ti4\t1\t70\n")
    data = load_dataset(recbole_copy, "recbole", cache=cache)
    assert len(counting_loader) == 3
    assert len(data.interactions) == 5 and data.meta["cache"] == "miss"


@pytest.mark.parametrize("damage", ["truncate-parquet", "bad-json", "remove-file"])
def test_corrupted_cache_is_reparsed(recbole_copy, tmp_path, counting_loader, damage):
    cache = tmp_path / "cache"
    first = load_dataset(recbole_copy, "recbole", cache=cache)
    (entry,) = list(cache.iterdir())
    if damage == "truncate-parquet":
        p = entry / "interactions.parquet"
        p.write_bytes(p.read_bytes()[:40])
    elif damage == "bad-json":
        (entry / "dataset.json").write_text("{not json")
    else:
        (entry / "items.parquet").unlink()
    again = load_dataset(recbole_copy, "recbole", cache=cache)
    assert again.meta["cache"] == "miss" and len(counting_loader) == 2
    assert_same(first, again)
    assert load_dataset(recbole_copy, "recbole", cache=cache).meta["cache"] == "hit"


def test_round_trip_keeps_fixed_split_and_meta_arrays(tmp_path):
    data = load_format("unisrec", FIXTURES / "unisrec")
    data.meta["flags"] = np.arange(len(data.interactions)) % 2 == 0
    data.meta["table"] = pd.DataFrame({"a": [1, 2]})
    write_dataset(data, tmp_path / "entry")
    back = read_dataset(tmp_path / "entry")
    np.testing.assert_array_equal(back.fixed_split, data.fixed_split)
    np.testing.assert_array_equal(back.meta["flags"], data.meta["flags"])
    pd.testing.assert_frame_equal(back.meta["table"], data.meta["table"])
    assert back.meta["format"] == "unisrec"


def test_unstorable_meta_is_returned_uncached(tmp_path):
    def parse():
        data = load_format("recbole", FIXTURES / "recbole")
        data.meta["odd"] = object()
        return data

    data = cached_load("recbole", FIXTURES / "recbole", {}, parse, cache_dir=tmp_path)
    assert data.meta["cache"].startswith("not stored")
    assert list(tmp_path.iterdir()) == []  # no half-written entry left behind


def test_key_covers_files_named_by_options(tmp_path):
    (tmp_path / "e.csv").write_text("user_id,item_id\nu,i\n")
    (tmp_path / "items.csv").write_text("item_id,title\ni,T\n")
    k1 = cache_key("table", tmp_path / "e.csv", {"items_path": "items.csv"})
    (tmp_path / "items.csv").write_text("item_id,title\ni,Other\n")
    assert cache_key("table", tmp_path / "e.csv", {"items_path": "items.csv"}) != k1


def test_key_of_a_file_covers_its_siblings_for_folder_formats(tmp_path):
    folder = tmp_path / "toy"
    shutil.copytree(FIXTURES / "recbole", folder)
    k1 = cache_key("recbole", folder / "toy.inter", {})
    with open(folder / "toy.item", "a") as f:
        f.write("i5\tFive\t'X'\t1\tA\t0.9 1.0\n")
    assert cache_key("recbole", folder / "toy.inter", {}) != k1


def test_an_item_file_named_from_the_working_folder_is_part_of_the_key(tmp_path, monkeypatch):
    """``items_path`` relative to where the command runs (not to the event file): the table loader reads it
    from there, so the cache key must hash that file, or an edited item file would come back stale."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "events.csv").write_text("user_id,item_id\nu1,a\nu1,b\nu2,a\n")
    (data / "items.csv").write_text("item_id,title\na,Apple pie\nb,Banana bread\n")
    monkeypatch.chdir(tmp_path)
    cache = tmp_path / "cache"
    options = {"items_path": "data/items.csv"}
    first = load_dataset("data/events.csv", "table", cache=cache, **options)
    assert first.item_titles()[0] == "Apple pie"
    (data / "items.csv").write_text("item_id,title\na,Apple tart\nb,Banana bread\n")
    again = load_dataset("data/events.csv", "table", cache=cache, **options)
    assert again.meta["cache"] == "miss" and again.item_titles()[0] == "Apple tart"
