"""The one dataset a command reads: a name (``lmrec datasets list``) or a path, with ``--data-format`` and
``--data-option KEY=VALUE`` for a user's own files (a table's column names, a second file with the item texts,
...), and the record a saved model keeps of it so that later commands read the same data again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from lmrec.errors import ConfigError, LmrecError

if TYPE_CHECKING:
    from lmrec.data import Dataset

FORMAT_HELP = "Format of a dataset path when it cannot be detected (table, recbole, amazon-2018, ...)."
OPTION_HELP = (
    "Loader option KEY=VALUE for a dataset path, repeatable: for a CSV/TSV/Parquet/JSON-lines table "
    "user=COLUMN, item=COLUMN, time=COLUMN, items_path=FILE (item texts), item_text=COLUMN,COLUMN."
)


DATASET_HELP = "Dataset name (see `lmrec datasets list`), path, or dataset file (.toml)."


def dataset_option() -> Any:
    return typer.Option(..., "--dataset", "-d", help=DATASET_HELP)


def data_format_option() -> Any:
    return typer.Option(None, "--data-format", metavar="FORMAT", help=FORMAT_HELP)


def data_option_option() -> Any:
    return typer.Option(None, "--data-option", metavar="KEY=VALUE", help=OPTION_HELP)


def parse_options(
    pairs: list[str] | None, *, malformed: str = "option {pair!r} must look like KEY=VALUE"
) -> dict[str, Any]:
    """``KEY=VALUE`` pairs (of ``--data-option``, ``--set``, ...); values are read as JSON when they parse
    (numbers, lists, true/false). A pair without ``=`` or key is a ConfigError with ``malformed`` (formatted
    with ``pair``) as its message."""
    options: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(malformed.format(pair=pair))
        try:
            options[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip()] = value
    return options


def open_dataset(
    spec: str, data_format: str | None = None, data_option: list[str] | None = None, **kwargs: Any
) -> Dataset:
    """The dataset named or found at ``spec``, read with the command line's format and loader options
    (``kwargs`` go to :func:`lmrec.data.load_dataset`: ``download``, ``cache``)."""
    from lmrec.data import load_dataset

    return load_dataset(spec, data_format, **kwargs, **loader_options(data_option))


def loader_options(data_option: list[str] | None) -> dict[str, Any]:
    """``--data-option`` pairs as loader options; ``load_dataset``'s own arguments are refused here."""
    options = parse_options(data_option)
    for key in ("format", "cache", "download"):
        if key in options:
            raise LmrecError(f"--data-option {key}=...: not a loader option (the format is --data-format)")
    return options


def dataset_record(
    ds: Dataset, spec: str, data_format: str | None = None, data_option: list[str] | None = None
) -> dict[str, Any]:
    """What a saved model's ``fit_info["dataset"]`` keeps: name, domain and size, and for a path also
    ``source`` (the absolute path, the format, the loader options), which :func:`reopen_dataset` reads."""
    from lmrec.data.cache import FILE_OPTIONS, resolve_file_option
    from lmrec.data.registry import CATALOG

    record: dict[str, Any] = {"name": ds.name, "domain": ds.domain, "users": ds.n_users, "items": ds.n_items}
    if spec not in CATALOG:
        path = Path(spec).expanduser()
        options = parse_options(data_option)
        for key, value in options.items():  # a second file, read from wherever a later command runs
            if key in FILE_OPTIONS and isinstance(value, str):
                options[key] = str(resolve_file_option(value, path.parent).resolve())
        described = path.suffix.lower() == ".toml"  # a dataset file: it names its own format
        record["source"] = {
            "path": str(path.resolve()),
            "format": data_format if described else data_format or ds.meta.get("format"),
            "options": options,
        }
    return record


def reopen_dataset(record: dict[str, Any]) -> Dataset | None:
    """The dataset a :func:`dataset_record` describes (None when it names none)."""
    from lmrec.data import load_dataset

    source = record.get("source")
    if source:
        return load_dataset(source["path"], source.get("format"), **source.get("options", {}))
    return load_dataset(record["name"]) if record.get("name") else None
