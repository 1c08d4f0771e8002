"""`lmrec evaluate`: fit (optionally tune) several models on one split and compare them by full ranking.

    lmrec evaluate --dataset ml-100k --models pop,itemknn,ease,bpr,als,sasrec --tune --json out.json

``--models`` takes registered names (fitted on the training part here) and saved model folders (evaluated as
they are). With ``--tune`` each named model is grid-searched on the validation part first
(:mod:`lmrec.tune`). ``--compare-to NAME`` adds each other model's NDCG@10 ratio to that one, user by
user, with a bootstrap interval and a p-value (:func:`lmrec.evaluate.paired_comparison`; in the JSON under
``paired``); without it the reference is the strongest baseline (:func:`lmrec.evaluate.add_paired`).
``--json`` writes ``{protocol, split_hash, dataset, results: {model: {metric: value, ...,
fit_seconds, eval_seconds, params}}}``; ``--report DIR`` renders it with :func:`lmrec.evaluate.write_report`.
"""

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
    open_dataset,
    parse_options,
)
from lmrec.cli.train import DEVICE_HELP, PRECISION_HELP, SET_MALFORMED
from lmrec.errors import ConfigError, LmrecError

SPLITS = ("auto", "loo", "temporal", "random", "fixed")
DEFAULT_MODELS = "pop,itemknn,ease,bpr,als,sasrec"


def parse_ks(value: str) -> tuple[int, ...]:
    """``"5,10,20"`` -> (5, 10, 20) with a one-line error for anything else."""
    try:
        ks = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise ConfigError(f"--k expects comma-separated positive integers, got {value!r}") from None
    if not ks or min(ks) <= 0:
        raise ConfigError(f"--k expects comma-separated positive integers, got {value!r}")
    return ks


def parse_model_options(pairs: list[str]) -> dict[str, dict[str, Any]]:
    """``model.key=value`` pairs -> {model: {key: value}} (values parsed as JSON when possible)."""

    out: dict[str, dict[str, Any]] = {}
    for key, value in parse_options(pairs, malformed=SET_MALFORMED).items():
        model, dot, option = key.partition(".")
        if not dot or not model or not option:
            raise ConfigError(f"--set expects model.option=value (e.g. ease.l2=200), got {key!r}")
        out.setdefault(model, {})[option] = value
    return out


def make_split(dataset: Any, kind: str, seed: int = 0) -> Any:
    """The split named ``kind`` (see ``SPLITS``) of ``dataset``."""
    from lmrec.data import split as splits

    if kind not in SPLITS:
        raise ConfigError(f"--split must be one of {', '.join(SPLITS)}, not {kind!r}")
    if kind == "auto":
        kind = "fixed" if dataset.fixed_split is not None else "loo"
    if kind == "fixed":
        if dataset.fixed_split is None:
            raise LmrecError(f"dataset '{dataset.name}' has no fixed split of its own; use --split loo")
        return splits.fixed_split(dataset)
    if kind == "temporal":
        return splits.temporal_split(dataset)
    if kind == "random":
        return splits.random_split(dataset, seed=seed)
    return splits.leave_one_out_split(dataset)


def check_specs(specs: list[str], model_options: dict[str, dict[str, Any]] | None = None) -> None:
    """Every entry of ``--models`` (a registered name or a saved model folder) and every ``--set`` option
    is checked before anything is fitted: a typo in the last name must not cost the fits of the others."""
    from lmrec.models import MODELS, model_class
    from lmrec.models.base import read_model_meta

    for spec in specs:
        if spec in MODELS:
            cls = model_class(spec)
            cls.Config.from_dict((model_options or {}).get(spec, {}), source=f"--set {spec}.*")
        elif Path(spec).is_dir():
            read_model_meta(Path(spec))
        else:
            raise ConfigError(
                f"--models: unknown model '{spec}' (not a model name nor a saved model folder); known: "
                f"{', '.join(sorted(MODELS))}"
            )
    unknown = sorted(set(model_options or {}) - set(specs))
    if unknown:
        raise ConfigError(f"--set names model(s) not in --models: {', '.join(unknown)}")


