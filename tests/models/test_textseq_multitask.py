"""Multi-task textseq: rating and positive-rating heads next to next-item prediction (real ML-100K subset)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lmrec.data import Interactions
from lmrec.errors import ConfigError
from lmrec.models.base import FitOptions
from lmrec.models.textseq import TextSeq
from lmrec.models.textseq.data import rating_windows

TINY = dict(dim=16, n_layers=1, n_heads=2, n_experts=2, max_len=10, batch_size=64, vector_field="vec")


def test_rating_windows_align_with_the_item_targets_by_hand():
    # file order is not time order: (user, item, time, rating)
    rows = [(1, 0, 20, 2), (0, 2, 3, 3), (0, 0, 1, 5), (1, 2, 10, 1), (0, 3, 4, 2), (0, 1, 2, 4)]
    u, i, t, r = (np.array(c) for c in zip(*rows, strict=True))
    inter = Interactions(user=u, item=i, timestamp=t, n_users=2, n_items=4, rating=r)
    hist = inter.sequences()  # user 0: 0 1 2 3 (ratings 5 4 3 2); user 1: 2 0 (ratings 1 2)
    out, (mean, std) = rating_windows(inter, hist, max_len=2)
    # windows of training_windows(max_len=2): user 0 -> inputs [0 1] targets [1 2], inputs [1 2] target
    # only at position 3 (earlier targets already taken); user 1 -> inputs [2] target [0]
    expected = np.array([[4, 3], [np.nan, 2], [2, np.nan]], dtype=np.float32)
    np.testing.assert_array_equal(out, expected)
    assert mean == pytest.approx(17 / 6)
    assert std == pytest.approx(np.std([5, 4, 3, 2, 1, 2]))


def test_heads_train_predict_and_survive_save_load(ml100k_vec_small, tmp_path):
    data, split = ml100k_vec_small
    model = TextSeq(**TINY, epochs=3, lr=3e-3, aux_rating_weight=1.0, aux_sentiment_weight=1.0)
    model.fit(split.train, split.valid, items=data.items, options=FitOptions(seed=0, threads=1))
    hist = model.fit_info["aux"]["train_history"]
    assert len(hist) == 3
    # the auxiliary losses go down as the shared model and the heads train
    assert hist[-1]["rating_mse"] < hist[0]["rating_mse"]
    assert hist[-1]["sentiment_bce"] < hist[0]["sentiment_bce"]
    assert model.fit_info["aux"]["rating_mean"] == pytest.approx(float(split.train.rating.mean()), rel=1e-5)

    users = split.test.user.astype(np.int64)
    pred = model.predict_feedback(users, split.test.item)
    assert set(pred) == {"rating", "positive"}
    assert pred["rating"].shape == pred["positive"].shape == (len(users),)
    assert np.isfinite(pred["rating"]).all() and 0.0 < pred["rating"].mean() < 6.0
    assert ((pred["positive"] > 0) & (pred["positive"] < 1)).all()
    # the heads read the next item: different items give different predictions for the same user
    two = model.predict_feedback(np.array([users[0], users[0]]), np.array([0, 1]))
    assert two["rating"][0] != two["rating"][1]

    model.save(tmp_path / "m")
    assert "## Auxiliary tasks" in (tmp_path / "m" / "README.md").read_text()
    back = TextSeq.load(tmp_path / "m")
    again = back.predict_feedback(users, split.test.item)
    np.testing.assert_allclose(again["rating"], pred["rating"], rtol=1e-5)
    np.testing.assert_allclose(again["positive"], pred["positive"], rtol=1e-5)
    np.testing.assert_allclose(back.score(users[:5]), model.score(users[:5]), rtol=1e-5)


def test_rating_head_alone_and_no_head_by_default(ml100k_vec_small):
    data, split = ml100k_vec_small
    opts = FitOptions(seed=0, threads=1)
    # also through the sampled-softmax loss
    rating_only = TextSeq(**TINY, epochs=1, aux_rating_weight=0.5, loss="sampled", n_negatives=50)
    rating_only.fit(split.train, items=data.items, options=opts)
    assert set(rating_only.predict_feedback([0], [0])) == {"rating"}
    assert rating_only.fit_info["aux"]["train_history"][0]["rating_mse"] > 0
    plain = TextSeq(**TINY, epochs=1).fit(split.train, items=data.items, options=opts)
    keys = set(plain.module.state_dict())
    assert not any(k.startswith(("rating_head", "sentiment_head", "rating_stats")) for k in keys)
    assert "aux" not in plain.fit_info
    with pytest.raises(ConfigError, match="no auxiliary heads"):
        plain.predict_feedback([0], [0])


def test_aux_heads_need_ratings_and_no_augmentation(ml100k_vec_small):
    data, split = ml100k_vec_small
    no_ratings = dataclasses.replace(split.train, rating=None)
    with pytest.raises(ConfigError, match="need ratings"):
        TextSeq(**TINY, epochs=1, aux_rating_weight=0.1).fit(no_ratings, items=data.items)
    with pytest.raises(ConfigError, match="augment"):
        TextSeq(**TINY, aux_sentiment_weight=0.1, augment=("crop",))
