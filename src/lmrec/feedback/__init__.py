"""Review text -> signals: a sentiment / star-rating head on frozen LM review vectors, domain alignment for
cross-domain transfer, aspect keywords per item, review-based interaction weights, and user states that mix
history items with search and browsing text.

Importing this package does not import torch.
"""

from lmrec.feedback._aspects import aspect_keywords
from lmrec.feedback._corpus import CORPORA, ReviewCorpus, balanced_sample, review_corpus, stars_to_label
from lmrec.feedback._domain import Whitening, alignment_gap, coral, mean_align, whiten_each
from lmrec.feedback._finetune import finetune_encoder
from lmrec.feedback._head import ReviewModel, ReviewModelConfig
from lmrec.feedback._signals import (
    apply_review_weights,
    review_filtered_training,
    signals_from_reviews,
    weighted_csr,
)
from lmrec.feedback._vectors import encode_reviews, review_encoder
from lmrec.feedback.profile import UserState, recommend_with_state, state_from_history

__all__ = [
    "CORPORA",
    "ReviewCorpus",
    "ReviewModel",
    "ReviewModelConfig",
    "UserState",
    "Whitening",
    "alignment_gap",
    "apply_review_weights",
    "aspect_keywords",
    "balanced_sample",
    "coral",
    "encode_reviews",
    "finetune_encoder",
    "mean_align",
    "recommend_with_state",
    "review_corpus",
    "review_encoder",
    "review_filtered_training",
    "signals_from_reviews",
    "stars_to_label",
    "state_from_history",
    "weighted_csr",
    "whiten_each",
]
