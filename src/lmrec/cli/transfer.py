"""`lmrec pretrain`, `lmrec adapt` and `lmrec transfer`: transfer learning across domains for textseq."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from lmrec.cli.data_source import (
    data_format_option,
    data_option_option,
    dataset_record,
    loader_options,
    open_dataset,
    parse_options,
)
from lmrec.cli.train import DEVICE_HELP, PRECISION_HELP, check_device
from lmrec.errors import ConfigError


def _overrides(items: list[str] | None) -> dict[str, Any]:
    return parse_options(items, malformed="option '--set': expected KEY=VALUE, got {pair!r}")


def _names(spec: str, option: str) -> list[str]:
    names = [s.strip() for s in spec.split(",") if s.strip()]
    if not names:
        raise ConfigError(f"option '{option}': give at least one dataset")
    return names


def _target(spec: str, data_format: str | None, data_option: list[str] | None):  # noqa: ANN202 - (dataset, split)
    from lmrec.transfer.pretrain import load_source

    src = load_source(f"{spec}:{data_format}" if data_format else spec, **loader_options(data_option))
    return src.dataset, src.split


def _pretrain(
    datasets: list[str],
    sampling: str,
    epochs: int | None,
    max_users: int | None,
    valid_users: int,
    settings: dict[str, Any],
    seed: int,
    max_seconds: float | None,
    progress: bool,
    out: Path | None,
    device: str = "auto",
    precision: str = "auto",
    meta: dict[str, Any] | None = None,
):  # noqa: ANN202 - Pretrained
    from lmrec.models.base import FitOptions
    from lmrec.models.textseq import TextSeqConfig
    from lmrec.transfer.pretrain import PretrainConfig, load_source, pretrain

    ts = dict(settings)
    if epochs is not None:
        ts["epochs"] = epochs
    cfg = PretrainConfig(
        textseq=TextSeqConfig.from_dict(ts, source="--set"),
        sampling=sampling,  # type: ignore[arg-type]
        max_users=max_users,
        valid_users=valid_users,
    )
    sources = [load_source(n) for n in datasets]
    ckpt = str(out / "checkpoints") if out is not None else None
    opts = FitOptions(
        seed=seed,
        progress=progress,
        max_seconds=max_seconds,
        checkpoint_dir=ckpt,
        device=device,
        precision=precision,
    )
    if meta is not None:
        from lmrec.transfer.meta import MetaConfig, meta_pretrain

        mc = MetaConfig.from_dict(meta, source="--meta options")
        pre = meta_pretrain(
            sources, cfg, mc, opts, log=(lambda s: typer.echo(s, err=True)) if progress else None
        )
    else:
        pre = pretrain(sources, cfg, opts)
    if out is not None:
        pre.save(out)
    return pre


def _meta_options(algorithm: str | None, settings: list[str]) -> dict[str, Any] | None:
    from lmrec.transfer.meta import ALGORITHMS

    if algorithm is None:
        if settings:
            raise ConfigError("option '--meta-set': give --meta reptile|fomaml too")
        return None
    if algorithm not in ALGORITHMS:
        raise ConfigError(f"option '--meta': must be one of {', '.join(ALGORITHMS)}, not {algorithm!r}")
    return {"algorithm": algorithm, **_overrides(settings)}


def pretrain_cmd(
    datasets: str = typer.Option(
        ...,
        "--datasets",
        "-d",
        help="Source datasets: names, PATH:FORMAT or dataset files (.toml), comma list.",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder for the pretrained model."),
    sampling: str = typer.Option(
        "proportional", "--sampling", help="proportional | balanced domain sampling."
    ),
    epochs: int | None = typer.Option(None, "--epochs", min=1, help="Maximum epochs (early stop on valid)."),
    max_users: int | None = typer.Option(None, "--max-users", min=2, help="Training users per source."),
    valid_users: int = typer.Option(
        1000, "--valid-users", min=0, help="Validation users per source (0: all)."
    ),
    settings: list[str] = typer.Option([], "--set", help="textseq config KEY=JSON (dim=64, n_layers=2...)."),
    seed: int = typer.Option(0, "--seed"),
    max_seconds: float = typer.Option(
        1800.0, "--max-seconds", min=0.0, help="Stop training after this long, in seconds (0: no cap)."
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    precision: str = typer.Option("auto", "--precision", help=PRECISION_HELP),
    meta: str | None = typer.Option(
        None,
        "--meta",
        help="Meta-learn the initialisation: reptile | fomaml (tasks = groups of one source's users).",
    ),
    meta_settings: list[str] = typer.Option(
        [], "--meta-set", help="Meta-learning KEY=JSON: inner_steps, inner_lr, outer_lr, task_users."
    ),
) -> None:
    """Pretrain one textseq (transformer + shared adaptor) on several source domains at once.

    With --meta, the same budget (epochs of as many gradient steps as plain pretraining) goes to meta-learning
    an initialisation that adapts in few steps (Reptile or first-order MAML, see lmrec.transfer.meta)."""
    device, precision = check_device(device, precision)
    meta_cfg = _meta_options(meta, meta_settings)
    pre = _pretrain(
        _names(datasets, "--datasets"),
        sampling,
        epochs,
        max_users,
        valid_users,
        _overrides(settings),
        seed,
        max_seconds or None,
        progress,
        out,
        device,
        precision,
        meta_cfg,
    )
    for d in pre.domains:
        typer.echo(
            f"{d.name}: {d.n_users} users, {d.n_items} items, valid NDCG@10 "
            f"{d.metrics.get('ndcg@10', float('nan')):.4f}"
        )
    typer.echo(f"saved pretrained model ({pre.n_parameters():,} parameters) to {out}")


def adapt_cmd(
    pretrained_dir: Path = typer.Argument(..., help="A folder written by `lmrec pretrain`."),
    dataset: str = typer.Option(..., "--dataset", "-d", help="Target dataset (name, path or PATH:FORMAT)."),
    data_format: str | None = data_format_option(),
    data_option: list[str] | None = data_option_option(),
    mode: str = typer.Option(
        "adaptor", "--mode", "-m", help="zero-shot | adaptor | full | full+id | auto (the transfer guard)."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Output model folder (a textseq model)."),
    align: str = typer.Option("whiten", "--align", help="whiten | coral | none (target vector alignment)."),
    settings: list[str] = typer.Option([], "--set", help="Training fields KEY=JSON (epochs, lr, ...)."),
    seed: int = typer.Option(0, "--seed"),
    max_seconds: float | None = typer.Option(None, "--max-seconds"),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    precision: str = typer.Option("auto", "--precision", help=PRECISION_HELP),
) -> None:
    """Adapt a pretrained textseq to a target dataset and save it as a textseq model folder."""
    from lmrec.models.base import FitOptions
    from lmrec.models.catalog import write_catalog
    from lmrec.transfer.adapt import adapt
    from lmrec.transfer.guard import guard
    from lmrec.transfer.pretrain import Pretrained

    device, precision = check_device(device, precision)
    pre = Pretrained.load(pretrained_dir)
    ds, split = _target(dataset, data_format, data_option)
    opts = FitOptions(
        seed=seed, progress=progress, max_seconds=max_seconds, device=device, precision=precision
    )
    ov = _overrides(settings)
    if mode == "auto":
        res = guard(pre, ds, split, overrides=ov, align=align, options=opts)
        res.save(out)
        write_catalog(ds, out)  # external ids for `lmrec recommend` / `lmrec serve`
        for name, m in res.metrics.items():
            typer.echo(f"{name}: valid NDCG@10 {m['ndcg@10']:.4f}")
        typer.echo(f"guard chose {res.choice}; saved to {out}")
        return
    model = adapt(pre, ds, split, mode=mode, align=align, overrides=ov, options=opts)
    info = model.fit_info.get("transfer", {})
    if "trainable_parameters" in info:
        typer.echo(
            f"trained {info['trainable_parameters']:,} of {info['total_parameters']:,} parameters "
            f"(mode {mode})"
            if mode != "zero-shot"
            else f"zero-shot: no parameter trained (mode {mode})"
        )
    model.save(out, dataset=ds)
    typer.echo(f"saved textseq model to {out}")


def transfer_cmd(
    sources: str = typer.Option(..., "--sources", "-s", help="Source datasets, comma list."),
    target: str = typer.Option(..., "--target", "-t", help="Target dataset: a name, a path, or PATH:FORMAT."),
    target_format: str | None = typer.Option(
        None, "--target-format", "--data-format", help="Format of a --target path when it cannot be detected."
    ),
    data_option: list[str] | None = data_option_option(),
    json_out: Path | None = typer.Option(
        None, "--json", help="Also write the result rows, their summary and the setup to this JSON file."
    ),
    fractions: str = typer.Option(
        "0,0.1,1.0", "--fractions", help="Shares of target training users (0 = zero-shot)."
    ),
    seeds: int = typer.Option(1, "--seeds", min=1, help="Number of seeds (0..N-1)."),
    report: Path = typer.Option(
        ..., "--report", "-r", help="Output folder: REPORT/report.html, results.json, learning_curve.png."
    ),
    pretrained_dir: Path | None = typer.Option(
        None, "--pretrained", help="Reuse this pretrained folder instead of pretraining on --sources."
    ),
    meta_dir: Path | None = typer.Option(
        None,
        "--meta-pretrained",
        help="A folder from `lmrec pretrain --meta`: adds the row meta-full (give it in --models too).",
    ),
    models: str = typer.Option(
        "zero-shot,content,adaptor,full,scratch,sasrec,ease,pop,guard",
        "--models",
        help="Which rows: zero-shot, content, adaptor, full, meta-full, scratch, sasrec, ease, pop, guard.",
    ),
    epochs: int | None = typer.Option(None, "--epochs", min=1, help="Max epochs (pretraining and target)."),
    max_users: int | None = typer.Option(None, "--max-users", min=2, help="Pretraining users per source."),
    settings: list[str] = typer.Option([], "--set", help="textseq config KEY=JSON for pretraining."),
    max_seconds: float = typer.Option(
        600.0, "--max-seconds", min=0.0, help="Cap per target training run in seconds (0: none)."
    ),
    pretrain_seconds: float = typer.Option(
        1800.0, "--pretrain-seconds", min=0.0, help="Cap on pretraining in seconds (0: none)."
    ),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    cold_items: float = typer.Option(
        0.0,
        "--cold-items",
        min=0.0,
        max=0.45,
        help="Also run the rows on an item cold-start split of the target: this share of its items held "
        "out of training (0.1: 10% validation items, 10% test items); 0 = off.",
    ),
) -> None:
    """Learning curve of transfer vs from-scratch over shares of target training users; HTML report."""
    from lmrec.transfer.experiment import (
        format_table,
        run_transfer_experiment,
        summarize,
        write_transfer_report,
    )
    from lmrec.transfer.pretrain import Pretrained

    device, _ = check_device(device)
    try:
        fr = [float(x) for x in fractions.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"option '--fractions': not a comma list of numbers: {fractions!r}") from None
    src_names = _names(sources, "--sources")
    if pretrained_dir is not None:
        pre = Pretrained.load(pretrained_dir)
    else:
        pre = _pretrain(
            src_names,
            "proportional",
            epochs,
            max_users,
            1000,
            _overrides(settings),
            0,
            pretrain_seconds or None,
            False,
            report / "pretrained",
            device,
        )
        train = pre.info.get("train", {})
        capped = " (stopped by --pretrain-seconds)" if train.get("stopped_on_time") else ""
        typer.echo(
            f"pretrained on {', '.join(d.name for d in pre.domains)}: {train.get('epochs_run')} epochs in "
            f"{train.get('seconds', 0):.0f}s{capped}",
            err=True,
        )
    meta_pre = Pretrained.load(meta_dir) if meta_dir is not None else None
    ds, split = _target(target, target_format, data_option)
    ov = {"epochs": epochs} if epochs is not None else {}
    rows = run_transfer_experiment(
        pre,
        ds,
        split,
        fr,
        list(range(seeds)),
        models=_names(models, "--models"),
        meta=meta_pre,
        overrides=ov,
        max_seconds=max_seconds or None,
        log=lambda s: typer.echo(s, err=True),
        device=device,
        cold_items=cold_items,
    )
    meta = {
        "sources": [d.name for d in pre.domains],
        "target": target,
        "target_options": parse_options(data_option),
        "split": split.protocol,
        "split_hash": split.hash,
        "fractions": fr,
        "seeds": seeds,
        "cold_items": cold_items or None,
        "pretrain_valid_ndcg@10": pre.info.get("train", {}).get("best_metric"),
        "pretrain_seconds": pre.info.get("train", {}).get("seconds"),
        "pretrain_epochs": pre.info.get("train", {}).get("epochs_run"),
    }
    if meta_pre is not None:
        mt = meta_pre.info.get("train", {})
        meta["meta_pretraining"] = {**meta_pre.info.get("meta", {}), "epochs": mt.get("epochs_run")}
        meta["meta_pretrain_valid_ndcg@10"] = mt.get("best_metric")
    page = write_transfer_report(rows, report, title=f"Transfer {sources} -> {target}", meta=meta)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        payload = {"setup": meta, "rows": rows, "summary": summarize(rows)}
        json_out.write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
    typer.echo(format_table(summarize(rows)))
    typer.echo(f"report: {page}")


def distill_cmd(
    teacher_dir: Path = typer.Argument(..., help="A trained textseq model folder (the teacher)."),
    dataset: str = typer.Option(..., "--dataset", "-d", help="The dataset the teacher was trained on."),
    data_format: str | None = data_format_option(),
    data_option: list[str] | None = data_option_option(),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder for the student (a textseq model)."),
    dim: int = typer.Option(32, "--dim", min=4, help="Student width."),
    layers: int = typer.Option(1, "--layers", min=1, help="Student transformer layers."),
    heads: int | None = typer.Option(None, "--heads", min=1, help="Student heads (default: teacher's)."),
    id_fusion: bool | None = typer.Option(
        None, "--id-fusion/--no-id-fusion", help="Student item IDs (default: as the teacher)."
    ),
    temperature: float = typer.Option(2.0, "--temperature", "-T", help="Softmax temperature of the KL."),
    alpha: float = typer.Option(0.5, "--alpha", help="Weight of the KL term (1 - alpha: next-item CE)."),
    epochs: int | None = typer.Option(None, "--epochs", min=1, help="Maximum epochs (early stop on valid)."),
    settings: list[str] = typer.Option([], "--set", help="Student textseq config KEY=JSON."),
    split_kind: str = typer.Option("auto", "--split", help="auto | loo | fixed (as `lmrec train`)."),
    seed: int = typer.Option(0, "--seed"),
    threads: int | None = typer.Option(None, "--threads"),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    precision: str = typer.Option("auto", "--precision", help=PRECISION_HELP),
) -> None:
    """Distill a trained textseq (teacher) into a smaller textseq (student) with a KL loss on the teacher's
    score distribution over the catalog; evaluate both on the test split and save the student."""
    import time

    from lmrec.compress import directory_bytes
    from lmrec.data.split import fixed_split, leave_one_out_split
    from lmrec.evaluate import evaluate_model
    from lmrec.models.base import FitOptions, read_model_meta
    from lmrec.models.catalog import write_catalog
    from lmrec.models.textseq import TextSeq
    from lmrec.transfer.distill import distill, n_parameters, student_config

    device, precision = check_device(device, precision)
    if split_kind not in ("auto", "loo", "fixed"):
        raise ConfigError(f"option '--split': must be auto, loo or fixed, not {split_kind!r}")
    meta = read_model_meta(teacher_dir)
    if meta["model"] != "textseq":
        raise ConfigError(f"{teacher_dir}: the teacher must be a textseq model, not {meta['model']!r}")
    teacher = TextSeq.load(teacher_dir).to(device)
    ds = open_dataset(dataset, data_format, data_option)
    use_fixed = split_kind == "fixed" or (split_kind == "auto" and ds.fixed_split is not None)
    split = fixed_split(ds) if use_fixed else leave_one_out_split(ds)
    recorded = (teacher.fit_info.get("split") or {}).get("split_hash")
    if recorded and recorded != split.hash:
        # a teacher trained on another split has seen the student's test events: its scores would leak them
        raise ConfigError(
            f"--dataset {dataset}: its split ({split.hash}) is not the one the teacher was trained on "
            f"({recorded})"
        )
    changes: dict[str, Any] = {"dim": dim, "n_layers": layers, "n_heads": heads, "id_fusion": id_fusion}
    if epochs is not None:
        changes["epochs"] = epochs
    cfg = student_config(teacher, **changes, **_overrides(settings))
    opts = FitOptions(seed=seed, threads=threads, progress=progress, device=device, precision=precision)
    t0 = time.perf_counter()
    student = distill(
        teacher,
        split.train,
        split.valid,
        cfg,
        items=ds.items,
        temperature=temperature,
        alpha=alpha,
        options=opts,
    )
    fit_s = time.perf_counter() - t0
    metrics = {}
    for name, model in (("teacher", teacher), ("student", student)):
        res = evaluate_model(model, split, ks=(10,), stage="test", seed=seed)
        metrics[name] = {k: float(res.metrics[k]) for k in ("ndcg@10", "recall@10")}
    student.fit_info.update(
        {
            "dataset": dataset_record(ds, dataset, data_format, data_option),
            "split": split.describe(),
            "metrics": {f"test {k}": v for k, v in metrics["student"].items()},
            "fit_seconds": round(fit_s, 2),
        }
    )
    student.fit_info["distill"]["teacher_metrics"] = {f"test {k}": v for k, v in metrics["teacher"].items()}
    student.fit_info["distill"]["teacher_dir"] = str(teacher_dir)
    student.save(out)
    write_catalog(ds, out)
    sizes = {"teacher": directory_bytes(teacher_dir), "student": directory_bytes(out)}
    params = {"teacher": n_parameters(teacher.module), "student": n_parameters(student.module)}
    for name in ("teacher", "student"):
        m = metrics[name]
        typer.echo(
            f"{name}: {params[name]:,} parameters, {sizes[name] / 1e6:.2f} MB, test NDCG@10 "
            f"{m['ndcg@10']:.4f} Recall@10 {m['recall@10']:.4f}"
        )
    typer.echo(f"distilled in {fit_s:.1f}s (T={temperature}, alpha={alpha}); saved to {out}")


__all__ = ["adapt_cmd", "distill_cmd", "pretrain_cmd", "transfer_cmd"]
