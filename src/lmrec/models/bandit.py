"""``bandit``: contextual linear bandits (LinUCB, linear Thompson sampling) over LM item vectors.

Feature map
    Item text vectors (``lmrec.text.encode_items``, or a vector column) are reduced once, by a fixed
    projection fitted on the catalog alone (``projection="pca"``: the ``dim`` leading principal components;
    ``"random"``: a seeded Gaussian matrix), and scaled to unit length: ``z_i`` in R^dim. A user's text
    profile ``p_u`` is the unit-length mean of ``z`` over the newest ``max_history`` items of their history
    (zeros for an empty history). The context of showing item ``i`` to user ``u`` is

    - ``features="hadamard"`` (default): ``x = [z_i, z_i * p_u, 1]`` (2 dim + 1): a global "which texts are
      rewarded" direction, a per-dimension weighted similarity between item and profile, and a bias;
    - ``features="outer"``: ``x = [z_i, vec(p_u z_i^T), 1]`` (dim + dim^2 + 1): a full bilinear form
      ``p_u^T W z_i`` (use a small ``dim``, e.g. 8-16; cost grows with dim^4).

    A plain concatenation ``[z_i, p_u]`` is not offered: with one shared model the ``p_u`` part adds the same
    amount to every candidate of a user and cannot change a ranking.

Model
    One shared ridge regression ``reward ~ theta . x`` with prior ``theta ~ N(0, I / l2)``: ``A = l2 I +
    sum x x^T``, ``b = sum reward x``, ``theta_hat = A^-1 b``. LinUCB (Li et al., WWW 2010) scores
    ``theta_hat . x + alpha sqrt(x^T A^-1 x)``; Thompson sampling (Agrawal & Goyal, ICML 2013) scores
    ``theta~ . x`` with ``theta~ ~ N(theta_hat, v^2 A^-1)`` drawn once per :meth:`LinearBandit.select` call.
    ``A^-1`` is kept up to date by Sherman-Morrison rank-one updates. Everything random (random projection,
    Thompson draws, tie-breaking) comes from one generator seeded by ``seed``: a run is reproducible.

Online API
    ``select(user_state, candidates, k)`` -> the ``k`` chosen item indices (best first);
    ``update(user_state, item, reward)`` learns from one observed reward. ``user_state`` is a
    :class:`UserState` (or any object with ``history``), or a plain array of item indices (the history).

As a Recommender
    ``fit(train, ...)`` encodes the catalog and learns from the logged interactions as rewards: with ratings
    and ``rating_threshold`` set, reward = 1 if rating >= threshold else 0; without ratings every event is
    reward 1. ``negatives`` unobserved items per event are added with reward 0 (implicit data has no other
    zeros). Each event's context uses the user's profile from the events before it (time order), exactly as
    an online run over the log would, and the posterior is computed in one batch (ridge regression does not
    depend on the order). ``score`` is the posterior mean; with ``explore=True`` (config, or the keyword of
    :meth:`LinearBandit.score` / :meth:`LinearBandit.recommend`) the LinUCB bonus, or a Thompson draw, is used
    instead, so repeated requests try uncertain items.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from lmrec.config import BaseConfig
from lmrec.data import Interactions, ItemTable
from lmrec.errors import DataError, LmrecError
from lmrec.models.base import BaseRecommender, FitOptions, Query, UserBatch, top_k
from lmrec.models.textvec import ItemVectorRef, ItemVectorRefHooks, TextVectorConfig, item_vectors_for

__all__ = ["BanditConfig", "LinearBandit", "UserState"]


@dataclass(frozen=True)
class UserState:
    """What a bandit knows about a user when choosing: dense user index (-1 = anonymous) and the item history
    (oldest first) that the text profile is built from."""

    history: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    user: int = -1


class BanditConfig(TextVectorConfig):
    """Options of :class:`LinearBandit` (see the module docstring).

    ``algorithm``: "linucb" or "thompson"; ``alpha``: LinUCB exploration width; ``noise``: Thompson posterior
    scale v; ``l2``: ridge prior precision; ``dim``/``projection``/``features``/``max_history``: the feature
    map; ``explore``: whether ``score``/``recommend`` add exploration by default; ``rating_threshold``,
    ``negatives``: how ``fit`` turns logged interactions into rewards; ``seed``: the one random generator.
    """

    algorithm: Literal["linucb", "thompson"] = "linucb"
    alpha: float = Field(1.0, ge=0.0)
    noise: float = Field(0.5, gt=0.0)
    l2: float = Field(1.0, gt=0.0)
    dim: int = Field(32, ge=1, le=256)
    projection: Literal["pca", "random"] = "pca"
    features: Literal["hadamard", "outer"] = "hadamard"
    max_history: int = Field(50, ge=1)
    explore: bool = False
    rating_threshold: float | None = 4.0
    negatives: int = Field(1, ge=0)
    seed: int = 0


class LinearBandit(ItemVectorRefHooks, BaseRecommender):
    """LinUCB / linear Thompson sampling over projected text vectors; see the module docstring."""

    name: ClassVar[str] = "bandit"
    Config: ClassVar[type[BaseConfig]] = BanditConfig
    config: BanditConfig

    def __init__(self, config: BaseConfig | None = None, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self.item_z: np.ndarray | None = None  # (n_items, dim) unit projected vectors
        self.projection: np.ndarray | None = None  # (text_dim, dim)
        self.center: np.ndarray | None = None  # (text_dim,)
        self.A_inv: np.ndarray | None = None
        self.b: np.ndarray | None = None
        self.n_updates = 0
        self.vector_ref: ItemVectorRef | None = None
        self.rng = np.random.default_rng(self.config.seed)

    # -- set-up ------------------------------------------------------------------------------------------
    @property
    def n_features(self) -> int:
        d = self.config.dim
        return 2 * d + 1 if self.config.features == "hadamard" else d + d * d + 1

    def init_arms(self, vectors: np.ndarray) -> LinearBandit:
        """Use these item text vectors (n_items, text_dim) as the arms and reset the posterior to the prior.

        This is all an online run needs (no ``fit``); ``n_items`` becomes ``len(vectors)``.
        """
        vecs = np.asarray(vectors, np.float64)
        if vecs.ndim != 2 or not len(vecs) or not np.isfinite(vecs).all():
            raise DataError("bandit: item vectors must be a finite, non-empty (n_items, dim) matrix")
        cfg = self.config
        self.center = vecs.mean(0)
        x = vecs - self.center
        if cfg.projection == "pca":
            _, _, vt = np.linalg.svd(x, full_matrices=False)
            proj = vt[: cfg.dim].T
            if proj.shape[1] < cfg.dim:
                proj = np.pad(proj, ((0, 0), (0, cfg.dim - proj.shape[1])))
        else:
            proj = np.random.default_rng(cfg.seed).normal(
                0.0, 1.0 / np.sqrt(cfg.dim), (vecs.shape[1], cfg.dim)
            )
        self.projection = proj.astype(np.float32)
        self.item_z = self._project(vecs)
        self.n_items = len(vecs)
        self.reset()
        return self

    def reset(self) -> None:
        """Forget every reward (posterior = prior) and restart the random generator from ``seed``."""
        self.A_inv = np.eye(self.n_features) / self.config.l2
        self.b = np.zeros(self.n_features)
        self.n_updates = 0
        self.rng = np.random.default_rng(self.config.seed)

    def _project(self, vecs: np.ndarray) -> np.ndarray:
        assert self.projection is not None and self.center is not None
        z = (np.asarray(vecs, np.float64) - self.center) @ self.projection
        return (z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)).astype(np.float32)

    def _ready(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.item_z is None or self.A_inv is None or self.b is None:
            raise LmrecError("bandit: call fit() (or load(), or init_arms()) first")
        return self.item_z, self.A_inv, self.b

    # -- features ----------------------------------------------------------------------------------------
    def profile(self, history: np.ndarray) -> np.ndarray:
        """The user's text profile ``p_u``: unit mean of the newest items' vectors ``z`` (zeros if none)."""
        z, _, _ = self._ready()
        h = np.asarray(history, np.int64)[-self.config.max_history :]
        if not len(h):
            return np.zeros(z.shape[1], np.float32)
        p = z[h].mean(0)
        return (p / max(float(np.linalg.norm(p)), 1e-12)).astype(np.float32)

    def features(self, profile: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Context vectors (len(items), n_features) of showing ``items`` to a user with ``profile``."""
        z = self._ready()[0][np.asarray(items, np.int64)]
        ones = np.ones((len(z), 1), np.float32)
        if self.config.features == "hadamard":
            return np.hstack([z, z * profile[None, :], ones])
        outer = (profile[None, :, None] * z[:, None, :]).reshape(len(z), -1)
        return np.hstack([z, outer, ones])

    @property
    def theta(self) -> np.ndarray:
        """The posterior mean of the weights."""
        _, a_inv, b = self._ready()
        return a_inv @ b

    def _scores(self, x: np.ndarray, explore: bool) -> np.ndarray:
        _, a_inv, b = self._ready()
        theta = a_inv @ b
        if not explore:
            return x @ theta
        if self.config.algorithm == "linucb":
            width = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", x, a_inv, x), 0.0))
            return x @ theta + self.config.alpha * width
        return x @ self._thompson_draw(theta, a_inv)

    def _thompson_draw(self, theta: np.ndarray, a_inv: np.ndarray) -> np.ndarray:
        cov = self.config.noise**2 * (a_inv + a_inv.T) / 2
        chol = np.linalg.cholesky(cov + 1e-10 * np.eye(len(cov)))
        return theta + chol @ self.rng.standard_normal(len(theta))

    # -- online API --------------------------------------------------------------------------------------
    def select(
        self, user_state: UserState | Sequence[int] | np.ndarray, candidates: np.ndarray, k: int = 1
    ) -> np.ndarray:
        """Choose ``k`` of ``candidates`` (item indices) for the user, best first, exploring as configured
        by ``algorithm`` (always with exploration: this is the bandit's acting step). Ties break at random."""
        cand = np.asarray(candidates, np.int64)
        if not len(cand):
            return np.zeros(0, np.int64)
        x = self.features(self.profile(_history(user_state)), cand)
        s = self._scores(x, explore=True)
        order = np.lexsort((self.rng.random(len(cand)), -s))
        return cand[order[: max(0, min(k, len(cand)))]]

    def update(self, user_state: UserState | Sequence[int] | np.ndarray, item: int, reward: float) -> None:
        """Learn from one observed ``reward`` of showing ``item`` to the user (Sherman-Morrison update)."""
        _, a_inv, b = self._ready()
        x = self.features(self.profile(_history(user_state)), np.array([int(item)]))[0].astype(np.float64)
        ax = a_inv @ x
        self.A_inv = a_inv - np.outer(ax, ax) / (1.0 + x @ ax)
        self.b = b + float(reward) * x
        self.n_updates += 1

    def update_batch(self, x: np.ndarray, rewards: np.ndarray) -> None:
        """Learn from many observed (context, reward) pairs at once (the same posterior as one by one)."""
        _, a_inv, b = self._ready()
        x = np.asarray(x, np.float64)
        a = np.linalg.inv(a_inv) + x.T @ x
        self.A_inv = np.linalg.inv(a)
        self.b = b + x.T @ np.asarray(rewards, np.float64)
        self.n_updates += len(x)

    # -- Recommender -------------------------------------------------------------------------------------
    def _fit(
        self, train: Interactions, valid: Interactions | None, items: ItemTable | None, options: FitOptions
    ) -> None:
        cfg = self.config
        t0 = time.perf_counter()
        vecs, self.vector_ref, _ = item_vectors_for(items, self.n_items, cfg, progress=options.progress)
        n_users = self.n_users
        self.init_arms(vecs)
        self.n_users = n_users
        z = self._ready()[0]
        order = train.time_order()
        users, itemz = train.user[order].astype(np.int64), train.item[order].astype(np.int64)
        if cfg.rating_threshold is not None and train.rating is not None:
            rewards = (train.rating[order] >= cfg.rating_threshold).astype(np.float64)
        else:
            rewards = np.ones(len(order))
        profiles = _prefix_profiles(users, itemz, z, cfg.max_history)
        rng = np.random.default_rng(options.seed)
        feats, targets = [self._rows(profiles, itemz)], [rewards]
        if cfg.negatives:
            neg_rows = np.repeat(np.arange(len(order)), cfg.negatives)
            neg_items = rng.integers(0, self.n_items, len(neg_rows))
            feats.append(self._rows(profiles[neg_rows], neg_items))
            targets.append(np.zeros(len(neg_rows)))
        self.update_batch(np.vstack(feats), np.concatenate(targets))
        self.fit_info.update(
            {
                "fit_seconds": round(time.perf_counter() - t0, 3),
                "n_train_events": int(len(train)),
                "mean_reward": float(rewards.mean()) if len(rewards) else 0.0,
                "train_fingerprint": train.fingerprint(),
                "domain": train.domain,
                "item_vectors": self.vector_ref.to_dict() if self.vector_ref else None,
            }
        )

    def _rows(self, profiles: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Feature rows for aligned (profile, item) pairs."""
        z = self._ready()[0][items]
        ones = np.ones((len(z), 1), np.float32)
        if self.config.features == "hadamard":
            return np.hstack([z, z * profiles, ones])
        outer = (profiles[:, :, None] * z[:, None, :]).reshape(len(z), -1)
        return np.hstack([z, outer, ones])

    def score(
        self, query: Query, items: np.ndarray | None = None, *, explore: bool | None = None
    ) -> np.ndarray:
        """Posterior-mean scores (``explore=False``) or exploring scores (LinUCB bonus / a Thompson draw)
        of every item (or of ``items``); ``explore=None`` uses the config's ``explore``."""
        if not self.is_fitted:
            raise LmrecError(f"{self.name}: call fit() (or load()) before score()")
        batch = self.as_batch(query)
        cols = np.arange(self.n_items) if items is None else np.asarray(items, np.int64)
        use = self.config.explore if explore is None else bool(explore)
        out = np.zeros((len(batch), len(cols)), np.float32)
        for r, h in enumerate(batch.histories):
            out[r] = self._scores(self.features(self.profile(h), cols), use)
        return out

    def _score_batch(self, batch: UserBatch) -> np.ndarray:
        return self.score(batch)

    def recommend(
        self, query: Query, k: int = 10, exclude_seen: bool = True, *, explore: bool | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` items per query row; ``explore=True`` ranks by the exploring score (:meth:`score`)."""
        batch = self.as_batch(query)
        scores = self.score(batch, explore=explore).copy()
        if exclude_seen:
            for row, hist in enumerate(batch.histories):
                if len(hist):
                    scores[row, hist] = -np.inf
        return top_k(scores, k)

    # -- persistence -------------------------------------------------------------------------------------
    def _state(self) -> dict[str, np.ndarray]:
        z, a_inv, b = self._ready()
        assert self.projection is not None and self.center is not None
        return {
            "item_z": z,
            "projection": self.projection,
            "center": self.center.astype(np.float64),
            "A_inv": a_inv,
            "b": b,
            "n_updates": np.array([self.n_updates], np.int64),
        }

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        self.item_z = np.asarray(state["item_z"], np.float32)
        self.projection = np.asarray(state["projection"], np.float32)
        self.center = np.asarray(state["center"], np.float64)
        self.A_inv = np.asarray(state["A_inv"], np.float64)
        self.b = np.asarray(state["b"], np.float64)
        self.n_updates = int(state["n_updates"][0])


def _history(user_state: Any) -> np.ndarray:
    hist = getattr(user_state, "history", user_state)
    return np.asarray(hist if hist is not None else [], np.int64)


def _prefix_profiles(users: np.ndarray, items: np.ndarray, z: np.ndarray, max_history: int) -> np.ndarray:
    """For events in time order: each event's user profile from that user's earlier events only (the newest
    ``max_history`` of them), unit length, zeros for a user's first event."""
    out = np.zeros((len(users), z.shape[1]), np.float32)
    by_user = np.argsort(users, kind="stable")
    bounds = np.flatnonzero(np.r_[True, users[by_user][1:] != users[by_user][:-1], True])
    for s, e in zip(bounds[:-1], bounds[1:], strict=True):
        rows = by_user[s:e]
        vz = z[items[rows]].astype(np.float64)
        csum = np.vstack([np.zeros((1, vz.shape[1])), np.cumsum(vz, axis=0)])
        idx = np.arange(len(rows))  # the events before position t are [max(0, t - m), t)
        window = csum[idx] - csum[np.maximum(0, idx - max_history)]
        norms = np.linalg.norm(window, axis=1, keepdims=True)
        out[rows] = np.where(norms > 1e-12, window / np.maximum(norms, 1e-12), 0.0)
    return out
