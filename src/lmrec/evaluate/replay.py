"""Offline evaluation of bandit policies by replay (Li, Chu, Langford & Wang, WSDM 2011).

The replay method
    A log of events, each with a candidate set (the slate the logging policy chose from), the item it
    actually showed and the observed reward. The evaluated policy is shown the same user and candidates and
    picks one item. If it picks the logged item, the event is *matched*: the policy collects the logged reward
    and is told about it (``update``); otherwise the event is skipped and the policy learns nothing. When the
    logging policy chose uniformly at random from the candidates, the mean reward over matched events is an
    unbiased estimate of the policy's per-event reward (its CTR), and about 1/|slate| of the events match.

Two kinds of log (:class:`ReplayLog` holds both): each event has ``candidates`` and a ``rewards`` array
aligned with them, NaN where the reward of a candidate is unknown.

- Single logged arm (:func:`rating_slate_log`, ML-100K): only the logged item's reward is known.
- Full-information slates (:func:`impression_log`, MIND): every shown item has its click label, so every
  event counts (the policy's pick is always "matched") and the policy still only learns the reward of the
  item it picked: bandit feedback, no replay rejection needed.

Users and their context
    Policies see a :class:`ReplayState` (``user``, ``history``: the user's logged items before this event,
    oldest first). Histories are context that exists in the log whatever the policy does, so they grow with
    every logged event (``ReplayLog.appends``), matched or not; only the policy's *learning* is restricted to
    matched events.

The policy protocol (duck-typed, so that this module imports no model)::

    select(user_state, candidates: np.ndarray, k: int) -> np.ndarray   # chosen item indices, best first
    update(user_state, item: int, reward: float) -> None
    observe(user_state, items: np.ndarray) -> None   # optional: the logged items of every event (context)

:class:`RandomPolicy`, :class:`PopularityPolicy` (online, learns from its matched events like a bandit) and
:class:`RecommenderPolicy` (any fitted :class:`~lmrec.models.base.Recommender`, static) are the baselines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from lmrec.data import Dataset, Interactions
from lmrec.errors import DataError

__all__ = [
    "PopularityPolicy",
    "RandomPolicy",
    "RecommenderPolicy",
    "ReplayLog",
    "ReplayResult",
    "ReplayState",
    "impression_log",
    "rating_slate_log",
    "replay",
]


@dataclass(frozen=True)
class ReplayState:
    """What a policy sees of the user: dense index (-1 = unknown) and logged history (oldest first)."""

    user: int
    history: np.ndarray


class Policy(Protocol):
    def select(self, user_state: Any, candidates: np.ndarray, k: int) -> np.ndarray: ...

    def update(self, user_state: Any, item: int, reward: float) -> None: ...


@dataclass
class ReplayLog:
    """Events in time order.

    ``users[e]``: dense user index; ``candidates[e]``: item indices; ``rewards[e]``: float array aligned with
    ``candidates[e]`` (NaN = unknown); ``appends[e]``: items added to the user's history after the event;
    ``initial_histories``: user -> history before the first event. ``description`` says how it was built.
    """

    users: np.ndarray
    candidates: list[np.ndarray]
    rewards: list[np.ndarray]
    appends: list[np.ndarray]
    initial_histories: dict[int, np.ndarray] = field(default_factory=dict)
    description: str = ""
    stats: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.users)


@dataclass
class ReplayResult:
    """``matched``: events whose reward the policy observed; ``reward``: their total; ``ctr`` = reward /
    matched (the replay estimate of the per-event reward); ``curve``: cumulative reward after each matched
    event."""

    policy: str
    n_events: int
    matched: int
    reward: float
    curve: np.ndarray

    @property
    def ctr(self) -> float:
        return self.reward / self.matched if self.matched else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "n_events": self.n_events,
            "matched": self.matched,
            "reward": self.reward,
            "ctr": self.ctr,
        }


def replay(
    policy: Policy, log: ReplayLog, *, name: str | None = None, max_events: int | None = None
) -> ReplayResult:
    """Replay ``log`` against ``policy`` (one pick per event, see the module docstring)."""
    histories: dict[int, list[int]] = {u: list(h) for u, h in log.initial_histories.items()}
    observe = getattr(policy, "observe", None)
    matched, total = 0, 0.0
    curve: list[float] = []
    n = len(log) if max_events is None else min(len(log), max_events)
    for e in range(n):
        u = int(log.users[e])
        cand = log.candidates[e]
        state = ReplayState(u, np.asarray(histories.get(u, []), np.int64))
        chosen = np.asarray(policy.select(state, cand, 1), np.int64)
        if len(chosen):
            pos = np.flatnonzero(cand == chosen[0])
            if len(pos) and not np.isnan(log.rewards[e][pos[0]]):
                r = float(log.rewards[e][pos[0]])
                policy.update(state, int(chosen[0]), r)
                matched += 1
                total += r
                curve.append(total)
        if len(log.appends[e]):
            histories.setdefault(u, []).extend(int(i) for i in log.appends[e])
            if observe is not None:
                observe(state, log.appends[e])
    return ReplayResult(name or type(policy).__name__, n, matched, total, np.asarray(curve))


# -- baseline policies -------------------------------------------------------------------------------------


class RandomPolicy:
    """Uniform choice among the candidates (seeded)."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)

    def select(self, user_state: Any, candidates: np.ndarray, k: int) -> np.ndarray:
        return self.rng.permutation(np.asarray(candidates, np.int64))[:k]

    def update(self, user_state: Any, item: int, reward: float) -> None:
        """Learns nothing."""


