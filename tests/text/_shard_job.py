"""Sharded catalog encoding job for tests/text/test_sharded_encoding.py: ML-100K movie titles encoded with
``encode_texts(..., shard=True)`` twice (the second call finds everything in the cache).

Run as ``python -m torch.distributed.run --standalone --nproc_per_node=2 tests/text/_shard_job.py ROOT OUT N``
(2 ranks):
each rank writes OUT/rank<r>.npy (the vectors it ended up with) and OUT/rank<r>.json (how many texts it
encoded itself in each call); the embedding cache is OUT/cache.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd


def titles(root: Path, n: int) -> list[str]:
    """The first ``n`` movie titles of ``u.item``."""
    raw = pd.read_csv(root / "ml-100k" / "u.item", sep="|", header=None, encoding="latin-1", nrows=n)
    return raw[1].astype(str).tolist()


def main(root: Path, out: Path, n: int) -> None:
    from lmrec.process_group import env_world, shutdown
    from lmrec.text import encode_texts, get_encoder

    rank = env_world()[0]
    enc = get_encoder("minilm", threads=1)
    encoded: list[int] = []
    inner = enc.encode

    def counting(texts, **kw):  # noqa: ANN001, ANN202 - records how many texts this rank encodes itself
        encoded.append(len(texts))
        return inner(texts, **kw)

    enc.encode = counting  # type: ignore[method-assign]
    calls = []
    for _ in range(2):
        before = len(encoded)
        vecs = encode_texts(titles(root, n), encoder=enc, cache_dir=out / "cache", shard=True)
        calls.append(sum(encoded[before:]))
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / f"rank{rank}.npy", vecs)
    (out / f"rank{rank}.json").write_text(json.dumps({"encoded": calls}), encoding="utf-8")
    shutdown()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]))
