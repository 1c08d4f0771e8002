"""Issue 18, finding 1: where chromium cannot be found the browser test is skipped with a one-line reason
saying how to enable it (a fresh machine's `make test` passes); CI (LMREC_REQUIRE_BROWSER=1) fails instead."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_browser_test(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "LMREC_CHROMIUM": str(tmp_path / "no-chromium-here"), **env}
    full["PYTHONPATH"] = str(REPO / "src") + os.pathsep + full.get("PYTHONPATH", "")
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-rs",
        "-p",
        "no:cacheprovider",
        "tests/serve/test_browser.py",
    ]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=full, timeout=300)


def test_without_chromium_the_browser_test_is_skipped_saying_how_to_enable_it(tmp_path):
    proc = run_browser_test(tmp_path, LMREC_REQUIRE_BROWSER="0")
    assert proc.returncode == 0, proc.stdout[-3000:]
    skipped = [ln for ln in proc.stdout.splitlines() if ln.startswith("SKIPPED")]
    # one line per browser test, each saying how to enable it
    assert skipped and all(".ci/browser.sh" in ln and "LMREC_CHROMIUM" in ln for ln in skipped), skipped


def test_ci_requires_the_browser(tmp_path):
    proc = run_browser_test(tmp_path, LMREC_REQUIRE_BROWSER="1")
    assert proc.returncode != 0 and "LMREC_REQUIRE_BROWSER=1" in proc.stdout, proc.stdout[-3000:]
