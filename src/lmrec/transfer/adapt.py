"""Adapting a pretrained ``textseq`` (:mod:`lmrec.transfer.pretrain`) to a target domain.

Modes:

- ``zero-shot``: new whitening from the target catalog's item vectors alone; no target interaction is used
  (the result is the same whatever the target's training data; histories are only kept to look users up).
- ``adaptor``: the transformer is frozen; only the MoE adaptor (experts, gate, whitening bias) trains.
- ``full``: everything is fine-tuned from the pretrained weights.
- ``full+id``: ``full`` plus gated item-ID embeddings (transductive).

``align`` says how the target's item vectors meet the pretrained adaptor: ``whiten`` (default: the target's
own ZCA whitening, the per-domain parametric whitening of UniSRec), ``coral`` (the target vectors
re-coloured to the sources' pooled mean/covariance, then whitened with the sources' statistics) or ``none``
(raw target vectors through the sources' pooled whitening: no adaptation to the shift).

The adapted model is a plain ``textseq``: it saves and loads with :class:`lmrec.models.textseq.TextSeq`.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np

from lmrec.data import Dataset
from lmrec.data.split import Split
from lmrec.errors import ConfigError, LmrecError
from lmrec.models.base import FitOptions
from lmrec.models.textseq import TextSeq, TextSeqConfig
from lmrec.train.config import TRAINING_FIELD_NAMES
from lmrec.transfer.domain import VectorStats, coral, zca
from lmrec.transfer.pretrain import Pretrained

Mode = Literal["zero-shot", "adaptor", "full", "full+id"]
Align = Literal["whiten", "coral", "none"]
MODES: tuple[str, ...] = ("zero-shot", "adaptor", "full", "full+id")
ALIGNS: tuple[str, ...] = ("whiten", "coral", "none")
# what an adaptation may change in the pretrained config (the architecture must stay the same): the loop
# options (``train`` or its flat names) and the model's own training options
TRAINING_FIELDS = TRAINING_FIELD_NAMES | frozenset(
    {
        "train",
        "batch_size",
        "dropout",
        "adaptor_dropout",
        "augment",
        "augment_prob",
        "id_dropout",
        "cache_dir",
        "loss",
        "n_negatives",
        "mask_seen",
        "future_k",
        "future_weight",
        "aux_rating_weight",
        "aux_sentiment_weight",
        "sentiment_threshold",
    }
)


class AdaptedTextSeq(TextSeq):
    """A ``textseq`` whose module starts from pretrained weights (saved and loaded as ``textseq``)."""

    name: ClassVar[str] = "textseq"

    def __init__(
        self,
        config: TextSeqConfig,
        pretrained: Pretrained,
        *,
        freeze_transformer: bool = False,
        align: str = "whiten",
    ) -> None:
        super().__init__(config)
        self._pretrained = pretrained
        self._freeze = freeze_transformer
        self._align = align

    def _prepare_module(self, module: Any) -> None:
        import torch

        state = {k: torch.from_numpy(np.array(v)) for k, v in self._pretrained.weights.items()}
        missing, unexpected = module.load_state_dict(state, strict=False)
        allowed = {"text", "log_count", "adaptor.mean", "adaptor.zca", "id_emb"}
        # the target's own parts: ID embeddings and auxiliary task heads start fresh
        fresh = ("id_gate", "rating_head.", "sentiment_head.", "rating_stats")
        bad = [k for k in missing if k not in allowed and not k.startswith(fresh)]
        if bad or unexpected:
            raise LmrecError(
                f"adapt: pretrained weights do not fit this model (missing {bad}, extra {unexpected})"
            )
        if self._align != "whiten":
            src = self._pretrained.source_stats()
            with torch.no_grad():
                if self._align == "coral":
                    module.text = torch.from_numpy(coral(module.text.cpu().numpy(), src)).to(
                        module.text.device
                    )
                module.adaptor.mean.copy_(torch.from_numpy(src.mean.astype(np.float32)))
                module.adaptor.zca.copy_(torch.from_numpy(zca(src).astype(np.float32)))
            module.forget_whitened()
        if self._freeze:
            for name, p in module.named_parameters():
                p.requires_grad_(name.startswith("adaptor."))
        self.fit_info["transfer"] = {
            "pretrained_domains": [d.name for d in self._pretrained.domains],
            "align": self._align,
            "frozen_transformer": self._freeze,
            "trainable_parameters": trainable_parameters(module),
            "total_parameters": int(sum(p.numel() for p in module.parameters())),
        }


def trainable_parameters(module: Any) -> int:
    """Number of parameters of ``module`` that an optimiser would update."""
    return int(sum(p.numel() for p in module.parameters() if p.requires_grad))


def adapt_config(pretrained: Pretrained, mode: str, overrides: dict[str, Any] | None = None) -> TextSeqConfig:
    """The target model's config: the pretrained architecture, ``overrides`` of training fields only."""
    if mode not in MODES:
        raise ConfigError(f"option 'mode': must be one of {', '.join(MODES)}, not {mode!r}")
    overrides = dict(overrides or {})
    bad = sorted(set(overrides) - TRAINING_FIELDS)
    if bad:
        raise ConfigError(f"adapt: cannot change architecture fields {bad} of a pretrained model")
    return pretrained.config.replace(**overrides, id_fusion=(mode == "full+id"))


def adapt(
    pretrained: Pretrained,
    dataset: Dataset,
    split: Split | None = None,
    *,
    mode: str = "adaptor",
    align: str = "whiten",
    overrides: dict[str, Any] | None = None,
    options: FitOptions | None = None,
) -> TextSeq:
    """Adapt ``pretrained`` to ``dataset`` (see the module docstring). ``split`` gives the target's training
    and validation data (early stopping); ``zero-shot`` needs none and uses none."""
    if align not in ALIGNS:
        raise ConfigError(f"option 'align': must be one of {', '.join(ALIGNS)}, not {align!r}")
    cfg = adapt_config(pretrained, mode, overrides)
    options = options or FitOptions()
    model = AdaptedTextSeq(cfg, pretrained, freeze_transformer=(mode == "adaptor"), align=align)
    if mode == "zero-shot":
        _zero_shot(model, dataset, split)
    else:
        if split is None:
            raise ConfigError(f"adapt: mode {mode!r} needs the target's training data (a split)")
        model.fit(split.train, split.valid, items=dataset.items, options=options)
    model.fit_info.setdefault("transfer", {})["mode"] = mode
    model.fit_info["domain"] = dataset.domain
    return model


def _zero_shot(model: AdaptedTextSeq, dataset: Dataset, split: Split | None) -> None:
    # the target's training histories (if any) only let users be looked up by index
    histories = split.train.sequences() if split is not None else None
    model.build_untrained(
        dataset.items, n_users=dataset.n_users, n_items=dataset.n_items, histories=histories
    )
    model.fit_info["transfer"]["trainable_parameters"] = 0  # nothing is trained in zero-shot


def target_distances(pretrained: Pretrained, vectors: np.ndarray) -> dict[str, float]:
    """Fréchet distance of the target's item vectors to each pretraining source."""
    from lmrec.transfer.domain import frechet_distance

    t = VectorStats.of(vectors)
    return {d.name: frechet_distance(d.stats, t) for d in pretrained.domains}
