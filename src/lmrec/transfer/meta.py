"""Meta-learned pretraining of ``textseq``: an initialisation that adapts to a new domain in few steps.

A *task* is one source domain and a group of its users: the *support* users (``task_users`` of them) and,
for FOMAML, as many other *query* users of the same domain. For each outer step a domain is drawn (with the
pretraining's domain probabilities), then

- the **inner loop** copies the current weights and takes ``inner_steps`` Adam steps (learning rate
  ``inner_lr``, fresh optimiser state) on batches of the support users' training windows, scored against
  that domain's catalog only;
- the **outer loop** moves the shared weights: Reptile (``algorithm="reptile"``) uses the difference between
  the starting and the adapted weights as the meta-gradient; first-order MAML (``"fomaml"``) uses the gradient
  of the query users' loss at the adapted weights. Either goes through an outer Adam optimiser (learning rate
  ``outer_lr``, with the textseq config's weight decay and the loop's gradient clipping).

Every weight is meta-learned: the MoE adaptor and the transformer. Compute is counted in gradient steps
(forward + backward passes on one batch): an *epoch* is the same number of steps as one epoch of plain
pretraining (:func:`lmrec.transfer.pretrain.pretrain`, every training window once), so ``epochs`` and
``max_seconds`` give both the same budget. Validation (the mean over domains of leave-one-out NDCG@10, as in
plain pretraining) runs after every epoch at the shared weights; the best weights are kept, with the
textseq config's ``patience``. The result is a :class:`~lmrec.transfer.pretrain.Pretrained` like plain
pretraining's (``info["meta"]`` holds these settings), so ``lmrec adapt`` and ``lmrec transfer`` use it as is.
"""

from __future__ import annotations

import time
from typing import Any, Literal

import numpy as np
from pydantic import Field

from lmrec.config import BaseConfig
from lmrec.models.base import FitOptions
from lmrec.transfer.pretrain import PretrainConfig, Pretrained, PretrainSetup, SourceDomain, setup_pretraining

ALGORITHMS: tuple[str, ...] = ("reptile", "fomaml")


class MetaConfig(BaseConfig):
    """The meta-learning settings of :func:`meta_pretrain` (see the module docstring)."""

    algorithm: Literal["reptile", "fomaml"] = "reptile"
    inner_steps: int = Field(4, ge=1, le=100)
    inner_lr: float = Field(1e-3, gt=0)
    outer_lr: float = Field(1e-3, gt=0)
    task_users: int = Field(256, ge=2)


