"""int8 MatMuls with one activation scale per token (row), written as plain ONNX operators.

onnxruntime's dynamic quantization (``DynamicQuantizeLinear``) gives a MatMul input one scale for the whole
batch tensor, so every token shares the range of the batch's most extreme token, and the special tokens of
BERT-like models reach far beyond ordinary ones. Here each row ``x`` of a MatMul input gets its own scale
``s = max|x| / 127``; ``round(x / s) + 128`` is uint8 with the scalar zero point 128 (``MatMulInteger`` takes
only a scalar zero point for its first input, and uint8 x int8 is onnxruntime's fast path on x86), the weight
is int8 with one scale per output column, and the int32 product goes back to float by ``* s * w_scale``.

Measured on MiniLM after SmoothQuant smoothing (see :mod:`lmrec.text.export.onnx`): mean cosine to fp32
0.9991 / 0.9988 on ML-100K / Amazon Scientific texts instead of 0.9980 / 0.9975 with one scale per tensor, at
2.0-2.1x instead of 2.2x the fp32 speed (one thread). Without smoothing it gives 0.9977 / 0.9976: the two fix
different outliers (per token the rows, smoothing the channels). A side effect: a text's vector no longer
depends on the texts batched with it (one scale per tensor is set by the whole batch).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

# bump when quantize_per_token / quantize_blockwise write a different graph: the int8 file's cache name has it
PER_TOKEN_VERSION = 2


def set_nodes(graph: Any, nodes: list[Any]) -> None:
    """Replace the graph's nodes by ``nodes`` and drop the initializers no node reads any more."""
    del graph.node[:]
    graph.node.extend(nodes)
    used = {i for n in graph.node for i in n.input}
    kept = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)


def add_int8_weight(graph: Any, name: str, w: np.ndarray) -> None:
    """Add ``NAME_int8`` (symmetric per-output-channel int8 of the weight ``w``) and ``NAME_int8_scale`` (its
    float32 scales) to the graph's initializers."""
    from onnx import numpy_helper

    w = np.asarray(w, dtype=np.float32)
    w_scale = np.maximum(np.abs(w).max(0), 1e-12) / 127.0
    w_q = np.clip(np.round(w / w_scale), -127, 127).astype(np.int8)
    graph.initializer.extend(
        [
            numpy_helper.from_array(w_q, f"{name}_int8"),
            numpy_helper.from_array(w_scale.astype(np.float32), f"{name}_int8_scale"),
        ]
    )


