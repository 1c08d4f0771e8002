"""Splits: each returns a :class:`Split` that records its protocol and a hash of its assignment.

All splitters are pure: they never modify the dataset they are given.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
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

    # The parts and the hash are derived from immutable data (read-only assignment, immutable dataset), so
    # they are computed once and cached: every access returns the same Interactions object, whose own
    # derived views (sequences, time order) are cached in turn. Caches are left out of pickling.
    _CACHED = ("_parts", "hash")

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in self._CACHED}

    @cached_property
    def _parts(self) -> dict[str, Interactions]:
        return {}

    def _cached_part(self, name: str, rows: Callable[[], np.ndarray]) -> Interactions:
        part = self._parts.get(name)
        if part is None:
            part = self._parts[name] = self.dataset.interactions.subset(rows())
        return part

    def _part(self, code: int) -> Interactions:
        return self._cached_part(str(code), lambda: self.assignment == code)

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
        a = self.assignment
        return self._cached_part("train_valid", lambda: (a == TRAIN) | (a == VALID))

    def history(self, stage: str) -> Interactions:
        """The events that form users' histories when evaluating ``stage`` (rows of :meth:`history_rows`)."""
        return self._cached_part(f"history:{stage}", lambda: self.history_rows(stage))

    @cached_property
    def hash(self) -> str:
        """sha256 (16 hex digits) of the dataset fingerprint and the per-row assignment (cached)."""
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
            "history_only": int((self.assignment == HISTORY).sum()),
            "dropped": int((self.assignment < 0).sum()),
        }

    def history_rows(self, stage: str) -> np.ndarray:
        """Boolean mask of the rows that form users' histories when evaluating ``stage`` ("valid"/"test").

        Validation: training and history-only rows; test: those plus validation rows.
        """
        a = self.assignment
        rows = (a == TRAIN) | (a == HISTORY)
        if stage == "test":
            return rows | (a == VALID)
        if stage == "valid":
            return rows
        raise DataError(f"stage must be 'valid' or 'test', not {stage!r}")


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


def _fractions(valid_frac: float, test_frac: float) -> None:
    for name, v in (("valid_frac", valid_frac), ("test_frac", test_frac)):
        if not 0.0 <= v < 1.0:
            raise DataError(f"must be in [0, 1), got {v}", field=name)
    if valid_frac + test_frac >= 1.0:
        raise DataError(
            f"valid_frac + test_frac must be < 1, got {valid_frac + test_frac}", field="test_frac"
        )


def temporal_split(dataset: Dataset, valid_frac: float = 0.1, test_frac: float = 0.1) -> Split:
    """Global temporal cut-off: the latest events across all users are held out.

    Two cut-off times are taken at the time quantiles ``1 - valid_frac - test_frac`` and ``1 - test_frac`` of
    all events: events before the first cut train, events between the cuts validate, the rest test. Events
    with equal timestamps always fall on the same side, so no training event is at or after a cut (the
    fractions are therefore approximate when times tie). The cut-offs are in ``params["cutoffs"]``.
    """
    _fractions(valid_frac, test_frac)
    inter = dataset.interactions
    ts = np.sort(inter.timestamp, kind="stable")
    n = len(ts)
    if n == 0:
        raise DataError("cannot split an empty dataset")

    def cut_at(frac: float) -> int:
        pos = int(np.floor(n * (1.0 - frac)))
        return int(ts[pos]) if pos < n else int(ts[-1]) + 1

    valid_cut, test_cut = cut_at(valid_frac + test_frac), cut_at(test_frac)
    t = inter.timestamp
    assignment = np.full(n, TRAIN, dtype=np.int8)
    assignment[t >= valid_cut] = VALID
    assignment[t >= test_cut] = TEST
    params = {"valid_frac": valid_frac, "test_frac": test_frac, "cutoffs": [valid_cut, test_cut]}
    return Split(dataset, assignment, "global temporal cut-off (time quantiles)", params)


def random_split(
    dataset: Dataset, valid_frac: float = 0.1, test_frac: float = 0.2, *, seed: int = 0
) -> Split:
    """Random ratio split per user (seeded): round(n * test_frac) of each user's events test, then
    round(n * valid_frac) validate, the rest train. Ignores time, so the integrity checks report leakage."""
    _fractions(valid_frac, test_frac)
    inter = dataset.interactions
    rng = np.random.default_rng(seed)
    n = len(inter)
    # position of each event in a random order within its user
    key = rng.permutation(n)
    order = np.lexsort((key, inter.user))
    users = inter.user[order]
    starts = np.searchsorted(users, users, side="left")
    pos = np.arange(n) - starts
    size = np.bincount(inter.user, minlength=inter.n_users)[users]
    n_test = np.rint(size * test_frac).astype(np.int64)
    n_valid = np.rint(size * valid_frac).astype(np.int64)
    code = np.full(n, TRAIN, dtype=np.int8)
    code[pos < n_test + n_valid] = VALID
    code[pos < n_test] = TEST
    assignment = np.empty(n, dtype=np.int8)
    assignment[order] = code
    params = {"valid_frac": valid_frac, "test_frac": test_frac, "seed": seed}
    return Split(dataset, assignment, "random ratio split per user (seeded)", params)


