"""The registry of named datasets (``CATALOG``) and where their folders are found.

A catalog entry says which folder holds a dataset, which files and format it has, its domain, and where
its public home is (with a sha256 where a stable public download exists). :func:`locate` finds the folder
in, in order: ``$LMREC_DATA``; ``../shared/data`` seen from the current directory; ``../shared/data`` seen
from the lmrec source tree; the user cache (:func:`lmrec.paths.cache_root`, default ``~/.cache/lmrec``),
where ``lmrec datasets download`` puts files. This module knows nothing of downloading or parsing:
:mod:`lmrec.data.download` and :mod:`lmrec.data.load` (``load_dataset``) build on it, never the reverse.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmrec.errors import DataError, LmrecError


@dataclass(frozen=True)
class Layout:
    """One way a dataset's folder can look: the files that must be there, the format and loader options."""

    format: str
    files: tuple[str, ...]
    options: Mapping[str, Any] = field(default_factory=dict)

    def matches(self, folder: Path) -> bool:
        return all((folder / f).is_file() for f in self.files)


@dataclass(frozen=True)
class CatalogEntry:
    """A named public dataset. ``layouts[0]`` is the dataset's own release; later ones are accepted
    alternatives (e.g. the RecBole copy of ML-100K written by the offline download fallback)."""

    name: str
    folder: str
    domain: str
    layouts: tuple[Layout, ...]
    home: str
    description: str
    url: str | None = None
    sha256: str | None = None  # of the file at ``url``
    file_sha256: Mapping[str, str] = field(default_factory=dict)  # of files inside the release
    terms: str = "research use"

    @property
    def format(self) -> str:
        return self.layouts[0].format

    @property
    def files(self) -> tuple[str, ...]:
        return self.layouts[0].files


_ML100K_FILES = ("u.data", "u.item", "u.user")
_AMAZON_2018 = "https://datarepo.eng.ucsd.edu/mcauley_group/data/amazon_v2"
_AMAZON_HOME = "https://nijianmo.github.io/amazon/index.html"


def _amazon_2018(name: str, category: str, domain: str, meta: bool, what: str) -> CatalogEntry:
    reviews = f"{category}_5.json.gz"
    files = (reviews, f"meta_{category}.json.gz") if meta else (reviews,)
    return CatalogEntry(
        name=name,
        folder="amazon-reviews-2018",
        domain=domain,
        layouts=(Layout("amazon-2018", files, {"reviews": reviews, "meta": files[1] if meta else False}),),
        home=_AMAZON_HOME,
        url=f"{_AMAZON_2018}/categoryFilesSmall/{reviews}",
        description=what,
        terms="Amazon review data (McAuley lab): research use",
    )


def _mdsd(domain: str) -> CatalogEntry:
    return CatalogEntry(
        name=f"mdsd-{domain}",
        folder="mdsd-sentiment",
        domain=domain,
        layouts=(
            Layout("mdsd", (f"{domain}_positive.review", f"{domain}_negative.review"), {"domain": domain}),
        ),
        home="https://www.cs.jhu.edu/~mdredze/datasets/sentiment/",
        url="https://www.cs.jhu.edu/~mdredze/datasets/sentiment/domain_sentiment_data.tar.gz",
        description=f"Multi-Domain Sentiment Dataset (Blitzer et al. 2007), {domain}: 1,000 positive and "
        "1,000 negative reviews",
        terms="research release (Blitzer, Dredze, Pereira)",
    )


