"""FastAPI application factory: ``create_app(model_dir, db_url, settings)``.

Client mistakes never produce a 5xx: malformed JSON is a 400, bad input a 422 naming the field, an unknown
item a 404, a missing or invalid API key a 401, a key without the needed scope a 403, an idempotency key
reused for other events a 409, an oversized body a 413, a non-JSON body a 415, too many requests a 429. Who
may call what (keys, scopes, rate limits): :mod:`lmrec.serve.keys` and :mod:`lmrec.serve.security`.
"""

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Annotated, Any

from starlette.concurrency import run_in_threadpool

from lmrec.errors import ConfigError, LmrecError
from lmrec.serve._metrics import Metrics
from lmrec.serve._middleware import USER_RECS, BodyLimit, FastUserRecommendations, Timing, dumps
from lmrec.serve._openapi import description, docs_page, errors, openapi_schema
from lmrec.serve._schemas import (
    ID_PATTERN,
    EventsAccepted,
    EventsRequest,
    Explanation,
    Health,
    Item,
    ItemAdded,
    ItemIn,
    Recommendations,
    RecommendedItem,
    SearchResults,
    SessionRequest,
    Similar,
)
from lmrec.serve._service import Ranked, RecService
from lmrec.serve._settings import ServeSettings
from lmrec.serve.security import (
    AllowedMethods,
    Caller,
    Guard,
    KeyVerifier,
    RateLimiter,
    SecurityHeaders,
    charge_encoder,
    retry_after,
    route_methods,
)
from lmrec.serve.store import EventRecord, Idempotency, IdempotencyConflict, Store

