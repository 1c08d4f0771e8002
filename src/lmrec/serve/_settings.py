"""Typed settings of the recommendation service."""

from __future__ import annotations

from typing import Literal

from lmrec.config import BaseConfig
from lmrec.index import IndexConfig


class ServeSettings(BaseConfig):
    """Everything ``create_app`` needs besides the model directory and the store URL.

    ``encoder``: text encoder for search, new items and explanations when the model does not name its own
    (``"auto"`` picks the multilingual encoder for a mostly-CJK catalog). ``item_vectors``: optional ``.npy``
    file of precomputed (n_items, dim) text vectors (skips encoding the catalog at start). ``bandit``: build a
    LinUCB bandit over the item text vectors at start, used by ``explore=true`` and fed by posted events
    (in-memory, per worker process).
    """

    require_key_for_reads: bool = False
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
    faiss_threads: int = 1  # per search; request threads give the parallelism (OpenMP spinning thrashes)
