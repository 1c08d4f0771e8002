"""Recommenders. Every model follows :class:`lmrec.models.base.Recommender`.

``MODELS`` is the explicit name -> class mapping used by the CLI and by :func:`load_model`.
Model modules are imported lazily so that ``import lmrec.models`` stays light.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from lmrec.errors import LmrecError

# name -> "module:Class"; explicit, no scanning
MODELS: dict[str, str] = {
    "pop": "lmrec.models.popularity:Popularity",
    "itemknn": "lmrec.models.itemknn:ItemKNN",
    "ease": "lmrec.models.ease:EASE",
    "als": "lmrec.models.mf:ALS",
    "bpr": "lmrec.models.mf:BPR",
    "sasrec": "lmrec.models.sasrec:SASRec",
    "content": "lmrec.models.content:ContentRecommender",
    "textseq": "lmrec.models.textseq:TextSeq",
    "lightgcn": "lmrec.models.lightgcn:LightGCN",
    "bandit": "lmrec.models.bandit:LinearBandit",
    # a textseq after `lmrec compress` (a conversion of a trained model; lives with the compression code)
    "textseq-compressed": "lmrec.compress:CompressedTextSeq",
}


def model_class(name: str) -> Any:
    """The class registered under ``name`` (one-line error listing the known names)."""
    target = MODELS.get(name)
    if target is None:
        raise LmrecError(f"unknown model '{name}'; known: {', '.join(sorted(MODELS))}")
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)


def too_large(name: str, n_users: int, n_items: int) -> str | None:
    """Why model ``name`` (default settings) cannot be fitted on so many users and items on this machine
    (EASE's dense solve: its ``check_size``), or None: callers that may go on without it skip it."""
    from lmrec.errors import ConfigError

    try:
        model_class(name)().check_size(n_users, n_items)
    except ConfigError as exc:
        return str(exc)
    return None


def load_model(path: str | Path) -> Any:
    """Load any saved model directory."""
    from lmrec.models.base import read_model_meta

    meta = read_model_meta(Path(path))
    return model_class(meta["model"]).load(path)


__all__ = ["MODELS", "load_model", "model_class", "too_large"]
