"""Hyper-parameter tuning by grid search on the validation split (above `models` and `evaluate`: it fits and
evaluates models, so it lives at the top of the package, not in `train`).

Each candidate configuration is fitted on the training part of a :class:`~lmrec.data.split.Split` and
scored by full-ranking NDCG@10 (or another metric) on the validation part (``evaluate_model(stage="valid")``).
The chosen model is the one fitted on train with the best validation score: nothing is refitted, so the
test stage (train + validation histories as input, both masked) never influenced the choice.

``DEFAULT_GRIDS`` are small on purpose: tuning every baseline on ML-100K takes a few minutes on 2 cores.
SASRec has no default grid: its training already early-stops on validation NDCG@10.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lmrec.errors import ConfigError

DEFAULT_GRIDS: dict[str, dict[str, list[Any]]] = {
    "pop": {},
    "itemknn": {"k": [20, 50, 100, 200], "shrink": [0.0, 10.0, 50.0]},
    "ease": {"l2": [50.0, 100.0, 250.0, 500.0, 1000.0]},
    "als": {"factors": [64], "reg": [1.0, 10.0], "alpha": [1.0, 5.0, 20.0], "iterations": [10]},
    "bpr": {"factors": [64], "lr": [0.05, 0.1, 0.2], "reg": [3e-3, 1e-2], "epochs": [100]},
    "sasrec": {},
}


@dataclass
class Trial:
    """One fitted configuration: its parameters, validation score and fit time."""

    params: dict[str, Any]
    score: float
    fit_seconds: float
    fit_info: dict[str, Any] = field(default_factory=dict)


@dataclass
class TuneResult:
    """The chosen model (fitted on train), its full config, and every trial in grid order."""

    name: str
    model: Any
    params: dict[str, Any]
    score: float
    metric: str
    fit_seconds: float
    trials: list[Trial]

    @property
    def tune_seconds(self) -> float:
        return sum(t.fit_seconds for t in self.trials)


def grid_points(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, in a stable order (one empty point for an empty grid)."""
    keys = list(grid)
    for k in keys:
        if isinstance(grid[k], (str, bytes)) or not isinstance(grid[k], Sequence) or not len(grid[k]):
            raise ConfigError(f"grid option '{k}' must be a non-empty list of values")
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*(grid[k] for k in keys))]


def tune_model(
    name: str,
    split: Any,
    grid: Mapping[str, Sequence[Any]] | None = None,
    *,
    base_params: Mapping[str, Any] | None = None,
    metric: str = "ndcg@10",
    items: Any = None,
    options: Any = None,
    progress: bool = False,
) -> TuneResult:
    """Grid-search model ``name`` (a key of :data:`lmrec.models.MODELS`) on ``split``'s validation part.

    ``grid`` defaults to ``DEFAULT_GRIDS[name]`` (or no grid); ``base_params`` are fixed options applied
    under every grid point. Returns the best model fitted on train and its parameters (ties: first in grid).
    """
    from lmrec.models import model_class
    from lmrec.models.base import FitOptions
    from lmrec.progress import task

    cls = model_class(name)
    grid = DEFAULT_GRIDS.get(name, {}) if grid is None else grid
    points = grid_points(grid)
    name_part, _, k_part = metric.partition("@")
    if not name_part or not k_part.isdigit():
        raise ConfigError(f"metric must look like 'ndcg@10', not {metric!r}")
    options = options or FitOptions()
    trials: list[Trial] = []
    with task(f"tuning {name}", len(points), requested=progress) as bar:
        best = _run_grid(name, cls, points, split, base_params, metric, items, options, trials, bar)
    assert best is not None  # grid_points always yields at least one point
    return TuneResult(name, best[1], best[2], best[0], metric, best[3], trials)


def _run_grid(
    name: str,
    cls: Any,
    points: list[dict[str, Any]],
    split: Any,
    base_params: Mapping[str, Any] | None,
    metric: str,
    items: Any,
    options: Any,
    trials: list[Trial],
    bar: Any,
) -> tuple[float, Any, dict[str, Any], float] | None:
    """Fit and validate every grid point; the bar says which trial of how many and the best so far."""
    from lmrec.evaluate import evaluate_model

    k_part = metric.partition("@")[2]
    best: tuple[float, Any, dict[str, Any], float] | None = None
    for i, point in enumerate(points, start=1):
        bar.update(description=f"tuning {name}: trial {i} of {len(points)}")
        params = {**dict(base_params or {}), **point}
        model = cls(cls.Config.from_dict(params, source=f"grid of {name}"))
        t0 = time.perf_counter()
        model.fit(split.train, split.valid, items=items, options=options)
        fit_s = time.perf_counter() - t0
        res = evaluate_model(model, split, ks=(int(k_part),), stage="valid", checks=False)
        if metric not in res.metrics:
            raise ConfigError(f"unknown metric {metric!r}; evaluation gives {', '.join(sorted(res.metrics))}")
        score = float(res.metrics[metric])
        trials.append(Trial(params=point, score=score, fit_seconds=fit_s, fit_info=_small(model.fit_info)))
        if best is None or score > best[0]:
            best = (score, model, model.config.to_dict(), fit_s)
        bar.advance(1)
        bar.update(info=f"best {metric} {best[0]:.4f}")
    return best


def _small(info: dict[str, Any]) -> dict[str, Any]:
    """fit_info without long per-epoch lists (kept in the trial record)."""
    return {k: v for k, v in info.items() if not isinstance(v, list)}


__all__ = ["DEFAULT_GRIDS", "Trial", "TuneResult", "grid_points", "tune_model"]
