"""User state: decayed mix of history items and query text; a query shifts real ML-100K recommendations."""

from __future__ import annotations

import numpy as np
import pytest

from lmrec.errors import DataError, LmrecError
from lmrec.feedback import UserState, recommend_with_state, state_from_history


def test_decay_and_mix_by_hand():
    s = UserState(dim=2, half_life=10.0, text_weight=0.5)
    s.add([1.0, 0.0], 0.0).add([1.0, 0.0], 10.0).add([0.0, 2.0], 10.0, kind="query")
    np.testing.assert_allclose(s.decay(), [0.5, 1.0, 1.0])
    assert s.query_share() == 0.5
    np.testing.assert_allclose(s.vector(), np.array([1.0, 1.0]) / np.sqrt(2), rtol=1e-6)
    # 20 time units later the query (age 20) pulls 0.5 * 0.25
    a = 0.5 * 0.25
    expected = np.array([1 - a, a]) / np.hypot(1 - a, a)
    np.testing.assert_allclose(s.vector(now=30.0), expected, rtol=1e-6)
    with pytest.raises(DataError, match="dimension 3"):
        s.add([1.0, 0.0, 0.0], 0.0)
    with pytest.raises(LmrecError, match="unknown event kind"):
        s.add([1.0, 0.0], 0.0, kind="click")


GENRES = ("Animation", "Children's")


def _genre_count(data, items):
    genres = data.items.frame["genres"].tolist()
    return sum(any(g in GENRES for g in genres[i]) for i in items)


def test_query_shifts_ml100k_recommendations_toward_matching_items(ml100k_small):
    data, model = ml100k_small
    seqs = data.interactions.sequences()
    times = data.interactions.subset(data.interactions.time_order()).timestamp
    query = model.encode_text(["animated children's movie"])[0]
    before_total = after_total = 0
    for user in (0, 1, 5, 10, 100):
        hist = seqs[user]
        user_times = np.sort(
            times[np.flatnonzero(data.interactions.subset(data.interactions.time_order()).user == user)]
        )
        state = state_from_history(model.vectors, hist, user_times)
        before, _ = recommend_with_state(model, state, 10, exclude=hist)
        state.add(query, float(user_times[-1]) + 60.0, kind="query", label="animated children's movie")
        after, _ = recommend_with_state(model, state, 10, exclude=hist)
        b, a = _genre_count(data, before), _genre_count(data, after)
        assert a >= b + 3, (user, b, a)
        before_total += b
        after_total += a
    assert after_total >= 6 * 5 and before_total <= 3 * 5
    # a month-old query has decayed (half-life one week): the state is back near the history profile
    old = state_from_history(model.vectors, seqs[0], np.arange(len(seqs[0])) * 0.0)
    old.add(query, 30 * 24 * 3600.0, kind="query")
    assert old.query_share(now=60 * 24 * 3600.0) < 0.5 * 0.5**4