STATIC_DIR = Path(__file__).parent / "static"
ENV_ARGS = "LMREC_SERVE_ARGS"  # set by `lmrec serve --workers N` for the worker processes only
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def create_app(model_dir: str | Path, db_url: str, settings: ServeSettings | None = None) -> Any:
    """The ASGI app serving the model saved in ``model_dir`` with the store at ``db_url``."""
    from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request, Response
    from fastapi import Path as PathParam
    from fastapi.encoders import jsonable_encoder
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse
    from fastapi.staticfiles import StaticFiles
    from pydantic import BeforeValidator

    settings = settings or ServeSettings()
    store = Store(db_url, sqlite_synchronous=settings.sqlite_synchronous)
    service = RecService(model_dir, store, settings)
    metrics = Metrics()
    verifier = KeyVerifier(store.verify_key, settings.key_cache_seconds)
    limiter = RateLimiter(settings.rate_limits.max_clients)
    limits = settings.rate_limits

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
    docs_html, docs_csp = docs_page("/openapi.json", app.title + " - API")

    def may_read_users(caller: Caller | None) -> bool:
        if caller is None or caller.error is not None:
            return False
        return settings.open_user_reads or (caller.key is not None and caller.key.allows("read"))

    # outermost last: timing, headers, guard (auth + rate limits), Allow, body limit, the fast user path
    fast: dict[str, Any] = {}  # filled below, once the route exists
    app.add_middleware(FastUserRecommendations, fast=fast, max_k=settings.max_k, may_read=may_read_users)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)  # type: ignore[arg-type]
    app.add_middleware(AllowedMethods, methods_for=route_methods(app.router.routes))  # type: ignore[arg-type]
    app.add_middleware(
        Guard,  # type: ignore[arg-type]
        verifier=verifier,
        limiter=limiter,
        limits=limits,
        trust_xff=settings.trust_forwarded_for,
    )
    app.add_middleware(SecurityHeaders, docs_csp=docs_csp)  # type: ignore[arg-type]
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

    # -- who is calling --------------------------------------------------------------------------------
    bearer = {"WWW-Authenticate": "Bearer"}

    def caller_of(request: Request) -> Caller:
        caller = request.scope.get("state", {}).get("caller")
        if caller is None:  # not through the Guard (a path it does not watch): check the key, no limits
            unlimited = limits.replace(enabled=False)
            caller = Guard(None, verifier, limiter, unlimited, False).resolve(request.scope)[0]
        return caller

    def needs(scope: str) -> Any:
        """Dependency: the caller, when allowed ``scope`` ("public": a catalog read), else 401/403."""

        async def check(request: Request) -> Caller:
            caller = caller_of(request)
            if caller.error is not None:
                raise HTTPException(401, caller.error, headers=bearer)
            if scope == "public" and not settings.require_key_for_reads:
                return caller
            if scope == "read" and settings.open_user_reads:
                return caller
            if caller.key is None:
                what = "an API key" if scope == "public" else f"an API key with the '{scope}' scope"
                raise HTTPException(
                    401, f"this needs {what}: send 'Authorization: Bearer KEY'", headers=bearer
                )
            if scope != "public" and not caller.key.allows(scope):
                has = ", ".join(sorted(caller.key.scopes)) or "none"
                raise HTTPException(
                    403,
                    f"this API key (scopes: {has}) lacks the '{scope}' scope; "
                    f"create one with `lmrec keys create --scope {scope}`",
                )
            return caller

        return check

    def encoder_budget(caller: Caller) -> None:
        wait, message = charge_encoder(limiter, limits, caller)
        if wait:
            raise HTTPException(429, message, headers={"Retry-After": retry_after(wait)})

    Public = Annotated[Caller, Depends(needs("public"))]
    MaxK = Annotated[int, Query(ge=1, le=settings.max_k, description="How many items.")]
    ItemId = Annotated[str, PathParam(min_length=1, max_length=200)]
    StrictBool = Annotated[bool, BeforeValidator(_strict_bool)]
    access: dict[tuple[str, str], str] = {}  # (method, path) -> who may call it, for the OpenAPI document

    def ranked_out(ranked: list[Ranked], explain: bool) -> list[RecommendedItem]:
        cat = service.catalog
        return [
            RecommendedItem(
                id=cat.item_ids[r.index],
                title=cat.titles[r.index],
                score=r.score,
                source=r.reason,  # type: ignore[arg-type]
                explanation=_explanation(r, cat.titles, cat.item_ids) if explain else None,
            )
            for r in ranked
        ]

    def known_item(item_id: str) -> int:
        service.sync_catalog()
        idx = service.item_idx(item_id)
        if idx is None:
            raise HTTPException(404, f"unknown item {item_id!r}")
        return idx

    # -- reads -----------------------------------------------------------------------------------------
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

    access["GET", "/items/{item_id}"] = "public"

    @app.get("/items/{item_id}", response_model=Item, tags=["items"], responses=errors(401, 404, 422, 429))
    def get_item(item_id: ItemId, _: Public) -> Item:
        return Item(**service.item_view(known_item(item_id)))

    access["GET", "/items/{item_id}/similar"] = "public"

    @app.get(
        "/items/{item_id}/similar",
        response_model=Similar,
        tags=["items"],
        responses=errors(401, 404, 422, 429),
    )
    def similar(item_id: ItemId, _: Public, k: MaxK = 10) -> Similar:
        idx = known_item(item_id)
        return Similar(item_id=item_id, items=ranked_out(service.similar(idx, k), False))

    def user_payload(
        user_id: str, k: int, explain: bool, exclude_seen: bool, explore: bool
    ) -> dict[str, Any]:
        ranked, cold = service.recommend_user(user_id, k, exclude_seen, explain, explore)
        cat = service.catalog
        ids, titles = cat.item_ids, cat.titles
        items = [
            {
                "id": ids[r.index],
                "title": titles[r.index],
                "score": r.score,
                "source": r.reason,
                "explanation": _explanation(r, titles, ids).model_dump() if explain else None,
            }
            for r in ranked
        ]
        return {"user_id": user_id, "cold_start": cold, "items": items}

    access["GET", USER_RECS] = "read"
    explore_doc = "Rank with the bandit's exploring score."
    if not settings.bandit:
        explore_doc += " This service has no bandit (setting bandit=true), so only false is accepted."

    @app.get(
        USER_RECS,
        response_model=Recommendations,
        tags=["recommendations"],
        responses=errors(401, 403, 422, 429),
    )
    async def user_recommendations(
        user_id: Annotated[str, PathParam(min_length=1, max_length=200, pattern=ID_PATTERN)],
        _: Annotated[Caller, Depends(needs("read"))],
        k: MaxK = 10,
        explain: StrictBool = False,
        exclude_seen: StrictBool = True,
        explore: Annotated[
            StrictBool,
            Query(description=explore_doc, json_schema_extra=None if settings.bandit else {"enum": [False]}),
        ] = False,
    ) -> Response:
        if explore and service.bandit is None:
            raise RequestValidationError(
                [
                    {
                        "loc": ("query", "explore"),
                        "type": "value_error",
                        "msg": "explore=true needs a bandit: start the service with the setting bandit=true",
                    }
                ]
            )
        # With an ANN index a plain list is an indexed stamp query on a cached user state plus one search
        # (well under a millisecond), so it runs on the event loop: a thread-pool hop and the GIL hand-offs
        # between pool threads would cost more than the work. Explanations, exploration and full-catalog
        # scoring are heavier and go to the pool. The dict follows the Recommendations schema, encoded as is.
        if explain or explore or not service.cheap_reads:
            payload = await run_in_threadpool(user_payload, user_id, k, explain, exclude_seen, explore)
        else:
            payload = user_payload(user_id, k, explain, exclude_seen, explore)
        return Response(dumps(payload), media_type="application/json")

    fast["payload"] = user_payload
    fast["inline"] = service.cheap_reads
    fast["route"] = next(r for r in app.routes if getattr(r, "path", None) == USER_RECS)

    access["POST", "/recommendations"] = "public"

    @app.post(
        "/recommendations",
        response_model=Recommendations,
        tags=["recommendations"],
        responses=errors(400, 401, 404, 413, 415, 422, 429),
    )
    def session_recommendations(req: SessionRequest, caller: Public) -> Recommendations:
        has_text = bool(req.text and req.text.strip())
        if has_text:
            encoder_budget(caller)
        service.sync_catalog()
        hist = []
        for item_id in req.items:
            idx = service.catalog.item_index(item_id)
            if idx is None:
                raise HTTPException(404, f"unknown item {item_id!r} in 'items'")
            hist.append(idx)
        ranked = service.recommend(
            None, hist, req.text, min(req.k, settings.max_k), req.exclude_seen, explain=req.explain
        )
        cold = not hist and not has_text
        return Recommendations(user_id=None, cold_start=cold, items=ranked_out(ranked, req.explain))

    access["GET", "/search"] = "public"

    @app.get("/search", response_model=SearchResults, tags=["items"], responses=errors(401, 422, 429))
    def search(
        q: Annotated[
            str,
            Query(
                min_length=1,
                max_length=settings.max_text_chars,
                pattern=r"\S",
                description="Free text (not blank).",
            ),
        ],
        caller: Public,
        k: MaxK = 10,
    ) -> SearchResults:
        encoder_budget(caller)
        return SearchResults(query=q, items=ranked_out(service.search(q, k), False))

    # -- writes ----------------------------------------------------------------------------------------
    access["POST", "/events"] = "events"

    @app.post(
        "/events",
        response_model=EventsAccepted,
        tags=["events"],
        responses=errors(400, 401, 403, 404, 409, 413, 415, 422, 429),
    )
    def post_events(
        req: EventsRequest,
        caller: Annotated[Caller, Depends(needs("events"))],
        idempotency_key: Annotated[
            str | None,
            Header(
                min_length=1,
                max_length=200,
                pattern=ID_PATTERN,
                description="Makes a retry store nothing (overrides the body's idempotency_key).",
            ),
        ] = None,
    ) -> EventsAccepted:
        if len(req.events) > settings.max_events_per_request:
            raise RequestValidationError(
                [
                    {
                        "loc": ("body", "events"),
                        "type": "too_long",
                        "msg": f"at most {settings.max_events_per_request} events",
                    }
                ]
            )
        service.sync_catalog()
        for i, ev in enumerate(req.events):
            if ev.item_id is not None and service.catalog.item_index(ev.item_id) is None:
                raise HTTPException(404, f"events.{i}.item_id: unknown item {ev.item_id!r}")
        records = [
            EventRecord(ev.user_id, ev.type, ev.item_id, ev.value, ev.text, ev.timestamp) for ev in req.events
        ]
        key = idempotency_key or req.idempotency_key
        idem = None
        if key is not None:
            assert caller.key is not None  # the events scope needs a key
            idem = Idempotency(caller.key.key_id, key, _events_hash(req))
        response, duplicate = service.record_events(records, idem)
        if duplicate:
            metrics.events_duplicate += 1
        else:
            metrics.events_stored += len(records)
        return EventsAccepted(accepted=response["accepted"], ids=response["ids"], duplicate=duplicate)

    access["POST", "/items"] = "catalog"

    @app.post(
        "/items",
        response_model=ItemAdded,
        status_code=201,
        tags=["items"],
        responses={
            200: {"model": ItemAdded, "description": "An item with this id existed: it was replaced."},
            201: {"description": "A new item was added."},
            **errors(400, 401, 403, 413, 415, 422, 429),
        },
    )
    def post_item(
        req: ItemIn, response: Response, _: Annotated[Caller, Depends(needs("catalog"))]
    ) -> ItemAdded:
        service.sync_catalog()
        created = service.item_idx(req.id) is None
        fields = req.model_dump(exclude={"id"})
        idx = service.add_item(req.id, fields)
        if not created:
            response.status_code = 200
        return ItemAdded(
            item=Item(**service.item_view(idx)), created=created, index_size=len(service.text_index)
        )

    access["DELETE", "/items/{item_id}"] = "catalog"

    @app.delete(
        "/items/{item_id}",
        status_code=204,
        response_model=None,
        response_class=Response,
        tags=["items"],
        responses=errors(401, 403, 404, 422, 429),
    )
    def delete_item(item_id: ItemId, _: Annotated[Caller, Depends(needs("catalog"))]) -> Response:
        if not service.delete_item(item_id):
            raise HTTPException(404, f"unknown item {item_id!r}")
        return Response(status_code=204)

    # -- operations ------------------------------------------------------------------------------------
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

    def custom_openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi_schema(app, settings, access)
        return app.openapi_schema

    app.openapi = custom_openapi  # type: ignore[method-assign]

    # -- web pages -------------------------------------------------------------------------------------
    # the page learns where it may keep a key from its body's data attribute (no inline script under the CSP)
    index_html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    index_html = index_html.replace(
        'data-key-storage="memory"', f'data-key-storage="{settings.web_key_storage}"'
    )

    @app.get("/", include_in_schema=False)
    def index_page() -> HTMLResponse:
        return HTMLResponse(index_html)

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(docs_html)

    @app.get("/report", include_in_schema=False)
    def report_page() -> Any:
        if settings.report_dir and (Path(settings.report_dir) / "report.html").is_file():
            return FileResponse(STATIC_DIR / "report.html")
        return HTMLResponse(_NO_REPORT, status_code=200)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    if settings.report_dir:
        rdir = Path(settings.report_dir)
        if not rdir.is_dir():
            raise ConfigError(f"report directory {rdir} does not exist")
        app.mount("/report/files", StaticFiles(directory=rdir, html=True), name="report")
    return app


