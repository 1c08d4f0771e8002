"""`lmrec quickstart`: the main job end to end on MovieLens-100K (what `make demo` runs).

Load (shared copy, download, or the PyPI-wheel fallback) -> leave-one-out split -> encode the movie texts with
the language model -> tune the baselines and train ``textseq`` with and without ID fusion -> evaluate all of
them by full ranking -> print the table, sample recommendations and the next commands -> write the HTML report
and save the best text model for ``lmrec serve``.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import typer

from lmrec.cli.data_source import data_format_option, data_option_option, open_dataset

BASELINES = "pop,itemknn,ease,als,bpr"
# Smaller grids than `lmrec evaluate --tune` (lmrec.tune.DEFAULT_GRIDS) so the whole job stays within
# minutes on 2 cores; BPR keeps the setting that the full grid chose on ML-100K validation.
QUICK_GRIDS: dict[str, dict[str, list[Any]]] = {
    "itemknn": {"k": [50, 200], "shrink": [0.0, 50.0]},
    "ease": {"l2": [100.0, 250.0, 500.0]},
    "als": {"factors": [64], "reg": [1.0], "alpha": [1.0, 5.0], "iterations": [10]},
    "bpr": {"factors": [64], "lr": [0.2], "reg": [1e-2], "epochs": [100]},
}


def quickstart(
    out: Path = typer.Option(Path("runs/quickstart"), "--out", "-o", help="Folder for the report and model."),
    dataset: str = typer.Option(
        "ml-100k", "--dataset", "-d", help="Dataset name, path, or dataset file (.toml)."
    ),
    data_format: str | None = data_format_option(),
    data_option: list[str] | None = data_option_option(),
    baselines: str = typer.Option(
        BASELINES, "--baselines", help="Baselines to tune (comma list; '' = none)."
    ),
    epochs: int = typer.Option(30, "--epochs", help="Maximum textseq epochs (early stopping on validation)."),
    textseq_seconds: float = typer.Option(
        150.0,
        "--textseq-seconds",
        help="Training time cap per textseq model (keeps the best validated epoch; 0 = no cap).",
    ),
    seed: int = typer.Option(0, "--seed"),
    users: int = typer.Option(2, "--show-users", help="How many sample users to show recommendations for."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Run the main job end to end and write OUT/report.html and OUT/model."""
    from rich.console import Console

    from lmrec.cli.evaluate import check_sizes, check_specs, print_table, run_evaluation, validation_score
    from lmrec.data import dataset_stats
    from lmrec.data.split import leave_one_out_split
    from lmrec.evaluate import (
        add_paired,
        collect_results,
        evaluate_model,
        sample_recommendations,
        verdict,
        write_report,
    )
    from lmrec.models.base import FitOptions
    from lmrec.models.catalog import write_catalog
    from lmrec.models.textseq import TextSeq
    from lmrec.text import encode_items

    console = Console()
    t_start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)

    console.rule("[bold]1. data")
    data = open_dataset(dataset, data_format, data_option, download=True)
    specs = [b.strip() for b in baselines.split(",") if b.strip()]
    check_specs(specs)
    check_sizes(specs, data)  # EASE on a catalog too large for this machine: said now, not at step 3
    stats = dataset_stats(data)
    console.print(
        f"{data.name}: {stats['users']:,} users, {stats['items']:,} items, {stats['interactions']:,} "
        f"interactions (density {stats['density']:.4f})"
    )
    split = leave_one_out_split(data)
    desc = split.describe()
    console.print(
        f"split: {desc['protocol']} — train {desc['train']:,}, valid {desc['valid']:,}, test {desc['test']:,}"
        f" (hash {desc['split_hash']})"
    )

    console.rule("[bold]2. language model: encode the item texts")
    t0 = time.perf_counter()
    vectors = encode_items(data.items, encoder="minilm", progress=progress)
    secs = time.perf_counter() - t0
    console.print(
        f"{vectors.shape[0]:,} items x {vectors.shape[1]} dims in {secs:.1f} s "
        f"({vectors.shape[0] / max(secs, 1e-9):,.0f} items/s, cached for the next run)"
    )

    console.rule("[bold]3. tuned baselines and textseq, full-ranking evaluation")
    options = FitOptions(seed=seed, progress=progress)
    evals: dict[str, Any] = {}  # per-user values, for the paired intervals against the strongest baseline
    table: dict[str, Any] = (
        run_evaluation(
            data,
            split,
            specs,
            ks=(5, 10, 20),
            tune=True,
            grids=QUICK_GRIDS,
            seed=seed,
            progress=progress,
            collected=evals,
        )
        if specs
        else {"results": {}}
    )
    text_models: dict[str, Any] = {}
    for name, id_fusion in (("textseq", False), ("textseq+id", True)):
        model = TextSeq(epochs=epochs, id_fusion=id_fusion)
        t0 = time.perf_counter()
        capped = replace(options, max_seconds=textseq_seconds or None)
        model.fit(split.train, split.valid, items=data.items, options=capped)
        fit_s = time.perf_counter() - t0
        res = evaluate_model(model, split, ks=(5, 10, 20), stage="test", seed=seed)
        row = collect_results(
            split, {name: res}, fit_seconds={name: fit_s}, params={name: model.config.to_dict()}
        )
        table.update({k: v for k, v in row.items() if k != "results"})
        table["results"][name] = row["results"][name]
        valid = validation_score(model)  # its best validated epoch, from fit_info["train"]
        if valid is not None:
            table["results"][name]["valid_ndcg@10"] = valid
        evals[name] = res
        text_models[name] = model
        tr = model.fit_info["train"]
        console.print(
            f"{name}: NDCG@10 {res.metrics['ndcg@10']:.4f} (fit {fit_s:.0f} s, best epoch "
            f"{tr['best_epoch']} of {tr['epochs_run']})"
        )
    table["split"] = desc
    for row in table["results"].values():
        row.pop("paired", None)  # compared again below, now with the text models included
    add_paired(table, evals, None, "ndcg@10")
    print_table(table, (5, 10, 20))
    console.print(verdict(table)["text"])

    # chosen on validation: picking by the test scores the table reports would flatter the pick
    best_name = max(text_models, key=lambda n: table["results"][n].get("valid_ndcg@10", float("-inf")))
    best = text_models[best_name]
    model_dir = best.save(out / "model")
    write_catalog(data, model_dir)  # external ids and titles for `lmrec recommend` / `lmrec serve`

    console.rule(f"[bold]4. sample recommendations ({best_name})")
    table["samples"] = sample_recommendations(
        best, data, model_name=best_name, users=max(users, 0), k=10, item_vectors=vectors
    )
    for sample in table["samples"]:
        console.print(f"[bold]user {sample['user']}[/bold] recently watched: {', '.join(sample['recent'])}")
        for rank, item in enumerate(sample["items"], 1):
            console.print(f"  {rank:2d}. {item['title']}")
            if item["explanation"]:
                console.print(f"      [dim]{item['explanation']}[/dim]")

    console.rule("[bold]5. report")
    (out / "results.json").write_text(json.dumps(table, indent=2, default=str), encoding="utf-8")
    page = write_report(table, out, title=f"lmrec quickstart — {data.name}")
    console.print(f"report: {page}")
    console.print(f"model:  {model_dir}")
    console.print(f"total time {time.perf_counter() - t_start:.0f} s\n")
    console.print("[bold]next steps[/bold]")
    for command in (  # whole lines, never wrapped: they are for copying
        f"lmrec recommend {model_dir} --user {data.user_ids[0]} -k 10",
        f'lmrec recommend {model_dir} --text "a funny animated film for children"',
        f"lmrec keys create --db sqlite:///{out}/store.db --name demo",
        f"lmrec serve {model_dir} --db sqlite:///{out}/store.db --report {out}",
        "lmrec evaluate --dataset amazon-scientific-unisrec --split fixed --models pop,ease,sasrec --tune",
    ):
        console.print(f"  {command}", soft_wrap=True, highlight=False)
