"""The load generator of ``serve_load.py`` (imported as ``_loadgen``; scripts run from this folder): raw
asyncio HTTP/1.1 keep-alive connections, a closed loop and an open loop, and the server's CPU per request.

Server CPU is the sum over the server's process tree as it stood when a run began. When that tree changes
during a run (uvicorn replaced a worker: it kills one that misses its 5 s health check), the CPU figure is
not defined (the dead worker's seconds vanish from the sum) and the row says ``restarted`` instead.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import numpy as np


class Conn:
    """One HTTP/1.1 keep-alive connection that speaks just enough of the protocol for GET requests.

    Raw asyncio streams instead of an HTTP client library: the load generator shares the 2 cores with the
    server, and httpx costs several times more CPU per request than the server's own work being measured."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> Conn:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def get(self, request: bytes) -> int:
        """Send a prepared request; returns the status once the whole body has arrived."""
        assert self.reader is not None and self.writer is not None
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        low = head.lower()
        at = low.find(b"\r\ncontent-length:")
        if at < 0:
            raise RuntimeError(f"response without content-length: {head[:200]!r}")
        n = int(low[at + 17 : low.index(b"\r", at + 17)])
        await self.reader.readexactly(n)
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def requests_for(url: str, users: list[str], key: str, k: int = 10) -> list[bytes]:
    host = url.split("://", 1)[1]
    head = f"Host: {host}\r\nAuthorization: Bearer {key}\r\n\r\n"
    return [f"GET /users/{u}/recommendations?k={k} HTTP/1.1\r\n{head}".encode() for u in users]


def host_port(url: str) -> tuple[str, int]:
    host, port = url.split("://", 1)[1].rsplit(":", 1)
    return host, int(port)


def process_tree(pid: int) -> frozenset[int]:
    """``pid`` and all its descendants (uvicorn's worker processes)."""
    found, todo = set(), [pid]
    while todo:
        p = todo.pop()
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
        found.add(p)
    return frozenset(found)


def tree_cpu(pids: frozenset[int]) -> float:
    """CPU seconds (user + system) of the processes ``pids`` (those that still exist)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


class ServerCpu:
    """The server's CPU seconds over a run; ``None`` when its process tree changed meanwhile."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.pids = process_tree(pid)
        self.start = tree_cpu(self.pids)

    def used(self) -> float | None:
        if process_tree(self.pid) != self.pids:
            return None
        return tree_cpu(self.pids) - self.start


def summary(
    lat_s: list[float], wall: float, errors: int, client_cpu: float, server_cpu: float | None
) -> dict[str, Any]:
    a = np.asarray(lat_s, dtype=np.float64) * 1000
    n = len(a)
    return {
        "n": n,
        "p50": float(np.percentile(a, 50)) if n else float("nan"),
        "p99": float(np.percentile(a, 99)) if n else float("nan"),
        "max": float(a.max()) if n else float("nan"),
        "rps": n / wall if wall > 0 else 0.0,
        "errors": errors,
        "client_cores": client_cpu / wall if wall > 0 else 0.0,
        "restarted": server_cpu is None,
        "server_cores": server_cpu / wall if server_cpu is not None and wall > 0 else float("nan"),
        "server_ms_per_req": 1000 * server_cpu / n if server_cpu is not None and n else float("nan"),
        "load1": os.getloadavg()[0],
    }


async def closed_loop(
    url: str, users: list[str], key: str, concurrency: int, seconds: float, pid: int
) -> dict[str, Any]:
    """``concurrency`` closed-loop clients (each sends its next request when the previous answer arrives),
    one keep-alive connection each, for ``seconds``: latency percentiles and (saturation) throughput."""
    reqs = requests_for(url, users, key)
    conns = [await Conn(*host_port(url)).open() for _ in range(concurrency)]
    lat: list[float] = []
    errors = 0
    clock = time.perf_counter

    async def client(conn: Conn, wid: int) -> None:
        nonlocal errors
        i = (wid * 7919) % len(reqs)
        while clock() < stop_at:
            i = (i + 7919) % len(reqs)
            t = clock()
            status = await conn.get(reqs[i])
            lat.append(clock() - t)
            errors += status != 200

    cpu0, srv, t0 = time.process_time(), ServerCpu(pid), clock()
    stop_at = t0 + seconds
    try:
        await asyncio.gather(*(client(c, w) for w, c in enumerate(conns)))
    finally:
        for c in conns:
            c.close()
    wall = clock() - t0
    return summary(lat, wall, errors, time.process_time() - cpu0, srv.used())


