"""The recommendation service: FastAPI app, store, catalog. Needs the ``serve`` extra (fastapi, uvicorn,
sqlalchemy; psycopg for PostgreSQL).

>>> from lmrec.serve import create_app, ServeSettings       # doctest: +SKIP
>>> app = create_app("runs/textseq", "sqlite:///serve.db", ServeSettings(require_key_for_reads=False))
"""

from __future__ import annotations

from typing import Any

from lmrec.models.catalog import Catalog, read_catalog, write_catalog
from lmrec.serve._indexes import training_queries
from lmrec.serve._settings import ServeSettings


def create_app(
    model_dir: Any, db_url: str, settings: ServeSettings | None = None, *, model: Any = None
) -> Any:
    """The FastAPI app serving ``model_dir`` with the store at ``db_url`` (see :mod:`lmrec.serve.app`;
    ``model``: that folder's model when the caller has loaded it already)."""
    try:
        from lmrec.serve.app import create_app as _create
    except ImportError as exc:  # fastapi / sqlalchemy missing
        from lmrec.errors import MissingDependencyError

        raise MissingDependencyError(
            f"serving needs the serve extra: pip install 'lmrec[serve]' ({exc})"
        ) from None
    return _create(model_dir, db_url, settings, model=model)


__all__ = ["Catalog", "ServeSettings", "create_app", "read_catalog", "training_queries", "write_catalog"]
