"""The text prior where data is thin (issue 17): one textseq fit per seed, scored with its text prior (the
default) and with the gate switched off (the same learned part alone), next to ``content`` (raw MiniLM
cosine, as before) and ``content`` in the prior's text space (the zero-shot score); paired 95% intervals over
test users.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/text_prior.py --fraction 0.1 --seeds 0,1,2
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/text_prior.py --fraction 1.0 --seeds 0
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/text_prior.py --dataset ml-100k --fraction 0 --seeds 0

``--save DIR`` keeps each seed's fitted model (``DIR/seed-S``), e.g. to study the gate on the same learned
part without refitting. ``--fraction`` keeps the training events of that share of the training users
(:func:`lmrec.data.split.few_shot`; 0 = zero-shot: the untrained model, whose score is the prior alone).
Data: ``$LMREC_DATA`` or ../shared/data.
One JSON line per seed on stdout; the seed-averaged paired ratio at the end.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import lmrec
from lmrec.data.split import few_shot, fixed_split, leave_one_out_split
from lmrec.evaluate import evaluate_model
from lmrec.evaluate.significance import paired_comparison
from lmrec.models.base import FitOptions
from lmrec.models.content import ContentRecommender
from lmrec.models.textprior import TextSpace
from lmrec.models.textseq import TextSeq


def _ratio(a: np.ndarray, b: np.ndarray) -> list:
    pc = paired_comparison(a, b)
    return [round(pc.ratio, 3), [round(x, 3) for x in pc.ratio_ci], float(f"{pc.p_value:.3g}")]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="amazon-scientific-unisrec")
    ap.add_argument("--fraction", type=float, default=0.1)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--set", action="append", default=[], help="textseq KEY=JSON")
    ap.add_argument("--max-seconds", type=float, default=600)
    ap.add_argument("--save", metavar="DIR", help="save each seed's fitted model to DIR/seed-S")
    args = ap.parse_args()
    sets = {k: json.loads(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    ds = lmrec.load_dataset(args.dataset)
    split = fixed_split(ds) if ds.fixed_split is not None else leave_one_out_split(ds)

    def ev(model: object, seed: int) -> tuple[float, np.ndarray]:
        r = evaluate_model(model, split, ks=(10,), stage="test", seed=seed, checks=False)
        return float(r["ndcg@10"]), r.per_user["ndcg@10"]

    content = ContentRecommender(**{k: v for k, v in sets.items() if k in ("encoder", "cache_dir")})
    content.fit(split.train, items=ds.items)
    raw = ev(content, 0)
    content.vectors = TextSpace.fit(content.vectors, sets.get("prior_whitening", 0.25)).apply(content.vectors)
    white = ev(content, 0)
    print(
        json.dumps(
            {"dataset": args.dataset, "content": round(raw[0], 4), "content_text_space": round(white[0], 4)}
        )
    )
    with_prior, without = [], []
    for seed in (int(s) for s in args.seeds.split(",")):
        t0 = time.perf_counter()
        model = TextSeq(**sets)
        if args.fraction <= 0:
            model.build_untrained(
                ds.items, n_users=ds.n_users, n_items=ds.n_items, histories=split.train.sequences()
            )
        else:
            part = split if args.fraction >= 1 else few_shot(split, args.fraction, seed=seed)
            opts = FitOptions(seed=seed, max_seconds=args.max_seconds)
            model.fit(part.train, part.valid, items=ds.items, options=opts)
        fit_s = time.perf_counter() - t0
        if args.save:
            model.save(f"{args.save}/seed-{seed}")
        a = ev(model, seed)
        gate, model.prior_gate = model.prior_gate, None
        b = ev(model, seed) if args.fraction > 0 else (float("nan"), np.full_like(a[1], np.nan))
        model.prior_gate = gate
        with_prior.append(a[1])
        without.append(b[1])
        row = {
            "seed": seed,
            "fraction": args.fraction,
            "set": sets,
            "fit_s": round(fit_s, 1),
            "best_epoch": model.fit_info.get("train", {}).get("best_epoch"),
            "ndcg@10 textseq": round(a[0], 4),
            "ndcg@10 same model, gate off": round(b[0], 4),
            "text_prior": model.fit_info.get("text_prior"),
            "ratio vs gate off": _ratio(a[1], b[1]) if args.fraction > 0 else None,
            "ratio vs content (text space)": _ratio(a[1], white[1]),
            "ratio vs content (raw)": _ratio(a[1], raw[1]),
        }
        print(json.dumps(row, default=str), flush=True)
    if args.fraction > 0 and len(with_prior) > 1:
        print(
            json.dumps(
                {"seed-averaged ratio vs gate off": _ratio(np.mean(with_prior, 0), np.mean(without, 0))}
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
