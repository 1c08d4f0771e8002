"""The service's own ASGI middleware: the fast path of plain user recommendations, the body size limit and
request timing (the security middleware lives in :mod:`lmrec.serve.security`)."""

from __future__ import annotations

import json
import re
import time
from typing import Any
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool

from lmrec.serve._metrics import Metrics
from lmrec.serve._schemas import ID_PATTERN
from lmrec.serve.security import send_json

USER_RECS = "/users/{user_id}/recommendations"
_ID_RE = re.compile(ID_PATTERN)
_TRUE, _FALSE = frozenset({"true"}), frozenset({"false"})  # strict booleans, as the schema says


class FastUserRecommendations:
    """The plain ``GET /users/{id}/recommendations`` answered without FastAPI's routing, dependency solving
    and parameter models, which cost as much CPU as the ranking itself (a plain request is a stamp query
    and one ANN search). Only a request that is unambiguously valid takes this path: a well-formed id, at
    most one each of ``k`` (plain digits, 1..max_k) and ``exclude_seen`` (true/false), ``explain`` and
    ``explore`` absent or false, nothing else in the query string, and a caller allowed to read user data
    (``may_read(caller)``, the caller left by :class:`lmrec.serve.security.Guard`). Anything else, and any
    error, goes to the FastAPI route, whose answer (or 401/403/422) is the reference; the payload comes from
    the same function, so both paths return the same JSON."""

    def __init__(self, app: Any, fast: dict[str, Any], max_k: int, may_read: Any) -> None:
        self.app, self.fast, self.max_k, self.may_read = app, fast, max_k, may_read

    def _parse(self, scope: Any) -> tuple[str, int, bool] | None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope.get("root_path"):
            return None
        path: str = scope["path"]
        if not (path.startswith("/users/") and path.endswith("/recommendations")):
            return None
        user_id = path[7:-16]
        if not 1 <= len(user_id) <= 200 or "/" in user_id or not _ID_RE.match(user_id):
            return None
        k, exclude_seen = 10, True
        if scope["query_string"]:
            seen: set[str] = set()
            for name, value in parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True):
                if name in seen:
                    return None
                seen.add(name)
                if name == "k" and value.isascii() and value.isdigit() and 1 <= int(value) <= self.max_k:
                    k = int(value)
                elif name == "exclude_seen" and value in _TRUE | _FALSE:
                    exclude_seen = value in _TRUE
                elif not (name in ("explain", "explore") and value in _FALSE):
                    return None
        return user_id, k, exclude_seen

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        parsed = self._parse(scope) if "payload" in self.fast else None
        if parsed is None or not self.may_read(scope.get("state", {}).get("caller")):
            await self.app(scope, receive, send)
            return
        try:
            args = (parsed[0], parsed[1], False, parsed[2], False)
            if self.fast["inline"]:
                body = dumps(self.fast["payload"](*args))
            else:
                body = dumps(await run_in_threadpool(self.fast["payload"], *args))
        except Exception:  # noqa: BLE001 - the FastAPI route answers (or maps the error) instead
            await self.app(scope, receive, send)
            return
        scope["route"] = self.fast["route"]  # for the metrics' route label
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-length", str(len(body)).encode()),
                    (b"content-type", b"application/json"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """Reject request bodies above ``max_bytes`` with 413 before the app reads them (requests whose method
    takes a body: the others' bodies are never read)."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await send_json(send, 413, {"detail": f"request body larger than {self.max_bytes} bytes"})
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await send_json(send, 413, {"detail": f"request body larger than {self.max_bytes} bytes"})
                return
            more = message.get("more_body", False)
        body = b"".join(chunks)
        sent = False

        async def replay() -> Any:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class Timing:
    """Count requests and time them per route template (not per raw path, to bound label cardinality)."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]

        async def send_wrapper(message: Any) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or (
                "/static" if scope["path"].startswith("/static") else "other"
            )
            self.metrics.observe(scope["method"], path, status[0], time.perf_counter() - start)


def json_dumps(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


try:  # orjson (the serve extra) encodes a response several times faster than the json module
    import orjson

    dumps = orjson.dumps
except ImportError:  # pragma: no cover - the plain encoder gives the same JSON
    dumps = json_dumps
