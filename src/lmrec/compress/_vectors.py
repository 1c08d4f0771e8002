"""Item-vector codecs: float16, int8 scalar, product and residual quantization (faiss), with recall checks.

A codec is trained once on the catalog's vectors, then turns vectors into compact codes and back. Codes and
the trained quantizer are plain numpy arrays (the quantizer as faiss's own serialization, without codes), so
they live in ``model.safetensors`` next to the weights; nothing is pickled.

=========== ==================================== ================================
method      codes per item (dim d, float32 = 4d)  how
=========== ==================================== ================================
``fp32``    4d bytes                              identity (the uncompressed reference)
``fp16``    2d bytes                              numpy float16
``sq8``     d bytes                               faiss IndexScalarQuantizer QT_8bit (per-dimension range)
``pq``      m bytes (``pq_m``, default d/2)       faiss IndexPQ, 2^nbits centroids per sub-space
``rq``      m bytes (``pq_m``, default d/2)       faiss IndexResidualQuantizer: m codebooks of 2^nbits
                                                  full-width centroids, each coding the residual of
                                                  the ones before (greedy encoding, beam 1)
=========== ==================================== ================================

At the same 8x (d/2 bytes per item) ``rq`` keeps far more of the exact top-10 than ``pq`` (benchmarks/
vector_codecs.py on textseq item representations, d=64: recall@10 0.998 vs 0.921 on ML-100K, 0.981 vs
0.899 on Amazon Scientific; OPQ rotation before PQ 0.919 / 0.884, 4-bit scalar quantization 0.919 /
0.894). Its codebooks are larger (m * 2^nbits * d floats: 2 MB at d=64, against 64 KB for ``pq``), a
fixed cost that dominates on catalogs of a few thousand items (ML-100K: 2.15 MB in all against 0.43 MB of
float32) and vanishes on large ones; :meth:`VectorCodec.describe` reports both.
Training takes seconds to a minute (k-means per stage over at most ``MAX_TRAIN`` sampled items).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from lmrec.errors import ConfigError, DataError

VectorMethod = Literal["fp32", "fp16", "sq8", "pq", "rq"]
VECTOR_METHODS: tuple[str, ...] = ("fp32", "fp16", "sq8", "pq", "rq")
# quantizers are trained on at most this many sampled vectors (k-means time grows with it; codes do not)
MAX_TRAIN = 50_000


@dataclass
class VectorCodec:
    """A trained vector quantizer: :meth:`encode` vectors to compact codes and :meth:`decode` them back.

    ``quantizer`` is faiss's serialization of the trained (empty) index for ``sq8``/``pq``, else empty.
    """

    method: str
    dim: int
    quantizer: np.ndarray
    params: dict[str, int]
    _index: Any = None

    @classmethod
    def train(
        cls, vectors: np.ndarray, method: str, *, pq_m: int = 0, pq_bits: int = 8, seed: int = 0
    ) -> VectorCodec:
        """A codec of ``method`` trained on ``vectors`` (n, d).

        ``pq_m``: sub-quantizers of ``pq`` (0: d/2, lowered to a divisor of d) or stages of ``rq`` (0: d/2);
        ``pq_bits`` is lowered when the catalog is too small to train 2^bits centroids per sub-space (faiss
        wants about 39 points each; we accept 1, as a tiny catalog is then stored almost exactly).
        """
        x = _matrix(vectors)
        n, d = x.shape
        if method not in VECTOR_METHODS:
            raise ConfigError(
                f"unknown vector compression {method!r}; use one of {', '.join(VECTOR_METHODS)}"
            )
        if method in ("fp32", "fp16"):
            return cls(method, d, np.zeros(0, np.uint8), {})
        import faiss

        bits = int(min(pq_bits, max(1, int(np.floor(np.log2(max(n, 2)))))))
        if method == "sq8":
            index = faiss.IndexScalarQuantizer(d, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
            params = {}
        elif method == "rq":
            m = pq_m or max(1, d // 2)
            index = faiss.IndexResidualQuantizer(d, m, bits, faiss.METRIC_INNER_PRODUCT)
            # greedy encoding: as good as a beam of 2-4 on our item vectors (0.998 vs 0.994 recall@10 on
            # ML-100K) and several times faster to train
            index.rq.max_beam_size = 1
            index.rq.cp.seed = seed
            index.rq.cp.min_points_per_centroid = 1
            if n < 4 * d:  # faiss's default progressive-dimension training runs a PCA that needs n >= d
                index.rq.train_type = faiss.ResidualQuantizer.Train_default
            params = {"pq_m": m, "pq_bits": bits}
        else:
            m = pq_m or max(1, d // 2)
            m = min(m, d)
            while d % m:
                m -= 1
            index = faiss.IndexPQ(d, m, bits, faiss.METRIC_INNER_PRODUCT)
            index.pq.cp.seed = seed
            index.pq.cp.min_points_per_centroid = 1  # small catalogs: no warning per sub-space
            params = {"pq_m": m, "pq_bits": bits}
        if n == 0:
            raise DataError("cannot train a vector quantizer on zero vectors", field="vectors")
        if n > MAX_TRAIN:
            x = x[np.sort(np.random.default_rng(seed).choice(n, MAX_TRAIN, replace=False))]
        with _faiss_threads():
            index.train(x)
        blob = faiss.serialize_index(index)
        return cls(method, d, np.asarray(blob, dtype=np.uint8).copy(), params, index)

    @classmethod
    def from_state(cls, method: str, dim: int, quantizer: np.ndarray, params: dict[str, int]) -> VectorCodec:
        """A codec restored from :attr:`quantizer` (what :meth:`train` produced)."""
        return cls(method, int(dim), np.asarray(quantizer, dtype=np.uint8), dict(params))

    def _faiss(self) -> Any:
        if self._index is None:
            import faiss

            self._index = faiss.deserialize_index(np.ascontiguousarray(self.quantizer))
        return self._index

    @property
    def code_bytes(self) -> int:
        """Bytes of one item's code."""
        if self.method == "fp32":
            return 4 * self.dim
        if self.method == "fp16":
            return 2 * self.dim
        return int(self._faiss().sa_code_size())

    @property
    def quantizer_bytes(self) -> int:
        """Bytes of the trained quantizer shared by all items (codebooks, ranges)."""
        return int(self.quantizer.nbytes)

    def encode(self, vectors: np.ndarray) -> np.ndarray:
        """Codes of ``vectors`` (n, d): float32/float16 rows or uint8 (n, code_bytes)."""
        x = _matrix(vectors, self.dim)
        if self.method == "fp32":
            return x
        if self.method == "fp16":
            return x.astype(np.float16)
        with _faiss_threads():
            return np.asarray(self._faiss().sa_encode(x), dtype=np.uint8)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Float32 vectors (n, d) back from :meth:`encode`'s codes."""
        if self.method in ("fp32", "fp16"):
            return np.asarray(codes, dtype=np.float32)
        codes = np.ascontiguousarray(codes, dtype=np.uint8)
        if len(codes) == 0:
            return np.zeros((0, self.dim), np.float32)
        return np.asarray(self._faiss().sa_decode(codes), dtype=np.float32)

    def describe(self, n_items: int) -> dict[str, Any]:
        """Method, parameters and memory (per item, in all, and as a ratio to float32)."""
        total = self.code_bytes * n_items + self.quantizer_bytes
        return {
            "method": self.method,
            **self.params,
            "bytes_per_item": self.code_bytes,
            "quantizer_bytes": self.quantizer_bytes,
            "total_bytes": total,
            "ratio_vs_fp32": round(4 * self.dim * n_items / max(total, 1), 2),
        }


