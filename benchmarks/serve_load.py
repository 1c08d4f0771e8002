"""Load and durability benchmark of `lmrec serve` over loopback; prints tables.

Catalog: ``--items`` (default 100,000) synthetic item vectors of dimension ``--dim`` (384, MiniLM's width),
built as a mixture: 2,000 random unit "topic" centres, each item = centre + Gaussian noise (sigma 0.06 per
coordinate, i.e. about the spread of MiniLM vectors within one product category), renormalised. Users: each of
``--users`` users has 20 history items drawn from one or two topics. The model is the zero-shot ``content``
recommender over these vectors (profile = recency-weighted mean of the history vectors; score = dot product),
so the service retrieves through the item index: exact (IndexFlatIP) or HNSW.

Phase 1, per index: a server process (1 worker, SQLite store) answers ``GET /users/{id}/recommendations?k=10``
from 10, 50 and 100 concurrent asyncio clients for ``--seconds`` each: p50/p99 latency and throughput.
Recall@10 of HNSW = overlap of its top 10 with the exact server's top 10 for the same 300 users.

Phase 2, durability: ``--events`` events are POSTed (one per request, each with its own Idempotency-Key, 20
concurrent writers, 10 concurrent recommendation readers) to a server on the tiny catalog; after 30% are
acknowledged the server is killed with SIGKILL and restarted; writers retry unanswered requests with the same
key. At the end: events acknowledged vs stored, lost (acknowledged but absent) and duplicates.

The load generator runs on the same machine as the server (2 shared cores here), so absolute numbers are
pessimistic. Usage: ``python benchmarks/serve_load.py [--items N] [--seconds S] [--postgres URL]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_catalog(out: Path, n_items: int, dim: int, n_users: int, seed: int = 0) -> tuple[Path, list[str]]:
    """The synthetic content model + catalog described in the module docstring."""
    import pandas as pd

    from lmrec.data import Dataset, Interactions, ItemTable
    from lmrec.models.content import ContentRecommender
    from lmrec.serve import write_catalog

    rng = np.random.default_rng(seed)
    n_topics = 2000
    centres = rng.normal(size=(n_topics, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    topic = rng.integers(0, n_topics, n_items)
    vecs = centres[topic] + rng.normal(scale=0.06, size=(n_items, dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    by_topic = [np.flatnonzero(topic == t) for t in range(n_topics)]
    users, items, times = [], [], []
    for u in range(n_users):
        topics = rng.integers(0, n_topics, 2)
        for t in range(20):
            pool = by_topic[topics[t % 2]]
            pool = pool if len(pool) else np.arange(n_items)
            users.append(u)
            items.append(int(rng.choice(pool)))
            times.append(t)
    frame = pd.DataFrame(
        {"item_id": [f"p{i}" for i in range(n_items)], "title": [f"product {i}" for i in range(n_items)]}
    )
    frame["vec"] = list(vecs)
    inter = Interactions(np.array(users), np.array(items), np.array(times), n_users=n_users, n_items=n_items)
    data = Dataset(
        "synthetic",
        "bench",
        inter,
        ItemTable(frame, text_fields=("title",), vector_fields=("vec",)),
        np.array([f"u{u}" for u in range(n_users)]),
        frame["item_id"].to_numpy(),
    )
    model = ContentRecommender(vector_field="vec").fit(inter, items=data.items)
    model_dir = out / "content100k"
    model.save(model_dir)
    write_catalog(data, model_dir)
    return model_dir, [f"u{u}" for u in range(n_users)]


def build_tiny(out: Path) -> Path:
    from lmrec.models.popularity import Popularity
    from lmrec.serve import write_catalog
    from lmrec.testing import tiny_dataset

    data = tiny_dataset()
    model_dir = out / "tiny"
    Popularity().fit(data.interactions, items=data.items).save(model_dir)
    write_catalog(data, model_dir)
    np.save(
        out / "tiny_vectors.npy", np.random.default_rng(0).normal(size=(data.n_items, 16)).astype(np.float32)
    )
    (out / "tiny_settings.json").write_text(json.dumps({"item_vectors": str(out / "tiny_vectors.npy")}))
    return model_dir


class Server:
    def __init__(self, model_dir: Path, db: str, log: Path, *extra: str) -> None:
        self.model_dir, self.db, self.log, self.extra = model_dir, db, log, extra
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 900) -> float:
        import httpx

        t0 = time.perf_counter()
        env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"), "HF_HUB_OFFLINE": "1"}
        cmd = [
            sys.executable,
            "-m",
            "lmrec",
            "serve",
            str(self.model_dir),
            "--db",
            self.db,
            "--port",
            str(self.port),
            *self.extra,
        ]
        self.proc = subprocess.Popen(cmd, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT, env=env)  # noqa: SIM115
        while time.perf_counter() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server died: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return time.perf_counter() - t0
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("server start timed out")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def create_key(db: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "lmrec", "keys", "create", "--db", db, "--name", "bench"],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


async def load(url: str, users: list[str], concurrency: int, seconds: float) -> dict[str, float]:
    """Closed-loop clients hammering GET recommendations; latency percentiles and throughput."""
    import httpx

    lat: list[float] = []
    errors = 0
    rng = np.random.default_rng(concurrency)
    stop_at = time.perf_counter() + seconds

    async def client(c: httpx.AsyncClient, wid: int) -> None:
        nonlocal errors
        i = int(rng.integers(0, len(users)))
        while time.perf_counter() < stop_at:
            i = (i + 7919) % len(users)
            t = time.perf_counter()
            r = await c.get(f"/users/{users[i]}/recommendations", params={"k": 10})
            lat.append(time.perf_counter() - t)
            errors += r.status_code != 200

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as c:
        t0 = time.perf_counter()
        await asyncio.gather(*(client(c, w) for w in range(concurrency)))
        wall = time.perf_counter() - t0
    a = np.array(lat) * 1000
    return {
        "n": len(a),
        "p50": float(np.percentile(a, 50)),
        "p99": float(np.percentile(a, 99)),
        "rps": len(a) / wall,
        "errors": errors,
    }


def fetch_top(url: str, users: list[str]) -> dict[str, list[str]]:
    import httpx

    with httpx.Client(base_url=url, timeout=60) as c:
        return {
            u: [x["id"] for x in c.get(f"/users/{u}/recommendations", params={"k": 10}).json()["items"]]
            for u in users
        }


async def durability(server: Server, key: str, n_events: int, users: list[str]) -> dict[str, Any]:
    import httpx

    todo = asyncio.Queue[int]()
    for i in range(n_events):
        todo.put_nowait(i)
    acked: dict[int, list[int]] = {}
    retries = 0
    killed = asyncio.Event()
    done = asyncio.Event()

    async def writer(c: httpx.AsyncClient) -> None:
        nonlocal retries
        while True:
            try:
                i = todo.get_nowait()
            except asyncio.QueueEmpty:
                return
            body = {"events": [{"user_id": f"dur{i % 500}", "type": "view", "item_id": f"i{i % 30}"}]}
            while True:
                try:
                    r = await c.post("/events", json=body, headers={"Idempotency-Key": f"ev-{i}"})
                    if r.status_code == 200:
                        acked[i] = r.json()["ids"]
                        break
                except httpx.HTTPError:
                    pass
                retries += 1
                await asyncio.sleep(0.2)

    async def reader(c: httpx.AsyncClient) -> None:
        j = 0
        while not done.is_set():
            j += 1
            try:
                await c.get(f"/users/{users[j % len(users)]}/recommendations", params={"k": 10})
            except httpx.HTTPError:
                await asyncio.sleep(0.2)

    async def killer() -> None:
        while len(acked) < 0.3 * n_events:
            await asyncio.sleep(0.02)
        server.kill9()
        killed.set()
        await asyncio.sleep(0.5)
        await asyncio.to_thread(server.start)

    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as c:
        t0 = time.perf_counter()
        readers = [asyncio.create_task(reader(c)) for _ in range(10)]
        k = asyncio.create_task(killer())
        await asyncio.gather(*(writer(c) for _ in range(20)))
        wall = time.perf_counter() - t0
        done.set()
        await asyncio.gather(*readers, k)
    from lmrec.serve.store import Store

    store = Store(server.db)
    stored = store.event_ids()
    store.close()
    ack_ids = {x for ids in acked.values() for x in ids}
    return {
        "sent": n_events,
        "acknowledged": len(acked),
        "stored": len(stored),
        "lost": len(ack_ids - stored),
        "duplicates": len(stored) - len(acked),
        "retries": retries,
        "killed": killed.is_set(),
        "seconds": wall,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[10, 50, 100])
    ap.add_argument("--events", type=int, default=10_000)
    ap.add_argument("--postgres", default=None, help="also run the durability phase on this PostgreSQL URL")
    ap.add_argument("--skip-load", action="store_true")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="lmrec-serve-bench-") as tmp_s:
        tmp = Path(tmp_s)
        if not args.skip_load:
            t0 = time.perf_counter()
            model_dir, users = build_catalog(tmp, args.items, args.dim, args.users)
            print(
                f"catalog: {args.items} items x {args.dim} dims, {args.users} users, built in "
                f"{time.perf_counter() - t0:.1f} s",
                flush=True,
            )
            rows, tops = [], {}
            for kind in ("exact", "hnsw"):
                srv = Server(
                    model_dir, f"sqlite:///{tmp / (kind + '.sqlite')}", tmp / f"{kind}.log", "--index", kind
                )
                startup = srv.start()
                try:
                    asyncio.run(load(srv.url, users, 4, 1.0))  # warm-up
                    for c in args.concurrency:
                        r = asyncio.run(load(srv.url, users, c, args.seconds))
                        rows.append((kind, c, r, startup))
                        print(
                            f"  {kind:5s} c={c:3d}: p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms, "
                            f"{r['rps']:.0f} req/s, errors {r['errors']}",
                            flush=True,
                        )
                    tops[kind] = fetch_top(srv.url, users[:300])
                finally:
                    srv.stop()
            recall = np.mean([len(set(tops["hnsw"][u]) & set(tops["exact"][u])) / 10 for u in users[:300]])
            print()
            print("GET /users/{id}/recommendations?k=10 (1 server process, SQLite, loopback)")
            print(
                f"{'index':6s} {'clients':>7s} {'requests':>8s} {'p50 ms':>8s} {'p99 ms':>8s} {'req/s':>7s} "
                f"{'errors':>6s} {'start s':>7s}"
            )
            for kind, c, r, startup in rows:
                print(
                    f"{kind:6s} {c:7d} {r['n']:8d} {r['p50']:8.1f} {r['p99']:8.1f} {r['rps']:7.0f} "
                    f"{r['errors']:6d} {startup:7.1f}"
                )
            print(f"recall@10 of HNSW vs exact (300 users): {recall:.3f}")
            print()

        tiny = build_tiny(tmp)
        stores = [("sqlite", f"sqlite:///{tmp / 'durable.sqlite'}")]
        if args.postgres:
            stores.append(("postgresql", args.postgres))
        results = []
        for name, db in stores:
            if name == "postgresql":
                from lmrec.serve.store import Store, metadata

                s = Store(db, create=False)
                metadata.drop_all(s.engine)
                s.close()
            key = create_key(db)
            srv = Server(tiny, db, tmp / f"durable-{name}.log", "--settings", str(tmp / "tiny_settings.json"))
            srv.start()
            try:
                results.append(
                    (name, asyncio.run(durability(srv, key, args.events, [f"u{u}" for u in range(40)])))
                )
            finally:
                srv.stop()
        print("Durability: events POSTed under load, server kill -9'd at 30% and restarted")
        print(
            f"{'store':10s} {'sent':>6s} {'acked':>6s} {'stored':>6s} {'lost':>5s} {'dupes':>5s} "
            f"{'retries':>7s} {'seconds':>7s}"
        )
        for name, r in results:
            print(
                f"{name:10s} {r['sent']:6d} {r['acknowledged']:6d} {r['stored']:6d} {r['lost']:5d} "
                f"{r['duplicates']:5d} {r['retries']:7d} {r['seconds']:7.1f}"
            )


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent / "src"))
    main()
