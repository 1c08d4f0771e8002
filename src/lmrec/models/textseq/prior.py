"""The text prior of :class:`~lmrec.models.textseq.TextSeq` (see :mod:`lmrec.models.textprior`): after
training, the model's learned score is mixed with the cosine between the user's text profile and each item's
text, by a gate that depends on how often the item was seen in training and that is learned on held-out
events."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from lmrec.data import Interactions
from lmrec.models.textprior import (
    PriorGate,
    TextSpace,
    fit_gate,
    gate_from_array,
    gate_to_array,
    profiles,
    sample_columns,
)
from lmrec.models.textseq.data import last_event_per_user

# keys of the prior in the saved state (next to the network's own)
STATE_KEYS = ("text_prior.mean", "text_prior.matrix", "text_prior.gate")


def held_out_ndcg10(scores: np.ndarray, targets: np.ndarray, seen: list[np.ndarray]) -> np.ndarray:
    """Per-row NDCG@10 of ``targets`` under ``scores`` with each row's ``seen`` items (but its target)
    masked: how the gate's held-out events are scored (``benchmarks/gate_variants.py`` scores other gates
    the same way)."""
    from lmrec.metrics import target_metrics

    s = scores.copy()
    for row, h in enumerate(seen):
        h = np.asarray(h, dtype=np.int64)
        s[row, h[h != targets[row]]] = -np.inf
    return np.asarray(target_metrics(s, targets, ks=(10,))["ndcg@10"], dtype=np.float64)


# the gate's fit holds a few (events x columns) float32 matrices and evaluates its loss over them a few dozen
# times: at most this many cells. Events are sampled down for large catalogs (4,096 events fit up to 8,192
# items, the floor of 256 up to 131,072); past that the fit's softmax is sampled (fit_text_prior)
GATE_CELLS = 2**25


def gate_events(n_items: int, max_users: int = 4096, cells: int = GATE_CELLS) -> int:
    """How many held-out events the gate is learned on for a catalog of ``n_items``: ``max_users``, fewer
    when events x items would exceed ``cells``, never fewer than 256."""
    return int(min(max_users, max(256, cells // max(1, n_items))))


def keep_gate(mixed: np.ndarray, learned: np.ndarray) -> tuple[bool, float, float]:
    """Whether to keep the text prior, from per-event held-out NDCG@10 of the mixed and the learned-only
    scores: drop it only when the learned score alone is better by more than one standard error of the
    paired difference. The learned part's epoch was picked on these same events (early stopping), so its
    value here is optimistic, most of all when they are few; the prior is the safe side (it never falls
    below the text). Returns (keep, mean gain of learned over mixed, its standard error)."""
    diff = np.asarray(learned, np.float64) - np.asarray(mixed, np.float64)
    gain = float(diff.mean()) if len(diff) else 0.0
    se = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else float("inf")
    return not gain > se, gain, se


class TextPriorMixin:
    """Text-prior state and scoring for :class:`TextSeq` (``config.text_prior``)."""

    prior_space: TextSpace | None
    prior_gate: PriorGate | None

    def _prior_reset(self) -> None:
        self.prior_space = None
        self.prior_gate = None
        self._prior_vecs: np.ndarray | None = None

    def prior_item_vectors(self) -> np.ndarray:
        """Every catalog item's unit text vector in the prior's text space (n_items, d), cached."""
        if self._prior_vecs is None or len(self._prior_vecs) != self.n_items:  # type: ignore[attr-defined]
            assert self.prior_space is not None
            self._prior_vecs = self.prior_space.apply(self.module.text.detach().cpu().numpy())  # type: ignore[attr-defined]
        return self._prior_vecs

    def prior_profiles(self, histories: list[np.ndarray]) -> np.ndarray:
        """Unit text profiles (n, d) of histories in the prior's text space."""
        cfg = self.config  # type: ignore[attr-defined]
        return profiles(histories, self.prior_item_vectors(), cfg.prior_half_life, cfg.prior_max_history)

    def prior_scores(self, histories: list[np.ndarray]) -> np.ndarray:
        """The text prior (n, n_items): cosine of each history's profile with every item."""
        return self.prior_profiles(histories) @ self.prior_item_vectors().T

    def item_log_counts(self) -> np.ndarray:
        """``log1p`` of each item's training count (n_items,): what the gate weighs the prior by."""
        return self.module.log_count.detach().cpu().numpy()  # type: ignore[attr-defined]

    def _mix_prior(self, learned: np.ndarray, histories: list[np.ndarray]) -> np.ndarray:
        if self.prior_gate is None or self.prior_space is None:
            return learned
        return self.prior_gate.combine(learned, self.prior_scores(histories), self.item_log_counts())

    def _prior_init(self, vectors: np.ndarray) -> None:
        """The text space from the catalog's vectors (n_items, d); no gate yet (the learned score alone)."""
        self._prior_reset()
        self.prior_space = TextSpace.fit(vectors, self.config.prior_whitening)  # type: ignore[attr-defined]

    def fit_text_prior(
        self, held_out: Interactions, max_users: int = 4096, seed: int = 0, *, in_sample: bool = False
    ) -> dict[str, Any]:
        """Learn the gate on ``held_out`` (each user's last event there is the target; at most ``max_users``
        users, fewer for large catalogs (:func:`gate_events`), a seeded sample); the model's learned part is
        not changed. ``in_sample``: the events are the
        training data's own last events, so each target is cut from its user's history first. Returns what it
        learned."""
        users, targets = last_event_per_user(held_out)
        hist = self._histories  # type: ignore[attr-defined]
        keep = np.array([len(hist[u]) > 0 for u in users], dtype=bool)
        users, targets = users[keep], targets[keep]
        max_users = gate_events(self.n_items, max_users)  # type: ignore[attr-defined]
        if len(users) > max_users:
            pick = np.sort(np.random.default_rng(seed).choice(len(users), max_users, replace=False))
            users, targets = users[pick], targets[pick]
        self.prior_gate = None
        histories = [hist[u][:-1] if in_sample else hist[u] for u in users]
        if in_sample:
            has = np.array([len(h) > 0 for h in histories], dtype=bool)
            users, targets = users[has], targets[has]
            histories = [h for h, k in zip(histories, has, strict=True) if k]
        if not len(users):
            self.prior_gate = PriorGate.prior_only()
            return {"gate": self.prior_gate.to_dict(), "events": 0}
        lc = self.item_log_counts()
        n_items = self.n_items  # type: ignore[attr-defined]
        # past GATE_CELLS (only at gate_events' floor, i.e. catalogs over ~131k items) the softmax of the fit
        # is sampled and the score rows are gathered chunk by chunk: memory and time stay bounded
        columns = log_weight = None
        if len(users) * n_items > GATE_CELLS:
            columns, log_weight = sample_columns(
                lc, GATE_CELLS // len(users) - 1, np.random.default_rng(seed)
            )
        parts = []
        for start, learned, prior in self._held_out_rows(histories):
            if columns is not None:
                rows = np.arange(len(learned))
                t = targets[start : start + len(learned)]
                learned = np.hstack([learned[rows, t][:, None], learned[:, columns]])
                prior = np.hstack([prior[rows, t][:, None], prior[:, columns]])
            parts.append((learned, prior))
        learned, prior = (np.concatenate([p[i] for p in parts]) for i in (0, 1))
        gate, losses = fit_gate(
            learned, prior, targets, histories, lc, columns=columns, log_weight=log_weight
        )
        # the learned part alone only when it ranks the held-out events clearly better (keep_gate); full
        # ranking over the catalog either way (the rows once more, chunk by chunk, when the fit was sampled)
        rows_again = [(0, learned, prior)] if columns is None else self._held_out_rows(histories)
        ndcg: dict[str, list[np.ndarray]] = {"mixed": [], "learned": []}
        for start, learned, prior in rows_again:
            t, h = targets[start : start + len(learned)], histories[start : start + len(learned)]
            ndcg["mixed"].append(held_out_ndcg10(gate.combine(learned, prior, lc), t, h))
            ndcg["learned"].append(held_out_ndcg10(learned, t, h))
        per_event = {k: np.concatenate(v) for k, v in ndcg.items()}
        kept, gain, se = keep_gate(per_event["mixed"], per_event["learned"])
        self.prior_gate = gate if kept else None
        return {
            "gate": gate.to_dict(),
            "kept": bool(kept),
            "held_out_ndcg@10": {k: round(float(v.mean()), 5) for k, v in per_event.items()},
            "learned_minus_mixed": {"gain": round(gain, 5), "se": round(se, 5)},
            "events": int(len(users)),
            "softmax": "full" if columns is None else f"sampled, {len(columns)} draws",
            **losses,
        }

    def _held_out_rows(self, histories: list[np.ndarray]) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """(first row, learned scores, prior scores) of ``histories`` against the whole catalog, in chunks of
        at most GATE_CELLS cells (and 512 rows)."""
        rows = int(np.clip(GATE_CELLS // max(1, self.n_items), 1, 512))  # type: ignore[attr-defined]
        for start in range(0, len(histories), rows):
            chunk = histories[start : start + rows]
            yield start, self._score_histories(chunk), self.prior_scores(chunk)  # type: ignore[attr-defined]

    def prior_state(self) -> dict[str, np.ndarray]:
        """The prior's part of a saved state: its text space and, when kept, its gate (empty without a
        prior)."""
        if self.prior_space is None:
            return {}
        state = {STATE_KEYS[0]: self.prior_space.mean, STATE_KEYS[1]: self.prior_space.matrix}
        if self.prior_gate is not None:  # no gate: the held-out events preferred the learned score alone
            state[STATE_KEYS[2]] = gate_to_array(self.prior_gate)
        return state

    def load_prior_state(self, state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Take the prior's keys out of ``state`` (returns the rest, the network's)."""
        self._prior_reset()
        if STATE_KEYS[0] in state:
            self.prior_space = TextSpace(
                np.asarray(state[STATE_KEYS[0]], np.float32), np.asarray(state[STATE_KEYS[1]], np.float32)
            )
            self.prior_gate = gate_from_array(state[STATE_KEYS[2]]) if STATE_KEYS[2] in state else None
        return {k: v for k, v in state.items() if k not in STATE_KEYS}

    def _prior_mix_new(
        self, learned: np.ndarray, histories: list[np.ndarray], vectors: np.ndarray
    ) -> np.ndarray:
        """Mixed scores of items given only by text ``vectors`` (unseen: count 0)."""
        if self.prior_gate is None or self.prior_space is None:
            return learned
        prior = self.prior_profiles(histories) @ self.prior_space.apply(vectors).T
        return self.prior_gate.combine(learned, prior, np.zeros(len(vectors), np.float32))

    def _prior_query_part(self, histories: list[np.ndarray]) -> np.ndarray | None:
        """User-side extra columns of the retrieval vectors (None without a gate): the text profile, and a
        constant 1 against the item's bias. O(history) per user: nothing here touches the whole catalog, so
        a service query stays as cheap as the learned part's."""
        if self.prior_gate is None or self.prior_space is None:
            return None
        profiles_ = self.prior_profiles(histories)
        return np.hstack([profiles_, np.ones((len(profiles_), 1), np.float32)])

    def _prior_item_part(self) -> np.ndarray | None:
        """Item-side extra columns of the retrieval vectors (None without a gate): the item's text vector
        times its prior weight, and the gate's bias for the item."""
        if self.prior_gate is None or self.prior_space is None:
            return None
        lc = self.item_log_counts()
        _, wp = self.prior_gate.item_weights(lc)
        return np.hstack([self.prior_item_vectors() * wp[:, None], self.prior_gate.item_bias(lc)[:, None]])
