"""The shared training loop: early stopping, best-state restore, checkpoint + resume after a kill."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmrec.errors import LmrecError
from lmrec.models.base import FitOptions
from lmrec.train.loop import LoopConfig, epoch_seed, train_loop


def _problem(seed: int = 0):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 8, generator=g)
    y = x @ torch.randn(8, 1, generator=g) + 0.1 * torch.randn(256, 1, generator=g)
    torch.manual_seed(seed)
    module = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Dropout(0.1), torch.nn.Linear(16, 1))

    def batches(epoch, rng):
        order = rng.permutation(len(x))
        for s in range(0, len(order), 32):
            rows = torch.from_numpy(order[s : s + 32])
            yield x[rows], y[rows]

    def step(batch):
        bx, by = batch
        return torch.nn.functional.mse_loss(module(bx), by)

    def validate():
        return {"neg_mse": -float(torch.nn.functional.mse_loss(module(x), y))}

    return module, batches, step, validate


CFG = LoopConfig(epochs=3, lr=1e-2, patience=0, monitor="neg_mse")


def test_loss_decreases_and_history_is_recorded():
    module, batches, step, validate = _problem()
    res = train_loop(module, batches=batches, step=step, validate=validate, config=CFG, options=FitOptions())
    assert res.epochs_run == 3 and len(res.history) == 3
    assert res.history[-1]["loss"] < res.history[0]["loss"]
    assert res.best_epoch == int(np.argmax([h["neg_mse"] for h in res.history])) + 1
    assert not module.training  # left in eval mode


def test_early_stopping_and_restore_best():
    module, batches, step, _ = _problem()
    values = iter([0.5, 0.9, 0.4, 0.3, 0.2, 0.1])
    snapshots = []

    def validate():
        snapshots.append({k: v.clone() for k, v in module.state_dict().items()})
        return {"m": next(values)}

    cfg = LoopConfig(epochs=6, lr=1e-2, patience=2, monitor="m")
    res = train_loop(module, batches=batches, step=step, validate=validate, config=cfg, options=FitOptions())
    assert res.stopped_early and res.epochs_run == 4  # best at 2, two bad rounds (3, 4)
    assert res.best_epoch == 2 and res.best_metric == 0.9
    for k, v in module.state_dict().items():  # weights of epoch 2 restored
        torch.testing.assert_close(v, snapshots[1][k])
    # time to best: the clock at the end of epoch 2, before the two epochs early stopping waited
    assert res.time_to_best == res.history[1]["seconds"] < res.history[3]["seconds"] <= res.seconds
    assert res.to_dict()["time_to_best_s"] == round(res.history[1]["seconds"], 3)


@pytest.mark.parametrize("ema", [0.0, 0.8])
def test_resume_after_kill_gives_the_same_weights(tmp_path, ema):
    cfg = CFG.model_copy(update={"ema": ema})
    module, batches, step, validate = _problem()
    train_loop(module, batches=batches, step=step, validate=validate, config=cfg, options=FitOptions(seed=3))
    straight = {k: v.clone() for k, v in module.state_dict().items()}

    class Killed(Exception):
        pass

    def kill_after_first(epoch, record):
        if epoch == 1:
            raise Killed

    module, batches, step, validate = _problem()
    opts = FitOptions(seed=3, checkpoint_dir=str(tmp_path / "ck"))
    with pytest.raises(Killed):
        train_loop(
            module,
            batches=batches,
            step=step,
            validate=validate,
            config=cfg,
            options=opts,
            on_epoch_end=kill_after_first,
        )
    assert (tmp_path / "ck" / "last.pt").is_file()
    module, batches, step, validate = _problem(seed=99)  # fresh process: different init, must be overwritten
    res = train_loop(module, batches=batches, step=step, validate=validate, config=cfg, options=opts)
    assert res.resumed_from_epoch == 1 and res.epochs_run == 3
    for k, v in module.state_dict().items():
        torch.testing.assert_close(v, straight[k])


def test_checkpoint_of_another_run_is_a_clear_error(tmp_path):
    module, batches, step, validate = _problem()
    opts = FitOptions(checkpoint_dir=str(tmp_path))
    train_loop(
        module, batches=batches, step=step, validate=validate, config=CFG, options=opts, fingerprint="a"
    )
    with pytest.raises(LmrecError, match="different run"):
        train_loop(
            module, batches=batches, step=step, validate=validate, config=CFG, options=opts, fingerprint="b"
        )


def test_epoch_seed_is_deterministic_and_distinct():
    assert epoch_seed(0, 1) == epoch_seed(0, 1)
    assert len({epoch_seed(s, e) for s in range(3) for e in range(3)}) == 9


def test_divergence_is_reported():
    module, batches, _, validate = _problem()

    def step(batch):
        return module(batch[0]).sum() * float("nan")

    with pytest.raises(LmrecError, match="diverged"):
        train_loop(module, batches=batches, step=step, validate=validate, config=CFG, options=FitOptions())


def _trajectory_run(ema: float, validate_every_epoch: bool):
    """Train with the live weights recorded before every optimiser step (and the weights validation saw)."""
    module, batches, step, _ = _problem()
    live, seen = [], []

    def recording_step(batch):
        live.append([p.detach().clone() for p in module.parameters()])
        return step(batch)

    def validate():
        seen.append([p.detach().clone() for p in module.parameters()])
        return {"m": float(len(seen))}  # always improving: the best state is the last one

    cfg = LoopConfig(epochs=2, lr=1e-2, patience=0, monitor="m", ema=ema)
    train_loop(
        module,
        batches=batches,
        step=recording_step,
        validate=validate if validate_every_epoch else None,
        config=cfg,
        options=FitOptions(seed=1),
    )
    final = [p.detach().clone() for p in module.parameters()]
    return live, seen, final


@pytest.mark.parametrize("with_validation", [False, True])
def test_ema_validates_and_returns_the_moving_average_of_the_trained_weights(with_validation):
    plain_live, _, plain_final = _trajectory_run(0.0, with_validation)
    live, seen, final = _trajectory_run(0.9, with_validation)
    # the average never leaks into training: the live trajectory is the one without EMA
    for a, b in zip(live, plain_live, strict=True):
        for x, y in zip(a, b, strict=True):
            torch.testing.assert_close(x, y)
    weights = [*live, plain_final]  # weights after step k are the live ones before step k + 1
    avg = [w.clone() for w in weights[0]]
    steps_per_epoch = len(live) // 2
    expected_seen = []
    for k, w in enumerate(weights[1:], start=1):
        avg = [a + 0.1 * (x - a) for a, x in zip(avg, w, strict=True)]
        if k % steps_per_epoch == 0:
            expected_seen.append(avg)
    for got, want in zip([*seen, final], [*(expected_seen if with_validation else []), avg], strict=True):
        for x, y in zip(got, want, strict=True):
            torch.testing.assert_close(x, y)
