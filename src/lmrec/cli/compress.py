"""`lmrec compress`: convert a trained textseq model folder into a smaller one (int8 encoder, coded item
vectors, pruning) that loads and serves like any other model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from lmrec.cli.data_source import data_format_option, data_option_option, open_dataset, reopen_dataset
from lmrec.errors import ConfigError


def compress(
    model_dir: Path = typer.Argument(..., help="A saved textseq model folder (from `lmrec train`)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder to write the compressed model into."),
    encoder: str = typer.Option(
        "int8", "--encoder", help="Encoder for new items/queries: int8 (minilm-onnx-int8), keep, or a name."
    ),
    vectors: str = typer.Option(
        "fp16",
        "--vectors",
        help="Item vectors: fp32 | fp16 | sq8 | pq | rq (residual quantization: best recall at 8x).",
    ),
    pq_m: int = typer.Option(
        0, "--pq-m", help="pq/rq: bytes per item (0: dim/2, i.e. 8x smaller than fp32)."
    ),
    prune: float = typer.Option(0.0, "--prune", help="Share of transformer weights to prune (0..1)."),
    prune_kind: str = typer.Option("magnitude", "--prune-kind", help="magnitude | structured (heads, FFN)."),
    finetune_epochs: int = typer.Option(2, "--finetune-epochs", help="Fine-tune epochs after pruning."),
    dynamic_int8: bool = typer.Option(
        False, "--dynamic-int8/--no-dynamic-int8", help="int8 dynamic quantization of the transformer FFN."
    ),
    text_prior: str = typer.Option(
        "keep",
        "--text-prior",
        help="keep | drop the model's text prior (drop: smaller, less accurate where data is thin).",
    ),
    dataset: str | None = typer.Option(
        None, "--dataset", "-d", help="Dataset for fine-tune validation (default: the one it was trained on)."
    ),
    data_format: str | None = data_format_option(),
    data_option: list[str] | None = data_option_option(),
    threads: int | None = typer.Option(None, "--threads"),
) -> None:
    """Compress MODEL_DIR into OUT and print what changed (the model card records it too)."""
    from lmrec.compress import CompressConfig, compress_directory, directory_bytes, text_prior_line
    from lmrec.models.base import read_model_meta

    cfg = CompressConfig.from_dict(
        {
            "encoder": encoder,
            "vectors": vectors,
            "pq_m": pq_m,
            "prune": prune,
            "prune_kind": prune_kind,
            "finetune_epochs": finetune_epochs,
            "dynamic_int8": dynamic_int8,
            "text_prior": text_prior,
        },
        source="lmrec compress",
    )
    meta = read_model_meta(model_dir)
    valid = (
        _validation(meta, dataset, data_format, data_option) if prune > 0 and finetune_epochs > 0 else None
    )
    model = compress_directory(model_dir, out, cfg, valid=valid, threads=threads)
    info = model.fit_info["compression"]
    before, after = directory_bytes(model_dir), directory_bytes(out)
    smaller = after <= before
    change = f"{before / max(after, 1):.1f}x smaller" if smaller else f"{after / max(before, 1):.2f}x larger"
    typer.echo(f"model files {before / 1e6:.2f} MB -> {after / 1e6:.2f} MB ({change})")
    vec = info["vectors"]
    typer.echo(
        f"item vectors {vec['method']}: {vec['bytes_per_item']} B/item "
        f"({vec['ratio_vs_fp32']}x vs fp32 incl. codebook)"
    )
    typer.echo(text_prior_line(info.get("text_prior")))
    for k, v in info.get("checks", {}).items():
        typer.echo(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}")
    if "prune" in info:
        p = info["prune"]
        typer.echo(f"pruned {p['kind']} {p['amount']:.0%}: zero share {p['pruned_params_zero_share']:.3f}")
    typer.echo(f"saved to {out}")


def _validation(
    meta: dict[str, Any], dataset: str | None, data_format: str | None, data_option: list[str] | None
) -> Any:
    """The validation interactions of the split the model was trained on (None when unknown or changed)."""
    from lmrec.data.split import fixed_split, leave_one_out_split

    info = meta.get("fit_info") or {}
    if dataset is not None:
        ds, name = open_dataset(dataset, data_format, data_option), dataset
    else:
        record = info.get("dataset") or {}
        ds, name = reopen_dataset(record), record.get("name")
    if ds is None:
        return None
    recorded = info.get("split") or {}
    split = fixed_split(ds) if recorded.get("protocol", "").startswith("fixed") else leave_one_out_split(ds)
    if recorded.get("split_hash") and recorded["split_hash"] != split.hash:
        raise ConfigError(
            f"--dataset {name}: its split ({split.hash}) is not the one the model was trained on "
            f"({recorded['split_hash']})"
        )
    return split.valid
