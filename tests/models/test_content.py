"""The zero-shot content model: profiles, text queries, similar items, save/load offline."""

from __future__ import annotations

import numpy as np
import pytest

from lmrec.data.split import leave_one_out_split
from lmrec.errors import ConfigError
from lmrec.models.base import FitOptions
from lmrec.models.content import ContentRecommender
from lmrec.testing import RecommenderContract
from tests.models._topics import NEW_SPACE, topic_dataset


@pytest.fixture()
def fitted(text_cache):
    data = topic_dataset()
    split = leave_one_out_split(data)
    model = ContentRecommender(cache_dir=text_cache).fit(split.train, split.valid, items=data.items)
    return model, data


class TestContentContract(RecommenderContract):
    @pytest.fixture(autouse=True)
    def _cache(self, text_cache):
        self.cache = text_cache

    def make_model(self):
        return ContentRecommender(cache_dir=self.cache)


class TestContentWithPopularityContract(TestContentContract):
    """With a popularity bonus the scores stay one inner product (the bonus is one more dimension)."""

    def make_model(self):
        return ContentRecommender(cache_dir=self.cache, popularity_weight=0.3)


def test_profile_follows_the_topic_of_the_history(fitted):
    model, _ = fitted
    idx, _ = model.recommend([[0, 1, 2], [8, 9, 10]], k=4)
    assert (idx[0] < 8).all() and (idx[1] >= 8).all()


def test_recency_weighting_favours_the_newest_item(fitted):
    model, _ = fitted
    model_flat = ContentRecommender(model.config.replace(half_life=0.0))
    model_flat.vectors, model_flat.n_items = model.vectors, model.n_items
    hist = np.array([8, 9, 10, 0])  # cooking, then one space item last
    recent = model.profile(hist) @ model.vectors[0]
    flat = model_flat.profile(hist) @ model.vectors[0]
    assert recent > flat
    # weights: newest 1, then 2^(-1/h) ...: check against a hand computation
    w = 0.5 ** (np.arange(4)[::-1] / model.config.half_life)
    manual = (w[:, None] * model.vectors[hist]).sum(0)
    np.testing.assert_allclose(model.profile(hist), manual / np.linalg.norm(manual), rtol=1e-5)


def test_text_query_for_anonymous_user(fitted):
    model, _ = fitted
    idx, scores = model.recommend_for_text("I want to learn to cook dinner recipes", k=3)
    assert (idx >= 8).all() and (np.diff(scores) <= 0).all()
    idx, _ = model.recommend_for_text("astronauts and rockets", k=3)
    assert (idx < 8).all()


def test_text_mixed_with_history_and_history_excluded(fitted):
    model, _ = fitted
    idx, _ = model.recommend_for_text("astronauts in space", k=5, history=[0, 1], text_weight=0.9)
    assert 0 not in idx and 1 not in idx and (idx < 8).all()
    only_hist = model.score([[8, 9]])[0]
    mixed = model.score_text("rockets", history=[8, 9], text_weight=0.0)
    np.testing.assert_allclose(mixed, only_hist, rtol=1e-5, atol=1e-6)


def test_similar_items_excludes_itself(fitted):
    model, _ = fitted
    idx, _ = model.similar_items(2, k=3)
    assert 2 not in idx and (idx < 8).all()


def test_new_item_is_recommendable(fitted):
    model, _ = fitted
    new = model.add_items(model.encode_text([NEW_SPACE]))
    assert new.tolist() == [16]
    idx, _ = model.recommend([[0, 1, 4, 6]], k=3)
    assert 16 in idx[0]


def test_saved_model_works_offline(fitted, tmp_path, monkeypatch):
    model, _ = fitted
    model.save(tmp_path / "m")
    assert (tmp_path / "m" / "item_vectors.json").is_file() and (tmp_path / "m" / "README.md").is_file()
    import lmrec.text

    def no_encoder(*a, **k):
        raise AssertionError("the encoder must not be needed")

    monkeypatch.setattr(lmrec.text, "get_encoder", no_encoder)
    monkeypatch.setattr(lmrec.text, "encode_texts", no_encoder)
    loaded = ContentRecommender.load(tmp_path / "m")
    np.testing.assert_array_equal(loaded.score(np.arange(5)), model.score(np.arange(5)))
    assert loaded.vector_ref == model.vector_ref and loaded.vector_ref.model_id.startswith("all-MiniLM")
    np.testing.assert_array_equal(loaded.similar_items(3, 4)[0], model.similar_items(3, 4)[0])


def test_bad_config_is_one_line():
    with pytest.raises(ConfigError) as exc:
        ContentRecommender(half_life="soon")
    assert "half_life" in str(exc.value) and "\n" not in str(exc.value)


def test_fit_without_items_is_a_clear_error():
    data = topic_dataset()
    with pytest.raises(ConfigError, match="item table"):
        ContentRecommender().fit(data.interactions, options=FitOptions())