class PopularityPolicy:
    """Popularity, two flavours.

    ``source="log"``: the candidate logged most often so far (every logged event, matched or not, through
    ``observe``: public context, like the users' histories). ``source="rewards"``: the highest smoothed mean
    reward ``(rewards_i + prior) / (shows_i + 1)`` among this policy's own matched events (an online learner
    like the bandits; unseen items score ``prior``). Ties at random.
    """

    def __init__(self, seed: int = 0, *, source: str = "log", prior: float = 1.0) -> None:
        if source not in ("log", "rewards"):
            raise DataError(f"source must be 'log' or 'rewards', not {source!r}", field="source")
        self.rng = np.random.default_rng(seed)
        self.source = source
        self.prior = prior
        self.rewards: dict[int, float] = {}
        self.shows: dict[int, int] = {}
        self.logged: dict[int, int] = {}

    def _score(self, i: int) -> float:
        if self.source == "log":
            return float(self.logged.get(i, 0))
        return (self.rewards.get(i, 0.0) + self.prior) / (self.shows.get(i, 0) + 1)

    def select(self, user_state: Any, candidates: np.ndarray, k: int) -> np.ndarray:
        cand = np.asarray(candidates, np.int64)
        s = np.array([self._score(int(i)) for i in cand])
        order = np.lexsort((self.rng.random(len(cand)), -s))
        return cand[order[:k]]

    def update(self, user_state: Any, item: int, reward: float) -> None:
        self.rewards[item] = self.rewards.get(item, 0.0) + reward
        self.shows[item] = self.shows.get(item, 0) + 1

    def observe(self, user_state: Any, items: np.ndarray) -> None:
        for i in np.asarray(items, np.int64).tolist():
            self.logged[i] = self.logged.get(i, 0) + 1


class RecommenderPolicy:
    """A fitted recommender as a static policy: the candidate it scores highest for the user's history
    (scored as an anonymous history, so models that learned per-user parameters fold the history in)."""

    def __init__(self, model: Any, seed: int = 0) -> None:
        from lmrec.models.base import UserBatch

        self.model = model
        self._batch = UserBatch
        self.rng = np.random.default_rng(seed)

    def select(self, user_state: Any, candidates: np.ndarray, k: int) -> np.ndarray:
        cand = np.asarray(candidates, np.int64)
        hist = np.asarray(user_state.history, np.int64)
        s = self.model.score(self._batch(np.array([-1]), [hist]), items=cand)[0]
        order = np.lexsort((self.rng.random(len(cand)), -s))
        return cand[order[:k]]

    def update(self, user_state: Any, item: int, reward: float) -> None:
        """Static: learns nothing."""


# -- logs --------------------------------------------------------------------------------------------------


def rating_slate_log(
    interactions: Interactions,
    *,
    slate_size: int = 10,
    threshold: float = 4.0,
    seed: int = 0,
    item_mask: np.ndarray | None = None,
    filler_reward: float | None = None,
) -> ReplayLog:
    """A replay log from rated events (e.g. ML-100K), with a simulated uniform logging policy.

    Events are taken in time order (stable: ties keep file order). For each event (user, item, rating) the
    slate is the logged item plus ``slate_size - 1`` items drawn uniformly without replacement from the
    catalog items the user has not rated before this event (restricted to ``item_mask`` when given), in a
    random order. We treat the logged item as if a uniform logger had picked it from that slate: the reward
    of the logged item is ``rating >= threshold`` and every other candidate's reward is unknown (pure replay:
    about 1/slate_size of a random policy's picks match). ``filler_reward=0.0`` instead assumes that the user
    would have rejected the items they never rated, which makes every event count (full information, a
    stronger assumption). The user's history grows by the logged item after each event, whatever its rating.
    """
    if interactions.rating is None:
        raise DataError("rating_slate_log needs ratings (the interactions have none)", field="rating")
    if slate_size < 2:
        raise DataError("slate_size must be at least 2", field="slate_size")
    rng = np.random.default_rng(seed)
    order = np.argsort(interactions.timestamp, kind="stable")  # global time order (ties: file order)
    pool = np.arange(interactions.n_items) if item_mask is None else np.flatnonzero(item_mask)
    seen: dict[int, set[int]] = {}
    users, cands, rewards, appends = [], [], [], []
    logged: list[float] = []
    for r in order:
        u, i = int(interactions.user[r]), int(interactions.item[r])
        if item_mask is not None and not item_mask[i]:
            continue
        s = seen.setdefault(u, set())
        want = slate_size - 1
        if len(pool) - len(s) - 1 <= 4 * want:  # nearly exhausted catalog: draw from what is left
            left = np.setdiff1d(pool, np.fromiter(s | {i}, np.int64, len(s) + 1))
            others = rng.permutation(left)[:want].tolist()
        else:
            others = []
            while len(others) < want:
                for j in pool[rng.integers(0, len(pool), 2 * slate_size)].tolist():
                    if j != i and j not in s and j not in others:
                        others.append(j)
                        if len(others) == want:
                            break
        slate = np.array([i, *others], np.int64)
        perm = rng.permutation(len(slate))
        rew = np.full(len(slate), np.nan if filler_reward is None else float(filler_reward))
        rew[0] = float(interactions.rating[r] >= threshold)
        logged.append(rew[0])
        users.append(u)
        cands.append(slate[perm])
        rewards.append(rew[perm])
        appends.append(np.array([i], np.int64))
        s.add(i)
    desc = (
        f"rated events in time order; slate = logged item + {slate_size - 1} uniform unrated items "
        f"(simulated uniform logging); reward = rating >= {threshold:g}; other candidates: "
        + ("unknown" if filler_reward is None else f"reward {filler_reward:g}")
    )
    base = float(np.mean(logged)) if logged else 0.0
    return ReplayLog(
        np.asarray(users, np.int64),
        cands,
        rewards,
        appends,
        {},
        desc,
        {"events": len(users), "slate_size": slate_size, "logged_reward_rate": base},
    )


