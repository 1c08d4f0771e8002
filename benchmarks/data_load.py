"""Data loading cost: parse vs cache-load for ML-100K and Amazon Beauty, and the table loader at 10k / 100k /
1M synthetic interactions (cost should grow about linearly).

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/data_load.py`` (needs ../shared/data or $LMREC_DATA).
Prints one table; times are the best of ``--repeat`` runs, in seconds.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd


def best_of(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def synthetic_csv(folder: Path, n: int, seed: int = 0) -> Path:
    """``n`` events over n/20 users and n/10 items (Zipf-ish popularity), with time and rating."""
    rng = np.random.default_rng(seed)
    n_users, n_items = max(n // 20, 10), max(n // 10, 10)
    frame = pd.DataFrame(
        {
            "user_id": rng.integers(0, n_users, n),
            "item_id": np.minimum(rng.zipf(1.3, n), n_items) - 1,
            "timestamp": rng.integers(1_500_000_000, 1_600_000_000, n),
            "rating": rng.integers(1, 6, n),
        }
    )
    path = folder / f"synthetic-{n}.csv"
    frame.to_csv(path, index=False)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    args = parser.parse_args()

    from lmrec.data import load_dataset

    rows: list[tuple[str, int, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="lmrec-bench-") as tmp:
        cache = Path(tmp) / "cache"
        for name in ("ml-100k", "amazon-beauty"):
            parse_s, data = best_of(lambda name=name: load_dataset(name, cache=False), args.repeat)
            load_dataset(name, cache=cache)  # fill the cache
            cached_s, hit = best_of(lambda name=name: load_dataset(name, cache=cache), args.repeat)
            assert hit.meta["cache"] == "hit"
            rows.append((name, len(data.interactions), parse_s, cached_s))
        for n in (int(x) for x in args.sizes.split(",")):
            path = synthetic_csv(Path(tmp), n)
            parse_s, data = best_of(lambda path=path: load_dataset(path, "table", cache=False), args.repeat)
            load_dataset(path, "table", cache=cache)
            cached_s, hit = best_of(lambda path=path: load_dataset(path, "table", cache=cache), args.repeat)
            assert hit.meta["cache"] == "hit" and len(hit.interactions) == n
            rows.append((f"table csv (synthetic {n:,})", n, parse_s, cached_s))

    print(f"data loading, best of {args.repeat}; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '-')}")
    header = (
        f"| {'dataset':<32} | {'interactions':>12} | {'parse s':>8} | {'cache s':>8} "
        f"| {'parse us/event':>14} |"
    )
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for name, n, parse_s, cached_s in rows:
        print(f"| {name:<32} | {n:>12,} | {parse_s:>8.3f} | {cached_s:>8.3f} | {parse_s / n * 1e6:>14.2f} |")


if __name__ == "__main__":
    main()
