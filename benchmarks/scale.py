"""Scale: load, one training epoch, full-ranking evaluation and ANN serving latency on synthetic data.

Data: :func:`lmrec.data.synthetic.synthetic_dataset` (Zipf-like popularity, Amazon-like sequence lengths with
a long tail, topical users, item texts from a small vocabulary; items = events / 20). Item vectors are the
generator's 384-d topic vectors (``vector_field="vec"``, MiniLM's width), so the training rows measure the
models, not a text encoder (encoding cost is in benchmarks/encoders.py).

Each phase runs in its own fresh process, so its peak RSS is its own (``rss MB``: the process's peak; ``base
MB``: its RSS after imports and data generation, before the phase):

- ``load``: the events and item tables written as CSV (not timed), then ``load_dataset(events.csv, "table",
  items_path=items.csv)`` parsing them (``load s``), and again from lmrec's parsed-data cache (``cached s``).
- ``textseq`` / ``sasrec``: leave-one-out split, then ONE full training epoch over every training window
  (``epochs=1``, no validation, model defaults otherwise; ``--textseq-loss sampled`` / ``--sasrec-loss
  sampled`` switch a model to its sampled softmax for large catalogs): ``epoch s`` is the loop's own time
  for the epoch, ``fit s`` includes setup (windows, item representations, textseq's text prior). Nothing is
  capped or extrapolated: if an epoch takes too long for a machine, the row is missing, not estimated.
- ``eval``: full-ranking test evaluation of the model just trained, ``--eval-batch`` users per batch, all
  test users unless ``--eval-users`` (then a seeded subset, said in the row). ``eval +MB`` is the largest RSS
  growth sampled (every 20 ms) during the evaluation; the script asserts it stays below a quarter of one
  float32 users x items matrix (the evaluation never allocates users x items).
- ``serve``: the service's ANN path: an ANN index (faiss, lmrec.index.ItemIndex, the service's defaults;
  ``--index hnsw|ivfpq`` picks one, default the service's choice for the catalog's size) over the trained
  textseq's retrieval vectors (``--index-items N`` pads the catalog to N items with jittered
  copies of real ones, for a large-catalog index), then an open-loop schedule of ``--requests`` requests at
  ``--rate`` per second, one at a time in one process (as one service worker): each request is the model's
  query vector for a random test user's history plus ``search(k=10, exclude=history)``; latency counts from
  the scheduled time, so queueing behind a slow request is included. HTTP is not included (see
  benchmarks/serve_load.py). The index calibrates its search knobs (HNSW's beam, IVF-PQ's lists and
  re-ranked candidates) to recall@10 >= .95 on 200 training users' queries, their seen items left out, as
  the service does (``lmrec.serve.training_queries``); ``recall`` is the index's top-10 against exact
  search for 200 of the measured queries; ``index_sweep`` (JSON only) holds recall and ms per query at fixed
  values of the main knob (HNSW's beam; IVF-PQ's lists scanned, with the calibrated candidates).

``--dataset NAME`` runs the same phases on a catalog dataset instead (``ml-1m``, ``ml-20m``, ``ml-25m``:
MovieLens from GroupLens, downloaded and sha256-checked when missing; its item texts encoded by the default
encoder, as textseq does; ``load`` parses its own files).

Usage (one JSON table per run, also printed as Markdown)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/scale.py --sizes 100k,1M --device cpu \\
        --out benchmarks/results/scale-cpu-2core.json
    # on a 16-core GPU machine:
    .venv/bin/python benchmarks/scale.py --sizes 1M,10M --device cuda --threads 16 --index-items 1000000 \\
        --out benchmarks/results/scale-cuda.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PAGE = os.sysconf("SC_PAGE_SIZE")


def parse_size(text: str) -> int:
    """``100k`` / ``1M`` / ``10M`` / ``250000`` -> an int."""
    t = text.strip().lower().replace("_", "")
    mult = {"k": 1_000, "m": 1_000_000}.get(t[-1:], 1)
    return int(float(t[:-1] if mult > 1 else t) * mult)


def rss_mb() -> float:
    """This process's resident set size now, MB."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE / 2**20


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class RssSampler:
    """The largest RSS seen every ``every`` seconds while the ``with`` block runs."""

    def __init__(self, every: float = 0.02) -> None:
        self.every, self.peak, self.start = every, 0.0, 0.0
        self._stop = threading.Event()

    def __enter__(self) -> RssSampler:
        self.start = self.peak = rss_mb()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.peak = max(self.peak, rss_mb())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())


