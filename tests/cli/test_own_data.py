"""A user's own files on every command that reads a dataset: `--data-format` and `--data-option`.

The files are real MovieLens-100K events and titles, written the way people export them (``userId,movieId,
rating,timestamp`` and a separate ``movieId,title,genre`` file), built at test time and never committed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lmrec.cli import main

GENRES = (
    "unknown Action Adventure Animation Children Comedy Crime Documentary Drama Fantasy Film-Noir Horror "
    "Musical Mystery Romance Sci-Fi Thriller War Western"
).split()


@pytest.fixture(scope="module")
def own_files(tmp_path_factory, shared_data: Path) -> Path:
    """Events of ML-100K's first 60 users on its first 300 movies, and those movies' titles and genres."""
    import pandas as pd

    src = shared_data / "ml-100k"
    events = pd.read_csv(src / "u.data", sep="\t", names=["userId", "movieId", "rating", "timestamp"])
    events = events[(events.userId <= 60) & (events.movieId <= 300)]
    raw = pd.read_csv(src / "u.item", sep="|", encoding="latin-1", header=None)
    flags = raw.iloc[:, 5:24].to_numpy()
    items = pd.DataFrame(
        {
            "movieId": raw[0],
            "title": raw[1],
            "genre": [" ".join(g for g, f in zip(GENRES, row, strict=True) if f) for row in flags],
        }
    )
    items = items[items.movieId <= 300]
    folder = tmp_path_factory.mktemp("own")
    events.to_csv(folder / "ratings.csv", index=False)
    items.to_csv(folder / "titles.csv", index=False)
    return folder


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("LMREC_CACHE", str(tmp_path_factory.getbasetemp() / "lmrec-cache"))


def _options(*pairs: str) -> list[str]:
    """``--data-option`` for each pair, the column names of the files first."""
    return [a for p in ("user=userId", "item=movieId", *pairs) for a in ("--data-option", p)]


def _opts(folder: Path, *extra: str) -> list[str]:
    return ["--data-format", "table", *_options(f"items_path={folder / 'titles.csv'}", *extra)]


def test_train_recommend_on_own_files_with_item_text_from_a_second_file(own_files, tmp_path, capsys):
    out, ratings = tmp_path / "content", str(own_files / "ratings.csv")
    args = ["train", "-d", ratings, "-m", "content", "-o", str(out), "--no-progress"]
    assert main([*args, *_opts(own_files, "item_text=title,genre")]) == 0
    printed = capsys.readouterr()
    assert "ndcg@10" in printed.out and "no text" not in printed.err
    info = json.loads((out / "config.json").read_text())["fit_info"]
    source = info["dataset"]["source"]
    assert source["format"] == "table" and source["path"] == str((own_files / "ratings.csv").resolve())
    assert source["options"]["item_text"] == "title,genre" and source["options"]["user"] == "userId"
    # user 1's recommendations come with the real titles of the second file
    assert main(["recommend", str(out), "--user", "1", "-k", "5"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 5 and all("(19" in line for line in lines)  # "Title (1995)"
    # the explanations' shared words come from the same files, read with the same options
    explain = ["recommend", str(out), "--user", "1", "-k", "2", "--explain", "--explain-data", ratings]
    assert main([*explain, *_opts(own_files, "item_text=title,genre")]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 4  # each item and its reason


def test_a_plain_column_name_is_one_text_column(own_files, tmp_path, capsys):
    """``item_text=title`` is the column "title", not the columns "t", "i", "t", "l", "e"."""
    vec = tmp_path / "v.npy"
    args = [
        "encode",
        "-d",
        str(own_files / "ratings.csv"),
        "--out",
        str(vec),
        *_opts(own_files, "item_text=title"),
    ]
    assert main(args) == 0
    vectors = np.load(vec)
    assert vectors.shape[1] == 384 and np.all(np.linalg.norm(vectors, axis=1) > 0.5)


def test_evaluate_takes_the_same_options(own_files, tmp_path, capsys):
    args = ["evaluate", "-d", str(own_files / "ratings.csv"), "--models", "pop,content"]
    assert main([*args, *_opts(own_files, "item_text=title")]) == 0
    out = capsys.readouterr().out
    assert "content" in out and "pop" in out


def test_an_unknown_loader_option_is_one_line_naming_the_known_ones(own_files, capsys):
    args = ["train", "-d", str(own_files / "ratings.csv"), "-m", "pop", "-o", "x"]
    assert main([*args, *_opts(own_files, "itemtext=title")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "itemtext" in err and "item_text" in err and "Traceback" not in err


def test_datasets_stats_reports_the_same_mistake_in_one_line(own_files, capsys):
    args = ["datasets", "stats", str(own_files / "ratings.csv"), "-o", "user=userId", "-o", "movie=movieId"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "movie" in err
    for clash in ("format=table", "cache=false"):  # load_dataset's own arguments, not the loader's
        assert main([*args[:3], "-o", clash]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and clash.split("=")[0] in err and "Traceback" not in err


def test_a_text_model_refuses_items_without_any_text(own_files, tmp_path, capsys):
    """Without the item file every item is empty text: content ranking would be noise, so it says so."""
    args = ["train", "-d", str(own_files / "ratings.csv"), "-m", "content", "-o", str(tmp_path / "m")]
    assert main([*args, *_options(), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no text" in err and "items_path" in err
    assert not (tmp_path / "m").exists()


def test_a_model_with_ids_still_trains_without_text(own_files, tmp_path, capsys):
    out = tmp_path / "ease"
    args = ["train", "-d", str(own_files / "ratings.csv"), "-m", "ease", "-o", str(out), "--no-progress"]
    assert main([*args, *_options()]) == 0
    assert "ndcg@10" in capsys.readouterr().out


TINY = ["--set", "dim=16", "--set", "n_layers=1", "--set", "n_experts=2", "--set", "max_len=8"]


def test_a_textseq_on_own_files_compresses_and_distills_from_the_same_files(
    own_files, tmp_path, capsys, monkeypatch
):
    """The model folder remembers how its files were read (a file named relative to where `train` ran,
    too): `compress` re-reads them for its fine-tuning validation without being told again, from another
    folder; `distill` takes the same options."""
    teacher, ratings = tmp_path / "teacher", str(own_files / "ratings.csv")
    monkeypatch.chdir(own_files.parent)
    options = _options(f"items_path={own_files.name}/titles.csv", "item_text=title")
    args = ["train", "-d", ratings, "-m", "textseq", "-o", str(teacher), "--epochs", "2", "--no-progress"]
    assert main([*args, *TINY, *options]) == 0
    capsys.readouterr()
    monkeypatch.chdir(tmp_path)
    small = ["compress", str(teacher), "--out", "small", "--prune", "0.3", "--finetune-epochs", "1"]
    assert main(small) == 0
    assert "zero share 0.3" in capsys.readouterr().out
    student = ["distill", str(teacher), "-d", ratings, "-o", "student", "--dim", "8", "--no-progress"]
    assert main([*student, "--epochs", "1", *_opts(own_files, "item_text=title")]) == 0
    assert "student:" in capsys.readouterr().out
    # read differently (no item file), the data has another split: refused in one line, not trained on
    assert main([*student, *_options("time=rating")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not the one the teacher was trained on" in err


def test_adapt_a_pretrained_model_to_own_files(own_files, tmp_path, capsys):
    pre = tmp_path / "pre"
    args = ["pretrain", "--datasets", "amazon-magazine", "--epochs", "1", "--out", str(pre), "--no-progress"]
    assert main([*args, *TINY]) == 0
    out = tmp_path / "adapted"
    args = ["adapt", str(pre), "-d", str(own_files / "ratings.csv"), "--mode", "zero-shot", "-o", str(out)]
    assert main([*args, *_opts(own_files, "item_text=title")]) == 0
    capsys.readouterr()
    assert main(["recommend", str(out), "--user", "1", "-k", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and all("(19" in line for line in lines)


def test_events_on_items_missing_from_the_item_file_say_which_option_keeps_them(own_files, tmp_path, capsys):
    import pandas as pd

    titles = pd.read_csv(own_files / "titles.csv")
    titles[titles.movieId <= 250].to_csv(tmp_path / "fewer.csv", index=False)
    args = ["datasets", "stats", str(own_files / "ratings.csv"), "--json", "--data-option", "user=userId"]
    args += ["--data-option", "item=movieId", "--data-option", f"items_path={tmp_path / 'fewer.csv'}"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown item" in err and "unknown_items=add" in err
    assert main([*args, "--data-option", "unknown_items=add"]) == 0
    info = json.loads(capsys.readouterr().out)
    # the 250 movies of the item file, with text, and the rated movies missing from it, without
    assert info["items"] == 300 and info["items_with_text"] == pytest.approx(250 / 300)


@pytest.mark.parametrize("sep, typed", [(";", "sep=;"), ("\t", "sep=\\t")])
def test_a_csv_with_another_separator_names_the_option_that_reads_it(own_files, tmp_path, capsys, sep, typed):
    import pandas as pd

    path = tmp_path / "ratings.csv"  # a .csv that is not comma separated (a spreadsheet's export)
    pd.read_csv(own_files / "ratings.csv").to_csv(path, sep=sep, index=False)
    args = [
        "datasets",
        "stats",
        str(path),
        "--json",
        "--data-option",
        "user=userId",
        "--data-option",
        "item=movieId",
    ]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"give the loader option {typed}" in err
    assert main([*args, "--data-option", typed]) == 0  # as typed on a command line
    assert json.loads(capsys.readouterr().out)["interactions"] == len(pd.read_csv(own_files / "ratings.csv"))


def _describe(own_files: Path, folder: Path) -> Path:
    """A dataset file for the own files, in another folder (its paths are relative to itself)."""
    import os

    folder.mkdir()
    rel = Path(os.path.relpath(own_files, folder))
    spec = folder / "movies.toml"
    lines = [
        f'path = "{rel / "ratings.csv"}"',
        'format = "table"',
        'domain = "movies"',
        "[options]",
        'user = "userId"',
        'item = "movieId"',
        f'items_path = "{rel / "titles.csv"}"',
        'item_text = ["title", "genre"]',
    ]
    spec.write_text("\n".join(lines) + "\n")
    return spec


def test_a_dataset_file_describes_own_files_once_for_every_command(own_files, tmp_path, capsys, monkeypatch):
    """A TOML file (path, format, name, domain, [options]) stands wherever a dataset name goes, from any
    folder; several of them make pretraining sources of one's own files."""
    spec = _describe(own_files, tmp_path / "specs")
    monkeypatch.chdir(tmp_path)
    assert main(["datasets", "stats", "specs/movies.toml", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["name"], info["domain"], info["items_with_text"]) == ("movies", "movies", 1.0)
    assert info["text_fields"] == ["title", "genre"]
    assert main(["train", "-d", "specs/movies.toml", "-m", "content", "-o", "m", "--no-progress"]) == 0
    source = json.loads((tmp_path / "m" / "config.json").read_text())["fit_info"]["dataset"]["source"]
    assert source == {"path": str(spec.resolve()), "format": None, "options": {}}
    pre = tmp_path / "pre"
    args = ["pretrain", "--datasets", f"{spec},amazon-magazine", "--epochs", "1", "--out", str(pre)]
    assert main([*args, "--no-progress", *TINY]) == 0
    assert [d["name"] for d in json.loads((pre / "pretrained.json").read_text())["domains"]] == [
        "movies",
        "amazon-magazine",
    ]


@pytest.mark.parametrize(
    "text, words",
    [
        ('path = "x.csv"\n[options\n', ["not valid TOML", "line 2"]),
        ('path = "x.csv"\ncolumns = 3\n', ["unknown key(s) columns", "path, format"]),
        ('format = "table"\n', ["'path' must name the data"]),
    ],
)
def test_a_broken_dataset_file_is_one_line(tmp_path, capsys, text, words):
    spec = tmp_path / "bad.toml"
    spec.write_text(text)
    assert main(["datasets", "stats", str(spec)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(spec) in err and all(w in err for w in words), err


def test_options_for_another_format_than_the_guessed_one_say_it_was_guessed(own_files, tmp_path, capsys):
    """ratings.csv beside movies.csv looks like MovieLens' own CSV export; a user's table options then name
    the guess, and --data-format table reads it."""
    import shutil

    shutil.copy(own_files / "ratings.csv", tmp_path / "ratings.csv")
    shutil.copy(own_files / "titles.csv", tmp_path / "movies.csv")
    args = ["datasets", "stats", str(tmp_path / "ratings.csv"), "--json", "--data-option", "user=userId"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'movielens-csv' was guessed" in err and "--data-format" in err
    assert main([*args, "--data-option", "item=movieId", "--data-format", "table"]) == 0
