"""The text prior: what an untrained text profile says, as a part of a trained model's score.

A user's **text profile** is the recency-weighted mean of the unit text vectors of their history (the newest
item weighs 1, an item ``h`` steps older ``0.5 ** (h / half_life)``), as
:class:`lmrec.models.content.ContentRecommender` builds it; the **prior** of an item is the cosine between
that profile and the item's unit text vector.

Both live in a **text space** taken from the catalog alone (no interaction is needed, so it works zero-shot):
the unit vectors are centred on the catalog mean and partially whitened, ``x -> (x - mean) U diag((e /
mean(e)) ** -power) U^T`` with ``U, e`` the eigenvectors / eigenvalues of the catalog's covariance (``power``
0 = centred only, 0.5 = full whitening). Sentence embeddings crowd into a narrow cone whose main directions
say "this is a product title" rather than which product; removing them makes cosines separate items of one
catalog.

:class:`PriorGate` mixes a model's learned score with the prior per item, by how often the item was seen in
training (``c``, 0 for new items)::

    s(c)   = exp(-beta * log(1 + c))            # 1 for an unseen item, -> 0 for popular ones
    score  = (1 - alpha * s(c)) * learned + (lam_warm + lam_cold * s(c)) * prior + bias * (s(c) - 1)

``bias`` moves rarely seen items as a group against popular ones without sharpening the prior's own ranking
among them: without it, the only way to lift new items above warm ones is a larger ``lam_cold``, which also
makes the prior's softmax peakier than its ranking deserves, so a likelihood fit stops short of ranking new
items where held-out events put them.

Everything per item multiplies an item-side vector and everything per user a user-side vector, so the mixed
score stays one inner product (``[learned query; profile; 1] . [(1 - alpha s) item; (lam_warm + lam_cold s)
text; bias (s - 1)]``) and an ANN index serves it. :func:`fit_gate` learns the five numbers on held-out events
(softmax cross-entropy over the catalog, L-BFGS to convergence): learned on the training windows themselves
the gate collapses, because the learned part fits those windows better than it generalises. With ``alpha =
1`` and no learned part (:meth:`PriorGate.prior_only`) the score is the prior alone, i.e. the ``content``
ranking in this text space."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from lmrec.errors import LmrecError

GATE_RIDGE = 1e-5
"""The weight of :func:`fit_gate`'s squared pull of the five raw numbers towards their start: tiny against
the curvature of any direction the held-out events determine, it gives the directions they leave flat a
unique optimum, so the fit converges and a change in the last float bit of its inputs (another CPU's
kernels, a resumed run) no longer moves the gate along a flat valley. Without it the gate drifted until the
line search gave up, and a resumed run's scores differed from the uninterrupted run's by 1e-2."""

GATE_CHUNK_CELLS = 2**20
"""Score cells per chunk of :func:`fit_gate`'s float64 loss (16 MB a matrix)."""


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


@dataclass(frozen=True)
class TextSpace:
    """The catalog-derived text space of the prior: ``mean`` (d,) and ``matrix`` (d, d); see the module
    docstring. :meth:`fit` builds it from a catalog's vectors; :meth:`apply` maps any text vectors into it."""

    mean: np.ndarray
    matrix: np.ndarray

    @classmethod
    def fit(cls, vectors: np.ndarray, power: float = 0.25) -> TextSpace:
        """Centre (and for ``power`` > 0 partially whiten) on the catalog ``vectors`` (n, d)."""
        v = unit_rows(vectors).astype(np.float64)
        if not len(v):
            raise LmrecError("text prior: the catalog has no item vectors")
        mean = v.mean(0)
        d = v.shape[1]
        if power > 0 and len(v) > 1:
            cov = np.cov((v - mean).T)
            e, u = np.linalg.eigh(cov)
            e = np.maximum(e, 1e-8 * max(float(e.max()), 1e-12))
            matrix = (u * (e / e.mean()) ** -power) @ u.T
        else:
            matrix = np.eye(d)
        return cls(mean.astype(np.float32), matrix.astype(np.float32))

    def apply(self, vectors: np.ndarray) -> np.ndarray:
        """Unit vectors (n, d) of ``vectors`` in this space."""
        return unit_rows((unit_rows(vectors) - self.mean) @ self.matrix)


def profiles(histories: Sequence[np.ndarray], space_vectors: np.ndarray, half_life: float, max_history: int):
    """Unit text profiles (n_users, d) of ``histories`` over the item vectors ``space_vectors`` (already in
    the
    prior's space); an empty history has a zero profile."""
    out = np.zeros((len(histories), space_vectors.shape[1]), dtype=np.float32)
    for row, h in enumerate(histories):
        h = np.asarray(h, dtype=np.int64)[-max_history:]
        if not len(h):
            continue
        age = np.arange(len(h))[::-1]
        w = 0.5 ** (age / half_life) if half_life > 0 else np.ones(len(h))
        out[row] = (w[:, None] * space_vectors[h]).sum(0)
    return unit_rows(out)


