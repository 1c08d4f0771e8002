"""The review head: beats the majority class on held-out real reviews; save/load; options and errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lmrec.errors import ConfigError, DataError, LmrecError
from lmrec.feedback import ReviewModel, stars_to_label


def _split(corpus):
    rng = np.random.default_rng(1)
    idx = rng.permutation(len(corpus))
    return corpus.subset(np.sort(idx[:160])), corpus.subset(np.sort(idx[160:]))


def test_sentiment_head_beats_majority_on_heldout_mdsd(short_mdsd):
    train, test = _split(short_mdsd)
    model = ReviewModel(max_tokens=None)
    model.fit_texts(train.texts, train.label, train.rating)
    scores = model.evaluate(model.encode(test.texts), test.label, test.rating)
    assert scores["n_binary"] == 80
    assert scores["majority_accuracy"] <= 0.6
    assert scores["accuracy"] >= scores["majority_accuracy"] + 0.15, scores
    # star regression: better than always predicting the training mean
    assert scores["mae"] < scores["mae_mean_baseline"], scores


def _synthetic(n=300, d=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    w = rng.normal(size=d)
    s = x @ w
    ratings = np.clip(np.round(3 + s / s.std() * 1.2), 1, 5).astype(np.float32)
    return x, stars_to_label(ratings), ratings


def test_stars_to_label():
    assert stars_to_label(np.array([1, 2, 3, 4, 5])).tolist() == [0, 0, -1, 1, 1]


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_save_load_round_trip(tmp_path, kind):
    x, y, r = _synthetic()
    model = ReviewModel(kind=kind, epochs=40, hidden=16, lr=0.03, alignment="whiten")
    model.fit(x[:200], y[:200], r[:200], target=x[200:])
    out = model.save(tmp_path / "head")
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "head.safetensors"]
    meta = json.loads((out / "config.json").read_text())
    assert meta["model"] == "review-head" and meta["config"]["kind"] == kind
    back = ReviewModel.load(out)
    assert back.config == model.config
    np.testing.assert_array_equal(back.predict_proba(x[200:]), model.predict_proba(x[200:]))
    np.testing.assert_array_equal(back.predict_rating(x[200:]), model.predict_rating(x[200:]))
    assert ((model.predict_proba(x[200:]) >= 0.5) == (y[200:] == 1))[y[200:] >= 0].mean() > 0.8


def test_predictions_are_probabilities_and_stars():
    x, y, r = _synthetic()
    model = ReviewModel(l2=1.0).fit(x, y, r)
    p, stars = model.predict_proba(x), model.predict_rating(x)
    assert ((p >= 0) & (p <= 1)).all() and ((stars >= 1) & (stars <= 5)).all()
    assert model.info["l2_binary"] == 1.0 and model.info["n_binary"] == int((y >= 0).sum())


def test_errors(tmp_path):
    x, y, r = _synthetic(50)
    with pytest.raises(DataError, match="both classes"):
        ReviewModel().fit(x, np.ones(50, np.int8))
    with pytest.raises(LmrecError, match="needs unlabeled target"):
        ReviewModel(alignment="coral").fit(x, y, r)
    with pytest.raises(ConfigError, match="unknown option 'kernel'"):
        ReviewModel(kernel="rbf")
    with pytest.raises(LmrecError, match="not a saved review model"):
        ReviewModel.load(tmp_path)
    with pytest.raises(LmrecError, match="call fit"):
        ReviewModel().predict_proba(x)
