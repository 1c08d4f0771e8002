"""Which model to use, and how sure: paired comparisons with the strongest baseline, and a verdict.

The reference is the *strongest baseline*: the classic model (popularity, ItemKNN, EASE, ALS, BPR, SASRec,
LightGCN) with the highest test NDCG@10 (or the model named with ``--compare-to``). Every other model is
compared with it user by user (:func:`lmrec.evaluate.paired_comparison`: a bootstrap interval of the ratio
of means and a paired t-test), and the verdict recommends the model whose whole 95% interval lies above the
baseline, with the largest gain; when none does it says so: "no model is reliably better than Z".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from lmrec.errors import LmrecError

__all__ = ["BASELINE_MODELS", "add_paired", "base_name", "strongest_baseline", "verdict"]

BASELINE_MODELS = frozenset({"pop", "itemknn", "ease", "als", "bpr", "sasrec", "lightgcn"})


def base_name(name: str) -> str:
    """The registered model name behind a result row ("ease#2" -> "ease", "textseq:model" -> "textseq")."""
    return name.split(":")[0].split("#")[0]


def _value(row: Mapping[str, Any], metric: str) -> float:
    v = row.get(metric)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) else -np.inf


def strongest_baseline(results: Mapping[str, Mapping[str, Any]], metric: str = "ndcg@10") -> str | None:
    """The baseline row (see :data:`BASELINE_MODELS`) with the highest ``metric``; when no row is a baseline,
    the row with the highest ``metric``; None for no rows."""
    if not results:
        return None
    pool = [n for n in results if base_name(n) in BASELINE_MODELS] or list(results)
    return max(pool, key=lambda n: _value(results[n], metric))


def add_paired(
    out: dict[str, Any],
    evaluated: Mapping[str, Any],
    baseline: str | None = None,
    metric: str | None = None,
) -> str | None:
    """Add ``"paired"`` (the comparison with ``baseline`` on ``metric``) to every other row of the results
    dict ``out`` from the per-user values of ``evaluated`` (``{name: EvalResult}``, the same users each).

    ``baseline`` defaults to :func:`strongest_baseline`; ``metric`` to NDCG@10 (else the largest K of NDCG).
    Rows missing from ``evaluated`` are left alone. Returns the baseline (None with fewer than two rows)."""
    from lmrec.evaluate.significance import paired_comparison

    rows = out["results"]
    have = [n for n in rows if n in evaluated]
    if len(have) < 2:
        return None
    if metric is None:
        ks = sorted(int(k.split("@")[1]) for k in evaluated[have[0]].per_user if k.startswith("ndcg@"))
        if not ks:
            return None
        metric = f"ndcg@{10 if 10 in ks else ks[-1]}"
    if baseline is None:
        baseline = strongest_baseline({n: rows[n] for n in have}, metric)
    assert baseline is not None
    base = evaluated[baseline].per_user
    for name in have:
        if name == baseline:
            continue
        mine = evaluated[name].per_user
        if not np.array_equal(mine["users"], base["users"]):
            raise LmrecError(f"{name} and {baseline} were evaluated on different users")
        cmp = paired_comparison(mine[metric], base[metric])
        rows[name]["paired"] = {"baseline": baseline, "metric": metric, **cmp.to_dict()}
    return baseline


def _pct(x: float) -> str:
    return f"{x * 100:+.1f}%"


def _label(metric: str) -> str:
    name, _, k = metric.partition("@")
    return {"ndcg": "NDCG", "recall": "Recall", "hit": "Hit rate", "mrr": "MRR"}.get(name, name) + (
        f"@{k}" if k else ""
    )


def verdict(data: Mapping[str, Any], metric: str = "ndcg@10") -> dict[str, Any]:
    """The plain-language answer to "which model, and how sure" for a results dict.

    Returns ``{"text", "model", "baseline", "metric", "gain", "interval", "reliable"}``: ``model`` is the
    one to use (the baseline itself when nothing is reliably better), ``gain`` its relative difference to
    the baseline and ``interval`` the 95% interval of that difference (None without paired values)."""
    rows: Mapping[str, Mapping[str, Any]] = data["results"]
    paired = {n: r["paired"] for n, r in rows.items() if isinstance(r.get("paired"), Mapping)}
    if paired:
        metric = next(iter(paired.values()))["metric"]
    label = _label(metric)
    out: dict[str, Any] = {"metric": metric, "gain": None, "interval": None, "reliable": False}
    if len(rows) == 1:
        (name,) = rows
        value = _value(rows[name], metric)
        shown = f"{value:.4f}" if np.isfinite(value) else "not measured"
        text = f"Only one model was evaluated: {name} ({label} {shown}); there is nothing to compare it with."
        return {**out, "text": text, "model": name, "baseline": name}
    if not paired:
        best = max(rows, key=lambda n: _value(rows[n], metric))
        text = (
            f"{best} has the highest {label} ({_value(rows[best], metric):.4f}). These results hold no "
            "per-user values, so no interval can say how sure that is; rerun `lmrec evaluate` to get one."
        )
        return {**out, "text": text, "model": best, "baseline": None}
    baseline = next(iter(paired.values()))["baseline"]
    n_users = next(iter(paired.values())).get("n")
    users = f" over {n_users:,} test users" if n_users else ""

    def interval(p: Mapping[str, Any]) -> tuple[float, float]:
        return (float(p["ratio_ci"][0]) - 1.0, float(p["ratio_ci"][1]) - 1.0)

    better = [n for n, p in paired.items() if interval(p)[0] > 0]
    if better:
        best = max(better, key=lambda n: paired[n]["ratio"])
        gain, (lo, hi) = paired[best]["ratio"] - 1.0, interval(paired[best])
        text = (
            f"Use {best}: {_pct(gain)} {label} over {baseline}, the strongest baseline (95% interval "
            f"[{_pct(lo)}, {_pct(hi)}]{users}, paired bootstrap; p = {paired[best]['p_value']:.2g})."
        )
        others = [n for n in better if n != best]
        if others:
            text += f" Also reliably better than {baseline}: {', '.join(others)}."
        return {**out, "text": text, "model": best, "baseline": baseline, "gain": gain,
                "interval": (lo, hi), "reliable": True}  # fmt: skip
    closest = max(paired, key=lambda n: paired[n]["ratio"])
    gain, (lo, hi) = paired[closest]["ratio"] - 1.0, interval(paired[closest])
    if gain > 0:
        why = (
            f"{closest} scores {_pct(gain)} {label} but its 95% interval [{_pct(lo)}, {_pct(hi)}] "
            "includes no difference"
        )
    else:
        why = f"the closest, {closest}, scores {_pct(gain)} {label} (95% interval [{_pct(lo)}, {_pct(hi)}])"
    text = f"No model is reliably better than {baseline}{users}: {why}. Use {baseline}."
    return {**out, "text": text, "model": baseline, "baseline": baseline, "gain": gain, "interval": (lo, hi)}
