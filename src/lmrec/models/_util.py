"""Small helpers shared by the baseline models (not public API)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def histories_to_csr(histories: Sequence[np.ndarray], n_items: int, dtype: type = np.float32):  # noqa: ANN201
    """A (len(histories), n_items) binary scipy CSR matrix: row r has a 1 at every item of history r."""
    import scipy.sparse as sp

    lengths = np.fromiter((len(h) for h in histories), dtype=np.int64, count=len(histories))
    indptr = np.r_[0, np.cumsum(lengths)]
    indices = np.concatenate(histories).astype(np.int64) if lengths.sum() else np.zeros(0, np.int64)
    m = sp.csr_matrix((np.ones(len(indices), dtype=dtype), indices, indptr), shape=(len(histories), n_items))
    m.sum_duplicates()
    m.data[:] = 1
    return m


def available_memory_bytes() -> int | None:
    """Memory the system can give this process without swapping (Linux ``MemAvailable``); None elsewhere."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None
