"""The replay method: hand-built logs with hand-computed matched counts and rewards, the rating-slate
construction, and impression logs (a tiny MIND folder written here)."""

from __future__ import annotations

import numpy as np

from lmrec.data import Interactions
from lmrec.evaluate.replay import (
    PopularityPolicy,
    RandomPolicy,
    ReplayLog,
    impression_log,
    rating_slate_log,
    replay,
)

NAN = np.nan


def _hand_log() -> ReplayLog:
    return ReplayLog(
        users=np.array([0, 1, 0, 0]),
        candidates=[np.array([1, 2, 3]), np.array([3, 4]), np.array([1, 5]), np.array([2, 6, 7])],
        rewards=[
            np.array([NAN, 1.0, NAN]),  # logged item 2, reward 1
            np.array([0.0, NAN]),  # logged item 3, reward 0
            np.array([NAN, 1.0]),  # logged item 5, reward 1
            np.array([1.0, 0.0, 1.0]),  # full information
        ],
        appends=[np.array([2]), np.array([3]), np.array([5]), np.array([2, 7])],
        initial_histories={1: np.array([9])},
    )


class _Fixed:
    """Picks the lowest (or highest) candidate; records what it saw."""

    def __init__(self, highest: bool = False) -> None:
        self.highest = highest
        self.seen: list[tuple[int, list[int]]] = []
        self.updates: list[tuple[int, float]] = []

    def select(self, state, candidates, k):
        self.seen.append((state.user, state.history.tolist()))
        return np.array([candidates.max() if self.highest else candidates.min()])

    def update(self, state, item, reward):
        self.updates.append((item, reward))


def test_replay_counts_only_matched_events():
    low = _Fixed()
    res = replay(low, _hand_log())
    # e0 picks 1 (unknown), e1 picks 3 (reward 0), e2 picks 1 (unknown), e3 picks 2 (reward 1)
    assert (res.n_events, res.matched, res.reward) == (4, 2, 1.0)
    assert low.updates == [(3, 0.0), (2, 1.0)]
    assert res.ctr == 0.5
    np.testing.assert_array_equal(res.curve, [0.0, 1.0])
    high = _Fixed(highest=True)
    res = replay(high, _hand_log())
    # e0 picks 3, e1 picks 4 (unknown), e2 picks 5 (reward 1), e3 picks 7 (reward 1)
    assert (res.matched, res.reward) == (2, 2.0)
    # histories grow with every logged event, matched or not; initial histories are used
    assert high.seen == [(0, []), (1, [9]), (0, [2]), (0, [2, 5])]


def test_replay_max_events_and_random_policy_is_seeded():
    a = replay(RandomPolicy(3), _hand_log(), max_events=3)
    b = replay(RandomPolicy(3), _hand_log(), max_events=3)
    assert a.n_events == 3 and (a.matched, a.reward) == (b.matched, b.reward)


def test_popularity_policy_prefers_rewarded_items():
    p = PopularityPolicy(source="rewards", prior=0.5)
    for _ in range(3):
        p.update(None, 4, 1.0)
        p.update(None, 5, 0.0)
    assert p.select(None, np.array([5, 4, 6]), 1)[0] == 4
    # unseen item 6: (0 + 0.5) / 1 beats item 5's (0 + 0.5) / 4
    assert p.select(None, np.array([5, 6]), 1)[0] == 6


def test_log_popularity_counts_every_logged_event():
    pol = PopularityPolicy(source="log")
    res = replay(pol, _hand_log())
    # every logged event is observed, matched or not: item 2 twice (e0, e3), items 3, 5, 7 once
    assert pol.logged == {2: 2, 3: 1, 5: 1, 7: 1}
    # at e3 item 2 (logged once before) beats the never-logged 6 and 7, so e3 always matches with reward 1
    assert pol.rewards.get(2, 0.0) >= 1.0 and res.reward >= 1.0
    assert pol.select(None, np.array([6, 3, 2]), 2).tolist() == [2, 3]


