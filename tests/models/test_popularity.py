import numpy as np

from lmrec.data.split import leave_one_out_split
from lmrec.models.popularity import Popularity
from lmrec.testing import RecommenderContract, tiny_dataset


class TestPopularityContract(RecommenderContract):
    must_beat = "random"  # popularity is the other models' floor; it must beat random where items are skewed

    def make_model(self):
        return Popularity()


def test_popularity_ranks_by_training_count():
    data = tiny_dataset()
    split = leave_one_out_split(data)
    model = Popularity().fit(split.train)
    counts = np.bincount(split.train.item, minlength=data.n_items)
    idx, _ = model.recommend([[]], k=3)
    assert counts[idx[0, 0]] == counts.max()
