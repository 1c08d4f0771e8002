"""Who is calling and how often: API key checks, rate limits, security headers and honest ``Allow`` headers.

The pieces are plain ASGI middleware (no per-request FastAPI machinery) so that the service's hot path stays
cheap:

* :class:`Guard` resolves the caller (a valid key, an invalid one, or nobody) from ``Authorization: Bearer``,
  checks it against the store at most once per ``key_cache_seconds`` (so a revoked key stops working within
  that time, under a second), charges the caller's rate-limit bucket, answers 429 with ``Retry-After`` when it
  is empty, and leaves a :class:`Caller` in ``scope["state"]["caller"]`` for the routes, which decide 401/403.
* :class:`SecurityHeaders` adds a Content-Security-Policy (no inline script anywhere), frame protection,
  ``nosniff``, ``Referrer-Policy`` and ``Cache-Control: no-store`` on user data.
* :class:`AllowedMethods` answers ``OPTIONS`` with every method a path supports and fixes the ``Allow`` header
  of a 405 (Starlette lists only the first matching route's methods).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lmrec.serve._settings import RateLimit, RateLimits
from lmrec.serve.keys import ApiKey, split_key

# paths that are neither limited nor authenticated: probes, the schema, the web pages and their files
OPEN_PATHS = frozenset({"/", "/health", "/metrics", "/openapi.json", "/docs", "/report", "/favicon.ico"})
OPEN_PREFIXES = ("/static/", "/report/", "/item/")

# item pages may show a catalog's https images (covers, posters)
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; "
    "connect-src 'self'; frame-src 'none'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
# Swagger UI at /docs, served from this package: its scripts are files; it sets inline styles itself
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# a generated evaluation report, shown in the /report page's frame: its own inline style, never a script
REPORT_CSP = (
    "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'self'"
)


@dataclass(frozen=True)
class Caller:
    """The caller of one request: ``key`` when a valid key was sent; ``error`` when an invalid one was."""

    address: str
    key: ApiKey | None = None
    error: str | None = None


class KeyVerifier:
    """Checks ``Authorization`` tokens against the store, remembering each answer ``ttl`` seconds."""

    def __init__(self, verify: Callable[[str], ApiKey | None], ttl: float, max_entries: int = 10_000) -> None:
        self._verify, self.ttl, self.max_entries = verify, ttl, max_entries
        self._cache: dict[str, tuple[float, ApiKey | None]] = {}

    def cached(self, token: str) -> tuple[bool, ApiKey | None]:
        """``(True, answer)`` when a fresh answer for ``token`` is remembered, else ``(False, None)``."""
        hit = self._cache.get(token)
        if hit is not None and hit[0] > time.monotonic():
            return True, hit[1]
        return False, None

    def was_valid(self, token: str) -> bool:
        """Whether ``token`` was a valid key at its last check (however long ago)."""
        hit = self._cache.get(token)
        return hit is not None and hit[1] is not None

    def verify(self, token: str) -> ApiKey | None:
        found, key = self.cached(token)
        if found:
            return key
        key = self._verify(token) if split_key(token) is not None else None
        if self.ttl > 0:
            if len(self._cache) >= self.max_entries:
                self._cache.clear()
            self._cache[token] = (time.monotonic() + self.ttl, key)
        return key


class RateLimiter:
    """Token buckets by name (``("key", id)``, ``("address", ip)``, ...), thread-safe, bounded in number."""

    def __init__(self, max_buckets: int = 100_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_buckets, self.clock = max_buckets, clock
        self._buckets: dict[tuple[str, str], list[float]] = {}  # name -> [tokens, last refill time]
        self._lock = threading.Lock()

    def take(self, name: tuple[str, str], limit: RateLimit) -> float:
        """Take one token from bucket ``name``: 0.0 when granted, else the seconds until one is available."""
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(name)
            if bucket is None:
                if len(self._buckets) >= self.max_buckets:
                    self._prune(now, limit)
                bucket = self._buckets[name] = [float(limit.burst), now]
            tokens = min(float(limit.burst), bucket[0] + (now - bucket[1]) * limit.per_second)
            bucket[1] = now
            if tokens >= 1.0:
                bucket[0] = tokens - 1.0
                return 0.0
            bucket[0] = tokens
            return (1.0 - tokens) / limit.per_second

    def _prune(self, now: float, limit: RateLimit) -> None:
        # drop the buckets that would be full again (idle clients), then if need be the oldest half
        full = [
            n for n, (t, last) in self._buckets.items() if t + (now - last) * limit.per_second >= limit.burst
        ]
        for n in full:
            del self._buckets[n]
        if len(self._buckets) >= self.max_buckets:
            for n in list(self._buckets)[: len(self._buckets) // 2]:
                del self._buckets[n]


def retry_after(seconds: float) -> str:
    """The ``Retry-After`` value (whole seconds, at least 1) for a wait of ``seconds``."""
    return str(max(1, math.ceil(seconds)))


def limit_message(limit: RateLimit, who: str, wait: float) -> str:
    return (
        f"rate limit: at most {limit.per_second:g} requests/s (bursts of {limit.burst}) per {who}; "
        f"retry in {retry_after(wait)} s"
    )


def client_address(scope: Any, trust_forwarded_for: bool) -> str:
    """The client's address: the socket peer, or the first X-Forwarded-For hop when trusted."""
    if trust_forwarded_for:
        for name, value in scope.get("headers") or ():
            if name == b"x-forwarded-for":
                first = value.decode("latin-1").split(",")[0].strip()
                if first:
                    return first
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def bearer_token(scope: Any) -> tuple[bool, str | None]:
    """``(header present, token)``: the token of ``Authorization: Bearer TOKEN``, None when malformed."""
    for name, value in scope.get("headers") or ():
        if name == b"authorization":
            raw = value.decode("latin-1").strip()
            if raw[:7].lower() == "bearer " and raw[7:].strip():
                return True, raw[7:].strip()
            return True, None
    return False, None