def meta_pretrain(
    sources: list[SourceDomain],
    config: PretrainConfig | None = None,
    meta: MetaConfig | None = None,
    options: FitOptions | None = None,
    *,
    log: Any = None,
) -> Pretrained:
    """Meta-pretrain one ``textseq`` on ``sources`` (see the module docstring); ``log`` gets a line per
    epoch."""
    import torch

    cfg = config or PretrainConfig()
    mc = meta or MetaConfig()
    options = options or FitOptions()
    tc = cfg.textseq
    su = setup_pretraining(sources, cfg, options, extra=mc.model_dump_json())
    module = su.module
    params = [p for p in module.parameters() if p.requires_grad]
    outer = torch.optim.Adam(params, lr=mc.outer_lr, weight_decay=tc.train.weight_decay)
    rng = np.random.default_rng(options.seed)
    users = [np.unique(d.window_user) for d in su.domains]
    per_task = mc.inner_steps + (1 if mc.algorithm == "fomaml" else 0)
    outer_per_epoch = max(1, su.steps_per_epoch // per_task)
    best, best_state, best_epoch, bad = -np.inf, None, 0, 0
    history: list[dict[str, float]] = []
    started = time.perf_counter()
    epochs_run = 0
    stopped = "epochs"
    for epoch in range(1, tc.train.epochs + 1):
        module.train()
        losses = []
        for _ in range(outer_per_epoch):
            k = int(rng.choice(len(su.domains), p=su.prob))
            support, query = _task(su, k, users[k], mc, rng)
            losses.append(_outer_step(su, k, support, query, params, outer, mc, rng))
        epochs_run = epoch
        record: dict[str, float] = {"epoch": epoch, "loss": float(np.mean(losses))}
        if su.has_validation:
            module.eval()
            with torch.no_grad():
                val = su.validate()
            record.update(val)
            if val["ndcg@10"] > best:
                best, best_epoch, bad = val["ndcg@10"], epoch, 0
                best_state = {n: t.detach().clone() for n, t in module.state_dict().items()}
            else:
                bad += 1
        history.append(record)
        if log is not None:
            nd = record.get("ndcg@10", float("nan"))
            log(f"meta epoch {epoch}: loss {record['loss']:.4f}, valid NDCG@10 {nd:.4f}")
        if tc.train.patience and bad >= tc.train.patience:
            stopped = "patience"
            break
        if options.max_seconds is not None and time.perf_counter() - started > options.max_seconds:
            stopped = "max_seconds"
            break
    if best_state is not None:
        module.load_state_dict(best_state)
    seconds = time.perf_counter() - started
    train = {
        "epochs_run": epochs_run,
        "best_epoch": best_epoch or epochs_run,
        "best_metric": float(best) if best_state is not None else None,
        "stopped": stopped,
        "seconds": round(seconds, 2),
        "history": history,
    }
    steps = epochs_run * outer_per_epoch * per_task
    info = {"meta": {**mc.to_dict(), "outer_steps_per_epoch": outer_per_epoch, "gradient_steps": steps}}
    return su.finish(train, options, **info)


def _task(
    su: PretrainSetup, k: int, users: np.ndarray, mc: MetaConfig, rng: np.random.Generator
) -> tuple[Any, Any]:
    """Row indices (into domain ``k``'s windows) of one task's support users and, for FOMAML, its query
    users (disjoint from the support when the domain has enough users)."""
    import torch

    d = su.domains[k]
    n = min(len(users), mc.task_users * (2 if mc.algorithm == "fomaml" else 1))
    picked = rng.choice(users, n, replace=False)
    half = mc.task_users if len(picked) > mc.task_users else max(1, len(picked) // 2)
    sup_users = picked[:half] if mc.algorithm == "fomaml" else picked
    qry_users = picked[half:] if mc.algorithm == "fomaml" else picked[:0]

    def rows(us: np.ndarray) -> Any:
        return torch.from_numpy(np.flatnonzero(np.isin(d.window_user, us))).to(su.device)

    return rows(sup_users), (rows(qry_users) if len(qry_users) else None)


def _batch_loss(su: PretrainSetup, k: int, rows: Any, batch_size: int, rng: np.random.Generator) -> Any:
    import torch

    if len(rows) > batch_size:
        rows = rows[torch.from_numpy(rng.choice(len(rows), batch_size, replace=False)).to(rows.device)]
    inp, tgt = su.windows[k][0][rows], su.windows[k][1][rows]
    return su.loss(k, inp, tgt)[0]


def _outer_step(
    su: PretrainSetup,
    k: int,
    support: Any,
    query: Any,
    params: list[Any],
    outer: Any,
    mc: MetaConfig,
    rng: np.random.Generator,
) -> float:
    """One task: the inner loop from the current weights, then one outer update. Returns the last inner
    loss (Reptile) or the query loss (FOMAML)."""
    import torch

    bs = su.config.textseq.batch_size
    start = [p.detach().clone() for p in params]
    inner = torch.optim.Adam(params, lr=mc.inner_lr)
    last = 0.0
    for _ in range(mc.inner_steps):
        inner.zero_grad(set_to_none=True)
        loss = _batch_loss(su, k, support, bs, rng)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        inner.step()
        last = float(loss.detach())
    if mc.algorithm == "fomaml":
        inner.zero_grad(set_to_none=True)
        loss = _batch_loss(su, k, query if query is not None else support, bs, rng)
        loss.backward()
        last = float(loss.detach())
        grads = [p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p) for p in params]
    else:
        grads = [(s - p.detach()) for s, p in zip(start, params, strict=True)]
    with torch.no_grad():
        for p, s, g in zip(params, start, grads, strict=True):
            p.copy_(s)
            p.grad = g
    torch.nn.utils.clip_grad_norm_(params, 5.0)
    outer.step()
    outer.zero_grad(set_to_none=True)
    return last
