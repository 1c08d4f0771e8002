"""textseq's fixed text path (``text_anchor``): one fixed map shared by every model, never trained, kept by
saving, loading and transfer; every model with it passes the recommender contract."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmrec.data.split import leave_one_out_split
from lmrec.models.textseq import TextSeq
from lmrec.models.textseq.network import Adaptor, anchor_map
from lmrec.testing import RecommenderContract
from tests.models._topics import topic_dataset

TINY = dict(dim=16, n_layers=1, n_heads=2, n_experts=2, max_len=8, epochs=2, batch_size=32)


class TestAnchoredTextSeqContract(RecommenderContract):
    @pytest.fixture(autouse=True)
    def _cache(self, text_cache):
        self.cache = text_cache

    def make_model(self):
        return TextSeq(cache_dir=self.cache, text_anchor=1.0, **TINY)


def test_anchor_map_is_one_fixed_orthonormal_map():
    a = anchor_map(384, 64)
    np.testing.assert_array_equal(a.numpy(), anchor_map(384, 64).numpy())
    np.testing.assert_allclose((a.T @ a).numpy() * 64, np.eye(64), atol=1e-5)
    wide = anchor_map(8, 16)  # more model axes than text axes: the extra ones stay empty
    assert wide.shape == (8, 16) and not wide[:, 8:].any() and wide[:, :8].abs().sum() > 0


def test_the_anchor_is_the_whitened_text_under_the_map_and_the_experts_start_small():
    torch.manual_seed(0)
    text = torch.randn(50, 24)
    anchored = Adaptor(24, 8, 4, 0.0, True, anchor=2.0)
    anchored.init_whitening(text)
    with torch.no_grad():
        anchored.experts.zero_()
    white = anchored.whiten(text)
    torch.testing.assert_close(anchored(text), 2.0 * white @ anchor_map(24, 8))
    plain = Adaptor(24, 8, 4, 0.0, True)
    torch.manual_seed(1)
    small = Adaptor(24, 8, 4, 0.0, True, anchor=1.0)
    assert small.experts.std() < 0.2 * plain.experts.std()  # a residual on top of the text path
    assert "anchor" not in dict(anchored.named_parameters()) and "anchor" in dict(anchored.named_buffers())
    assert "anchor" not in dict(plain.named_buffers())  # models without it save what they always saved


def test_training_and_saving_keep_the_text_path(text_cache, tmp_path):
    data = topic_dataset()
    split = leave_one_out_split(data)
    model = TextSeq(cache_dir=text_cache, text_anchor=1.0, **{**TINY, "epochs": 3, "lr": 3e-3})
    model.fit(split.train, split.valid, items=data.items)
    before = model.module.adaptor.anchor.clone()
    np.testing.assert_array_equal(before.numpy(), anchor_map(384, 16).numpy())
    idx, _ = model.recommend([[0, 1, 2, 3], [8, 9, 10, 11]], k=4)
    assert (idx[0] < 8).all() and (idx[1] >= 8).all()  # it still learns the two topics
    model.save(tmp_path / "m")
    loaded = TextSeq.load(tmp_path / "m")
    assert loaded.config.text_anchor == 1.0
    np.testing.assert_array_equal(loaded.module.adaptor.anchor.numpy(), before.numpy())
    np.testing.assert_array_equal(loaded.score(np.arange(6)), model.score(np.arange(6)))
