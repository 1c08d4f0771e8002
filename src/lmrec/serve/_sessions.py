"""Anonymous browser sessions: what a visitor of the web page liked and marked "not interested".

A session is a random token the server issues in an ``HttpOnly; SameSite=Strict`` cookie the first time a
visitor likes (or rejects) an item; the store keeps only the token's SHA-256, so a copy of the database
does not let anyone act as a visitor. Only the cookie's holder reads or changes the session: no endpoint
takes a session id as a parameter. The items live in the shared store, so every server process (and a
reload of the page) sees them.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass, field

from sqlalchemy import delete, func, insert, select

from lmrec.serve.store import Store, session_items

COOKIE = "lmrec_session"
KINDS = ("like", "not_interested")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32,64}$")


def new_token() -> str:
    """A fresh session token (256 random bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def valid_token(token: str | None) -> bool:
    return bool(token) and _TOKEN.match(token or "") is not None


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class SessionItems:
    """A session's items, oldest first."""

    likes: list[str] = field(default_factory=list)
    not_interested: list[str] = field(default_factory=list)


def read(store: Store, token: str | None) -> SessionItems:
    """The items of the session ``token`` (empty for no or an unknown token)."""
    out = SessionItems()
    if not valid_token(token):
        return out
    assert token is not None
    q = (
        select(session_items.c.item_id, session_items.c.kind)
        .where(session_items.c.session == digest(token))
        .order_by(session_items.c.created_at, session_items.c.item_id)
    )
    with store.engine.connect() as conn:
        for item_id, kind in conn.execute(q):
            (out.likes if kind == "like" else out.not_interested).append(str(item_id))
    return out


def put(store: Store, token: str, item_id: str, kind: str, max_items: int, max_age: float) -> None:
    """Mark ``item_id`` as ``kind`` in the session (it leaves the other kind); the oldest entries go when
    the session holds more than ``max_items``, and every session's entries older than ``max_age`` seconds
    are dropped (the lifetime of the cookie, which each change renews)."""
    assert kind in KINDS
    sid = digest(token)
    with store.engine.begin() as conn:
        conn.execute(delete(session_items).where(session_items.c.created_at < time.time() - max_age))
        conn.execute(
            delete(session_items).where(session_items.c.session == sid, session_items.c.item_id == item_id)
        )
        conn.execute(
            insert(session_items).values(session=sid, item_id=item_id, kind=kind, created_at=time.time())
        )
        n = conn.execute(select(func.count()).where(session_items.c.session == sid)).scalar() or 0
        if n > max_items:
            old = (
                select(session_items.c.item_id)
                .where(session_items.c.session == sid)
                .order_by(session_items.c.created_at, session_items.c.item_id)
                .limit(int(n) - max_items)
            )
            drop = [r[0] for r in conn.execute(old)]
            conn.execute(
                delete(session_items).where(session_items.c.session == sid, session_items.c.item_id.in_(drop))
            )


def remove(store: Store, token: str | None, item_id: str, kind: str) -> None:
    """Undo a like or a "not interested" (nothing happens when the item was not marked so)."""
    if not valid_token(token):
        return
    assert token is not None and kind in KINDS
    with store.engine.begin() as conn:
        conn.execute(
            delete(session_items).where(
                session_items.c.session == digest(token),
                session_items.c.item_id == item_id,
                session_items.c.kind == kind,
            )
        )
