import numpy as np
import scipy.sparse as sp

from lmrec.models.itemknn import ItemKNN, cosine_similarity, prune_columns
from lmrec.testing import RecommenderContract


class TestItemKNNContract(RecommenderContract):
    def make_model(self):
        return ItemKNN(k=10, shrink=2.0)


def test_cosine_with_shrinkage_matches_hand_computation():
    # users x items; item 0 seen by users 0,1,2; item 1 by 0,1; item 2 by 2
    x = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 0], [1, 0, 1]], dtype=np.float32))
    s = cosine_similarity(x, shrink=1.0).toarray()
    assert np.allclose(np.diag(s), 0)
    assert np.isclose(s[0, 1], 2 / (np.sqrt(3) * np.sqrt(2) + 1))
    assert np.isclose(s[0, 2], 1 / (np.sqrt(3) * 1 + 1))
    assert s[1, 2] == 0
    np.testing.assert_allclose(s, s.T)


def test_pruning_keeps_k_best_per_column_and_scores_sum_history():
    x = sp.csr_matrix(np.array([[1, 1, 0, 1], [1, 1, 0, 0], [1, 0, 1, 1], [0, 1, 1, 0]], dtype=np.float32))
    full = cosine_similarity(x).toarray()
    pruned = prune_columns(cosine_similarity(x), 1).toarray()
    for j in range(4):
        assert (pruned[:, j] != 0).sum() <= 1
        assert np.isclose(pruned[:, j].max(), full[:, j].max())
    from lmrec.data import Interactions

    coo = x.tocoo()
    train = Interactions(user=coo.row, item=coo.col, timestamp=np.arange(coo.nnz), n_users=4, n_items=4)
    model = ItemKNN(k=0).fit(train)
    np.testing.assert_allclose(model.score([[0, 2]])[0], full[0] + full[2], rtol=1e-5)
