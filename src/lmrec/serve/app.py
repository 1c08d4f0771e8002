"""FastAPI application factory: ``create_app(model_dir, db_url, settings)``.

Client mistakes never produce a 5xx: bad input is a 422 naming the field, an unknown item a 404, a missing or
wrong API key a 401, an oversized body a 413.
"""

import json
import os
import re
import time
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool

from lmrec.errors import ConfigError, LmrecError
from lmrec.serve._metrics import Metrics
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
from lmrec.serve.store import EventRecord, Store

STATIC_DIR = Path(__file__).parent / "static"
ENV_ARGS = "LMREC_SERVE_ARGS"  # set by `lmrec serve --workers N` for the worker processes only


def create_app(model_dir: str | Path, db_url: str, settings: ServeSettings | None = None) -> Any:
    """The ASGI app serving the model saved in ``model_dir`` with the store at ``db_url``."""
    from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request, Response
    from fastapi import Path as PathParam
    from fastapi.encoders import jsonable_encoder
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse
    from fastapi.staticfiles import StaticFiles

    settings = settings or ServeSettings()
    store = Store(db_url, sqlite_synchronous=settings.sqlite_synchronous)
    service = RecService(model_dir, store, settings)
    metrics = Metrics()
    key_cache: dict[str, float] = {}

    app = FastAPI(
        title="lmrec recommendation service",
        version="1",
        description="Recommendations, similar items and text search from a saved lmrec model.",
    )
    app.state.service = service
    app.state.metrics = metrics
    fast: dict[str, Any] = {}  # filled below, once the route exists
    if not settings.require_key_for_reads:
        app.add_middleware(_FastUserRecommendations, fast=fast, max_k=settings.max_k)  # type: ignore[arg-type]
    app.add_middleware(_BodyLimit, max_bytes=settings.max_body_bytes)  # type: ignore[arg-type]
    app.add_middleware(_Timing, metrics=metrics)  # type: ignore[arg-type]

    # -- errors ----------------------------------------------------------------------------------------
    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for e in exc.errors():
            errors.append(
                {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type", "")}
            )
        return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)

    @app.exception_handler(LmrecError)
    async def _user_error(_: Request, exc: LmrecError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    # -- auth ------------------------------------------------------------------------------------------
    def _check(authorization: str | None) -> None:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise HTTPException(
                401,
                "missing API key: send 'Authorization: Bearer KEY'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        key = authorization[7:].strip()
        now = time.monotonic()
        if key_cache.get(key, 0.0) > now:
            return
        if store.verify_key(key) is None:
            raise HTTPException(401, "invalid API key", headers={"WWW-Authenticate": "Bearer"})
        if len(key_cache) > 10_000:
            key_cache.clear()
        key_cache[key] = now + 30.0  # revocation takes effect within 30 s

    # async: a sync dependency would cost every request a hop to the thread pool; a key is looked up in the
    # store at most once per 30 s, so checking on the event loop is cheap
    async def write_auth(authorization: Annotated[str | None, Header()] = None) -> None:
        _check(authorization)

    async def read_auth(authorization: Annotated[str | None, Header()] = None) -> None:
        if settings.require_key_for_reads:
            _check(authorization)

    MaxK = Annotated[int, Query(ge=1, le=settings.max_k, description="How many items.")]
    ItemId = Annotated[str, PathParam(min_length=1, max_length=200)]

    def ranked_out(ranked: list[Ranked], explain: bool) -> list[RecommendedItem]:
        cat = service.catalog
        out = []
        for r in ranked:
            expl = None
            if explain:
                expl = _explanation(r, cat.titles, cat.item_ids)
            out.append(
                RecommendedItem(
                    id=cat.item_ids[r.index],
                    title=cat.titles[r.index],
                    score=r.score,
                    source=r.reason,
                    explanation=expl,
                )
            )  # type: ignore[arg-type]
        return out

    def known_item(item_id: str) -> int:
        service.sync_catalog()
        idx = service.item_idx(item_id)
        if idx is None:
            raise HTTPException(404, f"unknown item {item_id!r}")
        return idx

    # -- reads -----------------------------------------------------------------------------------------
    @app.get("/health", response_model=Health, tags=["service"])
    def health() -> Health:
        s = service.stats()
        return Health(
            status="ok",
            model=s["model"],
            items=s["items"],
            index=s["index"],
            store=s["store"],
            schema_version=s["schema_version"],
            encoder=s["encoder"],
        )

    @app.get(
        "/items/{item_id}",
        response_model=Item,
        tags=["items"],
        responses={404: {}},
        dependencies=[Depends(read_auth)],
    )
    def get_item(item_id: ItemId) -> Item:
        return Item(**service.item_view(known_item(item_id)))

    @app.get(
        "/items/{item_id}/similar",
        response_model=Similar,
        tags=["items"],
        responses={404: {}},
        dependencies=[Depends(read_auth)],
    )
    def similar(item_id: ItemId, k: MaxK = 10) -> Similar:
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

    @app.get(
        _USER_RECS,
        response_model=Recommendations,
        tags=["recommendations"],
        dependencies=[Depends(read_auth)],
    )
    async def user_recommendations(
        user_id: Annotated[str, PathParam(min_length=1, max_length=200, pattern=ID_PATTERN)],
        k: MaxK = 10,
        explain: bool = False,
        exclude_seen: bool = True,
        explore: Annotated[
            bool, Query(description="Rank with the bandit's exploring score (needs the setting bandit=true).")
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
        return Response(_dumps(payload), media_type="application/json")

    fast["payload"] = user_payload
    fast["inline"] = service.cheap_reads
    fast["route"] = next(r for r in app.routes if getattr(r, "path", None) == _USER_RECS)

    @app.post(
        "/recommendations",
        response_model=Recommendations,
        tags=["recommendations"],
        responses={404: {}},
        dependencies=[Depends(read_auth)],
    )
    def session_recommendations(req: SessionRequest) -> Recommendations:
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
        cold = not hist and not (req.text and req.text.strip())
        return Recommendations(user_id=None, cold_start=cold, items=ranked_out(ranked, req.explain))

    @app.get("/search", response_model=SearchResults, tags=["items"], dependencies=[Depends(read_auth)])
    def search(
        q: Annotated[str, Query(min_length=1, max_length=settings.max_text_chars, description="Free text.")],
        k: MaxK = 10,
    ) -> SearchResults:
        if not q.strip():
            raise RequestValidationError(
                [{"loc": ("query", "q"), "msg": "query is blank", "type": "value_error"}]
            )
        return SearchResults(query=q, items=ranked_out(service.search(q, k), False))

    # -- writes ----------------------------------------------------------------------------------------
    @app.post(
        "/events",
        response_model=EventsAccepted,
        tags=["events"],
        responses={401: {}, 404: {}},
        dependencies=[Depends(write_auth)],
    )
    def post_events(
        req: EventsRequest,
        idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
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
        response, duplicate = service.record_events(records, idempotency_key or req.idempotency_key)
        if duplicate:
            metrics.events_duplicate += 1
        else:
            metrics.events_stored += len(records)
        return EventsAccepted(accepted=response["accepted"], ids=response["ids"], duplicate=duplicate)

    @app.post(
        "/items",
        response_model=ItemAdded,
        status_code=201,
        tags=["items"],
        responses={401: {}},
        dependencies=[Depends(write_auth)],
    )
    def post_item(req: ItemIn, response: Response) -> ItemAdded:
        service.sync_catalog()
        created = service.item_idx(req.id) is None
        fields = req.model_dump(exclude={"id"})
        idx = service.add_item(req.id, fields)
        if not created:
            response.status_code = 200
        return ItemAdded(
            item=Item(**service.item_view(idx)), created=created, index_size=len(service.text_index)
        )

    @app.delete(
        "/items/{item_id}",
        status_code=204,
        response_model=None,
        response_class=Response,
        tags=["items"],
        responses={401: {}, 404: {}},
        dependencies=[Depends(write_auth)],
    )
    def delete_item(item_id: ItemId) -> Response:
        if not service.delete_item(item_id):
            raise HTTPException(404, f"unknown item {item_id!r}")
        return Response(status_code=204)

    # -- operations ------------------------------------------------------------------------------------
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

    # -- web pages -------------------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    def index_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html")

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


_USER_RECS = "/users/{user_id}/recommendations"
_ID_RE = re.compile(ID_PATTERN)
_TRUE, _FALSE = frozenset({"true", "1"}), frozenset({"false", "0"})


class _FastUserRecommendations:
    """The plain ``GET /users/{id}/recommendations`` answered without FastAPI's routing, dependency solving
    and parameter models, which cost as much CPU as the ranking itself (a plain request is a stamp query
    and one ANN search). Only a request that is unambiguously valid takes this path: a well-formed id, at
    most one each of ``k`` (plain digits, 1..max_k) and ``exclude_seen`` (true/false/1/0), ``explain`` and
    ``explore`` absent or false, nothing else in the query string, reads open. Anything else, and any error,
    goes to the FastAPI route, whose answer (or 422) is the reference; the payload comes from the same
    function, so both paths return the same JSON."""

    def __init__(self, app: Any, fast: dict[str, Any], max_k: int) -> None:
        self.app, self.fast, self.max_k = app, fast, max_k

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
        if parsed is None:
            await self.app(scope, receive, send)
            return
        try:
            args = (parsed[0], parsed[1], False, parsed[2], False)
            if self.fast["inline"]:
                body = _dumps(self.fast["payload"](*args))
            else:
                body = _dumps(await run_in_threadpool(self.fast["payload"], *args))
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


class _BodyLimit:
    """Reject request bodies above ``max_bytes`` with 413 before the app reads them."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await _send_json(send, 413, {"detail": f"request body larger than {self.max_bytes} bytes"})
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
                await _send_json(send, 413, {"detail": f"request body larger than {self.max_bytes} bytes"})
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


class _Timing:
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


async def _send_json(send: Any, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _json_dumps(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


try:  # orjson (the serve extra) encodes a response several times faster than the json module
    import orjson

    _dumps = orjson.dumps
except ImportError:  # pragma: no cover - the plain encoder gives the same JSON
    _dumps = _json_dumps


def app_from_env() -> Any:
    """App factory of `lmrec serve --workers N` processes: arguments come from ``$LMREC_SERVE_ARGS``."""
    raw = os.environ.get(ENV_ARGS)
    if not raw:
        raise ConfigError(f"${ENV_ARGS} is not set (it is set by `lmrec serve`)")
    args = json.loads(raw)
    return create_app(args["model_dir"], args["db_url"], ServeSettings.from_dict(args.get("settings", {})))