def quantize_per_token(model: Any, *, skip: Sequence[str] = (), fused: bool = False) -> Any:
    """``model`` (an ``onnx.ModelProto``, changed in place and returned) with every weight MatMul but those
    named in ``skip`` replaced by the int8 per-token subgraph above; the fp32 weights it no longer uses go.

    ``fused``: the same arithmetic in fewer passes over the activations: ``QuantizeLinear`` with one scale
    per row (axis 0 of the input seen as ``(tokens, K)``) instead of Div, Round, Add and Cast, and
    onnxruntime's ``MatMulIntegerToFloat`` (the column scales applied inside the int8 product) followed by
    one Mul by the row scales, instead of MatMulInteger, Cast and two Muls."""
    from onnx import TensorProto, helper, numpy_helper

    from lmrec.text.export.smooth import weight_matmuls

    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    if fused and not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 17)
    groups: dict[str, list[Any]] = {}
    for node in weight_matmuls(model):
        if node.name not in skip:
            groups.setdefault(node.input[0], []).append(node)
    consts = {
        "pt8_eps": np.array(1e-12, np.float32),  # an all-zero row: scale 1e-12, every value 128
        "pt8_127": np.array(127.0, np.float32),
        "pt8_128": np.array(128.0, np.float32),
        "pt8_zero_point": np.array(128, np.uint8),
        "pt8_last_axis": np.array([-1], np.int64),
    }
    graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in consts.items())
    after: dict[str, list[Any]] = {}
    replaced: set[str] = set()  # outputs of the MatMuls replaced
    quantized: set[str] = set()  # weights quantized

    def op(kind: str, inputs: list[str], output: str, **attrs: Any) -> Any:
        return helper.make_node(kind, inputs, [output], name=output, **attrs)

    if fused:
        graph.initializer.extend(
            numpy_helper.from_array(v, k)
            for k, v in {
                "pt8_inv127": np.array(1.0 / 127.0, np.float32),
                "pt8_one": np.array(1.0, np.float32),
                "pt8_flat": np.array([-1], np.int64),
            }.items()
        )
    for x, nodes in groups.items():
        p = f"{x}_pt8"
        if fused:
            after[x] = _fused_group(x, nodes, inits, graph, quantized, replaced, op, opset)
            continue
        # ReduceMax takes its axes as an attribute before opset 18 and as an input from 18 on
        reduce = (
            op("ReduceMax", [f"{p}_abs"], f"{p}_max", axes=[-1], keepdims=1)
            if opset < 18
            else op("ReduceMax", [f"{p}_abs", "pt8_last_axis"], f"{p}_max", keepdims=1)
        )
        ops = [
            op("Abs", [x], f"{p}_abs"),
            reduce,
            op("Div", [f"{p}_max", "pt8_127"], f"{p}_scale0"),
            op("Max", [f"{p}_scale0", "pt8_eps"], f"{p}_scale"),
            op("Div", [x, f"{p}_scale"], f"{p}_scaled"),
            op("Round", [f"{p}_scaled"], f"{p}_rounded"),
            op("Add", [f"{p}_rounded", "pt8_128"], f"{p}_shifted"),
            op("Cast", [f"{p}_shifted"], f"{p}_u8", to=TensorProto.UINT8),
        ]
        for n in nodes:
            if n.input[1] not in quantized:  # a weight shared by several MatMuls is stored once
                quantized.add(n.input[1])
                add_int8_weight(graph, n.input[1], numpy_helper.to_array(inits[n.input[1]]))
            out = n.output[0]
            ops += [
                helper.make_node(
                    "MatMulInteger",
                    [f"{p}_u8", f"{n.input[1]}_int8", "pt8_zero_point"],
                    [f"{out}_i32"],
                    name=n.name,
                ),
                op("Cast", [f"{out}_i32"], f"{out}_f32", to=TensorProto.FLOAT),
                op("Mul", [f"{out}_f32", f"{p}_scale"], f"{out}_row_scaled"),
                helper.make_node(
                    "Mul", [f"{out}_row_scaled", f"{n.input[1]}_int8_scale"], [out], name=f"{out}_mul"
                ),
            ]
            replaced.add(out)
        after[x] = ops
    # each group's nodes right after the producer of its input (they need nothing else): still sorted
    inputs = {i.name for i in graph.input}
    ordered = [o for x, ops in after.items() if x in inputs for o in ops]
    for n in graph.node:
        # found by output (unique in a graph; node names need not be)
        if n.op_type == "MatMul" and n.output[0] in replaced:
            continue
        ordered.append(n)
        for o in n.output:
            ordered += after.get(o, [])
    set_nodes(graph, ordered)
    return model


