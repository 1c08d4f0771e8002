"""The loop's optimiser: lazy Adam on row-sparse parameters next to AdamW, sparse-aware clipping, resume."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lmrec.models.base import FitOptions
from lmrec.train.loop import LoopConfig, train_loop
from lmrec.train.optim import build_optimizer, clip_gradients

CFG = LoopConfig(epochs=2, lr=0.05, patience=0, grad_clip=None)


class _Table(torch.nn.Module):
    """A 1,000-row table read with sparse lookups, and a dense head."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.rows = torch.nn.Parameter(torch.randn(1000, 4))
        self.head = torch.nn.Linear(4, 1)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.head(F.embedding(idx, self.rows, sparse=True)).squeeze(-1)


def _step(module):
    return lambda idx: ((module(idx) - 1.0) ** 2).mean()


def test_only_the_rows_a_step_touched_move():
    """Step 1 reads rows 0-9, step 2 rows 10-19. Dense AdamW would keep moving rows 0-9 in step 2 (their
    momentum) and write every row's state; lazy Adam leaves them, and rows never read, alone."""
    module = _Table()
    before = module.rows.detach().clone()
    snapshots = []

    def batches(epoch, rng):
        yield torch.arange(0, 10)
        snapshots.append(module.rows.detach().clone())  # after step 1
        yield torch.arange(10, 20)

    cfg = CFG.model_copy(update={"epochs": 1})
    train_loop(
        module,
        batches=batches,
        step=_step(module),
        validate=None,
        config=cfg,
        options=FitOptions(),
        sparse_params=[module.rows],
    )
    after = module.rows.detach()
    assert not torch.equal(snapshots[0][:10], before[:10])  # step 1 moved its rows
    torch.testing.assert_close(after[:10], snapshots[0][:10], rtol=0, atol=0)  # step 2 left them
    assert not torch.equal(after[10:20], before[10:20])
    torch.testing.assert_close(after[20:], before[20:], rtol=0, atol=0)


def test_dense_groups_keep_their_options_and_sparse_ones_their_lr():
    module = _Table()
    opt = build_optimizer(
        [{"params": [module.rows, *module.head.parameters()], "lr": 0.5}],
        lr=0.1,
        weight_decay=0.01,
        sparse_params=[module.rows],
    )
    adamw, sparse = opt.parts
    assert isinstance(adamw, torch.optim.AdamW) and isinstance(sparse, torch.optim.SparseAdam)
    assert adamw.param_groups[0]["lr"] == 0.5 and adamw.param_groups[0]["weight_decay"] == 0.01
    assert [p is module.rows for p in sparse.param_groups[0]["params"]] == [True]
    assert sparse.param_groups[0]["lr"] == 0.5
    # without sparse parameters the state is the plain AdamW one (old checkpoints load)
    plain = build_optimizer([{"params": list(module.head.parameters())}], lr=0.1, weight_decay=0.0)
    assert len(plain.parts) == 1 and "param_groups" in plain.state_dict()
    with pytest.raises(ValueError, match="2 optimiser states"):
        plain.load_state_dict(opt.state_dict())


def test_clipping_counts_sparse_gradients_like_dense_ones():
    module = _Table()
    loss = _step(module)(torch.tensor([3, 3, 7])) + module(torch.tensor([7])).sum()
    loss.backward()
    params = [module.rows, *module.head.parameters()]
    dense = [p.grad.to_dense().clone() for p in params]
    total = torch.cat([g.flatten() for g in dense]).norm()
    assert float(clip_gradients(params, 0.1)) == pytest.approx(float(total), rel=1e-6)
    for p, g in zip(params, dense, strict=True):
        torch.testing.assert_close(p.grad.to_dense(), g * 0.1 / total, rtol=1e-5, atol=1e-7)


def test_resume_with_sparse_parameters_gives_the_same_weights(tmp_path):
    def batches(epoch, rng):
        for _ in range(4):
            yield torch.from_numpy(rng.integers(0, 1000, 16))

    def run(module, **kw):
        return train_loop(
            module,
            batches=batches,
            step=_step(module),
            validate=None,
            config=CFG,
            options=FitOptions(seed=1, checkpoint_dir=str(tmp_path)),
            sparse_params=[module.rows],
            **kw,
        )

    straight = _Table()
    train_loop(
        straight,
        batches=batches,
        step=_step(straight),
        validate=None,
        config=CFG,
        options=FitOptions(seed=1),
        sparse_params=[straight.rows],
    )

    class Killed(Exception):
        pass

    def kill(epoch, record):
        raise Killed

    with pytest.raises(Killed):
        run(_Table(), on_epoch_end=kill)
    resumed = _Table(seed=5)
    assert run(resumed).resumed_from_epoch == 1
    for k, v in resumed.state_dict().items():
        torch.testing.assert_close(v, straight.state_dict()[k])