def topk_recall(queries: np.ndarray, exact: np.ndarray, approx: np.ndarray, k: int = 10) -> float:
    """Mean share of each query's exact inner-product top-``k`` (over ``exact`` item vectors) that the same
    search over ``approx`` item vectors also returns."""
    from lmrec.models.base import top_k

    q = _matrix(queries)
    k = min(k, len(exact))
    if len(q) == 0 or k == 0:
        return float("nan")
    want, _ = top_k(q @ _matrix(exact).T, k)
    got, _ = top_k(q @ _matrix(approx).T, k)
    hits = [len(np.intersect1d(a, b, assume_unique=True)) for a, b in zip(want, got, strict=True)]
    return float(np.mean(hits) / k)


@contextmanager
def _faiss_threads() -> Iterator[None]:
    """faiss's OpenMP threads limited to the idle cores while it trains/encodes.

    Why: faiss shares OpenMP with torch; on a busy machine its spin-waiting threads made a 5 s PQ training
    take two minutes (measured under pytest, torch at 2 threads, 2 cores at load 17).
    """
    import faiss

    from lmrec.train.loop import sensible_threads

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(sensible_threads())
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def _matrix(x: np.ndarray, dim: int | None = None) -> np.ndarray:
    arr = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    if arr.ndim != 2 or (dim is not None and arr.shape[1] != dim):
        want = f"(n, {dim})" if dim is not None else "(n, d)"
        raise DataError(f"vectors must have shape {want}, got {arr.shape}", field="vectors")
    if not np.isfinite(arr).all():
        raise DataError("vectors contain NaN or infinite values", field="vectors")
    return arr
