r"""CPU against GPU (fp32 and bf16 autocast): epoch time, time to best validation, accuracy; pretraining
throughput.

One command, sized to finish within about 7 minutes on one H200 with 16 CPU cores (``--budget``, default
390 s: rows that would start later are skipped and say so). Rows, in order (each rewrites the JSON ``--out``,
so a timeout keeps what finished):

* ML-100K (leave-one-out by time): textseq + item IDs with EMA 0.998; lmrec's SASRec.
* Amazon Scientific, UniSRec's fixed split: textseq (text only; normalize, temperature .07).
  Each on the device in fp32, on the device with bf16 autocast (both trained until early stopping, patience
  ``--patience``, each capped at ``--row-seconds``), and on the CPU (``--cpu-threads`` threads) for
  ``--cpu-epochs`` epochs only: the CPU's time to best validation is then *estimated* as its epoch time x the
  best epoch of the device fp32 run (the same algorithm and seed), marked "est.".
* Pretraining on Amazon Beauty 2014 (``lmrec.transfer.pretrain``, one source): one epoch over
  ``--pretrain-users`` users (the same number of steps on every side), target events per second.

Every row reports validation NDCG@10 (the best epoch's) and test NDCG@10 (full ranking, lmrec's protocol),
so a speed-up bought with accuracy shows. Item vectors: all-MiniLM-L6-v2 (lmrec's default encoder), read from
the lmrec embedding cache (``$LMREC_CACHE/embeddings``) without loading the encoder, so the GPU machine needs
no MiniLM package; where the cache misses, they are encoded here through lmrec.text (that needs the encoder).

The lent GPU machine (issue #21): Python 3.12, torch 2.11 CUDA, numpy/pandas/pyarrow/scipy/typer/rich/
safetensors/pytest, but no pydantic, no network, no ../shared/data and no ~/.cache. Run
``bash benchmarks/gpu_bundle.sh`` here first: it builds the ignored folder ``.device/`` (about 40 MiB):
``wheels/`` (pydantic, pydantic-core, annotated-types, typing-inspection for cp312 manylinux x86_64),
``data/`` (ml-100k, amazon-scientific-unisrec, amazon-beauty-2014) and ``cache/embeddings`` (the MiniLM
vectors of exactly those three catalogs). Then the device tool's ``run`` with ``carry: [".device"]``,
``timeout_s: 560`` and this command (the CUDA tests first, then the benchmark)::

    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site \
      .device/wheels/*.whl || exit 1
    export PYTHONPATH=src:/tmp/site LMREC_DATA=$PWD/.device/data LMREC_CACHE=$PWD/.device/cache \
      PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
    nvidia-smi -L
    timeout 120 python3 -m pytest -q -p no:cacheprovider tests/train/test_device.py 2>&1 | tee $OUT/tests.log
    python3 benchmarks/gpu.py --out $OUT/gpu.json 2>&1 | tee $OUT/gpu.log

The same command runs on the CPU (``--device cpu``); ``--quick`` is a smoke run on user subsets with tiny
epoch counts (under 2 minutes on 2 busy cores). Output: a markdown table on stdout and the JSON ``--out``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

T0 = time.perf_counter()
VEC = "lmrec_vec"  # the item column that carries the cached MiniLM vectors


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} +{time.perf_counter() - T0:6.1f}s] {msg}", flush=True)


# -- data and vectors ---------------------------------------------------------------------------------------
def cached_vectors(texts: list[str]) -> np.ndarray | None:
    """The default encoder's vectors of ``texts`` from the lmrec embedding cache alone (no model loaded), or
    None when the cache lacks one of them."""
    from lmrec.text import EmbeddingCache, default_cache_root
    from lmrec.text.cache import keys_for
    from lmrec.text.encoders._base import clean_texts

    root = default_cache_root()
    clean, _ = clean_texts(texts)
    for manifest in sorted(root.glob("*/model.json")):
        meta = json.loads(manifest.read_text(encoding="utf-8"))
        model_id = str(meta.get("model_id", ""))
        if not (model_id.startswith("all-MiniLM-L6-v2@") and model_id.endswith("|fp32")):
            continue
        found, vecs = EmbeddingCache(model_id, int(meta["dim"]), root).get(keys_for(clean))
        if found.all():
            return vecs
    return None


def with_vectors(ds: Any) -> Any:
    """``ds`` with its items' MiniLM vectors as the column ``VEC`` (what ``vector_field`` reads)."""
    from lmrec.text import item_texts

    texts = item_texts(ds.items, None)  # what textseq encodes with its default template
    vecs = cached_vectors(texts)
    if vecs is None:
        log(f"{ds.name}: vectors not in the cache; encoding {len(texts)} item texts with minilm")
        from lmrec.text import encode_texts

        vecs = encode_texts(texts, encoder="minilm")
    frame = ds.items.frame.assign(**{VEC: list(np.asarray(vecs, dtype=np.float32))})
    items = dataclasses.replace(ds.items, frame=frame, vector_fields=(*ds.items.vector_fields, VEC))
    return dataclasses.replace(ds, items=items)


