"""Recommendation routes: a user's recommendations, an anonymous list of items or a text, and events."""

import hashlib
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Response
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool

from lmrec.serve._context import Api, Diversity, StrictBool
from lmrec.serve._middleware import USER_RECS, dumps
from lmrec.serve._openapi import errors
from lmrec.serve._schemas import (
    ID_PATTERN,
    EventsAccepted,
    EventsRequest,
    Recommendations,
    SessionRequest,
)
from lmrec.serve.security import Caller
from lmrec.serve.store import EventRecord, Idempotency


def recs_router(api: Api, fast: dict[str, Any]) -> APIRouter:
    """The router; ``fast`` gets the payload function the fast path of plain user requests calls."""
    router = APIRouter()
    service, settings, access = api.service, api.settings, api.access
    Public = api.public
    MaxK = api.max_k

    def user_payload(
        user_id: str,
        k: int,
        explain: bool,
        exclude_seen: bool,
        explore: bool,
        diversity: float | None = None,
    ) -> dict[str, Any]:
        ranked, cold = service.recommend_user(user_id, k, exclude_seen, explain, explore, diversity)
        items = [api.item_dict(r, explain) for r in ranked]
        return {"user_id": user_id, "cold_start": cold, "items": items}

    access["GET", USER_RECS] = "read"
    explore_doc = "Rank with the bandit's exploring score."
    if not settings.bandit:
        explore_doc += " This service has no bandit (setting bandit=true), so only false is accepted."

    @router.get(
        USER_RECS,
        response_model=Recommendations,
        tags=["recommendations"],
        responses=errors(401, 403, 422, 429),
    )
    async def user_recommendations(
        user_id: Annotated[str, PathParam(min_length=1, max_length=200, pattern=ID_PATTERN)],
        _: Annotated[Caller, Depends(api.needs("read"))],
        k: MaxK = 10,
        explain: StrictBool = False,
        exclude_seen: StrictBool = True,
        explore: Annotated[
            StrictBool,
            Query(description=explore_doc, json_schema_extra=None if settings.bandit else {"enum": [False]}),
        ] = False,
        diversity: Diversity = None,
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
        args = (user_id, k, explain, exclude_seen, explore, diversity)
        if explain or explore or not service.cheap_reads:
            payload = await run_in_threadpool(user_payload, *args)
        else:
            payload = user_payload(*args)
        return Response(dumps(payload), media_type="application/json")

    fast["payload"] = user_payload
    fast["inline"] = service.cheap_reads

    access["POST", "/recommendations"] = "public"

    @router.post(
        "/recommendations",
        response_model=Recommendations,
        tags=["recommendations"],
        responses=errors(400, 401, 404, 413, 415, 422, 429),
    )
    def session_recommendations(req: SessionRequest, caller: Public) -> Recommendations:
        has_text = bool(req.text and req.text.strip())
        if has_text:
            api.encoder_budget(caller)
        service.sync_catalog()
        hist = api.item_indices(req.items, "items")
        avoid = api.item_indices(req.not_interested, "not_interested")
        ranked = service.recommend(
            None,
            hist,
            req.text,
            min(req.k, settings.max_k),
            req.exclude_seen,
            explain=req.explain,
            diversity=req.diversity,
            avoid=avoid,
        )
        cold = not hist and not has_text
        return Recommendations(user_id=None, cold_start=cold, items=api.ranked_out(ranked, req.explain))

    access["POST", "/events"] = "events"

    @router.post(
        "/events",
        response_model=EventsAccepted,
        tags=["events"],
        responses=errors(400, 401, 403, 404, 409, 413, 415, 422, 429),
    )
    def post_events(
        req: EventsRequest,
        caller: Annotated[Caller, Depends(api.needs("events"))],
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
            idem = Idempotency(caller.key.key_id, key, events_hash(req))
        response, duplicate = service.record_events(records, idem)
        if duplicate:
            api.metrics.events_duplicate += 1
        else:
            api.metrics.events_stored += len(records)
        return EventsAccepted(accepted=response["accepted"], ids=response["ids"], duplicate=duplicate)

    return router


def events_hash(req: EventsRequest) -> str:
    """What an idempotency key is bound to: the events (not how the JSON was spelt, nor the key itself)."""
    events = [ev.model_dump(mode="json") for ev in req.events]
    return hashlib.sha256(json.dumps(events, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
