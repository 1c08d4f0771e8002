"""API keys of the recommendation service: scopes, the key format and how a key is checked.

A key is ``lmk_<key id>_<secret>``; the store keeps its id, name, scopes and a salted SHA-256 of the secret,
never the secret. What a key may do is the set of its scopes:

* ``read``: anything derived from a user's history (``GET /users/{id}/recommendations``, its explanations and
  ``cold_start``, which tells whether the user exists);
* ``events``: ``POST /events``;
* ``catalog``: ``POST /items`` (create or replace) and ``DELETE /items/{id}``;
* ``admin``: every scope above.

Catalog reads (search, similar items, item pages, recommendations for an anonymous list of items or a text)
need no key unless the service requires one for every read.

Keys created before scopes existed (store schema 1) get :data:`LEGACY_SCOPES` when the store is migrated:
what they could do before (post events, change the catalog, and read when reads needed a key).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from lmrec.errors import ConfigError

KEY_PREFIX = "lmk"
SCOPES = ("read", "events", "catalog", "admin")
DEFAULT_SCOPES = frozenset({"events"})  # `lmrec keys create` without --scope: post events, nothing more
LEGACY_SCOPES = frozenset({"read", "events", "catalog"})  # rows migrated from store schema 1


def parse_scopes(values: Iterable[str]) -> frozenset[str]:
    """The scopes named in ``values`` (each may be comma-separated); ConfigError naming an unknown one."""
    out: set[str] = set()
    for value in values:
        for name in str(value).split(","):
            name = name.strip().lower()
            if not name:
                continue
            if name not in SCOPES:
                raise ConfigError(f"unknown scope {name!r}: choose from {', '.join(SCOPES)}")
            out.add(name)
    if not out:
        raise ConfigError(f"a key needs at least one scope: {', '.join(SCOPES)}")
    return frozenset(out)


def format_scopes(scopes: Iterable[str]) -> str:
    """Scopes in their canonical order, comma-separated (how the store keeps them)."""
    given = set(scopes)
    return ",".join(s for s in SCOPES if s in given)


@dataclass(frozen=True)
class ApiKey:
    """A valid key as the store knows it (never the secret)."""

    key_id: str
    name: str
    scopes: frozenset[str]
    created_at: float = 0.0
    revoked: bool = False

    def allows(self, scope: str) -> bool:
        """Whether the key grants ``scope`` (``admin`` grants every scope)."""
        return scope in self.scopes or "admin" in self.scopes


def split_key(key: str) -> tuple[str, str] | None:
    """``(key id, secret)`` of a well-formed key, else None (no store lookup needed to reject it)."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def digest(salt: str, secret: str) -> str:
    """The stored hash of a key's secret."""
    # keys carry 256 random bits, so a salted SHA-256 is enough (no password stretching needed)
    return hashlib.sha256((salt + ":" + secret).encode()).hexdigest()