def impression_log(dataset: Dataset, *, require_text: bool = True, min_candidates: int = 2) -> ReplayLog:
    """A full-information replay log from impression logs (MIND: ``dataset.meta["impressions"]``).

    One event per impression, in time order; candidates = the shown items (only those with item text when
    ``require_text``), rewards = their click labels. Impressions with fewer than ``min_candidates`` such items
    are dropped. Initial histories = the users' pre-period history clicks (``meta["is_history"]``); after each
    impression its clicked candidates join the user's history. ``stats`` reports the coverage.
    """
    imp = dataset.meta.get("impressions")
    if imp is None:
        raise DataError(f"dataset {dataset.name!r} has no impression logs (meta['impressions'])")
    item_lookup = {str(x): k for k, x in enumerate(dataset.item_ids)}
    user_lookup = {str(x): k for k, x in enumerate(dataset.user_ids)}
    has_text = dataset.items.has_text() if require_text else np.ones(dataset.n_items, bool)
    items = np.array([item_lookup.get(str(x), -1) for x in imp["item"]], np.int64)
    known = items >= 0
    ok = known & has_text[np.maximum(items, 0)]
    frame = imp.assign(idx=items, ok=ok)
    frame = frame.sort_values(["timestamp", "impression_id", "position"], kind="stable")

    initial: dict[int, np.ndarray] = {}
    is_hist = dataset.meta.get("is_history")
    inter = dataset.interactions
    if is_hist is not None:
        rows = np.flatnonzero(np.asarray(is_hist, bool))
        rows = rows[np.argsort(inter.timestamp[rows], kind="stable")]
        rows = rows[has_text[inter.item[rows]]]
        for u in np.unique(inter.user[rows]):
            initial[int(u)] = inter.item[rows][inter.user[rows] == u].astype(np.int64)

    users, cands, rewards, appends = [], [], [], []
    n_imp = 0
    for _, g in frame.groupby("impression_id", sort=False):
        n_imp += 1
        g = g[g["ok"].to_numpy()]
        if len(g) < min_candidates:
            continue
        u = user_lookup.get(str(g["user"].iloc[0]), -1)
        c = g["idx"].to_numpy(np.int64)
        lab = g["label"].to_numpy(np.float64)
        users.append(u)
        cands.append(c)
        rewards.append(lab)
        appends.append(c[lab > 0])
    stats = {
        "impressions": n_imp,
        "impressions_kept": len(users),
        "shown_items": int(len(imp)),
        "shown_with_text": int(ok.sum()),
        "clicks_kept": int(sum(float(r.sum()) for r in rewards)),
        "clicks_total": int(imp["label"].sum()),
        "mean_candidates": float(np.mean([len(c) for c in cands])) if cands else 0.0,
        "random_ctr": float(np.mean([r.mean() for r in rewards])) if rewards else 0.0,
    }
    desc = "impressions in time order; candidates = shown items with text; reward = click (full information)"
    return ReplayLog(np.asarray(users, np.int64), cands, rewards, appends, initial, desc, stats)


def cumulative_table(results: Sequence[ReplayResult]) -> str:
    """A Markdown table of replay results."""
    lines = ["| policy | events | matched | cumulative reward | CTR |", "|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r.policy} | {r.n_events} | {r.matched} | {r.reward:.0f} | {r.ctr:.4f} |")
    return "\n".join(lines)