def user_cold_start_split(
    dataset: Dataset, valid_frac: float = 0.1, test_frac: float = 0.1, *, seed: int = 0
) -> Split:
    """Held-out users: a seeded ``test_frac`` of the users with events are test users, ``valid_frac``
    validation users; all their events are held out, so at evaluation they have no history (pure cold start).
    The held-out user indices are in ``params["valid_users"]`` / ``params["test_users"]``."""
    _fractions(valid_frac, test_frac)
    inter = dataset.interactions
    assignment, valid_users, test_users = _hold_out(inter.user, inter.n_users, valid_frac, test_frac, seed)
    params = {
        "valid_frac": valid_frac,
        "test_frac": test_frac,
        "seed": seed,
        "valid_users": valid_users.tolist(),
        "test_users": test_users.tolist(),
    }
    return Split(dataset, assignment, "user cold-start (held-out users, no history)", params)


def item_cold_start_split(
    dataset: Dataset, valid_frac: float = 0.1, test_frac: float = 0.1, *, seed: int = 0
) -> Split:
    """Held-out items: a seeded ``test_frac`` of the items with events are test items, ``valid_frac``
    validation items. Every event of a held-out item is held out (removed from training), so those items are
    never seen in training and only text or features can rank them. The item indices are in
    ``params["valid_items"]`` / ``params["test_items"]``."""
    _fractions(valid_frac, test_frac)
    inter = dataset.interactions
    assignment, valid_items, test_items = _hold_out(inter.item, inter.n_items, valid_frac, test_frac, seed)
    params = {
        "valid_frac": valid_frac,
        "test_frac": test_frac,
        "seed": seed,
        "valid_items": valid_items.tolist(),
        "test_items": test_items.tolist(),
    }
    return Split(dataset, assignment, "item cold-start (held-out items never in training)", params)


def _hold_out(
    ids: np.ndarray, n_ids: int, valid_frac: float, test_frac: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(assignment, valid ids, test ids): a seeded share of the ids with events (users or items) is held out
    whole; every event of a held-out id gets its code, the rest stay TRAIN."""
    rng = np.random.default_rng(seed)
    active = np.flatnonzero(np.bincount(ids, minlength=n_ids) > 0)
    shuffled = rng.permutation(active)
    n_test = int(round(len(active) * test_frac))
    n_valid = int(round(len(active) * valid_frac))
    test_ids = np.sort(shuffled[:n_test])
    valid_ids = np.sort(shuffled[n_test : n_test + n_valid])
    assignment = np.full(len(ids), TRAIN, dtype=np.int8)
    assignment[np.isin(ids, valid_ids)] = VALID
    assignment[np.isin(ids, test_ids)] = TEST
    return assignment, valid_ids, test_ids


def few_shot(split: Split, fraction: float, seed: int = 0) -> Split:
    """Keep the training events of a seeded ``fraction`` of the training users; validation and test are
    unchanged.

    The other users' training events become history-only (code 3): a model is not trained on them, but at
    evaluation they still form the users' histories, exactly as in the full split, so the numbers compare.
    """
    if not 0.0 < fraction <= 1.0:
        raise DataError(f"must be in (0, 1], got {fraction}", field="fraction")
    inter = split.dataset.interactions
    train_rows = split.assignment == TRAIN
    train_users = np.unique(inter.user[train_rows])
    rng = np.random.default_rng(seed)
    n_keep = max(1, int(round(len(train_users) * fraction))) if len(train_users) else 0
    keep = rng.choice(train_users, size=n_keep, replace=False) if n_keep else np.zeros(0, np.int64)
    assignment = split.assignment.copy()
    assignment[train_rows & ~np.isin(inter.user, keep)] = HISTORY
    params = {**split.params, "few_shot_fraction": fraction, "few_shot_seed": seed, "base_split": split.hash}
    protocol = f"{split.protocol}; few-shot: training events of {fraction:g} of the training users"
    return Split(split.dataset, assignment, protocol, params)


def fixed_split(dataset: Dataset) -> Split:
    """The source's own train/valid/test assignment (``dataset.fixed_split``, e.g. UniSRec's own files)."""
    if dataset.fixed_split is None:
        raise DataError(f"dataset '{dataset.name}' has no fixed split of its own; use leave_one_out_split")
    a = np.asarray(dataset.fixed_split, dtype=np.int8)
    bad = ~np.isin(a, (TRAIN, VALID, TEST, -1))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(f"fixed split code {int(a[row])} is not 0/1/2/-1", line=row, field="fixed_split")
    return Split(dataset, a, f"fixed split shipped with {dataset.name}", {})
