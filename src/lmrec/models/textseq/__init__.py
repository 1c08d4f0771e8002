"""``textseq``: the transferable text-based sequential recommender (UniSRec-style, trained from scratch).

Item text -> frozen LM vector (encoded once per catalog) -> per-domain adaptor (parametric whitening
initialised from the catalog's mean/covariance, then a mixture-of-experts projection into the model width)
[+ gated item-ID embedding] [+ item feature columns] -> causal transformer over the user's item sequence
(SASRec-style, learned positions, all prefixes trained at once) -> dot product with every item
representation, full-softmax cross-entropy over the catalog (or sampled softmax with logQ correction).

Multi-task learning (``aux_rating_weight`` / ``aux_sentiment_weight``, for data with ratings): small per-task
heads read the sequence state and the next item's representation and predict the rating of that next
interaction (MSE on standardised ratings) and whether it is positive (rating >= ``sentiment_threshold``,
binary cross-entropy); their losses are added to the next-item loss with those weights, so the adaptor and
the transformer are shared by all tasks. :meth:`TextSeq.predict_feedback` reads the heads.

Without ``id_fusion`` the model is inductive: any item whose text vector exists can be scored, including items
added after training (:meth:`TextSeq.add_items`) or any vector matrix (:meth:`TextSeq.score_vectors`).

Modules: :mod:`.config` (:class:`TextSeqConfig`), :mod:`.data` (numpy data preparation: last events,
rating windows, item features, vector checks), :mod:`.network` (the torch :class:`Adaptor` and
:class:`TextSeqModule`), :mod:`.finetune` (end-to-end encoder fine-tuning), :mod:`.training` (how a model
fits) and :mod:`.model` (:class:`TextSeq`). Importing this package does not import torch: the network
classes are loaded on first access (``from lmrec.models.textseq import TextSeqModule``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lmrec.models.textseq.config import ENCODER_FILE, Augmentation, TextSeqConfig
from lmrec.models.textseq.data import check_vectors, last_event_per_user, no_features
from lmrec.models.textseq.model import TextSeq

if TYPE_CHECKING:
    from lmrec.models.textseq.network import Adaptor, TextSeqModule

__all__ = [
    "Adaptor",
    "Augmentation",
    "ENCODER_FILE",
    "TextSeq",
    "TextSeqConfig",
    "TextSeqModule",
    "check_vectors",
    "last_event_per_user",
    "no_features",
]

_NETWORK = ("Adaptor", "TextSeqModule")


def __getattr__(name: str) -> Any:
    # the torch classes, imported on first use so that importing the package stays light
    if name in _NETWORK:
        from lmrec.models.textseq import network

        return getattr(network, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