def first_users(ds: Any, n: int | None) -> Any:
    """``ds`` keeping only the events of users 0..n-1 (the quick mode's subsets; None keeps all)."""
    if n is None or n >= ds.n_users:
        return ds
    keep = ds.interactions.user < n
    fixed = None if ds.fixed_split is None else ds.fixed_split[keep]
    inter = ds.interactions.subset(np.flatnonzero(keep))
    return dataclasses.replace(ds, interactions=inter, fixed_split=fixed)


def load(name: str, n_users: int | None) -> tuple[Any, Any]:
    from lmrec.data import load_dataset
    from lmrec.data.split import fixed_split, leave_one_out_split

    ds = with_vectors(first_users(load_dataset(name), n_users))
    split = fixed_split(ds) if ds.fixed_split is not None else leave_one_out_split(ds)
    return ds, split


# -- rows ---------------------------------------------------------------------------------------------------
def model_for(kind: str, overrides: dict[str, Any]) -> Any:
    from lmrec.models.sasrec import SASRec
    from lmrec.models.textseq import TextSeq

    if kind == "textseq+id":
        return TextSeq(vector_field=VEC, id_fusion=True, ema=0.998, **overrides)
    if kind == "sasrec":
        return SASRec(**overrides)
    if kind == "textseq":
        return TextSeq(vector_field=VEC, normalize=True, temperature=0.07, **overrides)
    raise SystemExit(f"unknown model {kind}")


def train_row(ds: Any, split: Any, kind: str, side: str, args: argparse.Namespace, cap: float) -> dict:
    import torch

    from lmrec.evaluate import evaluate_model
    from lmrec.models.base import FitOptions

    on_cpu = side == "cpu"
    overrides: dict[str, Any] = {"patience": args.patience}
    if on_cpu:
        overrides["epochs"] = args.cpu_epochs
    elif args.epochs:
        overrides["epochs"] = args.epochs
    model = model_for(kind, overrides)
    opts = FitOptions(
        seed=args.seed,
        threads=args.cpu_threads if on_cpu else None,
        device="cpu" if on_cpu else args.device,
        precision="fp32" if side in ("cpu", "fp32") else "bf16",
        max_seconds=None if on_cpu else cap,
    )
    t = time.perf_counter()
    model.fit(split.train, split.valid, items=ds.items, options=opts)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    fit_s = time.perf_counter() - t
    t = time.perf_counter()
    test = evaluate_model(model, split, ks=(10,), stage="test", seed=args.seed)
    tr, dev = model.fit_info["train"], model.fit_info["device"]
    hist = tr["history"]
    best = int(tr["best_epoch"])
    return {
        "dataset": ds.name,
        "model": kind,
        "run": "cpu" if on_cpu else f"device {side}",
        "device": dev["device"],
        "device_name": dev["device_name"],
        "amp": dev["amp"],
        "threads": torch.get_num_threads(),
        "epochs_run": len(hist),
        "epoch_seconds": hist[-1]["seconds"] / max(len(hist), 1),
        "best_epoch": best,
        "time_to_best_s": hist[best - 1]["seconds"] if best else None,
        "stopped_early": bool(tr["stopped_early"]),
        "capped": (not on_cpu) and not tr["stopped_early"] and len(hist) < int(model.config.train.epochs),
        "fit_wall_s": fit_s,
        "eval_s": time.perf_counter() - t,
        "valid_ndcg@10": float(tr["best_metric"]),
        "test_ndcg@10": float(test.metrics["ndcg@10"]),
        "n_train_events": int(len(split.train)),
    }


