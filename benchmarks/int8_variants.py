"""int8 MiniLM recipes other than the shipped ``minilm-onnx-int8``, built from the cached fp32 export, for
benchmarks/encoders.py ``--variants`` (each name below). All start like the shipped file (SmoothQuant
smoothing, alpha 0.8, median floor, layer 0's FFN output not smoothed) and differ in how MatMuls are
quantized:

- ``previous``: the recipe shipped before 2026-12-04: one scale per token as plain ONNX operators
  (Abs, ReduceMax, Div, Round, Add, Cast, MatMulInteger, Cast, Mul, Mul), layer 0's FFN output fp32;
- ``fused-l0block``: per-token scales in the fused form (QuantizeLinear + MatMulIntegerToFloat) everywhere,
  only layer 0's FFN output blockwise (MatMulNBits, int8 compute): the fastest measured;
- ``all-block64``: every MatMul blockwise with blocks of 64 (MatMulNBits): the most accurate measured.
"""

from __future__ import annotations

from pathlib import Path

NAMES = ("previous", "fused-l0block", "all-block64")


def build_variant(name: str, folder: Path) -> Path:
    """The ONNX file of variant ``name`` in ``folder``."""
    import onnx

    from lmrec.text.encoders._resolve import minilm_folder
    from lmrec.text.export.onnx import SMOOTH_ALPHA, exported_model, fp32_nodes
    from lmrec.text.export.quantize import quantize_blockwise, quantize_per_token
    from lmrec.text.export.smooth import calibration_absmax, smooth_model, weight_matmuls

    if name not in NAMES:
        raise SystemExit(f"unknown variant {name!r}; one of {', '.join(NAMES)}")
    src = minilm_folder()
    fp32 = exported_model(src, "fp32", label="all-MiniLM-L6-v2")
    keep = fp32_nodes(fp32)
    model = onnx.load(str(fp32))
    smooth_model(model, calibration_absmax(fp32, src), SMOOTH_ALPHA, skip=keep)
    if name == "previous":
        quantize_per_token(model, skip=keep)
    elif name == "fused-l0block":
        quantize_blockwise(model, keep, block_size=128)
        quantize_per_token(model, skip=keep, fused=True)
    else:
        quantize_blockwise(model, [n.name for n in weight_matmuls(model)], block_size=64)
    out = folder / f"{name}.onnx"
    onnx.save(model, str(out))
    return out
