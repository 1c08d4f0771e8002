"""Linear bandits: contract, feature map by hand, synthetic regret, determinism, fit from logged rewards,
exploration bonus, and a small real-data replay (ML-100K, genre vectors)."""

from __future__ import annotations

import numpy as np
import pytest

from lmrec.data.split import leave_one_out_split
from lmrec.models import model_class
from lmrec.models.bandit import LinearBandit, UserState, _prefix_profiles
from lmrec.models.base import FitOptions
from lmrec.testing import RecommenderContract
from tests.models._topics import topic_dataset


class TestLinUCBContract(RecommenderContract):
    @pytest.fixture(autouse=True)
    def _cache(self, text_cache):
        self.cache = text_cache

    def make_model(self):
        return LinearBandit(dim=16, cache_dir=self.cache)


class TestThompsonOuterContract(RecommenderContract):
    @pytest.fixture(autouse=True)
    def _cache(self, text_cache):
        self.cache = text_cache

    def make_model(self):
        return LinearBandit(
            algorithm="thompson", features="outer", dim=6, projection="random", cache_dir=self.cache
        )


def _synthetic(n_arms: int = 30, dim: int = 12, seed: int = 0) -> tuple[LinearBandit, np.ndarray]:
    """Arms with random text-like vectors; the true mean reward is linear in the bandit's own features."""
    rng = np.random.default_rng(seed)
    bandit = LinearBandit(dim=dim, alpha=1.0, l2=1.0, seed=seed).init_arms(rng.normal(size=(n_arms, 40)))
    w = rng.normal(size=dim)
    means = 0.5 + 0.4 * (bandit.item_z @ w) / np.abs(bandit.item_z @ w).max()
    return bandit, means


def _run(policy_select, update, means: np.ndarray, rounds: int, seed: int = 1) -> tuple[float, np.ndarray]:
    rng = np.random.default_rng(seed)
    arms = np.arange(len(means))
    regret, picks = 0.0, []
    for _ in range(rounds):
        a = int(policy_select(arms)[0])
        r = float(rng.random() < means[a])
        update(a, r)
        regret += means.max() - means[a]
        picks.append(a)
    return regret, np.asarray(picks)


def test_registered():
    assert model_class("bandit") is LinearBandit


def test_linucb_beats_random_and_converges_to_the_best_arm():
    bandit, means = _synthetic()
    state = UserState()
    regret, picks = _run(
        lambda arms: bandit.select(state, arms, 1), lambda a, r: bandit.update(state, a, r), means, 1500
    )
    rng = np.random.default_rng(2)
    rand_regret, _ = _run(lambda arms: rng.permutation(arms)[:1], lambda a, r: None, means, 1500)
    assert regret < 0.4 * rand_regret
    assert (picks[-300:] == means.argmax()).mean() > 0.8


def test_thompson_beats_random():
    bandit, means = _synthetic(seed=3)
    bandit = LinearBandit(bandit.config.replace(algorithm="thompson", noise=0.3)).init_arms(
        np.random.default_rng(3).normal(size=(30, 40))
    )
    state = UserState()
    regret, picks = _run(
        lambda arms: bandit.select(state, arms, 1), lambda a, r: bandit.update(state, a, r), means, 1500
    )
    rng = np.random.default_rng(2)
    rand_regret, _ = _run(lambda arms: rng.permutation(arms)[:1], lambda a, r: None, means, 1500)
    assert regret < 0.5 * rand_regret
    # late picks are (near-)best arms: per-round regret over the last 300 rounds is small
    assert (means.max() - means[picks[-300:]]).mean() < 0.03


def test_deterministic_given_seed():
    runs = []
    for _ in range(2):
        bandit, means = _synthetic()
        b = LinearBandit(bandit.config.replace(algorithm="thompson")).init_arms(
            np.random.default_rng(0).normal(size=(30, 40))
        )
        _, picks = _run(
            lambda arms, b=b: b.select([], arms, 1), lambda a, r, b=b: b.update([], a, r), means, 200
        )
        runs.append(picks)
    np.testing.assert_array_equal(runs[0], runs[1])