def pretrain_row(beauty: Any, side: str, args: argparse.Namespace) -> dict:
    import torch

    from lmrec.models.base import FitOptions
    from lmrec.models.textseq import TextSeqConfig
    from lmrec.transfer.pretrain import PretrainConfig, SourceDomain, pretrain

    ds, split = beauty
    on_cpu = side == "cpu"
    cfg = PretrainConfig(
        textseq=TextSeqConfig(vector_field=VEC, epochs=1), max_users=args.pretrain_users, valid_users=100
    )
    opts = FitOptions(
        seed=args.seed,
        threads=args.cpu_threads if on_cpu else None,
        device="cpu" if on_cpu else args.device,
        precision="fp32" if side in ("cpu", "fp32") else "bf16",
    )
    pre = pretrain([SourceDomain("amazon-beauty", ds, split)], cfg, opts)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    info = pre.info
    hist = info["train"]["history"]
    seconds = hist[-1]["seconds"]  # the loop's time (one epoch and a 100-user validation)
    events = info["train_events_per_epoch"] * len(hist)
    return {
        "dataset": "amazon-beauty",
        "run": "cpu" if on_cpu else f"device {side}",
        "device": info["device"]["device"],
        "amp": info["device"]["amp"],
        "threads": torch.get_num_threads(),
        "users": args.pretrain_users,
        "steps": info["steps_per_epoch"] * len(hist),
        "events": events,
        "seconds": seconds,
        "events_per_s": events / seconds if seconds > 0 else None,
        "valid_ndcg@10": float(info["train"]["best_metric"]),
    }


# -- output -------------------------------------------------------------------------------------------------
def _f(x: Any, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def markdown(result: dict) -> str:
    rows = result["rows"]
    lines = [
        "| dataset | model | run | device | epochs | s/epoch | vs CPU | best ep | to best s | valid NDCG@10 "
        "| test NDCG@10 |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cpu = next((c for c in rows if c["run"] == "cpu" and c["dataset"] == r["dataset"]
                    and c["model"] == r["model"]), None)  # fmt: skip
        ref = next((c for c in rows if c["run"] == "device fp32" and c["dataset"] == r["dataset"]
                    and c["model"] == r["model"]), None)  # fmt: skip
        speed = cpu["epoch_seconds"] / r["epoch_seconds"] if cpu and r["epoch_seconds"] else None
        if r["run"] == "cpu":
            est = r["epoch_seconds"] * ref["best_epoch"] if ref else None
            to_best = f"{_f(est, '.1f')} est." if est is not None else "-"
            best = f"({ref['best_epoch']})" if ref else "-"
        else:
            to_best = _f(r["time_to_best_s"], ".1f") + (" capped" if r["capped"] else "")
            best = str(r["best_epoch"])
        dev = r["device_name"] if r["device"] != "cpu" else f"cpu x{r['threads']}"
        lines.append(
            f"| {r['dataset']} | {r['model']} | {r['run']} | {dev} | {r['epochs_run']} | "
            f"{r['epoch_seconds']:.2f} | {_f(speed, '.1f')}x | {best} | {to_best} | "
            f"{r['valid_ndcg@10']:.4f} | {r['test_ndcg@10']:.4f} |"
        )
    if result["pretrain"]:
        lines += [
            "",
            "| pretraining (Beauty) | device | users | steps | events | s | events/s | valid NDCG@10 |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for p in result["pretrain"]:
            lines.append(
                f"| {p['run']} | {p['device']} {p['amp']} | {p['users']} | {p['steps']} | {p['events']} | "
                f"{p['seconds']:.2f} | {_f(p['events_per_s'], ',.0f')} | {p['valid_ndcg@10']:.4f} |"
            )
    if result["skipped"]:
        lines += ["", "skipped (budget): " + ", ".join(result["skipped"])]
    return "\n".join(lines)


def write(result: dict, path: Path | None) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, path)


