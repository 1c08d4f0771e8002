"""`make smoke`: the README's tour as a newcomer runs it, with tiny budgets, in a temporary folder.

Two parts, so that a README command that no longer works fails here:

1. every `lmrec ...` line of the README's tour and service sections (and the torchrun line) is checked
   against the installed CLI: the command exists and every option it uses is in the command's `--help`;
2. the tour is run for real on ML-100K with tiny budgets (one epoch, small widths, `--limit`), including the
   service (`lmrec keys create`, `lmrec serve`, then the README's HTTP calls) and the README's Python
   snippet. Commands whose full run needs other datasets or hours (pretraining on three domains, the
   transfer study, torchrun) are covered by part 1 and by their tiny ML-100K equivalents.

Exit code 0 when everything worked; otherwise 1, with the failing command and the tail of its output.
Usage: python scripts/smoke.py [--keep] [--only-readme-check]
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
LMREC = [sys.executable, "-m", "lmrec"]
GROUPS = ("datasets", "feedback", "keys")
TINY_TEXTSEQ = ["--set", "dim=16", "--set", "n_layers=1", "--set", "n_experts=2", "--set", "max_len=20"]


def env() -> dict[str, str]:
    out = {
        **os.environ,
        "COLUMNS": "200",
        "TERM": "dumb",
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"),
    }
    out.setdefault("HF_HUB_OFFLINE", "1")
    out.setdefault("TRANSFORMERS_OFFLINE", "1")
    src = str(REPO / "src")
    out["PYTHONPATH"] = src + (os.pathsep + out["PYTHONPATH"] if out.get("PYTHONPATH") else "")
    return out


def readme_commands() -> list[list[str]]:
    """The `lmrec` command lines of the README's tour, service and own-files sections (comments removed,
    continued lines joined)."""
    text = README.read_text(encoding="utf-8")
    sections = text[text.index("## A tour") : text.index("### In Python")]
    sections += text[text.index("### Your own files") : text.index("## Tests")]
    commands = []
    for line in sections.replace("\\\n", " ").splitlines():
        line = line.split("  #")[0].strip()
        if line.startswith("torchrun "):
            line = line[line.index("-m lmrec") + len("-m ") :]
        if line.startswith("lmrec "):
            commands.append(shlex.split(line)[1:])
    return commands


def readme_python() -> str:
    text = README.read_text(encoding="utf-8")
    block = text[text.index("### In Python") :]
    return block[
        block.index("```python") + len("```python") : block.index("```", block.index("```python") + 9)
    ]


def command_path(args: list[str]) -> list[str]:
    return args[:2] if args and args[0] in GROUPS else args[:1]


def check_readme_line(args: list[str], helps: dict[tuple[str, ...], str]) -> str | None:
    """None when the command exists and knows every option the README gives it; else what is wrong."""
    path = tuple(command_path(args))
    if path not in helps:
        proc = subprocess.run(
            [*LMREC, *path, "--help"], capture_output=True, text=True, env=env(), timeout=120
        )
        if proc.returncode != 0:
            return f"`lmrec {' '.join(path)} --help` failed: {(proc.stderr or proc.stdout).strip()[-300:]}"
        helps[path] = proc.stdout
    help_text = helps[path]
    for token in args[len(path) :]:
        if token.startswith("-") and not re.fullmatch(r"-?\d+(\.\d+)?", token):
            option = token.split("=")[0]
            if not re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", help_text):
                return f"`lmrec {' '.join(path)}` has no option {option}"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Smoke:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.results: list[tuple[str, float, bool]] = []
        self.failed: list[str] = []

    def run(self, args: list[str], *, timeout: float = 600, label: str | None = None) -> str:
        label = label or "lmrec " + " ".join(args)
        t0 = time.perf_counter()
        proc = subprocess.run(
            [*LMREC, *args], cwd=self.work, capture_output=True, text=True, env=env(), timeout=timeout
        )
        ok = proc.returncode == 0
        self.results.append((label, time.perf_counter() - t0, ok))
        print(f"{'ok  ' if ok else 'FAIL'} {time.perf_counter() - t0:6.1f}s  {label}", flush=True)
        if not ok:
            self.failed.append(f"{label}\n  exit {proc.returncode}\n{(proc.stdout + proc.stderr)[-2000:]}")
        return proc.stdout

    def check(self, label: str, ok: bool, detail: str = "") -> None:
        self.results.append((label, 0.0, ok))
        print(f"{'ok  ' if ok else 'FAIL'}          {label}", flush=True)
        if not ok:
            self.failed.append(f"{label}\n{detail}")


def tour(s: Smoke) -> None:
    s.run(["datasets", "list"])
    out = s.run(["datasets", "stats", "ml-100k", "--json"])
    s.check("stats: 100,000 interactions", '"interactions": 100000' in out, out[-500:])
    s.run(["datasets", "download", "ml-100k"])
    s.run(["encode", "--dataset", "ml-100k", "--encoder", "minilm", "--out", "v.npy"])
    # honest evaluation: the README's models, tuned where the default grids are quick, one epoch elsewhere
    s.run(["evaluate", "--dataset", "ml-100k", "--models", "pop,itemknn,ease", "--tune", "--json", "r.json",
           "--report", "rep/", "--no-progress"])  # fmt: skip
    s.run(["evaluate", "--dataset", "ml-100k", "--models", "bpr,als,sasrec", "--set", "bpr.epochs=2",
           "--set", "als.iterations=2", "--set", "sasrec.epochs=1", "--set", "sasrec.dim=16",
           "--compare-to", "bpr", "--no-progress"])  # fmt: skip
    # the text models
    tiny = ["--epochs", "1", *TINY_TEXTSEQ, "--no-progress"]
    s.run(
        [
            "train",
            "--dataset",
            "ml-100k",
            "--model",
            "textseq",
            "--id-fusion",
            "--out",
            "models/ml100k",
            *tiny,
        ]
    )
    s.run(["recommend", "models/ml100k", "--user", "196", "-k", "10", "--explain"])
    out = s.run(["recommend", "models/ml100k", "--text", "a funny animated film for children"])
    s.check("recommend --text prints 10 items", len(out.strip().splitlines()) == 10, out)
    s.run(["train", "--dataset", "ml-100k", "--model", "textseq", "--aux-rating", "0.1",
           "--aux-sentiment", "0.1", "--out", "models/ml100k-mt", *tiny])  # fmt: skip
    s.run(["distill", "models/ml100k", "--dataset", "ml-100k", "--dim", "8", "--layers", "1", "--epochs", "1",
           "--out", "models/ml100k-student", "--no-progress"])  # fmt: skip
    # transfer, on ML-100K alone (the README pretrains on three domains)
    s.run(["pretrain", "--datasets", "ml-100k", "--out", "models/pre", "--epochs", "1", "--max-users", "200",
           *TINY_TEXTSEQ[:6], "--no-progress"])  # fmt: skip
    s.run(["adapt", "models/pre", "--dataset", "ml-100k", "--mode", "adaptor", "--set", "epochs=1",
           "--out", "models/ml100k-adapted", "--no-progress"])  # fmt: skip
    # review feedback (a sample of each corpus), compression
    s.run(["feedback", "train", "--data", "mdsd-books,mdsd-dvd", "--encoder", "minilm", "--limit", "20",
           "--out", "models/sentiment"])  # fmt: skip
    s.run(["feedback", "evaluate", "models/sentiment", "--data", "mdsd-electronics", "--limit", "20"])
    s.run(["compress", "models/ml100k", "--vectors", "rq", "--prune", "0.3", "--finetune-epochs", "1",
           "--out", "models/ml100k-small"])  # fmt: skip


def service(s: Smoke) -> None:
    db = f"sqlite:///{s.work / 'serve.db'}"
    # as the README: a read + events key for the shop, a catalog key for item writes
    key = s.run(
        ["keys", "create", "--db", db, "--name", "shop", "--scope", "read", "--scope", "events"]
    ).strip()
    s.check("keys create prints a key", key.startswith("lmk_"), key)
    catalog_key = s.run(
        ["keys", "create", "--db", db, "--name", "catalog-sync", "--scope", "catalog"]
    ).strip()
    s.check("keys create --scope catalog prints a key", catalog_key.startswith("lmk_"), catalog_key)
    port = free_port()
    log = open(s.work / "serve.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [*LMREC, "serve", "models/ml100k", "--db", db, "--report", "rep", "--port", str(port)],
        cwd=s.work, stdout=log, stderr=subprocess.STDOUT, env=env(),
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        up = False
        while time.monotonic() < deadline and proc.poll() is None and not up:
            try:
                up = urllib.request.urlopen(base + "/health", timeout=2).status == 200
            except OSError:
                time.sleep(0.5)
        s.check("lmrec serve answers /health", up, (s.work / "serve.log").read_text(errors="replace")[-2000:])
        if not up:
            return
        auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        catalog_auth = {"Authorization": f"Bearer {catalog_key}", "Content-Type": "application/json"}
        calls = [
            ("GET", "/users/196/recommendations?k=5&explain=true", None, {"Authorization": f"Bearer {key}"}),
            ("GET", "/search?q=space+adventure&k=5", None, {}),
            ("GET", "/items/50/similar?k=5", None, {}),
            ("POST", "/recommendations", {"items": ["50", "181"], "text": "something funnier", "k": 5},
             {"Content-Type": "application/json"}),
            ("POST", "/events", {"events": [{"user_id": "196", "type": "click", "item_id": "172"}]},
             {**auth, "Idempotency-Key": "req-1"}),
            ("POST", "/items", {"id": "new-1", "title": "Interstellar (2014)",
                                "categories": ["Sci-Fi", "Drama"]}, catalog_auth),
            # privacy by default: no key, no user data
            ("GET!401", "/users/196/recommendations?k=5", None, {}),
            ("GET", "/metrics", None, {}),
            ("GET", "/report", None, {}),
        ]  # fmt: skip
        for method, path, body, headers in calls:
            method, _, expect = method.partition("!")
            data = json.dumps(body).encode() if body is not None else None
            req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
            try:
                status, detail = urllib.request.urlopen(req, timeout=60).status, ""
            except urllib.error.HTTPError as exc:
                status, detail = exc.code, exc.read().decode(errors="replace")[:500]
            except OSError as exc:
                status, detail = 0, str(exc)
            ok = status == int(expect) if expect else 200 <= status < 300
            s.check(f"{method} {path} -> {status}", ok, detail)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def python_snippet(s: Smoke) -> None:
    """The README's Python block, with a one-epoch, narrow textseq."""
    code = readme_python()
    tiny = "TextSeq(id_fusion=True, epochs=1, dim=16, n_layers=1, n_experts=2, max_len=20)"
    code = code.replace("TextSeq(id_fusion=True)", tiny)
    script = s.work / "readme_snippet.py"
    script.write_text(code + "\nprint('snippet ok')\n", encoding="utf-8")
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(script)], cwd=s.work, capture_output=True, text=True, env=env(), timeout=600
    )
    ok = proc.returncode == 0 and "snippet ok" in proc.stdout
    s.results.append(("README Python snippet", time.perf_counter() - t0, ok))
    print(f"{'ok  ' if ok else 'FAIL'} {time.perf_counter() - t0:6.1f}s  README Python snippet", flush=True)
    if not ok:
        s.failed.append(f"README Python snippet\n{(proc.stdout + proc.stderr)[-2000:]}")


def main() -> int:
    keep = "--keep" in sys.argv
    work = Path(tempfile.mkdtemp(prefix="lmrec-smoke-"))
    s = Smoke(work)
    t0 = time.perf_counter()
    print(f"lmrec smoke test in {work}", flush=True)
    helps: dict[tuple[str, ...], str] = {}
    for args in readme_commands():
        problem = check_readme_line(args, helps)
        s.check("README: lmrec " + " ".join(args)[:90], problem is None, problem or "")
    if "--only-readme-check" not in sys.argv and not s.failed:
        tour(s)
        service(s)
        python_snippet(s)
    passed = sum(ok for *_, ok in s.results)
    print(f"{passed} of {len(s.results)} checks passed in {time.perf_counter() - t0:.0f}s")
    for failure in s.failed:
        print("\nFAILED: " + failure, file=sys.stderr)
    if keep or s.failed:
        print(f"(work folder kept: {work})")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if s.failed else 0


if __name__ == "__main__":
    sys.exit(main())