@dataclass(frozen=True)
class PriorGate:
    """The five numbers that mix a learned score with the text prior (see the module docstring)."""

    alpha: float = 1.0
    beta: float = 1.0
    lam_warm: float = 0.0
    lam_cold: float = 1.0
    bias: float = 0.0

    @classmethod
    def prior_only(cls) -> PriorGate:
        """Unseen items are ranked by the prior alone (zero-shot: every item is unseen)."""
        return cls(alpha=1.0, beta=1.0, lam_warm=0.0, lam_cold=1.0)

    def item_weights(self, log_count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per item: the weight of the learned score and the weight of the prior (``log_count`` =
        ``log1p`` of the training count)."""
        s = np.exp(-self.beta * np.asarray(log_count, dtype=np.float32))
        return (1.0 - self.alpha * s).astype(np.float32), (self.lam_warm + self.lam_cold * s).astype(
            np.float32
        )

    def item_bias(self, log_count: np.ndarray) -> np.ndarray:
        """Per item: the additive ``bias * (s(c) - 1)``: 0 for an unseen item, ``-bias`` in the limit of
        popular ones. Ranking only sees differences between items, so this equals ``bias * s(c)`` up to a
        constant; it keeps the item-side column small where the fit trades a tiny ``beta`` for a huge ``bias``
        (a log-popularity term, ``bias * beta * log(1 + c)``), which would swamp an ANN index's geometry."""
        lc = np.asarray(log_count, dtype=np.float64)
        return (self.bias * np.expm1(-self.beta * lc)).astype(np.float32)

    def combine(self, learned: np.ndarray, prior: np.ndarray, log_count: np.ndarray) -> np.ndarray:
        """Mixed scores (n, n_items) of learned and prior scores of the same shape."""
        wl, wp = self.item_weights(log_count)
        return (learned * wl + prior * wp + self.item_bias(log_count)).astype(np.float32)

    def to_dict(self) -> dict[str, float]:
        return {k: round(float(v), 6) for k, v in asdict(self).items()}


def sample_columns(
    log_count: np.ndarray, size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``size`` items drawn with replacement for a sampled gate fit (:func:`fit_gate` ``columns``), from half
    a uniform and half a popularity proposal ``q`` (popular items carry most of a softmax's mass, the uniform
    half keeps the tail and new items in); returns the items and their log importance weights ``-log(size
    q)``, so that ``sum over draws of exp(logit + weight)`` estimates the sum of ``exp(logit)`` over the
    catalog without bias."""
    counts = np.expm1(np.asarray(log_count, dtype=np.float64)) + 1.0
    q = 0.5 / len(counts) + 0.5 * counts / counts.sum()
    q /= q.sum()
    columns = rng.choice(len(counts), size=size, replace=True, p=q)
    return columns.astype(np.int64), (-np.log(size * q[columns])).astype(np.float32)


def fit_gate(
    learned: np.ndarray,
    prior: np.ndarray,
    targets: np.ndarray,
    seen: Sequence[np.ndarray],
    log_count: np.ndarray,
    *,
    steps: int = 100,
    bias: bool = True,
    columns: np.ndarray | None = None,
    log_weight: np.ndarray | None = None,
    ridge: float = GATE_RIDGE,
) -> tuple[PriorGate, dict[str, float]]:
    """Learn a :class:`PriorGate` on held-out events: rows of ``learned`` / ``prior`` scores (n, n_items) for
    users whose next item is ``targets`` (n,), their ``seen`` items masked, by softmax cross-entropy over the
    catalog (at most ``steps`` L-BFGS iterations, in float64, plus ``ridge`` times the squared distance of the
    raw numbers from their start: :data:`GATE_RIDGE`). ``bias=False`` keeps ``bias`` at 0 (the four-number
    gate of earlier versions, for comparison). Returns the gate, the losses (cross-entropy, without the
    ridge) and the number of loss evaluations.

    For catalogs too large for (n, n_items) matrices the softmax is sampled: ``columns`` (m,) are items
    drawn by :func:`sample_columns` with their ``log_weight`` (m,), and the score matrices are (n, 1 + m):
    each row's target first, then the drawn items (a draw of the row's target or of a seen item counts for
    nothing)."""
    import torch
    import torch.nn.functional as F

    if not len(targets):
        raise LmrecError("text prior: no held-out event to learn the gate from")
    targets = np.asarray(targets, dtype=np.int64)
    log_count = np.asarray(log_count, dtype=np.float32)
    lrn = torch.from_numpy(np.ascontiguousarray(learned, dtype=np.float32))
    pri = torch.from_numpy(np.ascontiguousarray(prior, dtype=np.float32))
    mask = torch.zeros(lrn.shape, dtype=torch.bool)
    if columns is None:
        for row, h in enumerate(seen):
            h = np.asarray(h, dtype=np.int64)
            mask[row, torch.from_numpy(h[h != targets[row]])] = True
        tgt = torch.from_numpy(targets)
        lc = torch.from_numpy(log_count)[None, :]
        weight = torch.zeros(1, lrn.shape[1])
    else:
        columns = np.asarray(columns, dtype=np.int64)
        if log_weight is None or lrn.shape[1] != 1 + len(columns):
            raise LmrecError("text prior: a sampled gate fit needs one score column per target and draw")
        for row, h in enumerate(seen):
            drop = np.isin(columns, np.asarray(h, dtype=np.int64)) | (columns == targets[row])
            mask[row, 1 + torch.from_numpy(np.flatnonzero(drop))] = True
        tgt = torch.zeros(len(targets), dtype=torch.int64)
        lc = torch.from_numpy(
            np.concatenate(
                [
                    log_count[targets][:, None],
                    np.broadcast_to(log_count[columns], (len(targets), len(columns))),
                ],
                axis=1,
            )
        )
        weight = torch.from_numpy(np.r_[np.float32(0.0), np.asarray(log_weight, np.float32)])[None, :]

    def inv_softplus(y: float) -> float:
        return float(np.log(np.expm1(y)))

    start = [0.0, inv_softplus(0.5), inv_softplus(1.0), inv_softplus(1.0), 0.0]
    raw = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    anchor = torch.tensor(start, dtype=torch.float64)
    n = len(targets)
    step_rows = max(1, GATE_CHUNK_CELLS // lrn.shape[1])
    weight = weight.double()

    def chunk(i: int) -> tuple[torch.Tensor, ...]:
        """Rows i.. of the fit's inputs in float64 (the fit runs in float64, chunk by chunk: its memory
        stays a chunk's, not (n, n_items) float64 matrices)."""
        rows = slice(i, i + step_rows)
        lc_rows = lc if lc.shape[0] == 1 else lc[rows]
        return lrn[rows].double(), pri[rows].double(), lc_rows.double(), mask[rows], tgt[rows]

    def gate_of(r: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (
            torch.sigmoid(r[0]),
            F.softplus(r[1]),
            F.softplus(r[2]),
            F.softplus(r[3]),
            r[4] if bias else r[4] * 0,
        )

    def cross_entropy(r: torch.Tensor | None, *, backward: bool = False) -> float:
        """The mean cross-entropy of the gate ``r`` (None: the learned part alone), accumulating its gradient
        into ``r.grad`` when ``backward``."""
        total = 0.0
        for i in range(0, n, step_rows):
            lr_, pr_, lc_rows, mk, tg = chunk(i)
            if r is None:
                logits = lr_ + weight
            else:
                alpha, beta, lw, lcold, b = gate_of(r)
                s = torch.exp(-beta * lc_rows)
                logits = (
                    (1 - alpha * s) * lr_ + (lw + lcold * s) * pr_ + b * torch.expm1(-beta * lc_rows) + weight
                )
            part = F.cross_entropy(logits.masked_fill(mk, -1e4), tg, reduction="sum") / n
            if backward:
                part.backward()
            total += float(part.detach())
        return total

    with torch.no_grad():
        alone = cross_entropy(None)  # the learned part alone: alpha -> 0 and no prior
    # five numbers and a smooth loss: L-BFGS converges in a few dozen evaluations (Adam needed thousands of
    # steps and stopped short of the optimum at 150)
    opt = torch.optim.LBFGS(
        [raw],
        lr=1.0,
        max_iter=steps,
        line_search_fn="strong_wolfe",
        tolerance_grad=1e-10,
        tolerance_change=1e-14,
    )

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = cross_entropy(raw, backward=True)
        penalty = ridge * (raw - anchor).square().sum()
        penalty.backward()
        return torch.tensor(loss + float(penalty.detach()), dtype=torch.float64)

    opt.step(closure)
    with torch.no_grad():
        final = cross_entropy(raw)
        gate = PriorGate(*(float(np.float32(v)) for v in gate_of(raw)))  # as saved: float32
    return gate, {
        "loss_learned_only": round(alone, 5),
        "loss_mixed": round(final, 5),
        "evaluations": int(opt.state[raw]["func_evals"]),
    }


def gate_to_array(gate: PriorGate) -> np.ndarray:
    """The gate as a float32 array of 5, for a safetensors state."""
    return np.array([gate.alpha, gate.beta, gate.lam_warm, gate.lam_cold, gate.bias], dtype=np.float32)


def gate_from_array(a: Any) -> PriorGate | None:
    """The inverse of :func:`gate_to_array` (None for an array that is not 4 or 5 finite numbers; 4 are a
    gate saved before ``bias`` existed, which is 0 there)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    if a.shape not in ((4,), (5,)) or not np.isfinite(a).all():
        return None
    return PriorGate(*(float(x) for x in a))
