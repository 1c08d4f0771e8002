"""How many threads a model's training uses: from the explicit request, the model's size and the free cores.

Why not torch's default (every core): OpenMP threads spin-wait for each other, so on a machine where other
work runs, a small model trained with as many threads as cores is many times slower than with one (BPR on
ML-100K took 101 s per tuning trial with the default against 6 s with one thread, measured with other jobs
running). Small steps gain nothing from threads even on an idle machine. So:

- an explicit request (``--threads N``, ``FitOptions.threads``) wins;
- else at most ``OMP_NUM_THREADS`` when set, else the cores this process may run on
  (``os.sched_getaffinity``), and at most 4 (the shapes here are small);
- at most the cores that are free: usable cores minus the 1-minute load average (this process counted as
  one of the running ones);
- by the work of one step (multiply-adds, as the model estimates it): under 2 million one thread, under
  50 million two, else up to four.

:func:`pick_threads` returns the number with a one-line reason, which the caller reports.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

SMALL_STEP = 2_000_000
MEDIUM_STEP = 50_000_000
MAX_THREADS = 4


@dataclass(frozen=True)
class ThreadChoice:
    """The threads picked and why (one line)."""

    threads: int
    reason: str

    def describe(self) -> str:
        return f"{self.threads} thread{'s' if self.threads != 1 else ''} ({self.reason})"


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), else the machine's count."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def free_cores(cores: int) -> float:
    """Usable cores minus the other running work (1-minute load average, this process counted as one)."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # pragma: no cover - no load average on this platform
        return float(cores)
    return max(1.0, min(float(cores), cores - max(0.0, load - 1.0)))


def pick_threads(requested: int | None = None, *, work: float | None = None) -> ThreadChoice:
    """Threads for one training run (see the module docstring); ``work`` is one step's multiply-adds."""
    if requested:
        return ThreadChoice(int(requested), "as requested")
    cores = usable_cores()
    env = os.environ.get("OMP_NUM_THREADS", "")
    limit = int(env) if env.isdigit() and int(env) > 0 else min(MAX_THREADS, cores)
    why = [f"OMP_NUM_THREADS={env}" if env.isdigit() and int(env) > 0 else f"{cores} usable cores"]
    free = free_cores(cores)
    if free < limit:
        why.append(f"{free:.1f} free")
    n = min(limit, max(1, int(free + 0.5)))
    if work is not None:
        by_size = 1 if work < SMALL_STEP else 2 if work < MEDIUM_STEP else MAX_THREADS
        if by_size < n:
            why.append(f"small model: {work:,.0f} multiply-adds a step")
        n = min(n, by_size)
    return ThreadChoice(max(1, n), ", ".join(why))


def use_threads(
    requested: int | None = None, *, work: float | None = None, report: bool = False
) -> ThreadChoice:
    """Pick the threads, give them to torch, and say what was picked (a note when ``report``)."""
    import torch

    from lmrec.progress import note

    choice = pick_threads(requested, work=work)
    torch.set_num_threads(choice.threads)
    note(f"lmrec: training with {choice.describe()}", requested=report, once=True)
    return choice


__all__ = ["ThreadChoice", "pick_threads", "free_cores", "usable_cores", "use_threads"]
