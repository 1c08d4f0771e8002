"""Checks of a saved model folder at load time: every broken file becomes one line naming it.

A model folder can be damaged in many ways (a copy cut short, a hand-edited JSON file, weights from another
configuration, a training run that diverged to NaN). Loading one must not end in a traceback, nor in a
service that starts and then answers 500, nor in ``-inf`` scores: :meth:`BaseRecommender.load` reads the
files through :func:`read_tensors`, rejects non-finite weights (:func:`check_finite`) and scores one query
(:func:`check_scores`) so that tensors that do not fit the configuration are found before anyone relies on
them. :func:`check_model_dir` adds the catalog, as ``lmrec recommend`` and ``lmrec serve`` need it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lmrec.errors import LmrecError
from lmrec.saved import first_line, read_arrays

WEIGHTS_FILE = "model.safetensors"


def read_tensors(file: Path) -> dict[str, np.ndarray]:
    """The tensors of a safetensors file; a missing, truncated or foreign file is a one-line LmrecError."""
    return read_arrays(
        file, noun="the weights", hint="the model's weights; save or copy the model folder again"
    )


def check_finite(state: dict[str, np.ndarray], file: Path) -> None:
    """Every floating-point tensor must be finite (a diverged run saves NaN weights)."""
    for name, value in state.items():
        arr = np.asarray(value)
        if arr.dtype.kind == "f" and arr.size and not np.isfinite(arr).all():
            bad = int((~np.isfinite(arr)).sum())
            raise LmrecError(f"{file}: tensor '{name}' holds {bad:,} NaN or infinite values")


def check_histories(lengths: np.ndarray, flat: np.ndarray, n_users: int, n_items: int, file: Path) -> None:
    """The training histories stored with the weights must fit the model's user and item counts."""
    if lengths.ndim != 1 or flat.ndim != 1 or int(lengths.sum()) != len(flat) or (lengths < 0).any():
        raise LmrecError(f"{file}: the stored training histories are inconsistent")
    if len(lengths) not in (0, n_users):
        raise LmrecError(f"{file}: histories of {len(lengths):,} users, but config.json says {n_users:,}")
    if len(flat) and (flat.min() < 0 or flat.max() >= n_items):
        raise LmrecError(f"{file}: a stored history refers to an item outside [0, {n_items:,})")


def check_scores(model: Any, file: Path) -> None:
    """Score one query: tensors that do not fit the configuration fail here, at load time, not at serving
    time. A user index when the model has users, else an anonymous one-item history."""
    if int(getattr(model, "n_items", 0)) <= 0:
        return
    query: Any = np.array([0]) if int(getattr(model, "n_users", 0)) > 0 else [np.array([0])]
    try:
        scores = np.asarray(model.score(query))
    except LmrecError as exc:
        raise LmrecError(f"{file}: the weights do not fit the model's configuration ({exc})") from None
    except Exception as exc:  # a shape mismatch shows as whatever numpy or torch raises
        raise LmrecError(
            f"{file}: the weights do not fit the model's configuration ({type(exc).__name__}: "
            f"{first_line(exc)})"
        ) from None
    if scores.shape != (1, model.n_items):
        raise LmrecError(
            f"{file}: the weights score {scores.shape[-1] if scores.ndim else 0:,} items, but config.json "
            f"says {model.n_items:,}"
        )
    if np.isnan(scores).any():
        raise LmrecError(f"{file}: the model's scores are NaN")


def check_model_dir(path: str | Path) -> tuple[Any, Any]:
    """Load a model folder for ``lmrec recommend`` / ``lmrec serve``: (model, catalog), every file checked.

    A folder without ``catalog/`` is refused: without its external ids a user id would be read as an internal
    index and items would be named by index (``Model.save(dir, dataset=data)`` writes the catalog)."""
    from lmrec.models import load_model
    from lmrec.models.catalog import read_catalog

    p = Path(path)
    if not p.is_dir():
        raise LmrecError(f"{p}: no such model folder")
    model = load_model(p)
    catalog = read_catalog(p, int(model.n_items), int(getattr(model, "n_users", 0)))
    return model, catalog


__all__ = ["check_finite", "check_histories", "check_model_dir", "check_scores", "read_tensors"]