CATALOG: dict[str, CatalogEntry] = {
    e.name: e
    for e in (
        CatalogEntry(
            name="ml-100k",
            folder="ml-100k",
            domain="movies",
            layouts=(
                Layout("movielens-100k", _ML100K_FILES),
                Layout(
                    "recbole",
                    ("ml-100k.inter", "ml-100k.item", "ml-100k.user"),
                    {
                        "rename": {"movie_title": "title", "class": "genres", "release_year": "year"},
                        "list_fields": ["class"],
                        "numeric_fields": ["release_year"],
                    },
                ),
            ),
            home="https://grouplens.org/datasets/movielens/100k/",
            url="https://files.grouplens.org/datasets/movielens/ml-100k.zip",
            sha256="50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
            # u.data of the GroupLens release (equal to RecBole's ml-100k.inter without its header line)
            file_sha256={"u.data": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490"},
            description="MovieLens 100K: 943 users, 1,682 movies, 100,000 ratings with timestamps",
            terms="GroupLens: research use, no redistribution, no commercial use",
        ),
        *(
            CatalogEntry(
                name=name,
                folder=name,
                domain="movies",
                layouts=(Layout(fmt, files),),
                home=f"https://grouplens.org/datasets/movielens/{home}/",
                url=f"https://files.grouplens.org/datasets/movielens/{name}.zip",
                sha256=sha,
                description=what,
                terms="GroupLens: research use, no redistribution, no commercial use",
            )
            # sha256 of the zips as recorded by tensorflow/datasets (url_checksums/movielens.txt), whose
            # ml-100k.zip value equals the one pinned above
            for name, home, fmt, files, sha, what in (
                (
                    "ml-1m",
                    "1m",
                    "movielens-1m",
                    ("ratings.dat", "movies.dat", "users.dat"),
                    "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
                    "MovieLens 1M: 6,040 users, 3,706 movies, 1,000,209 ratings with timestamps",
                ),
                (
                    "ml-20m",
                    "20m",
                    "movielens-csv",
                    ("ratings.csv", "movies.csv"),
                    "96f243c338a8665f6bcc89c53edf6ee39162a846940de6b7c8c48aeada765ff3",
                    "MovieLens 20M: 138,493 users, 26,744 rated movies, 20,000,263 ratings with timestamps",
                ),
                (
                    "ml-25m",
                    "25m",
                    "movielens-csv",
                    ("ratings.csv", "movies.csv"),
                    "8b21cfb7eb1706b4ec0aac894368d90acf26ebdfb6aced3ebd4ad5bd1eb9c6aa",
                    "MovieLens 25M: 162,541 users, 59,047 rated movies, 25,000,095 ratings with timestamps",
                ),
            )
        ),
        CatalogEntry(
            name="amazon-beauty",
            folder="amazon-beauty-2014",
            domain="beauty",
            layouts=(
                Layout(
                    "p5-sequence",
                    ("user_sequence.txt", "Amazon_Beauty.item"),
                    {"items": "Amazon_Beauty.item"},
                ),
            ),
            home="https://github.com/agiresearch/OpenP5",
            description="Amazon Beauty 5-core (2014) as P5 user sequences with RecBole item text",
            terms="Amazon review data (McAuley lab): research use",
        ),
        CatalogEntry(
            name="amazon-scientific",
            folder="amazon-scientific-2018",
            domain="scientific",
            layouts=(Layout("lcrec-json", ("Scientific.inter.json", "Scientific.item.json")),),
            home="https://github.com/RUCAIBox/LC-Rec",
            description="Amazon Industrial & Scientific (2018), LC-Rec preprocessing",
            terms="Amazon review data (McAuley lab): research use",
        ),
        CatalogEntry(
            name="amazon-scientific-unisrec",
            folder="amazon-scientific-unisrec",
            domain="scientific",
            layouts=(
                Layout(
                    "unisrec",
                    tuple(f"Scientific.{p}" for p in ("train.inter", "valid.inter", "test.inter", "text")),
                    {"dataset": "Scientific"},
                ),
            ),
            home="https://github.com/RUCAIBox/UniSRec",
            description="Amazon Scientific in UniSRec's preprocessing with its fixed train/valid/test split",
            terms="Amazon review data (McAuley lab): research use",
        ),
        _amazon_2018(
            "amazon-magazine", "Magazine_Subscriptions", "magazines", True,
            "Amazon 2018 Magazine Subscriptions 5-core reviews with review text and titles",
        ),
        _amazon_2018(
            "amazon-gift-cards", "Gift_Cards", "gift-cards", True,
            "Amazon 2018 Gift Cards 5-core reviews with review text and titles",
        ),
        _amazon_2018(
            "amazon-all-beauty", "All_Beauty", "all-beauty", False,
            "Amazon 2018 All Beauty 5-core reviews with review text (no titles)",
        ),
        CatalogEntry(
            name="mind-small",
            folder="mind-small-subset",
            domain="news",
            layouts=(Layout("mind", ("news.tsv", "behaviors.tsv")),),
            home="https://msnews.github.io/",
            url="https://mind201910small.blob.core.windows.net/release/MINDsmall_train.zip",
            description="MIND news recommendation (small train split, or a sample of it)",
            terms="Microsoft Research License: non-commercial research only",
        ),
        CatalogEntry(
            name="douban-movies-zh",
            folder="douban-movies-zh",
            domain="movies-zh",
            layouts=(Layout("douban", ("movies.csv", "comments.csv")),),
            home="https://github.com/csuldw/AntSpider",
            description="Douban movies (Chinese): 1,000 movies with text and 5,000 rated short reviews",
            terms="research only, no redistribution, cite the source",
        ),
        _mdsd("books"),
        _mdsd("dvd"),
        _mdsd("electronics"),
    )
}  # fmt: skip


def data_roots() -> list[Path]:
    """The folders searched for named datasets, in order (duplicates removed)."""
    from lmrec.paths import cache_root

    roots: list[Path] = []
    env = os.environ.get("LMREC_DATA")
    if env:
        roots.append(Path(env).expanduser())
    roots.append(Path.cwd() / ".." / "shared" / "data")
    repo = Path(__file__).resolve().parents[3]  # src/lmrec/data/registry.py -> repository root
    roots.append(repo / ".." / "shared" / "data")
    roots.append(cache_root())
    out: list[Path] = []
    seen: set[Path] = set()
    for r in roots:
        key = r.resolve() if r.exists() else r.absolute()
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def get_entry(name: str) -> CatalogEntry:
    """The catalog entry called ``name`` (one-line error listing the names otherwise)."""
    entry = CATALOG.get(name)
    if entry is None:
        raise LmrecError(f"unknown dataset '{name}'; known: {', '.join(sorted(CATALOG))} (or give a path)")
    return entry


def locate(name: str) -> tuple[Path, Layout] | None:
    """The first folder (in :func:`data_roots` order) holding dataset ``name`` in one of its layouts.

    The first root whose folder claims the dataset decides: a folder that holds some of the dataset's files
    but not a complete layout is a one-line :class:`DataError` naming the missing file, never a silent switch
    to another copy further down the list (a user who points ``$LMREC_DATA`` at their own copy must get their
    own data). A folder claims the dataset when it holds any of its files, or, under ``$LMREC_DATA``, when it
    exists at all and belongs to this dataset alone (folders that several datasets share, such as
    ``amazon-reviews-2018``, may hold only some of them). None when no root has the dataset."""
    entry = get_entry(name)
    explicit = os.environ.get("LMREC_DATA")
    for root in data_roots():
        folder = root / entry.folder
        if not folder.exists():
            continue
        for layout in entry.layouts:
            if layout.matches(folder):
                return folder, layout
        names = {f for layout in entry.layouts for f in layout.files}
        dedicated = sum(e.folder == entry.folder for e in CATALOG.values()) == 1
        if any((folder / f).exists() for f in names) or (
            explicit and dedicated and root == Path(explicit).expanduser()
        ):
            raise DataError(incomplete_message(entry, folder), file=_first_missing(entry, folder))
    return None


def _first_missing(entry: CatalogEntry, folder: Path) -> Path:
    """The first file of the dataset's own layout that is missing from (or not a file in) ``folder``."""
    for f in entry.files:
        if not (folder / f).is_file():
            return folder / f
    return folder  # pragma: no cover - only when a layout matched


def incomplete_message(entry: CatalogEntry, folder: Path) -> str:
    """What is wrong with a dataset folder that is there but incomplete (the file is named by the caller)."""
    path = _first_missing(entry, folder)
    what = "is a folder, not a file" if path.is_dir() else "is missing"
    if not folder.is_dir():
        what = f"cannot be read: {folder} is not a folder"
    return (
        f"{what}; dataset '{entry.name}' is read from {folder} (the first place it was found) and needs "
        f"{', '.join(entry.files)} there; fix or remove that folder"
    )


def guess_format(path: Path) -> str | None:
    """The format of a folder or file from the names in it, or None when it is not recognisable."""
    folder = path if path.is_dir() else path.parent
    name = path.name if path.is_file() else ""
    has = {p.name for p in folder.iterdir()} if folder.is_dir() else set()
    if path.is_file():
        if name == "u.data":
            return "movielens-100k"
        if name == "ratings.dat":
            return "movielens-1m"
        if name == "ratings.csv" and "movies.csv" in has:
            return "movielens-csv"
        if name == "user_sequence.txt":
            return "p5-sequence"
        if name.endswith(".inter.json"):
            return "lcrec-json"
        if name.endswith((".train.inter", ".valid.inter", ".test.inter")):
            return "unisrec"
        if name.endswith(".inter"):
            return "recbole"
        if name.endswith(".review"):
            return "mdsd"
        lowered = name.lower().removesuffix(".gz")
        if lowered.endswith((".json", ".jsonl", ".ndjson")):
            sniffed = sniff_json_lines(path)  # an Amazon review dump, by the keys of its first record
            if sniffed is not None or not lowered.endswith(".json"):
                return sniffed or "table"
        if lowered.endswith((".csv", ".tsv", ".parquet")):
            return "table"
        return None
    if "u.data" in has:
        return "movielens-100k"
    if "ratings.dat" in has:
        return "movielens-1m"
    if {"ratings.csv", "movies.csv"} <= has:
        return "movielens-csv"
    if "user_sequence.txt" in has:
        return "p5-sequence"
    if any(n.endswith(".train.inter") for n in has):
        return "unisrec"
    if any(n.endswith(".inter.json") for n in has):
        return "lcrec-json"
    if any(n.endswith(".inter") for n in has):
        return "recbole"
    if {"news.tsv", "behaviors.tsv"} <= has:
        return "mind"
    if any(n.endswith(".review") for n in has):
        return "mdsd"
    reviews = [n for n in has if not n.startswith("meta_") and (folder / n).is_file()]
    if len(reviews) == 1 and any(n.startswith("meta_") for n in has):  # reviews beside their meta file
        return sniff_json_lines(folder / reviews[0])
    return None


def sniff_json_lines(path: Path) -> str | None:
    """``amazon-2023`` / ``amazon-2018`` / ``amazon-2014`` when the first line of a JSON-lines file (gzip
    allowed) is an Amazon review of that release (2014 reviews have ``helpful``, 2018 ones do not); else
    None."""
    import gzip
    import json

    try:
        with (
            gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else path.open(encoding="utf-8")
        ) as f:
            line = next((ln for ln in f if ln.strip()), "")
        keys = set(json.loads(line))
    except (OSError, UnicodeDecodeError, ValueError, TypeError, EOFError):
        return None
    if {"user_id", "parent_asin", "rating"} <= keys:
        return "amazon-2023"
    if {"reviewerID", "asin", "overall"} <= keys:
        return "amazon-2014" if "helpful" in keys else "amazon-2018"
    return None
