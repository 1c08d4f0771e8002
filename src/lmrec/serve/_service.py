"""The recommendation service: a loaded model, the catalog, text/ANN indexes and the store, glued together.

Ranking paths:

* a model exposing ``query_vectors(UserBatch)`` and ``retrieval_vectors()`` (score == dot product) gets an
  ANN index over its retrieval vectors; a model with ``add_items(text_vectors)`` absorbs new catalog items;
* any other model scores the catalog it was trained on with ``score``; items added while serving are then
  ranked by similarity of their text to the user's history and merged in by reciprocal rank fusion;
* free text (a search, a session's words) is matched against the item text index, and merged likewise;
* no history and no text: the most popular items (training data plus events received).

The item text index (encoder space) also serves ``/search``, ``/similar`` and the explanations, which come
from :class:`lmrec.explain.Explainer` (the history items that contributed and the words they share with the
recommendation, in the catalog's language; EASE/ItemKNN models contribute their own additive terms).

Exploration (``ServeSettings.bandit``): a :class:`lmrec.models.bandit.LinearBandit` whose arms are the item
text vectors at start-up. ``explore=True`` ranks by its exploring (LinUCB) score; stored events feed it
rewards (see :data:`POSITIVE_EVENTS`). Its state lives in the process's memory: every worker learns on its
own and a restart begins from the prior. Items added while serving are not arms, so an exploring list never
shows them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lmrec.errors import LmrecError
from lmrec.index import ItemIndex, RWLock
from lmrec.models.base import GrowingModel
from lmrec.models.catalog import Catalog, read_catalog
from lmrec.serve._explore import POSITIVE_EVENTS, SEQUENCE_EVENTS, Exploration
from lmrec.serve._indexes import build_index, initial_text_vectors, set_compute_threads, training_queries
from lmrec.serve._ranking import Ranked, fuse, ids_array, item_text, ranked, rerank, score_sample, top, unit
from lmrec.serve._reasons import Reasons
from lmrec.serve._settings import ServeSettings
from lmrec.serve._vectors import retrieval_for, same_vectors
from lmrec.serve.store import EventRecord, Idempotency, Store

EVENT_TYPES = ("view", "click", "like", "purchase", "add_to_cart", "rating", "review", "search")
__all__ = ["POSITIVE_EVENTS", "SEQUENCE_EVENTS", "Ranked", "RecService", "UserState", "item_text"]


@dataclass
class UserState:
    """What the service knows of a user right now."""

    user_index: int | None
    history: list[int]  # dense item indices, oldest first
    last_query: str | None = None
    n_events: int = 0
    known: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class _CachedUser:
    """A user's state as read from the store, valid while the store's stamp for the user is unchanged."""

    stamp: tuple[int, int, int]  # (event count, largest event id, catalog seq) when built
    state: UserState
    query: np.ndarray | None = None  # the model's retrieval query vector for the state's history


class RecService:
    """Everything the HTTP layer calls; thread-safe (reads share a lock, catalog changes take it alone)."""

    def __init__(
        self, model_dir: str | Path, store: Store, settings: ServeSettings | None = None, model: Any = None
    ) -> None:
        from lmrec.models import load_model

        self.settings = settings or ServeSettings()
        self.model_dir = Path(model_dir)
        self.store = store
        # ``model``: the folder's model already loaded (and checked) by the caller, so it is not read twice
        self.model = model if model is not None else load_model(self.model_dir)
        self.model_name = str(getattr(self.model, "name", type(self.model).__name__))
        n_items = int(self.model.n_items)
        n_users = int(getattr(self.model, "n_users", 0))
        self.catalog: Catalog = read_catalog(self.settings.catalog_dir or self.model_dir, n_items, n_users)
        self.model_items = n_items  # items the model itself can score
        self._lock = RWLock()
        self._encoder: Any = None
        self._encoder_name = self._pick_encoder_name()
        self.removed = np.zeros(n_items, dtype=bool)
        text_vectors = initial_text_vectors(self.settings, self.model, self.catalog, self.encode)
        self.retrieval = retrieval_for(self.model)
        retrieval = self.retrieval
        rec_vectors = None if retrieval is None else retrieval.items()
        # the model ranks by the text vectors themselves: one index serves both, so it is calibrated on what
        # recommendations ask of it (users' query vectors) rather than on item vectors
        shared = rec_vectors is not None and same_vectors(rec_vectors, text_vectors)

        def user_queries() -> np.ndarray | None:
            return None if retrieval is None else training_queries(self.model, retrieval.queries)

        self.text_index = build_index(
            text_vectors, "text", self.settings, self.model_dir, queries=user_queries if shared else None
        )
        # scores are placed among this fixed sample of the catalog (see lmrec.serve._ranking)
        self._sample = score_sample(n_items)
        self._text_sample = np.ascontiguousarray(text_vectors[self._sample])
        self.rec_index: ItemIndex | None = None
        self._rec_sample = self._text_sample
        if shared:
            self.rec_index = self.text_index
        elif rec_vectors is not None:
            self._rec_sample = np.ascontiguousarray(rec_vectors[self._sample], dtype=np.float32)
            self.rec_index = build_index(
                rec_vectors, "rec", self.settings, self.model_dir, queries=user_queries
            )
        set_compute_threads(self.settings.faiss_threads)  # after the builds, which do use every core
        # a plain user request is then a stamp query and one search of well under a millisecond: cheap enough
        # to answer on the event loop; full-catalog scoring (no index, or a big exact one) goes to a thread
        self.cheap_reads = self.rec_index is not None and (
            self.rec_index.kind != "exact" or len(self.rec_index) <= 20_000
        )
        self.reasons = Reasons()
        self.exploration: Exploration | None = None
        if self.settings.bandit:
            # the arms: the catalog's text vectors at start-up (the model's own item vectors when it has them)
            self.exploration = Exploration(self.text_index.vectors(np.arange(self.catalog.n_items)))
        self._train_counts = self._training_counts()
        self._popular_cache: tuple[float, np.ndarray] | None = None
        # read-through cache of user states (and their query vectors), checked against the store on every
        # read with one indexed query, so events written by any process show at once
        self._users: dict[str, _CachedUser] = {}
        self._catalog_seq = 0
        self._last_sync = 0.0
        self._sync_lock = threading.Lock()
        self.started_at = time.time()
        self.sync_catalog(force=True)

    # -- setup -----------------------------------------------------------------------------------------
    def _pick_encoder_name(self) -> str:
        ref = getattr(self.model, "vector_ref", None)
        name = getattr(ref, "encoder", None)
        if isinstance(name, str) and not name.startswith("column:"):
            return name  # the model's own encoder: new items and queries land in its vector space
        if self.settings.encoder != "auto":
            return self.settings.encoder
        from lmrec.text import DEFAULT_ENCODER, MULTILINGUAL_ENCODER, is_mostly_cjk

        sample = [t for t in self.catalog.texts[:2000] if t] or self.catalog.titles[:2000]
        return MULTILINGUAL_ENCODER if sample and is_mostly_cjk(sample) else DEFAULT_ENCODER

    @property
    def encoder(self) -> Any:
        if self._encoder is None:
            from lmrec.text import get_encoder

            self._encoder = get_encoder(self._encoder_name)
        return self._encoder

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit text vectors in the catalog's text space."""
        from lmrec.text import encode_texts

        return encode_texts(list(texts), encoder=self.encoder)

    @property
    def bandit(self) -> Any:
        """The exploration bandit (:class:`lmrec.models.bandit.LinearBandit`), None without one."""
        return None if self.exploration is None else self.exploration.bandit

    def _training_counts(self) -> np.ndarray:
        hist = getattr(self.model, "histories", None)
        counts = np.zeros(self.model_items, dtype=np.float64)
        if hist:
            flat = np.concatenate([np.asarray(h, dtype=np.int64) for h in hist])
            if len(flat):
                counts += np.bincount(flat, minlength=self.model_items)[: self.model_items]
        return counts

    # -- catalog ---------------------------------------------------------------------------------------
    def sync_catalog(self, force: bool = False, seq: int | None = None) -> None:
        """Apply catalog changes logged (by any process) since the last sync; ``seq``: the store's last
        change seq when the caller has just read it (no query when nothing changed)."""
        now = time.monotonic()
        if seq is not None:
            if seq <= self._catalog_seq:
                return
            force = True
        if not force and now - self._last_sync < self.settings.catalog_sync_seconds:
            return
        with self._sync_lock:
            self._last_sync = now
            if self.store.last_catalog_seq() <= self._catalog_seq:
                return
            changes = self.store.catalog_changes_since(self._catalog_seq)
            with self._lock.write():
                for ch in changes:
                    self._apply_change(ch.item_id, ch.op, ch.fields, ch.vector)
                    self._catalog_seq = ch.seq

    def _apply_change(self, item_id: str, op: str, fields: dict[str, Any], vector: np.ndarray | None) -> None:
        idx = self.catalog.item_index(item_id)
        if op == "delete":
            if idx is not None and not self.removed[idx]:
                self.removed[idx] = True
                self.text_index.remove([idx])
                if self.rec_index is not None and self.rec_index is not self.text_index:
                    self.rec_index.remove([idx])
            return
        assert vector is not None
        vec = unit(vector[None, :])
        title = str(fields.get("title") or item_id)
        cats = [str(c) for c in fields.get("categories") or []]
        text = str(fields.get("text") or title)
        details = {k: fields[k] for k in ("year", "description", "image_url") if fields.get(k) is not None}
        if idx is None:
            idx = self.catalog.append(item_id, title, text, cats, details)
            self.removed = np.append(self.removed, False)
            if isinstance(self.model, GrowingModel) and self.model_items == idx:
                model_vec = vec
                if getattr(self.model, "has_finetuned_encoder", False):
                    # a textseq trained with finetune_encoder reads texts through its own encoder layers
                    model_vec = self.model.encode_texts([text])
                new = self.model.add_items(model_vec)  # the model scores it from its text from now on
                self.model_items = int(self.model.n_items)
                self._add_to_rec_index(np.asarray(new, dtype=np.int64))
        else:
            self.catalog.update(idx, title, text, cats, details)
            self.removed[idx] = False
            if idx < self.model_items:
                self._add_to_rec_index(np.asarray([idx]))
        self.text_index.add([idx], vec)

    def _add_to_rec_index(self, ids: np.ndarray) -> None:
        if self.rec_index is None or self.rec_index is self.text_index or self.retrieval is None:
            return
        self.rec_index.add(ids, self.retrieval.items()[ids])

    def add_item(self, item_id: str, fields: dict[str, Any]) -> int:
        """Encode, log and index a new (or changed) item; recommendable when this returns."""
        text = item_text(fields)
        vec = self.encode([text])[0]
        self.store.log_item(item_id, "add", {**fields, "text": text}, vec)
        self.sync_catalog(force=True)
        idx = self.catalog.item_index(item_id)
        assert idx is not None
        return idx

    def delete_item(self, item_id: str) -> bool:
        """Remove an item from every result; False when it is unknown or already removed."""
        self.sync_catalog()
        idx = self.catalog.item_index(item_id)
        if idx is None or self.removed[idx]:
            return False
        self.store.log_item(item_id, "delete", None, None)
        self.sync_catalog(force=True)
        return True

    def item_idx(self, item_id: str) -> int | None:
        """Dense index of a live item, or None."""
        idx = self.catalog.item_index(item_id)
        if idx is None or self.removed[idx]:
            return None
        return idx

    def item_view(self, idx: int) -> dict[str, Any]:
        """An item's page: id, title, text, categories and the details the catalog has (year,
        description, image_url)."""
        c = self.catalog
        return {
            "id": c.item_ids[idx],
            "title": c.titles[idx],
            "text": c.texts[idx],
            "categories": c.categories[idx],
            **c.details[idx],
        }

    # -- users -----------------------------------------------------------------------------------------
    def user_state(self, user_id: str) -> UserState:
        """Training history (if the model knows the user) followed by the stored events, newest last."""
        uidx = self.catalog.user_index(user_id)
        hist: list[int] = []
        hist_model = getattr(self.model, "histories", None)
        if uidx is not None and hist_model is not None and uidx < len(hist_model):
            hist = [int(i) for i in hist_model[uidx]]
        evs = self.store.user_events(user_id, limit=max(200, self.settings.history_len * 4))
        last_query = None
        for ev in evs:
            if ev.type == "search" and ev.text:
                last_query = ev.text
            if ev.type not in SEQUENCE_EVENTS or ev.item_id is None:
                continue
            if ev.type == "rating" and ev.value is not None and ev.value < self.settings.positive_rating:
                continue
            idx = self.catalog.item_index(ev.item_id)
            if idx is not None:
                hist.append(idx)
        return UserState(uidx, hist, last_query, len(evs), known=uidx is not None or bool(evs))

    def cached_user(self, user_id: str) -> _CachedUser:
        """The user's state from the read-through cache: one indexed stamp query (which also brings the
        catalog up to date); the full history is re-read only when the user's events changed."""
        count, max_id, seq = self.store.user_stamp(user_id)
        self.sync_catalog(seq=seq)
        stamp = (count, max_id, self._catalog_seq)
        entry = self._users.get(user_id)
        if entry is not None and entry.stamp == stamp:
            return entry
        # read after the stamp: the state holds at least the stamped events (a newer one only makes the
        # stamp mismatch next time, never hides an event)
        entry = _CachedUser(stamp, self.user_state(user_id))
        users = self._users
        while len(users) >= max(1, self.settings.user_cache_size):
            try:
                del users[next(iter(users))]  # oldest inserted first
            except (StopIteration, KeyError, RuntimeError):  # another thread emptied it meanwhile
                break
        users[user_id] = entry
        return entry

    def record_events(self, records: Sequence[EventRecord], key: Idempotency | None) -> tuple[dict, bool]:
        """Store events; with a bandit, newly stored ones (not an idempotent retry) also become rewards."""
        before: dict[str, list[int]] = {}
        if self.bandit is not None:
            before = {u: self.user_state(u).history for u in dict.fromkeys(r.user_id for r in records)}
        response, duplicate = self.store.add_events(records, key)
        for user_id in dict.fromkeys(r.user_id for r in records):
            self._users.pop(user_id, None)  # the stamp would catch it too; this frees the memory early
        if not duplicate and self.exploration is not None:
            self.exploration.feed(records, before, self.catalog, self.settings.positive_rating)
        return response, duplicate

    # -- ranking ---------------------------------------------------------------------------------------
    def popular(self) -> np.ndarray:
        """Popularity per item: training counts plus events received (refreshed every few seconds)."""
        now = time.monotonic()
        cached = self._popular_cache
        if (
            cached is not None
            and now - cached[0] < self.settings.popular_refresh_seconds
            and len(cached[1]) == (self.catalog.n_items)
        ):
            return cached[1]
        counts = np.zeros(self.catalog.n_items, dtype=np.float64)
        counts[: len(self._train_counts)] += self._train_counts
        for item_id, n in self.store.item_counts(limit=5000):
            idx = self.catalog.item_index(item_id)
            if idx is not None:
                counts[idx] += n
        self._popular_cache = (now, counts)
        return counts

    def recommend(
        self,
        user_index: int | None,
        history: Sequence[int],
        text: str | None,
        k: int,
        exclude_seen: bool = True,
        exclude: Sequence[int] = (),
        explain: bool = True,
        cached: _CachedUser | None = None,
        diversity: float | None = None,
        avoid: Sequence[int] = (),
        with_popular: bool = False,
    ) -> list[Ranked]:
        """Top-``k`` items for a history (dense indices, oldest first) and/or free text; ``cached``: the
        cache entry the history came from (its query vector is reused), after :meth:`cached_user` synced.

        ``avoid``: items the user is not interested in: never shown, and items like them move down;
        ``with_popular``: without a history, fuse the popular items with the text's matches;
        ``diversity``: MMR strength in [0, 1] (default ``settings.diversity``; 0 keeps the plain order)."""
        if cached is None:
            self.sync_catalog()
        diversity = self.settings.diversity if diversity is None else float(diversity)
        hist = [int(i) for i in history][-max(1, self.settings.history_len) * 4 :]
        avoid = [int(i) for i in avoid if 0 <= int(i) < self.catalog.n_items]
        with self._lock.read():
            banned = set(exclude) | set(avoid)
            if exclude_seen:
                banned |= set(hist)
            lists: list[list[Ranked]] = []
            # lists that get fused or re-ranked need some depth below the cut; a plain single list needs
            # just k (every extra candidate costs ANN search time)
            fused = bool(text and text.strip()) or (bool(hist) and self.catalog.n_items > self.model_items)
            reranked = diversity > 0 or bool(avoid)
            depth = min(max(3 * k, k + 20), k + 200) if reranked else (k + 10 if fused else k)
            if hist:
                lists.append(self._model_ranking(user_index, hist, depth, banned, cached))
                added = self._added_ranking(hist, depth, banned)
                if added:
                    lists.append(added)
            if text and text.strip():
                lists.append(self._text_ranking(text, depth, banned))
            if not lists or (with_popular and not hist):
                lists.append(self._popular_ranking(depth, banned))
            merged = fuse(lists)
            out = self._rerank(merged, k, diversity, avoid) if reranked else merged[:k]
            if explain:
                self._explain(out, hist)
        return out

    def _rerank(self, candidates: list[Ranked], k: int, diversity: float, avoid: list[int]) -> list[Ranked]:
        """Diversity and negative feedback over the candidates' text vectors (see :func:`rerank`)."""
        ids = [r.index for r in candidates]
        if not ids:
            return []
        vecs = self.text_index.vectors(ids)
        shunned = [i for i in avoid if i in self.text_index]
        avoid_vecs = self.text_index.vectors(shunned) if shunned else None
        return rerank(candidates, k, vecs, diversity, avoid_vecs, self.settings.not_interested_push)

    def recommend_user(
        self,
        user_id: str,
        k: int,
        exclude_seen: bool = True,
        explain: bool = True,
        explore: bool = False,
        diversity: float | None = None,
    ) -> tuple[list[Ranked], bool]:
        """Recommendations for a user id and whether they are a cold start (no item history).

        The user's latest events are part of the history at once. A user without item history gets popular
        items, fused with the results of their last search when they made one. ``explore``: rank by the
        bandit's exploring score instead (LmrecError when no bandit is configured).
        """
        entry = self.cached_user(user_id)
        state = entry.state
        if explore:
            out = self.explore_ranking(state.history, k, exclude_seen)
            if not explain:
                for r in out:
                    r.because = r.because_similarity = r.explanation = None
            return out, not state.history
        if state.history:
            return self.recommend(
                state.user_index,
                state.history,
                None,
                k,
                exclude_seen,
                explain=explain,
                cached=entry,
                diversity=diversity,
            ), False
        cold = self.recommend(
            None,
            [],
            state.last_query,
            k,
            exclude_seen,
            cached=entry,
            diversity=diversity,
            explain=explain,
            with_popular=True,
        )
        return cold, True

    def _model_ranking(
        self,
        user_index: int | None,
        hist: list[int],
        depth: int,
        banned: set[int],
        cached: _CachedUser | None = None,
    ) -> list[Ranked]:
        from lmrec.models.base import UserBatch

        known = np.asarray([i for i in hist if i < self.model_items], dtype=np.int64)
        uidx = -1 if user_index is None else int(user_index)
        batch = UserBatch(np.asarray([uidx], dtype=np.int64), [known])
        if self.rec_index is not None and self.retrieval is not None:
            # the query depends on the history only, which the cache entry's stamp pins down
            q = cached.query if cached is not None else None
            if q is None:
                q = self.retrieval.queries(batch)
                if cached is not None:
                    cached.query = q
            ids, raw = self.rec_index.search(q, depth, exclude=[ids_array(banned)])
            return ranked(ids[0], raw[0], self._rec_sample @ q[0], "history")
        try:
            scores = np.asarray(self.model.score(batch), dtype=np.float32)[0].copy()
        except LmrecError:
            return self._popular_ranking(depth, banned)
        reference = scores[self._sample[self._sample < len(scores)]]
        n = min(len(scores), len(self.removed))
        scores[:n][self.removed[:n]] = -np.inf
        ban = np.asarray([b for b in banned if b < len(scores)], dtype=np.int64)
        if len(ban):
            scores[ban] = -np.inf
        return top(scores, depth, "history", reference)

    def _added_ranking(self, hist: list[int], depth: int, banned: set[int]) -> list[Ranked]:
        """Items added while serving that the model cannot score: ranked by text similarity to the history,
        those at least as close to it as the median catalog item."""
        if self.catalog.n_items <= self.model_items:
            return []
        new = np.arange(self.model_items, self.catalog.n_items)
        new = new[~self.removed[new]]
        new = np.asarray([i for i in new if i not in banned], dtype=np.int64)
        profile = self._profile(hist)
        if profile is None or not len(new):
            return []
        scores = self.text_index.vectors(new) @ profile
        order = np.argsort(-scores, kind="stable")[:depth]
        out = ranked(new[order], scores[order], self._text_sample @ profile, "new")
        # they are interleaved with the model's list, so only those closer to the history than the median
        # catalog item take part (an unrelated new item would otherwise sit near the top of every list)
        return [r for r in out if r.score >= 0.5]

    def _text_matches(self, q: np.ndarray, depth: int, banned: set[int], reason: str) -> list[Ranked]:
        """Items whose text vectors are closest to the unit query ``q`` (1, d), with their cosine."""
        ids, sims = self.text_index.search(q, depth, exclude=[ids_array(banned)])
        out = ranked(ids[0], sims[0], self._text_sample @ q[0], reason)
        for r, s in zip(out, sims[0][ids[0] >= 0].tolist(), strict=True):
            r.similarity = float(s)
        return out

    def _text_ranking(self, text: str, depth: int, banned: set[int]) -> list[Ranked]:
        return self._text_matches(self.encode([text]), depth, banned, "text")

    def _popular_ranking(self, depth: int, banned: set[int]) -> list[Ranked]:
        counts = self.popular().copy()
        reference = counts[self._sample[self._sample < len(counts)]]
        counts[self.removed[: len(counts)]] = -np.inf
        ban = np.asarray([b for b in banned if b < len(counts)], dtype=np.int64)
        if len(ban):
            counts[ban] = -np.inf
        return top(counts, depth, "popular", reference)

    def _profile(self, hist: list[int]) -> np.ndarray | None:
        recent = [i for i in hist[-10:] if i in self.text_index]
        if not recent:
            return None
        v = self.text_index.vectors(recent).mean(axis=0)
        norm = float(np.linalg.norm(v))
        return v / norm if norm > 0 else None

    def explainer(self) -> Any:
        """The :class:`lmrec.explain.Explainer` over the current catalog (see :class:`Reasons`)."""
        return self.reasons.explainer(self.catalog, self.text_index, self._catalog_seq)

    def _explain(self, out: list[Ranked], hist: list[int]) -> None:
        recent = [i for i in hist[-self.settings.history_len :] if i < self.catalog.n_items]
        if recent and out:
            self.reasons.explain(out, recent, self.explainer(), self.model, self.model_items)

    # -- exploration -------------------------------------------------------------------------------------
    def explore_ranking(self, history: Sequence[int], k: int, exclude_seen: bool) -> list[Ranked]:
        """Top-``k`` by the bandit's exploring score for a history (dense indices, oldest first)."""
        if self.exploration is None:
            raise LmrecError("explore: no bandit is configured (start the service with bandit=true)")
        self.sync_catalog()
        n = self.exploration.n_items
        scores = self.exploration.scores(history)
        reference = scores[self._sample[self._sample < n]]
        scores[self.removed[:n]] = -np.inf
        hist = np.asarray([i for i in history if i < n], dtype=np.int64)
        if exclude_seen and len(hist):
            scores[hist] = -np.inf
        out = top(scores, k, "bandit", reference)
        with self._lock.read():
            self._explain(out, [int(i) for i in history])
        return out

    def similar(self, idx: int, k: int) -> list[Ranked]:
        """Items whose text is closest to item ``idx``'s (the item itself excluded)."""
        self.sync_catalog()
        with self._lock.read():
            return self._text_matches(self.text_index.vectors([idx]), k, {idx}, "similar")

    def search(
        self, text: str, k: int, offset: int = 0, min_similarity: float = 0.0
    ) -> tuple[list[Ranked], bool]:
        """Text matches ``offset`` .. ``offset + k`` with a cosine of at least ``min_similarity``, and
        whether more such matches follow."""
        self.sync_catalog()
        with self._lock.read():
            found = self._text_ranking(text, offset + k + 1, set())
        good = [r for r in found if (r.similarity or 0.0) >= min_similarity]
        return good[offset : offset + k], len(good) > offset + k

    def stats(self) -> dict[str, Any]:
        return {
            "model": self.model_name,
            "items": int((~self.removed).sum()),
            "model_items": self.model_items,
            "index": self.text_index.stats,
            "rec_index": None if self.rec_index is None else self.rec_index.stats,
            "encoder": self._encoder_name,
            "store": self.store.dialect,
            "schema_version": self.store.schema_version(),
        }
