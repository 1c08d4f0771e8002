"""Multi-task heads through transfer: pretraining refuses them, adaptation trains them on the target."""

from __future__ import annotations

import numpy as np
import pytest

from lmrec.data.split import leave_one_out_split
from lmrec.errors import ConfigError
from lmrec.models.base import FitOptions
from lmrec.models.textseq import TextSeqConfig
from lmrec.transfer import PretrainConfig, SourceDomain, adapt, pretrain

TINY = dict(
    dim=16, n_layers=1, n_heads=2, n_experts=2, max_len=10, epochs=1, batch_size=64, vector_field="vec"
)


def test_adapt_trains_aux_heads_on_top_of_pretrained_weights(ml100k_vec_small):
    data, split = ml100k_vec_small
    src = SourceDomain("ml-small", data, split)
    cfg = PretrainConfig(textseq=TextSeqConfig(**TINY), max_users=100, valid_users=0)
    with pytest.raises(ConfigError, match="auxiliary"):
        pretrain([src], cfg.replace(textseq=TextSeqConfig(**TINY, aux_rating_weight=0.5)))
    pre = pretrain([src], cfg, FitOptions(seed=0, threads=1))
    model = adapt(
        pre,
        data,
        leave_one_out_split(data),
        mode="full",
        overrides={"aux_rating_weight": 0.5},
        options=FitOptions(seed=0, threads=1),
    )
    # the shared transformer came from pretraining, the rating head is new and trained on the target
    assert model.fit_info["aux"]["train_history"][0]["rating_mse"] > 0
    pred = model.predict_feedback(np.array([0, 1]), np.array([5, 6]))
    assert pred["rating"].shape == (2,) and np.isfinite(pred["rating"]).all()
