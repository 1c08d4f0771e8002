"""Compression: coded item vectors (memory, recall), pruning (zero share, still scores), dynamic int8, the
compressed model's round trip through save / load_model against the uncompressed model, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lmrec.compress import (
    CompressConfig,
    CompressedTextSeq,
    VectorCodec,
    compress_directory,
    compress_model,
    directory_bytes,
    topk_recall,
)
from lmrec.compress._prune import prune_masks, transformer_weights
from lmrec.data.split import leave_one_out_split
from lmrec.errors import ConfigError, LmrecError
from lmrec.models import load_model
from lmrec.models.base import FitOptions
from lmrec.models.textseq import TextSeq
from lmrec.testing import RecommenderContract
from tests.models._topics import NEW_SPACE, topic_dataset

SMALL = dict(dim=32, n_layers=2, n_heads=2, n_experts=2, max_len=8, epochs=5, batch_size=32, lr=3e-3)
SPACE_USER, COOK_USER = [0, 1, 2, 4], [8, 9, 10, 12]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("embeddings"))


@pytest.fixture(scope="module")
def topics():
    data = topic_dataset()
    return data, leave_one_out_split(data)


def _fitted(topics, cache, **kw):
    data, split = topics
    model = TextSeq(cache_dir=cache, **{**SMALL, **kw})
    return model.fit(split.train, split.valid, items=data.items, options=FitOptions(seed=0))


class TestCompressedTextSeqContract(RecommenderContract):
    """The compressed textseq is a registered model too: it passes the contract as made by compression
    (fit a textseq, then :func:`compress_model` with the defaults: int8 encoder, fp16 item vectors)."""

    @pytest.fixture(autouse=True)
    def _cache(self, cache):
        self.cache = cache

    def make_model(self):
        return CompressedTextSeq(cache_dir=self.cache, **{**SMALL, "epochs": 3})

    def fit_model(self, model, train, valid, items):
        textseq = TextSeq(model.config).fit(train, valid, items=items, options=FitOptions(seed=0))
        return compress_model(textseq, CompressConfig(), valid=valid)


def _clustered(n, dim, rng):
    """Vectors shaped like learned item representations: a few clusters, most variance in a few directions."""
    centres = rng.standard_normal((12, dim)) * 2.0
    basis = rng.standard_normal((8, dim))
    return (centres[rng.integers(0, 12, n)] + rng.standard_normal((n, 8)) @ basis * 0.5).astype(np.float32)


def test_topk_recall_hand_computed():
    items = np.eye(4, dtype=np.float32)
    q = np.array([[4.0, 3.0, 2.0, 1.0]], dtype=np.float32)
    assert topk_recall(q, items, items, k=2) == 1.0
    swapped = items[[0, 3, 2, 1]]  # item 1 now looks like item 3: the top-2 {0, 1} becomes {0, 3}
    assert topk_recall(q, items, swapped, k=2) == 0.5


def test_vector_codecs_memory_and_recall():
    rng = np.random.default_rng(0)
    items, queries = _clustered(3000, 64, rng), _clustered(300, 64, rng)
    expect = {"fp16": (128, 0.99), "sq8": (64, 0.95), "pq": (32, 0.8)}
    for method, (code_bytes, min_recall) in expect.items():
        codec = VectorCodec.train(items, method)
        codes = codec.encode(items)
        assert codec.code_bytes == code_bytes and codes.nbytes == code_bytes * len(items)
        assert topk_recall(queries, items, codec.decode(codes), 10) >= min_recall, method
        # restored from what a saved model stores: the same vectors
        again = VectorCodec.from_state(method, 64, codec.quantizer, codec.params)
        np.testing.assert_array_equal(again.decode(codes), codec.decode(codes))
    assert codec.describe(3000)["ratio_vs_fp32"] >= 4  # pq, codebook included
    with pytest.raises(ConfigError):
        VectorCodec.train(items, "int3")


def test_residual_codes_keep_more_of_the_top10_than_product_codes_at_8x():
    rng = np.random.default_rng(1)
    items, queries = _clustered(800, 64, rng), _clustered(200, 64, rng)
    recall = {}
    for method in ("pq", "rq"):
        codec = VectorCodec.train(items, method)
        assert codec.code_bytes == 32  # 8x smaller than 64 float32
        codes = codec.encode(items)
        recall[method] = topk_recall(queries, items, codec.decode(codes), 10)
        again = VectorCodec.from_state(method, 64, codec.quantizer, codec.params)
        np.testing.assert_array_equal(again.encode(items[:50]), codes[:50])  # same codes after a reload
    assert recall["rq"] >= 0.95 and recall["rq"] > recall["pq"], recall
    # a catalog smaller than the dimension still trains (fewer bits per stage, no PCA warm start)
    tiny = VectorCodec.train(items[:10], "rq")
    assert tiny.params["pq_bits"] == 3
    assert topk_recall(queries, items[:10], tiny.decode(tiny.encode(items[:10])), 3) == 1.0


@pytest.mark.parametrize(
    "settings",
    [
        dict(vectors="fp16"),
        dict(vectors="pq", prune=0.3, finetune_epochs=1, dynamic_int8=True),
        dict(vectors="sq8", prune=0.5, prune_kind="structured", finetune_epochs=1),
    ],
    ids=["fp16", "pq+magnitude+int8", "sq8+structured"],
)
def test_compressed_round_trip_close_to_original(topics, cache, tmp_path, settings):
    data, split = topics
    original = _fitted(topics, cache)
    original.save(tmp_path / "orig")
    users = np.arange(original.n_users)
    ref = original.score(users)
    small = compress_directory(
        tmp_path / "orig", tmp_path / "small", CompressConfig(**settings), valid=split.valid
    )
    loaded = load_model(tmp_path / "small")
    assert loaded.name == "textseq-compressed" and type(loaded).__name__ == "CompressedTextSeq"
    assert loaded.config.encoder == "minilm-onnx-int8"  # new items and queries: the int8 encoder
    np.testing.assert_allclose(loaded.score(users), small.score(users), atol=1e-4)
    scores = loaded.score(users)
    from lmrec.compress import agreement

    close = agreement(ref, scores, [original._histories[u] for u in users])
    assert close["top-10 overlap with the original"] >= 0.8, close
    assert close["score correlation with the original"] >= 0.97, close
    idx, _ = loaded.recommend([SPACE_USER, COOK_USER], k=4)
    assert (idx[0] < 8).all() and (idx[1] >= 8).all()  # still separates the two topics
    size = lambda d: (d / "model.safetensors").stat().st_size  # noqa: E731
    # the catalog's 384-d float32 text vectors are gone (the adaptor that encodes new items stays); a kept
    # text prior stores them again, coded (fp16 or sq8)
    prior = small.fit_info["compression"]["text_prior"]
    assert isinstance(prior, dict) and prior["bytes_per_item"] < 384 * 4
    saved = size(tmp_path / "orig") - size(tmp_path / "small")
    assert saved > 0.8 * original.n_items * 384 * 4 - prior["total_bytes"]
    card = (tmp_path / "small" / "README.md").read_text()
    assert "## Compression" in card and settings["vectors"] in card and "minilm-onnx-int8" in card
    info = json.loads((tmp_path / "small" / "config.json").read_text())["fit_info"]["compression"]
    assert info["vectors"]["method"] == settings["vectors"]
    assert info["dynamic_int8"] == settings.get("dynamic_int8", False)


def test_new_items_and_text_queries_after_compression(topics, cache, tmp_path):
    from lmrec.text import encode_texts

    _fitted(topics, cache).save(tmp_path / "orig")
    original = load_model(tmp_path / "orig")
    small = compress_model(load_model(tmp_path / "orig"), CompressConfig(vectors="rq"))
    small.save(tmp_path / "m")
    model = load_model(tmp_path / "m")
    assert model.item_vectors is None  # the catalog's text vectors are not stored any more
    vec = encode_texts([NEW_SPACE], encoder="minilm-onnx-int8", cache_dir=cache)
    new = model.add_items(vec)
    assert new.tolist() == [16] and model.score([SPACE_USER]).shape == (1, 17)
    model.save(tmp_path / "m2")
    again = load_model(tmp_path / "m2")
    np.testing.assert_allclose(again.score([SPACE_USER]), model.score([SPACE_USER]), atol=1e-5)
    # a free-text query read through the int8 encoder scores like the fp32 original does
    query = "a rocket mission to Mars"
    a, b = original.score_text(query, history=SPACE_USER), again.score_text(query, history=SPACE_USER)[:16]
    assert np.corrcoef(a, b)[0, 1] > 0.97


def test_magnitude_pruning_zero_share_and_masks_survive_finetune(topics, cache):
    model = _fitted(topics, cache)
    weights = transformer_weights(model.module)
    total = sum(w.numel() for w in weights.values())
    small = compress_model(model, CompressConfig(vectors="fp32", prune=0.3, finetune_epochs=2))
    info = small.fit_info["compression"]["prune"]
    zero = sum(int((w == 0).sum()) for w in transformer_weights(small.module).values())
    assert abs(zero / total - 0.3) < 0.005 and abs(info["pruned_params_zero_share"] - 0.3) < 0.005
    assert len(info["finetune"]["loss"]) == 2
    assert np.isfinite(small.score([SPACE_USER])).all()


def test_structured_pruning_removes_whole_heads_and_ffn_channels(topics, cache):
    model = _fitted(topics, cache)
    masks = prune_masks(model.module, 0.5, "structured")
    masks.apply(model.module)
    for layer in model.module.encoder.layers:
        w1, w2 = layer.linear1.weight, layer.linear2.weight
        dead_rows = (w1 == 0).all(dim=1)
        assert int(dead_rows.sum()) == 32  # half of the 64 FFN channels, each as a whole unit
        assert (w2[:, dead_rows] == 0).all() and (layer.linear1.bias[dead_rows] == 0).all()
        out_w = layer.self_attn.out_proj.weight
        dead_cols = (out_w == 0).all(dim=0)
        assert int(dead_cols.sum()) == 16  # one of the two heads (16 dims) gone
    assert np.isfinite(model.score([SPACE_USER])).all()


def test_only_textseq_can_be_compressed(tmp_path):
    from lmrec.models.popularity import Popularity
    from lmrec.testing.contract import tiny_dataset

    data = tiny_dataset()
    pop = Popularity().fit(data.interactions)
    with pytest.raises(LmrecError, match="only a trained 'textseq'"):
        compress_model(pop)
    with pytest.raises(LmrecError):
        CompressConfig.from_dict({"prune": 1.5})


def test_cli_compress(topics, cache, tmp_path, capsys):
    from lmrec.cli import main

    model = _fitted(topics, cache)
    model.save(tmp_path / "orig")
    (tmp_path / "orig" / "catalog").mkdir()
    (tmp_path / "orig" / "catalog" / "users.json").write_text("[]", encoding="utf-8")
    argv = ["compress", str(tmp_path / "orig"), "--out", str(tmp_path / "small"), "--vectors", "pq"]
    assert main([*argv, "--prune", "0.3", "--finetune-epochs", "1"]) == 0
    out = capsys.readouterr().out
    # 16 items: 2^4 centroids per sub-space (4 bits), 16 sub-spaces of 2 dims -> 8 bytes
    assert "item vectors pq: 8 B/item" in out and "zero share 0.3" in out
    assert (tmp_path / "small" / "catalog" / "users.json").is_file()
    assert load_model(tmp_path / "small").name == "textseq-compressed"
    assert main([*argv, "--prune-kind", "heads"]) == 2
    assert "prune_kind" in capsys.readouterr().err


def test_compression_keeps_the_text_prior(topics, cache, tmp_path):
    """A textseq with a text prior compresses to a model that scores like it (the prior's item vectors are
    coded too, the gate and text space kept), through save / load and for items added afterwards; with
    ``text_prior="drop"`` only the learned part remains, as the card says."""
    from lmrec.models.textprior import PriorGate

    data, split = topics
    model = TextSeq(cache_dir=cache, **SMALL).fit(
        split.train, split.valid, items=data.items, options=FitOptions(seed=0)
    )
    # a gate that gives both parts real weight, whatever the held-out events of this toy catalog chose
    model.prior_gate = PriorGate(alpha=0.5, beta=0.5, lam_warm=1.0, lam_cold=2.0, bias=-0.5)
    model.save(tmp_path / "orig")
    users = np.arange(model.n_users)
    ref = model.score(users)
    gate_off = load_model(tmp_path / "orig")
    gate_off.prior_gate = None
    learned_only = gate_off.score(users)
    assert np.abs(ref - learned_only).max() > 0.1  # the prior moves the scores: the check below can fail

    exact = compress_model(load_model(tmp_path / "orig"), CompressConfig(vectors="fp32", encoder="keep"))
    np.testing.assert_allclose(exact.score(users), ref, atol=1e-4)
    assert exact.fit_info["compression"]["text_prior"]["method"] == "fp32"
    exact.save(tmp_path / "exact")
    again = load_model(tmp_path / "exact")
    np.testing.assert_allclose(again.score(users), exact.score(users), atol=1e-5)
    # the retrieval vectors (ANN) still give the mixed score
    np.testing.assert_allclose(
        again.query_vectors(users) @ again.retrieval_vectors().T, again.score(users), atol=1e-3
    )

    # a new item: ranked with its text prior, as in the uncompressed model
    from lmrec.text import encode_texts

    vec = encode_texts([NEW_SPACE], encoder=model.config.encoder, cache_dir=cache)
    original = load_model(tmp_path / "orig")
    new_ref = original.add_items(vec)
    new = again.add_items(vec)
    assert new.tolist() == new_ref.tolist()
    np.testing.assert_allclose(again.score(users), original.score(users), atol=1e-3)

    coded = compress_model(load_model(tmp_path / "orig"), CompressConfig(vectors="sq8", encoder="keep"))
    top = np.argsort(-ref, axis=1)[:, :10]
    top_coded = np.argsort(-coded.score(users), axis=1)[:, :10]
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(top, top_coded, strict=True)])
    assert overlap >= 0.9, overlap

    dropped = compress_model(
        load_model(tmp_path / "orig"), CompressConfig(vectors="fp32", encoder="keep", text_prior="drop")
    )
    np.testing.assert_allclose(dropped.score(users), learned_only, atol=1e-4)
    assert dropped.fit_info["compression"]["text_prior"] == "dropped"


def test_cli_compress_says_what_happened_to_the_text_prior(topics, cache, tmp_path, capsys):
    from lmrec.cli import main
    from lmrec.models.textprior import PriorGate

    data, split = topics
    model = TextSeq(cache_dir=cache, **SMALL).fit(
        split.train, split.valid, items=data.items, options=FitOptions(seed=0)
    )
    model.prior_gate = PriorGate(alpha=0.5, beta=0.5, lam_warm=1.0, lam_cold=2.0, bias=-0.5)
    model.save(tmp_path / "orig")
    argv = ["compress", str(tmp_path / "orig"), "--encoder", "keep", "--vectors", "sq8"]
    assert main([*argv, "--out", str(tmp_path / "kept")]) == 0
    out = capsys.readouterr().out
    assert "text prior: kept, item text vectors sq8 (384 B/item" in out
    # the size line says which way the size went (a prior's vectors can outweigh what a tiny catalog saves)
    grew = directory_bytes(tmp_path / "kept") > directory_bytes(tmp_path / "orig")
    assert ("x larger)" if grew else "x smaller)") in out
    assert "text prior: kept" in (tmp_path / "kept" / "README.md").read_text(encoding="utf-8")
    assert main([*argv, "--out", str(tmp_path / "dropped"), "--text-prior", "drop"]) == 0
    assert "text prior: dropped" in capsys.readouterr().out
    assert main([*argv, "--out", str(tmp_path / "bad"), "--text-prior", "maybe"]) == 2
    assert "text_prior" in capsys.readouterr().err
