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


def test_the_solve_works_in_one_buffer_and_matches_the_formula_on_a_larger_catalog():
    """The ``np.linalg.inv`` path held four n x n float64 arrays (32 n^2 bytes, traced); the in-place
    Cholesky solve holds one, and the float32 result (12 n^2 bytes: 8.2 GB measured at 26,000)."""
    import tracemalloc

    import scipy.sparse as sp

    from lmrec.models.ease import ease_memory_bytes, ease_weights

    rng = np.random.default_rng(1)
    n = 1500
    x = sp.csr_matrix((rng.random((600, n)) < 0.01).astype(np.float64))
    tracemalloc.start()
    b = ease_weights(x, 50.0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak <= 1.15 * ease_memory_bytes(n), peak / (8 * n * n)
    g = (x.T @ x).toarray() + 50.0 * np.eye(n)
    p = np.linalg.inv(g)
    ref = np.eye(n) - p / np.diag(p)
    np.testing.assert_allclose(b, ref, atol=1e-6)
    assert b.dtype == np.float32


def test_ease_says_in_one_line_when_the_machine_has_too_little_memory(monkeypatch):
    import lmrec.models.ease as ease_module
    from lmrec.errors import ConfigError

    rng = np.random.default_rng(0)
    users, items = np.nonzero(rng.random((30, 40)) < 0.3)
    train = Interactions(user=users, item=items, timestamp=np.arange(len(users)), n_users=30, n_items=40)
    monkeypatch.setattr(ease_module, "available_memory_bytes", lambda: 10_000)
    try:
        EASE().fit(train)
    except ConfigError as exc:
        message = str(exc)
    else:
        raise AssertionError("EASE fitted without the memory it needs")
    assert "\n" not in message and "40 items need about 0 MB" in message and "0 MB are available" in message


def test_the_cholesky_runs_on_one_blas_thread(monkeypatch):
    """OpenBLAS's threaded potrf crashed the process (SIGSEGV) from 16,000 items on this 2-core machine; the
    solve holds every BLAS library to one thread (too large to reproduce in the suite: 2 GB, a minute)."""
    from scipy.linalg import lapack
    from threadpoolctl import threadpool_info

    from lmrec.models.ease import ease_weights

    seen: list[int] = []
    real = lapack.dpotrf

    def spy(*args, **kwargs):
        seen.extend(info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas")
        return real(*args, **kwargs)

    monkeypatch.setattr(lapack, "dpotrf", spy)
    rng = np.random.default_rng(0)
    ease_weights((rng.random((50, 30)) < 0.3).astype(np.float64), 10.0)
    assert seen and set(seen) == {1}
