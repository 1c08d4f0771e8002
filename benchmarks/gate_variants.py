"""Other text-prior gates on saved textseq models: each is fitted on the same held-out events (each user's
last validation event, as ``fit_text_prior`` does) and scored on validation and on the full-ranking test.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/text_prior.py --dataset ml-100k --fraction 1.0 --seeds 0 \\
        --set id_fusion=true --set ema=0.998 --max-seconds 1500 --save runs/ml      # ~10 min per seed
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/gate_variants.py --dataset ml-100k runs/ml/seed-0

Gates: ``saved`` (the model's own), ``refit`` (the gate the current code fits, ``fit_text_prior``: e.g. after
a change to :func:`fit_gate`; its seed for sampling held-out users is ``--seed``), ``off`` (the learned score
alone), ``nobias`` (the four-number gate).
Measured 2026-12-05 (commit 63cc5b1) on ML-100K textseq+id+EMA, seeds 0, 1, 2, test NDCG@10: saved .1328 /
.1324 / .1318, off .1315 / .1324 / .1357, nobias .1291 / .1314 / .1329, and a six-number gate whose bias
decayed with its own beta (a float32 copy of the fit then, dropped since) .1319 / .1334 / .1321: none is
better than the saved gate on the mean. With the float64 fit (commit ba0c5f9): refit .1318 / .1317 / .1318,
nobias .1296 / .1314 / .1328.
One JSON line per model.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

import lmrec
from lmrec.data.split import fixed_split, leave_one_out_split
from lmrec.evaluate import evaluate_model
from lmrec.models import load_model
from lmrec.models.textprior import PriorGate, fit_gate
from lmrec.models.textseq import last_event_per_user
from lmrec.models.textseq.prior import held_out_ndcg10


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+", help="saved textseq folders (benchmarks/text_prior.py --save)")
    ap.add_argument("--dataset", default="ml-100k")
    ap.add_argument("--seed", type=int, default=0, help="refit: the seed of the held-out users' sample")
    args = ap.parse_args()
    ds = lmrec.load_dataset(args.dataset)
    split = fixed_split(ds) if ds.fixed_split is not None else leave_one_out_split(ds)
    for path in args.models:
        model = load_model(path)
        users, targets = last_event_per_user(split.valid)
        keep = np.array([len(model.histories[u]) > 0 for u in users], dtype=bool)
        users, targets = users[keep], targets[keep]
        hist = [np.asarray(model.histories[u], dtype=np.int64) for u in users]
        learned = model.learned_query_vectors(hist) @ model.learned_item_vectors().T
        learned = (learned / np.float32(model.config.temperature)).astype(np.float32)
        prior, lc = model.prior_scores(hist), model.item_log_counts()
        saved = model.prior_gate
        refit = model.fit_text_prior(split.valid, seed=args.seed)  # None when keep_gate drops it
        gates: dict[str, PriorGate | None] = {"saved": saved, "refit": model.prior_gate, "off": None}
        gates["nobias"] = fit_gate(learned, prior, targets, hist, lc, bias=False)[0]
        row: dict[str, object] = {
            "model": path,
            "refit_kept": refit["kept"],
            "refit_evals": refit["evaluations"],
        }
        for name, gate in gates.items():
            scores = learned if gate is None else gate.combine(learned, prior, lc)
            valid = float(np.mean(held_out_ndcg10(scores, targets, hist)))
            model.prior_gate = gate
            test = float(evaluate_model(model, split, ks=(10,), stage="test", checks=False)["ndcg@10"])
            numbers = None if gate is None else {k: round(float(v), 4) for k, v in vars(gate).items()}
            row[name] = {"valid": round(valid, 4), "test": round(test, 4), "gate": numbers}
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
