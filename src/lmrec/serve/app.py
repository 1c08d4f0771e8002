"""FastAPI application factory: ``create_app(model_dir, db_url, settings)``.

Client mistakes never produce a 5xx: malformed JSON is a 400, bad input a 422 naming the field, an unknown
item a 404, a missing or invalid API key a 401, a key without the needed scope a 403, an idempotency key
reused for other events a 409, an oversized body a 413, a non-JSON body a 415, too many requests a 429. Who
may call what (keys, scopes, rate limits): :mod:`lmrec.serve.keys` and :mod:`lmrec.serve.security`.

The routes live in routers, one per area: the catalog (:mod:`lmrec.serve._routes_catalog`), recommendations
and events (:mod:`lmrec.serve._routes_recs`), the page's anonymous session
(:mod:`lmrec.serve._routes_session`) and the web pages (:mod:`lmrec.serve._routes_pages`); what they share is
:class:`lmrec.serve._context.Api`.
"""

import json
import os
import time
from pathlib import Path
from typing import Any

from lmrec.errors import ConfigError, LmrecError
from lmrec.serve._metrics import Metrics
from lmrec.serve._middleware import USER_RECS, BodyLimit, FastUserRecommendations, Timing
from lmrec.serve._openapi import description, openapi_schema
from lmrec.serve._routes_pages import STATIC_DIR, swagger_dir
from lmrec.serve._schemas import Health
from lmrec.serve._service import RecService
from lmrec.serve._settings import ServeSettings
from lmrec.serve.security import (
    AllowedMethods,
    Guard,
    KeyVerifier,
    RateLimiter,
    SecurityHeaders,
    route_methods,
)
from lmrec.serve.store import IdempotencyConflict, Store

ENV_ARGS = "LMREC_SERVE_ARGS"  # set by `lmrec serve --workers N` for the worker processes only
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
__all__ = ["ENV_ARGS", "STATIC_DIR", "app_from_env", "create_app"]


