"""textseq: contract, save/load, resume after a kill, cold-start items, features/augment/sampled options."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lmrec.data.split import leave_one_out_split
from lmrec.errors import ConfigError, LmrecError
from lmrec.models.base import FitOptions
from lmrec.models.textseq import TextSeq
from lmrec.testing import RecommenderContract
from tests.models._topics import NEW_COOKING, NEW_SPACE, topic_dataset

TINY = dict(dim=16, n_layers=1, n_heads=2, n_experts=2, max_len=8, epochs=2, batch_size=32)


@pytest.fixture(scope="module")
def topics():
    data = topic_dataset()
    return data, leave_one_out_split(data)


class TestTextSeqContract(RecommenderContract):
    @pytest.fixture(autouse=True)
    def _cache(self, text_cache):
        self.cache = text_cache

    def make_model(self):
        return TextSeq(cache_dir=self.cache, **TINY)


class TestTextSeqIdFusionContract(TestTextSeqContract):
    def make_model(self):
        return TextSeq(cache_dir=self.cache, id_fusion=True, **TINY)


def _fit(split, data, cache, seed=0, checkpoint_dir=None, **kw):
    cfg = {**TINY, **kw}
    model = TextSeq(cache_dir=cache, **cfg)
    return model.fit(
        split.train,
        split.valid,
        items=data.items,
        options=FitOptions(seed=seed, checkpoint_dir=checkpoint_dir),
    )


@pytest.mark.parametrize("ema", [0.0, 0.9])
def test_learns_the_topics_and_beats_chance(topics, text_cache, ema):
    data, split = topics
    model = _fit(split, data, text_cache, epochs=6, lr=3e-3, ema=ema)
    hist = model.fit_info["train"]["history"]
    assert hist[-1]["loss"] < hist[0]["loss"]
    idx, _ = model.recommend([[0, 1, 2, 3], [8, 9, 10, 11]], k=4)
    assert (idx[0] < 8).all() and (idx[1] >= 8).all()


@pytest.mark.parametrize("id_fusion", [False, True])
def test_cold_start_item_is_recommendable(topics, text_cache, id_fusion):
    from lmrec.text import encode_texts

    data, split = topics
    model = _fit(split, data, text_cache, epochs=6, lr=3e-3, id_fusion=id_fusion)
    vecs = encode_texts([NEW_SPACE, NEW_COOKING], cache_dir=text_cache)
    space_user, cook_user = [0, 1, 2, 4], [8, 9, 10, 12]
    before = model.score_vectors([space_user, cook_user], vecs)
    new = model.add_items(vecs)
    assert new.tolist() == [16, 17] and model.n_items == 18
    scores = model.score([space_user, cook_user])
    np.testing.assert_allclose(scores[:, 16:], before, rtol=1e-5, atol=1e-5)
    idx, _ = model.recommend([space_user, cook_user], k=5)
    assert 16 in idx[0] and 17 in idx[1]
    assert scores[0, 16] > scores[0, 17] and scores[1, 17] > scores[1, 16]


def test_save_load_identical_and_offline(topics, text_cache, tmp_path, monkeypatch):
    data, split = topics
    model = _fit(split, data, text_cache, id_fusion=True, features=("year", "genres"))
    model.fit_info["split"] = split.describe()
    model.save(tmp_path / "m")
    ref = json.loads((tmp_path / "m" / "item_vectors.json").read_text())
    assert ref["encoder"] == "minilm" and ref["model_id"].startswith("all-MiniLM") and ref["dim"] == 384
    card = (tmp_path / "m" / "README.md").read_text()
    assert split.hash in card and "best validation" in card and "fit seconds" in card
    import lmrec.text

    def no_encoder(*a, **k):
        raise AssertionError("loading must not need the encoder")

    monkeypatch.setattr(lmrec.text, "encode_texts", no_encoder)
    monkeypatch.setattr(lmrec.text, "get_encoder", no_encoder)
    loaded = TextSeq.load(tmp_path / "m")
    users = np.arange(10)
    np.testing.assert_array_equal(loaded.score(users), model.score(users))
    np.testing.assert_array_equal(loaded.item_vectors, model.item_vectors)


def test_resume_after_kill_matches_uninterrupted(topics, text_cache, tmp_path, monkeypatch):
    import lmrec.train.loop as loop

    data, split = topics
    straight = _fit(split, data, text_cache, seed=1, epochs=2)

    real_write = loop._write_checkpoint
    calls = []

    def write_then_die(path, payload):
        real_write(path, payload)
        calls.append(payload["epoch"])
        raise KeyboardInterrupt  # the process is killed right after epoch 1 was checkpointed

    monkeypatch.setattr(loop, "_write_checkpoint", write_then_die)
    with pytest.raises(KeyboardInterrupt):
        _fit(split, data, text_cache, seed=1, epochs=2, checkpoint_dir=str(tmp_path / "ck"))
    assert calls == [1]
    monkeypatch.setattr(loop, "_write_checkpoint", real_write)
    resumed = _fit(split, data, text_cache, seed=1, epochs=2, checkpoint_dir=str(tmp_path / "ck"))
    assert resumed.fit_info["train"]["resumed_from_epoch"] == 1

    for a, b in zip(resumed.fit_info["train"]["history"], straight.fit_info["train"]["history"], strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)
        assert a["ndcg@10"] == pytest.approx(b["ndcg@10"], abs=1e-9)
    # the same weights up to the last float bits (a CPU's kernels may differ there between two runs) ...
    weights = resumed.module.state_dict()
    for name, value in straight.module.state_dict().items():
        np.testing.assert_allclose(weights[name].numpy(), value.numpy(), rtol=1e-4, atol=1e-5)
    # ... and a gate fitted on them that does not amplify those bits (CI 2026-12-05: scores 1e-2 apart)
    for k, v in straight.prior_gate.to_dict().items():
        assert getattr(resumed.prior_gate, k) == pytest.approx(v, rel=1e-3, abs=1e-5), k
    users = np.arange(8)
    np.testing.assert_allclose(resumed.score(users), straight.score(users), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize(
    "options",
    [
        {"loss": "sampled", "n_negatives": 5},
        {"loss": "sampled", "n_negatives": 5, "id_fusion": True},  # sparse ID rows, lazy Adam
        {"augment": ("crop", "mask", "reorder"), "augment_prob": 1.0},
        {"normalize": True, "temperature": 0.1, "whitening": False},
        {"features": ("year", "genres"), "id_fusion": True},
        {"mask_seen": True, "future_k": 3, "augment": ("mask",), "augment_prob": 1.0},
    ],
)
def test_options_train_and_score(topics, text_cache, options):
    data, split = topics
    model = _fit(split, data, text_cache, **options)
    s = model.score(np.arange(4))
    assert s.shape == (4, data.n_items) and np.isfinite(s).all()
    assert np.isfinite(model.fit_info["train"]["history"][-1]["loss"])


def test_finetune_encoder_runs_end_to_end(topics, text_cache):
    data, split = topics
    base = _fit(split, data, text_cache, epochs=1)
    model = _fit(split, data, text_cache, epochs=1, finetune_encoder=1)
    info = model.fit_info["finetune"]
    assert info["layers"] == 1 and info["n_reencodes"] == 2
    # the encoder was trained, so the catalog vectors moved (but stayed unit vectors)
    assert not np.allclose(model.item_vectors, base.item_vectors, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(model.item_vectors, axis=1), 1.0, rtol=1e-4)


def test_finetuned_encoder_is_saved_and_used_after_load(topics, text_cache, tmp_path):
    from lmrec.models.textseq import ENCODER_FILE

    data, split = topics
    model = _fit(split, data, text_cache, epochs=1, finetune_encoder=1)
    assert model.has_finetuned_encoder and model.vector_ref.encoder_weights == ENCODER_FILE
    out = model.save(tmp_path / "ft")
    assert (out / ENCODER_FILE).is_file()
    loaded = TextSeq.load(out)
    assert loaded.has_finetuned_encoder
    users = [[0, 1, 2, 4], [8, 9, 10, 12]]
    np.testing.assert_array_equal(loaded.score(users), model.score(users))
    # new texts go through the fine-tuned layers, before and after the round trip alike
    new_texts = [NEW_SPACE, NEW_COOKING]
    fresh = model.encode_texts(new_texts)
    np.testing.assert_allclose(loaded.encode_texts(new_texts), fresh, rtol=1e-5, atol=1e-6)
    from lmrec.models.textvec import encode_query_texts
    from lmrec.text import item_texts

    frozen = encode_query_texts(new_texts, "minilm", text_cache)
    assert np.abs(fresh - frozen).max() > 1e-3  # not the frozen encoder's vectors
    # the catalog vectors the model stores are the fine-tuned encoder's own (training keeps the frozen
    # layers' token states in float16, hence the tolerance)
    np.testing.assert_allclose(
        loaded.encode_texts(item_texts(data.items)[:3]), loaded.item_vectors[:3], rtol=0, atol=2e-4
    )
    assert loaded.add_item_texts(new_texts).tolist() == model.add_item_texts(new_texts).tolist() == [16, 17]
    np.testing.assert_allclose(loaded.score(users), model.score(users), rtol=1e-5, atol=1e-5)
    assert loaded.score_text("rockets").shape == (18,)


def test_text_query_as_a_virtual_item(topics, text_cache):
    data, split = topics
    model = _fit(split, data, text_cache, epochs=6, lr=3e-3)
    idx, scores = model.recommend_for_text("rockets, astronauts and the planets", k=4)
    assert (idx < 8).all() and (np.diff(scores) <= 0).all()
    idx, _ = model.recommend_for_text("recipes for dinner", k=4, history=[8, 9])
    assert (idx >= 8).all() and 8 not in idx and 9 not in idx


@pytest.mark.parametrize("normalize", [False, True])
def test_retrieval_vectors_reproduce_the_ranking(topics, text_cache, normalize):
    data, split = topics
    model = _fit(split, data, text_cache, epochs=1, normalize=normalize, temperature=0.2)
    users = np.arange(6)
    dots = model.query_vectors(users) @ model.retrieval_vectors().T  # the temperature is in the query side
    np.testing.assert_allclose(dots, model.score(users), rtol=1e-4, atol=1e-4)
    assert model.prior_gate is not None  # the text prior is part of both sides


def test_bad_options_are_one_line_errors(topics):
    data, split = topics
    for kwargs, field in [
        ({"dim": "wide"}, "dim"),
        ({"augment": ("shuffle",)}, "augment"),
        ({"lr": -1}, "lr"),
    ]:
        with pytest.raises(ConfigError) as exc:
            TextSeq(**kwargs)
        assert field in str(exc.value) and "\n" not in str(exc.value)
    with pytest.raises(ConfigError, match="not a declared"):
        TextSeq(features=("nope",), **TINY).fit(split.train, items=data.items)
    with pytest.raises(ConfigError, match="item table"):
        TextSeq(**TINY).fit(split.train)
    with pytest.raises(LmrecError, match="shape"):
        _fit(split, data, None, epochs=1, vector_field=None).add_items(np.zeros((2, 3)))


def test_internal_validation_matches_evaluate_model(topics, text_cache):
    from lmrec.evaluate import evaluate_model
    from lmrec.models.textseq import last_event_per_user

    data, split = topics
    model = _fit(split, data, text_cache, epochs=1)
    users, targets = last_event_per_user(split.valid)
    mine = model.validation_metrics(users, targets)
    theirs = evaluate_model(model, split, ks=(10, 20), stage="valid", checks=False)
    assert mine["ndcg@10"] == pytest.approx(theirs["ndcg@10"], abs=1e-6)
    assert mine["recall@20"] == pytest.approx(theirs["recall@20"], abs=1e-6)


def test_importing_the_textseq_package_does_not_import_torch():
    import subprocess
    import sys

    code = (
        "import sys, lmrec.models.textseq as t; a = 'torch' in sys.modules; "
        "t.TextSeqModule; print(a, 'torch' in sys.modules, t.__all__ == sorted(t.__all__))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", "True"]


def test_build_untrained_scores_without_fitting(topics, text_cache):
    data, split = topics
    model = TextSeq(**TINY, cache_dir=text_cache)
    model.build_untrained(data.items, n_users=data.n_users, n_items=data.n_items)
    assert model.fit_info["arch"]["features"] == {"numeric": [], "categorical": {}, "vector": {}}
    assert not model.module.training
    scores = model.score(np.arange(3))
    assert scores.shape == (3, data.n_items) and np.isfinite(scores).all()
    # histories given are kept (they only let users be looked up by index)
    hist = split.train.sequences()
    model.build_untrained(data.items, n_users=data.n_users, n_items=data.n_items, histories=hist)
    assert [len(h) for h in model._histories] == [len(h) for h in hist]
