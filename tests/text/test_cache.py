"""The embedding cache: hits and misses, re-encoding only what changed, persistence, compaction, and two
processes writing the same cache at once."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lmrec.data import ItemTable
from lmrec.errors import LmrecError
from lmrec.text import CacheStats, EmbeddingCache, cache_stats, encode_items, encode_texts
from lmrec.text import cache as cache_mod
from lmrec.text.cache import text_key

from .conftest import HashEncoder, hash_vector


def test_second_call_is_served_from_the_cache(tmp_path: Path, hash_encoder: HashEncoder) -> None:
    texts = ["alpha", "beta", "gamma", "beta"]
    s1 = CacheStats()
    v1 = encode_texts(texts, encoder=hash_encoder, cache_dir=tmp_path, stats=s1)
    assert (s1.hits, s1.misses, s1.texts) == (0, 3, 4)  # distinct texts, each encoded once
    assert hash_encoder.encoded == ["alpha", "beta", "gamma"]
    np.testing.assert_array_equal(v1, np.stack([hash_vector(t) for t in texts]))
    s2 = CacheStats()
    v2 = encode_texts(texts, encoder=hash_encoder, cache_dir=tmp_path, stats=s2)
    assert (s2.hits, s2.misses) == (3, 0)
    assert cache_stats(last=True).hits == 3
    assert len(hash_encoder.encoded) == 3
    np.testing.assert_array_equal(v1, v2)


def test_only_new_or_changed_texts_are_encoded(tmp_path: Path, hash_encoder: HashEncoder) -> None:
    frame = pd.DataFrame(
        {"item_id": ["a", "b", "c"], "title": ["Red pen", "Blue pen", "Ruler"], "brand": ["Bic", "Bic", None]}
    )
    items = ItemTable(frame, text_fields=("title", "brand"))
    stats = CacheStats()
    encode_items(items, encoder=hash_encoder, cache_dir=tmp_path, stats=stats)
    changed = ItemTable(
        frame.assign(title=["Red pen", "Blue pen (new)", "Ruler"]), text_fields=("title", "brand")
    )
    s2 = CacheStats()
    v = encode_items(changed, encoder=hash_encoder, cache_dir=tmp_path, stats=s2)
    assert (s2.hits, s2.misses) == (2, 1)
    assert hash_encoder.encoded[-1] == "Blue pen (new). Bic"
    assert v.shape == (3, 8)
    # a template change changes the texts, hence the keys; "Ruler" has no brand and renders the same text
    # under both templates, so it shares its vector
    s3 = CacheStats()
    encode_items(changed, encoder=hash_encoder, template="{brand}: {title}", cache_dir=tmp_path, stats=s3)
    assert (s3.hits, s3.misses) == (1, 2)
    assert hash_encoder.encoded[-2:] == ["Bic: Red pen", "Bic: Blue pen (new)"]


def test_models_do_not_share_vectors(tmp_path: Path) -> None:
    a, b = HashEncoder("model-a"), HashEncoder("model-b")
    encode_texts(["x", "y"], encoder=a, cache_dir=tmp_path)
    stats = CacheStats()
    encode_texts(["x", "y"], encoder=b, cache_dir=tmp_path, stats=stats)
    assert stats.misses == 2 and b.encoded == ["x", "y"]


def test_no_cache_touches_no_disk(tmp_path: Path, hash_encoder: HashEncoder) -> None:
    encode_texts(["x"], encoder=hash_encoder, cache_dir=tmp_path / "c", use_cache=False)
    assert not (tmp_path / "c").exists()


def test_cache_persists_and_compacts(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(cache_mod, "MAX_SHARDS", 3)
    cache = EmbeddingCache("m", 8, tmp_path)
    for i in range(5):  # one shard per put; the 4th triggers a merge
        cache.put([text_key(f"t{i}")], hash_vector(f"t{i}")[None])
    shards = sorted(cache.dir.glob("shard-*.npy"))
    assert len(shards) <= 3
    fresh = EmbeddingCache("m", 8, tmp_path)
    keys = [text_key(f"t{i}") for i in range(5)] + [text_key("missing")]
    found, vecs = fresh.get(keys)
    assert found.tolist() == [True] * 5 + [False]
    np.testing.assert_array_equal(vecs, np.stack([hash_vector(f"t{i}") for i in range(5)]))
    assert not list(cache.dir.glob(".tmp-*"))


def test_folder_of_another_model_is_refused(tmp_path: Path) -> None:
    EmbeddingCache("m", 8, tmp_path)
    first = next(tmp_path.iterdir())
    (first / "model.json").write_text('{"format": 1, "model_id": "other", "dim": 8}')
    with pytest.raises(LmrecError, match="belongs to model"):
        EmbeddingCache("m", 8, tmp_path)


def test_default_root_honours_lmrec_cache(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LMREC_CACHE", str(tmp_path))
    assert cache_mod.default_cache_root() == tmp_path / "embeddings"


def _writer(root: str, start: int, n: int, barrier) -> None:
    from lmrec.text.cache import EmbeddingCache, text_key

    cache = EmbeddingCache("concurrent", 8, root)
    barrier.wait()
    for i in range(start, start + n, 5):  # many small shards, overlapping the other writer's range
        texts = [f"text {j}" for j in range(i, i + 5)]
        cache.put([text_key(t) for t in texts], np.stack([_vec(t) for t in texts]))


def _vec(text: str) -> np.ndarray:
    from tests.text.conftest import hash_vector

    return hash_vector(text)


def _reader(root: str, rounds: int, barrier, out) -> None:
    from lmrec.text.cache import EmbeddingCache, text_key

    cache = EmbeddingCache("concurrent", 8, root)
    barrier.wait()
    bad = 0
    for _ in range(rounds):
        keys = [text_key(f"text {j}") for j in range(0, 150)]
        found, vecs = cache.get(keys)
        expect = np.stack([_vec(f"text {j}") for j in np.flatnonzero(found)]) if found.any() else vecs
        bad += int(not np.array_equal(vecs, expect))
    out.put(bad)


def test_two_processes_write_the_same_cache_at_once(tmp_path: Path, monkeypatch) -> None:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(3)
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_writer, args=(str(tmp_path), 0, 100, barrier)),
        ctx.Process(target=_writer, args=(str(tmp_path), 50, 100, barrier)),
        ctx.Process(target=_reader, args=(str(tmp_path), 30, barrier, out)),
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    assert out.get(timeout=5) == 0  # the reader never saw a partial or wrong row
    cache = EmbeddingCache("concurrent", 8, tmp_path)
    keys = [text_key(f"text {j}") for j in range(150)]
    found, vecs = cache.get(keys)
    assert found.all()
    np.testing.assert_array_equal(vecs, np.stack([hash_vector(f"text {j}") for j in range(150)]))
    assert not list(cache.dir.glob(".tmp-*"))


def test_real_encoder_through_the_cache(tmp_path: Path, minilm) -> None:
    frame = pd.DataFrame({"item_id": ["1", "2"], "title": ["Lab beaker 500 ml", "Safety goggles"]})
    items = ItemTable(frame, text_fields=("title",))
    s1, s2 = CacheStats(), CacheStats()
    v1 = encode_items(items, encoder="minilm", cache_dir=tmp_path, stats=s1)
    v2 = encode_items(items, encoder="minilm", cache_dir=tmp_path, stats=s2)
    assert (s1.misses, s2.hits, s2.misses) == (2, 2, 0)
    np.testing.assert_array_equal(v1, v2)
    np.testing.assert_allclose(v1, minilm.encode(["Lab beaker 500 ml", "Safety goggles"]), atol=1e-6)
