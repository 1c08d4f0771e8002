"""Review signals (weights, filtering, weighted matrix) and aspect keywords."""

from __future__ import annotations

import numpy as np
import pytest

from lmrec.data import Interactions
from lmrec.errors import DataError
from lmrec.feedback import (
    ReviewModel,
    apply_review_weights,
    aspect_keywords,
    signals_from_reviews,
    weighted_csr,
)


@pytest.fixture()
def toy():
    # review vectors: the first coordinate is the sentiment
    vecs = np.array([[1.0, 0], [-1.0, 0.1], [0.9, 0.2], [-0.8, -0.1], [0.0, 1.0]], np.float32)
    inter = Interactions(
        user=np.array([0, 0, 1, 1, 1]),
        item=np.array([0, 1, 0, 2, 1]),
        timestamp=np.arange(5),
        n_users=2,
        n_items=3,
        text=np.array(["great", "awful", "love it", "broke", ""], dtype=object),
    )
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2)).astype(np.float32)
    model = ReviewModel(l2=0.1).fit(x, (x[:, 0] > 0).astype(np.int8), np.where(x[:, 0] > 0, 5.0, 1.0))
    return inter, vecs, model


def test_negative_reviews_become_zero_weights_and_are_dropped(toy):
    inter, vecs, model = toy
    w = signals_from_reviews(inter, model, vectors=vecs)
    assert w.tolist() == [1.0, 0.0, 1.0, 0.0, 1.0]  # the empty review keeps its interaction
    dislike = signals_from_reviews(inter, model, vectors=vecs, negative_weight=-1.0)
    assert dislike.tolist() == [1.0, -1.0, 1.0, -1.0, 1.0]
    soft = signals_from_reviews(inter, model, vectors=vecs, mode="soft")
    p = model.predict_proba(vecs)
    np.testing.assert_allclose(soft[:4], p[:4], rtol=1e-6)
    kept = apply_review_weights(inter, w)
    assert kept.item.tolist() == [0, 0, 1] and kept.user.tolist() == [0, 1, 1]
    m = weighted_csr(inter, np.array([1.0, 0.2, 1.0, 0.0, 1.0], np.float32)).toarray()
    np.testing.assert_allclose(m, [[1.0, 0.2, 0.0], [1.0, 1.0, 0.0]])


def test_signal_errors(toy):
    inter, vecs, model = toy
    with pytest.raises(DataError, match="5 interactions"):
        signals_from_reviews(inter, model, vectors=vecs[:3])
    bare = Interactions(user=[0], item=[0], timestamp=[0], n_users=1, n_items=1)
    with pytest.raises(DataError, match="no review text"):
        signals_from_reviews(bare, model)


def test_aspect_keywords_english_and_chinese():
    items = [0, 0, 0, 1, 1, 1]
    texts = [
        "The battery life is short but the screen is bright.",
        "Battery life could be better.",
        "Bright screen, weak battery life.",
        "The strap broke. Nice strap colour though.",
        "Comfortable strap, the clasp is fine.",
        "Cheap strap.",
    ]
    asp = aspect_keywords(items, texts, top=2)
    # "battery life" is in every review of item 0 only: the phrase wins over its words (same score)
    assert asp[0][0][0] == "battery life"
    assert "battery" not in [t for t, _ in asp[0]]
    assert asp[1][0][0] == "strap"
    reviews = ["画面很美，配乐动人", "画面精致", "剧情拖沓", "剧情无聊，演技尴尬"]
    zh = aspect_keywords([5, 5, 7, 7], reviews, top=3)
    assert [t for t, _ in zh[5]] == ["画面"] and [t for t, _ in zh[7]] == ["剧情"]
