"""The hyper-parameters of :class:`~lmrec.models.textseq.TextSeq` (no torch here)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from lmrec.models.seqdata import NextItemLossConfig
from lmrec.models.textvec import TextVectorConfig
from lmrec.train.config import LoopConfig, TrainableConfig

Augmentation = Literal["crop", "mask", "reorder"]

# the fine-tuned encoder layers of a model trained with ``finetune_encoder`` (in its saved directory)
ENCODER_FILE = "encoder.safetensors"


class TextSeqConfig(TextVectorConfig, NextItemLossConfig, TrainableConfig):
    """Hyper-parameters of :class:`TextSeq`.

    Item side: ``encoder``/``template`` (how item text becomes a vector; ``vector_field`` takes precomputed
    vectors from an item column instead), ``whitening`` (ZCA of the catalog before the experts),
    ``n_experts`` (MoE adaptor), ``text_anchor`` (a fixed text path added to the adaptor's output, so
    training keeps the text geometry), ``id_fusion`` (gated item-ID embeddings: transductive) with
    ``id_dropout`` (items whose ID part is hidden per step, so the text path alone stays good for cold
    items), ``features`` (numeric / categorical / vector item columns added to the item representation).
    Sequence side: ``dim``, ``n_layers``, ``n_heads``, ``ffn_mult``, ``dropout``, ``max_len``.
    Objective: ``loss`` ``"full"`` softmax over the catalog or ``"sampled"`` (``n_negatives`` drawn by
    popularity^0.75, logQ-corrected; the ID rows then train with sparse gradients and lazy Adam, no weight
    decay); ``normalize`` scores cosine / ``temperature`` instead of dot products;
    ``mask_seen`` / ``future_k`` / ``future_weight`` (full loss) as in :class:`NextItemLossConfig`.
    Training: ``train`` (:class:`~lmrec.train.LoopConfig`: ``epochs`` (max; early stop on validation NDCG@10
    after ``patience``), ``lr``, ``weight_decay``, ``ema`` (validate and keep an exponential moving average of
    the weights, this decay per step)...; flat names such as ``epochs=5`` are accepted and moved there),
    ``batch_size`` (windows of ``max_len``), ``augment`` (crop / mask / reorder with ``augment_prob``),
    ``finetune_encoder`` (unfreeze the top N encoder layers, lr ``finetune_lr``; expensive).
    Auxiliary tasks (need ratings in the training interactions): ``aux_rating_weight`` (rating of the next
    interaction, MSE on ratings standardised by the training mean/std), ``aux_sentiment_weight`` (is it
    positive, i.e. rating >= ``sentiment_threshold``; binary cross-entropy). 0 = no head.
    Text prior (``text_prior``, :mod:`lmrec.models.textprior`): the user's text profile (``prior_half_life``,
    ``prior_max_history``) in the catalog's centred and partly whitened text space (``prior_whitening``) is
    mixed into the score by a gate on each item's training count (with a bias that moves rarely seen items
    as a group), learned on the validation events after training (on each user's last training event when
    there is no validation data).
    """

    # item representation
    whitening: bool = True
    n_experts: int = Field(8, ge=1)
    adaptor_dropout: float = Field(0.2, ge=0.0, lt=1.0)
    text_anchor: float = Field(
        0.0,
        ge=0.0,
        description="weight of a fixed text path in each item's representation (0 = off): the whitened "
        "text vector under a fixed orthonormal map, which training cannot move",
    )
    id_fusion: bool = False
    id_dropout: float = Field(
        0.1,
        ge=0.0,
        lt=1.0,
        description="share of items whose ID part is dropped per training step (cold-start)",
    )
    features: tuple[str, ...] = ()
    # sequence model
    dim: int = Field(64, ge=4)
    n_layers: int = Field(2, ge=1)
    n_heads: int = Field(2, ge=1)
    ffn_mult: int = Field(2, ge=1)
    dropout: float = Field(0.2, ge=0.0, lt=1.0)
    max_len: int = Field(50, ge=2)
    # objective
    loss: Literal["full", "sampled"] = "full"
    n_negatives: int = Field(1024, ge=1)
    normalize: bool = False
    temperature: float = Field(1.0, gt=0.0)
    # training
    train: LoopConfig = LoopConfig(epochs=100, lr=1e-3, patience=20, validate_every=1)
    batch_size: int = Field(64, ge=1)
    augment: tuple[Augmentation, ...] = ()
    augment_prob: float = Field(0.3, ge=0.0, le=1.0)
    finetune_encoder: int = Field(0, ge=0, description="unfreeze the top N encoder layers (end to end)")
    finetune_lr: float = Field(2e-5, gt=0.0)
    # auxiliary tasks (multi-task learning)
    aux_rating_weight: float = Field(0.0, ge=0.0, description="weight of the next interaction's rating MSE")
    aux_sentiment_weight: float = Field(
        0.0, ge=0.0, description="weight of the next interaction's positive-rating BCE"
    )
    sentiment_threshold: float = Field(4.0, description="ratings >= this count as positive")
    # text prior (lmrec.models.textprior): after training, the learned score is mixed with the cosine
    # between the
    # user's text profile and each item's text, by a gate learned on held-out events
    text_prior: bool = Field(
        True, description="mix the user's text profile into the score (gate by item count)"
    )
    prior_half_life: float = Field(
        5.0, ge=0.0, description="text profile: steps back an item's weight halves"
    )
    prior_max_history: int = Field(50, ge=1, description="text profile: newest items that count")
    prior_whitening: float = Field(
        0.25, ge=0.0, le=0.5, description="text space: 0 = centred catalog vectors, 0.5 = fully whitened"
    )

    def ranks_by_text_alone(self) -> bool:
        return not self.id_fusion

    @property
    def has_aux(self) -> bool:
        """Whether any auxiliary head is trained."""
        return self.aux_rating_weight > 0 or self.aux_sentiment_weight > 0
