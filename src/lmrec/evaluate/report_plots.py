"""The evaluation report's plots, readable at a glance: large type, one legend for a whole figure placed
outside the axes (never over the lines), values written on bars, and the paired intervals as a forest plot.

Matplotlib's Agg canvas is used directly, never pyplot: no global backend is switched and no display needed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["FONT", "new_figure", "plot_beyond_accuracy", "plot_metrics_vs_k", "plot_paired"]

FONT = 14
LABELS = {"ndcg": "NDCG", "recall": "Recall", "hit": "Hit rate", "mrr": "MRR", "map": "MAP",
          "precision": "Precision", "f1": "F1"}  # fmt: skip


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return None if math.isnan(float(v)) else float(v)


def new_figure(width: float, height: float) -> Any:
    """A matplotlib Figure on an Agg canvas with the report's font size."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _style(ax: Any) -> None:
    ax.tick_params(labelsize=FONT - 1)
    ax.grid(alpha=0.3)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def plot_metrics_vs_k(
    results: Mapping[str, Mapping[str, Any]],
    keys: Mapping[str, Sequence[int]],
    path: Path,
    names: Sequence[str] = ("ndcg", "recall", "hit"),
) -> bool:
    """One panel per metric of ``names`` against K, one line per model, one legend right of the panels."""
    names = [n for n in names if len(keys.get(n, [])) >= 2]
    if not names:
        return False
    fig = new_figure(3.3 * len(names) + 1.8, 4.0)
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    handles: dict[str, Any] = {}
    for ax, name in zip(axes, names, strict=True):
        ks = list(keys[name])
        for n, (model, m) in enumerate(results.items()):
            pts = [(k, y) for k in ks if (y := _num(m.get(f"{name}@{k}"))) is not None]
            if pts:
                (line,) = ax.plot(*zip(*pts, strict=True), marker="o", lw=2.2, ms=6, color=f"C{n % 10}")
                handles[model] = line
        ax.set_title(f"{LABELS.get(name, name)}@K", fontsize=FONT + 1)
        ax.set_xlabel("K (list length)", fontsize=FONT)
        ax.set_xticks(ks)
        _style(ax)
    fig.legend(
        list(handles.values()), list(handles), loc="outside right center", fontsize=FONT, frameon=False
    )
    fig.savefig(path, format="png")
    return True


def plot_beyond_accuracy(results: Mapping[str, Mapping[str, Any]], k: int, path: Path) -> bool:
    """Bars of the average popularity (interactions per recommended item) and the catalog coverage of each
    model's top-``k``, each bar labelled with its value and unit."""
    models = list(results)
    pop = [_num(results[m].get(f"popularity@{k}")) for m in models]
    cov = [_num(results[m].get(f"coverage@{k}")) for m in models]
    panels = [
        (vals, title, fmt)
        for vals, title, fmt in (
            (pop, f"Average popularity of the top {k}\n(training interactions per item; lower = rarer)",
             "{:.0f}"),
            (cov, f"Catalog coverage of the top {k}\n(share of items recommended to anyone)", "{:.0%}"),
        )
        if any(v is not None for v in vals)
    ]  # fmt: skip
    if not panels:
        return False
    fig = new_figure(max(5.5, 1.0 * len(models) + 2.5) * len(panels), 4.0)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (vals, title, fmt) in zip(axes, panels, strict=True):
        ys = [v if v is not None else 0.0 for v in vals]
        bars = ax.bar(range(len(models)), ys, color=[f"C{n % 10}" for n in range(len(models))])
        ax.bar_label(bars, labels=[fmt.format(v) if v is not None else "–" for v in vals], fontsize=FONT - 1)
        ax.set_xticks(range(len(models)), models, rotation=20 if len(models) > 4 else 0, ha="center")
        ax.set_title(title, fontsize=FONT)
        ax.margins(y=0.15)
        _style(ax)
        ax.grid(axis="x", visible=False)
    fig.savefig(path, format="png")
    return True


def plot_paired(results: Mapping[str, Mapping[str, Any]], path: Path) -> bool:
    """A forest plot: each model's relative difference to the baseline on the paired metric, with its 95%
    interval; the zero line is the baseline. Intervals wholly right of it are green."""
    rows = [(n, r["paired"]) for n, r in results.items() if isinstance(r.get("paired"), Mapping)]
    if not rows:
        return False
    rows.sort(key=lambda x: x[1]["ratio"])
    baseline, metric = rows[0][1]["baseline"], rows[0][1]["metric"]
    fig = new_figure(9.5, 1.2 + 0.55 * len(rows))
    ax = fig.subplots()
    for y, (_name, p) in enumerate(rows):
        lo, hi, mid = (p["ratio_ci"][0] - 1) * 100, (p["ratio_ci"][1] - 1) * 100, (p["ratio"] - 1) * 100
        color = "#1a7f37" if lo > 0 else ("#cf222e" if hi < 0 else "#57606a")
        ax.plot([lo, hi], [y, y], color=color, lw=3, solid_capstyle="round")
        ax.plot([mid], [y], "o", color=color, ms=8)
        label = f"{mid:+.1f}%  [{lo:+.1f}, {hi:+.1f}]"
        ax.annotate(label, (hi, y), xytext=(8, 0), textcoords="offset points", va="center", fontsize=FONT - 1)
    ax.axvline(0, color="black", lw=1)
    ax.set_yticks(range(len(rows)), [n for n, _ in rows], fontsize=FONT)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    name, _, kk = metric.partition("@")
    ax.set_xlabel(f"{LABELS.get(name, name)}@{kk} relative to {baseline} (%), 95% interval", fontsize=FONT)
    lows = [(p["ratio_ci"][0] - 1) * 100 for _, p in rows] + [0.0]
    highs = [(p["ratio_ci"][1] - 1) * 100 for _, p in rows] + [0.0]
    span = max(highs) - min(lows) or 1.0
    ax.set_xlim(min(lows) - 0.08 * span, max(highs) + 0.55 * span)  # room for the labels right of the bars
    _style(ax)
    fig.savefig(path, format="png")
    return True
