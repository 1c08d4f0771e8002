"""The store alone (SQLite; PostgreSQL when configured): schema versioning, keys, events, catalog log."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select

from lmrec.cli import main as cli
from lmrec.errors import ConfigError, LmrecError
from lmrec.serve import ServeSettings, create_app
from lmrec.serve.store import (
    SCHEMA_VERSION,
    EventRecord,
    Idempotency,
    IdempotencyConflict,
    Store,
    api_keys,
    schema_version,
)
from tests.serve.conftest import STORES, fresh_db_url


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path) -> Store:
    s = Store(fresh_db_url(request.param, tmp_path, "lmrec_store_tests"))
    yield s
    s.close()


def test_schema_is_created_and_versioned(store: Store) -> None:
    assert store.schema_version() == SCHEMA_VERSION
    assert Store(store.url).init_schema() == SCHEMA_VERSION  # a second start changes nothing
    with store.engine.begin() as conn:
        conn.execute(insert(schema_version).values(version=SCHEMA_VERSION + 1, applied_at=0.0))
    with pytest.raises(LmrecError, match="newer than this lmrec"):
        Store(store.url)


def test_api_keys_are_stored_hashed(store: Store) -> None:
    key = store.create_key("ci")
    prefix, key_id, secret = key.split("_", 2)
    found = store.verify_key(key)
    assert prefix == "lmk" and found is not None and found.name == "ci" and found.key_id == key_id
    assert found.scopes == {"events"}  # the default: post events, nothing more
    with store.engine.connect() as conn:
        row = conn.execute(select(api_keys)).one()
    assert secret not in (row.digest, row.salt, row.name) and len(row.digest) == 64
    assert store.verify_key(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert store.verify_key("not-a-key") is None and store.verify_key("") is None
    assert store.revoke_key(key_id) and store.verify_key(key) is None
    assert not store.revoke_key("nope")
    with pytest.raises(ConfigError):
        store.create_key("  ")


def test_events_idempotency_and_history(store: Store) -> None:
    evs = [EventRecord("u", "view", f"i{i}", ts=float(i)) for i in range(5)]
    k1 = Idempotency("keyA", "k1", "h1")
    first, dup = store.add_events(evs, k1)
    assert not dup and first["accepted"] == 5 and first["ids"] == sorted(first["ids"])
    again, dup = store.add_events(evs, k1)
    assert dup and again == first and store.count_events() == 5
    # the same idempotency key with another body: a conflict, nothing stored
    with pytest.raises(IdempotencyConflict, match="'k1'.*different request body"):
        store.add_events(evs[:1], Idempotency("keyA", "k1", "h2"))
    # the same idempotency key from another API key is another request altogether
    other, dup = store.add_events(evs[:1], Idempotency("keyB", "k1", "h2"))
    assert not dup and other["ids"][0] not in first["ids"] and store.count_events() == 6
    store.add_events([EventRecord("u", "search", text="robots")], None)
    store.add_events([EventRecord("u", "view", "i4")])
    hist = store.user_events("u", limit=3)
    assert [(e.type, e.item_id) for e in hist] == [("view", "i0"), ("search", None), ("view", "i4")]
    counts = dict(store.item_counts())
    assert counts["i0"] == counts["i4"] == 2 and counts["i1"] == 1


def test_catalog_log_round_trip(store: Store) -> None:
    vec = np.arange(4, dtype=np.float32)
    s1 = store.log_item("n1", "add", {"title": "T", "categories": ["a"]}, vec)
    s2 = store.log_item("n1", "delete", None, None)
    assert s2 > s1 and store.last_catalog_seq() == s2
    changes = store.catalog_changes_since(0)
    assert [c.op for c in changes] == ["add", "delete"]
    np.testing.assert_array_equal(changes[0].vector, vec)
    assert changes[0].fields == {"title": "T", "categories": ["a"]}
    assert store.catalog_changes_since(s2) == []


def test_bad_store_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="store URL"):
        Store("nosuchdb://x")


def test_reads_can_require_a_key(model_dir, tmp_path) -> None:
    vecs = np.random.default_rng(0).normal(size=(30, 8)).astype(np.float32)
    np.save(tmp_path / "v.npy", vecs)
    settings = ServeSettings(require_key_for_reads=True, item_vectors=str(tmp_path / "v.npy"))
    app = create_app(model_dir, f"sqlite:///{tmp_path / 's.sqlite'}", settings)
    key = app.state.service.store.create_key("writer", ["events"])
    with TestClient(app) as c:
        assert c.get("/items/i1").status_code == 401
        assert c.get("/users/u1/recommendations").status_code == 401
        auth = {"Authorization": f"Bearer {key}"}
        assert c.get("/items/i1", headers=auth).status_code == 200  # any valid key reads the catalog
        assert c.get("/users/u1/recommendations", headers=auth).status_code == 403  # user data needs read
        assert c.get("/health").status_code == 200  # probes stay open


def test_keys_cli(tmp_path, capsys, monkeypatch) -> None:
    db = f"sqlite:///{tmp_path / 'k.sqlite'}"
    # a url-safe secret may hold "_" anywhere, even first (CI once drew one): keys split on the first two only
    drawn = iter(["_first_" + "s" * 36, "a_b__c" + "t" * 37])
    monkeypatch.setattr("lmrec.serve.store.secrets.token_urlsafe", lambda n: next(drawn))
    assert cli(["keys", "create", "--db", db, "--name", "ops"]) == 0
    out = capsys.readouterr()
    key = out.out.strip()
    assert Store(db).verify_key(key).scopes == {"events"} and "Scopes: events" in out.err
    assert cli(["keys", "create", "--db", db, "--name", "app", "--scope", "read", "--scope", "catalog"]) == 0
    both = Store(db).verify_key(capsys.readouterr().out.strip())
    assert both.name == "app" and both.scopes == {"read", "catalog"}
    assert cli(["keys", "create", "--db", db, "--name", "x", "--scope", "write"]) == 2
    err = capsys.readouterr().err
    assert "--scope: unknown scope 'write'" in err and "read, events, catalog, admin" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert cli(["keys", "revoke", key.split("_")[1], "--db", db]) == 0
    assert Store(db).verify_key(key) is None
    assert capsys.readouterr().out.strip() == f"revoked {key.split('_')[1]}"
    assert cli(["keys", "list", "--db", db]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.strip().splitlines()]
    assert [(r[1], r[2], r[4]) for r in rows] == [
        ("ops", "events", "revoked"),
        ("app", "read,catalog", "active"),
    ]
    assert key.split("_", 2)[2] not in str(rows)  # the secret is never shown again
    assert cli(["keys", "revoke", "unknown", "--db", db]) == 2
    assert "no API key" in capsys.readouterr().err


@pytest.mark.parametrize("kind", STORES)
def test_a_schema_1_store_is_migrated_and_its_keys_keep_working(kind: str, tmp_path) -> None:
    """A store written before scopes: its keys get the documented legacy scopes (read, events, catalog)."""
    from sqlalchemy import Boolean, Column, Float, Integer, MetaData, String, Table, Text, create_engine

    from lmrec.serve.keys import LEGACY_SCOPES, digest
    from lmrec.serve.store import _normalise_url

    url = fresh_db_url(kind, tmp_path, "lmrec_migration_tests")
    old = MetaData()
    v1_version = Table(
        "schema_version", old, Column("version", Integer, primary_key=True), Column("applied_at", Float)
    )
    v1_keys = Table(
        "api_keys",
        old,
        Column("key_id", String(32), primary_key=True),
        Column("name", String(200), nullable=False),
        Column("salt", String(64), nullable=False),
        Column("digest", String(128), nullable=False),
        Column("created_at", Float, nullable=False),
        Column("revoked", Boolean, nullable=False),
    )
    Table("idempotency", old, Column("key", String(200), primary_key=True), Column("response", Text))
    engine = create_engine(_normalise_url(url))
    old.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(v1_version).values(version=1, applied_at=0.0))
        conn.execute(
            insert(v1_keys).values(
                key_id="0123456789ab",
                name="old",
                salt="s",
                digest=digest("s", "secret"),
                created_at=1.0,
                revoked=False,
            )
        )
    engine.dispose()
    store = Store(url)
    try:
        assert store.schema_version() == SCHEMA_VERSION == 2
        migrated = store.verify_key("lmk_0123456789ab_secret")
        assert migrated is not None and migrated.name == "old" and migrated.scopes == LEGACY_SCOPES
        assert store.verify_key("lmk_0123456789ab_wrong") is None
        assert store.create_key("new", ["read"]).startswith("lmk_")
        ids, dup = store.add_events([EventRecord("u", "view", "i1")], Idempotency("0123456789ab", "r1", "h"))
        assert not dup and store.add_events([], Idempotency("0123456789ab", "r1", "h")) == (ids, True)
        assert Store(url).init_schema() == 2  # opening it again changes nothing
    finally:
        store.close()
