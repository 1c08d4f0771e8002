"""LightGCN (random vs text-seeded init, with/without the text term, BPR vs full softmax) against EASE and
textseq: ML-100K (leave-one-out by time) and Amazon Scientific 2018 (leave-one-out by order), full ranking.

Small tuning on validation: EASE's lambda from a grid; each LightGCN variant early-stops on validation
NDCG@10 (every 2 epochs, patience 3); compare the two losses of one init on validation NDCG@10 (the first
column) to pick one. Test metrics are from the same fitted model (trained on train only; validation items
are history at test time, as in lmrec.evaluate). Prints one Markdown table, a row as soon as each model is
done. Example::

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/lightgcn.py
    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/lightgcn.py --datasets ml-100k --no-textseq

Validation-to-test gap (``--refit``): the models above are trained on the training events only, so at
test time the validation event (each user's most recent) is only history: EASE reads it directly, LightGCN
only through ``refold_history``, and the test item is two steps past the training data. ``--refit`` adds,
per dataset, EASE with the training history only as input (``test_history="train"``: what the most recent
event is worth to it) and the best LightGCN variant on validation retrained on training + validation events
for its best epoch count (the usual final fit; no early stopping), evaluated on the same test events.

Data: ``$LMREC_DATA`` or ../shared/data (never part of the repository).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

VARIANTS = {
    "LightGCN random, BPR": {"init": "random", "loss": "bpr"},
    "LightGCN random, softmax": {"init": "random", "loss": "softmax"},
    "LightGCN text-init, BPR": {"init": "text", "loss": "bpr"},
    "LightGCN text-init, softmax": {"init": "text", "loss": "softmax"},
    "LightGCN text-init + text term, softmax": {"init": "text", "text_term": True, "loss": "softmax"},
}


def data_root() -> Path:
    env = os.environ.get("LMREC_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


def load(name: str):  # noqa: ANN201
    from lmrec.data.loaders import load_format
    from lmrec.data.split import leave_one_out_split

    root = data_root()
    if name == "ml-100k":
        ds = load_format("movielens-100k", root / "ml-100k")
    elif name == "amazon-scientific":
        from lmrec.data import load_dataset

        ds = load_dataset("amazon-scientific")
    else:
        raise SystemExit(f"unknown dataset {name}")
    return ds, leave_one_out_split(ds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default="ml-100k,amazon-scientific")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--no-textseq", action="store_true")
    ap.add_argument("--textseq-epochs", type=int, default=20)
    ap.add_argument("--max-seconds", type=float, default=900.0, help="training time cap per model")
    ap.add_argument("--variants", default=";".join(VARIANTS), help="LightGCN variant names, ; separated")
    ap.add_argument("--refit", action="store_true", help="validation-to-test gap rows (see above)")
    args = ap.parse_args()

    from lmrec.evaluate import evaluate_model
    from lmrec.models.base import FitOptions
    from lmrec.models.ease import EASE
    from lmrec.models.lightgcn import LightGCN

    rows = []
    opts = FitOptions(seed=0, max_seconds=args.max_seconds)
    print(
        "| dataset | model | valid NDCG@10 | test Recall@10 | test NDCG@10 | test Recall@20 | fit s | note |"
    )
    print("|---|---|---|---|---|---|---|---|", flush=True)

    def run(ds_name, label, model, ds, split, note=""):  # noqa: ANN001, ANN202
        t = time.perf_counter()
        model.fit(split.train, split.valid, items=ds.items, options=opts)
        fit_s = time.perf_counter() - t
        va = evaluate_model(model, split, stage="valid", ks=(10,), checks=False)
        te = evaluate_model(model, split, stage="test", ks=(10, 20), checks=False)
        if getattr(model, "user0", None) is not None:  # LightGCN: the same model without refold_history
            keep, model.user0 = model.user0, None
            no_refold = evaluate_model(model, split, stage="test", ks=(10,), checks=False)["ndcg@10"]
            model.user0 = keep
            note = f"NDCG@10 w/o refold {no_refold:.4f}"
        tr = model.fit_info.get("train", {})
        if tr:
            note = (note + f" best ep {tr['best_epoch']}/{tr['epochs_run']}").strip()
        row = dict(
            dataset=ds_name,
            model=label,
            v_ndcg=va["ndcg@10"],
            recall=te["recall@10"],
            ndcg=te["ndcg@10"],
            recall20=te["recall@20"],
            fit_s=fit_s,
            note=note,
        )
        rows.append(row)
        print(
            f"| {ds_name} | {label} | {row['v_ndcg']:.4f} | {row['recall']:.4f} | {row['ndcg']:.4f} | "
            f"{row['recall20']:.4f} | {fit_s:.0f} | {note} |",
            flush=True,
        )
        print(
            f"# {ds_name} {label}: valid ndcg@10 {va['ndcg@10']:.4f} test recall@10 {te['recall@10']:.4f} "
            f"ndcg@10 {te['ndcg@10']:.4f} fit {fit_s:.0f}s {note}",
            file=sys.stderr,
            flush=True,
        )
        return row

    for name in args.datasets.split(","):
        ds, split = load(name)
        print(
            f"# {name}: {ds.n_users} users, {ds.n_items} items, {len(ds.interactions)} events",
            file=sys.stderr,
        )
        # EASE: lambda on validation
        best = None
        for lam in (50.0, 100.0, 250.0, 500.0, 1000.0):
            m = EASE(l2=lam).fit(split.train, items=ds.items)
            v = evaluate_model(m, split, stage="valid", ks=(10,), checks=False)["ndcg@10"]
            if best is None or v > best[0]:
                best = (v, lam)
        run(name, f"EASE (lambda={best[1]:g}, tuned)", EASE(l2=best[1]), ds, split)
        if args.refit:
            m = EASE(l2=best[1]).fit(split.train, items=ds.items)
            te = evaluate_model(m, split, stage="test", ks=(10,), checks=False, test_history="train")
            print(
                f"| {name} | EASE (lambda={best[1]:g}), test input = training history only | - | "
                f"{te['recall@10']:.4f} | {te['ndcg@10']:.4f} | - | - | validation event not in the input |",
                flush=True,
            )
        gcn_rows = []
        for label in filter(None, args.variants.split(";")):
            if label not in VARIANTS:
                raise SystemExit(f"unknown variant {label!r}; known: {', '.join(VARIANTS)}")
            model = LightGCN(epochs=args.epochs, patience=3, validate_every=2, **VARIANTS[label])
            gcn_rows.append((run(name, label, model, ds, split), label, model))
        if args.refit and gcn_rows:
            row, label, model = max(gcn_rows, key=lambda r: r[0]["v_ndcg"])
            epochs = max(1, int(model.fit_info["train"]["best_epoch"]))
            refit = LightGCN(epochs=epochs, patience=0, **VARIANTS[label])
            t = time.perf_counter()
            refit.fit(split.train_valid, None, items=ds.items, options=opts)
            fit_s = time.perf_counter() - t
            te = evaluate_model(refit, split, stage="test", ks=(10, 20), checks=False)
            print(
                f"| {name} | {label}, refit on train+valid ({epochs} ep) | - | {te['recall@10']:.4f} | "
                f"{te['ndcg@10']:.4f} | {te['recall@20']:.4f} | {fit_s:.0f} | valid NDCG@10 of the "
                f"train-only fit {row['v_ndcg']:.4f} |",
                flush=True,
            )
        if not args.no_textseq:
            from lmrec.models.textseq import TextSeq

            kw = {"id_fusion": True, "epochs": args.textseq_epochs}
            if name == "amazon-scientific":
                kw.update({"max_len": 50, "normalize": True, "temperature": 0.07, "dropout": 0.2})
            run(name, f"textseq text+id ({args.textseq_epochs} ep max)", TextSeq(**kw), ds, split)


if __name__ == "__main__":
    main()
