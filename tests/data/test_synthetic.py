"""The synthetic generator of benchmarks/scale.py: exact sizes, realistic shape, deterministic, loadable."""

from __future__ import annotations

import numpy as np
import pytest

from lmrec.data.split import leave_one_out_split
from lmrec.data.synthetic import synthetic_dataset, zipf_ranks
from lmrec.errors import DataError


@pytest.fixture(scope="module")
def data():
    return synthetic_dataset(30_000, vector_dim=16, seed=3)


def test_sizes_are_exact_and_defaults_follow_them(data):
    it = data.interactions
    assert len(it) == 30_000 and data.n_items == 30_000 // 20
    lengths = np.bincount(it.user, minlength=data.n_users)
    assert data.n_users == len(lengths) and lengths.sum() == 30_000
    assert (lengths[:-1] >= 5).all()  # min_length (only the last user is cut to hit the total)
    assert 8.5 < lengths.mean() < 9.5 and np.median(lengths) < lengths.mean() < lengths.max() / 5  # long tail
    assert data.meta["synthetic"]["n_users"] == data.n_users


def test_popularity_is_heavy_tailed_and_not_tied_to_the_index(data):
    counts = np.bincount(data.interactions.item, minlength=data.n_items)
    top = np.sort(counts)[::-1]
    share_1, share_10 = (
        top[: data.n_items // 100].sum() / counts.sum(),
        top[: data.n_items // 10].sum() / counts.sum(),
    )
    assert 0.05 < share_1 < 0.3 and 0.3 < share_10 < 0.6, (share_1, share_10)
    # popular items are spread over the index range (no id-order leak)
    head = np.argsort(-counts)[:50]
    assert head.min() < data.n_items // 4 and head.max() > 3 * data.n_items // 4


def test_users_stay_in_their_topic_and_time_runs_forward(data):
    it = data.interactions
    topic_word = data.items.frame["category"].to_numpy()
    order = np.lexsort((it.timestamp, it.user))
    assert (np.argsort(it.user, kind="stable") == order).all()  # rows are already user-major, time-sorted
    same = [len(set(topic_word[it.item[it.user == u]])) for u in range(200)]
    lengths = np.bincount(it.user)[:200]
    assert np.mean(np.asarray(same) / lengths) < 0.75  # most of a user's items share one topic
    assert len(set(topic_word)) == data.meta["synthetic"]["n_topics"]


def test_items_have_text_from_a_small_vocabulary_and_unit_vectors(data):
    frame = data.items.frame
    words = {w for t in frame["title"] for w in t.split() if not w.isdigit()}
    assert 0 < len(words) <= 64 + 6 * data.meta["synthetic"]["n_topics"]
    assert all(isinstance(t, str) and len(t.split()) == 5 for t in frame["title"][:100])
    vecs = np.stack(frame["vec"].to_numpy())
    assert vecs.shape == (data.n_items, 16)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert data.items.texts()[0].startswith(frame["title"][0])


def test_same_seed_same_data_and_another_seed_differs():
    a, b, c = (synthetic_dataset(2_000, seed=s) for s in (1, 1, 2))
    assert (a.interactions.item == b.interactions.item).all()
    assert (a.interactions.timestamp == b.interactions.timestamp).all()
    assert list(a.items.frame["title"]) == list(b.items.frame["title"])
    assert (
        len(a.interactions.item) != len(c.interactions.item)
        or (a.interactions.item != c.interactions.item).any()
    )


def test_it_splits_like_real_data(data):
    split = leave_one_out_split(data)
    assert len(split.test) == data.n_users and len(split.valid) == data.n_users
    assert len(split.train) == 30_000 - 2 * data.n_users


def test_zipf_ranks_follow_their_weights():
    r = zipf_ranks(np.random.default_rng(0), 200_000, 10, 1.0)
    w = 1.0 / np.arange(1, 11)
    np.testing.assert_allclose(np.bincount(r, minlength=10) / 200_000, w / w.sum(), atol=0.01)


@pytest.mark.parametrize(
    "kwargs, field",
    [({"n_interactions": 0}, "n_interactions"), ({"n_interactions": 10, "mean_length": 2.0}, "mean_length"),
     ({"n_interactions": 10, "n_items": 5, "n_topics": 9}, "n_topics")],
)  # fmt: skip
def test_bad_arguments_name_the_field(kwargs, field):
    with pytest.raises(DataError, match=field):
        synthetic_dataset(**kwargs)