def _strict_bool(value: Any) -> Any:
    """Query booleans are ``true`` or ``false`` (as the schema says), not 1/0/yes/on."""
    if isinstance(value, bool):
        return value
    if value == "true":
        return True
    if value == "false":
        return False
    raise ValueError("a boolean is true or false")


def _events_hash(req: EventsRequest) -> str:
    """What an idempotency key is bound to: the events (not how the JSON was spelt, nor the key itself)."""
    events = [ev.model_dump(mode="json") for ev in req.events]
    return hashlib.sha256(json.dumps(events, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _explanation(r: Ranked, titles: list[str], ids: list[str]) -> Explanation:
    """The response's explanation: the service's Explainer sentence (lmrec.explain) and its top contributing
    history item; items no history item points at keep their source's reason."""
    if r.because is not None and r.explanation is not None:
        return Explanation(
            text=r.explanation,
            because_item_id=ids[r.because],
            because_title=titles[r.because],
            similarity=r.because_similarity,
        )
    if r.reason == "popular":
        return Explanation(text="Popular right now")
    if r.reason == "text":
        return Explanation(text="Matches what you wrote")
    if r.reason == "bandit":
        return Explanation(text="Something new to try")
    return Explanation(text="Recommended for you")


_NO_REPORT = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Evaluation report</title>
<link rel="stylesheet" href="/static/style.css"></head><body><main><h1>Evaluation report</h1>
<p>No report is configured. Start the server with <code>--report DIR</code>.</p>
<p><a href="/">Back to the catalog</a></p></main></body></html>"""


def app_from_env() -> Any:
    """App factory of `lmrec serve --workers N` processes: arguments come from ``$LMREC_SERVE_ARGS``."""
    raw = os.environ.get(ENV_ARGS)
    if not raw:
        raise ConfigError(f"${ENV_ARGS} is not set (it is set by `lmrec serve`)")
    args = json.loads(raw)
    return create_app(args["model_dir"], args["db_url"], ServeSettings.from_dict(args.get("settings", {})))
