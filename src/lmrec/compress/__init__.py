"""Compression of trained models, as a conversion after training: int8 text encoder for new items and queries,
float16 / int8 / product- or residual-quantized item representations, pruning (magnitude or structured) of the
sequence transformer with a short fine-tune, and optional int8 dynamic quantization of its Linear layers. A
model's text prior is kept (its item text vectors coded too) unless ``text_prior="drop"``.

>>> from lmrec.compress import CompressConfig, compress_directory
>>> compress_directory("model/", "model-small/", CompressConfig(vectors="rq", prune=0.3))  # doctest: +SKIP

The result is an ordinary saved model (``textseq-compressed``): :func:`lmrec.models.load_model` loads it and
``lmrec serve`` serves it; its ``README.md`` records what was done and how close it stays to the original.
"""

from lmrec.compress._card import text_prior_line
from lmrec.compress._convert import (
    CompressConfig,
    agreement,
    compress_directory,
    compress_model,
    directory_bytes,
)
from lmrec.compress._model import CompressedTextSeq
from lmrec.compress._vectors import VECTOR_METHODS, VectorCodec, topk_recall

__all__ = [
    "CompressConfig",
    "CompressedTextSeq",
    "VECTOR_METHODS",
    "VectorCodec",
    "agreement",
    "compress_directory",
    "compress_model",
    "directory_bytes",
    "text_prior_line",
    "topk_recall",
]
