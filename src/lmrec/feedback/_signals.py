"""Review text -> interaction signals: negative reviews become down-weighted (or dropped) interactions.

A 1-star review is an interaction, but not a "like": implicit-feedback models trained on it learn to
recommend what the user disliked. :func:`signals_from_reviews` turns each interaction's review into a weight
(1 = keep as a positive signal, 0 = no signal, negative = a dislike); :func:`apply_review_weights` turns the
weights into a training :class:`Interactions` that every model accepts (rows with weight <= ``drop_below``
removed), so no model needs a weight-aware path. Models that can use real-valued weights (a weighted EASE Gram
matrix, ALS confidences) can take the weights array itself.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from lmrec.data import Interactions
from lmrec.errors import DataError
from lmrec.feedback._head import ReviewModel


def signals_from_reviews(
    interactions: Interactions,
    model: ReviewModel,
    *,
    threshold: float = 0.5,
    negative_weight: float = 0.0,
    mode: Literal["binary", "soft"] = "binary",
    vectors: np.ndarray | None = None,
) -> np.ndarray:
    """A float32 weight per interaction from its review text.

    ``mode="binary"``: 1 when p(positive) >= ``threshold`` (or when there is no review text), else
    ``negative_weight`` (0 = no signal; -1 = an explicit dislike). ``mode="soft"``: the interpolation
    ``negative_weight + (1 - negative_weight) * p(positive)``. ``vectors``: precomputed review vectors of the
    rows (else the texts are encoded with the model's encoder, through the cache).
    """
    if interactions.text is None:
        raise DataError("these interactions carry no review text", field="text")
    texts = ["" if t is None else str(t).strip() for t in interactions.text]
    has = np.array([bool(t) for t in texts])
    weights = np.ones(len(texts), dtype=np.float32)
    if not has.any():
        return weights
    if vectors is None:
        rows = np.flatnonzero(has)
        prob = model.predict_proba(model.encode([texts[i] for i in rows]))
    else:
        vectors = np.asarray(vectors, np.float32)
        if len(vectors) != len(texts):
            raise DataError(f"{len(vectors)} review vectors for {len(texts)} interactions")
        rows = np.flatnonzero(has)
        prob = model.predict_proba(vectors[rows])
    if mode == "binary":
        weights[rows] = np.where(prob >= threshold, 1.0, negative_weight)
    elif mode == "soft":
        weights[rows] = negative_weight + (1.0 - negative_weight) * prob
    else:
        raise DataError(f"mode must be 'binary' or 'soft', not {mode!r}")
    return weights


def apply_review_weights(
    interactions: Interactions, weights: np.ndarray, *, drop_below: float = 0.0
) -> Interactions:
    """The interactions whose weight is > ``drop_below`` (the review-filtered training data)."""
    weights = np.asarray(weights, np.float32)
    if len(weights) != len(interactions):
        raise DataError(f"{len(weights)} weights for {len(interactions)} interactions")
    return interactions.subset(weights > drop_below)


def review_filtered_training(
    train: Interactions, model: ReviewModel, *, threshold: float = 0.5, vectors: np.ndarray | None = None
) -> Interactions:
    """The ``review_weights`` training option in one call: ``train`` without its negative-review rows."""
    w = signals_from_reviews(train, model, threshold=threshold, vectors=vectors)
    return apply_review_weights(train, w)


def weighted_csr(interactions: Interactions, weights: np.ndarray):  # noqa: ANN201
    """A users x items CSR matrix whose entries are the weights (the maximum weight per user-item pair wins
    over duplicates; an all-zero pair stays out of the matrix)."""
    import scipy.sparse as sp

    weights = np.asarray(weights, np.float32)
    if len(weights) != len(interactions):
        raise DataError(f"{len(weights)} weights for {len(interactions)} interactions")
    order = np.lexsort((-weights, interactions.item, interactions.user))
    u, i, w = interactions.user[order], interactions.item[order], weights[order]
    first = np.r_[True, (u[1:] != u[:-1]) | (i[1:] != i[:-1])]
    keep = first & (w != 0)
    return sp.csr_matrix((w[keep], (u[keep], i[keep])), shape=(interactions.n_users, interactions.n_items))
