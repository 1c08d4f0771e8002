"""Per-token int8 MatMuls (lmrec.text.encoders._quantize): a tiny graph, where one token far larger than the
others ruins onnxruntime's one-scale-per-tensor dynamic quantization but not one scale per token."""

from __future__ import annotations

import numpy as np
import pytest

from lmrec.text.encoders._quantize import quantize_per_token


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
