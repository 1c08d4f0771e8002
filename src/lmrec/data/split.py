"""Splits: each returns a :class:`Split` that records its protocol and a hash of its assignment.

All splitters are pure: they never modify the dataset they are given.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lmrec.data._dataset import Dataset, Interactions
from lmrec.errors import DataError

TRAIN, VALID, TEST = 0, 1, 2
# history only: the user's history at evaluation time, never trained on (few-shot splits)
HISTORY = 3


@dataclass(frozen=True, eq=False)
class Split:
    """Train / validation / test views of one dataset's interactions.

    ``assignment[r]`` is 0 (train), 1 (valid), 2 (test), 3 (history only: part of the user's history at
    evaluation time but not of the training data, see :func:`few_shot`) or -1 (dropped) for row ``r``.
    ``protocol`` is a short human-readable description; ``params`` the splitter's arguments.
    """

    dataset: Dataset
    assignment: np.ndarray
    protocol: str
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        a = np.array(self.assignment, dtype=np.int8, copy=True)
        a.setflags(write=False)
        object.__setattr__(self, "assignment", a)
        if len(a) != len(self.dataset.interactions):
            raise DataError("split assignment length differs from the number of interactions")

    def _part(self, code: int) -> Interactions:
        return self.dataset.interactions.subset(self.assignment == code)

    @property
    def train(self) -> Interactions:
        return self._part(TRAIN)

    @property
    def valid(self) -> Interactions:
        return self._part(VALID)

    @property
    def test(self) -> Interactions:
        return self._part(TEST)

    @property
    def train_valid(self) -> Interactions:
        """Training plus validation events (the history used at test time)."""
        return self.dataset.interactions.subset((self.assignment == TRAIN) | (self.assignment == VALID))

    @property
    def hash(self) -> str:
        """sha256 (16 hex digits) of the dataset fingerprint and the per-row assignment."""
        h = hashlib.sha256()
        h.update(self.dataset.interactions.fingerprint().encode())
        h.update(self.assignment.tobytes())
        return h.hexdigest()[:16]

    def describe(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "params": self.params,
            "split_hash": self.hash,
            "train": int((self.assignment == TRAIN).sum()),
            "valid": int((self.assignment == VALID).sum()),
            "test": int((self.assignment == TEST).sum()),
        }


def leave_one_out_split(dataset: Dataset, *, min_train: int = 1) -> Split:
    """Leave-one-out by time: per user, last event = test, second to last = validation.

    Events are ordered by timestamp with a stable sort, so ties keep the order of the source file. Users with
    fewer than ``min_train + 2`` events give only what they can: test first, then validation.
    """
    inter = dataset.interactions
    order = inter.time_order()
    users = inter.user[order]
    assignment = np.zeros(len(inter), dtype=np.int8)
    if len(inter):
        # position from the end within each user's run
        last = np.r_[users[1:] != users[:-1], True]
        run_end = np.flatnonzero(last)
        run_start = np.r_[0, run_end[:-1] + 1]
        lengths = run_end - run_start + 1
        for code, back, need in ((TEST, 0, min_train + 1), (VALID, 1, min_train + 2)):
            ok = lengths >= need
            assignment[order[run_end[ok] - back]] = code
    protocol = "leave-one-out by time (stable sort, ties in file order)"
    return Split(dataset, assignment, protocol, {"min_train": min_train})
