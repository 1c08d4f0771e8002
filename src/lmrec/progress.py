"""One progress display for the whole library: rich bars on stderr, and nothing when stdout is not a terminal.

Training epochs, tuning trials, evaluation batches and text encoding used to draw their own displays (a
tqdm bar here, a rich bar there); two rich displays cannot be live at once, and a display drawn into a file
or a pipe leaves blank lines and bar remnants among the tables. Here every caller adds a *task* to one
shared rich display, which starts with the first task and stops when the last one ends, so nested work
(a tuning trial that trains epochs and then evaluates) shows as stacked bars. :func:`note` prints a line
above the bars (or on stderr when none is live).

``enabled`` is true only when the caller asked for progress and both stdout and stderr are terminals;
``LMREC_PROGRESS=0`` turns it off, ``LMREC_PROGRESS=1`` forces it on (tests). This module imports nothing
of lmrec, so every package may use it.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_display: Any = None  # the shared rich Progress while a task is open
_open = 0
_said: set[str] = set()


def enabled(requested: bool = True) -> bool:
    """Should progress be drawn? Only when asked for and both stdout and stderr are terminals."""
    forced = os.environ.get("LMREC_PROGRESS", "")
    if forced == "0" or not requested:
        return False
    if forced == "1":
        return True
    return _isatty(sys.stdout) and _isatty(sys.stderr)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class Task:
    """A handle on one bar of the shared display (all methods do nothing for a disabled task)."""

    def __init__(self, display: Any, task_id: Any) -> None:
        self._display = display
        self._id = task_id

    def advance(self, n: float = 1) -> None:
        if self._display is not None:
            self._display.advance(self._id, n)

    def update(
        self,
        *,
        description: str | None = None,
        info: str | None = None,
        completed: float | None = None,
        total: float | None = None,
    ) -> None:
        if self._display is None:
            return
        fields: dict[str, Any] = {}
        if description is not None:
            fields["description"] = description
        if info is not None:
            fields["info"] = info
        if completed is not None:
            fields["completed"] = completed
        if total is not None:
            fields["total"] = total
        self._display.update(self._id, **fields)


def _new_display() -> Any:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )


@contextmanager
def task(
    description: str, total: float | None, *, requested: bool = True, completed: float = 0, info: str = ""
) -> Iterator[Task]:
    """A bar on the shared display for the duration of the block (a do-nothing handle when disabled)."""
    global _display, _open
    if not enabled(requested):
        yield Task(None, None)
        return
    with _lock:
        if _display is None:
            _display = _new_display()
            _display.start()
        display = _display
        task_id = display.add_task(description, total=total, completed=completed, info=info)
        _open += 1
    try:
        yield Task(display, task_id)
    finally:
        with _lock:
            display.remove_task(task_id)
            _open -= 1
            if _open == 0:
                display.stop()
                _display = None


class OpenTask:
    """A bar that stays until :meth:`close` (for code where a ``with`` block does not fit)."""

    def __init__(self, description: str, total: float | None, *, requested: bool = True) -> None:
        self._cm = task(description, total, requested=requested)
        self._task = self._cm.__enter__()
        self._closed = False

    def advance(self, n: float = 1) -> None:
        self._task.advance(n)

    def update(self, **fields: Any) -> None:
        self._task.update(**fields)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._cm.__exit__(None, None, None)


def track(
    items: Iterable[T], description: str, *, total: int | None = None, requested: bool = True
) -> Iterator[T]:
    """Iterate ``items`` with a bar (its length from ``total`` or ``len(items)``)."""
    if not enabled(requested):
        yield from items
        return
    size = total if total is not None else getattr(items, "__len__", lambda: None)()
    with task(description, size) as bar:
        for item in items:
            yield item
            bar.advance(1)


def note(message: str, *, requested: bool = True, once: bool = False) -> None:
    """One line on stderr (when ``requested``), above the bars when a display is live. ``once``: only the
    first time per process (a choice repeated by every tuning trial)."""
    if not requested:
        return
    if once:
        if message in _said:
            return
        _said.add(message)
    display = _display
    if display is not None:
        display.console.print(message, markup=False, highlight=False)
    else:
        print(message, file=sys.stderr, flush=True)


__all__ = ["OpenTask", "Task", "enabled", "note", "task", "track"]
