"""Schemathesis, driven by /openapi.json, against a real server per store (SQLite; PostgreSQL when
``LMREC_TEST_POSTGRES_URL`` is set): every check it has, in every phase (coverage, fuzzing, stateful), within
a fixed time budget per store (``LMREC_SCHEMATHESIS_SECONDS``, default 20 s) and a fixed seed.

Asserted: no 5xx, every status code, header, content type and body conforms to the schema, schema-valid
requests are accepted and invalid ones rejected, undeclared methods get 405 with an honest ``Allow``, a
created item is found, auth is not ignored. The server has its own store: the fuzzer creates and deletes
items."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.serve.conftest import ARTIFACTS, STORES, fresh_db_url, settings_file, start_server, stop_server

pytest.importorskip("schemathesis")
BUDGET_S = int(os.environ.get("LMREC_SCHEMATHESIS_SECONDS", "20"))


@pytest.mark.parametrize("kind", STORES)
def test_schemathesis_finds_no_failure(kind: str, model_dir: Path, tmp_path: Path) -> None:
    db_url = fresh_db_url(kind, tmp_path, "lmrec_schemathesis_tests")
    settings = settings_file(tmp_path / "settings.json")
    server = start_server(model_dir, db_url, tmp_path / "server.log", "--settings", str(settings))
    report = ARTIFACTS / f"schemathesis-{kind}.xml"
    cmd = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        server.url + "/openapi.json",
        "--header",
        f"Authorization: Bearer {server.key}",
        "--checks",
        "all",
        "--max-time",
        str(BUDGET_S),
        "--seed",
        "1",
        "--workers",
        "1",
        "--suppress-health-check",
        "all",
        "--report",
        "junit",
        "--report-junit-path",
        str(report),
    ]
    try:
        # cwd: schemathesis keeps a cache folder in the working directory
        run = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=BUDGET_S + 120)
    finally:
        stop_server(server)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-8000:]
    assert "No issues found" in out and "passed" in out, out[-8000:]
