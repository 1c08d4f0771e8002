"""One progress system (issue 18, findings 7 and 8): every bar goes to one shared rich display, nothing is
drawn when stdout is not a terminal, tuning says which trial of how many, a resumed run says so."""

from __future__ import annotations

import logging

import pytest

from lmrec import progress
from lmrec.data.split import leave_one_out_split
from lmrec.models.base import FitOptions
from lmrec.testing import tiny_dataset
from lmrec.train.loop import LoopConfig, train_loop
from lmrec.tune import tune_model


class FakeDisplay:
    """Records what the shared display is asked to show (rich's Progress API, the part lmrec uses)."""

    created = 0

    def __init__(self) -> None:
        FakeDisplay.created += 1
        self.tasks: dict[int, dict] = {}
        self.seen: list[dict] = []
        self.live = False
        self.max_open = 0
        self.console = self
        self.printed: list[str] = []

    def start(self) -> None:
        self.live = True

    def stop(self) -> None:
        self.live = False

    def add_task(self, description, total=None, completed=0, **fields):
        tid = len(self.seen)
        self.tasks[tid] = {"description": description, "total": total, "completed": completed, **fields}
        self.seen.append(dict(self.tasks[tid]))
        self.max_open = max(self.max_open, len(self.tasks))
        return tid

    def advance(self, tid, n):
        self.tasks[tid]["completed"] += n

    def update(self, tid, **fields):
        self.tasks[tid].update(fields)
        self.seen.append(dict(self.tasks[tid]))

    def remove_task(self, tid):
        del self.tasks[tid]

    def print(self, message, **_):
        self.printed.append(message)


@pytest.fixture
def display(monkeypatch):
    displays: list[FakeDisplay] = []

    def make():
        displays.append(FakeDisplay())
        return displays[-1]

    monkeypatch.setenv("LMREC_PROGRESS", "1")
    monkeypatch.setattr(progress, "_new_display", make)
    return displays


def test_disabled_when_stdout_is_not_a_terminal(capsys, monkeypatch):
    monkeypatch.delenv("LMREC_PROGRESS", raising=False)
    assert not progress.enabled(True)  # capsys: not a terminal
    monkeypatch.setenv("LMREC_PROGRESS", "1")
    assert progress.enabled(True) and not progress.enabled(False)
    monkeypatch.setenv("LMREC_PROGRESS", "0")
    assert not progress.enabled(True)


def test_tuning_with_progress_off_a_terminal_prints_nothing(capsys, monkeypatch):
    monkeypatch.delenv("LMREC_PROGRESS", raising=False)
    split = leave_one_out_split(tiny_dataset())
    tune_model("bpr", split, {"lr": [0.05, 0.1]}, base_params={"epochs": 2}, progress=True)
    captured = capsys.readouterr()
    assert captured.out == "" and "\n\n" not in captured.err and "%|" not in captured.err, captured


def test_tuning_says_trial_i_of_n_on_one_display_with_nested_bars(display):
    split = leave_one_out_split(tiny_dataset())
    opts = FitOptions(progress=True)
    tune_model("bpr", split, {"lr": [0.05, 0.1, 0.2]}, base_params={"epochs": 2}, options=opts, progress=True)
    assert len(display) == 1, "one shared display for the tuning bar and the bars inside it"
    fake = display[0]
    descriptions = [s["description"] for s in fake.seen]
    for i in (1, 2, 3):
        assert f"tuning bpr: trial {i} of 3" in descriptions, descriptions
    assert "BPR" in descriptions  # the epochs' bar of each trial, nested in the same display
    assert fake.max_open >= 2 and not fake.live and not fake.tasks


def _problem():
    import torch

    torch.manual_seed(0)
    x = torch.randn(64, 4)
    y = x.sum(1, keepdim=True)
    module = torch.nn.Linear(4, 1)

    def batches(epoch, rng):
        for s in range(0, 64, 16):
            yield x[s : s + 16], y[s : s + 16]

    def step(batch):
        return torch.nn.functional.mse_loss(module(batch[0]), batch[1])

    def validate():
        return {"m": -float(torch.nn.functional.mse_loss(module(x), y))}

    return module, batches, step, validate


def test_a_resumed_run_says_so_in_the_log_and_the_progress_line(display, tmp_path, caplog, capsys):
    cfg = LoopConfig(epochs=3, lr=1e-2, patience=0, monitor="m")
    opts = FitOptions(checkpoint_dir=str(tmp_path), progress=True)

    class Killed(Exception):
        pass

    def kill(epoch, record):
        if epoch == 2:
            raise Killed

    module, batches, step, validate = _problem()
    with pytest.raises(Killed):
        train_loop(
            module, batches=batches, step=step, validate=validate, config=cfg, options=opts, on_epoch_end=kill
        )
    module, batches, step, validate = _problem()
    with caplog.at_level(logging.INFO, logger="lmrec.train"):
        res = train_loop(module, batches=batches, step=step, validate=validate, config=cfg, options=opts)
    assert res.resumed_from_epoch == 2
    assert any("resumed from epoch 2" in r.getMessage() for r in caplog.records)
    infos = [s.get("info", "") for s in display[-1].seen if s["description"] == "train"]
    assert infos and all("resumed from epoch 2" in i for i in infos), infos
    said = display[-1].printed + capsys.readouterr().err.splitlines()
    assert any("resumed from epoch 2" in line for line in said), said


def test_evaluation_progress_goes_to_the_shared_display(display, capsys):
    from lmrec.evaluate import evaluate_model
    from lmrec.models.popularity import Popularity

    data = tiny_dataset()
    split = leave_one_out_split(data)
    model = Popularity().fit(split.train)
    evaluate_model(model, split, ks=(10,), progress=True)
    assert any(s["description"] == "evaluate" for s in display[0].seen)
    assert "%|" not in capsys.readouterr().err  # no tqdm bar
