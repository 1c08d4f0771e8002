"""A compressed model serves like any other: the service loads it, ranks like the model, encodes new items
with the int8 encoder and makes them recommendable."""

from __future__ import annotations

import numpy as np
from fastapi.testclient import TestClient

from lmrec.compress import CompressConfig, compress_model
from lmrec.models.base import FitOptions
from lmrec.models.textprior import PriorGate
from lmrec.models.textseq import TextSeq
from lmrec.serve import ServeSettings, create_app, write_catalog
from lmrec.testing import tiny_dataset


def test_compressed_textseq_is_served(tmp_path):
    tiny = tiny_dataset()
    model = TextSeq(epochs=2, dim=16, n_layers=1, n_experts=2, batch_size=64)
    model.fit(tiny.interactions, items=tiny.items, options=FitOptions(seed=0))
    # a text prior with weight on both parts (the in-sample gate of this tiny fit keeps none): the service
    # ranks by the mixed score of the compressed model, new items included
    model.prior_gate = PriorGate(alpha=0.5, beta=0.5, lam_warm=1.0, lam_cold=2.0, bias=-0.5)
    small = compress_model(model, CompressConfig(vectors="pq", prune=0.3, finetune_epochs=1))
    assert isinstance(small.fit_info["compression"]["text_prior"], dict)
    small.save(tmp_path / "m")
    write_catalog(tiny, tmp_path / "m")
    app = create_app(tmp_path / "m", f"sqlite:///{tmp_path / 's.sqlite'}", ServeSettings())
    service = app.state.service
    assert service.model.name == "textseq-compressed"
    assert service._encoder_name == "minilm-onnx-int8"
    key = service.store.create_key("t", ["catalog"])
    with TestClient(app) as c:
        got = c.post("/recommendations", json={"items": ["i1", "i2"], "k": 5}).json()["items"]
        idx, _ = service.model.recommend([np.array([1, 2])], k=5)
        assert [x["id"] for x in got] == [f"i{i}" for i in idx[0]]
        r = c.post(
            "/items",
            json={"id": "new", "title": "space science fiction film"},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert r.status_code == 201
    assert service.model.n_items == tiny.n_items + 1 and len(service.rec_index) == tiny.n_items + 1
    # the new item has its text-space vector and an unseen count: the prior scores it
    assert len(service.model.prior_item_vectors()) == tiny.n_items + 1
    assert service.model.item_log_counts()[-1] == 0
