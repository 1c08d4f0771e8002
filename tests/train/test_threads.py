"""Threads from the model's size and the free cores (issue 18, finding 9), and the choice is said."""

from __future__ import annotations

import os

import pytest

from lmrec.train import threads


@pytest.fixture
def machine(monkeypatch):
    """A fake machine: ``set(cores, load)``; OMP_NUM_THREADS unset."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)

    def set_(cores: int, load: float) -> None:
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)), raising=False)
        monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))

    return set_


def test_an_explicit_request_wins(machine):
    machine(8, 20.0)
    assert threads.pick_threads(3).threads == 3


def test_busy_cores_are_not_oversubscribed(machine):
    machine(2, 3.0)  # two other jobs running on two cores
    choice = threads.pick_threads(None, work=1e9)
    assert choice.threads == 1 and "free" in choice.reason


def test_small_models_get_one_thread_on_an_idle_machine(machine):
    machine(8, 1.0)  # only this process
    bpr_step = 4.0 * 1024 * 64 * 3
    small = threads.pick_threads(None, work=bpr_step)
    assert small.threads == 1 and "small model" in small.reason
    assert threads.pick_threads(None, work=1e9).threads == 4


def test_omp_num_threads_caps(machine, monkeypatch):
    machine(8, 0.0)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert threads.pick_threads(None, work=1e9).threads == 2


def test_bpr_fits_with_one_thread_on_a_busy_machine_and_says_so(machine, capsys, monkeypatch):
    import torch

    from lmrec.models.base import FitOptions
    from lmrec.models.mf import BPR
    from lmrec.progress import _said
    from lmrec.testing import tiny_dataset

    machine(4, 0.0)
    _said.clear()
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(4)
        BPR(epochs=1).fit(tiny_dataset().interactions, options=FitOptions(progress=True))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    err = capsys.readouterr().err
    assert "training with 1 thread" in err and "small model" in err, err