def is_open_path(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


class Guard:
    """Resolve the caller and apply the per-key / per-address rate limits (see the module docstring)."""

    def __init__(
        self, app: Any, verifier: KeyVerifier, limiter: RateLimiter, limits: RateLimits, trust_xff: bool
    ) -> None:
        self.app, self.verifier, self.limiter, self.limits, self.trust_xff = (
            app,
            verifier,
            limiter,
            limits,
            trust_xff,
        )

    def resolve(self, scope: Any) -> tuple[Caller, float, str]:
        """The caller and, when a bucket is empty, the wait and the message of the 429."""
        address = client_address(scope, self.trust_xff)
        present, token = bearer_token(scope)
        limits = self.limits
        if not present:
            caller = Caller(address)
        elif token is None:
            caller = Caller(address, error="malformed Authorization header: send 'Authorization: Bearer KEY'")
        else:
            found, key = self.verifier.cached(token)
            if not found:
                # a store lookup: a token never seen valid is charged to its address's lookup bucket first, so
                # floods of made-up keys stay cheap, while known keys are re-checked without a charge
                if limits.enabled and not self.verifier.was_valid(token):
                    wait = self.limiter.take(("lookup", address), limits.address)
                    if wait:
                        return Caller(address), wait, limit_message(limits.address, "client address", wait)
                key = self.verifier.verify(token)
            caller = Caller(address, key) if key is not None else Caller(address, error="invalid API key")
        if limits.enabled:
            if caller.key is not None:
                limit, name, who = limits.key, ("key", caller.key.key_id), "API key"
            else:
                limit, name, who = limits.address, ("address", address), "client address"
            wait = self.limiter.take(name, limit)
            if wait:
                return caller, wait, limit_message(limit, who, wait)
        return caller, 0.0, ""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or is_open_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        caller, wait, message = self.resolve(scope)
        if wait:
            await send_json(send, 429, {"detail": message}, [(b"retry-after", retry_after(wait).encode())])
            return
        scope.setdefault("state", {})["caller"] = caller
        await self.app(scope, receive, send)


def charge_encoder(limiter: RateLimiter, limits: RateLimits, caller: Caller) -> tuple[float, str]:
    """Charge an encoder-backed request to the stricter bucket: ``(wait, message)``, wait 0.0 when granted."""
    if not limits.enabled:
        return 0.0, ""
    if caller.key is not None:
        limit, name, who = limits.encoder_key, ("encoder-key", caller.key.key_id), "API key"
    else:
        limit, name, who = limits.encoder_address, ("encoder-address", caller.address), "client address"
    wait = limiter.take(name, limit)
    if not wait:
        return 0.0, ""
    return wait, limit_message(limit, who, wait).replace(
        "rate limit:", "rate limit of text-encoding requests:"
    )


class SecurityHeaders:
    """Add the security headers to every response (``docs_csp``: the policy of the /docs page)."""

    def __init__(self, app: Any, docs_csp: str = DOCS_CSP) -> None:
        self.app, self.docs_csp = app, docs_csp

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith("/report/"):
            csp, frame = REPORT_CSP, b"SAMEORIGIN"
        elif path == "/docs":
            csp, frame = self.docs_csp, b"DENY"
        else:
            csp, frame = PAGE_CSP, b"DENY"
        extra = [
            (b"content-security-policy", csp.encode()),
            (b"x-frame-options", frame),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
        ]
        if path.startswith(("/users/", "/session")):
            extra.append((b"cache-control", b"no-store"))  # a user's data: no shared or browser cache

        async def add_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers") or []) + extra
            await send(message)

        await self.app(scope, receive, add_headers)


class AllowedMethods:
    """``OPTIONS`` -> 204 with ``Allow`` listing every method of the path; 405 responses get the same list."""

    def __init__(self, app: Any, methods_for: Callable[[Any], set[str]]) -> None:
        self.app, self.methods_for = app, methods_for

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            methods = self.methods_for(scope)
            if methods:
                allow = ", ".join(sorted(methods | {"OPTIONS"})).encode()
                await send({"type": "http.response.start", "status": 204, "headers": [(b"allow", allow)]})
                await send({"type": "http.response.body", "body": b""})
                return

        async def fix_allow(message: Any) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                methods = self.methods_for(scope)
                if methods:
                    allow = ", ".join(sorted(methods | {"OPTIONS"})).encode()
                    headers = [(k, v) for k, v in message.get("headers") or [] if k.lower() != b"allow"]
                    message["headers"] = headers + [(b"allow", allow)]
            await send(message)

        await self.app(scope, receive, fix_allow)


def route_methods(routes: list[Any]) -> Callable[[Any], set[str]]:
    """``methods_for(scope)``: the methods of every route whose path matches the request's path."""
    from starlette.routing import Match

    def methods_for(scope: Any) -> set[str]:
        out: set[str] = set()
        probe = {**scope, "method": "GET"}
        for route in routes:
            methods = getattr(route, "methods", None)
            if not methods:
                continue
            match, _ = route.matches(probe)
            if match != Match.NONE:
                out |= set(methods)
        return out

    return methods_for


async def send_json(
    send: Any, status: int, payload: dict[str, Any], headers: list[Any] | None = None
) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