def check_sizes(
    specs: list[str], dataset: Any, model_options: dict[str, dict[str, Any]] | None = None
) -> None:
    """Once the data is loaded: a model this machine cannot fit on its catalog (EASE's dense solve) is a
    one-line error now, not after the other models were fitted."""
    from lmrec.models import MODELS, model_class

    for spec in specs:
        if spec in MODELS:
            cls = model_class(spec)
            config = cls.Config.from_dict((model_options or {}).get(spec, {}), source=f"--set {spec}.*")
            cls(config).check_size(dataset.n_users, dataset.n_items)


def run_evaluation(
    dataset: Any,
    split: Any,
    specs: list[str],
    *,
    ks: tuple[int, ...] = (5, 10, 20),
    tune: bool = False,
    model_options: dict[str, dict[str, Any]] | None = None,
    grids: dict[str, dict[str, list[Any]]] | None = None,
    seed: int = 0,
    threads: int | None = None,
    progress: bool = False,
    test_history: str = "train_valid",
    compare_to: str | None = None,
    samples: int = 0,
    collected: dict[str, Any] | None = None,
    device: str = "auto",
    precision: str = "auto",
) -> dict[str, Any]:
    """Fit/tune/load every model in ``specs`` and evaluate it on the test part; the results dict of
    :func:`lmrec.evaluate.collect_results` (``fit_seconds`` of a tuned model = the chosen configuration's fit;
    ``tune_seconds`` = all trials). ``compare_to`` (one of ``specs``): every other model's row gets
    ``"paired"``, its user-by-user comparison with that model on NDCG@10 (or the largest K) from
    :func:`lmrec.evaluate.paired_comparison`; without it the reference is the strongest baseline
    (:func:`lmrec.evaluate.add_paired`). ``samples``: that many users' recommendations from the model the
    verdict recommends, with explanations (``"samples"``, :func:`lmrec.evaluate.sample_recommendations`).
    ``collected``: filled with ``{name: EvalResult}`` (per-user values for later comparisons)."""
    from lmrec.evaluate import (
        add_paired,
        collect_results,
        evaluate_model,
        sample_recommendations,
        verdict,
    )
    from lmrec.models import MODELS, load_model, model_class
    from lmrec.models.base import FitOptions

    model_options = model_options or {}
    check_specs(specs, model_options)
    if compare_to is not None and compare_to not in specs:
        raise ConfigError(f"--compare-to {compare_to!r} is not one of --models ({', '.join(specs)})")
    results: dict[str, Any] = {}
    fit_seconds: dict[str, float] = {}
    params: dict[str, dict[str, Any]] = {}
    extra: dict[str, dict[str, Any]] = {}
    fitted: dict[str, Any] = {}  # kept only for the sample recommendations
    options = FitOptions(seed=seed, threads=threads, progress=progress, device=device, precision=precision)
    names: dict[str, str] = {}  # spec -> result name
    for spec in specs:
        path = Path(spec)
        if spec not in MODELS and path.is_dir():
            model = load_model(path).to(device)  # saved models load on the CPU; score where asked
            if model.n_items != dataset.n_items or model.n_users != dataset.n_users:
                raise LmrecError(
                    f"{path}: model has {model.n_users} users x {model.n_items} items, dataset "
                    f"'{dataset.name}' has {dataset.n_users} x {dataset.n_items}"
                )
            name = _unique(f"{model.name}:{path.name}", results)
            params[name] = model.config.to_dict()
            if "fit_seconds" in model.fit_info:
                fit_seconds[name] = float(model.fit_info["fit_seconds"])
            extra[name] = {"source": str(path)}
        else:
            cls = model_class(spec)  # one-line error for unknown names
            name = _unique(spec, results)
            if tune:
                from lmrec.tune import tune_model

                grid = (grids or {}).get(spec)
                res = tune_model(
                    spec,
                    split,
                    grid,
                    base_params=model_options.get(spec),
                    items=dataset.items,
                    options=options,
                    progress=progress,
                )
                model = res.model
                fit_seconds[name] = res.fit_seconds
                extra[name] = {
                    "tune_seconds": res.tune_seconds,
                    f"valid_{res.metric}": res.score,
                    "trials": [
                        {"params": t.params, "valid": t.score, "fit_seconds": t.fit_seconds}
                        for t in res.trials
                    ],
                    # the first trial with the best score is the one tune_model keeps (ties: first in grid)
                    "chosen_trial": next(i for i, t in enumerate(res.trials) if t.score == res.score),
                }
            else:
                model = cls(cls.Config.from_dict(model_options.get(spec, {}), source=f"--set {spec}.*"))
                t0 = time.perf_counter()
                model.fit(split.train, split.valid, items=dataset.items, options=options)
                fit_seconds[name] = time.perf_counter() - t0
            params[name] = model.config.to_dict()
        names[spec] = name
        results[name] = evaluate_model(
            model, split, ks=ks, stage="test", seed=seed, progress=progress, test_history=test_history
        )
        if "train" in model.fit_info:  # models trained epoch by epoch
            extra.setdefault(name, {})["epochs"] = model.fit_info["train"]["epochs_run"]
        valid = validation_score(model)
        if valid is not None and "valid_ndcg@10" not in extra.get(name, {}):
            extra.setdefault(name, {})["valid_ndcg@10"] = valid
        if samples > 0:
            fitted[name] = model
    out = collect_results(split, results, fit_seconds=fit_seconds, params=params)
    for name, values in extra.items():
        out["results"][name].update(values)
    metric = f"ndcg@{10 if 10 in ks else max(ks)}"
    add_paired(out, results, names[compare_to] if compare_to is not None else None, metric)
    out["split"] = split.describe()
    if collected is not None:
        collected.update(results)
    if samples > 0:
        chosen = verdict(out, metric)["model"]
        out["samples"] = sample_recommendations(fitted[chosen], dataset, model_name=chosen, users=samples)
    return out


