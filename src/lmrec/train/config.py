"""The training options: :class:`LoopConfig` (what :func:`lmrec.train.loop.train_loop` needs) and
:class:`TrainableConfig`, the base of every model config trained on that loop.

Every trainable model keeps its loop options in one nested field, ``train: LoopConfig``, so each training
option has one name (``train.epochs``, ``train.lr``, ``train.validate_every``...) and the loop's config is
never rebuilt field by field. Flat names are still accepted wherever a config is built (``--set epochs=5``,
tuning grids, ``TextSeq(lr=1e-3)``, ``config.replace(patience=3)``) and so are model folders saved before the
nesting (flat fields in ``config.json``): :meth:`TrainableConfig.nest_training_fields` moves them into
``train``, over the model's own defaults. This module imports no torch.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from lmrec.config import BaseConfig


class LoopConfig(BaseConfig):
    """Optimisation settings of :func:`~lmrec.train.loop.train_loop`.

    ``epochs``: at most this many passes; ``lr``/``weight_decay``: AdamW; ``grad_clip``: clip the gradient
    norm to this (``None`` = off). ``patience``: stop after this many validations without improvement of
    ``monitor`` (0 = never stop early). ``validate_every``: validate every N epochs (and always after the last
    one). ``restore_best``: end with the best validated weights. ``ema``: keep an exponential moving average
    of the trained weights (this decay per optimiser step; 0 = off); validation, the best state and the
    returned module then use the averaged weights.
    """

    epochs: int = Field(20, ge=1)
    lr: float = Field(1e-3, gt=0.0)
    weight_decay: float = Field(0.0, ge=0.0)
    patience: int = Field(5, ge=0)
    grad_clip: float | None = Field(5.0, gt=0.0)
    monitor: str = "ndcg@10"
    validate_every: int = Field(1, ge=1)
    restore_best: bool = True
    ema: float = Field(0.0, ge=0.0, lt=1.0)


# names a field of ``train`` had before (SASRec's configs said ``eval_every``); still read from old configs
LEGACY_TRAINING_NAMES: dict[str, str] = {"eval_every": "validate_every"}

# every name that :meth:`TrainableConfig.nest_training_fields` moves into ``train``
TRAINING_FIELD_NAMES: frozenset[str] = frozenset(LoopConfig.model_fields) | frozenset(LEGACY_TRAINING_NAMES)


class TrainableConfig(BaseConfig):
    """Base of the config of a model trained on the shared loop: its loop options in ``train``.

    A subclass sets its own defaults by redeclaring the field, e.g.
    ``train: LoopConfig = LoopConfig(epochs=100, patience=20)``. Flat training names given with the other
    options (``{"epochs": 5}``, ``eval_every``) and a partial ``train`` mapping are merged over those
    defaults.
    """

    train: LoopConfig = LoopConfig()

    @model_validator(mode="before")
    @classmethod
    def nest_training_fields(cls, data: Any) -> Any:
        """Move flat training options (and old names) into ``train``, over this model's defaults."""
        if not isinstance(data, dict):
            return data
        flat = {LEGACY_TRAINING_NAMES.get(k, k): v for k, v in data.items() if k in TRAINING_FIELD_NAMES}
        nested = data.get("train")
        if not flat and (nested is None or isinstance(nested, LoopConfig)):
            return data
        if isinstance(nested, LoopConfig):
            nested = nested.to_dict()
        elif nested is None:
            nested = {}
        elif not isinstance(nested, dict):
            return data  # pydantic reports the wrong type, naming 'train'
        default = cls.model_fields["train"].default
        base = default.to_dict() if isinstance(default, LoopConfig) else {}
        rest = {k: v for k, v in data.items() if k not in TRAINING_FIELD_NAMES and k != "train"}
        return {**rest, "train": {**base, **nested, **flat}}
