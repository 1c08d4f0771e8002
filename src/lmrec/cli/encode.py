"""`lmrec encode`: embed a dataset's item texts into an (items x dim) ``.npy`` file, through the cache."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import typer

from lmrec.cli.data_source import data_format_option, data_option_option, dataset_option, open_dataset
from lmrec.errors import LmrecError


def encode(
    dataset: str = dataset_option(),
    data_format: str | None = data_format_option(),
    data_option: list[str] | None = data_option_option(),
    out: Path = typer.Option(..., "--out", "-o", help="Output .npy file: float32 (items x dim), unit rows."),
    encoder: str = typer.Option(
        "auto",
        "--encoder",
        "-e",
        help="minilm | minilm-bf16 (GPU, or a CPU with AMX/AVX512-BF16) | minilm-onnx-int8 | minilm-st | "
        "use-multilingual | a model folder | a HF name; auto = minilm, or use-multilingual for mostly-CJK "
        "catalogs.",
    ),
    template: str | None = typer.Option(
        None, "--template", "-t", help='Item text template, e.g. "{title}. {brand}. {description:200}".'
    ),
    cache_dir: Path | None = typer.Option(
        None, "--cache-dir", help="Embedding cache folder (default $LMREC_CACHE/embeddings)."
    ),
    no_cache: bool = typer.Option(False, "--no-cache", help="Encode all; do not read or write the cache."),
    batch_size: int | None = typer.Option(
        None,
        "--batch-size",
        min=1,
        help="At most this many texts per forward pass (default: the encoder's, 32 per thread on the CPU, 64 "
        "per thread in bf16, 64 on a GPU).",
    ),
    batch_tokens: int | None = typer.Option(
        None,
        "--batch-tokens",
        min=0,
        help="At most this many padded tokens (texts x the longest one) per forward pass of a transformer "
        "encoder (default: 512 per thread on the CPU, 2048 per thread in bf16, no bound on a GPU; 0: no "
        "bound).",
    ),
    progress: bool = typer.Option(False, "--progress/--no-progress", help="Show a progress bar."),
    device: str = typer.Option(
        "auto",
        "--device",
        help="Where the encoder runs: auto (a CUDA GPU when there is one: the PyTorch model there; else the "
        "CPU, fp32 through ONNX) | cpu | cuda | cuda:N. The int8 and multilingual encoders are CPU-only.",
    ),
) -> None:
    """Encode every item of DATASET in dense item index order and save the vectors."""
    import numpy as np

    from lmrec.text import CacheStats, encode_texts, item_texts, resolve_encoder
    from lmrec.text.encoders import check_encoder_device

    # a bad device is a one-line error before any data or model is loaded
    check_encoder_device(encoder, device, option="--device")
    if out.suffix != ".npy":
        raise LmrecError(f"{out}: --out must end in .npy")
    if not out.parent.exists():
        raise LmrecError(f"{out.parent}: output folder does not exist")
    ds = open_dataset(dataset, data_format, data_option)
    texts = item_texts(ds.items, template, dataset=ds.name)
    t0 = time.perf_counter()
    enc = resolve_encoder(encoder, texts, device=device)
    load_s = time.perf_counter() - t0
    stats = CacheStats()
    t1 = time.perf_counter()
    vecs = encode_texts(
        texts,
        encoder=enc,
        cache_dir=cache_dir,
        use_cache=not no_cache,
        batch_size=batch_size,
        batch_tokens=batch_tokens,
        progress=progress,
        template=template,
        stats=stats,
    )
    seconds = time.perf_counter() - t1
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=".tmp-", suffix=".npy")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, vecs, allow_pickle=False)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    rate = len(texts) / seconds if seconds > 0 else float("inf")
    extra = []
    if enc.stats.empty:
        extra.append(f"{enc.stats.empty} empty texts")
    if enc.stats.truncated:
        extra.append(f"{enc.stats.truncated} truncated to the model's limit")
    typer.echo(
        f"{ds.name}: {vecs.shape[0]} items x {vecs.shape[1]} dims with {enc.name} ({enc.model_id}) on "
        f"{getattr(enc, 'device', 'cpu')} -> {out}\n"
        f"{seconds:.2f} s ({rate:,.0f} items/s; model load {load_s:.1f} s); cache: {stats.hits} hits, "
        f"{stats.misses} misses ({len(set(texts))} distinct texts)"
        + (f"; {', '.join(extra)}" if extra else "")
    )
