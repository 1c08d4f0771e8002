"""`lmrec serve MODEL_DIR` (the HTTP service) and `lmrec keys create|list|revoke` (its scoped API keys)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import typer

from lmrec.errors import ConfigError, LmrecError

DEFAULT_DB = "sqlite:///lmrec-serve.sqlite"

keys_app = typer.Typer(
    help="Create, list and revoke API keys of the service (scopes: read, events, catalog, admin).",
    no_args_is_help=True,
)
OPEN_READS_WARNING = """\
lmrec: WARNING ******************************************************************************
lmrec: WARNING  open_user_reads is ON: anyone who can reach this server can read ANY user's
lmrec: WARNING  recommendations, explanations (the items behind them) and whether the user
lmrec: WARNING  exists, without a key. Use it for demos only, never on a network with real users.
lmrec: WARNING ******************************************************************************"""


def serve(
    model_dir: Path = typer.Argument(..., help="A saved model directory (with catalog/ from write_catalog)."),
    db: str = typer.Option(
        DEFAULT_DB, "--db", help="Store URL: sqlite:///path.db or postgresql://user:pw@host/db."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    workers: int = typer.Option(1, "--workers", min=1, help="Server processes (share the store)."),
    report: Path | None = typer.Option(None, "--report", help="Evaluation report folder shown at /report."),
    require_key_for_reads: bool = typer.Option(
        False, "--require-key-for-reads", help="Catalog reads (search, items) need a key too."
    ),
    open_user_reads: bool = typer.Option(
        False,
        "--open-user-reads",
        help="DEMOS ONLY: anyone may read any user's recommendations without a key (prints a warning).",
    ),
    index: str = typer.Option(
        "auto", "--index", help="Item index: auto (exact to 50,000 items, ivfpq above), exact, hnsw or ivfpq."
    ),
    encoder: str = typer.Option("auto", "--encoder", help="Text encoder when the model names none."),
    diversity: float | None = typer.Option(
        None,
        "--diversity",
        min=0.0,
        max=1.0,
        help="Diversity of recommendation lists, 0 (plain ranking) to 1 (MMR over item text vectors, "
        "lambda = 1 - diversity); default 0.3; requests may override it with diversity=.",
    ),
    settings_file: Path | None = typer.Option(None, "--settings", help="JSON file of ServeSettings fields."),
    log_level: str = typer.Option("warning", "--log-level", help="uvicorn log level."),
) -> None:
    """Serve recommendations, similar items, text search and event intake over HTTP."""
    import uvicorn

    from lmrec.models.checks import check_model_dir
    from lmrec.serve import ServeSettings

    if not model_dir.is_dir():
        raise LmrecError(f"{model_dir}: no such model directory")
    model, _ = check_model_dir(model_dir)  # refuse a broken model (files, shapes, NaN, catalog) first
    base: dict[str, Any] = {}
    if settings_file is not None:
        base = ServeSettings.from_json(settings_file).to_dict()
    overrides: dict[str, Any] = {
        "require_key_for_reads": require_key_for_reads or base.get("require_key_for_reads"),
        "open_user_reads": open_user_reads or base.get("open_user_reads"),
    }
    if report is not None:
        overrides["report_dir"] = str(report.resolve())
    if encoder != "auto":
        overrides["encoder"] = encoder
    if diversity is not None:
        overrides["diversity"] = diversity
    if index != "auto":
        overrides["index"] = {**base.get("index", {}), "kind": index}
    settings = ServeSettings.from_dict({**base, **{k: v for k, v in overrides.items() if v is not None}})
    if settings.open_user_reads:
        typer.echo(OPEN_READS_WARNING, err=True)
    if workers == 1:
        from lmrec.serve import create_app

        app = create_app(model_dir.resolve(), db, settings, model=model)  # loaded once
        typer.echo(f"lmrec: serving {model_dir} on http://{host}:{port} (store {_redact(db)})", err=True)
        uvicorn.run(app, host=host, port=port, log_level=log_level)
        return
    # several processes: each builds its own app from the same arguments (uvicorn needs an import string)
    from lmrec.serve.app import ENV_ARGS, build_index_caches
    from lmrec.serve.store import Store
    from lmrec.serve.workers import check_port_free, reuse_port_supported, run_workers

    if reuse_port_supported(port):
        check_port_free(host, port)  # before the index build, which takes minutes at a million items
    Store(db).close()  # create the schema once, before the workers race for it
    build_index_caches(model_dir.resolve(), db, settings, model=model)  # once, not in every worker
    del model
    os.environ[ENV_ARGS] = json.dumps(
        {"model_dir": str(model_dir.resolve()), "db_url": db, "settings": settings.to_dict()}
    )
    typer.echo(f"lmrec: serving {model_dir} on http://{host}:{port} with {workers} workers", err=True)
    run_workers("lmrec.serve.app:app_from_env", host=host, port=port, workers=workers, log_level=log_level)


def _redact(url: str) -> str:
    """The URL without its password."""
    head, sep, tail = url.partition("@")
    if not sep or "://" not in head:
        return url
    scheme, _, cred = head.partition("://")
    return f"{scheme}://{cred.split(':')[0]}:***@{tail}"


@keys_app.command("create")
def create_key(
    db: str = typer.Option(DEFAULT_DB, "--db", help="Store URL (the same one `lmrec serve` uses)."),
    name: str = typer.Option(..., "--name", help="Who or what the key is for."),
    scope: list[str] = typer.Option(
        [],
        "--scope",
        help="What the key may do: read (user recommendations), events (POST /events), catalog (POST/DELETE "
        "/items), admin (all). Repeat for several. Default: events.",
    ),
) -> None:
    """Create an API key and print it once (only a salted hash is stored)."""
    from lmrec.serve.keys import DEFAULT_SCOPES, format_scopes, parse_scopes
    from lmrec.serve.store import Store

    if not name.strip():
        raise ConfigError("--name must not be empty")
    try:
        scopes = parse_scopes(scope) if scope else DEFAULT_SCOPES
    except ConfigError as exc:
        raise ConfigError(f"--scope: {exc}") from None
    key = Store(db).create_key(name, scopes)
    typer.echo(key)
    typer.echo(f"Scopes: {format_scopes(scopes)}. Store this key now: it cannot be shown again.", err=True)


@keys_app.command("list")
def list_keys(db: str = typer.Option(DEFAULT_DB, "--db", help="Store URL.")) -> None:
    """List the keys: id, name, scopes, created (UTC), revoked. Secrets are never stored, so never shown."""
    import time

    from lmrec.serve.keys import format_scopes
    from lmrec.serve.store import Store

    for k in Store(db).list_keys():
        created = time.strftime("%Y-%m-%d %H:%M", time.gmtime(k.created_at))
        state = "revoked" if k.revoked else "active"
        typer.echo(f"{k.key_id}\t{k.name}\t{format_scopes(k.scopes)}\t{created}\t{state}")


@keys_app.command("revoke")
def revoke_key(
    key_id: str = typer.Argument(..., help="The id part of the key: lmk_<ID>_..."),
    db: str = typer.Option(DEFAULT_DB, "--db", help="Store URL."),
) -> None:
    """Revoke a key; servers stop accepting it within a second (key_cache_seconds, 0.5 s by default)."""
    from lmrec.serve.store import Store

    if not Store(db).revoke_key(key_id):
        raise LmrecError(f"no API key with id {key_id!r}")
    typer.echo(f"revoked {key_id}")
