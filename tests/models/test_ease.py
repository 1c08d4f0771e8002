import numpy as np

from lmrec.data import Interactions
from lmrec.models.ease import EASE
from lmrec.testing import RecommenderContract
from tests.models._ml100k import ml100k_loo


class TestEASEContract(RecommenderContract):
    def make_model(self):
        return EASE(l2=10.0)


def test_ease_equals_direct_numpy_formula():
    rng = np.random.default_rng(0)
    x = (rng.random((12, 7)) < 0.4).astype(np.float64)
    users, items = np.nonzero(x)
    train = Interactions(user=users, item=items, timestamp=np.arange(len(users)), n_users=12, n_items=7)
    lam = 3.0
    p = np.linalg.inv(x.T @ x + lam * np.eye(7))
    b = np.eye(7) - p / np.diag(p)  # B = I - P diagMat(1/diag(P))
    model = EASE(l2=lam).fit(train)
    np.testing.assert_allclose(model.weights, b, atol=1e-5)
    np.testing.assert_allclose(np.diag(model.weights), 0, atol=1e-7)
    np.testing.assert_allclose(model.score(np.arange(12)), x @ b, atol=1e-4)


def test_ease_ml100k_reference_quality(shared_data):
    from lmrec.evaluate import evaluate_model

    split = ml100k_loo(shared_data)
    model = EASE(l2=100.0).fit(split.train)
    # reference (REFERENCE-NUMBERS.md): NDCG@10 .0700 / Recall@10 .1379 with training rows as input
    ref = evaluate_model(model, split, ks=(10,), test_history="train")
    assert abs(ref["ndcg@10"] - 0.0700) < 0.002
    assert abs(ref["recall@10"] - 0.1379) < 0.003
    res = evaluate_model(model, split, ks=(10,))
    assert 0.064 < res["ndcg@10"] < 0.078
