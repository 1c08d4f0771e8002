"""Request and response models of the HTTP API (they define /openapi.json).

Request bodies are strict (``"explain": 0`` is not a boolean, ``"k": "5"`` not an integer) and every rule a
request must follow is in the schema: an event's required fields depend on its ``type``, which is a
discriminated union (``oneOf``) rather than a rule checked after parsing.
"""

from __future__ import annotations

from typing import Annotated, Literal

from annotated_types import Ge, Le
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

EventType = Literal["view", "click", "like", "purchase", "add_to_cart", "rating", "review", "search"]
ITEM_EVENTS = {"view", "click", "like", "purchase", "add_to_cart", "rating", "review"}
ID_PATTERN = r"^[^\x00-\x1f\x7f]+$"  # no control characters (PostgreSQL text cannot hold NUL)
# a new item's id is one plain URL path segment, so /items/{id} always reaches it: no '/' (a path
# separator even when encoded), no '%' (decoded once more by careless clients and proxies), no leading
# '.' (clients drop the dot segments '.' and '..')
NEW_ID_PATTERN = r"^[^\x00-\x1f\x7f/%.][^\x00-\x1f\x7f/%]*$"
NO_NUL = r"^[^\x00]*$"
# white space spelled out: ``\s`` means other sets in Python (\x1c-\x1f, \x85) and in the ECMA regexes of
# JSON Schema (\ufeff), so a schema with ``\s`` accepts what the server rejects; this is the union of both
SPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
NOT_SPACE = rf"[^{SPACE}]"
NOT_BLANK = rf"^[^\x00]*[^\x00{SPACE}][^\x00]*$"  # some character other than white space (and no NUL)
HTTPS_URL = rf"^https://[^\x00-\x1f\x7f-\x9f{SPACE}]+$"  # no control character, no white space
Id = Field(min_length=1, max_length=200, pattern=ID_PATTERN)


def _whole_number(value: object) -> object:
    # JSON Schema's "integer" includes 5.0; strict pydantic would reject it, so it becomes 5 first
    return int(value) if isinstance(value, float) and value.is_integer() else value


JsonInt = Annotated[int, BeforeValidator(_whole_number)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Health(BaseModel):
    status: Literal["ok"]
    user_reads: Literal["key", "open"] = Field(
        description="'key': user data needs a key with the read scope; 'open': anyone may read it (demo)."
    )
    model: str
    items: int
    index: dict[str, object]
    store: str
    schema_version: int
    encoder: str


class Item(BaseModel):
    """An item's page: what the catalog has of it."""

    id: str
    title: str
    text: str
    categories: list[str] = Field(description="Categories or genres.")
    year: int | None = None
    description: str | None = None
    image_url: str | None = Field(default=None, description="An https URL of a picture (cover, poster).")


class Explanation(BaseModel):
    text: str = Field(
        description="A short human-readable reason, e.g. 'Recommended because you liked X (shared: ...)'."
    )
    because_item_id: str | None = None
    because_title: str | None = None
    similarity: float | None = None


SCORE_TEXT = (
    "The item's place in the ranking that produced this list, the same scale on every endpoint: the share "
    "of the catalog that ranking scores below the item (1.0: nothing above it, 0.5: the median item), "
    "estimated against a fixed sample of up to 2,048 catalog items. A list fused from several rankings "
    "(history + text) interleaves them and gives each item its best score in any of them; diversity and "
    "'not interested' re-ranking may also order a list differently from its scores."
)


class RecommendedItem(BaseModel):
    id: str
    title: str
    score: float = Field(ge=0, le=1, description=SCORE_TEXT)
    similarity: float | None = Field(
        default=None, description="Text matches (search, similar items): the cosine of the text vectors."
    )
    source: Literal["history", "text", "new", "popular", "similar", "bandit"]
    year: int | None = None
    categories: list[str] = Field(default_factory=list)
    explanation: Explanation | None = None


class Recommendations(BaseModel):
    user_id: str | None = None
    cold_start: bool = Field(description="True when nothing is known of the user: popular items (+ text).")
    items: list[RecommendedItem]


class SessionRequest(_Strict):
    """An anonymous session: the items seen (oldest first) and/or free text in any supported language."""

    items: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=500
    )
    text: str | None = Field(default=None, max_length=2000)
    k: JsonInt = Field(default=10, ge=1, le=100)
    exclude_seen: bool = True
    explain: bool = False
    not_interested: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list,
        max_length=500,
        description="Items the visitor rejected: never recommended, and items like them move down.",
    )
    diversity: float | None = Field(
        default=None, ge=0, le=1, description="MMR strength (0: plain ranking); default: the service's."
    )


