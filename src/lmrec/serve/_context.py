"""What every router of the HTTP API shares: the service, the settings, who is calling, and the response
shapes of ranked items."""

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request
from fastapi import Path as PathParam
from pydantic import BeforeValidator

from lmrec.serve._metrics import Metrics
from lmrec.serve._ranking import Ranked
from lmrec.serve._schemas import Explanation, RecommendedItem
from lmrec.serve._service import RecService
from lmrec.serve._settings import ServeSettings
from lmrec.serve.security import Caller, Guard, KeyVerifier, RateLimiter, charge_encoder, retry_after

BEARER = {"WWW-Authenticate": "Bearer"}


def strict_bool(value: Any) -> Any:
    """Query booleans are ``true`` or ``false`` (as the schema says), not 1/0/yes/on."""
    if isinstance(value, bool):
        return value
    if value == "true":
        return True
    if value == "false":
        return False
    raise ValueError("a boolean is true or false")


StrictBool = Annotated[bool, BeforeValidator(strict_bool)]
ItemId = Annotated[str, PathParam(min_length=1, max_length=200)]
Diversity = Annotated[
    float | None,
    Query(
        ge=0, le=1, description="MMR diversity, 0 (the plain ranking) to 1; default: the service's setting."
    ),
]


@dataclass
class Api:
    """The shared state of one app; ``access`` records who may call each operation (for the schema)."""

    service: RecService
    settings: ServeSettings
    metrics: Metrics
    verifier: KeyVerifier
    limiter: RateLimiter
    access: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def max_k(self) -> Any:
        return Annotated[int, Query(ge=1, le=self.settings.max_k, description="How many items.")]

    @property
    def public(self) -> Any:
        return Annotated[Caller, Depends(self.needs("public"))]

    def may_read_users(self, caller: Caller | None) -> bool:
        if caller is None or caller.error is not None:
            return False
        return self.settings.open_user_reads or (caller.key is not None and caller.key.allows("read"))

    def caller_of(self, request: Request) -> Caller:
        caller = request.scope.get("state", {}).get("caller")
        if caller is None:  # not through the Guard (a path it does not watch): check the key, no limits
            unlimited = self.settings.rate_limits.replace(enabled=False)
            caller = Guard(None, self.verifier, self.limiter, unlimited, False).resolve(request.scope)[0]
        return caller

    def needs(self, scope: str) -> Any:
        """Dependency: the caller, when allowed ``scope`` ("public": a catalog read), else 401/403."""
        settings = self.settings

        async def check(request: Request) -> Caller:
            caller = self.caller_of(request)
            if caller.error is not None:
                raise HTTPException(401, caller.error, headers=BEARER)
            if scope == "public" and not settings.require_key_for_reads:
                return caller
            if scope == "read" and settings.open_user_reads:
                return caller
            if caller.key is None:
                what = "an API key" if scope == "public" else f"an API key with the '{scope}' scope"
                raise HTTPException(
                    401, f"this needs {what}: send 'Authorization: Bearer KEY'", headers=BEARER
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

    def encoder_budget(self, caller: Caller) -> None:
        wait, message = charge_encoder(self.limiter, self.settings.rate_limits, caller)
        if wait:
            raise HTTPException(429, message, headers={"Retry-After": retry_after(wait)})

    def known_item(self, item_id: str) -> int:
        self.service.sync_catalog()
        idx = self.service.item_idx(item_id)
        if idx is None:
            raise HTTPException(404, f"unknown item {item_id!r}")
        return idx

    def item_indices(self, ids: list[str], field_name: str) -> list[int]:
        """Dense indices of item ids sent in a body field (404 naming the field for an unknown one)."""
        out = []
        for item_id in ids:
            idx = self.service.catalog.item_index(item_id)
            if idx is None:
                raise HTTPException(404, f"unknown item {item_id!r} in '{field_name}'")
            out.append(idx)
        return out

    def item_dict(self, r: Ranked, explain: bool) -> dict[str, Any]:
        """One ranked item as the RecommendedItem schema's dict (the fast path encodes it as is)."""
        cat = self.service.catalog
        return {
            "id": cat.item_ids[r.index],
            "title": cat.titles[r.index],
            "score": r.score,
            "similarity": r.similarity,
            "source": r.reason,
            "year": cat.details[r.index].get("year"),
            "categories": cat.categories[r.index],
            "explanation": explanation(r, cat.titles, cat.item_ids).model_dump() if explain else None,
        }

    def ranked_out(self, ranked: list[Ranked], explain: bool) -> list[RecommendedItem]:
        return [RecommendedItem(**self.item_dict(r, explain)) for r in ranked]


def explanation(r: Ranked, titles: list[str], ids: list[str]) -> Explanation:
    """The response's explanation: the service's Explainer sentence (lmrec.explain) and the one history item
    it names; items no history item points at keep their source's reason."""
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