def test_feature_map_and_bonus_by_hand():
    rng = np.random.default_rng(0)
    b = LinearBandit(dim=4, alpha=2.0, l2=0.5).init_arms(rng.normal(size=(6, 10)))
    z = b.item_z
    np.testing.assert_allclose(np.linalg.norm(z, axis=1), 1.0, rtol=1e-5)
    p = b.profile(np.array([1, 2]))
    manual_p = (z[1] + z[2]) / np.linalg.norm(z[1] + z[2])
    np.testing.assert_allclose(p, manual_p, rtol=1e-5)
    x = b.features(p, np.array([3, 5]))
    np.testing.assert_allclose(x[0], np.r_[z[3], z[3] * p, 1.0], rtol=1e-6)
    b.update(UserState(np.array([1, 2])), 3, 1.0)
    b.update(UserState(np.array([1, 2])), 5, 0.0)
    # posterior by hand: A = l2 I + sum x x^T, theta = A^-1 b
    a = 0.5 * np.eye(9) + x.T.astype(np.float64) @ x
    theta = np.linalg.solve(a, x[0])
    np.testing.assert_allclose(b.theta, theta, rtol=1e-6, atol=1e-9)
    mean = b.score([[1, 2]], explore=False)[0]
    ucb = b.score([[1, 2]], explore=True)[0]
    xa = b.features(p, np.arange(6)).astype(np.float64)
    width = np.sqrt(np.einsum("ij,jk,ik->i", xa, np.linalg.inv(a), xa))
    np.testing.assert_allclose(mean, xa @ theta, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ucb - mean, 2.0 * width, rtol=1e-4, atol=1e-6)


def test_prefix_profiles_use_only_earlier_events():
    z = np.eye(3, dtype=np.float32)
    users = np.array([0, 1, 0, 0])
    items = np.array([0, 2, 1, 2])
    prof = _prefix_profiles(users, items, z, max_history=1)
    np.testing.assert_allclose(prof, [[0, 0, 0], [0, 0, 0], [1, 0, 0], [0, 1, 0]])
    prof2 = _prefix_profiles(users, items, z, max_history=5)
    np.testing.assert_allclose(prof2[3], np.array([1, 1, 0]) / np.sqrt(2), rtol=1e-6)


def test_fit_on_logged_rewards_follows_the_topic(text_cache):
    data = topic_dataset()
    split = leave_one_out_split(data)
    m = LinearBandit(dim=16, negatives=2, cache_dir=text_cache).fit(
        split.train, items=data.items, options=FitOptions(seed=0)
    )
    s = m.score([[0, 1, 2], [8, 9, 10]])
    assert s[0, :8].mean() > s[0, 8:].mean()
    assert s[1, 8:].mean() > s[1, :8].mean()
    idx, _ = m.recommend([[0, 1, 2]], k=3, explore=True)
    assert not {0, 1, 2} & set(idx[0].tolist())


def test_small_real_replay(shared_data):
    """A few hundred ML-100K events (genre vectors instead of LM vectors to keep the test fast)."""
    from lmrec.data import ItemTable, load_dataset
    from lmrec.evaluate.replay import RandomPolicy, rating_slate_log, replay

    data = load_dataset(shared_data / "ml-100k", "movielens-100k", cache=False)
    frame = data.items.frame.copy()
    genres = sorted({g for gs in frame["genres"] for g in gs})
    frame["genre_vec"] = [np.array([g in gs for g in genres], np.float32) + 0.01 for gs in frame["genres"]]
    items = ItemTable(frame, text_fields=("title",))
    inter = data.interactions.subset(np.argsort(data.interactions.timestamp, kind="stable")[:400])
    log = rating_slate_log(inter, slate_size=5, seed=0)
    assert len(log) == 400 and all(len(c) == 5 for c in log.candidates)
    bandit = LinearBandit(dim=8, vector_field="genre_vec")
    bandit.fit(inter.subset(np.zeros(len(inter), bool)), items=items)  # no rewards yet: prior only
    assert bandit.n_updates == 0
    res = replay(bandit, log, name="linucb")
    rnd = replay(RandomPolicy(0), log)
    # about 1/5 of the events match; the bandit learned from exactly those
    assert 40 <= res.matched <= 140 and 40 <= rnd.matched <= 140
    assert bandit.n_updates == res.matched
    assert 0.2 < res.ctr <= 1.0