# -- worker side: one phase in this process ------------------------------------------------------------
def worker(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from lmrec.data.synthetic import synthetic_dataset

    torch.set_num_threads(args.threads)
    n = args.size
    if args.dataset:
        return real_worker(args)
    if args.phase == "load":
        from lmrec.data import load_dataset

        folder = Path(args.tables)

        def load(cache: Any) -> Any:
            return load_dataset(
                folder / "events.csv",
                "table",
                cache=cache,
                items_path=folder / "items.csv",
                item_text=["title", "category"],
            )

        return load_timings(load, folder / "cache", n)

    return train_phase(args, synthetic_dataset(n, vector_dim=384, seed=args.seed))


def load_timings(load: Any, cache: Any, n: int | None = None) -> dict[str, Any]:
    """``load(cache)`` parsing the files (``cache=False``: ``load s``, peak RSS), then filling the parsed-data
    cache ``cache`` and reading it back (``cached s``); ``n``: the events it must hold."""
    base = rss_mb()
    t = time.perf_counter()
    data = load(False)
    load_s = time.perf_counter() - t
    assert n is None or len(data.interactions) == n
    peak = peak_rss_mb()
    load(cache)  # fills the parsed-data cache
    t = time.perf_counter()
    hit = load(cache)
    cached_s = time.perf_counter() - t
    assert hit.meta.get("cache") == "hit"
    return {"load_s": load_s, "cached_load_s": cached_s, "rss_mb": peak, "base_mb": base}


def real_worker(args: argparse.Namespace) -> dict[str, Any]:
    """A phase on a catalog dataset (``--dataset``): ``load`` parses its files (then from the parsed-data
    cache); the training phases encode its item texts with the default encoder (cached) as textseq does."""
    from lmrec.data import load_dataset

    if args.phase == "load":
        return load_timings(lambda cache: load_dataset(args.dataset, download=True, cache=cache), True)
    return train_phase(args, load_dataset(args.dataset, download=True))


def train_phase(args: argparse.Namespace, data: Any) -> dict[str, Any]:
    """Split, one training epoch of the phase's model, then the evaluation and serving rows asked for."""
    from lmrec.data.split import leave_one_out_split

    t = time.perf_counter()
    split = leave_one_out_split(data)
    split_s = time.perf_counter() - t
    base = rss_mb()
    t = time.perf_counter()
    model = fit_one(args, data, split)
    fit_s = time.perf_counter() - t
    info = model.fit_info
    history = info["train"]["history"]
    row: dict[str, Any] = {
        "split_s": split_s,
        "fit_s": fit_s,
        # textseq: fitting the text prior's gate after the epoch (4096 held-out users x the catalog)
        "text_prior_s": (info.get("text_prior") or {}).get("seconds"),
        "epoch_s": history[0]["seconds"] if history else None,
        "train_events": int(len(split.train)),
        "events_per_s": len(split.train) / history[0]["seconds"] if history else None,
        "rss_mb": peak_rss_mb(),
        "base_mb": base,
        "device": info.get("device", {}).get("device"),
        "config": model.config.model_dump(include=set(args.shown_config)),
    }
    if args.eval:
        row.update(evaluate(args, model, split))
    if args.serve:
        row.update(serve(args, model, split))
    return row


def fit_one(args: argparse.Namespace, data: Any, split: Any) -> Any:
    from lmrec.models.base import FitOptions

    options = FitOptions(seed=args.seed, threads=args.threads, device=args.device)
    if args.phase == "textseq":
        from lmrec.models.textseq import TextSeq

        extra = {"loss": args.textseq_loss} if args.textseq_loss else {}
        if args.no_text_prior:
            extra["text_prior"] = False
        if not args.dataset:  # the generator's topic vectors stand in for encoded text
            extra["vector_field"] = "vec"
        model = TextSeq(epochs=1, **extra)
        args.shown_config = ["loss", "dim", "n_layers", "max_len", "batch_size", "future_k", "text_prior"]
    else:
        from lmrec.models.sasrec import SASRec

        model = SASRec(epochs=1, **({"loss": args.sasrec_loss} if args.sasrec_loss else {}))
        args.shown_config = ["loss", "dim", "layers", "max_len", "batch_size", "future_k"]
    return model.fit(split.train, None, items=data.items, options=options)


def evaluate(args: argparse.Namespace, model: Any, split: Any) -> dict[str, Any]:
    from lmrec.evaluate import evaluate_model

    data = split.dataset
    with RssSampler() as mem:
        t = time.perf_counter()
        result = evaluate_model(
            model, split, batch_size=args.eval_batch, max_users=args.eval_users, checks=False, ks=(10,)
        )
        seconds = time.perf_counter() - t
    grown = mem.peak - mem.start
    full_mb = result.n_users * data.n_items * 4 / 2**20
    if full_mb > 200:  # small runs: allocator noise; the unit test covers them with tracemalloc
        assert grown < full_mb / 4, (
            f"evaluation grew RSS by {grown:.0f} MB; users x items is {full_mb:.0f} MB"
        )
    return {
        "eval_s": seconds,
        "eval_users": result.n_users,
        "eval_users_per_s": result.n_users / seconds,
        "eval_grow_mb": grown,
        "users_x_items_mb": full_mb,
        "ndcg@10": result.metrics["ndcg@10"],
    }


def serve(args: argparse.Namespace, model: Any, split: Any) -> dict[str, Any]:
    from lmrec.index import IndexConfig, ItemIndex
    from lmrec.models.base import UserBatch
    from lmrec.serve import training_queries

    rng = np.random.default_rng(args.seed)
    vecs = np.ascontiguousarray(model.retrieval_vectors(), dtype=np.float32)
    n_real = len(vecs)
    n_index = max(n_real, args.index_items or 0)
    if n_index > n_real:  # jittered copies of real items: the same distribution, never in any history
        pick = rng.integers(0, n_real, n_index - n_real)
        noise = rng.normal(scale=0.05 * float(vecs.std()), size=(len(pick), vecs.shape[1])).astype(np.float32)
        vecs = np.vstack([vecs, vecs[pick] + noise])
    test = split.test
    histories = _histories(split)
    # as the service does: the search knobs are calibrated on 200 training users' query vectors, seen excluded
    sample = training_queries(model, model.query_vectors)
    t = time.perf_counter()
    config = IndexConfig() if args.index == "auto" else IndexConfig(kind=args.index)
    queries, seen = sample if sample is not None else (None, None)
    index = ItemIndex.build(vecs, config=config, queries=queries, exclude=seen)
    build_s = time.perf_counter() - t
    users = rng.choice(np.unique(test.user), size=args.requests, replace=True)
    # recall of the index's top-10 against exact inner products on 200 of these queries
    q = model.query_vectors(UserBatch(users[:200], [histories[u] for u in users[:200]]))
    exact = ItemIndex.build(vecs, config=IndexConfig(kind="exact"))
    excl = [histories[u] for u in users[:200]]
    b, _ = exact.search(q, 10, exclude=excl)
    del exact

    def recall_of(found: np.ndarray) -> float:
        return float(
            np.mean([len(set(x) & set(y)) / 10 for x, y in zip(found.tolist(), b.tolist(), strict=True)])
        )

    recall = recall_of(index.search(q, 10, exclude=excl)[0])
    # the main knob's price: recall and time per query at fixed values, then back to the calibrated ones
    default = index.config
    knob, values, fixed = "", (), []  # an exact index (auto, small catalogs) has no knob
    if index.kind == "hnsw":
        knob, values = "ef", (64, 128, 256, 512, 1024)
        fixed = [default.replace(hnsw_ef_search=v, hnsw_target_recall=None) for v in values]
    elif index.kind == "ivfpq":
        knob, values = "nprobe", (8, 16, 32, 64, 128)
        fixed = [
            default.replace(ivf_nprobe=v, ann_candidates=index.ann_candidates, ivf_target_recall=None)
            for v in values
        ]
    sweep = []
    for value, cfg in zip(values, fixed, strict=True):
        index.configure(cfg)
        t = time.perf_counter()
        found = np.vstack([index.search(q[i : i + 1], 10, exclude=[excl[i]])[0] for i in range(len(q))])
        sweep.append(
            {knob: value, "recall@10": recall_of(found), "ms": (time.perf_counter() - t) / len(q) * 1e3}
        )
    index.configure(default)
    lat = np.empty(args.requests)
    work = np.empty(args.requests)
    start = time.perf_counter() + 0.05
    for i, u in enumerate(users.tolist()):
        due = start + i / args.rate
        now = time.perf_counter()
        if now < due:
            time.sleep(due - now)
        began = time.perf_counter()
        hist = histories[u]
        qv = model.query_vectors(UserBatch(np.asarray([u]), [hist]))
        index.search(qv, 10, exclude=[hist])
        done = time.perf_counter()
        lat[i], work[i] = done - due, done - began
    achieved = args.requests / (time.perf_counter() - start)
    return {
        "index_items": n_index,
        "index_dim": int(vecs.shape[1]),
        "index_kind": index.kind,
        "index_build_s": build_s,
        "index_recall@10": recall,
        "index_calibration": index.calibration,
        "index_sweep": sweep,
        "rate": args.rate,
        "achieved_rate": achieved,
        "p50_ms": float(np.percentile(lat, 50) * 1e3),
        "p99_ms": float(np.percentile(lat, 99) * 1e3),
        # the request's own work (query vector + search), without waiting behind earlier requests
        "service_p50_ms": float(np.percentile(work, 50) * 1e3),
        "service_p99_ms": float(np.percentile(work, 99) * 1e3),
        "capacity_per_s": float(1.0 / work.mean()),
        "requests": args.requests,
    }


def _histories(split: Any) -> dict[int, np.ndarray]:
    """Each user's training + validation items in time order (the service's history at test time)."""
    both = split.train.concat(split.valid)
    order = both.time_order()
    user, item = both.user[order], both.item[order]
    by_user = np.argsort(user, kind="stable")
    user, item = user[by_user], item[by_user]
    cuts = np.flatnonzero(np.diff(user)) + 1
    return {int(g[0]): it for g, it in zip(np.split(user, cuts), np.split(item, cuts), strict=True)}


# -- parent side: one subprocess per phase ----------------------------------------------------------------
def write_tables(n: int, folder: Path, seed: int) -> float:
    """The synthetic dataset as events.csv + items.csv (the table loader's input); generation seconds."""
    from lmrec.data.synthetic import synthetic_dataset

    t = time.perf_counter()
    data = synthetic_dataset(n, seed=seed)
    gen_s = time.perf_counter() - t
    it = data.interactions
    import pandas as pd

    pd.DataFrame(
        {"user_id": data.user_ids[it.user], "item_id": data.item_ids[it.item], "timestamp": it.timestamp}
    ).to_csv(folder / "events.csv", index=False)
    frame = data.items.frame[["title", "category"]].assign(item_id=data.item_ids)
    frame.to_csv(folder / "items.csv", index=False)
    return gen_s


def run_phase(args: argparse.Namespace, phase: str, n: int, tables: Path) -> dict[str, Any] | str:
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        phase,
        "--size",
        str(n),
        "--tables",
        str(tables),
        "--device",
        args.device,
        "--threads",
        str(args.threads),
        "--seed",
        str(args.seed),
        "--eval-batch",
        str(args.eval_batch),
        "--rate",
        str(args.rate),
        "--requests",
        str(args.requests),
    ]
    if args.dataset:
        cmd += ["--dataset", args.dataset]
    if args.eval_users:
        cmd += ["--eval-users", str(args.eval_users)]
    if args.index_items:
        cmd += ["--index-items", str(args.index_items)]
    cmd += ["--index", args.index]
    if args.textseq_loss:
        cmd += ["--textseq-loss", args.textseq_loss]
    if args.sasrec_loss:
        cmd += ["--sasrec-loss", args.sasrec_loss]
    if args.no_text_prior:
        cmd.append("--no-text-prior")
    if "eval" in args.phases:
        cmd.append("--eval")
    if "serve" in args.phases and phase == "textseq":
        cmd.append("--serve")
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "PYTHONPATH": str(ROOT / "src")}
    t = time.perf_counter()
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.phase_timeout)
    except subprocess.TimeoutExpired:
        return f"not run to the end: over --phase-timeout {args.phase_timeout} s"
    if proc.returncode != 0:
        return f"failed: {(proc.stderr.strip().splitlines() or ['?'])[-1][:200]}"
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    row["process_s"] = time.perf_counter() - t
    return row


