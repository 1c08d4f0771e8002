"""SASRec (lmrec, full-softmax CE, all prefixes) on ML-100K leave-one-out: epochs, time, valid/test NDCG@10.

Target (shared/docs/REFERENCE-NUMBERS.md): RecBole 1.2.1 SASRec (CE, max len 50, 8 epochs), history masked,
reaches Recall@10 .1962 / NDCG@10 .0998 in 2,177 s on 2 cores; lmrec should match that quality in a quarter
of the time. Prints one line per epoch (loss, validation NDCG@10, seconds) and a final table.

    .venv/bin/python benchmarks/sasrec_ml100k.py [--set max_len=50 --set lr=0.003 ...] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import logging
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", default=[], help="SASRec option key=value (JSON values)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-seconds", type=float, default=None)
    args = parser.parse_args()

    from lmrec.data import load_dataset
    from lmrec.data.split import leave_one_out_split
    from lmrec.evaluate import evaluate_model
    from lmrec.models.base import FitOptions
    from lmrec.models.sasrec import SASRec

    config = {}
    for pair in args.set:
        key, _, value = pair.partition("=")
        try:
            config[key] = json.loads(value)
        except json.JSONDecodeError:
            config[key] = value
    split = leave_one_out_split(load_dataset("ml-100k"))
    wall0, cpu0 = time.perf_counter(), time.process_time()

    # one line per epoch (loss, validation NDCG@10, seconds) from the training loop's log
    logging.basicConfig(format="%(message)s")
    logging.getLogger("lmrec.train").setLevel(logging.INFO)
    model = SASRec(**config)
    options = FitOptions(seed=args.seed, threads=args.threads, max_seconds=args.max_seconds, progress=False)
    model.fit(split.train, split.valid, options=options)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    res = evaluate_model(model, split, ks=(10,), stage="test")
    info = model.fit_info["train"]
    print(f"\nconfig: {model.config.to_dict()}")
    print("| model | epochs (best) | valid NDCG@10 | test Recall@10 | test NDCG@10 | fit wall s | CPU s |")
    print("|---|---|---|---|---|---|---|")
    print(
        f"| lmrec SASRec | {info['epochs_run']} ({info['best_epoch']}) | {info['best_metric']:.4f} | "
        f"{res['recall@10']:.4f} | {res['ndcg@10']:.4f} | {wall:.0f} | {cpu:.0f} |"
    )
    print("| RecBole SASRec (reference) | 8 | | .1962 | .0998 | 2,177 | |")


if __name__ == "__main__":
    main()
