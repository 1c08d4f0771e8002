"""Paired comparison of sweep runs on the same test users: ratio to a baseline with a bootstrap interval.

Reads the JSON lines of ``benchmarks/textseq_sweep.py --json`` (which keep every run's per-user test NDCG@10),
averages each run group's per-user values over its seeds, and compares every group with the baseline user by
user (``lmrec.evaluate.paired_comparison``: percentile bootstrap over users, paired t-test). A group is
``LABEL=FILE`` or ``LABEL=FILE@key=value,...`` (only runs whose ``set``/``point`` options have those values)::

    .venv/bin/python benchmarks/paired.py --target 1.15 \\
        --baseline sasrec=/tmp/sasrec.jsonl "textseq+id=/tmp/tid.jsonl@ema=0.998"

The interval covers the test-set sampling noise of the users (and the seed noise the averaged seeds show), not
the choice of split.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from lmrec.evaluate import paired_comparison


def load_group(spec: str) -> tuple[str, np.ndarray, np.ndarray, list[int]]:
    """Label, user ids, per-user NDCG@10 averaged over the group's seeds, and the seeds."""
    label, _, rest = spec.partition("=")
    path, _, where = rest.partition("@")
    wanted = {}
    for cond in filter(None, where.split(",")):
        key, _, value = cond.partition("=")
        wanted[key] = json.loads(value)
    users, rows, seeds = None, [], []
    with open(path) as fh:
        for line in fh:
            run = json.loads(line)
            options = {**run.get("set", {}), **run.get("point", {})}
            if any(options.get(k) != v for k, v in wanted.items()):
                continue
            if "test_ndcg@10_per_user" not in run:
                raise SystemExit(f"{path}: a run without per-user values (rerun it with this sweep version)")
            u = np.asarray(run["test_users"])
            if users is not None and not np.array_equal(users, u):
                raise SystemExit(f"{path}: runs on different test users")
            users = u
            rows.append(run["test_ndcg@10_per_user"])
            seeds.append(run["seed"])
    if not rows:
        raise SystemExit(f"{spec}: no run matches")
    return label, users, np.mean(rows, axis=0), seeds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", required=True, help="LABEL=FILE[@key=value,...]")
    ap.add_argument("groups", nargs="+", help="LABEL=FILE[@key=value,...] to compare with the baseline")
    ap.add_argument("--target", type=float, default=None, help="a ratio to check the interval against")
    ap.add_argument("--boot", type=int, default=10_000)
    args = ap.parse_args(argv)
    base_label, base_users, base, base_seeds = load_group(args.baseline)
    print(f"baseline {base_label}: NDCG@10 {base.mean():.4f} (seeds {base_seeds}, {len(base_users)} users)")
    target_col = (" target |", "---|") if args.target else ("", "")
    print("| model | seeds | NDCG@10 | ratio [95% CI] | p (paired t) |" + target_col[0])
    print("|---|---|---|---|---|" + target_col[1])
    for spec in args.groups:
        label, users, values, seeds = load_group(spec)
        if not np.array_equal(users, base_users):
            raise SystemExit(f"{label}: evaluated on other users than the baseline")
        c = paired_comparison(values, base, n_boot=args.boot)
        row = (
            f"| {label} | {','.join(map(str, seeds))} | {c.mean_a:.4f} | {c.ratio:.3f} "
            f"[{c.ratio_ci[0]:.3f}, {c.ratio_ci[1]:.3f}] | {c.p_value:.3g} |"
        )
        if args.target:
            if c.ratio_ci[0] >= args.target:
                row += " met |"
            elif c.ratio_ci[1] < args.target:
                row += " not met |"
            else:
                row += " inside the interval |"
        print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
