"""Matrix factorisation for implicit feedback: ALS (Hu, Koren & Volinsky 2008) and BPR-MF (Rendle 2009).

Both are written here in numpy / torch rather than wrapping ``implicit`` or ``cornac``: they follow lmrec's
protocol (fit on :class:`Interactions`, score :class:`UserBatch` queries, save as safetensors), and they add
no dependency.

ALS solves each half-step by a few conjugate-gradient steps warm-started from the previous factors (as
implicit does; ``cg_steps=0``: exact batched Cholesky solves). Both solvers use the YᵀY trick and process rows
in padded blocks of similar length, so a fit has no Python loop per user or item. BPR is per-sample SGD as in
implicit and cornac (each sample updates the factors it touches, L2 on those factors, item bias), vectorised
over blocks of samples, with a linearly decaying learning rate.

Per-user factors score known users (``batch.users``); anonymous users (-1) are folded in from their history:
ALS solves the exact least-squares problem for the new user against the fixed item factors, BPR uses the mean
of the history's item factors.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from lmrec.config import BaseConfig
from lmrec.data import Interactions, ItemTable
from lmrec.errors import LmrecError
from lmrec.models._util import histories_to_csr
from lmrec.models.base import BaseRecommender, FitOptions, UserBatch
from lmrec.train.threads import use_threads


# ------------------------------------------------------------------------------------------------ ALS
class ALSConfig(BaseConfig):
    """Implicit ALS: ``factors`` dimensions, L2 ``reg``, confidence ``1 + alpha`` on observed pairs.

    ``cg_steps`` > 0 solves each half-step approximately by that many conjugate-gradient steps started from
    the previous factors (Takács et al. 2011, implicit's default: 3); 0 solves it exactly (batched Cholesky).
    """

    factors: int = Field(64, gt=0)
    reg: float = Field(1.0, ge=0.0)
    alpha: float = Field(5.0, ge=0.0)
    iterations: int = Field(15, ge=1)
    init_scale: float = Field(0.01, gt=0.0)
    cg_steps: int = Field(3, ge=0)


class _BlockPlan:
    """Rows (sets of observed column indices) grouped by length into padded blocks, built once per fit.

    Block k covers rows ``idx[k]`` (b rows) and gathers ``cols[k]`` (b * width indices, padding points at an
    extra zero row, so padded slots add nothing to any sum). Sorting by length keeps padding small; blocks
    are capped at about 2M floats so that they stay in cache. Rows without observations are left out.
    """

    def __init__(self, rows: Sequence[np.ndarray], n_other: int, factors: int, chunk: int = 256) -> None:
        import torch

        lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
        order = np.argsort(lengths, kind="stable")
        flat = (
            np.concatenate([np.asarray(r, dtype=np.int64) for r in rows])
            if lengths.sum()
            else np.zeros(0, np.int64)
        )
        starts = np.r_[0, np.cumsum(lengths)[:-1]]
        self.blocks: list[tuple[Any, Any, int, int]] = []
        s = int(np.searchsorted(lengths[order], 1))  # leading empty rows: nothing to gather
        while s < len(order):
            width = int(lengths[order[min(s + chunk, len(order)) - 1]])
            size = max(1, min(chunk, (1 << 21) // max(width * factors, 1)))
            idx = order[s : s + size]
            s += len(idx)
            width = int(lengths[idx].max())
            pos = np.arange(width)[None, :]
            valid = pos < lengths[idx][:, None]
            cols = np.where(valid, flat[np.minimum(starts[idx][:, None] + pos, len(flat) - 1)], n_other)
            self.blocks.append((torch.from_numpy(idx), torch.from_numpy(cols.ravel()), len(idx), width))
        self.padding = sum(b * w for _, _, b, w in self.blocks) - int(lengths.sum())

    def gather(self, other: Any):  # noqa: ANN201
        """Yields (row indices, (b, width, f) block of ``other``'s rows) for every block.

        Every block is written into one reused buffer (a fresh multi-MB tensor per block costs more in page
        faults than the copy itself), so a block is valid only until the next one is taken.
        """
        import torch

        padded = torch.cat([other, other.new_zeros((1, other.shape[1]))])
        size = max((len(cols) for _, cols, _, _ in self.blocks), default=0)
        buffer = other.new_empty((size, other.shape[1]))
        for idx, cols, b, width in self.blocks:
            # index_select: several times faster than padded[cols] on CPU
            out = buffer[: len(cols)]
            torch.index_select(padded, 0, cols, out=out)
            yield idx, out.view(b, width, -1)


def als_solve(
    other: np.ndarray,
    gram: np.ndarray,
    rows: Sequence[np.ndarray],
    alpha: float,
    reg: float,
    chunk: int = 256,
    dtype: Any = None,
) -> np.ndarray:
    """Exact ALS half-step: for each row r (a set of observed column indices), solve
    (YᵀY + α Σ_{i∈r} y_i y_iᵀ + reg·I) x_r = (1 + α) Σ_{i∈r} y_i, where Y = ``other`` and YᵀY = ``gram``.

    The YᵀY trick makes the cost depend on the observed entries only. Rows are grouped by length and solved
    in batches of ``chunk`` with one padded batched product and one batched Cholesky solve. Rows without
    observations get 0 (their exact solution).
    """
    import torch

    dtype = dtype or torch.float64
    f = other.shape[1]
    out = torch.zeros((len(rows), f), dtype=dtype)
    base = torch.from_numpy(np.asarray(gram, dtype=np.float64) + reg * np.eye(f)).to(dtype)
    y_all = torch.from_numpy(np.asarray(other)).to(dtype)
    for idx, y in _BlockPlan(rows, len(other), f, chunk).gather(y_all):
        a = base.unsqueeze(0) + alpha * torch.bmm(y.transpose(1, 2), y)
        b = (1.0 + alpha) * y.sum(dim=1)
        # A is symmetric positive definite (reg > 0 or enough observations): Cholesky is the cheap exact solve
        chol, info = torch.linalg.cholesky_ex(a)
        if bool((info != 0).any()):
            sol = torch.linalg.lstsq(a, b.unsqueeze(-1)).solution[..., 0]
        else:
            sol = torch.cholesky_solve(b.unsqueeze(-1), chol)[..., 0]
        out[idx] = sol
    return out.numpy()


def als_cg(
    other: Any, plan: _BlockPlan, start: Any, alpha: float, reg: float, steps: int = 3
) -> tuple[Any, float]:
    """Approximate ALS half-step: ``steps`` conjugate-gradient steps on the same linear systems as
    :func:`als_solve`, started from ``start`` (the previous factors), for all rows of ``plan`` at once.

    ``other`` and ``start`` are float32 torch tensors. A step costs one pass over a row's observed entries
    (A p = p (YᵀY + reg I) + α Σ_i (y_i·p) y_i, no f x f matrix per row), so a half-step is O(nnz·f + rows·f²)
    instead of the exact solve's O(nnz·f² + rows·f³). Rows without observations get 0, their exact solution.

    Returns the new factors and the observed-pairs part of :func:`als_loss` at them,
    Σ_observed (1 + α)(1 − x·y)² − (x·y)², taken from the blocks already in memory (one more mat-vec).
    """
    import torch

    f = other.shape[1]
    gram = other.T @ other + reg * torch.eye(f, dtype=other.dtype)
    out = torch.zeros_like(start)
    observed = 0.0
    for idx, y in plan.gather(other):
        yt = y.transpose(1, 2)  # (b, f, w): bmm of a (b, 1, f) row by it is the fast batched mat-vec
        x = start.index_select(0, idx)
        # residual b - A x = Σ_i ((1 + α) - α y_i·x) y_i - x (YᵀY + reg I)
        qx = torch.bmm(x.unsqueeze(1), yt)  # (b, 1, w): y_i·x, kept up to date along the steps
        r = torch.bmm((1.0 + alpha) - alpha * qx, y).squeeze(1) - x @ gram
        p = r
        rs = (r * r).sum(1)
        for _ in range(steps):
            q = torch.bmm(p.unsqueeze(1), yt)
            ap = p @ gram + alpha * torch.bmm(q, y).squeeze(1)
            pap = (p * ap).sum(1)
            # a converged row has p = 0 (pAp = 0): its step is 0 instead of 0/0
            step = torch.where(pap > 0, rs / pap.clamp_min(1e-30), torch.zeros_like(pap))
            x = x + step[:, None] * p
            qx = qx + step[:, None, None] * q
            r = r - step[:, None] * ap
            rs_new = (r * r).sum(1)
            p = r + torch.where(rs > 0, rs_new / rs.clamp_min(1e-30), torch.zeros_like(rs))[:, None] * p
            rs = rs_new
        out[idx] = x
        qx = qx.double()
        observed += float(((1.0 + alpha) * (1.0 - qx) ** 2 - qx**2).sum())
    # a padded slot has q = 0 and added (1 + α) above
    return out, observed - (1.0 + alpha) * plan.padding


def als_loss(
    user_f: np.ndarray, item_f: np.ndarray, users: np.ndarray, items: np.ndarray, alpha: float, reg: float
) -> float:
    """The implicit-ALS objective Σ c_ui (p_ui − x_uᵀy_i)² + reg(‖X‖² + ‖Y‖²), computed without the dense
    matrix: Σ_all (x_uᵀy_i)² = tr(XᵀX · YᵀY), then corrected on the observed pairs. The per-pair products
    are taken in the factors' own precision (np.take: a fast row gather), every sum in float64."""
    pred = np.einsum("nf,nf->n", np.take(user_f, users, axis=0), np.take(item_f, items, axis=0))
    pred = pred.astype(np.float64)
    observed = float(np.sum((1.0 + alpha) * (1.0 - pred) ** 2 - pred**2))
    return _unobserved_loss(user_f, item_f, reg) + observed


def _unobserved_loss(user_f: np.ndarray, item_f: np.ndarray, reg: float) -> float:
    """Σ_all (x_uᵀy_i)² + reg(‖X‖² + ‖Y‖²), in float64."""
    user_f, item_f = np.asarray(user_f, np.float64), np.asarray(item_f, np.float64)
    all_sq = float(np.sum((user_f.T @ user_f) * (item_f.T @ item_f)))
    return all_sq + reg * float(np.sum(user_f**2) + np.sum(item_f**2))


class ALS(BaseRecommender):
    """Implicit-feedback alternating least squares: conjugate-gradient half-steps (exact solves with
    ``cg_steps=0``), batched over blocks of users / items."""

    name: ClassVar[str] = "als"
    Config: ClassVar[type[BaseConfig]] = ALSConfig

    def _fit(
        self, train: Interactions, valid: Interactions | None, items: ItemTable | None, options: FitOptions
    ) -> None:
        import torch

        cfg: ALSConfig = self.config  # type: ignore[assignment]
        # one step: a block of least-squares solves, about 2**21 / factors rows x factors^2
        use_threads(options.threads, work=float(1 << 21) * cfg.factors, report=options.progress)
        rng = np.random.default_rng(options.seed)
        x = train.to_csr(dtype=np.float32)
        xt = x.T.tocsr()
        user_rows = [x.indices[x.indptr[u] : x.indptr[u + 1]] for u in range(self.n_users)]
        item_rows = [xt.indices[xt.indptr[i] : xt.indptr[i + 1]] for i in range(self.n_items)]
        coo = x.tocoo()
        uf = rng.normal(0, cfg.init_scale, (self.n_users, cfg.factors)).astype(np.float32)
        itf = rng.normal(0, cfg.init_scale, (self.n_items, cfg.factors)).astype(np.float32)
        losses = []
        start = time.perf_counter()
        u_t, i_t = torch.from_numpy(uf), torch.from_numpy(itf)
        if cfg.cg_steps:
            user_plan = _BlockPlan(user_rows, self.n_items, cfg.factors)
            item_plan = _BlockPlan(item_rows, self.n_users, cfg.factors)
        for _ in _progress(range(cfg.iterations), "ALS", options.progress):
            if cfg.cg_steps:
                u_t, _ = als_cg(i_t, user_plan, u_t, cfg.alpha, cfg.reg, cfg.cg_steps)
                i_t, observed = als_cg(u_t, item_plan, i_t, cfg.alpha, cfg.reg, cfg.cg_steps)
                uf, itf = u_t.numpy(), i_t.numpy()
                losses.append(_unobserved_loss(uf, itf, cfg.reg) + observed)
            else:
                # float32 solves: same optimum to ~1e-6 and about twice as fast as float64 on CPU
                uf = als_solve(itf, itf.T @ itf, user_rows, cfg.alpha, cfg.reg, dtype=torch.float32)
                itf = als_solve(uf, uf.T @ uf, item_rows, cfg.alpha, cfg.reg, dtype=torch.float32)
                losses.append(als_loss(uf, itf, coo.row, coo.col, cfg.alpha, cfg.reg))
            if options.max_seconds and time.perf_counter() - start > options.max_seconds:
                break
        self.user_factors = uf.astype(np.float32)
        self.item_factors = itf.astype(np.float32)
        self.fit_info = {"loss": losses, "iterations": len(losses)}

    def fold_in(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        """User factors of unseen users from their histories (the exact ALS user solve)."""
        cfg: ALSConfig = self.config  # type: ignore[assignment]
        y = self.item_factors.astype(np.float64)
        rows = [np.unique(np.asarray(h, dtype=np.int64)) for h in histories]
        return als_solve(y, y.T @ y, rows, cfg.alpha, cfg.reg).astype(np.float32)

    def _score_batch(self, batch: UserBatch) -> np.ndarray:
        return _factor_scores(self, batch, self.fold_in)

    def _state(self) -> dict[str, np.ndarray]:
        return {"user_factors": self.user_factors, "item_factors": self.item_factors}

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        self.user_factors = state["user_factors"]
        self.item_factors = state["item_factors"]


def _factor_scores(model, batch: UserBatch, fold_in) -> np.ndarray:  # noqa: ANN001
    users = np.asarray(batch.users, dtype=np.int64)
    known = users >= 0
    vecs = np.zeros((len(users), model.item_factors.shape[1]), dtype=np.float32)
    vecs[known] = model.user_factors[users[known]]
    if (~known).any():
        vecs[~known] = fold_in([batch.histories[r] for r in np.flatnonzero(~known)])
    scores = vecs @ model.item_factors.T
    if getattr(model, "item_bias", None) is not None:
        scores += model.item_bias[None, :]
    return scores


def _pair_lookup(users: np.ndarray, items: np.ndarray, n_users: int, n_items: int) -> Any:
    """A vectorised membership test ``(u, i) -> bool array`` for the observed pairs: a dense bitmap when the
    matrix has at most 2**25 cells (a lookup is ~100x faster than a binary search), else sorted keys."""
    if n_users * n_items <= 1 << 25:
        dense = np.zeros(n_users * n_items, dtype=bool)
        dense[users * n_items + items] = True
        return lambda u, i: dense[u * n_items + i]
    keys = np.unique(users * n_items + items)

    def lookup(u: np.ndarray, i: np.ndarray) -> np.ndarray:
        q = u * n_items + i
        pos = np.searchsorted(keys, q).clip(max=len(keys) - 1)
        return keys[pos] == q if len(keys) else np.zeros(len(q), dtype=bool)

    return lookup


def _progress(it, label: str, enabled: bool):  # noqa: ANN001, ANN202
    from lmrec.progress import track

    return track(it, label, requested=enabled)


# ------------------------------------------------------------------------------------------------ BPR
class BPRConfig(BaseConfig):
    """BPR-MF trained by stochastic gradient ascent on (user, positive, negative) triples, as implicit and
    cornac do: each epoch visits every training pair once, paired with ``negatives`` items the user has not
    interacted with (``negative_sampling``: "uniform" over the catalog, or "popularity": drawn from the
    training pairs' items, implicit's choice). ``reg`` is the per-sample L2 weight on the factors (and item
    bias) a sample touches; ``lr`` decays linearly to ``lr * final_lr`` over the epochs. ``batch_size``
    triples are updated at once from the same parameters (a vectorised form of Hogwild!-style parallel SGD).

    Defaults from a grid on ML-100K (leave-one-out by time, 3 seeds): reg 0.01, 100 epochs, uniform negatives,
    lr decaying linearly to 0; lr 0.1 and 0.2 score the same (validation NDCG@10 .071 / .074, test .071 /
    .071), lr 0.5 diverges, so the default is the safer 0.1. Popularity-weighted negatives (at most .061 for
    lr .01-.05), a constant lr (.065-.068) and 50 epochs (.063) scored lower on validation.
    """

    factors: int = Field(64, gt=0)
    lr: float = Field(0.1, gt=0.0)
    reg: float = Field(0.01, ge=0.0)
    epochs: int = Field(100, ge=1)
    batch_size: int = Field(1024, gt=0)
    negatives: int = Field(1, ge=1)
    item_bias: bool = True
    negative_sampling: Literal["uniform", "popularity"] = "uniform"
    init_scale: float = Field(0.01, gt=0.0)
    final_lr: float = Field(0.0, ge=0.0, le=1.0)


class BPR(BaseRecommender):
    """Bayesian personalised ranking matrix factorisation (vectorised SGD in torch, no autograd)."""

    name: ClassVar[str] = "bpr"
    Config: ClassVar[type[BaseConfig]] = BPRConfig

    def _fit(
        self, train: Interactions, valid: Interactions | None, items: ItemTable | None, options: FitOptions
    ) -> None:
        import torch

        cfg: BPRConfig = self.config  # type: ignore[assignment]
        # one step: a batch of (user, positive, negatives) triples, a few multiply-adds per factor each
        step = 4.0 * cfg.batch_size * cfg.factors * (2 + cfg.negatives)
        use_threads(options.threads, work=step, report=options.progress)
        rng = np.random.default_rng(options.seed)
        coo = train.to_csr().tocoo()
        pos_u = coo.row.astype(np.int64)
        pos_i = coo.col.astype(np.int64)
        is_seen = _pair_lookup(pos_u, pos_i, self.n_users, self.n_items)
        f = cfg.factors
        user = torch.from_numpy(rng.normal(0, cfg.init_scale, (self.n_users, f)).astype(np.float32))
        item = torch.from_numpy(rng.normal(0, cfg.init_scale, (self.n_items, f)).astype(np.float32))
        bias = torch.zeros(self.n_items)
        n = len(pos_u)
        losses: list[float] = []
        start = time.perf_counter()
        reg = cfg.reg
        for epoch in _progress(range(cfg.epochs), "BPR", options.progress):
            frac = epoch / max(cfg.epochs - 1, 1)
            lr = cfg.lr * (1.0 - (1.0 - cfg.final_lr) * frac)
            rows = np.tile(rng.permutation(n), cfg.negatives)
            u_all = pos_u[rows]
            j_all = self._sample_negatives(u_all, pos_i, is_seen, cfg.negative_sampling, rng)
            u_all, i_all, j_all = (torch.from_numpy(a) for a in (u_all, pos_i[rows], j_all))
            total = torch.zeros((), dtype=torch.float64)
            for s in range(0, len(rows), cfg.batch_size):
                block = slice(s, s + cfg.batch_size)
                u, i, j = u_all[block], i_all[block], j_all[block]
                # index_select: several times faster than tensor[index] on CPU
                eu, ei, ej = user.index_select(0, u), item.index_select(0, i), item.index_select(0, j)
                diff = ei - ej
                x = (eu * diff).sum(1)
                if cfg.item_bias:
                    bi, bj = bias.index_select(0, i), bias.index_select(0, j)
                    x += bi - bj
                total += torch.nn.functional.softplus(-x).sum()
                # d/dx log sigmoid(x) = sigmoid(-x); every sample moves the factors it touches. The gathered
                # rows are copies, so the gradients are formed in place in them (fewer passes over memory)
                z = torch.sigmoid(-x)
                zc = z.unsqueeze(1)
                grad_u = diff.mul_(zc).sub_(eu, alpha=reg)
                zu = eu.mul_(zc)
                user.index_add_(0, u, grad_u, alpha=lr)
                item.index_add_(0, i, ei.mul_(-reg).add_(zu), alpha=lr)
                item.index_add_(0, j, ej.mul_(-reg).sub_(zu), alpha=lr)
                if cfg.item_bias:
                    bias.index_add_(0, i, bi.mul_(-reg).add_(z), alpha=lr)
                    bias.index_add_(0, j, bj.mul_(-reg).sub_(z), alpha=lr)
            losses.append(float(total) / max(len(rows), 1))
            if not np.isfinite(losses[-1]):
                raise LmrecError(
                    f"BPR diverged in epoch {epoch + 1} (loss {losses[-1]}); lower lr (now {cfg.lr})"
                )
            if options.max_seconds and time.perf_counter() - start > options.max_seconds:
                break
        self.user_factors = user.numpy()
        self.item_factors = item.numpy()
        self.item_bias = bias.numpy() if cfg.item_bias else None
        self.fit_info = {"loss": losses, "epochs": len(losses)}

    def _sample_negatives(
        self, users: np.ndarray, pos_items: np.ndarray, is_seen: Any, how: str, rng: np.random.Generator
    ) -> np.ndarray:
        """One negative per entry of ``users``: uniform over the catalog or popularity-weighted (an item of a
        random training pair), re-drawn a few rounds where it hits one of the user's positives."""

        def draw(size: int) -> np.ndarray:
            if how == "popularity":
                return pos_items[rng.integers(0, len(pos_items), size)]
            return rng.integers(0, self.n_items, size)

        j = draw(len(users))
        for _ in range(5):
            hit = is_seen(users, j)
            if not hit.any():
                break
            j[hit] = draw(int(hit.sum()))
        return j

    def fold_in(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        """Factors of unseen users: the mean item factor of the history (zero for an empty history)."""
        x = histories_to_csr(histories, self.n_items)
        counts = np.asarray(x.sum(axis=1)).ravel()
        return np.asarray(x @ self.item_factors) / np.maximum(counts, 1)[:, None]

    def _score_batch(self, batch: UserBatch) -> np.ndarray:
        return _factor_scores(self, batch, self.fold_in)

    def _state(self) -> dict[str, np.ndarray]:
        state = {"user_factors": self.user_factors, "item_factors": self.item_factors}
        if self.item_bias is not None:
            state["item_bias"] = self.item_bias
        return state

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        self.user_factors = state["user_factors"]
        self.item_factors = state["item_factors"]
        self.item_bias = state.get("item_bias")