async def open_loop(
    url: str,
    users: list[str],
    key: str,
    rate: float,
    connections: int,
    seconds: float,
    pid: int,
    drain: float = 3.0,
) -> dict[str, Any]:
    """Requests arrive on a fixed schedule (``rate`` per second for ``seconds``) whatever the server does and
    go out on the first free one of ``connections`` keep-alive connections; latency counts from the
    *scheduled* send time, so time spent queued behind a slow answer is part of it (no coordinated omission).

    Requests still unanswered ``drain`` seconds after the schedule ends are cut off and counted in
    ``unfinished``, with their waiting time so far as their latency (a lower bound)."""
    reqs = requests_for(url, users, key)
    conns = [await Conn(*host_port(url)).open() for _ in range(connections)]
    queue: asyncio.Queue[float | None] = asyncio.Queue()
    lat: list[float] = []
    errors = 0
    in_flight: dict[int, float] = {}
    clock = time.perf_counter
    total = int(rate * seconds)

    async def dispatcher() -> None:
        i = 0
        while i < total:
            due = t0 + i / rate
            wait = due - clock()
            if wait > 0:
                await asyncio.sleep(wait)
            now = clock()
            while i < total and t0 + i / rate <= now:  # catch up on everything due (timer granularity)
                queue.put_nowait(t0 + i / rate)
                i += 1
        for _ in conns:
            queue.put_nowait(None)

    async def worker(conn: Conn, wid: int) -> None:
        nonlocal errors
        j = wid
        while True:
            sched = await queue.get()
            if sched is None:
                return
            j = (j + 7919) % len(reqs)
            in_flight[wid] = sched
            status = await conn.get(reqs[j])
            del in_flight[wid]
            lat.append(clock() - sched)
            errors += status != 200

    cpu0, srv = time.process_time(), ServerCpu(pid)
    t0 = clock() + 0.01
    tasks = [asyncio.create_task(worker(c, w)) for w, c in enumerate(conns)]
    disp = asyncio.create_task(dispatcher())
    await disp
    _, pending = await asyncio.wait(tasks, timeout=max(0.0, t0 + seconds + drain - clock()))
    end = clock()
    for t in pending:
        t.cancel()
    unfinished = list(in_flight.values())
    while not queue.empty():
        sched = queue.get_nowait()
        if sched is not None:
            unfinished.append(sched)
    for c in conns:
        c.close()
    done = len(lat)
    wall = end - t0
    out = summary(lat + [end - s for s in unfinished], wall, errors, time.process_time() - cpu0, srv.used())
    srv_cpu = out["server_cores"] * wall
    out.update(n=done, rps=done / wall, unfinished=len(unfinished), target=rate)
    out["server_ms_per_req"] = 1000 * srv_cpu / done if done else float("nan")  # per answered request
    return out


def fmt(r: dict[str, Any]) -> str:
    return (
        f"p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms, {r['rps']:.0f} req/s, errors {r['errors']}, "
        f"server {r['server_ms_per_req']:.2f} ms CPU/req, generator {r['client_cores']:.2f} cores"
        + (f", unfinished {r['unfinished']}" if "unfinished" in r else "")
        + (", a server process restarted" if r["restarted"] else "")
    )


def row(r: dict[str, Any]) -> str:
    return (
        f"{r['n']:8d} {r['p50']:7.1f} {r['p99']:7.1f} {r['max']:7.1f} {r['rps']:6.0f} {r['errors']:6d} "
        f"{r['server_ms_per_req']:10.2f} {r['server_cores']:9.2f} {r['client_cores']:9.2f} {r['load1']:5.1f}"
        + (" restarted" if r["restarted"] else "")
    )


def run_async(coro: Any) -> Any:
    """Run the load generator on uvloop when it is installed (cheaper per request than asyncio's loop)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)
