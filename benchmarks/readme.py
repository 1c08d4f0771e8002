"""Regenerate the README tables that a benchmark script can rebuild, and print where the README differs.

A regenerable table sits between ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->`` in README.md. For each
one this script runs its benchmark (a subprocess writing JSON), renders the table with the benchmark's own
formatter, and prints a unified diff against the README's block (numbers move from run to run on a shared
machine: read the diff for what changed in kind, not for the last digit). ``--write`` puts the new tables
into README.md. Tables without markers (peers, transfer, compression, ...) are measured by their own
scripts, named next to each table with its date; this script lists them at the end.

    python benchmarks/readme.py --quick     # about 5-10 minutes on 2 cores: encoders (1 thread), scale 100k
    python benchmarks/readme.py --full      # also the encoders at 2 threads and scale at 1M
    make bench-readme                       # = --quick

Blocks: ``encoders`` (benchmarks/encoders.py, one thread, CPU clock; --quick on 150 texts per dataset),
``scale`` (benchmarks/scale.py: --quick 100k events, load + SASRec + evaluation; --full adds textseq with the
sampled loss, the ANN latency and 1M events).
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
README = ROOT / "README.md"
sys.path.insert(0, str(HERE))


def _run(args: list[str], out: Path, threads: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run([sys.executable, *args, "--out", str(out)], cwd=HERE, env=env, text=True)
    if proc.returncode != 0 or not out.is_file():
        raise SystemExit(f"{args[0]} failed (exit {proc.returncode})")
    return json.loads(out.read_text(encoding="utf-8"))


def encoders_table(full: bool, tmp: Path) -> str:
    import encoders

    n = "300" if full else "150"
    blocks = []
    for threads, clock in ((1, "cpu"), (2, "wall")) if full else ((1, "cpu"),):
        data = _run(
            ["encoders.py", "--n", n, "--rounds", "2", "--threads", str(threads), "--clock", clock],
            tmp / f"encoders-{threads}.json",
            threads,
        )
        blocks += [encoders.format_block(b) for b in data["results"]]
    return "\n\n".join(blocks)


def scale_table(full: bool, tmp: Path) -> str:
    import scale

    args = ["scale.py", "--sizes", "100k,1M" if full else "100k", "--eval-users", "20000"]
    args += (
        ["--phases", "load,textseq,sasrec,eval,serve", "--textseq-loss", "sampled"]
        if full
        else [
            "--phases",
            "load,sasrec,eval",
        ]
    )
    data = _run(args, tmp / "scale.json", 1)
    return scale.format_table(data["rows"])


BLOCKS: dict[str, Callable[[bool, Path], str]] = {"encoders": encoders_table, "scale": scale_table}


def block_pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- bench:{name} -->\n)(.*?)(\n<!-- /bench:{name} -->)", re.S)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the default: minutes, small samples")
    parser.add_argument(
        "--full", action="store_true", help="larger samples, 2 threads, 1M (wins over --quick)"
    )
    parser.add_argument("--only", default="", help="comma list of blocks (default: all)")
    parser.add_argument(
        "--write", action="store_true", help="replace the README's blocks with the new tables"
    )
    args = parser.parse_args()
    text = README.read_text(encoding="utf-8")
    wanted = [b for b in (args.only.split(",") if args.only else BLOCKS) if b]
    differs = 0
    with tempfile.TemporaryDirectory(prefix="lmrec-readme-") as tmp:
        for name in wanted:
            if name not in BLOCKS:
                raise SystemExit(f"--only: unknown block {name!r}; known: {', '.join(BLOCKS)}")
            match = block_pattern(name).search(text)
            if match is None:
                print(f"README.md has no <!-- bench:{name} --> block; skipped")
                continue
            print(f"== {name}: running ...", flush=True)
            new = BLOCKS[name](args.full, Path(tmp)).strip()
            old = match.group(2).strip()
            diff = list(
                difflib.unified_diff(
                    old.splitlines(), new.splitlines(), "README.md", f"{name} (this run)", lineterm=""
                )
            )
            if diff:
                differs += 1
                print("\n".join(diff))
            else:
                print(f"== {name}: README matches")
            if args.write:
                text = block_pattern(name).sub(lambda m, new=new: m.group(1) + new + m.group(3), text)
    if args.write:
        README.write_text(text, encoding="utf-8")
    bench_part = text.split("\n## Benchmarks", 1)[-1].split("\n## ", 1)[0]
    sections = re.split(r"^### ", bench_part, flags=re.M)[1:]
    others = [sec.splitlines()[0] for sec in sections if "<!-- bench:" not in sec]
    print(f"\n{differs} of {len(wanted)} regenerated blocks differ from README.md.")
    print("Measured by their own scripts (see each section for the command and date): " + "; ".join(others))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