def validation_score(model: Any) -> float | None:
    """The model's best validation NDCG@10 from its own training record (``fit_info["train"]``, models
    trained epoch by epoch, e.g. textseq and SASRec), or None when it did not validate on NDCG@10."""
    import math

    train = (getattr(model, "fit_info", None) or {}).get("train") or {}
    value = train.get("best_metric")
    if train.get("monitor", "ndcg@10") != "ndcg@10" or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) and train.get("best_epoch", 0) > 0 else None


def _unique(name: str, taken: dict[str, Any]) -> str:
    if name not in taken:
        return name
    i = 2
    while f"{name}#{i}" in taken:
        i += 1
    return f"{name}#{i}"


def print_table(data: dict[str, Any], ks: tuple[int, ...]) -> None:
    """A rich table: NDCG and Recall at every K, fit and evaluation seconds; best value per column bold."""
    from rich.console import Console
    from rich.table import Table

    res = data["results"]
    cols = [f"{m}@{k}" for m in ("ndcg", "recall") for k in ks]
    title = f"{data['dataset']} — {data['protocol']}"
    if data["split_hash"] not in title:  # the protocol usually names its split already
        title += f" (split {data['split_hash']})"
    table = Table(title=title)
    table.add_column("model")
    paired = next((r["paired"] for r in res.values() if "paired" in r), None)
    extra_cols = [f"{paired['metric']} / {paired['baseline']} [95% CI]", "p"] if paired else []
    for c in (*cols, *extra_cols, "fit s", "eval s"):
        table.add_column(c, justify="right")
    best = {c: max((r.get(c, float("-inf")) for r in res.values()), default=None) for c in cols}
    for name, r in res.items():
        cells = []
        for c in cols:
            v = r.get(c)
            text = "–" if v is None else f"{v:.4f}"
            cells.append(f"[bold]{text}[/bold]" if v is not None and v == best[c] else text)
        if paired:
            cmp = r.get("paired")
            cells += (
                [
                    f"{cmp['ratio']:.3f} [{cmp['ratio_ci'][0]:.3f}, {cmp['ratio_ci'][1]:.3f}]",
                    f"{cmp['p_value']:.2g}",
                ]
                if cmp
                else ["baseline", ""]
            )
        fit = r.get("fit_seconds")
        cells += ["–" if fit is None else f"{fit:.1f}", f"{r.get('eval_seconds', 0.0):.1f}"]
        table.add_row(name, *cells)
    import sys

    # a pipe or log file gets a wide table instead of rich's 80-column default (numbers would be cut)
    Console(width=None if sys.stdout.isatty() else 140).print(table)


