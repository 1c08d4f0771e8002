"""The int8/ONNX build chain of the text encoders, apart from the runtime backends in
:mod:`lmrec.text.encoders` (which call :func:`exported_model` the first time a model file is needed).

- :mod:`lmrec.text.export.onnx`: export a transformer folder to ONNX (fp32) and build the int8 file, cached on
  disk (:func:`exported_model`);
- :mod:`lmrec.text.export.smooth`: SmoothQuant (activation outliers moved into the weights, calibrated on
  built-in texts);
- :mod:`lmrec.text.export.quantize`: per-token activation quantization (fused) and blockwise weight
  quantization of chosen MatMuls.
"""

from lmrec.text.export.onnx import PRECISIONS, exported_model, onnx_cache_home

__all__ = ["PRECISIONS", "exported_model", "onnx_cache_home"]
