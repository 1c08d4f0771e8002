"""Offline replay (Li et al., WSDM 2011) of linear bandits over LM item vectors against random, online
popularity and the static zero-shot content model.

ML-100K: every rating in global time order; slate = the rated item + (slate - 1) items drawn uniformly from
the items the user has not rated yet (simulated uniform logging); reward = rating >= 4; a policy's pick counts
only when it is the rated item (``lmrec.evaluate.replay.rating_slate_log``). MIND sample: impressions in time
order, candidates = shown items that have text, reward = click, every impression counts (full information;
``impression_log``). Users' histories (for text profiles) are the logged items before each event.

All learners start from nothing and learn only from their own matched events. Prints one Markdown table (mean
over slate seeds for ML-100K). Example::

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bandit_replay.py
    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bandit_replay.py --datasets mind --seeds 0

Data: ``$LMREC_DATA`` or ../shared/data (never part of the repository).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np


def data_root() -> Path:
    env = os.environ.get("LMREC_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


def with_vectors(dataset, mask: np.ndarray | None = None):  # noqa: ANN001, ANN201
    """The dataset's item table with a ``lm_vec`` column (MiniLM; rows outside ``mask`` get the mean vector,
    which projects to zero: they are never candidates)."""
    from dataclasses import replace

    from lmrec.data import ItemTable
    from lmrec.text import encode_texts, item_texts

    texts = item_texts(dataset.items, None)
    mask = np.ones(len(texts), bool) if mask is None else mask
    vecs = encode_texts([t for t, m in zip(texts, mask, strict=True) if m], encoder="minilm")
    full = np.tile(vecs.mean(0), (len(texts), 1)).astype(np.float32)
    full[mask] = vecs
    frame = dataset.items.frame.copy()
    frame["lm_vec"] = list(full)
    items = ItemTable(frame, text_fields=dataset.items.text_fields)
    return replace(dataset, items=items), full


def policies(dataset, vectors: np.ndarray, seed: int):  # noqa: ANN001, ANN201
    from lmrec.evaluate.replay import PopularityPolicy, RandomPolicy, RecommenderPolicy
    from lmrec.models.bandit import LinearBandit
    from lmrec.models.content import ContentRecommender

    content = ContentRecommender(vector_field="lm_vec").fit(dataset.interactions, items=dataset.items)
    return {
        "random": RandomPolicy(seed),
        "popularity (most logged so far)": PopularityPolicy(seed, source="log"),
        "popularity (own rewards, optimistic prior)": PopularityPolicy(seed, source="rewards"),
        "content (static zero-shot profile)": RecommenderPolicy(content, seed),
        "LinUCB d=32 hadamard a=0.5": LinearBandit(dim=32, alpha=0.5, seed=seed).init_arms(vectors),
        "LinUCB d=32 hadamard a=1": LinearBandit(dim=32, alpha=1.0, seed=seed).init_arms(vectors),
        "Thompson d=32 hadamard v=0.3": LinearBandit(
            dim=32, algorithm="thompson", noise=0.3, seed=seed
        ).init_arms(vectors),
        "LinUCB d=8 outer a=0.5": LinearBandit(dim=8, features="outer", alpha=0.5, seed=seed).init_arms(
            vectors
        ),
    }


def run(name: str, ds, vectors: np.ndarray, logs: dict, rows: list) -> None:  # noqa: ANN001
    """Replay every policy on every seed's log; append one summary row per policy."""
    from lmrec.evaluate.replay import replay

    per_policy: dict[str, list] = {}
    for s, log in logs.items():
        for label, pol in policies(ds, vectors, s).items():
            t = time.perf_counter()
            res = replay(pol, log, name=label)
            secs = time.perf_counter() - t
            per_policy.setdefault(label, []).append((res.matched, res.reward, res.ctr, secs, res.n_events))
            print(
                f"# {name} seed {s} {label}: matched {res.matched} reward {res.reward:.0f} "
                f"ctr {res.ctr:.4f} ({secs:.0f}s)",
                file=sys.stderr,
                flush=True,
            )
    for label, vals in per_policy.items():
        a = np.array(vals, dtype=np.float64)
        rows.append(
            (name, label, len(vals), a[0, 4], a[:, 0].mean(), a[:, 1].mean(), a[:, 2], a[:, 3].mean())
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default="ml-100k,mind")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--slate", type=int, default=10)
    args = ap.parse_args()

    from lmrec.data import load_dataset
    from lmrec.data.loaders import load_format
    from lmrec.evaluate.replay import impression_log, rating_slate_log

    seeds = [int(s) for s in args.seeds.split(",")]
    rows: list[tuple] = []
    notes: list[str] = []
    for name in args.datasets.split(","):
        if name == "ml-100k":
            ds = load_format("movielens-100k", data_root() / "ml-100k")
            ds, vectors = with_vectors(ds)
            regimes = {
                "ml-100k replay": None,  # other candidates' rewards unknown: pure replay
                "ml-100k fillers=0": 0.0,  # unrated candidates count as rejected: full information
            }
            for label, filler in regimes.items():
                logs = {
                    s: rating_slate_log(ds.interactions, slate_size=args.slate, seed=s, filler_reward=filler)
                    for s in seeds
                }
                run(label, ds, vectors, logs, rows)
            st = logs[seeds[0]].stats
            notes.append(
                f"ml-100k: {st['events']} events, slate {st['slate_size']}, "
                f"logged reward rate (rating>=4) {st['logged_reward_rate']:.4f}"
            )
            continue
        elif name == "mind":
            ds = load_dataset("mind-small")
            has_text = ds.items.has_text()
            ds, vectors = with_vectors(ds, has_text)
            log = impression_log(ds)
            logs = {s: log for s in seeds[:1]}  # the log itself is not random
            st = log.stats
            notes.append(
                f"mind: {st['impressions_kept']} of {st['impressions']} impressions kept "
                f"({st['shown_with_text']} of {st['shown_items']} shown items have text, "
                f"{st['clicks_kept']} of {st['clicks_total']} clicks kept), "
                f"{st['mean_candidates']:.1f} candidates per impression, "
                f"random-pick CTR {st['random_ctr']:.4f}"
            )
        else:
            raise SystemExit(f"unknown dataset {name}")
        run(name, ds, vectors, logs, rows)

    print("| data | policy | seeds | events | matched | cumulative reward | CTR (mean ± std) | s |")
    print("|---|---|---|---|---|---|---|---|")
    for name, label, n, ev, m, r, ctr, secs in rows:
        std = f" ± {ctr.std():.4f}" if n > 1 else ""
        print(
            f"| {name} | {label} | {n} | {ev:.0f} | {m:.0f} | {r:.0f} | {ctr.mean():.4f}{std} | {secs:.0f} |"
        )
    print()
    for n in notes:
        print(f"- {n}")


if __name__ == "__main__":
    main()
