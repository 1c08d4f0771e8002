"""The service's store: events, API keys, idempotency records and catalog changes (SQLAlchemy 2 Core).

SQLite in WAL mode is the embedded default; a PostgreSQL URL lets several server processes share one store.
Every write is one transaction that is committed before the call returns, so an acknowledged event survives a
crash of the server process. The schema is created on first use and versioned in ``schema_version``.

Schema 2 (this lmrec) added key scopes and per-key idempotency records bound to a hash of the request. A
schema 1 store is migrated when it is opened: its keys get :data:`lmrec.serve.keys.LEGACY_SCOPES`; its old
global idempotency table is left as it was and no longer read (a retry sent across the upgrade is stored
again).
"""

from __future__ import annotations

import hmac
import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, OperationalError

from lmrec.errors import ConfigError, LmrecError
from lmrec.serve.keys import (
    DEFAULT_SCOPES,
    KEY_PREFIX,
    LEGACY_SCOPES,
    ApiKey,
    digest,
    format_scopes,
    parse_scopes,
    split_key,
)

SCHEMA_VERSION = 2

metadata = MetaData()

# BigInteger primary keys autoincrement on PostgreSQL; SQLite needs INTEGER for its rowid alias
_PK = BigInteger().with_variant(Integer(), "sqlite")

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("applied_at", Float, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("salt", String(64), nullable=False),
    Column("digest", String(128), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("revoked", Boolean, nullable=False, default=False),
    Column("scopes", String(200), nullable=True),  # comma-separated; NULL only in rows older than schema 2
)

events = Table(
    "events",
    metadata,
    Column("id", _PK, primary_key=True, autoincrement=True),
    Column("user_id", String(200), nullable=False),
    Column("type", String(20), nullable=False),
    Column("item_id", String(200), nullable=True),
    Column("value", Float, nullable=True),
    Column("text", Text, nullable=True),
    Column("ts", Float, nullable=False),
    Column("received_at", Float, nullable=False),
    Index("ix_events_user", "user_id", "id"),
    Index("ix_events_item", "item_id"),
)

idempotency = Table(
    "idempotency_records",
    metadata,
    Column("owner", String(32), primary_key=True),  # the API key id: one key cannot see another's records
    Column("key", String(200), primary_key=True),
    Column("body_hash", String(64), nullable=False),  # the same key with another request is a conflict
    Column("response", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)

catalog_changes = Table(
    "catalog_changes",
    metadata,
    Column("seq", _PK, primary_key=True, autoincrement=True),
    Column("item_id", String(200), nullable=False),
    Column("op", String(10), nullable=False),  # "add" or "delete"
    Column("fields", Text, nullable=True),  # JSON object of the item's fields
    Column(
        "vector", LargeBinary, nullable=True
    ),  # float32 text vector, so other processes need not re-encode
    Column("created_at", Float, nullable=False),
)

# the web page's anonymous sessions: liked and "not interested" items per session (see lmrec.serve._sessions)
session_items = Table(
    "session_items",
    metadata,
    Column("session", String(64), primary_key=True),  # sha256 of the session token, never the token
    Column("item_id", String(200), primary_key=True),
    Column("kind", String(20), nullable=False),  # "like" or "not_interested"
    Column("created_at", Float, nullable=False),
    Index("ix_session_items_created", "session", "created_at"),
    Index("ix_session_items_age", "created_at"),
)


@dataclass(frozen=True)
class EventRecord:
    """One user event as stored."""

    user_id: str
    type: str
    item_id: str | None = None
    value: float | None = None
    text: str | None = None
    ts: float | None = None


@dataclass(frozen=True)
class Idempotency:
    """An idempotency key as the store scopes it: per API key (``owner``) and bound to the request's hash."""

    owner: str
    key: str
    body_hash: str


class IdempotencyConflict(LmrecError):
    """The idempotency key was used before, by the same API key, for a different request."""


@dataclass(frozen=True)
class CatalogChange:
    """One row of the catalog change log (items added or deleted while serving)."""

    seq: int
    item_id: str
    op: str
    fields: dict[str, Any]
    vector: np.ndarray | None


def _normalise_url(url: str) -> str:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        # psycopg 3 is the driver we ship in the serve extra
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


class Store:
    """Connection to the store at ``url`` (``sqlite:///path.db`` or ``postgresql://user:pw@host/db``)."""

    def __init__(self, url: str, *, sqlite_synchronous: str = "FULL", create: bool = True) -> None:
        self.url = _normalise_url(url)
        try:
            if self.url.startswith("sqlite"):
                self.engine = self._sqlite_engine(self.url, sqlite_synchronous)
            else:
                self.engine = create_engine(self.url, pool_size=8, max_overflow=16, pool_pre_ping=True)
        except (ArgumentError, ImportError, ValueError) as exc:
            raise ConfigError(f"store URL {url!r}: {str(exc).splitlines()[0]}") from None
        if create:
            self.init_schema()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @staticmethod
    def _sqlite_engine(url: str, synchronous: str) -> Engine:
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # one connection per serving thread: waiting for a pooled connection would serialise reads
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=16, max_overflow=48
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")  # readers never block the writer, nor it them
            cur.execute(f"PRAGMA synchronous={synchronous}")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine

    # -- schema ----------------------------------------------------------------------------------------
    def init_schema(self) -> int:
        """Create the tables on first use; refuse a store written by a newer lmrec. Returns the version."""
        try:
            metadata.create_all(self.engine, checkfirst=True)
        except OperationalError as exc:
            raise LmrecError(f"store {self.engine.url!r}: cannot open: {str(exc).splitlines()[0]}") from None
        except IntegrityError:
            pass  # another process created the tables at the same moment
        with self.engine.begin() as conn:
            current = conn.execute(select(func.max(schema_version.c.version))).scalar()
            if current is None:
                try:
                    conn.execute(
                        insert(schema_version).values(version=SCHEMA_VERSION, applied_at=time.time())
                    )
                except IntegrityError:
                    pass
                current = SCHEMA_VERSION
        if current > SCHEMA_VERSION:
            raise LmrecError(f"store schema version {current} is newer than this lmrec ({SCHEMA_VERSION})")
        if current < 2:
            self._migrate_to_2()
            current = 2
        return int(current)

    def _migrate_to_2(self) -> None:
        """Schema 1 -> 2: key scopes (old keys get LEGACY_SCOPES); create_all made the idempotency table."""
        columns = {c["name"] for c in inspect(self.engine).get_columns("api_keys")}
        if "scopes" not in columns:
            try:
                with self.engine.begin() as conn:
                    conn.execute(text("ALTER TABLE api_keys ADD COLUMN scopes VARCHAR(200)"))
            except DBAPIError:
                pass  # another process added it at the same moment
        with self.engine.begin() as conn:
            conn.execute(
                update(api_keys)
                .where(api_keys.c.scopes.is_(None))
                .values(scopes=format_scopes(LEGACY_SCOPES))
            )
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(schema_version).values(version=2, applied_at=time.time()))
        except IntegrityError:
            pass  # migrated by another process meanwhile

    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.max(schema_version.c.version))).scalar() or 0)

    # -- API keys --------------------------------------------------------------------------------------
    def create_key(self, name: str, scopes: Sequence[str] | frozenset[str] = DEFAULT_SCOPES) -> str:
        """A new API key named ``name`` with ``scopes`` (see :mod:`lmrec.serve.keys`); returns the plaintext,
        which is never stored (only a salted hash)."""
        if not name.strip():
            raise ConfigError("API key name must not be empty")
        granted = parse_scopes(scopes)
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_hex(16)
        with self.engine.begin() as conn:
            conn.execute(
                insert(api_keys).values(
                    key_id=key_id,
                    name=name.strip(),
                    salt=salt,
                    digest=digest(salt, secret),
                    created_at=time.time(),
                    revoked=False,
                    scopes=format_scopes(granted),
                )
            )
        return f"{KEY_PREFIX}_{key_id}_{secret}"

    def verify_key(self, key: str) -> ApiKey | None:
        """The key's id, name and scopes when ``key`` is a valid, unrevoked API key, else ``None``."""
        parts = split_key(key)
        if parts is None:
            return None
        key_id, secret = parts
        with self.engine.connect() as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.key_id == key_id)).first()
        if row is None or row.revoked or not hmac.compare_digest(row.digest, digest(row.salt, secret)):
            return None
        return _api_key(row)

    def list_keys(self) -> list[ApiKey]:
        """Every key (revoked ones too), oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(api_keys).order_by(api_keys.c.created_at, api_keys.c.key_id)).all()
        return [_api_key(r) for r in rows]

    def revoke_key(self, key_id: str) -> bool:
        with self.engine.begin() as conn:
            res = conn.execute(update(api_keys).where(api_keys.c.key_id == key_id).values(revoked=True))
        return bool(res.rowcount)

    # -- events ----------------------------------------------------------------------------------------
    def add_events(
        self, records: Sequence[EventRecord], idempotency_key: Idempotency | None = None
    ) -> tuple[dict[str, Any], bool]:
        """Store ``records`` in one committed transaction; returns (response, duplicate).

        With an ``idempotency_key`` the first request's response is stored with the events, atomically; a
        retry with the same key (same owner) and the same body hash stores nothing and gets that response
        back with ``duplicate=True``; the same key with another body hash raises :class:`IdempotencyConflict`.
        """
        now = time.time()
        rows = [
            {
                "user_id": r.user_id,
                "type": r.type,
                "item_id": r.item_id,
                "value": r.value,
                "text": r.text,
                "ts": r.ts if r.ts is not None else now,
                "received_at": now,
            }
            for r in records
        ]
        idem = idempotency_key
        if idem is not None:
            previous = self._idempotent_response(idem)
            if previous is not None:
                return previous, True
        try:
            with self.engine.begin() as conn:
                ids: list[int] = []
                if rows:
                    result = conn.execute(
                        insert(events).returning(events.c.id, sort_by_parameter_order=True), rows
                    )
                    ids = [int(r[0]) for r in result]
                response = {"accepted": len(ids), "ids": ids}
                if idem is not None:
                    conn.execute(
                        insert(idempotency).values(
                            owner=idem.owner,
                            key=idem.key,
                            body_hash=idem.body_hash,
                            response=json.dumps(response),
                            created_at=now,
                        )
                    )
        except IntegrityError:
            # a concurrent request with the same key committed first: its response is the answer
            previous = self._idempotent_response(idem) if idem is not None else None
            if previous is None:
                raise
            return previous, True
        return response, False

    def _idempotent_response(self, idem: Idempotency) -> dict[str, Any] | None:
        q = select(idempotency.c.body_hash, idempotency.c.response, idempotency.c.created_at).where(
            idempotency.c.owner == idem.owner, idempotency.c.key == idem.key
        )
        with self.engine.connect() as conn:
            row = conn.execute(q).first()
        if row is None:
            return None
        if row.body_hash != idem.body_hash:
            when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(row.created_at))
            raise IdempotencyConflict(
                f"Idempotency-Key {idem.key!r} was used by this API key at {when} for a different request "
                "body; send a new key for a new request (nothing was stored)"
            )
        return json.loads(row.response)

    def user_events(self, user_id: str, limit: int = 200) -> list[EventRecord]:
        """The user's latest ``limit`` events, oldest first."""
        q = (
            select(
                events.c.user_id, events.c.type, events.c.item_id, events.c.value, events.c.text, events.c.ts
            )
            .where(events.c.user_id == user_id)
            .order_by(events.c.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        return [EventRecord(*r) for r in reversed(rows)]

    def user_stamp(self, user_id: str) -> tuple[int, int, int]:
        """``(number of the user's events, their largest id, last catalog change seq)`` in one indexed query.

        Events are never deleted, so a committed event of the user always changes the first two numbers (even
        when PostgreSQL commits ids out of order): a cache of user states built from the store stays exact
        by comparing stamps, across processes. The catalog seq rides along so a read needs one round trip.
        """
        raw = self._raw_connection()
        if raw is not None:
            # every read asks this, so it skips SQLAlchemy's per-execute work (connection checkout, result
            # objects): several times the cost of the indexed query itself on SQLite
            try:
                cur = raw.cursor()
                cur.execute(self._stamp_sql, self._stamp_params(user_id))
                row = cur.fetchone()
                cur.close()
            except Exception:  # noqa: BLE001 - a broken raw connection is dropped; the pooled path answers
                self._drop_raw()
            else:
                return int(row[0]), int(row[1] or 0), int(row[2] or 0)
        with self.engine.connect() as conn:
            row = conn.execute(self._stamp_query, {"user": user_id}).one()
        return int(row[0]), int(row[1] or 0), int(row[2] or 0)

    @property
    def _stamp_query(self) -> Any:
        q = getattr(self, "_stamp_q", None)
        if q is None:
            from sqlalchemy import bindparam

            seq = select(func.max(catalog_changes.c.seq)).scalar_subquery()
            q = select(func.count(), func.max(events.c.id), seq).where(events.c.user_id == bindparam("user"))
            compiled = q.compile(dialect=self.engine.dialect)
            self._stamp_sql = compiled.string
            if self.engine.dialect.positional:
                self._stamp_params = lambda user: (user,)
            else:
                name = next(iter(compiled.params))
                self._stamp_params = lambda user: {name: user}
            self._stamp_q = q
        return q

    _RAW_MAX = 4  # raw connections (one per thread) at most; the event loop's thread asks first and most

    def _raw_connection(self) -> Any:
        """This thread's own autocommit DBAPI connection (taken out of the pool), or None when the cap is
        reached; the threads beyond it use the pool."""
        import threading

        raws: dict[int, Any] = self.__dict__.setdefault("_raws", {})
        tid = threading.get_ident()
        conn = raws.get(tid)
        if conn is not None or len(raws) >= self._RAW_MAX:
            return conn
        self._stamp_query  # noqa: B018 - compiles the SQL and its parameter shape once
        fairy = self.engine.raw_connection()
        conn = fairy.dbapi_connection
        fairy.detach()  # ours for good: the pool opens another in its place
        if conn is None:
            return None
        if self.dialect == "postgresql":
            conn.autocommit = True  # each query sees the latest commits; no transaction left idle
        raws[tid] = conn
        return conn

    def _drop_raw(self) -> None:
        import threading

        conn = self.__dict__.get("_raws", {}).pop(threading.get_ident(), None)
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001, S110 - already broken
                pass

    def count_events(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(events)).scalar() or 0)

    def event_ids(self) -> set[int]:
        with self.engine.connect() as conn:
            return {int(r[0]) for r in conn.execute(select(events.c.id))}

    def item_counts(self, since: float | None = None, limit: int = 1000) -> list[tuple[str, int]]:
        """The most frequent item ids in events (optionally only events received after ``since``)."""
        q = select(events.c.item_id, func.count().label("n")).where(events.c.item_id.is_not(None))
        if since is not None:
            q = q.where(events.c.received_at >= since)
        q = q.group_by(events.c.item_id).order_by(func.count().desc()).limit(limit)
        with self.engine.connect() as conn:
            return [(str(r[0]), int(r[1])) for r in conn.execute(q)]

    # -- catalog changes -------------------------------------------------------------------------------
    def log_item(
        self, item_id: str, op: str, fields: dict[str, Any] | None, vector: np.ndarray | None
    ) -> int:
        """Append a catalog change (``op`` = "add" or "delete"); returns its sequence number."""
        blob = None if vector is None else np.ascontiguousarray(vector, dtype=np.float32).tobytes()
        with self.engine.begin() as conn:
            res = conn.execute(
                insert(catalog_changes)
                .values(
                    item_id=item_id,
                    op=op,
                    fields=None if fields is None else json.dumps(fields),
                    vector=blob,
                    created_at=time.time(),
                )
                .returning(catalog_changes.c.seq)
            )
            return int(res.scalar_one())

    def catalog_changes_since(self, seq: int) -> list[CatalogChange]:
        q = select(catalog_changes).where(catalog_changes.c.seq > seq).order_by(catalog_changes.c.seq)
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        return [
            CatalogChange(
                seq=int(r.seq),
                item_id=r.item_id,
                op=r.op,
                fields=json.loads(r.fields) if r.fields else {},
                vector=None if r.vector is None else np.frombuffer(r.vector, dtype=np.float32).copy(),
            )
            for r in rows
        ]

    def last_catalog_seq(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.max(catalog_changes.c.seq))).scalar() or 0)

    def close(self) -> None:
        for conn in list(self.__dict__.get("_raws", {}).values()):
            try:
                conn.close()
            except Exception:  # noqa: BLE001, S110 - closing anyway
                pass
        self.__dict__.get("_raws", {}).clear()
        self.engine.dispose()


def _api_key(row: Any) -> ApiKey:
    scopes = LEGACY_SCOPES if row.scopes is None else frozenset(x for x in row.scopes.split(",") if x)
    return ApiKey(row.key_id, row.name, scopes, float(row.created_at), bool(row.revoked))
