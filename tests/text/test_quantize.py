"""Per-token int8 MatMuls (lmrec.text.export.quantize): a tiny graph, where one token far larger than the
others ruins onnxruntime's one-scale-per-tensor dynamic quantization but not one scale per token."""

from __future__ import annotations

import numpy as np
import pytest

from lmrec.text.export.quantize import quantize_per_token


def _matmul_model(opset: int, w: np.ndarray):  # noqa: ANN202 - an onnx.ModelProto
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="dense")],
        "dense",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, w.shape[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, w.shape[1]])],
        [numpy_helper.from_array(w, "w")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _run(model, x: np.ndarray) -> np.ndarray:  # noqa: ANN001
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


@pytest.mark.parametrize("opset", [17, 18])  # ReduceMax's axes: an attribute before 18, an input from 18
def test_one_scale_per_token_keeps_small_tokens_precise(opset: int, tmp_path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    rng = np.random.default_rng(0)
    w = rng.normal(size=(32, 8)).astype(np.float32)
    x = rng.normal(size=(4, 32)).astype(np.float32)
    x[0] *= 500.0  # one token far beyond the others, like BERT's special tokens
    ref = x @ w

    model = quantize_per_token(_matmul_model(opset, w))
    ops = [n.op_type for n in model.graph.node]
    assert "MatMulInteger" in ops and "MatMul" not in ops
    assert "w" not in {i.name for i in model.graph.initializer}  # the fp32 weight is gone
    rel = np.linalg.norm(_run(model, x) - ref, axis=1) / np.linalg.norm(ref, axis=1)
    assert rel.max() < 0.03, rel

    # the same MatMul through onnxruntime's dynamic quantization: the small tokens get ~1 int8 level
    dynamic = tmp_path / "dynamic.onnx"
    quantize_dynamic(_matmul_model(opset, w), str(dynamic), weight_type=QuantType.QInt8, per_channel=True)
    import onnx

    rel_dyn = np.linalg.norm(_run(onnx.load(str(dynamic)), x) - ref, axis=1) / np.linalg.norm(ref, axis=1)
    assert rel_dyn[1:].min() > 0.2 and rel[1:].max() < 0.1 * rel_dyn[1:].min()


def test_zero_rows_and_skipped_nodes() -> None:
    rng = np.random.default_rng(1)
    w = rng.normal(size=(16, 4)).astype(np.float32)
    x = np.zeros((2, 16), np.float32)
    x[1] = rng.normal(size=16)
    out = _run(quantize_per_token(_matmul_model(17, w)), x)
    assert np.all(out[0] == 0) and np.all(np.isfinite(out))  # an all-zero token: no division by zero
    kept = quantize_per_token(_matmul_model(17, w), skip=["dense"])
    assert [n.op_type for n in kept.graph.node] == ["MatMul"]
    np.testing.assert_allclose(_run(kept, x), x @ w, rtol=1e-6)


@pytest.mark.parametrize("opset", [17, 18])
def test_fused_per_token_graph_computes_the_same_as_the_plain_one(opset: int) -> None:
    rng = np.random.default_rng(2)
    w = rng.normal(size=(32, 8)).astype(np.float32)
    x = rng.normal(size=(3, 5, 32)).astype(np.float32)  # (batch, tokens, channels), as in the encoder
    x[0, 0] *= 500.0
    x[2, 4] = 0.0  # an all-zero token

    def model3d(opset: int):  # noqa: ANN202
        from onnx import TensorProto, helper, numpy_helper

        graph = helper.make_graph(
            [helper.make_node("MatMul", ["x", "w"], ["y"], name="dense")],
            "dense",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, None, 32])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, None, 8])],
            [numpy_helper.from_array(w, "w")],
        )
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])

    plain = _run(quantize_per_token(model3d(opset)), x)
    fused_model = quantize_per_token(model3d(opset), fused=True)
    ops = {n.op_type for n in fused_model.graph.node}
    assert {"QuantizeLinear", "MatMulIntegerToFloat"} <= ops and not ops & {
        "MatMul",
        "MatMulInteger",
        "Round",
    }
    fused = _run(fused_model, x)
    assert fused.shape == (3, 5, 8) and np.all(fused[2, 4] == 0)
    ref = x @ w
    # the same int8 arithmetic: only the last rounding of a few products may differ (x * (1/127) vs x / 127)
    np.testing.assert_allclose(fused, plain, atol=2e-2 * np.abs(ref).max(axis=-1, keepdims=True).max())
    rel = np.linalg.norm(fused - ref, axis=-1) / np.maximum(np.linalg.norm(ref, axis=-1), 1e-9)
    assert rel[np.linalg.norm(ref, axis=-1) > 0].max() < 0.03


def test_blockwise_quantization_survives_outlier_channels_and_ragged_blocks() -> None:
    from lmrec.text.export.quantize import quantize_blockwise

    rng = np.random.default_rng(3)
    w = rng.normal(size=(80, 6)).astype(np.float32)  # 80 rows: blocks of 32 leave a ragged last block
    x = rng.normal(size=(16, 80)).astype(np.float32)
    x[:, 3] *= 60.0  # one outlying channel, as after a GELU: per-token scales lose the other channels
    ref = x @ w
    block = quantize_blockwise(_matmul_model(17, w), ["dense"], block_size=32)
    assert [n.op_type for n in block.graph.node] == ["MatMulNBits"]
    assert "w" not in {i.name for i in block.graph.initializer}
    rel_block = np.linalg.norm(_run(block, x) - ref) / np.linalg.norm(ref)
    rel_token = np.linalg.norm(_run(quantize_per_token(_matmul_model(17, w)), x) - ref) / np.linalg.norm(ref)
    assert rel_block < 0.025 and rel_block < 0.7 * rel_token, (rel_block, rel_token)
    untouched = quantize_blockwise(_matmul_model(17, w), ["other"])
    assert [n.op_type for n in untouched.graph.node] == ["MatMul"]
    with pytest.raises(ValueError, match="block_size"):
        quantize_blockwise(_matmul_model(17, w), ["dense"], block_size=48)
