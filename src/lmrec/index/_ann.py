"""Inner-product search over item vectors with faiss, with online add/remove and seen-item exclusion.

Ids are dense item indices (non-negative ints). faiss stores ``(version << 32) | item`` so that an index type
that cannot delete (HNSW) can still replace or drop an item: the old entry stays in the graph as a tombstone
whose version no longer matches and is filtered out of results. Exact (flat) and IVF indexes delete for real.

Exact search wraps IndexFlatIP in IndexIDMap2; HNSW wraps IndexHNSWFlat likewise; IVF-PQ keeps ids natively.
ANN candidates are re-scored exactly against a kept copy of the vectors, so the scores returned are true inner
products whatever the index type; only *which* items are found is approximate.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from lmrec.config import BaseConfig
from lmrec.errors import DataError, LmrecError

_SHIFT = 32
CALIBRATION_QUERIES = 200  # queries an ANN calibration measures recall on (exact search for each)
# a calibration also stops when doubling the knob gains less recall than this (it cannot reach its target)
CALIBRATION_MIN_GAIN = 0.002
# a calibration's sample when its queries came with their users' seen items, left out of every top k
SEEN_EXCLUDED = "queries, seen excluded"
# IVF-PQ re-ranks k x ann_candidates PQ candidates exactly; a calibration raises that up to this (re-ranking
# 640 vectors costs less than scanning one more list)
MAX_CANDIDATES = 64
_ID_MASK = (1 << _SHIFT) - 1


class IndexConfig(BaseConfig):
    """Which faiss index to build and its knobs.

    ``kind="auto"`` picks the exact index up to ``exact_max_items`` items and ``ann`` above that.
    """

    kind: Literal["auto", "exact", "hnsw", "ivfpq"] = "auto"
    exact_max_items: int = 50_000
    # IVF-PQ, calibrated: a recommender's queries are users' profiles, which lie between the items' clusters,
    # where a graph's greedy walk (HNSW) needs a wide beam. At 1M items, both calibrated to .95, on 384-d
    # clustered text vectors (benchmarks/serve_load.py): IVF-PQ recall .970 at 0.73 ms per search, HNSW .994
    # at 2.3 ms; on textseq's 449-d retrieval vectors (benchmarks/scale.py): .995 at 2.4 ms per request, 397/s
    # in one process, against .961 at 3.5 ms, 271/s. It also builds faster (166 s against 262 s)
    ann: Literal["hnsw", "ivfpq"] = "ivfpq"
    hnsw_m: int = 32
    hnsw_ef_construction: int = 80
    # 96: the smallest beam with recall@10 >= .999 against exact search in benchmarks/serve_load.py (100k
    # clustered 384-d vectors, 2000 users; 80 gave .9985, 64 gave .97); cost grows about linearly with it
    hnsw_ef_search: int = 96
    # the beam is a floor: a built HNSW index measures its recall@10 against exact search on sample queries
    # and doubles the beam (up to hnsw_ef_max) until it reaches this; None = the fixed hnsw_ef_search. Why:
    # at 1M items (benchmarks/scale.py) beam 96 found .75 of the true top 10; 1,024 found .96 in 2.2 ms.
    hnsw_target_recall: float | None = Field(0.95, gt=0.0, le=1.0)
    hnsw_ef_max: int = Field(4096, ge=1)
    ivf_nlist: int = 0  # 0: about 4 * sqrt(n)
    ivf_nprobe: int = 32
    # the same for IVF-PQ: the re-ranked candidates (ann_candidates, up to MAX_CANDIDATES) and the lists
    # scanned (nprobe, up to ivf_nprobe_max and the number of lists) double until recall@10 reaches this, or
    # stop where no doubling pays; None = the fixed ivf_nprobe and ann_candidates. Why: nprobe 32 scans 32
    # of 4 sqrt(n) lists, 2.5% at 100k items and 0.8% at 1M
    ivf_target_recall: float | None = Field(0.95, gt=0.0, le=1.0)
    ivf_nprobe_max: int = Field(1024, ge=1)
    pq_m: int = 0  # codes per vector; 0: dim / 4 rounded up (vectors are zero-padded to a multiple of it)
    pq_bits: int = 8
    ann_candidates: int = 4  # IVF-PQ fetches k * this many candidates, re-scored exactly

    def resolve(self, n_items: int) -> str:
        """The concrete index kind for a catalog of ``n_items``."""
        if self.kind != "auto":
            return self.kind
        return "exact" if n_items <= self.exact_max_items else self.ann

    def target_recall(self, kind: str) -> float | None:
        """The recall@10 an index of ``kind`` is calibrated to after building (None: fixed search knobs;
        always None for ``exact``)."""
        return {"hnsw": self.hnsw_target_recall, "ivfpq": self.ivf_target_recall}.get(kind)


class RWLock:
    """Many concurrent readers or one writer: searches run in parallel, add/remove wait for them."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writer:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._readers:
                self._cond.wait()
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


