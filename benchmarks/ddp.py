"""Data-parallel training, 1 vs N processes (torchrun, gloo on CPU): textseq on ML-100K (leave-one-out).

Each configuration is launched as ``python -m torch.distributed.run --standalone --nproc_per_node=N`` running
this file in worker mode; every process trains with one torch thread on its shard of each global batch (the
same global batch size for every N). Printed: training windows per second (epoch wall time, its validation
pass included: a small share), validation NDCG@10 per epoch, and the wall time until the validation NDCG@10
first reaches the target (the smaller of the runs' best values, so every run reaches it).

    nice .venv/bin/python benchmarks/ddp.py --procs 1,2 --epochs 4

On the 2-core development machine shared with other jobs the numbers are noisy: say what the load was.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
REPO = HERE.parents[1]


def data_root() -> Path:
    env = os.environ.get("LMREC_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def worker(args: argparse.Namespace) -> None:
    """One process of a run: train, and (rank 0) write the history to args.out."""
    from lmrec.data.loaders import load_format
    from lmrec.data.split import leave_one_out_split
    from lmrec.models.base import FitOptions
    from lmrec.models.seqdata import training_windows
    from lmrec.models.textseq import TextSeq
    from lmrec.train.distributed import is_main_process, shutdown

    ds = load_format("movielens-100k", data_root() / "ml-100k")
    split = leave_one_out_split(ds)
    cfg = dict(epochs=args.epochs, patience=0, batch_size=args.batch_size)
    model = TextSeq(**cfg)
    t = time.perf_counter()
    model.fit(split.train, split.valid, items=ds.items, options=FitOptions(seed=0, threads=1))
    wall = time.perf_counter() - t
    if is_main_process():
        n_windows = len(training_windows(split.train.sequences(), model.config.max_len)[0])
        out = {
            "history": model.fit_info["train"]["history"],
            "n_windows": int(n_windows),
            "fit_wall": wall,
            "encode_seconds": model.fit_info["encode_seconds"],
            "loadavg": os.getloadavg()[0],
        }
        Path(args.out).write_text(json.dumps(out), encoding="utf-8")
    shutdown()


def epoch_seconds(history: list[dict]) -> list[float]:
    """Wall seconds of each epoch (training plus its validation pass, which is a small share on ML-100K)."""
    secs = [h["seconds"] for h in history]
    return [b - a for a, b in zip([0.0, *secs[:-1]], secs, strict=True)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--procs", default="1,2")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    runs = {}
    tmp = Path(tempfile.mkdtemp(prefix="lmrec-ddp-bench-"))
    for n in [int(x) for x in args.procs.split(",")]:
        out = tmp / f"run{n}.json"
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}"]
        cmd += [str(HERE), "--worker", "--out", str(out), "--epochs", str(args.epochs)]
        cmd += ["--batch-size", str(args.batch_size)]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        t = time.perf_counter()
        subprocess.run(cmd, check=True, env=env, cwd=REPO)
        runs[n] = json.loads(out.read_text())
        runs[n]["launch_wall"] = time.perf_counter() - t
        print(f"{n} process(es): {runs[n]['launch_wall']:.0f}s", file=sys.stderr, flush=True)
    target = min(max(h["ndcg@10"] for h in r["history"]) for r in runs.values())
    print(
        f"\nML-100K textseq, global batch {args.batch_size}, {args.epochs} epochs, "
        f"target NDCG@10 {target:.4f}"
    )
    print("| processes | windows/s | epoch s | valid NDCG@10 per epoch | s to target | load avg |")
    print("|---|---|---|---|---|---|")
    base = None
    for n, r in runs.items():
        epochs = epoch_seconds(r["history"])
        rate = r["n_windows"] * len(epochs) / sum(epochs)
        base = base or rate
        reach = next((h["seconds"] for h in r["history"] if h["ndcg@10"] >= target), float("nan"))
        ndcgs = " ".join(f"{h['ndcg@10']:.4f}" for h in r["history"])
        print(
            f"| {n} | {rate:.0f} ({rate / base:.2f}x) | {sum(epochs) / len(epochs):.1f} | {ndcgs} | "
            f"{reach:.0f} | {r['loadavg']:.1f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
