"""A real uvicorn server (subprocess, 127.0.0.1, random free port) per store: SQLite always, PostgreSQL when
``LMREC_TEST_POSTGRES_URL`` is set. The model is Popularity on the tiny dataset, with its catalog.

Servers started here run with rate limits far above what a test sends (:data:`TEST_LIMITS`), so the default
limits never slow or flake a test; the rate-limit tests set their own small ones."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from lmrec.models.popularity import Popularity
from lmrec.serve import write_catalog
from lmrec.testing import tiny_dataset

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("LMREC_TEST_ARTIFACTS", REPO / "build" / "test-artifacts")) / "serve"
PG_URL = os.environ.get("LMREC_TEST_POSTGRES_URL")
STORES = ["sqlite"] + (["postgresql"] if PG_URL else [])
_HIGH = {"per_second": 100_000, "burst": 100_000}
TEST_LIMITS = {
    "rate_limits": {"address": _HIGH, "key": _HIGH, "encoder_address": _HIGH, "encoder_key": _HIGH}
}


def settings_file(path: Path, **settings: object) -> Path:
    """A ServeSettings JSON file with the test rate limits plus ``settings``."""
    path.write_text(json.dumps({**TEST_LIMITS, **settings}), encoding="utf-8")
    return path


@dataclass
class Server:
    url: str
    key: str
    db_url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def client(self, auth: bool = True) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.key}"} if auth else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def lmrec_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "lmrec", *args]


def start_server(
    model_dir: Path,
    db_url: str,
    log: Path,
    *extra: str,
    timeout: float = 180,
    scopes: tuple[str, ...] = ("admin",),
) -> Server:
    """Create a key with the CLI (``scopes``), start `lmrec serve` and wait until /health answers."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    scope_args = [a for s in scopes for a in ("--scope", s)]
    key = subprocess.run(
        lmrec_cmd("keys", "create", "--db", db_url, "--name", "tests", *scope_args),
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout.strip()
    port = free_port()
    fh = open(log, "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        lmrec_cmd("serve", str(model_dir), "--db", db_url, "--port", str(port), *extra),
        stdout=fh,
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"server exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}"
            )
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return Server(url, key, db_url, proc, log)
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"server did not start in {timeout} s:\n{log.read_text(errors='replace')[-3000:]}")


def start_workers(model_dir: Path, tmp_path: Path, settings: Path, workers: int = 2) -> Server:
    """`lmrec serve --workers N` with ``settings`` over a fresh SQLite store in ``tmp_path``."""
    db, log = f"sqlite:///{tmp_path / 'w.sqlite'}", tmp_path / "w.log"
    return start_server(model_dir, db, log, "--workers", str(workers), "--settings", str(settings))


def stop_server(server: Server) -> None:
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGTERM)
        try:
            server.proc.wait(20)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()


def fresh_db_url(kind: str, tmp: Path, name: str) -> str:
    """An empty store: a new SQLite file, or a fresh PostgreSQL schema ``name`` (selected by search_path)."""
    if kind == "sqlite":
        return f"sqlite:///{tmp / (name + '.sqlite')}"
    assert PG_URL is not None
    from sqlalchemy import create_engine, text

    from lmrec.serve.store import _normalise_url

    engine = create_engine(_normalise_url(PG_URL))
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {name} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {name}"))
    engine.dispose()
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{name}"


@pytest.fixture(scope="session")
def tiny():
    return tiny_dataset()


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory, tiny) -> Path:
    out = tmp_path_factory.mktemp("serve_model") / "pop"
    Popularity().fit(tiny.interactions, items=tiny.items).save(out)
    write_catalog(tiny, out)
    return out


@pytest.fixture(scope="session")
def report_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    (out / "report.html").write_text(
        "<!doctype html><html lang='en'><title>r</title><body><h1>NDCG@10 table</h1></body></html>",
        encoding="utf-8",
    )
    return out


@pytest.fixture(scope="session", params=STORES)
def server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    model_dir: Path,
    report_dir: Path,
) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp(f"server_{request.param}")
    db_url = fresh_db_url(request.param, tmp, "lmrec_api_tests")
    settings = settings_file(tmp / "settings.json")
    srv = start_server(
        model_dir, db_url, tmp / "server.log", "--report", str(report_dir), "--settings", str(settings)
    )
    yield srv
    stop_server(srv)
