"""Knowledge distillation on ML-100K (leave-one-out by time, full ranking): a wide full+id textseq teacher, a
small textseq student distilled from it, and the same small student trained alone (same seed, same config).

Prints per model: parameters (trainable tensors; the frozen item text vectors are a buffer, counted in the
size on disk), size on disk of the saved model folder, scoring speed (all users, full catalog, batches of 256,
users per second, best of 3), test NDCG@10 / Recall@10 and KL(teacher || model) of the score distributions
over the catalog on the test users. Example::

    OMP_NUM_THREADS=1 nice -n 5 .venv/bin/python benchmarks/distill.py --seed 0 \\
        --teacher "dim=128,n_layers=2,n_heads=4" --student "dim=32,n_layers=1" --temperature 2 --alpha 0.5

``--work DIR --stages ...`` keeps the three models in DIR, so stages can run in separate processes (teacher
and student-alone at the same time, then distill and report) or be rerun (another alpha reuses the teacher)::

    B=".venv/bin/python benchmarks/distill.py --work /tmp/kd"
    $B --stages teacher & $B --stages alone & wait; $B --stages distill,report
Measured 2026-11-27 on the shared 2-core machine (load 5-18, 1 torch thread, MiniLM vectors cached), seed 0.
Teacher: dim 128, 2 layers, 4 heads, item IDs (``--teacher dim=128,n_layers=2,n_heads=4 --common
epochs=30,patience=3``); students: dim 16, 1 layer, no IDs (``--student dim=16,n_layers=1``). users/s swings
with the machine's load (the same teacher read 370 to 1,589 users/s): compare within one run only, where the
student scored 7-9x more users per second than the teacher::

    model                       params    MB   NDCG@10 Recall@10 KL(T||m) fit CPU s  best ep
    teacher (dim 128, id)      903,048  7.60   .1052   .1994     0       204        11
    student alone               58,376  4.22   .0941   .1803     .4516    44         8
    student distilled a=.2 T=1  58,376  4.22   .0981   .1866     .4119    94         8
    student distilled a=.5 T=1  58,376  4.22   .0951   .1787     .4430    67         5
    student distilled a=.5 T=2  58,376  4.22   .0893   .1691     .3829    86         7

With a weaker teacher (dim 64, 2 layers, ids, ``--common epochs=20,patience=2``: NDCG@10 .0845) the student
alone reached .0849, distilled .0861 (alpha .2, T 1) and .0696 (alpha .5, T 2). The folder size is dominated
by the frozen MiniLM item vectors (1,682 x 384 float32 = 2.6 MB), which student and teacher share; the
parameters shrink 15x. One seed each: the +.004 of the best distilled student over the student alone is
within ML-100K's seed noise (std ~.01 in benchmarks/multitask.py).

Data: ``$LMREC_DATA`` or ../shared/data (never part of the repository).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import load


def parse_kv(spec: str) -> dict:
    out = {}
    for part in [p for p in spec.split(",") if p.strip()]:
        k, v = part.split("=", 1)
        try:
            out[k.strip()] = json.loads(v)
        except json.JSONDecodeError:
            out[k.strip()] = v
    return out


def scoring_speed(model, users: np.ndarray, batch: int = 256, repeats: int = 3) -> float:  # noqa: ANN001
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        for s in range(0, len(users), batch):
            model.score(users[s : s + batch])
        best = min(best, time.perf_counter() - t)
    return len(users) / best


STAGES = ("teacher", "alone", "distill", "report")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--teacher", default="dim=128,n_layers=2,n_heads=4", help="teacher textseq options")
    ap.add_argument("--student", default="dim=32,n_layers=1", help="student textseq options")
    ap.add_argument("--common", default="epochs=30,patience=3", help="options of all three")
    ap.add_argument("--temperature", type=float, default=2.0)
    ap.add_argument("--alpha", type=float, default=0.5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--work", type=Path, help="folder of the three models (default: a temporary one)")
    ap.add_argument(
        "--stages",
        default=",".join(STAGES),
        help="comma list of teacher, alone, distill, report; with --work, 'teacher' and 'alone' can run in "
        "two processes at once, then 'distill,report'",
    )
    args = ap.parse_args(argv)
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    if args.work is None:
        with tempfile.TemporaryDirectory() as tmp:
            return run(args, stages, Path(tmp))
    return run(args, stages, args.work)


def run(args: argparse.Namespace, stages: list[str], work: Path) -> int:
    import torch

    from lmrec.compress import directory_bytes
    from lmrec.evaluate import evaluate_model
    from lmrec.models.base import FitOptions, UserBatch
    from lmrec.models.textseq import TextSeq, TextSeqConfig
    from lmrec.transfer.distill import distill, distillation_kl, n_parameters, student_config

    torch.set_num_threads(args.threads)
    ds, split = load("ml-100k")
    opts = FitOptions(seed=args.seed, threads=args.threads)
    common = parse_kv(args.common)
    t_cfg = TextSeqConfig(**{**common, **parse_kv(args.teacher), "id_fusion": True})
    s_cfg = student_config(TextSeq(t_cfg), **{"id_fusion": False, **common, **parse_kv(args.student)})
    folders = {
        "teacher": work / "teacher",
        "student distilled": work / "distilled",
        "student alone": work / "alone",
    }

    def log(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    def train(name: str, fit) -> None:  # noqa: ANN001
        cpu = time.process_time()
        model = fit()
        model.fit_info["bench_fit_cpu_s"] = time.process_time() - cpu
        model.save(folders[name])
        log(f"{name}: best epoch {model.fit_info['train']['best_epoch']}, saved to {folders[name]}")

    if "teacher" in stages:
        train("teacher", lambda: TextSeq(t_cfg).fit(split.train, split.valid, items=ds.items, options=opts))
    if "alone" in stages:
        train(
            "student alone",
            lambda: TextSeq(s_cfg).fit(split.train, split.valid, items=ds.items, options=opts),
        )
    if "distill" in stages:
        teacher = TextSeq.load(folders["teacher"])
        train(
            "student distilled",
            lambda: distill(
                teacher,
                split.train,
                split.valid,
                s_cfg,
                items=ds.items,
                temperature=args.temperature,
                alpha=args.alpha,
                options=opts,
            ),
        )
    if "report" not in stages:
        return 0

    teacher = TextSeq.load(folders["teacher"])
    test_users = np.unique(split.test.user).astype(np.int64)
    seen = split.train.concat(split.valid).sequences()
    test_query = UserBatch(test_users, [seen[u] for u in test_users])
    all_users = np.arange(ds.n_users, dtype=np.int64)
    rows = []
    for name, folder in folders.items():
        model = TextSeq.load(folder)
        ev = evaluate_model(model, split, ks=(10,), stage="test", seed=args.seed, checks=False)
        rows.append(
            {
                "model": name,
                "config": f"dim {model.config.dim}, {model.config.n_layers} layer(s), "
                f"{'id' if model.config.id_fusion else 'no id'}",
                "params": n_parameters(model.module),
                "mb": directory_bytes(folder) / 1e6,
                "users_s": scoring_speed(model, all_users),
                "ndcg": float(ev["ndcg@10"]),
                "recall": float(ev["recall@10"]),
                "kl": distillation_kl(teacher, model, test_query),
                "fit_cpu": model.fit_info.get("bench_fit_cpu_s", float("nan")),
                "best_epoch": model.fit_info.get("train", {}).get("best_epoch", 0),
            }
        )
    print(
        f"# ML-100K LOO, seed {args.seed}, T={args.temperature}, alpha={args.alpha}, {args.threads} torch "
        f"thread(s); common {common}"
    )
    print(
        f"{'model':<18} {'config':<24} {'params':>9} {'MB':>6} {'users/s':>8} {'NDCG@10':>8} "
        f"{'Recall@10':>9} {'KL(T||m)':>8} {'fit CPU s':>9} {'ep':>3}"
    )
    for r in rows:
        print(
            f"{r['model']:<18} {r['config']:<24} {r['params']:>9,} {r['mb']:>6.2f} {r['users_s']:>8.0f} "
            f"{r['ndcg']:>8.4f} {r['recall']:>9.4f} {r['kl']:>8.4f} {r['fit_cpu']:>9.0f} {r['best_epoch']:>3}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