def fmt(v: Any, spec: str = ".1f") -> str:
    return "" if v is None else format(v, spec) if isinstance(v, (int, float)) else str(v)


def _phase(row: dict[str, Any]) -> str:
    return f"{row['dataset']}: {row['phase']}" if row.get("dataset") else row["phase"]


def _index(res: dict[str, Any]) -> str:
    items = fmt(res.get("index_items"), ",")
    return f"{res['index_kind']}, {items}" if res.get("index_kind") else items


def _knobs(calibration: dict[str, Any]) -> str:
    names = {"ef_search": "beam", "nprobe": "lists", "ann_candidates": "candidates x k"}
    return ", ".join(f"{label} {calibration[k]:,}" for k, label in names.items() if k in calibration)


def format_table(rows: list[dict[str, Any]]) -> str:
    """The rows of a run as a Markdown table."""
    out: list[str] = []
    out.append(
        "| events | users | items | phase | load or epoch s | fit s (text prior s) | events/s "
        "| rss MB (base) | eval s (users/s) | eval +MB (users x items MB) | NDCG@10 | index, items | build s "
        "| recall (beam) | p50 / p99 ms at rate | work p50 / p99 ms (capacity/s) |"
    )
    out.append("|" + "---|" * 16)
    for r in rows:
        res = r["result"]
        if isinstance(res, str):
            out.append(
                f"| {r['events']:,} | {r['users']:,} | {r['items']:,} | {_phase(r)} | {res} |" + " |" * 11
            )
            continue
        time_s = res.get("epoch_s", res.get("load_s"))
        extra = f" (cached {res['cached_load_s']:.2f})" if "cached_load_s" in res else ""
        ev = (f"{res['eval_s']:.1f} ({res['eval_users_per_s']:,.0f})" if "eval_s" in res else "") + (
            f" [{res['eval_users']:,} users]" if "eval_s" in res else ""
        )
        grow = f"{res['eval_grow_mb']:.0f} ({res['users_x_items_mb']:,.0f})" if "eval_s" in res else ""
        lat = (
            f"{res['p50_ms']:.1f} / {res['p99_ms']:.1f} at {res['achieved_rate']:.0f}/s"
            if "p50_ms" in res
            else ""
        )
        work = (
            f"{res['service_p50_ms']:.1f} / {res['service_p99_ms']:.1f} ({res['capacity_per_s']:.0f})"
            if "service_p50_ms" in res
            else ""
        )
        fit = fmt(res.get("fit_s"), ".1f") + (
            f" ({res['text_prior_s']:.1f})" if res.get("text_prior_s") is not None else ""
        )
        beam = f" ({_knobs(res['index_calibration'])})" if res.get("index_calibration") else ""
        out.append(
            f"| {r['events']:,} | {r['users']:,} | {r['items']:,} | {_phase(r)} "
            f"| {fmt(time_s, '.2f')}{extra} | {fit} "
            f"| {fmt(res.get('events_per_s'), ',.0f')} | {res['rss_mb']:,.0f} ({res['base_mb']:,.0f}) | {ev} "
            f"| {grow} | {fmt(res.get('ndcg@10'), '.4f')} | {_index(res)} "
            f"| {fmt(res.get('index_build_s'))} | {fmt(res.get('index_recall@10'), '.3f')}{beam} "
            f"| {lat} | {work} |"
        )
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100k,1M", help="interaction counts, e.g. 100k,1M,10M")
    parser.add_argument("--phases", default="load,textseq,sasrec,eval,serve")
    parser.add_argument("--device", default="cpu", help="auto | cpu | cuda | cuda:N (training and scoring)")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-batch", type=int, default=256)
    parser.add_argument("--eval-users", type=int, default=None, help="a seeded subset (default: all)")
    parser.add_argument("--index-items", type=int, default=None, help="pad the ANN index to this many items")
    parser.add_argument(
        "--index", choices=["auto", "hnsw", "ivfpq"], default="auto", help="serve phase (auto: as served)"
    )
    parser.add_argument("--rate", type=float, default=300.0, help="requests per second (open loop)")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--textseq-loss", choices=["full", "sampled"], default=None, help="default: model's")
    parser.add_argument("--sasrec-loss", choices=["full", "sampled"], default=None, help="default: model's")
    parser.add_argument(
        "--no-text-prior",
        action="store_true",
        help="textseq without its text prior (whose gate is fitted on held-out users against the catalog)",
    )
    parser.add_argument("--phase-timeout", type=float, default=3600.0, help="seconds per phase process")
    parser.add_argument(
        "--dataset",
        default="",
        help="a catalog dataset instead of synthetic data (e.g. ml-1m, ml-20m; downloaded when missing); "
        "--sizes is then ignored",
    )
    parser.add_argument("--out", type=Path, default=None, help="write the JSON table here")
    parser.add_argument("--worker", dest="phase", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--tables", default="", help=argparse.SUPPRESS)
    parser.add_argument("--eval", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(worker(args)))
        return

    args.phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip(),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "threads": args.threads,
        "device": args.device,
        "load_average_start": os.getloadavg(),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }
    print(
        f"scale benchmark: {meta['machine']}, {args.threads} thread(s), device {args.device}, "
        f"load average {meta['load_average_start']}"
    )
    rows: list[dict[str, Any]] = []
    from lmrec.data.synthetic import synthetic_dataset

    for n in [0] if args.dataset else [parse_size(s) for s in args.sizes.split(",")]:
        if args.dataset:  # its shape, from the parsed-data cache after the first run
            from lmrec.data import load_dataset

            real = load_dataset(args.dataset, download=True)
            shape = {"n_users": real.n_users, "n_items": real.n_items}
            n = len(real.interactions)
            del real
        else:
            shape = synthetic_dataset(n).meta["synthetic"]
        with tempfile.TemporaryDirectory(prefix="lmrec-scale-") as tmp:
            synthetic_load = "load" in args.phases and not args.dataset
            gen_s = write_tables(n, Path(tmp), args.seed) if synthetic_load else None
            for phase in ("load", "textseq", "sasrec"):
                if phase not in args.phases:
                    continue
                t = time.strftime("%H:%M:%S")
                print(f"[{t}] {n:,} events: {phase} ...", flush=True)
                res = run_phase(args, phase, n, Path(tmp))
                if isinstance(res, dict) and phase == "load":
                    res["generate_s"] = gen_s
                rows.append(
                    {
                        **({"dataset": args.dataset} if args.dataset else {}),
                        "events": n,
                        "users": shape["n_users"],
                        "items": shape["n_items"],
                        "phase": phase,
                        "result": res,
                    }
                )
                print(f"    {json.dumps(res)}", flush=True)
                if args.out:  # after every row: a long run that is stopped keeps what it measured
                    args.out.write_text(json.dumps({**meta, "rows": rows}, indent=1) + "\n")
    meta["load_average_end"] = os.getloadavg()
    print("\n" + format_table(rows))
    if args.out:
        args.out.write_text(json.dumps({**meta, "rows": rows}, indent=1) + "\n")
        print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
