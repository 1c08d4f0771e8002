"""The service's OpenAPI document: every status an operation can answer, who may call it, and the /docs page.

Routes declare their error answers with :func:`errors`; :func:`openapi_schema` adds what FastAPI cannot know:
the bearer-key security scheme and, per operation, whether a key is optional or which scope it needs, and the
limits that come from the settings.
"""

from __future__ import annotations

from typing import Any

from lmrec.serve._schemas import ErrorOut
from lmrec.serve._settings import ServeSettings

DESCRIPTION = """Recommendations, similar items and text search from a saved lmrec model.

**Keys and scopes.** Send `Authorization: Bearer KEY` (keys come from `lmrec keys create --scope ...`).
Scopes: `read` (anything derived from a user's history: `GET /users/{{id}}/recommendations`, its explanations
and `cold_start`), `events` (`POST /events`), `catalog` (`POST /items`, `DELETE /items/{{id}}`), `admin`
(all of them). Catalog reads (search, similar items, item pages, recommendations for an anonymous list of
items or a text) need no key{catalog_reads}.{user_reads} A missing or invalid key is a 401, a key without
the scope an operation needs a 403. A revoked key stops working within {key_cache:g} s (each process
remembers a key's check that long).

**Rate limits** (429 with `Retry-After`, per server process): {limits}

**Idempotency.** `POST /events` with an `Idempotency-Key` header (or `idempotency_key` in the body) stores a
retry once: the same API key sending the same key with the same events gets the first answer with
`duplicate: true`; the same key with other events is a 409. Keys of different API keys never meet.

**Scores.** `score` is the same on every endpoint that returns items: the item's place in the ranking that
produced the list, the share of the catalog that ranking scores below it (0 to 1; 1.0: nothing above it).
Text matches (`/search`, `/items/{{id}}/similar`) also carry `similarity`, the cosine of the text vectors.
Recommendation lists are diversified by maximal marginal relevance (`diversity`, default {diversity:g}).

**The web page's session.** `/session` and below keep an anonymous browser's likes and "not interested"
items under an HttpOnly cookie the first `PUT` sets; no key, and no way to name another session.

Malformed JSON is a 400, a body that is not `application/json` a 415, a body over the size limit a 413, an
invalid field a 422 naming it; booleans are `true`/`false` only."""

ERROR_TEXT = {
    400: "The body is not valid JSON.",
    401: "No API key where one is needed, or an invalid or revoked key.",
    403: "The API key lacks the scope this operation needs.",
    404: "An unknown item.",
    409: "The Idempotency-Key was used before by this API key for other events; nothing was stored.",
    413: "The body is larger than the service accepts.",
    415: "The body is not sent as application/json.",
    422: "An invalid parameter or body field; `detail` names each one.",
    429: "Too many requests; `Retry-After` says how many seconds to wait.",
}
_HEADERS = {
    401: {"WWW-Authenticate": {"required": True, "schema": {"type": "string"}}},
    429: {"Retry-After": {"required": True, "schema": {"type": "integer", "minimum": 1}}},
}

# who may call an operation: "open" (no key, no rate limit), "public" (a key is optional), or a scope
ACCESS_TEXT = {
    "open": "No key needed, not rate limited.",
    "public": "No key needed (unless the service requires one for every read).",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` entries of these error statuses (ErrorOut bodies, documented headers)."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        entry: dict[str, Any] = {"model": ErrorOut, "description": ERROR_TEXT[code]}
        if code in _HEADERS:
            entry["headers"] = _HEADERS[code]
        out[code] = entry
    return out


def description(settings: ServeSettings) -> str:
    r = settings.rate_limits
    if r.enabled:
        limits = (
            f"{r.key.per_second:g}/s (bursts of {r.key.burst}) per API key, {r.address.per_second:g}/s "
            f"(bursts of {r.address.burst}) per client address for requests without a valid key; "
            f"encoder-backed requests (`GET /search`, `POST /recommendations` with a text) also "
            f"{r.encoder_key.per_second:g}/s per key and {r.encoder_address.per_second:g}/s per address."
        )
    else:
        limits = "off in this service."
    return DESCRIPTION.format(
        catalog_reads=" (in this service they do: every read needs a key)"
        if settings.require_key_for_reads
        else "",
        user_reads=(
            " **In this service user data is open to anyone (`open_user_reads`): a demo setting.**"
            if settings.open_user_reads
            else ""
        ),
        key_cache=settings.key_cache_seconds,
        limits=limits,
        diversity=settings.diversity,
    )


def openapi_schema(
    app: Any, settings: ServeSettings, access: dict[tuple[str, str], str], example_item: str | None = None
) -> dict[str, Any]:
    """FastAPI's schema plus security requirements per operation, the settings' limits and, when given,
    ``example_item`` (a live catalog item; catalog ids are public) as the example of every ``item_id``
    path parameter."""
    from fastapi.openapi.utils import get_openapi

    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {})["apiKey"] = {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key from `lmrec keys create`.",
    }
    for path, item in schema["paths"].items():
        for method, op in item.items():
            level = access[(method.upper(), path)]  # every operation must say who may call it
            if level == "open":
                note = ACCESS_TEXT[level]
            elif level == "public" and not settings.require_key_for_reads:
                op["security"] = [{}, {"apiKey": []}]
                note = ACCESS_TEXT[level]
            elif level == "read" and settings.open_user_reads:
                op["security"] = [{}, {"apiKey": []}]
                note = "No key needed in this service (open_user_reads); by default a key with scope `read`."
            else:
                op["security"] = [{"apiKey": []}]
                note = (
                    "Needs a key." if level == "public" else f"Needs a key with scope `{level}` (or `admin`)."
                )
            op["description"] = (op.get("description", "") + "\n\n" + note).strip()
            for param in op.get("parameters", []):
                if example_item is not None and param["in"] == "path" and param["name"] == "item_id":
                    param["example"] = example_item
    bodies = components.get("schemas", {})
    if "EventsRequest" in bodies:
        events = bodies["EventsRequest"]["properties"]["events"]
        events["maxItems"] = min(int(events.get("maxItems", 1000)), settings.max_events_per_request)
    return schema