def test_filler_reward_makes_every_event_count():
    log = rating_slate_log(_rated(), slate_size=3, seed=0, filler_reward=0.0)
    assert all(not np.isnan(r).any() for r in log.rewards)
    res = replay(RandomPolicy(0), log)
    assert res.matched == 5


def _rated() -> Interactions:
    # user 0 rates items 0, 1, 2 over time; user 1 rates 3, 0
    return Interactions(
        user=np.array([0, 1, 0, 0, 1]),
        item=np.array([0, 3, 1, 2, 0]),
        timestamp=np.array([1, 2, 3, 4, 5]),
        n_users=2,
        n_items=12,
        rating=np.array([5, 2, 4, 3, 4], np.float32),
    )


def test_rating_slate_log_construction():
    log = rating_slate_log(_rated(), slate_size=4, seed=0)
    assert len(log) == 5
    logged = [0, 3, 1, 2, 0]
    rewards = [1, 0, 1, 0, 1]
    prior = {0: [], 1: []}
    for e, u in enumerate(log.users.tolist()):
        c, r = log.candidates[e], log.rewards[e]
        assert len(c) == 4 and len(set(c.tolist())) == 4 and logged[e] in c
        known = ~np.isnan(r)
        assert known.sum() == 1 and c[known][0] == logged[e] and r[known][0] == rewards[e]
        assert not set(prior[u]) & (set(c.tolist()) - {logged[e]})  # no earlier-rated item as a filler
        prior[u].append(logged[e])
    again = rating_slate_log(_rated(), slate_size=4, seed=0)
    for a, b in zip(log.candidates, again.candidates, strict=True):
        np.testing.assert_array_equal(a, b)
    assert log.stats["logged_reward_rate"] == 0.6


def test_rating_slate_log_on_a_tiny_catalog_uses_what_is_left():
    inter = _rated()
    small = Interactions(inter.user, inter.item, inter.timestamp, 2, 5, rating=inter.rating)
    log = rating_slate_log(small, slate_size=4, seed=1)
    # user 0's third event (item 2, the 4th in time): items 0 and 1 already rated, so only 3 and 4 can fill
    assert sorted(log.candidates[3].tolist()) == [2, 3, 4]


def test_impression_log_from_a_mind_folder(tmp_path):
    from lmrec.data.loaders import mind

    news = [
        ("N1", "sports", "football", "Cup final tonight", "A big match", "", "[]", "[]"),
        ("N2", "news", "world", "Elections abroad", "Votes counted", "", "[]", "[]"),
        ("N3", "sports", "tennis", "Open semi-final", "Five sets", "", "[]", "[]"),
    ]
    (tmp_path / "news.tsv").write_text("\n".join("\t".join(r) for r in news) + "\n", encoding="utf-8")
    behaviors = [
        ("1", "U1", "11/11/2019 9:05:58 AM", "N1 N9", "N2-0 N3-1 N8-0"),
        ("2", "U2", "11/11/2019 10:00:00 AM", "", "N1-1 N7-0"),
        ("3", "U1", "11/12/2019 9:00:00 AM", "N1 N9", "N1-0 N2-1"),
    ]
    (tmp_path / "behaviors.tsv").write_text(
        "\n".join("\t".join(r) for r in behaviors) + "\n", encoding="utf-8"
    )
    data = mind.load(tmp_path)
    log = impression_log(data)
    # impression 2 keeps only N1 (N7 has no text): dropped; impressions 1 and 3 keep 2 candidates each
    assert log.stats["impressions"] == 3 and log.stats["impressions_kept"] == 2
    assert log.stats["shown_items"] == 7 and log.stats["shown_with_text"] == 5
    idx = {x: data.item_index(x) for x in ("N1", "N2", "N3")}
    assert sorted(log.candidates[0].tolist()) == sorted([idx["N2"], idx["N3"]])
    u1 = data.user_index("U1")
    # U1's history clicks with text (N1; N9 has none) are the initial history; the N3 click joins after
    np.testing.assert_array_equal(log.initial_histories[u1], [idx["N1"]])
    high = _Fixed(highest=True)
    res = replay(high, log)
    assert res.matched == 2  # full information: every kept impression counts
    assert high.seen[1][1] == [idx["N1"], idx["N3"]]
