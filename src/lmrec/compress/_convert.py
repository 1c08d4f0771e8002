"""``compress_model``: a saved ``textseq`` directory -> a smaller one that loads and serves the same way."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from lmrec.config import BaseConfig
from lmrec.errors import ConfigError, LmrecError


class CompressConfig(BaseConfig):
    """What :func:`compress_model` does.

    ``encoder``: text encoder for new items and queries (``int8`` = ``minilm-onnx-int8``; ``keep``: as is).
    ``dynamic_int8``: int8 dynamic quantization of the transformer's Linear layers at load time.
    ``vectors``: item representation codes (``fp32``, ``fp16``, ``sq8``, or ``pq`` / ``rq`` with ``pq_m``
    codes of ``pq_bits`` bits; ``rq``, residual quantization, keeps the top-10 best at 8x).
    ``prune`` (share 0..1) with ``prune_kind`` and ``finetune_epochs`` (0 = prune without fine-tuning).
    ``text_prior``: ``keep`` the model's text prior (its item vectors coded as the item representations are
    when those are ``fp32`` / ``fp16``, else ``sq8``: 384 bytes per item for MiniLM) or ``drop`` it (the
    learned part only: smaller, and less accurate, most of all where training data is thin).
    """

    encoder: str = "int8"
    dynamic_int8: bool = False
    vectors: Literal["fp32", "fp16", "sq8", "pq", "rq"] = "fp16"
    pq_m: int = Field(0, ge=0)
    pq_bits: int = Field(8, ge=1, le=16)
    prune: float = Field(0.0, ge=0.0, lt=1.0)
    prune_kind: Literal["magnitude", "structured"] = "magnitude"
    finetune_epochs: int = Field(2, ge=0)
    finetune_lr: float | None = None
    text_prior: Literal["keep", "drop"] = "keep"
    seed: int = 0


ENCODER_ALIASES = {"int8": "minilm-onnx-int8", "fp32": "minilm"}


def compress_model(
    model: Any,
    config: CompressConfig | None = None,
    *,
    valid: Any = None,
    check_users: np.ndarray | None = None,
    source: str | None = None,
    threads: int | None = None,
) -> Any:
    """Convert a fitted ``textseq`` into a :class:`~lmrec.compress.CompressedTextSeq` (``model`` is consumed:
    its module is pruned and taken over). ``valid`` (validation interactions) guides the pruning fine-tune.

    ``check_users`` (default: up to 500 users with a history) are used to record, in the model card, the
    top-10 overlap and score correlation of the compressed model with the original and the top-10 recall of
    the coded item representations against exact search.
    """
    from lmrec.compress._model import CompressedTextSeq, prior_method
    from lmrec.compress._prune import prune_and_finetune
    from lmrec.compress._vectors import VectorCodec, topk_recall
    from lmrec.models.textseq import TextSeq

    config = config or CompressConfig()
    if not isinstance(model, TextSeq) or isinstance(model, CompressedTextSeq):
        raise LmrecError(
            "compress: only a trained 'textseq' model can be compressed, "
            f"not '{getattr(model, 'name', model)}'"
        )
    if model.module is None:
        raise LmrecError("compress: the model is not fitted")
    model.to("cpu")  # compression (pruning masks, int8 layers, vector codecs) works on the CPU copy
    t0 = time.perf_counter()
    if check_users is None:
        has = np.flatnonzero([len(h) > 0 for h in model.histories])
        check_users = np.random.default_rng(config.seed).permutation(has)[:500]
    check_users = np.asarray(check_users, dtype=np.int64)
    ref_scores = model.score(check_users) if len(check_users) else None
    ref_states = model.learned_query_vectors(check_users) if len(check_users) else None
    info: dict[str, Any] = {"source": source, "encoder_before": model.config.encoder}

    if config.prune > 0:
        info["prune"] = prune_and_finetune(
            model,
            config.prune,
            config.prune_kind,
            epochs=config.finetune_epochs,
            valid=valid,
            lr=config.finetune_lr,
            seed=config.seed,
            threads=threads,
        )
    normalize = model.config.normalize
    exact = model.item_representations().numpy() if normalize else model.learned_item_vectors()
    codec = VectorCodec.train(
        exact, config.vectors, pq_m=config.pq_m, pq_bits=config.pq_bits, seed=config.seed
    )
    encoder = _encoder_name(config.encoder, model)
    if encoder != model.config.encoder:
        info["encoder"] = encoder
    checks: dict[str, Any] = {}
    if ref_states is not None:
        approx = codec.decode(codec.encode(exact))
        queries = model.learned_query_vectors(check_users)  # after pruning: the vectors' own effect
        checks["item vectors top-10 recall vs exact"] = topk_recall(queries, exact, approx, 10)
    prior_codec = None
    if config.text_prior == "keep" and model.prior_gate is not None:
        prior_codec = VectorCodec.train(
            model.prior_item_vectors(), prior_method(config.vectors), seed=config.seed
        )
    out = CompressedTextSeq.from_textseq(
        model,
        codec,
        prior_codec=prior_codec,
        encoder=encoder,
        dynamic_int8=config.dynamic_int8,
        info=info,
    )
    if ref_scores is not None:
        checks.update(
            agreement(ref_scores, out.score(check_users), [model.histories[u] for u in check_users])
        )
        del ref_states
    checks["check users"] = len(check_users)
    info["checks"] = checks
    info["config"] = config.to_dict()
    info["seconds"] = round(time.perf_counter() - t0, 2)
    out.fit_info["compression"].update(info)
    return out


def agreement(
    reference: np.ndarray, scores: np.ndarray, histories: list[np.ndarray], k: int = 10
) -> dict[str, float]:
    """Top-``k`` overlap (seen items excluded) and mean per-user Pearson correlation of two score matrices."""
    from lmrec.models.base import top_k

    a, b = reference.copy(), scores.copy()
    for row, h in enumerate(histories):
        if len(h):
            a[row, h] = -np.inf
            b[row, h] = -np.inf
    ia, _ = top_k(a, k)
    ib, _ = top_k(b, k)
    overlap = float(np.mean([len(np.intersect1d(x, y)) / k for x, y in zip(ia, ib, strict=True)]))
    ra = reference - reference.mean(1, keepdims=True)
    rb = scores - scores.mean(1, keepdims=True)
    corr = (ra * rb).sum(1) / np.maximum(np.linalg.norm(ra, axis=1) * np.linalg.norm(rb, axis=1), 1e-12)
    return {
        f"top-{k} overlap with the original": overlap,
        "score correlation with the original": float(corr.mean()),
    }


def _encoder_name(choice: str, model: Any) -> str:
    if choice == "keep":
        return str(model.config.encoder)
    ref = getattr(model, "vector_ref", None)
    if ref is not None and str(ref.encoder).startswith("column:"):
        raise ConfigError("compress: --encoder: this model's vectors came from an item column (use keep)")
    return ENCODER_ALIASES.get(choice, choice)


def compress_directory(
    model_dir: str | Path,
    out: str | Path,
    config: CompressConfig | None = None,
    *,
    valid: Any = None,
    threads: int | None = None,
) -> Any:
    """Load ``model_dir``, compress it, save it to ``out`` with the catalog files; returns the model."""
    from lmrec.models import load_model

    src, dst = Path(model_dir), Path(out)
    if dst.resolve() == src.resolve():
        raise LmrecError(f"{dst}: the output folder must differ from the model folder")
    if dst.exists() and not dst.is_dir():
        raise LmrecError(f"{dst}: exists and is not a folder")
    model = load_model(src)
    compressed = compress_model(model, config, valid=valid, source=str(src), threads=threads)
    compressed.save(dst)
    from lmrec.models.catalog import CATALOG_DIR

    if (src / CATALOG_DIR).is_dir():  # the external ids `lmrec recommend` / `serve` speak in
        shutil.copytree(src / CATALOG_DIR, dst / CATALOG_DIR, dirs_exist_ok=True)
    return compressed


def directory_bytes(path: str | Path) -> int:
    """Bytes of the model files in a saved model folder (weights, config, card, catalog)."""
    return sum(f.stat().st_size for f in Path(path).iterdir() if f.is_file())
