"""Request and response models of the HTTP API (they define /openapi.json)."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

EventType = Literal["view", "click", "like", "purchase", "add_to_cart", "rating", "review", "search"]
ITEM_EVENTS = {"view", "click", "like", "purchase", "add_to_cart", "rating", "review"}
ID_PATTERN = r"^[^\x00-\x1f\x7f]+$"  # no control characters (PostgreSQL text cannot hold NUL)
NO_NUL = r"^[^\x00]*$"
Id = Field(min_length=1, max_length=200, pattern=ID_PATTERN)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Health(BaseModel):
    status: Literal["ok"]
    model: str
    items: int
    index: dict[str, object]
    store: str
    schema_version: int
    encoder: str


class Item(BaseModel):
    id: str
    title: str
    text: str
    categories: list[str]


class Explanation(BaseModel):
    text: str = Field(
        description="A short human-readable reason, e.g. 'Recommended because you liked X (shared: ...)'."
    )
    because_item_id: str | None = None
    because_title: str | None = None
    similarity: float | None = None


class RecommendedItem(BaseModel):
    id: str
    title: str
    score: float
    source: Literal["history", "text", "new", "popular", "similar", "bandit"]
    explanation: Explanation | None = None


class Recommendations(BaseModel):
    user_id: str | None = None
    cold_start: bool = Field(description="True when nothing is known of the user: popular items (+ text).")
    items: list[RecommendedItem]


class SessionRequest(_Strict):
    """An anonymous session: the items seen (oldest first) and/or free text in any supported language."""

    items: list[str] = Field(default_factory=list, max_length=500)
    text: str | None = Field(default=None, max_length=2000)
    k: int = Field(default=10, ge=1, le=100)
    exclude_seen: bool = True
    explain: bool = False

    @field_validator("items")
    @classmethod
    def _ids(cls, v: list[str]) -> list[str]:
        for i, x in enumerate(v):
            if not x or len(x) > 200:
                raise ValueError(f"item {i}: ids are 1 to 200 characters")
        return v


class SearchResults(BaseModel):
    query: str
    items: list[RecommendedItem]


class Similar(BaseModel):
    item_id: str
    items: list[RecommendedItem]


class EventIn(_Strict):
    user_id: str = Id
    type: EventType
    item_id: str | None = Field(
        default=None, min_length=1, max_length=200, pattern=ID_PATTERN, validate_default=True
    )
    value: float | None = Field(
        default=None, description="The rating, for type 'rating'.", validate_default=True
    )
    text: str | None = Field(
        default=None,
        max_length=5000,
        pattern=NO_NUL,
        description="Review text or search query.",
        validate_default=True,
    )
    timestamp: float | None = Field(default=None, ge=0, le=1e11, description="Seconds since the epoch.")

    # field validators (not one model validator) so that a 422 names the offending field
    @field_validator("item_id")
    @classmethod
    def _item_needed(cls, v: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("type")
        if kind in ITEM_EVENTS and v is None:
            raise ValueError(f"a '{kind}' event needs item_id")
        return v

    @field_validator("value")
    @classmethod
    def _value(cls, v: float | None, info: ValidationInfo) -> float | None:
        if v is not None and not math.isfinite(v):
            raise ValueError("value must be finite")
        if info.data.get("type") == "rating" and v is None:
            raise ValueError("a 'rating' event needs a value")
        return v

    @field_validator("text")
    @classmethod
    def _text(cls, v: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("type") == "search" and not (v and v.strip()):
            raise ValueError("a 'search' event needs text (the query)")
        return v


class EventsRequest(_Strict):
    """One or more events; ``idempotency_key`` (or the Idempotency-Key header) makes a retry store nothing."""

    events: list[EventIn] = Field(min_length=1, max_length=1000)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200, pattern=ID_PATTERN)


class EventsAccepted(BaseModel):
    accepted: int
    ids: list[int]
    duplicate: bool = Field(description="True when this is a retry of an already stored request.")


class ItemIn(_Strict):
    id: str = Id
    title: str = Field(min_length=1, max_length=1000)
    description: str | None = Field(default=None, max_length=20000)
    categories: list[str] = Field(default_factory=list, max_length=50)
    brand: str | None = Field(default=None, max_length=200)
    attributes: dict[str, str] = Field(default_factory=dict, max_length=50)


class ItemAdded(BaseModel):
    item: Item
    created: bool
    index_size: int


class ErrorOut(BaseModel):
    detail: str | list[dict[str, object]]