def create_app(
    model_dir: str | Path, db_url: str, settings: ServeSettings | None = None, *, model: Any = None
) -> Any:
    """The ASGI app serving the model saved in ``model_dir`` with the store at ``db_url`` (``model``: that
    folder's model when the caller has loaded it already)."""
    from fastapi import FastAPI, Request
    from fastapi.encoders import jsonable_encoder
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, PlainTextResponse
    from fastapi.staticfiles import StaticFiles

    from lmrec.serve._context import Api
    from lmrec.serve._routes_catalog import catalog_router
    from lmrec.serve._routes_pages import pages_router
    from lmrec.serve._routes_recs import recs_router
    from lmrec.serve._routes_session import session_router

    settings = settings or ServeSettings()
    store = Store(db_url, sqlite_synchronous=settings.sqlite_synchronous)
    service = RecService(model_dir, store, settings, model=model)
    metrics = Metrics()
    verifier = KeyVerifier(store.verify_key, settings.key_cache_seconds)
    limiter = RateLimiter(settings.rate_limits.max_clients)
    api = Api(service, settings, metrics, verifier, limiter)
    access = api.access  # (method, path) -> who may call it, for the OpenAPI document

    app = FastAPI(
        title="lmrec recommendation service",
        version="2",
        description=description(settings),
        docs_url=None,
        redoc_url=None,
    )
    app.state.service = service
    app.state.metrics = metrics
    app.state.limiter = limiter
    app.state.verifier = verifier

    # outermost last: timing, headers, guard (auth + rate limits), Allow, body limit, the fast user path
    fast: dict[str, Any] = {}  # filled below, once the route exists
    app.add_middleware(FastUserRecommendations, fast=fast, max_k=settings.max_k, may_read=api.may_read_users)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)  # type: ignore[arg-type]
    app.add_middleware(AllowedMethods, methods_for=route_methods(app.router.routes))  # type: ignore[arg-type]
    app.add_middleware(
        Guard,  # type: ignore[arg-type]
        verifier=verifier,
        limiter=limiter,
        limits=settings.rate_limits,
        trust_xff=settings.trust_forwarded_for,
    )
    app.add_middleware(SecurityHeaders)  # type: ignore[arg-type]
    app.add_middleware(Timing, metrics=metrics)  # type: ignore[arg-type]

    # -- errors ----------------------------------------------------------------------------------------
    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errs = list(exc.errors())
        if request.method in _BODY_METHODS and any(tuple(e.get("loc", ()))[:1] == ("body",) for e in errs):
            ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if isinstance(exc.body, bytes | bytearray) and exc.body and ctype != "application/json":
                detail = "send the body as JSON with 'Content-Type: application/json'"
                return JSONResponse({"detail": detail}, 415)
            bad = [e for e in errs if e.get("type") == "json_invalid"]
            if bad:
                where = ", ".join(str(x) for x in bad[0].get("loc", ())[1:])
                return JSONResponse({"detail": f"the body is not valid JSON (at character {where})"}, 400)
        issues = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type", "")}
            for e in errs
        ]
        return JSONResponse({"detail": jsonable_encoder(issues)}, status_code=422)

    @app.exception_handler(IdempotencyConflict)
    async def _conflict(_: Request, exc: IdempotencyConflict) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(LmrecError)
    async def _user_error(_: Request, exc: LmrecError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    # -- service ---------------------------------------------------------------------------------------
    access["GET", "/health"] = "open"

    @app.get("/health", response_model=Health, tags=["service"])
    def health() -> Health:
        s = service.stats()
        return Health(
            status="ok",
            user_reads="open" if settings.open_user_reads else "key",
            model=s["model"],
            items=s["items"],
            index=s["index"],
            store=s["store"],
            schema_version=s["schema_version"],
            encoder=s["encoder"],
        )

    access["GET", "/metrics"] = "open"

    @app.get("/metrics", response_class=PlainTextResponse, tags=["service"])
    def prometheus() -> PlainTextResponse:
        s = service.stats()
        gauges = {
            "lmrec_index_items": ("Items in the text index.", s["index"]["items"]),
            "lmrec_catalog_items": ("Live catalog items.", s["items"]),
            "lmrec_uptime_seconds": ("Seconds since start.", round(time.time() - service.started_at, 3)),
        }
        if s["rec_index"] is not None:
            gauges["lmrec_rec_index_items"] = (
                "Items in the model's retrieval index.",
                s["rec_index"]["items"],
            )
        return PlainTextResponse(metrics.render(gauges), media_type="text/plain; version=0.0.4")

    # the routers' routes join the app's own list (include_router would nest them in a lazy router, hiding
    # them from route_methods and the fast path's route lookup)
    for router in (catalog_router(api), recs_router(api, fast), session_router(api), pages_router(api)):
        app.router.routes.extend(router.routes)
    fast["route"] = next(r for r in app.routes if getattr(r, "path", None) == USER_RECS)

    def custom_openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            live = (i for i in service.catalog.item_ids if service.item_idx(i) is not None)
            app.openapi_schema = openapi_schema(app, settings, access, next(live, None))
        return app.openapi_schema

    app.openapi = custom_openapi  # type: ignore[method-assign]

    # /docs's Swagger UI assets (mounted before /static, which would otherwise take the path)
    app.mount("/static/swagger", StaticFiles(directory=swagger_dir()), name="swagger")
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    if settings.report_dir:
        rdir = Path(settings.report_dir)
        if not rdir.is_dir():
            raise ConfigError(f"report directory {rdir} does not exist")
        app.mount("/report/files", StaticFiles(directory=rdir, html=True), name="report")
    return app


def build_index_caches(
    model_dir: str | Path, db_url: str, settings: ServeSettings | None = None, *, model: Any = None
) -> None:
    """Build the service's ANN indexes once and write them to the index cache (``settings.index_cache``),
    then let them go: `lmrec serve --workers N` calls this before starting the workers, which then load the
    cached graphs instead of each building the same one at once (N times the CPU and the memory at start-up;
    over a million items each worker held ~7 GB while building). Does nothing with the cache off, or when the
    catalog gets an exact index (a copy of the vectors, not cached: each worker makes its own at once)."""
    from lmrec.models import load_model

    settings = settings or ServeSettings()
    if settings.index_cache == "off":
        return
    model = model if model is not None else load_model(Path(model_dir))
    if settings.index.resolve(int(model.n_items)) == "exact":
        return
    store = Store(db_url, sqlite_synchronous=settings.sqlite_synchronous)
    try:
        RecService(model_dir, store, settings, model=model)
    finally:
        store.close()


def app_from_env() -> Any:
    """App factory of `lmrec serve --workers N` processes: arguments come from ``$LMREC_SERVE_ARGS``."""
    raw = os.environ.get(ENV_ARGS)
    if not raw:
        raise ConfigError(f"${ENV_ARGS} is not set (it is set by `lmrec serve`)")
    args = json.loads(raw)
    return create_app(args["model_dir"], args["db_url"], ServeSettings.from_dict(args.get("settings", {})))