def evaluate(
    dataset: str = dataset_option(),
    data_format: str | None = data_format_option(),
    data_option: list[str] | None = data_option_option(),
    models: str = typer.Option(
        DEFAULT_MODELS, "--models", "-m", help="Comma list of model names and/or saved model folders."
    ),
    split_kind: str = typer.Option("auto", "--split", help="auto | loo | temporal | random | fixed."),
    k: str = typer.Option("5,10,20", "--k", help="Cut-offs, comma separated."),
    tune: bool = typer.Option(False, "--tune/--no-tune", help="Grid-search each model on validation first."),
    json_out: Path | None = typer.Option(None, "--json", help="Write the results as JSON here."),
    report: Path | None = typer.Option(
        None, "--report", help="Write DIR/report.html (verdict, intervals, plots, sample recommendations)."
    ),
    set_: list[str] = typer.Option([], "--set", help="model.option=value (repeatable; JSON values)."),
    test_history: str = typer.Option(
        "train_valid", "--test-history", help="Model input at test time: train_valid (default) or train."
    ),
    seed: int = typer.Option(0, "--seed"),
    threads: int | None = typer.Option(None, "--threads", help="Torch threads for neural models."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    compare_to: str | None = typer.Option(
        None,
        "--compare-to",
        help="A model of --models: compare each other model's NDCG@10 with it, user by user (95% bootstrap "
        "interval of the ratio, paired t-test's p). Default: the strongest baseline.",
    ),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    precision: str = typer.Option("auto", "--precision", help=PRECISION_HELP),
) -> None:
    """Fit (or --tune, or load) each model, evaluate on the test split by full ranking, print a table."""
    from lmrec.cli.train import check_device

    device, precision = check_device(device, precision)
    ks = parse_ks(k)
    specs = [m.strip() for m in models.split(",") if m.strip()]
    if not specs:
        raise ConfigError("--models is empty")
    options = parse_model_options(set_)
    check_specs(specs, options)  # before loading data or fitting anything
    ds = open_dataset(dataset, data_format, data_option)
    check_sizes(specs, ds, options)
    split = make_split(ds, split_kind, seed)
    data = run_evaluation(
        ds,
        split,
        specs,
        ks=ks,
        tune=tune,
        model_options=options,
        seed=seed,
        threads=threads,
        progress=progress,
        test_history=test_history,
        compare_to=compare_to,
        samples=3 if report is not None else 0,
        device=device,
        precision=precision,
    )
    print_table(data, ks)
    from lmrec.evaluate import verdict

    typer.echo(verdict(data, f"ndcg@{10 if 10 in ks else max(ks)}")["text"])
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
        typer.echo(f"results written to {json_out}")
    if report is not None:
        from lmrec.evaluate import write_report

        page = write_report(data, report)
        typer.echo(f"report written to {page}")
