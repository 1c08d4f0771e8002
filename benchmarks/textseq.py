"""textseq on ML-100K (leave-one-out by time) and Amazon Scientific (UniSRec's fixed split), full ranking.

Prints one row per dataset x variant with mean ± std over seeds. Examples::

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/textseq.py --dataset ml-100k --seeds 0,1,2
    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/textseq.py --dataset scientific --variants text,text+id
    .venv/bin/python benchmarks/textseq.py --variants text+id --set dim=128 --set max_len=100

"fit s" is wall time (includes waiting for a busy CPU), "CPU s" the process's CPU time.
Reference numbers (docs/REFERENCE-NUMBERS.md): ML-100K best tuned non-sequential baseline NDCG@10 .0714 (ALS),
RecBole SASRec .0998; Amazon Scientific VQ-Rec (with pretraining) Recall@10 .1211, NDCG@10 .0643.
Measured 2026-11-27 on the shared 2-core machine (load 10-20, 1 torch thread, MiniLM vectors cached),
test split, full ranking, one row per run (defaults + ``--set epochs=30 --set patience=3`` unless noted):

    dataset     variant   seeds  Recall@10        NDCG@10          CPU s  best ep
    ml-100k     content   1      .0424            .0187            -      -      (zero-shot, no training)
    ml-100k     text      1      .1591            .0870            -      8
    ml-100k     text+id   3      .1679 ± .0095    .0878 ± .0044    ~90    8, 8, 6
    ml-100k     text+id   1      .1485            .0791            114    8      (dropout .5, patience 5)
    scientific  text      1      .1331            .0876            395*   20     (*incl. encoding the catalog)
    scientific  text+id   1      .1238            .0838            129    8      (capped at 8 epochs)

Data: ``$LMREC_DATA`` or ../shared/data (never part of the repository).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
from _common import DATASET_DEFAULTS, load

VARIANTS = {
    "content": {},  # the zero-shot content model (no training), for reference
    "text": {},
    "text+id": {"id_fusion": True},
    "id-only-ish": {"id_fusion": True, "n_experts": 1},
    "text+aug": {"augment": ["crop", "mask", "reorder"]},
    "text+id+aug": {"id_fusion": True, "augment": ["crop", "mask", "reorder"]},
    "text+id+feat": {"id_fusion": True, "features": ["year", "genres"]},
}


def parse_set(items: list[str]) -> dict:
    out = {}
    for it in items:
        k, v = it.split("=", 1)
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="ml-100k", choices=["ml-100k", "scientific", "all"])
    ap.add_argument("--variants", default="text,text+id")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--set", action="append", default=[], help="config override key=json_value")
    ap.add_argument("--cache-dir", default=os.environ.get("LMREC_CACHE"))
    ap.add_argument("--progress", action="store_true")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: idle cores)")
    ap.add_argument("--json", help="append result rows to this JSON-lines file")
    ap.add_argument("--verbose", action="store_true", help="log every epoch")
    args = ap.parse_args(argv)
    if args.verbose:
        import logging

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")

    from lmrec.evaluate import evaluate_model
    from lmrec.models.base import FitOptions
    from lmrec.models.content import ContentRecommender
    from lmrec.models.textseq import TextSeq

    datasets = ["ml-100k", "scientific"] if args.dataset == "all" else [args.dataset]
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = []
    for dname in datasets:
        ds, split = load(dname)
        train, valid = split.train, split.valid
        for variant in args.variants.split(","):
            cls = ContentRecommender if variant == "content" else TextSeq
            base = {} if variant == "content" else {**DATASET_DEFAULTS[dname], **parse_set(args.set)}
            cfg = {**base, **VARIANTS[variant]}
            if args.cache_dir:
                cfg["cache_dir"] = args.cache_dir
            res = []
            for seed in seeds:
                t, cpu = time.perf_counter(), time.process_time()
                model = cls(**cfg).fit(
                    train,
                    valid,
                    items=ds.items,
                    options=FitOptions(seed=seed, progress=args.progress, threads=args.threads),
                )
                fit_s, cpu_s = time.perf_counter() - t, time.process_time() - cpu
                ev = evaluate_model(model, split, ks=(10, 20), stage="test", seed=seed, checks=False)
                none = {"best_epoch": 0, "epochs_run": 0, "best_metric": float("nan")}
                tr = model.fit_info.get("train", none)
                res.append((ev["recall@10"], ev["ndcg@10"], fit_s, tr["best_epoch"], tr["epochs_run"], cpu_s))
                print(
                    f"  {dname} {variant} seed={seed}: R@10 {ev['recall@10']:.4f} N@10 {ev['ndcg@10']:.4f} "
                    f"fit {fit_s:.0f}s ({cpu_s:.0f} CPU s) best epoch {tr['best_epoch']}/{tr['epochs_run']} "
                    f"val {tr['best_metric']:.4f}",
                    file=sys.stderr,
                    flush=True,
                )
            a = np.array(res)
            row = {
                "dataset": dname,
                "variant": variant,
                "seeds": len(seeds),
                "config": cfg,
                "recall@10": (a[:, 0].mean(), a[:, 0].std()),
                "ndcg@10": (a[:, 1].mean(), a[:, 1].std()),
                "fit_s": a[:, 2].mean(),
                "cpu_s": a[:, 5].mean(),
                "best_epoch": a[:, 3].mean(),
            }
            rows.append(row)
            if args.json:
                with open(args.json, "a") as fh:
                    fh.write(json.dumps(row) + "\n")
    print(
        f"{'dataset':<11} {'variant':<13} {'seeds':>5} {'Recall@10':>16} {'NDCG@10':>16} {'fit s':>7} "
        f"{'CPU s':>7} {'ep':>5}"
    )
    for r in rows:
        print(
            f"{r['dataset']:<11} {r['variant']:<13} {r['seeds']:>5} "
            f"{r['recall@10'][0]:.4f} ± {r['recall@10'][1]:.4f} "
            f"{r['ndcg@10'][0]:.4f} ± {r['ndcg@10'][1]:.4f} "
            f"{r['fit_s']:>7.0f} {r['cpu_s']:>7.0f} {r['best_epoch']:>5.1f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
