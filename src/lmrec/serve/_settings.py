"""Typed settings of the recommendation service."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from lmrec.config import BaseConfig
from lmrec.index import IndexConfig


class RateLimit(BaseConfig):
    """A token bucket: ``per_second`` requests on average, bursts of up to ``burst``."""

    per_second: float = Field(gt=0)
    burst: int = Field(ge=1)


class RateLimits(BaseConfig):
    """Request rate limits (429 with ``Retry-After`` beyond them), kept in each server process's memory.

    A request with a valid API key counts against that key's bucket (``key``); any other request against its
    client address's (``address``). Encoder-backed requests (``GET /search``, ``POST /recommendations`` with
    a text) also count against the stricter ``encoder_key`` / ``encoder_address`` buckets. ``/health``,
    ``/metrics``, the web pages and the schema are not limited. With ``--workers N`` every process has its own
    buckets, so a client may get up to N times these rates.
    """

    enabled: bool = True
    address: RateLimit = RateLimit(per_second=20, burst=40)
    key: RateLimit = RateLimit(per_second=1000, burst=2000)
    encoder_address: RateLimit = RateLimit(per_second=2, burst=10)
    encoder_key: RateLimit = RateLimit(per_second=50, burst=100)
    max_clients: int = Field(default=100_000, ge=100)  # buckets kept; idle (full) ones are dropped first


class ServeSettings(BaseConfig):
    """Everything ``create_app`` needs besides the model directory and the store URL.

    ``encoder``: text encoder for search, new items and explanations when the model does not name its own
    (``"auto"`` picks the multilingual encoder for a mostly-CJK catalog). ``item_vectors``: optional ``.npy``
    file of precomputed (n_items, dim) text vectors (skips encoding the catalog at start). ``bandit``: build a
    LinUCB bandit over the item text vectors at start, used by ``explore=true`` and fed by posted events
    (in-memory, per worker process).
    """

    # privacy: reads of user data need a key with scope "read" unless open_user_reads (demos only: anyone can
    # then read any user's recommendations and explanations); require_key_for_reads: catalog reads need a key
    open_user_reads: bool = False
    require_key_for_reads: bool = False
    rate_limits: RateLimits = RateLimits()
    key_cache_seconds: float = Field(default=0.5, ge=0, lt=1)  # how long a revoked key may still be accepted
    trust_forwarded_for: bool = (
        False  # client address from X-Forwarded-For (only behind a proxy that sets it)
    )
    web_key_storage: Literal["memory", "local"] = "memory"  # "local": the page keeps its key in localStorage
    max_body_bytes: int = 1_000_000
    max_k: int = 100
    max_events_per_request: int = 1000
    max_text_chars: int = 2000
    history_len: int = 50
    encoder: str = "auto"
    item_vectors: str | None = None
    index: IndexConfig = IndexConfig()
    report_dir: str | None = None
    catalog_dir: str | None = None
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    catalog_sync_seconds: float = 0.0  # how stale catalog changes made by other processes may be
    popular_refresh_seconds: float = 5.0
    positive_rating: float = 3.0  # rating events below this do not enter the user's sequence
    index_cache: str | None = None  # folder for built ANN indexes (default MODEL_DIR/serve-index; "off")
    bandit: bool = False  # a LinearBandit for explore=true on user recommendations
    user_cache_size: int = 20_000  # user states (with query vectors) kept per process; re-validated per read
    # threads of faiss, torch and numpy's BLAS in each server process once its indexes are built: requests
    # and processes give the parallelism (pools sized to the machine spin-wait against each other)
    faiss_threads: int = 1
    # diversity of recommendation lists: maximal marginal relevance over the item text vectors with
    # lambda = 1 - diversity (0: the plain ranking); a request's `diversity` parameter overrides it
    diversity: float = Field(default=0.3, ge=0, le=1)
    not_interested_push: float = Field(
        default=1.0, ge=0
    )  # how far items like a "not interested" one move down
    # /search answers only matches whose text cosine reaches this ("no good match" below it); `min_similarity`
    search_min_similarity: float = Field(default=0.3, ge=-1, le=1)
    session_max_items: int = Field(default=500, ge=1)  # likes + "not interested" kept per anonymous session
    session_days: float = Field(default=30, gt=0)  # lifetime of the anonymous session cookie

    @model_validator(mode="after")
    def _consistent(self) -> ServeSettings:
        if self.open_user_reads and self.require_key_for_reads:
            raise ValueError("open_user_reads and require_key_for_reads contradict each other: choose one")
        return self
