"""Acknowledged events survive a kill -9 of the server: every id it answered with is in the store."""

from __future__ import annotations

import signal
import threading
import time

import httpx
import numpy as np
import pytest

from lmrec.serve.store import Store
from tests.serve.conftest import STORES, fresh_db_url, settings_file, start_server, stop_server


@pytest.mark.parametrize("kind", STORES)
def test_acknowledged_events_survive_kill_9(kind: str, model_dir, tmp_path) -> None:
    db_url = fresh_db_url(kind, tmp_path, "lmrec_durability_tests")
    # precomputed item vectors: this server never needs the text encoder, so it starts fast
    vectors = np.random.default_rng(0).normal(size=(30, 8)).astype(np.float32)
    np.save(tmp_path / "vectors.npy", vectors)
    settings_file(tmp_path / "settings.json", item_vectors=str(tmp_path / "vectors.npy"))
    server = start_server(
        model_dir,
        db_url,
        tmp_path / "server.log",
        "--settings",
        str(tmp_path / "settings.json"),
        scopes=("events",),
    )
    acked: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()

    def post(worker: int) -> None:
        with server.client() as c:
            n = 0
            while not stop.is_set():
                n += 1
                body = {"events": [{"user_id": f"d{worker}", "type": "view", "item_id": f"i{n % 30}"}]}
                try:
                    r = c.post(
                        "/events", json=body, headers={"Idempotency-Key": f"w{worker}-{n}"}, timeout=10
                    )
                except httpx.HTTPError:
                    return  # the server is gone: whatever was not answered was not acknowledged
                if r.status_code == 200:
                    with lock:
                        acked.extend(r.json()["ids"])

    threads = [threading.Thread(target=post, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len(acked) < 150 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.proc.send_signal(signal.SIGKILL)  # no shutdown handlers, no flush: a crash
    server.proc.wait()
    stop.set()
    for t in threads:
        t.join()
    stop_server(server)
    assert len(acked) >= 150
    store = Store(db_url)
    stored = store.event_ids()
    store.close()
    missing = set(acked) - stored
    assert not missing, f"{len(missing)} acknowledged events lost"
