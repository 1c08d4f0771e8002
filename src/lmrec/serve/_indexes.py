"""The service's vector indexes: the catalog's text vectors at start-up and the (cached) ANN indexes."""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lmrec.errors import LmrecError
from lmrec.index import SEEN_EXCLUDED, ItemIndex
from lmrec.models.catalog import Catalog
from lmrec.serve._ranking import unit
from lmrec.serve._settings import ServeSettings

# search-time knobs, set to fixed values in the index cache key: tuning them reuses a built index (these are
# the values keys were written with before the knobs were left out, so those caches stay valid)
_KEY_SEARCH_FIELDS = {"hnsw_ef_search": 128, "ivf_nprobe": 32, "ann_candidates": 4}
# search-time knobs added later: left out of the key altogether (older caches stay valid, and are calibrated
# when loaded)
_KEY_LEFT_OUT = ("hnsw_target_recall", "hnsw_ef_max", "ivf_target_recall", "ivf_nprobe_max")


def initial_text_vectors(
    settings: ServeSettings, model: Any, catalog: Catalog, encode: Callable[[Sequence[str]], np.ndarray]
) -> np.ndarray:
    """Unit text vectors of the catalog: ``settings.item_vectors``, else the model's own item vectors when
    it has one per item, else the item texts encoded."""
    n = catalog.n_items
    if settings.item_vectors:
        vecs = np.load(settings.item_vectors, allow_pickle=False)
        if vecs.shape[0] != n:
            raise LmrecError(f"{settings.item_vectors}: {vecs.shape[0]} vectors for {n} items")
        return unit(vecs)
    own = getattr(model, "item_vectors", None)
    if own is None or callable(own):
        own = getattr(model, "vectors", None)  # the content model's name for them
    if own is not None and not callable(own):
        vecs = np.asarray(own, dtype=np.float32)
        if vecs.ndim == 2 and vecs.shape[0] == n:
            return unit(vecs)
    texts = [t or title for t, title in zip(catalog.texts, catalog.titles, strict=True)]
    return encode(texts)


def training_queries(
    model: Any, queries: Callable[[Any], np.ndarray], n: int = 200
) -> tuple[np.ndarray, list[np.ndarray]] | None:
    """Query vectors (``queries(UserBatch)``) of a seeded sample of ``n`` of the model's training users, from
    their histories as the model saw them, and those histories (the items their recommendations leave out):
    what a recommendation index will be asked, for its recall calibration. None when the model keeps no
    histories."""
    from lmrec.models.base import UserBatch

    histories = getattr(model, "histories", None)
    users = np.flatnonzero([len(h) > 0 for h in histories]) if histories else np.zeros(0, dtype=np.int64)
    if not len(users):
        return None
    users = np.sort(np.random.default_rng(0).choice(users, size=min(n, len(users)), replace=False))
    seen = [np.asarray(histories[u], dtype=np.int64) for u in users]
    return queries(UserBatch(users, seen)), seen


def build_index(
    vectors: np.ndarray,
    tag: str,
    settings: ServeSettings,
    model_dir: Path,
    queries: Callable[[], tuple[np.ndarray, list[np.ndarray]] | None] | None = None,
) -> ItemIndex:
    """Build the index, or load it from the index cache when these vectors were indexed before.

    An HNSW graph over 100k items takes minutes to build on a small machine; cached, restarts are fast.
    The key covers the vectors' bytes and the index config, so a changed model never gets a stale index.
    ``queries`` gives sample queries of what the index will be asked (users' query vectors) and the items
    each leaves out (their seen items), for the ANN index's recall calibration (:meth:`ItemIndex.calibrate`);
    called only when a calibration is due.
    """
    config = settings.index
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    kind = config.resolve(len(vectors))
    target = config.target_recall(kind)
    calibrated = target is not None

    def sample() -> dict[str, Any]:
        found = queries() if queries is not None and calibrated else None
        return {} if found is None else {"queries": found[0], "exclude": found[1]}

    if kind == "exact" or settings.index_cache == "off":
        return ItemIndex.build(vectors, config=config, **sample())  # exact: a copy, no cache needed
    h = hashlib.sha256(memoryview(vectors).cast("B"))  # no bytes copy (1.5 GB at 1M x 384)
    key = {k: v for k, v in {**config.to_dict(), **_KEY_SEARCH_FIELDS}.items() if k not in _KEY_LEFT_OUT}
    h.update(json.dumps(key, sort_keys=True).encode())
    root = Path(settings.index_cache) if settings.index_cache else model_dir / "serve-index"
    path = root / f"{tag}-{h.hexdigest()[:16]}"
    if (path / "index.json").is_file():
        try:
            cached = ItemIndex.load(path)
        except Exception:  # noqa: BLE001 - a damaged cache entry is rebuilt, never fatal
            pass
        else:
            cached.configure(config)  # this run's search-time knobs (efSearch, nprobe, candidates)
            was = cached.calibration or {}
            if calibrated and (
                was.get("target") != target or (queries is not None and was.get("sample") != SEEN_EXCLUDED)
            ):
                # calibrated for another target, on stand-in queries (or, before, on users' top k with their
                # seen items in), or not at all: a few seconds, then kept in the cache so that the next
                # process (e.g. each `serve --workers` worker) need not
                cached.calibrate(**sample())
                try:
                    cached.save(path)
                except OSError:
                    pass
            return cached
    index = ItemIndex.build(vectors, config=config, **sample())
    try:
        index.save(path)
    except OSError:
        pass  # read-only model directory: serve without caching
    return index


def set_compute_threads(n: int) -> None:
    """Give every compute thread pool of this process ``n`` threads: faiss' and torch's OpenMP and the BLAS
    behind numpy (threadpoolctl). A server process answers many small requests at once, so parallelism comes
    from requests and processes; pools sized to the machine in each of ``--workers`` processes spin-wait
    against each other (at 1M items on 2 cores: 4-5 ms of CPU per request instead of 1.7)."""
    import faiss

    n = max(1, int(n))
    faiss.omp_set_num_threads(n)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # the serve extra installs it; without it numpy's BLAS keeps its own setting
        return
    threadpool_limits(limits=n)
