"""A small real training job for the data-parallel tests and benchmark: textseq on the first users of ML-100K,
item vectors = the 19 genre flags of ``u.item`` (a real item feature; no language model in the subprocesses).

Run it as ``python -m torch.distributed.run --standalone --nproc_per_node=2 tests/train/_ddp_job.py ROOT OUT``
(or without the launcher for one process): rank 0 saves the model into OUT and the loss history into
OUT/history.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

JOB = dict(
    vector_field="genres",
    whitening=False,
    dim=16,
    n_layers=1,
    n_heads=2,
    n_experts=2,
    max_len=20,
    dropout=0.0,
    adaptor_dropout=0.0,
    epochs=1,
    batch_size=64,
    lr=3e-3,
    # the plain next-item loss, so that "learned something" can be read against log(n_items)
    mask_seen=False,
    future_k=1,
)


def ml100k_subset(root: Path, n_users: int = 300):
    """Events of users 1..n_users and the whole catalog with its genre flags as a vector column."""
    from lmrec.data._build import build_dataset
    from lmrec.data.split import leave_one_out_split

    events = pd.read_csv(root / "ml-100k" / "u.data", sep="\t", names=["user", "item", "rating", "timestamp"])
    events = events[events["user"] <= n_users]
    raw = pd.read_csv(root / "ml-100k" / "u.item", sep="|", header=None, encoding="latin-1")
    items = pd.DataFrame(
        {
            "item_id": raw[0],
            "title": raw[1].astype(str),
            "genres": [np.asarray(r, dtype=np.float32) for r in raw.iloc[:, 5:24].to_numpy()],
        }
    )
    ds = build_dataset(
        "ml-100k-subset", "movies", events, items, text_fields=("title",), vector_fields=("genres",)
    )
    return ds, leave_one_out_split(ds)


def run(root: Path, out: Path | None, **overrides) -> dict:
    from lmrec.models.base import FitOptions
    from lmrec.models.textseq import TextSeq
    from lmrec.train.distributed import is_main_process, shutdown

    ds, split = ml100k_subset(root)
    model = TextSeq(**{**JOB, **overrides})
    model.fit(split.train, split.valid, items=ds.items, options=FitOptions(seed=0, threads=1))
    info = model.fit_info["train"]
    if is_main_process() and out is not None:
        model.save(out)
        (out / "history.json").write_text(json.dumps(info), encoding="utf-8")
    shutdown()
    return info


if __name__ == "__main__":
    overrides = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
    run(Path(sys.argv[1]), Path(sys.argv[2]), **overrides)
