"""LightGCN tuned on ML-100K validation (12-point grid), random vs text init; test of the chosen model.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/lightgcn_tune.py random
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/lightgcn_tune.py text

Grid: n_layers 1/2/3 x lr .003/.01 x softmax temperature .1/.2 (softmax loss, up to 40 epochs, early stopping
on validation NDCG@10, patience 3), chosen by validation NDCG@10 with :func:`lmrec.tune.tune_model`.
Leave-one-out by time, full ranking. Measured 2026-11-27, one process per init side by side on 2 cores:

    init    chosen (layers, lr, T)   valid NDCG@10   test NDCG@10   test Recall@10   tuning s
    random  3, .003, .2              .0806           .0748          .1474            576
    text    3, .003, .2              .0822           .0791          .1495            470

(tuned EASE .0711, textseq+id .1174 on the same split, benchmarks/textseq.py)
"""

from __future__ import annotations

import json
import sys
import time

from _common import load


def main(argv: list[str] | None = None) -> int:
    from lmrec.evaluate import evaluate_model
    from lmrec.models.base import FitOptions
    from lmrec.tune import tune_model

    args = sys.argv[1:] if argv is None else argv
    init = args[0] if args else "text"
    ds, split = load("ml-100k")
    grid = {"n_layers": [1, 2, 3], "lr": [0.003, 0.01], "temperature": [0.1, 0.2]}
    t = time.perf_counter()
    res = tune_model(
        "lightgcn",
        split,
        grid,
        base_params={"init": init, "loss": "softmax", "epochs": 40, "patience": 3},
        items=ds.items,
        options=FitOptions(seed=0, threads=1),
    )
    ev = evaluate_model(res.model, split, ks=(10,), stage="test", checks=False)
    for tr in res.trials:
        print(init, json.dumps(tr.params), f"valid {tr.score:.4f}", f"{tr.fit_seconds:.0f} s", flush=True)
    chosen = {k: res.params[k] for k in grid}
    print(
        f"{init}: chosen {json.dumps(chosen)} valid {res.score:.4f} test NDCG@10 {ev['ndcg@10']:.4f} "
        f"Recall@10 {ev['recall@10']:.4f} ({time.perf_counter() - t:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
