"""`lmrec train`: fit any registered model on a dataset, evaluate it on the test split and save it."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer

from lmrec.cli.data_source import (
    data_format_option,
    data_option_option,
    dataset_option,
    dataset_record,
    open_dataset,
    parse_options,
)
from lmrec.errors import ConfigError, LmrecError

SET_MALFORMED = "--set expects key=value, got {pair!r}"
DEVICE_HELP = "Where torch runs: auto (a CUDA GPU when there is one, else cpu) | cpu | cuda | cuda:N."
PRECISION_HELP = "auto (fp32: faster than bf16 autocast at these model sizes) | fp32 | bf16."


def check_device(device: str, precision: str = "auto") -> tuple[str, str]:
    """``--device`` / ``--precision`` checked before any data is loaded (one-line errors naming the option);
    the device as resolved on this machine (``auto`` -> ``cuda:0`` or ``cpu``) and the precision."""
    from lmrec.device import amp_dtype, resolve_device

    dev = resolve_device(device, option="--device")
    amp_dtype(dev, precision, option="--precision")
    return str(dev), precision.strip().lower()


def _csv(value: str | None) -> list[str] | None:
    return None if value is None else [v.strip() for v in value.split(",") if v.strip()]


def build_config(
    model_cls: Any,
    *,
    config_file: Path | None = None,
    flags: dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
) -> Any:
    """The model's validated config from a JSON file, then CLI flags, then ``--set`` overrides."""
    data: dict[str, Any] = {}
    source = None
    if config_file is not None:
        try:
            data = json.loads(Path(config_file).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{config_file}: cannot read config JSON: {exc}") from None
        if isinstance(data, dict) and "config" in data and "model" in data:  # a saved model's config.json
            data = data["config"]
        if not isinstance(data, dict):
            raise ConfigError(f"{config_file}: the config must be a JSON object")
        source = str(config_file)
    data = {**data, **{k: v for k, v in (flags or {}).items() if v is not None}, **(overrides or {})}
    return model_cls.Config.from_dict(data, source=source)


def train(
    dataset: str = dataset_option(),
    data_format: str | None = data_format_option(),
    data_option: list[str] | None = data_option_option(),
    model: str = typer.Option(..., "--model", "-m", help="Model name: content, textseq, or a baseline."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder to save the trained model into."),
    id_fusion: bool | None = typer.Option(None, "--id-fusion/--no-id-fusion", help="textseq: add item IDs."),
    features: str | None = typer.Option(None, "--features", help="textseq: item columns to fuse."),
    augment: str | None = typer.Option(None, "--augment", help="textseq: crop,mask,reorder (comma list)."),
    finetune_encoder: int | None = typer.Option(
        None, "--finetune-encoder", help="textseq: unfreeze the top N encoder layers (expensive)."
    ),
    aux_rating: float | None = typer.Option(
        None, "--aux-rating", min=0.0, help="textseq: weight of the next interaction's rating head (MSE)."
    ),
    aux_sentiment: float | None = typer.Option(
        None, "--aux-sentiment", min=0.0, help="textseq: weight of the positive-rating head (BCE)."
    ),
    epochs: int | None = typer.Option(None, "--epochs", help="Training epochs (models that have them)."),
    config_file: Path | None = typer.Option(None, "--config", help="JSON file with model options."),
    set_: list[str] = typer.Option([], "--set", help="Model option key=value (repeatable; JSON values)."),
    split_kind: str = typer.Option("auto", "--split", help="auto | loo | fixed (the dataset's own split)."),
    seed: int = typer.Option(0, "--seed"),
    threads: int | None = typer.Option(None, "--threads", help="Torch threads (default: idle cores)."),
    checkpoint_dir: Path | None = typer.Option(
        None, "--checkpoint-dir", help="Checkpoint every epoch here; rerunning resumes after a kill."
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    precision: str = typer.Option("auto", "--precision", help=PRECISION_HELP),
    review_weights: Path | None = typer.Option(
        None,
        "--review-weights",
        help="Review model folder (lmrec feedback train): leave out training "
        "interactions whose review text it reads as negative.",
    ),
) -> None:
    """Train MODEL on DATASET (train part of the split, early stopping on validation), report test metrics
    and save the model to OUT."""
    from lmrec.data.split import fixed_split, leave_one_out_split
    from lmrec.models import model_class
    from lmrec.models.base import FitOptions

    device, precision = check_device(device, precision)
    cls = model_class(model)
    flags: dict[str, Any] = {
        "id_fusion": id_fusion,
        "features": _csv(features),
        "augment": _csv(augment),
        "finetune_encoder": finetune_encoder,
        "epochs": epochs,
        "aux_rating_weight": aux_rating,
        "aux_sentiment_weight": aux_sentiment,
    }
    cfg = build_config(
        cls,
        config_file=config_file,
        flags=flags,
        overrides=parse_options(set_, malformed="--set expects key=value, got {pair!r}"),
    )
    if split_kind not in ("auto", "loo", "fixed"):
        raise ConfigError(f"--split must be auto, loo or fixed, not {split_kind!r}")
    ds = open_dataset(dataset, data_format, data_option)
    use_fixed = split_kind == "fixed" or (split_kind == "auto" and ds.fixed_split is not None)
    split = fixed_split(ds) if use_fixed else leave_one_out_split(ds)
    if out.exists() and not out.is_dir():
        raise LmrecError(f"{out}: exists and is not a folder")

    rec = cls(cfg)
    t0 = time.perf_counter()
    ckpt = str(checkpoint_dir) if checkpoint_dir else None
    options = FitOptions(
        seed=seed, threads=threads, progress=progress, checkpoint_dir=ckpt, device=device, precision=precision
    )
    train_part, review_info = split.train, None
    if review_weights is not None:
        from lmrec.feedback import ReviewModel, review_filtered_training

        n_before = len(train_part)
        train_part = review_filtered_training(train_part, ReviewModel.load(review_weights))
        review_info = {"model": str(review_weights), "dropped": n_before - len(train_part)}
    rec.fit(train_part, split.valid, items=ds.items, options=options)
    if review_info is not None:
        rec.fit_info["review_filter"] = review_info
    fit_s = time.perf_counter() - t0
    from lmrec.train.distributed import is_main_process, shutdown

    if not is_main_process():  # under torchrun rank 0 evaluates, saves and prints; the others are done
        shutdown()
        return

    from lmrec.evaluate import evaluate_model

    result = evaluate_model(rec, split, ks=(10, 20), stage="test", seed=seed)
    metrics = {k: float(v) for k, v in result.metrics.items() if k.split("@")[0] in ("ndcg", "recall")}
    rec.fit_info.update(
        {
            "dataset": dataset_record(ds, dataset, data_format, data_option),
            "split": split.describe(),
            "metrics": {f"test {k}": v for k, v in metrics.items()},
            "fit_seconds": round(fit_s, 2),
        }
    )
    rec.save(out, dataset=ds)
    shown = "  ".join(f"{k} {v:.4f}" for k, v in metrics.items())
    resumed = int((rec.fit_info.get("train") or {}).get("resumed_from_epoch") or 0)
    if resumed:
        typer.echo(f"resumed from epoch {resumed} (checkpoint in {checkpoint_dir})")
    typer.echo(f"{model} on {ds.name} ({split.protocol}, split {split.hash}): {shown}  fit {fit_s:.1f}s")
    typer.echo(f"saved to {out}")
    shutdown()