def _fused_group(
    x: str,
    nodes: list[Any],
    inits: dict[str, Any],
    graph: Any,
    quantized: set[str],
    replaced: set[str],
    op: Any,
    opset: int,
) -> list[Any]:
    """The fused per-token subgraph of the MatMuls ``nodes`` that share the input ``x`` (see ``fused``)."""
    from onnx import helper, numpy_helper

    p = f"{x}_pt8"
    k = int(numpy_helper.to_array(inits[nodes[0].input[1]]).shape[0])
    graph.initializer.append(numpy_helper.from_array(np.array([-1, k], np.int64), f"{p}_2d"))
    ops = [
        op("Abs", [x], f"{p}_abs"),
        op("ReduceMax", [f"{p}_abs"], f"{p}_max", axes=[-1], keepdims=1)
        if opset < 18
        else op("ReduceMax", [f"{p}_abs", "pt8_last_axis"], f"{p}_max", keepdims=1),
        op("Mul", [f"{p}_max", "pt8_inv127"], f"{p}_scale0"),
        op("Max", [f"{p}_scale0", "pt8_eps"], f"{p}_scale"),  # (..., 1)
        op("Reshape", [f"{p}_scale", "pt8_flat"], f"{p}_scale_flat"),  # (tokens,)
        op("Shape", [f"{p}_scale_flat"], f"{p}_tokens"),
        op("Expand", ["pt8_zero_point", f"{p}_tokens"], f"{p}_zp"),
        op("Reshape", [x, f"{p}_2d"], f"{p}_x2d"),
        op("QuantizeLinear", [f"{p}_x2d", f"{p}_scale_flat", f"{p}_zp"], f"{p}_u8_2d", axis=0),
        op("Shape", [x], f"{p}_shape"),
        op("Reshape", [f"{p}_u8_2d", f"{p}_shape"], f"{p}_u8"),  # back to x's shape: outputs need none
    ]
    for n in nodes:
        w_name = n.input[1]
        w = numpy_helper.to_array(inits[w_name]).astype(np.float32)
        if w_name not in quantized:
            quantized.add(w_name)
            add_int8_weight(graph, w_name, w)
        out = n.output[0]
        ops += [
            helper.make_node(
                "MatMulIntegerToFloat",
                [f"{p}_u8", f"{w_name}_int8", "pt8_one", f"{w_name}_int8_scale", "pt8_zero_point"],
                [f"{out}_f"],
                name=n.name,
                domain="com.microsoft",
            ),
            helper.make_node("Mul", [f"{out}_f", f"{p}_scale"], [out], name=f"{out}_row_scale"),
        ]
        replaced.add(out)
    return ops


def quantize_blockwise(model: Any, names: Sequence[str], *, block_size: int = 128) -> Any:
    """``model`` (changed in place and returned) with the weight MatMuls named in ``names`` replaced by
    onnxruntime's ``MatMulNBits`` with 8-bit weights and int8 compute (``accuracy_level=4``): the weight has
    one scale per ``block_size`` input rows and output column, and onnxruntime quantizes the activations per
    token AND per block of ``block_size`` channels inside the kernel. Finer than one scale per token, so more
    accurate where a MatMul's input has outlier channels (the GELU outputs); slower than ``MatMulInteger``.
    The bias and everything else stay as they are."""
    from onnx import helper, numpy_helper

    from lmrec.text.export.smooth import weight_matmuls

    if block_size < 16 or block_size & (block_size - 1):
        raise ValueError(f"block_size must be a power of two >= 16, not {block_size}")
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    wanted = set(names)
    swap: dict[str, Any] = {}
    for node in weight_matmuls(model):
        if node.name not in wanted:
            continue
        w = numpy_helper.to_array(inits[node.input[1]]).astype(np.float32)
        k, n = w.shape
        blocks = -(-k // block_size)
        padded = np.zeros((blocks * block_size, n), np.float32)
        padded[:k] = w
        wt = padded.T.reshape(n, blocks, block_size)
        scale = np.maximum(np.abs(wt).max(-1), 1e-12) / 127.0
        # unsigned codes with the zero point 128, MatMulNBits' default for 8 bits
        codes = (np.clip(np.round(wt / scale[..., None]), -127, 127) + 128).astype(np.uint8)
        prefix = f"{node.name}_nbits8"
        graph.initializer.extend(
            [
                numpy_helper.from_array(codes, f"{prefix}_codes"),
                numpy_helper.from_array(scale.astype(np.float32), f"{prefix}_scales"),
            ]
        )
        swap[node.output[0]] = helper.make_node(
            "MatMulNBits",
            [node.input[0], f"{prefix}_codes", f"{prefix}_scales"],
            [node.output[0]],
            name=node.name,
            domain="com.microsoft",
            K=k,
            N=n,
            bits=8,
            block_size=block_size,
            accuracy_level=4,
        )
    set_nodes(graph, [swap.get(n.output[0], n) if n.op_type == "MatMul" else n for n in graph.node])
    return model
