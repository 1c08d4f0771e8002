"""Every `lmrec` line of the README's tour exists with the options it uses (the quick part of `make smoke`,
so that `make test` notices a README command that no longer matches the CLI)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_readme_tour_commands_match_the_cli():
    env = {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "smoke.py"), "--only-readme-check"],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "README: lmrec train" in proc.stdout and "README: lmrec serve" in proc.stdout


def test_the_readme_opens_with_exactly_make_demo_and_make_test():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    first = text.split("```", 2)[1]
    commands = [line.split("#")[0].strip() for line in first.splitlines() if line.split("#")[0].strip()]
    assert commands == ["make demo", "make test"], commands
