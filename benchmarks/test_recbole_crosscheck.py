"""lmrec's ranking metrics against RecBole 1.2.1's metric implementations on the same score matrices.

Runs in the bench venv only (``make bench-check``, also part of ``make bench``): the main environment and CI
have no RecBole. lmrec's side is the public :func:`lmrec.evaluate.evaluate_scores` (seen items excluded, ties
by its seeded random order); RecBole's side is its own collector step (history scores set to -inf,
``torch.topk``, positives gathered into ``rec.topk``) followed by ``recbole.evaluator.metrics``. The matrices
have no ties, so both rankings are fully determined and every per-user value must agree to 1e-6.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _recbole  # noqa: E402

_recbole.install_shims()

import torch  # noqa: E402
from recbole.evaluator.collector import DataStruct  # noqa: E402
from recbole.evaluator.metrics import MAP, MRR, NDCG, Hit, Precision, Recall  # noqa: E402

from lmrec.evaluate import evaluate_scores  # noqa: E402

KS = (1, 5, 10, 20)
# lmrec metric name -> RecBole metric class (the same definitions: see lmrec.evaluate.metrics)
PAIRS = {"recall": Recall, "ndcg": NDCG, "hit": Hit, "mrr": MRR, "map": MAP, "precision": Precision}


def recbole_per_user(
    scores: np.ndarray, targets: list[np.ndarray], exclude: list[np.ndarray]
) -> dict[str, np.ndarray]:
    """RecBole's per-user values ``(n_users, max k)`` for each metric in PAIRS, as its evaluator gets them."""
    s = torch.tensor(scores, dtype=torch.float64)
    for row, seen in enumerate(exclude):
        s[row, torch.as_tensor(seen, dtype=torch.long)] = -torch.inf  # RecBole's history mask
    _, topk_idx = torch.topk(s, max(KS), dim=-1)
    pos = torch.zeros_like(s, dtype=torch.int)
    for row, t in enumerate(targets):
        pos[row, torch.as_tensor(t, dtype=torch.long)] = 1
    rec = torch.cat((torch.gather(pos, 1, topk_idx), pos.sum(dim=1, keepdim=True)), dim=1)
    data = DataStruct()
    data.set("rec.topk", rec)
    config = {"topk": list(KS), "metric_decimal_place": 12}
    out: dict[str, np.ndarray] = {}
    for name, cls in PAIRS.items():
        metric = cls(config)
        pos_index, pos_len = metric.used_info(data)
        info = metric.metric_info(pos_index) if name in ("hit", "mrr", "precision") else None
        if info is None:
            info = metric.metric_info(pos_index, pos_len)
        out[name] = np.asarray(info, dtype=np.float64)
        # RecBole's own averaging path as well, so the means are checked through calculate_metric
        means = metric.calculate_metric(data)
        for k in KS:
            assert means[f"{name}@{k}"] == pytest.approx(out[name][:, k - 1].mean(), abs=1e-9)
    return out


def assert_agree(scores: np.ndarray, targets: list[np.ndarray], exclude: list[np.ndarray]) -> int:
    """Compare every metric at every cut-off, per user and on average; returns the number of users checked."""
    lm = evaluate_scores(scores, targets, exclude=exclude, ks=KS)
    rb = recbole_per_user(scores, targets, exclude)
    users = lm.per_user["users"]
    assert len(users) == len(scores)  # every row has a target here
    for name in PAIRS:
        for k in KS:
            ours = lm.per_user[f"{name}@{k}"]
            theirs = rb[name][users, k - 1]
            np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6, err_msg=f"{name}@{k}")
            assert abs(lm.metrics[f"{name}@{k}"] - theirs.mean()) < 1e-6, f"{name}@{k} mean"
    return len(users)


def test_random_scores_multi_target() -> None:
    """Continuous random scores; 1-15 targets per user (more than k for some); seen items, some of them
    targets (a seen target cannot be retrieved but still counts in the denominator, in both libraries)."""
    rng = np.random.default_rng(7)
    n_users, n_items = 400, 600
    scores = rng.standard_normal((n_users, n_items))
    targets, exclude = [], []
    for _ in range(n_users):
        items = rng.permutation(n_items)
        n_t = int(rng.integers(1, 16))
        targets.append(np.sort(items[:n_t]))
        seen = items[n_t : n_t + int(rng.integers(0, 40))]
        if rng.random() < 0.1:
            seen = np.r_[seen, items[0]]  # a target already seen
        exclude.append(seen)
    # make sure some targets land in every top-k: lift a random target of half the users
    for row in range(0, n_users, 2):
        scores[row, targets[row][0]] += 3.0
    assert assert_agree(scores, targets, exclude) == n_users


def test_real_split_ease_scores(tmp_path: Path) -> None:
    """ML-100K leave-one-out by time, a numpy EASE (l2=100) fitted on train, train+valid masked at test."""
    root = Path(os.environ.get("LMREC_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    path = root / "ml-100k" / "u.data"
    assert path.is_file(), f"ML-100K not found at {path}; set LMREC_DATA"
    import pandas as pd

    from lmrec.data._build import build_dataset
    from lmrec.data.split import TEST, TRAIN, VALID, leave_one_out_split

    events = pd.read_csv(path, sep="\t", names=["user", "item", "rating", "timestamp"])
    ds = build_dataset("ml-100k", "movies", events)
    split = leave_one_out_split(ds)
    inter, a = ds.interactions, split.assignment
    x = np.zeros((ds.n_users, ds.n_items))
    x[inter.user[a == TRAIN], inter.item[a == TRAIN]] = 1.0
    g = x.T @ x + 100.0 * np.eye(ds.n_items)
    p = np.linalg.inv(g)
    b = -p / np.diag(p)
    np.fill_diagonal(b, 0.0)
    hist = x.copy()
    hist[inter.user[a == VALID], inter.item[a == VALID]] = 1.0
    scores = hist @ b
    # break exact ties (untrained items all score 0) with a tiny fixed jitter: the same matrix for both
    scores += np.random.default_rng(0).uniform(0, 1e-9, scores.shape)
    test = a == TEST
    targets = [np.zeros(0, np.int64)] * ds.n_users
    for u, i in zip(inter.user[test], inter.item[test], strict=True):
        targets[u] = np.array([i])
    exclude = [np.flatnonzero(row) for row in hist]
    keep = [u for u in range(ds.n_users) if len(targets[u])]
    n = assert_agree(scores[keep], [targets[u] for u in keep], [exclude[u] for u in keep])
    assert n == 943
    # and the numbers are the ones of a working model, not of an empty ranking
    lm = evaluate_scores(
        scores[keep], [targets[u] for u in keep], exclude=[exclude[u] for u in keep], ks=(10,)
    )
    assert 0.10 < lm["recall@10"] < 0.20