def meta(args: argparse.Namespace) -> dict:
    import torch

    from lmrec.device import resolve_device

    dev = resolve_device(args.device, option="--device")
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "args": vars(args) | {"out": str(args.out)},
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "cpu_count": os.cpu_count(),
        "git": os.popen("git rev-parse --short HEAD 2>/dev/null").read().strip() or None,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, help="JSON results (rewritten after every row)")
    ap.add_argument("--device", default="auto", help="the accelerated side: auto | cuda | cuda:N | cpu")
    ap.add_argument("--quick", action="store_true", help="smoke run: user subsets, 1-2 epochs, ~2 minutes")
    ap.add_argument("--cpu-threads", type=int, default=8, help="torch threads of the CPU rows")
    ap.add_argument("--cpu-epochs", type=int, default=2, help="epochs of the CPU rows (their epoch time)")
    ap.add_argument("--epochs", type=int, default=None, help="cap on the device rows' epochs")
    ap.add_argument("--patience", type=int, default=10, help="early-stopping patience of every row")
    ap.add_argument("--row-seconds", default="40,25,55", help="device-row caps: ml100k textseq, sasrec, sci")
    ap.add_argument("--pretrain-users", type=int, default=6000, help="Beauty users in the pretraining epoch")
    ap.add_argument("--budget", type=float, default=390.0, help="skip rows that would start after this")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--warmup", action="store_true", help="warm the device up even for --quick / cpu")
    ap.add_argument("--only", default="", help="row groups: ml100k-textseq,ml100k-sasrec,sci,pre")
    args = ap.parse_args(argv)
    if args.quick:
        from lmrec.train.loop import sensible_threads

        args.cpu_threads = min(args.cpu_threads, sensible_threads(None))
        args.cpu_epochs, args.epochs, args.pretrain_users = 1, 2, 300
        args.budget = min(args.budget, 110.0)
        if args.row_seconds == ap.get_default("row_seconds"):
            args.row_seconds = "20,20,20"
    caps = [float(x) for x in args.row_seconds.split(",")]
    groups = set(filter(None, args.only.split(","))) or {"ml100k-textseq", "ml100k-sasrec", "sci", "pre"}

    import torch

    from lmrec.errors import LmrecError

    try:
        info = meta(args)
    except LmrecError as exc:
        print(f"gpu.py: error: {exc}", file=sys.stderr)
        return 2
    result: dict[str, Any] = {"meta": info, "rows": [], "pretrain": [], "skipped": [], "status": "running"}
    m = info
    log(f"torch {m['torch']} (CUDA {m['cuda']}), {m['device']} ({m['device_name']}), {m['cpu_count']} CPUs")
    write(result, args.out)
    sides = ["fp32", "bf16", "cpu"]

    def budget_left(what: str) -> bool:
        if time.perf_counter() - T0 < args.budget:
            return True
        result["skipped"].append(what)
        log(f"skip {what}: past the {args.budget:.0f} s budget")
        return False

    n_ml, n_sci = (150, 400) if args.quick else (None, None)
    plan = [
        ("ml100k-textseq", "ml-100k", n_ml, "textseq+id", caps[0]),
        ("ml100k-sasrec", "ml-100k", n_ml, "sasrec", caps[1]),
        ("sci", "amazon-scientific-unisrec", n_sci, "textseq", caps[2]),
    ]
    loaded: dict[str, tuple[Any, Any]] = {}
    warmed = (args.quick or m["device"] == "cpu") and not args.warmup
    for group, name, n_users, kind, cap in plan:
        if group not in groups:
            continue
        if name not in loaded:
            log(f"load {name}")
            loaded[name] = load(name, n_users)
            ds, split = loaded[name]
            log(f"{name}: {ds.n_users} users, {ds.n_items} items, {len(split.train)} training events")
        ds, split = loaded[name]
        if not warmed:  # CUDA context, cuBLAS handles and autocast kernels outside the timed rows
            log("warm-up on the device (not timed)")
            for side in ("fp32", "bf16"):
                warm = argparse.Namespace(**{**vars(args), "cpu_epochs": 1, "epochs": 1})
                train_row(ds, split, "sasrec", side, warm, 5.0)
            warmed = True
        for side in sides:
            what = f"{name} {kind} {side}"
            if not budget_left(what):
                continue
            log(f"start {what}")
            row = train_row(ds, split, kind, side, args, cap)
            result["rows"].append(row)
            write(result, args.out)
            log(
                f"done {what}: {row['epochs_run']} epochs, {row['epoch_seconds']:.2f} s/epoch, best epoch "
                f"{row['best_epoch']} at {_f(row['time_to_best_s'], '.1f')} s, "
                f"valid {row['valid_ndcg@10']:.4f}, test {row['test_ndcg@10']:.4f} "
                f"(fit {row['fit_wall_s']:.1f} s, eval {row['eval_s']:.1f} s)"
            )
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    if "pre" in groups:
        log("load amazon-beauty")
        beauty = load("amazon-beauty", None)
        log(f"amazon-beauty: {beauty[0].n_users} users, {beauty[0].n_items} items")
        for side in sides:
            what = f"pretrain amazon-beauty {side}"
            if not budget_left(what):
                continue
            log(f"start {what}")
            row = pretrain_row(beauty, side, args)
            result["pretrain"].append(row)
            write(result, args.out)
            rate = row["events_per_s"] or 0.0
            log(f"done {what}: {row['steps']} steps, {row['seconds']:.2f} s, {rate:,.0f} events/s")
    result["status"] = "done"
    result["seconds"] = time.perf_counter() - T0
    write(result, args.out)
    print()
    print(markdown(result))
    log(f"finished in {result['seconds']:.0f} s" + (f"; JSON in {args.out}" if args.out else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
