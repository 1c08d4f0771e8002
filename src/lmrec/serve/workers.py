"""The worker processes of `lmrec serve --workers N`: a listening socket per worker where the OS balances
them.

uvicorn's supervisor binds one socket in the parent and gives every worker a copy of it. The workers then
share one accept queue and a new connection goes to whichever worker takes it first, so a few long-lived
keep-alive clients can all end up on one worker while the others idle. Measured on 2026-12-06 (2 workers, 16
connections opened one after another once both listened, tests/serve/test_workers.py): all 16 on one worker in
2 starts of 10; in the 1M-item load benchmark all 10 clients of a row landed on one worker (1.00 server core),
which then served 258 of 300 requests/s.

On Linux each worker here binds its own ``SO_REUSEPORT`` socket on the same address instead (uvicorn's
supervisor, health checks and restarts are unchanged), and the kernel assigns each new connection to one of
the sockets by a hash of its addresses: a fair coin per connection (all 16 on one worker: probability 2 /
2^16). Only processes of the same user can join such a group. The price: connections still waiting in a
worker's own queue when that worker dies or is replaced are reset (Linux 5.14+ moves them to the other sockets
with ``net.ipv4.tcp_migrate_req=1``). Elsewhere, and for ``--port 0``, the workers share one socket as before.
"""

from __future__ import annotations

import socket
import sys
from typing import Any

from lmrec.errors import LmrecError


def reuse_port_supported(port: int) -> bool:
    """Whether the workers can each listen on ``port`` with their own socket (Linux, a fixed port)."""
    return sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT") and port != 0


def _family(host: str) -> socket.AddressFamily:
    """IPv6 for an address with a colon, as uvicorn decides it; else IPv4."""
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``(host, port)`` with ``SO_REUSEPORT``, not yet listening (asyncio's
    ``create_server(sock=...)`` calls ``listen``). Created with ``IPPROTO_TCP`` so that asyncio sets
    ``TCP_NODELAY`` on the connections it accepts."""
    sock = socket.socket(_family(host), socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class ReusePortListener:
    """Stands in for the shared socket in the list uvicorn's supervisor hands to each worker.

    uvicorn starts its workers with the ``spawn`` method, which pickles that list; this object pickles as
    its address, and unpickling it binds a new :func:`reuse_port_socket`. So every worker, and every worker
    the supervisor restarts, listens on a socket of its own.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = int(port)

    def __reduce__(self) -> tuple[Any, tuple[str, int]]:
        return worker_socket, (self.host, self.port)


# uvicorn's exit code for a worker that failed before serving: its supervisor then stops instead of restarting
STARTUP_FAILURE = 3


def worker_socket(host: str, port: int) -> socket.socket:
    """:func:`reuse_port_socket` in a worker process; if the port was taken since the parent's check, one
    line on stderr and exit code 3, which makes uvicorn's supervisor stop rather than restart it forever."""
    try:
        return reuse_port_socket(host, port)
    except OSError as exc:
        print(
            f"lmrec: error: --port {port}: cannot listen on {host}:{port} ({exc.strerror})", file=sys.stderr
        )
        sys.exit(STARTUP_FAILURE)


def check_port_free(host: str, port: int) -> None:
    """A one-line :class:`LmrecError` when ``(host, port)`` cannot be bound, before any worker starts.

    The probe does not set ``SO_REUSEPORT``: a port another server (even another ``lmrec serve``) already
    listens on is refused instead of silently sharing its connections."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise LmrecError(f"--port {port}: cannot listen on {host}:{port} ({exc.strerror})") from None


def run_workers(
    app: str, *, host: str, port: int, workers: int, log_level: str, factory: bool = True
) -> None:
    """Run uvicorn's multi-process supervisor over ``workers`` processes serving the import string ``app``,
    each on its own ``SO_REUSEPORT`` socket where :func:`reuse_port_supported` (else as ``uvicorn.run``)."""
    import uvicorn

    if not reuse_port_supported(port):
        uvicorn.run(app, factory=factory, host=host, port=port, workers=workers, log_level=log_level)
        return
    from uvicorn.supervisors import Multiprocess

    # again: `lmrec serve` checked before its index build, which can take minutes; a server that took the
    # port with SO_REUSEPORT meanwhile would otherwise be joined, not refused
    check_port_free(host, port)
    config = uvicorn.Config(app, factory=factory, host=host, port=port, workers=workers, log_level=log_level)
    try:
        Multiprocess(config, sockets=[ReusePortListener(host, port)]).run()  # type: ignore[list-item]
    except KeyboardInterrupt:
        pass
