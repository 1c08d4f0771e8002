"""Leakage and sanity checks run before every evaluation; findings become warnings in the result.

- seen targets: held-out items already in the user's history (they are masked, so they count as misses);
- duplicate interactions: the same (user, item) pair more than once (and exact duplicates with the same time);
- cold-start users: evaluated users without any history (expected in user cold-start and temporal splits);
- time leakage: held-out events earlier than the same user's latest history event; for global temporal splits,
  any training event at or after the cut-off;
- item-id order leak ("P5 bug"): item indices that follow the order of the users' sequences, so that the next
  item's id is predictable from the last one's (target = last history item + 1 far above chance, or a strong
  rank correlation between position in the sequence and item index).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lmrec.data.split import TEST, TRAIN, VALID, Split

__all__ = ["check_split", "integrity_report"]

# thresholds for the id-order checks, far above what random ids give (1/n_items, ~0). Measured: ML-100K with
# MovieLens ids 0.95% successors (16x chance, release order), no warning; Amazon Beauty indexed by first
# appearance in user_sequence.txt 2.5% (300x chance), a warning: "predict last id + 1" alone gets HR@1 = .025.
SUCCESSOR_MIN_FRACTION = 0.02
SUCCESSOR_MIN_LIFT = 20.0
SUCCESSOR_MIN_COUNT = 5
ORDER_CORRELATION_MAX = 0.3


def _stage_rows(split: Split, stage: str) -> tuple[np.ndarray, np.ndarray]:
    hist = split.history_rows(stage)
    return hist, split.assignment == (VALID if stage == "valid" else TEST)


def integrity_report(split: Split, stage: str = "test") -> dict[str, Any]:
    """Counts behind the checks (see the module docstring) for ``stage``."""
    inter = split.dataset.interactions
    hist, tgt = _stage_rows(split, stage)
    user = inter.user.astype(np.int64)
    item = inter.item.astype(np.int64)
    ts = inter.timestamp
    n_items = max(inter.n_items, 1)
    report: dict[str, Any] = {"stage": stage, "n_targets": int(tgt.sum())}

    # seen targets: (user, item) of a target row also present among the user's history rows
    pair = user * n_items + item
    hist_pairs = np.unique(pair[hist])
    report["seen_targets"] = int(np.isin(pair[tgt], hist_pairs).sum())

    # duplicates over the whole dataset
    report["duplicate_pairs"] = int(len(pair) - len(np.unique(pair)))
    frame = pd.DataFrame({"u": user, "i": item, "t": ts})
    report["duplicate_events"] = int(frame.duplicated().sum())

    # per-user time leakage: a held-out event strictly earlier than the user's latest history event
    latest = np.full(inter.n_users, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(latest, user[hist], ts[hist])
    report["targets_before_history"] = int((ts[tgt] < latest[user[tgt]]).sum())
    has_history = np.bincount(user[hist], minlength=inter.n_users) > 0
    target_users = np.unique(user[tgt])
    report["n_target_users"] = int(len(target_users))
    report["users_without_history"] = int((~has_history[target_users]).sum())

    # global cut-offs recorded by temporal_split
    cuts = split.params.get("cutoffs")
    if cuts:
        first_cut = int(min(cuts))
        a = split.assignment
        report["train_after_cut"] = int(((a == TRAIN) & (ts >= first_cut)).sum())
        if len(cuts) > 1:
            report["valid_after_cut"] = int(((a == VALID) & (ts >= int(max(cuts)))).sum())

    # id-order leak: target = last history item + 1, and rank correlation of position vs item index
    seqs = inter.subset(hist).sequences()
    last = np.array([s[-1] if len(s) else -10 for s in seqs], dtype=np.int64)
    t_users, t_items = user[tgt], item[tgt]
    has_hist = last[t_users] >= 0
    n_succ = int(((t_items == last[t_users] + 1) & has_hist).sum())
    report["successor_targets"] = n_succ
    report["successor_fraction"] = n_succ / max(int(has_hist.sum()), 1)
    report["successor_chance"] = 1.0 / n_items
    report["order_correlation"] = _position_item_correlation(inter, hist | tgt)
    return report


def _position_item_correlation(inter: Any, rows: np.ndarray) -> float:
    """Mean over users (>= 3 events) of the Spearman correlation between sequence position and item index."""
    sub = inter.subset(rows)
    if len(sub) == 0:
        return 0.0
    order = sub.time_order()
    frame = pd.DataFrame({"u": sub.user[order], "i": sub.item[order].astype(np.float64)})
    g = frame.groupby("u", sort=False)
    size = g["i"].transform("size")
    frame = frame[size >= 3]
    if frame.empty:
        return 0.0
    g = frame.groupby("u", sort=False)
    pos = g.cumcount().astype(np.float64)
    rank_item = g["i"].rank(method="average")
    frame = frame.assign(x=pos.to_numpy() + 1.0, y=rank_item.to_numpy())
    g = frame.groupby("u", sort=False)
    mx, my = g["x"].transform("mean"), g["y"].transform("mean")
    dx, dy = frame["x"] - mx, frame["y"] - my
    cov = (dx * dy).groupby(frame["u"]).sum()
    vx = (dx * dx).groupby(frame["u"]).sum()
    vy = (dy * dy).groupby(frame["u"]).sum()
    ok = (vx > 0) & (vy > 0)
    if not ok.any():
        return 0.0
    corr = cov[ok] / np.sqrt(vx[ok] * vy[ok])
    return float(corr.mean())


def check_split(split: Split, stage: str = "test") -> list[str]:
    """Human-readable warnings for everything :func:`integrity_report` finds suspicious (empty = clean)."""
    r = integrity_report(split, stage)
    out: list[str] = []
    hist_name = "training" if stage == "valid" else "training/validation"
    n_t = max(r["n_targets"], 1)
    if r["seen_targets"]:
        out.append(
            f"{r['seen_targets']} of {r['n_targets']} {stage} items ({r['seen_targets'] / n_t:.1%}) are "
            f"already in the user's {hist_name} history; they are masked and count as misses"
        )
    if r["duplicate_pairs"]:
        out.append(
            f"{r['duplicate_pairs']} repeated (user, item) interactions in the dataset "
            f"({r['duplicate_events']} exact duplicates with the same timestamp); consider deduplicating"
        )
    if r["targets_before_history"]:
        out.append(
            f"time leakage: {r['targets_before_history']} of {r['n_targets']} {stage} events are earlier "
            f"than the same user's latest {hist_name} event (models see the future)"
        )
    if r["users_without_history"]:
        out.append(
            f"{r['users_without_history']} of {r['n_target_users']} {stage} users have no {hist_name} "
            "history (cold-start users: only popularity or content can rank for them)"
        )
    if r.get("train_after_cut"):
        out.append(f"time leakage: {r['train_after_cut']} training events at or after the global cut-off")
    if r.get("valid_after_cut"):
        out.append(f"time leakage: {r['valid_after_cut']} validation events at or after the test cut-off")
    frac, chance = r["successor_fraction"], r["successor_chance"]
    if (
        frac >= SUCCESSOR_MIN_FRACTION
        and frac >= SUCCESSOR_MIN_LIFT * chance
        and r["successor_targets"] >= SUCCESSOR_MIN_COUNT
    ):
        out.append(
            f"item-id order leak: {frac:.1%} of {stage} items have the id right after the user's last item "
            f"(chance {chance:.2%}); ids were probably assigned in sequence order (the P5 bug): "
            "re-index items randomly, and never let a model, a tokenizer or a tie-break see id order"
        )
    if r["order_correlation"] >= ORDER_CORRELATION_MAX:
        out.append(
            f"item-id order leak: item ids rise along users' sequences (mean rank correlation "
            f"{r['order_correlation']:.2f}); ids encode time order (the P5 bug)"
        )
    return out
