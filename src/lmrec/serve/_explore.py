"""Exploration (``ServeSettings.bandit``): a :class:`lmrec.models.bandit.LinearBandit` whose arms are the item
text vectors at start-up.

``explore=True`` ranks by its exploring (LinUCB) score; stored events feed it rewards (see
:data:`POSITIVE_EVENTS`). Its state lives in the process's memory: every worker learns on its own and a
restart begins from the prior. Items added while serving are not arms, so an exploring list never shows them.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from lmrec.models.catalog import Catalog
from lmrec.serve.store import EventRecord

SEQUENCE_EVENTS = frozenset({"view", "click", "like", "purchase", "rating", "review", "add_to_cart"})
# Bandit rewards: these events are reward 1; a view is an impression without a click (reward 0); a
# rating is 1 at or above the bandit's ``rating_threshold`` (4) and 0 below; other events (review,
# search) teach nothing.
POSITIVE_EVENTS = frozenset({"click", "like", "purchase", "add_to_cart"})


class Exploration:
    """The bandit and its lock."""

    def __init__(self, arm_vectors: np.ndarray) -> None:
        from lmrec.models.bandit import LinearBandit

        self.bandit = LinearBandit(algorithm="linucb", seed=0).init_arms(arm_vectors)
        self.lock = threading.Lock()

    @property
    def n_items(self) -> int:
        return int(self.bandit.n_items)

    def scores(self, history: Sequence[int]) -> np.ndarray:
        """The exploring score of every arm for a history (dense indices, oldest first)."""
        from lmrec.models.base import UserBatch

        hist = np.asarray([i for i in history if i < self.n_items], dtype=np.int64)
        batch = UserBatch(np.asarray([-1], dtype=np.int64), [hist])
        with self.lock:
            return np.asarray(self.bandit.score(batch, explore=True), dtype=np.float32)[0].copy()

    def feed(
        self,
        records: Sequence[EventRecord],
        before: dict[str, list[int]],
        catalog: Catalog,
        positive_rating: float,
    ) -> int:
        """Give the bandit the rewards in stored ``records``; ``before``: each user's history before these
        events (it grows through the batch). Returns the number of updates."""
        n, done = self.n_items, 0
        threshold = self.bandit.config.rating_threshold or 4.0
        with self.lock:
            for ev in records:
                idx = catalog.item_index(ev.item_id) if ev.item_id is not None else None
                hist = before.setdefault(ev.user_id, [])
                if idx is None:
                    continue
                if ev.type in POSITIVE_EVENTS:
                    reward: float | None = 1.0
                elif ev.type == "view":
                    reward = 0.0
                elif ev.type == "rating" and ev.value is not None:
                    reward = 1.0 if ev.value >= threshold else 0.0
                else:
                    reward = None
                if reward is not None and idx < n:
                    self.bandit.update(np.asarray([i for i in hist if i < n], np.int64), idx, reward)
                    done += 1
                if ev.type in SEQUENCE_EVENTS and not (
                    ev.type == "rating" and ev.value is not None and ev.value < positive_rating
                ):
                    hist.append(idx)
        return done
