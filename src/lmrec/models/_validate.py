"""Validation NDCG@k used for early stopping inside ``fit``.

Same protocol as lmrec's evaluation: full ranking over the catalog, the user's training items masked,
one held-out validation item per user, rank of the target counting ties at their midpoint
(:func:`lmrec.metrics.target_metrics`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from lmrec.metrics import target_metrics


def validation_ndcg(
    score_histories: Callable[[np.ndarray, list[np.ndarray]], np.ndarray],
    histories: Sequence[np.ndarray],
    valid_users: np.ndarray,
    valid_items: np.ndarray,
    k: int = 10,
    batch_size: int = 512,
) -> float:
    """Mean NDCG@k of ``valid_items`` for ``valid_users`` scored from their training ``histories``."""
    if len(valid_users) == 0:
        return 0.0
    gains = []
    for s in range(0, len(valid_users), batch_size):
        users = np.asarray(valid_users[s : s + batch_size], dtype=np.int64)
        targets = np.asarray(valid_items[s : s + batch_size], dtype=np.int64)
        hists = [np.asarray(histories[u]) for u in users]
        scores = np.array(score_histories(users, hists), dtype=np.float64)
        for r, h in enumerate(hists):
            if len(h):
                scores[r, h] = -np.inf
        gains.append(target_metrics(scores, targets, ks=(k,))[f"ndcg@{k}"])
    return float(np.concatenate(gains).mean())
