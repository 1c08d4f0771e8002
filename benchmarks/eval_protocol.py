"""Evaluation protocol choices on real data, and the cost of full ranking.

Prints two tables:
1. ML-100K leave-one-out (REFERENCE-NUMBERS.md protocol), Popularity and a 20-line numpy EASE (lambda=100):
   Recall@10 / NDCG@10 under each tie rule (seeded random order, exact expectation) and each test-time input
   (train+valid history, the library default; train history only, the reference table's convention).
2. Full-ranking time of ``evaluate_model`` for Popularity (every score tied with many others: the worst case
   for tie handling) on ML-100K and Amazon Beauty 2014 (22,363 users x 12,101 items), next to a naive
   argsort-per-batch ranking (item-id tie order, for the timing only).

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/eval_protocol.py`` (data from $LMREC_DATA or
../shared/data).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from lmrec.data._build import build_dataset
from lmrec.data.split import leave_one_out_split
from lmrec.evaluate import evaluate_model
from lmrec.models.popularity import Popularity

DATA = Path(os.environ.get("LMREC_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def ml100k():
    events = pd.read_csv(DATA / "ml-100k" / "u.data", sep="\t", names=["user", "item", "rating", "timestamp"])
    return build_dataset("ml-100k", "movies", events)


def beauty():
    rows = []
    with open(DATA / "amazon-beauty-2014" / "user_sequence.txt", encoding="utf-8") as fh:
        for line in fh:
            parts = line.split()
            rows += [(parts[0], item, pos) for pos, item in enumerate(parts[1:])]
    return build_dataset("beauty", "beauty", pd.DataFrame(rows, columns=["user", "item", "timestamp"]))


class Ease:
    name = "ease"

    def __init__(self, split, l2=100.0):
        x = split.train.to_csr().toarray().astype(np.float64)
        g = x.T @ x
        g[np.diag_indices_from(g)] += l2
        p = np.linalg.inv(g)
        self.b = -p / np.diag(p)
        np.fill_diagonal(self.b, 0.0)

    def score(self, batch):
        x = np.zeros((len(batch), len(self.b)))
        for row, h in enumerate(batch.histories):
            x[row, h] = 1.0
        return (x @ self.b).astype(np.float32)


def naive_seconds(model, split, batch_size=256):
    """Argsort every row (no tie handling beyond item id) -- the simplest full ranking, for timing."""
    hist = split.train_valid.sequences()
    users = np.unique(split.test.user)
    start = time.perf_counter()
    from lmrec.models.base import UserBatch

    for lo in range(0, len(users), batch_size):
        u = users[lo : lo + batch_size]
        s = np.array(model.score(UserBatch(u, [hist[i] for i in u])), dtype=np.float64)
        for row, i in enumerate(u):
            s[row, hist[i]] = -np.inf
        np.argsort(-s, axis=1, kind="stable")[:, :20]
    return time.perf_counter() - start


def main() -> None:
    data = ml100k()
    split = leave_one_out_split(data)
    models = {"pop": Popularity().fit(split.train), "ease l2=100": Ease(split)}
    print("## ML-100K leave-one-out, full ranking (train+valid masked)\n")
    print("| model | ties | test-time input | Recall@10 | NDCG@10 |")
    print("|---|---|---|---|---|")
    for name, model in models.items():
        for ties in ("random", "expected"):
            for hist in ("train_valid", "train"):
                r = evaluate_model(model, split, ks=(10,), ties=ties, test_history=hist, checks=False)
                m = r.metrics
                print(f"| {name} | {ties} | {hist} | {m['recall@10']:.4f} | {m['ndcg@10']:.4f} |")

    print("\n## Full-ranking time, Popularity, k <= 20, batch 256\n")
    print("| dataset | users x items | evaluate_model s | naive argsort s |")
    print("|---|---|---|---|")
    for ds in (data, beauty()):
        sp = leave_one_out_split(ds)
        pop = Popularity().fit(sp.train)
        t = time.perf_counter()
        res = evaluate_model(pop, sp, checks=False)
        ours = time.perf_counter() - t
        naive = naive_seconds(pop, sp)
        print(f"| {ds.name} | {res.n_users:,} x {ds.n_items:,} | {ours:.1f} | {naive:.1f} |")


if __name__ == "__main__":
    main()