class SearchResults(BaseModel):
    query: str
    offset: int
    min_similarity: float = Field(description="Matches below this text cosine are not returned.")
    more: bool = Field(description="More matches follow: ask again with offset + k.")
    items: list[RecommendedItem]


class ItemBrief(BaseModel):
    id: str
    title: str


class Session(BaseModel):
    """This browser's anonymous session (its cookie): liked and rejected items, oldest first."""

    likes: list[ItemBrief]
    not_interested: list[ItemBrief]


class Similar(BaseModel):
    item_id: str
    items: list[RecommendedItem]


class _Event(_Strict):
    user_id: str = Id
    timestamp: float | None = Field(default=None, ge=0, le=1e11, description="Seconds since the epoch.")


class ItemEvent(_Event):
    """An interaction with an item (a review may carry its text)."""

    type: Literal["view", "click", "like", "purchase", "add_to_cart", "review"]
    item_id: str = Id
    value: float | None = Field(default=None, allow_inf_nan=False, description="An optional weight.")
    text: str | None = Field(default=None, max_length=5000, pattern=NO_NUL, description="Review text.")


class RatingEvent(_Event):
    """A rating of an item; ratings below the service's ``positive_rating`` do not enter the history."""

    type: Literal["rating"]
    item_id: str = Id
    value: float = Field(allow_inf_nan=False, description="The rating.")
    text: str | None = Field(default=None, max_length=5000, pattern=NO_NUL, description="Review text.")


class SearchEvent(_Event):
    """A search the user made: its text steers a cold start."""

    type: Literal["search"]
    text: str = Field(min_length=1, max_length=5000, pattern=NOT_BLANK, description="The query.")
    item_id: str | None = Field(default=None, min_length=1, max_length=200, pattern=ID_PATTERN)
    value: float | None = Field(default=None, allow_inf_nan=False)


EventIn = Annotated[ItemEvent | RatingEvent | SearchEvent, Field(discriminator="type")]


class EventsRequest(_Strict):
    """One or more events; ``idempotency_key`` (or the Idempotency-Key header, which wins when both are sent)
    makes a retry store nothing.

    Idempotency keys belong to the API key that sent them and are bound to the events sent: a retry with the
    same key and the same events gets the first answer (``duplicate: true``); the same key with other events
    is a 409."""

    events: list[EventIn] = Field(min_length=1, max_length=1000)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200, pattern=ID_PATTERN)


class EventsAccepted(BaseModel):
    accepted: int
    ids: list[int]
    duplicate: bool = Field(description="True when this is a retry of an already stored request.")


class ItemIn(_Strict):
    id: str = Field(
        min_length=1,
        max_length=200,
        pattern=NEW_ID_PATTERN,
        description="No '/', no '%', no leading '.': the id is one URL path segment.",
    )
    title: str = Field(min_length=1, max_length=1000)
    description: str | None = Field(default=None, max_length=20000)
    categories: list[str] = Field(default_factory=list, max_length=50)
    brand: str | None = Field(default=None, max_length=200)
    attributes: dict[str, str] = Field(default_factory=dict, max_length=50)
    year: Annotated[int, Ge(1), Le(9999), BeforeValidator(_whole_number)] | None = None
    image_url: str | None = Field(
        default=None, max_length=2000, pattern=HTTPS_URL, description="An https URL."
    )


class ItemAdded(BaseModel):
    item: Item
    created: bool
    index_size: int


class ValidationIssue(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorOut(BaseModel):
    """Every error answer: a sentence, or (422) one entry per invalid field."""

    detail: str | list[ValidationIssue]