class ItemIndex:
    """A mutable inner-product index over item vectors keyed by item index.

    Build one with :meth:`build`; then :meth:`search`, :meth:`add`, :meth:`remove`, :meth:`save`/:meth:`load`.
    Safe to use from several threads: searches share a read lock, mutations take the write lock.
    """

    def __init__(self, dim: int, kind: str, config: IndexConfig | None = None) -> None:
        self.config = config or IndexConfig()
        if kind not in ("exact", "hnsw", "ivfpq"):
            raise LmrecError(f"unknown index kind {kind!r}; use exact, hnsw or ivfpq")
        if dim <= 0:
            raise DataError("vector dimension must be positive", field="dim")
        self.dim = int(dim)
        self.kind = kind
        self._faiss: Any = None
        self._vectors = np.zeros((0, self.dim), dtype=np.float32)
        self._version = np.zeros(0, dtype=np.int64)  # 0 = absent; >0 = live with that version
        self._last_version = np.zeros(0, dtype=np.int64)  # removed ids remember theirs, so keys never repeat
        self._dead = 0  # tombstoned entries still inside the faiss structure
        self._lock = RWLock()
        # the search knobs (HNSW's beam, IVF-PQ's re-ranked candidates; its lists scanned: nprobe): the
        # config's, or what calibrate() found for its recall target
        self.calibration: dict[str, Any] | None = None
        self.ef_search = self.config.hnsw_ef_search
        self.ann_candidates = max(1, self.config.ann_candidates)

    # -- construction ----------------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        vectors: np.ndarray,
        ids: np.ndarray | None = None,
        config: IndexConfig | None = None,
        queries: np.ndarray | None = None,
        exclude: Sequence[Sequence[int] | np.ndarray] | None = None,
    ) -> ItemIndex:
        """An index over ``vectors`` (rows) keyed by ``ids`` (default ``0..n-1``); kind from ``config``.

        An ANN index with a recall target (``config.target_recall(kind)``) is then calibrated
        (:meth:`calibrate`) on ``queries`` (what it will be asked: e.g. users' query vectors) with their
        ``exclude`` lists (e.g. those users' seen items), else on a sample of its own vectors.
        """
        config = config or IndexConfig()
        vectors = _as_matrix(vectors)
        n, dim = vectors.shape
        ids = np.arange(n, dtype=np.int64) if ids is None else _as_ids(ids)
        if len(ids) != n:
            raise DataError(f"{len(ids)} ids for {n} vectors", field="ids")
        if len(np.unique(ids)) != n:
            raise DataError("duplicate ids", field="ids")
        index = cls(dim, config.resolve(n), config)
        index._faiss = index._new_faiss(vectors)
        index._add(ids, vectors)
        if config.target_recall(index.kind) is not None:
            index.calibrate(queries, exclude=exclude)
        return index

    def calibrate(
        self,
        queries: np.ndarray | None = None,
        k: int = 10,
        target: float | None = None,
        exclude: Sequence[Sequence[int] | np.ndarray] | None = None,
    ) -> dict[str, Any]:
        """Raise the ANN search knobs until recall@``k`` against exact inner products on ``queries`` (at most
        ``CALIBRATION_QUERIES`` of them; default: a seeded sample of the indexed vectors) reaches ``target``
        (default: ``config.target_recall(kind)``). HNSW's knob is its beam (``ef_search``, doubled up to
        ``hnsw_ef_max``); IVF-PQ has two, tried in this order at each step: the candidates it re-ranks
        exactly (``ann_candidates`` x k, doubled up to ``MAX_CANDIDATES``) and the lists it scans
        (``nprobe``, doubled up to ``ivf_nprobe_max`` and the number of lists). A doubling is kept only when
        it gains at least ``CALIBRATION_MIN_GAIN``; when none does the target is out of reach and the
        calibration stops there (``plateau``) rather than at the caps. Recall is measured through
        :meth:`search`, with ``exclude`` (one id list per query, as :meth:`search` takes it) left out of both
        the exact and the index's top k: a recommender excludes each user's seen items, which are the
        nearest to the user's profile, so the top k it serves lies deeper, where an ANN index is less
        accurate (found on 20k clustered vectors: a calibration on raw top 10s said .96, while the service's
        seen-excluded top 10s matched exact search at .76). Returns (and keeps in ``calibration``, saved with
        the index) the knobs, the recall it measured, the target and why it stopped (``target``, ``plateau``
        or ``cap``). Exact indexes need none: ``{}``."""
        if self.kind == "exact":
            return {}
        import faiss

        target = self.config.target_recall(self.kind) if target is None else float(target)
        with self._lock.read():
            live = self.ids()
            if not len(live):
                return {}
            if queries is None:  # a seeded sample of its own vectors stands in for the queries
                pick = np.random.default_rng(0).choice(
                    live, size=min(len(live), CALIBRATION_QUERIES), replace=False
                )
                queries, exclude, sample = self._vectors[pick], None, "own vectors"
            else:
                sample = "queries" if exclude is None else SEEN_EXCLUDED
            queries = _as_matrix(queries, self.dim)[:CALIBRATION_QUERIES]
            if exclude is not None and len(exclude) < len(queries):
                raise DataError(f"{len(exclude)} exclusion lists for {len(queries)} queries", field="exclude")
            excl = (
                None if exclude is None else [np.asarray(exclude[r], np.int64) for r in range(len(queries))]
            )
            k = max(1, min(k, len(live)))
            # exact top k, deep enough to skip the excluded ids (faiss' blocked brute force); after a build
            # the live ids are 0..n-1: a view, no copy
            depth = min(len(live), k + max(map(len, excl or []), default=0))
            base = self._vectors[: len(live)] if live[-1] == len(live) - 1 else self._vectors[live]
            _, rows = faiss.knn(queries, base, depth, metric=faiss.METRIC_INNER_PRODUCT)
            truth = []
            for i, row in enumerate(rows):
                top = live[row[row >= 0]]
                if excl is not None:
                    top = top[~np.isin(top, excl[i])]
                truth.append(set(top[:k].tolist()))
        knobs = self._knobs()
        value = {name: int(getattr(self, name)) for name in knobs}

        def recall_at(v: dict[str, int]) -> float:
            self._set_knobs(v)
            found, _ = self.search(queries, k, exclude=excl)
            pairs = zip(found, truth, strict=True)
            return float(np.mean([len(set(f.tolist()) & t) / max(1, len(t)) for f, t in pairs]))

        recall, reason = recall_at(value), "target"
        while target is not None and recall < target:
            # the first knob whose doubling still pays (IVF-PQ: candidates re-ranked, then lists scanned)
            for name, cap in knobs.items():
                if value[name] >= cap:
                    continue
                trial = {**value, name: min(cap, value[name] * 2)}
                more = recall_at(trial)
                if more - recall >= CALIBRATION_MIN_GAIN:
                    value, recall = trial, more
                    break
            else:
                at_cap = all(value[name] >= cap for name, cap in knobs.items())
                reason = "cap" if at_cap else "plateau"
                self._set_knobs(value)  # back from the last trial
                break
        self.calibration = {
            **value,
            f"recall@{k}": round(recall, 4),
            "target": target,
            "stopped": reason,
            "queries": len(queries),
            "sample": sample,
        }
        return dict(self.calibration)

    def _knobs(self) -> dict[str, int]:
        """The ANN index's search knobs, in the order a calibration raises them, with their largest values."""
        c = self.config
        if self.kind == "hnsw":
            return {"ef_search": max(1, c.hnsw_ef_search, c.hnsw_ef_max)}
        lists = max(1, min(c.ivf_nprobe_max, int(self._faiss.nlist)))
        # re-ranking more candidates is cheap next to scanning more lists: tried first
        return {"ann_candidates": max(MAX_CANDIDATES, self.ann_candidates), "nprobe": max(lists, self.nprobe)}

    def _set_knobs(self, values: dict[str, int]) -> None:
        for name, value in values.items():
            setattr(self, name, max(1, int(value)))

    @property
    def nprobe(self) -> int:
        """IVF-PQ's lists scanned per search: the faiss index's own setting (before one exists, the
        config's)."""
        if self.kind == "ivfpq" and self._faiss is not None:
            return int(self._faiss.nprobe)
        return self.config.ivf_nprobe

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        self._faiss.nprobe = int(value)

    def _new_faiss(self, train: np.ndarray) -> Any:
        import faiss

        c = self.config
        if self.kind == "exact":
            base = faiss.IndexFlatIP(self.dim)
        elif self.kind == "hnsw":
            base = faiss.IndexHNSWFlat(self.dim, c.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            base.hnsw.efConstruction = c.hnsw_ef_construction
            base.hnsw.efSearch = c.hnsw_ef_search
        else:
            n = len(train)
            if n == 0:
                raise DataError("an IVF-PQ index needs vectors to train on", field="vectors")
            nlist = c.ivf_nlist or int(4 * np.sqrt(n))
            nlist = max(1, min(nlist, n // 39 or 1))
            # codes of about 4 dims each (or pq_m codes): the vectors are zero-padded to a multiple of the
            # code width, which leaves inner products unchanged (a prime dimension such as textseq's 449 once
            # got a single code for the whole vector, and recall@10 .45 at any search setting)
            m = c.pq_m or -(-self.dim // 4)
            dim = -(-self.dim // m) * m
            bits = max(1, min(c.pq_bits, int(np.log2(max(n, 2)))))
            quantizer = faiss.IndexFlatIP(dim)
            base = faiss.IndexIVFPQ(quantizer, dim, nlist, m, bits, faiss.METRIC_INNER_PRODUCT)
            base.own_fields = True
            quantizer.this.disown()
            base.train(_padded(train, dim))
            base.nprobe = min(c.ivf_nprobe, nlist)
            # IVF stores ids itself; wrapping it in IndexIDMap would break remove_ids (positions shift)
            return base
        return faiss.IndexIDMap2(base)

    # -- bookkeeping -----------------------------------------------------------------------------------
    def configure(self, config: IndexConfig) -> None:
        """Use ``config``'s search-time knobs (efSearch, nprobe, candidates) from now on; a calibrated knob
        stays while the config still asks for a recall target (it is the floor then)."""
        self.config = config
        cal = self.calibration if config.target_recall(self.kind) is not None else None
        cal = cal or {}
        self.ef_search = max(config.hnsw_ef_search, int(cal.get("ef_search", 0)))
        self.ann_candidates = max(1, config.ann_candidates, int(cal.get("ann_candidates", 0)))
        if self.kind == "ivfpq" and self._faiss is not None:
            nprobe = max(config.ivf_nprobe, int(cal.get("nprobe", 0)))
            self.nprobe = max(1, min(nprobe, int(self._faiss.nlist)))

    def __len__(self) -> int:
        return int((self._version > 0).sum())

    def __contains__(self, item: object) -> bool:
        if not isinstance(item, (int, np.integer)):
            return False
        return 0 <= int(item) < len(self._version) and self._version[int(item)] > 0

    def ids(self) -> np.ndarray:
        """Ids of the live items, ascending."""
        return np.flatnonzero(self._version > 0).astype(np.int64)

    def vectors(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """The stored vectors of ``ids`` (unknown or removed ids raise DataError)."""
        ids = _as_ids(ids)
        missing = [int(i) for i in ids if i not in self]
        if missing:
            raise DataError(f"item {missing[0]} is not in the index", field="item")
        return self._vectors[ids].copy()

    @property
    def stats(self) -> dict[str, Any]:
        """Size and type, for health checks and metrics."""
        out = {"kind": self.kind, "dim": self.dim, "items": len(self), "tombstones": self._dead}
        if self.kind == "hnsw":
            out["ef_search"] = self.ef_search
        elif self.kind == "ivfpq":
            out["nprobe"], out["ann_candidates"] = self.nprobe, self.ann_candidates
        return out

    def _grow(self, needed: int) -> None:
        cap = len(self._version)
        if needed <= cap:
            return
        new_cap = max(needed, int(cap * 1.5) + 16)
        vec = np.zeros((new_cap, self.dim), dtype=np.float32)
        vec[:cap] = self._vectors
        ver = np.zeros(new_cap, dtype=np.int64)
        ver[:cap] = self._version
        last = np.zeros(new_cap, dtype=np.int64)
        last[:cap] = self._last_version
        self._vectors, self._version, self._last_version = vec, ver, last

    # -- mutation --------------------------------------------------------------------------------------
    def add(self, ids: Sequence[int] | np.ndarray, vectors: np.ndarray) -> None:
        """Insert items, replacing those already present; searchable as soon as this returns."""
        ids = _as_ids(ids)
        vectors = _as_matrix(vectors, self.dim)
        if len(ids) != len(vectors):
            raise DataError(f"{len(ids)} ids for {len(vectors)} vectors", field="ids")
        if len(np.unique(ids)) != len(ids):
            raise DataError("duplicate ids", field="ids")
        with self._lock.write():
            self._drop([int(i) for i in ids if i in self])
            self._add(ids, vectors)

    def remove(self, ids: Sequence[int] | np.ndarray) -> int:
        """Remove items (absent ids are ignored); returns how many were removed."""
        ids = _as_ids(ids)
        with self._lock.write():
            present = [int(i) for i in ids if i in self]
            self._drop(present)
        return len(present)

    def _add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids) == 0:
            return
        if ids.max() > _ID_MASK:
            raise DataError(f"item ids must be below {_ID_MASK}", field="ids")
        self._grow(int(ids.max()) + 1)
        version = self._next_version(ids)
        self._vectors[ids] = vectors
        self._version[ids] = version
        self._faiss.add_with_ids(_padded(vectors, self._faiss.d), (version << _SHIFT) | ids)

    def _next_version(self, ids: np.ndarray) -> np.ndarray:
        self._last_version[ids] += 1
        return self._last_version[ids].copy()

    def _drop(self, ids: list[int]) -> None:
        if not ids:
            return
        arr = np.asarray(ids, dtype=np.int64)
        keys = (self._version[arr] << _SHIFT) | arr
        self._version[arr] = 0
        if self.kind == "hnsw":
            self._dead += len(arr)  # HNSW cannot delete: the stale keys are filtered at search time
        else:
            self._faiss.remove_ids(keys)

    # -- search ----------------------------------------------------------------------------------------
    def search(
        self,
        queries: np.ndarray,
        k: int = 10,
        exclude: Sequence[Sequence[int] | np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` ids and inner products per query row, best first.

        ``exclude`` holds one array of ids per query (e.g. the user's seen items) that must not be returned.
        Rows with fewer than ``k`` eligible items are padded with id -1 and score -inf.
        """
        queries = _as_matrix(queries, self.dim)
        if exclude is not None and len(exclude) != len(queries):
            raise DataError(f"{len(exclude)} exclusion lists for {len(queries)} queries", field="exclude")
        k = max(0, int(k))
        out_ids = np.full((len(queries), k), -1, dtype=np.int64)
        out_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        if k == 0 or len(queries) == 0:
            return out_ids, out_scores
        excl = [set() if exclude is None else {int(x) for x in exclude[r]} for r in range(len(queries))]
        with self._lock.read():
            total = int(self._faiss.ntotal)
            if total == 0:
                return out_ids, out_scores
            # HNSW-flat and exact distances are exact already: over-fetching would only widen the HNSW beam,
            # which efSearch sets. PQ distances are approximate, so IVF-PQ re-ranks extra candidates.
            over = self.ann_candidates if self.kind == "ivfpq" else 1
            fetch = [min(total, k * over + len(e) + self._dead) for e in excl]
            pending = list(range(len(queries)))
            while pending:
                kk = max(fetch[r] for r in pending)
                found = self._raw_search(queries[pending], kk)
                still: list[int] = []
                for row, cand in zip(pending, found, strict=True):
                    got = self._filter(cand, excl[row])
                    if len(got) < k and kk < total:
                        # tombstones or exclusions ate the candidates: look deeper for this row
                        fetch[row] = min(total, kk * 2)
                        still.append(row)
                        continue
                    self._fill(queries[row], got, k, out_ids[row], out_scores[row])
                pending = still
        return out_ids, out_scores

    def _raw_search(self, queries: np.ndarray, kk: int) -> np.ndarray:
        if self.kind == "hnsw":
            import faiss

            params = faiss.SearchParametersHNSW()
            params.efSearch = max(self.ef_search, kk)
            return self._faiss.search(queries, kk, params=params)[1]
        return self._faiss.search(_padded(queries, self._faiss.d), kk)[1]

    def _filter(self, keys: np.ndarray, excl: set[int]) -> list[int]:
        keys = keys[keys >= 0]
        ids = keys & _ID_MASK
        versions = keys >> _SHIFT
        ok = (ids < len(self._version)) & (self._version[np.minimum(ids, len(self._version) - 1)] == versions)
        out: list[int] = []
        seen: set[int] = set()
        for i in ids[ok].tolist():
            if i in excl or i in seen:
                continue
            seen.add(i)
            out.append(i)
        return out

    def _fill(
        self, query: np.ndarray, got: list[int], k: int, ids_row: np.ndarray, scores_row: np.ndarray
    ) -> None:
        if not got:
            return
        cand = np.asarray(got, dtype=np.int64)
        scores = self._vectors[cand] @ query
        # exact re-scoring of the candidates: ANN only decides which items are found, not their scores
        order = np.lexsort((cand, -scores))[:k]
        ids_row[: len(order)] = cand[order]
        scores_row[: len(order)] = scores[order]

    # -- persistence -----------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write ``index.json``, ``index.faiss`` and ``vectors.safetensors`` into the directory ``path``."""
        import faiss

        from lmrec.saved import write_saved

        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        with self._lock.read():
            faiss.write_index(self._faiss, str(out / "index.faiss"))
            arrays = {"vectors": self._vectors, "version": self._version, "last_version": self._last_version}
            meta = {
                "kind": self.kind,
                "dim": self.dim,
                "dead": self._dead,
                "config": self.config.to_dict(),
                "calibration": self.calibration,
            }
            return write_saved(out, meta_file="index.json", meta=meta, arrays={"vectors.safetensors": arrays})

    @classmethod
    def load(cls, path: str | Path) -> ItemIndex:
        """Load an index saved by :meth:`save`."""
        import faiss

        from lmrec.saved import read_arrays, read_meta

        p = Path(path)
        meta_file = p / "index.json"
        meta = read_meta(p, "index.json", what="a saved item index")
        config = IndexConfig.from_dict(meta["config"], source=str(meta_file))
        index = cls(int(meta["dim"]), str(meta["kind"]), config)
        index._faiss = faiss.read_index(str(p / "index.faiss"))
        state = read_arrays(p / "vectors.safetensors", noun="the index vectors")
        # read_arrays gives writable arrays of their own: no copy (1.5 GB and 9 s at 1M x 384)
        index._vectors = state["vectors"].astype(np.float32, copy=False)
        index._version = state["version"].astype(np.int64, copy=False)
        index._last_version = state["last_version"].astype(np.int64, copy=False)
        index._dead = int(meta.get("dead", 0))
        index.calibration = meta.get("calibration")  # absent in indexes saved before calibration
        index.configure(config)
        return index


def _as_ids(ids: Sequence[int] | np.ndarray) -> np.ndarray:
    arr = np.asarray(ids)
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    if len(arr) and arr.dtype.kind not in "iu":
        raise DataError("ids must be integers", field="ids")
    arr = arr.astype(np.int64)
    if len(arr) and arr.min() < 0:
        raise DataError("ids must be non-negative", field="ids")
    return arr


def _as_matrix(x: np.ndarray, dim: int | None = None) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise DataError(f"vectors must be a 2-d array, got shape {arr.shape}", field="vectors")
    if dim is not None and arr.shape[1] != dim:
        raise DataError(f"vectors have dimension {arr.shape[1]}, the index has {dim}", field="vectors")
    if not np.isfinite(arr).all():
        raise DataError("vectors contain NaN or infinity", field="vectors")
    return np.ascontiguousarray(arr)


def _padded(x: np.ndarray, dim: int) -> np.ndarray:
    """``x`` (n, d <= dim) with zero columns up to ``dim`` (IVF-PQ's code width; inner products unchanged)."""
    if x.shape[1] == dim:
        return x
    return np.ascontiguousarray(np.pad(x, ((0, 0), (0, dim - x.shape[1]))), dtype=np.float32)
