"""`lmrec serve --workers N` spreads connections over its worker processes.

uvicorn's workers share one listening socket, and the kernel hands each new connection to whichever worker
takes it first: on 2026-12-06, with the shared socket, the first test below put all 16 connections on one of
two workers in 2 runs of 10, and 10 keep-alive clients of the 1M-item load benchmark all landed on one worker
(1.00 server core used; HNSW then served 258 of 300 req/s). Each worker now listens on its own
``SO_REUSEPORT`` socket, and the kernel spreads connections over them by address hash."""

from __future__ import annotations

import http.client
import os
import pickle
import signal
import socket
import sys
import time
from pathlib import Path

import pytest

from tests.serve.conftest import settings_file, start_workers, stop_server

linux_only = pytest.mark.skipif(
    sys.platform != "linux" or not hasattr(socket, "SO_REUSEPORT"),
    reason="per-worker SO_REUSEPORT listeners are a Linux feature; elsewhere the workers share one socket",
)


def _workers(pid: int) -> list[int]:
    """The server's worker processes: its children, less multiprocessing's resource tracker."""
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            if b"resource_tracker" not in Path(f"/proc/{child}/cmdline").read_bytes():
                out.append(int(child))
    return out


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink()
        except OSError:  # closed meanwhile
            continue
        if str(target).startswith("socket:["):
            inodes.add(str(target)[8:-1])
    return inodes


def _tcp_inodes(port: int, state: str) -> set[str]:
    """Inodes of the TCP sockets in ``state`` ("01" established, "0A" listening) on local port ``port``."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            parts = line.split()
            if int(parts[1].rsplit(":", 1)[1], 16) == port and parts[3] == state:
                inodes.add(parts[9])
    return inodes


def _wait_until_every_worker_listens(server_pid: int, port: int, workers: int) -> list[int]:
    """/health answers as soon as one worker is up; wait for all of them to hold a listening socket."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pids = _workers(server_pid)
        listening = _tcp_inodes(port, "0A")
        if len(pids) == workers and all(_socket_inodes(p) & listening for p in pids):
            return pids
        time.sleep(0.2)
    raise AssertionError(f"not every worker listens on {port} after 60 s")


def _distinct_listeners(pids: list[int], port: int) -> int:
    """How many different listening sockets on ``port`` the processes ``pids`` hold."""
    listening = _tcp_inodes(port, "0A")
    return len({frozenset(_socket_inodes(p) & listening) for p in pids})


@linux_only
def test_keep_alive_connections_are_spread_over_the_workers(model_dir: Path, tmp_path: Path) -> None:
    srv = start_workers(model_dir, tmp_path, settings_file(tmp_path / "settings.json"))
    port = int(srv.url.rsplit(":", 1)[1])
    conns = []
    try:
        workers = _wait_until_every_worker_listens(srv.proc.pid, port, 2)
        assert _distinct_listeners(workers, port) == 2  # shared: one socket, the same inode in both
        for _ in range(16):  # one after another, each kept open, as a pool of keep-alive clients does
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", "/health")
            assert c.getresponse().read()
            conns.append(c)
        open_here = _tcp_inodes(port, "01")
        held = [len(_socket_inodes(w) & open_here) for w in workers]
        assert sum(held) == 16, held
        # by address hash each worker gets 8 on average; none at all happens with probability 2 / 2^16
        assert min(held) >= 1, f"connections per worker: {held}"
        # a worker uvicorn replaces binds a socket of its own too
        os.kill(workers[0], signal.SIGKILL)
        deadline = time.monotonic() + 60
        while workers[0] in _workers(srv.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        replaced = _wait_until_every_worker_listens(srv.proc.pid, port, 2)
        assert workers[0] not in replaced and workers[1] in replaced
        assert _distinct_listeners(replaced, port) == 2
    finally:
        for c in conns:
            c.close()
        stop_server(srv)


@linux_only
def test_a_listener_binds_a_fresh_reuse_port_socket_in_each_process() -> None:
    """What the workers receive pickles as an address: each process that unpickles it binds its own socket,
    and all of them accept on the same port."""
    from lmrec.serve.workers import ReusePortListener

    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    listener = ReusePortListener("127.0.0.1", port)
    a, b = (pickle.loads(pickle.dumps(listener)) for _ in range(2))
    try:
        for s in (a, b):
            assert isinstance(s, socket.socket) and s.getsockname()[1] == port
            assert s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
            assert s.proto == socket.IPPROTO_TCP  # accepted sockets then get TCP_NODELAY from asyncio
        assert a.fileno() != b.fileno()
        a.listen()  # asyncio's create_server(sock=...) does this in the workers
        b.listen()
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
    finally:
        a.close()
        b.close()


@linux_only
def test_a_port_in_use_is_a_one_line_error_before_any_worker_starts(
    model_dir: Path, tmp_path: Path, capsys
) -> None:
    """Per-worker sockets may share a port with each other, never with another server: the parent probes
    the port without SO_REUSEPORT first."""
    from lmrec.cli import main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        args = ["serve", str(model_dir), "--db", f"sqlite:///{tmp_path / 'p.sqlite'}", "--workers", "2"]
        assert main([*args, "--host", "127.0.0.1", "--port", str(port)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lmrec: error:") and "\n" not in err, err
    assert f"--port {port}" in err and "in use" in err, err


@linux_only
def test_a_worker_that_cannot_bind_exits_with_uvicorns_startup_failure(capsys) -> None:
    """If the port is taken between the parent's check and a worker's bind, the worker says so in one line
    and exits with 3, which stops uvicorn's supervisor instead of restarting the worker forever."""
    from lmrec.serve.workers import STARTUP_FAILURE, ReusePortListener

    with socket.socket() as busy:  # no SO_REUSEPORT: nobody may join it
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(SystemExit) as exit_info:
            pickle.loads(pickle.dumps(ReusePortListener("127.0.0.1", port)))
    from uvicorn.config import STARTUP_FAILURE as UVICORNS

    assert exit_info.value.code == STARTUP_FAILURE == UVICORNS
    err = capsys.readouterr().err.strip()
    assert err.startswith("lmrec: error: --port") and "\n" not in err, err
