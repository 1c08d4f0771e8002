"""`lmrec datasets ...`: list the catalog, print statistics, download."""

from __future__ import annotations

import json

import typer

from lmrec.cli.data_source import FORMAT_HELP, OPTION_HELP, open_dataset

app = typer.Typer(help="List, inspect and download datasets.", no_args_is_help=True)


@app.command("list")
def list_datasets() -> None:
    """The named datasets, their format and where (if anywhere) their files were found."""
    from rich.console import Console
    from rich.table import Table

    from lmrec.data.download import DOWNLOADERS
    from lmrec.data.registry import CATALOG, locate
    from lmrec.errors import DataError

    table = Table(title="lmrec datasets")
    table.add_column("name", no_wrap=True)
    for col in ("format", "domain", "found at", "get it with"):
        table.add_column(col, overflow="fold")
    for name, entry in CATALOG.items():
        try:
            found = locate(name)
            where = str(found[0]) if found else "-"
        except DataError as exc:  # a folder that is there but incomplete
            found, where = None, f"incomplete: {exc}"
        table.add_row(
            name,
            found[1].format if found else entry.format,
            entry.domain,
            where,
            f"lmrec datasets download {name}" if name in DOWNLOADERS else (entry.url or entry.home),
        )
    Console().print(table)


@app.command()
def stats(
    name_or_path: str = typer.Argument(
        ..., help="a dataset name (see `lmrec datasets list`), a path, or a dataset file (.toml)"
    ),
    format: str | None = typer.Option(None, "--format", "--data-format", "-f", help=FORMAT_HELP),
    option: list[str] | None = typer.Option(None, "--option", "--data-option", "-o", help=OPTION_HELP),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    no_cache: bool = typer.Option(False, "--no-cache", help="parse the files even when a cached copy exists"),
) -> None:
    """Users, items, interactions, density, sequence lengths, text coverage and ratings of a dataset."""
    from lmrec.data.stats import dataset_stats

    data = open_dataset(name_or_path, format, option, cache=not no_cache)
    info = dataset_stats(data)
    if as_json:
        typer.echo(json.dumps(info))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{info['name']} ({info['format']}, domain {info['domain']})", show_header=False)
    table.add_column("statistic")
    table.add_column("value", justify="right")
    for key in ("users", "items", "interactions", "items_with_events", "distinct_pairs"):
        table.add_row(key, f"{info[key]:,}")
    table.add_row("density", f"{info['density']:.5f}")
    seq = info["sequence_length"]
    table.add_row("events per user (mean)", f"{seq['mean']:.1f}")
    table.add_row(
        "events per user (min/25/50/75/90/max %)", " / ".join(f"{seq[k]:g}" for k in seq if k != "mean")
    )
    table.add_row("items with text", f"{info['items_with_text']:.1%}")
    table.add_row("text fields", ", ".join(info["text_fields"]) or "-")
    hist = info["rating_histogram"]
    table.add_row("ratings", ", ".join(f"{k}: {v:,}" for k, v in hist.items()) if hist else "-")
    if "fixed_split" in info:
        table.add_row("fixed split", ", ".join(f"{k} {v:,}" for k, v in info["fixed_split"].items()))
    Console().print(table)


@app.command()
def download(
    name: str = typer.Argument(..., help="a dataset name (see `lmrec datasets list`)"),
    force: bool = typer.Option(False, "--force", help="download again even when the files are present"),
    no_fallback: bool = typer.Option(False, "--no-fallback", help="fail instead of using a mirror copy"),
) -> None:
    """Fetch a dataset from its public home (sha256-checked) into the user cache."""
    from lmrec.data.download import download as fetch

    folder = fetch(name, force=force, fallback=not no_fallback, log=lambda msg: typer.echo(msg, err=True))
    typer.echo(str(folder))
