"""Bad input through the CLI: exit code 2 and exactly one line on stderr naming the file and the field."""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from lmrec.cli import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "formats"
EVENTS = "user_id,item_id,timestamp,rating\nu1,a,1,5\nu1,b,2,4\nu2,a,3,3\n"
ITEMS = "item_id,title\na,Apple\nb,Banana\n"


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def table(tmp: Path, events: str | bytes, name: str = "events.csv") -> tuple[Path, list[str]]:
    return write(tmp / name, events), ["--format", "table"]


def with_items(tmp: Path, items: str, events: str = EVENTS) -> tuple[Path, list[str]]:
    write(tmp / "items.csv", items)
    return write(tmp / "events.csv", events), ["--format", "table", "-o", "items_path=items.csv"]


def movielens(tmp: Path, file: str, content: str | bytes) -> tuple[Path, list[str]]:
    folder = tmp / "ml"
    write(folder / "u.data", "1\t1\t5\t881250949\n2\t2\t4\t881250950\n")
    write(
        folder / "u.item",
        "1|Toy Story (1995)|01-Jan-1995||url"
        + "|0" * 19
        + "\n2|Heat (1995)|01-Jan-1995||url"
        + "|0" * 19
        + "\n",
    )
    write(folder / file, content)
    return folder, ["--format", "movielens-100k"]


def fixture_copy(tmp: Path, sub: str, fmt: str, edit: Callable[[Path], None]) -> tuple[Path, list[str]]:
    folder = tmp / sub
    shutil.copytree(FIXTURES / sub, folder)
    edit(folder)
    return folder, ["--format", fmt]


def cut_after(path: Path, marker: str) -> None:
    text = path.read_text()
    path.write_text(text[: text.index(marker) + len(marker)])


def gz_jsonl(tmp: Path) -> tuple[Path, list[str]]:
    rows = [
        {"user_id": f"u{i}", "item_id": f"i{i % 7}", "timestamp": i, "reviewText": "x" * 200}
        for i in range(300)
    ]
    raw = gzip.compress(("\n".join(json.dumps(r) for r in rows) + "\n").encode())
    return write(tmp / "events.jsonl.gz", raw[: len(raw) // 2]), ["--format", "table"]


GZ_FIELDS = ("user_id", "item_id", "timestamp", "reviewText")  # where the cut falls depends on zlib
Case = tuple[Callable[[Path], tuple[Path, list[str]]], str, "str | tuple[str, ...]", str]
CASES: dict[str, Case] = {
    # name: (make input, file name in the message, field in the message, words in the message)
    "missing column": (
        lambda t: table(t, "user_id,timestamp\nu1,1\n"),
        "events.csv",
        "item_id",
        "missing column",
    ),
    "misnamed column": (
        lambda t: table(t, "userid,item_id\nu1,a\n"),
        "events.csv",
        "user_id",
        "missing column",
    ),
    "misnamed mapped column": (
        lambda t: (write(t / "e.csv", EVENTS), ["--format", "table", "-o", "time=when"]),
        "e.csv",
        "when",
        "missing",
    ),
    "unparsable rating": (
        lambda t: table(t, "user_id,item_id,rating\nu1,a,5\nu2,b,five\n"),
        "events.csv:3",
        "rating",
        "'five'",
    ),
    "unparsable timestamp": (
        lambda t: table(t, "user_id,item_id,timestamp\nu1,a,12\nu2,b,12x\n"),
        "events.csv:3",
        "timestamp",
        "12x",
    ),
    "NaN rating": (
        lambda t: table(t, "user_id,item_id,rating\nu1,a,NaN\n"),
        "events.csv:2",
        "rating",
        "NaN or infinite",
    ),
    "infinite rating": (
        lambda t: table(t, "user_id,item_id,rating\nu1,a,5\nu1,b,inf\n"),
        "events.csv:3",
        "rating",
        "infinite",
    ),
    "missing rating": (
        lambda t: table(t, "user_id,item_id,rating\nu1,a,\n"),
        "events.csv:2",
        "rating",
        "missing",
    ),
    "duplicate item, different text": (
        lambda t: with_items(t, "item_id,title\na,Apple\nb,Banana\na,Avocado\n"),
        "items.csv:4",
        "item_id",
        "different text",
    ),
    "unknown item": (
        lambda t: with_items(t, "item_id,title\na,Apple\n"),
        "events.csv:3",
        "item",
        "unknown item 'b'",
    ),
    "wrong encoding": (
        lambda t: table(t, "user_id,item_id,title\nu1,a,ok\nu2,b,caf\xe9\n".encode("latin-1")),
        "events.csv:3",
        "title",
        "utf-8",
    ),
    "empty csv": (lambda t: table(t, ""), "events.csv", "user_id", "empty"),
    "empty jsonl": (lambda t: table(t, "\n", "events.jsonl"), "events.jsonl", "user_id", "empty"),
    "header only": (lambda t: table(t, "user_id,item_id\n"), "events.csv", "user_id", "no rows"),
    "truncated jsonl line": (
        lambda t: table(t, '{"user_id": "u1", "item_id": "a"}\n{"user_id": "u2", "item_id": "b\n', "e.jsonl"),
        "e.jsonl:2",
        "item_id",
        "truncated JSON",
    ),
    "truncated gzip jsonl": (gz_jsonl, "events.jsonl.gz", GZ_FIELDS, "truncated or corrupt gzip"),
    "truncated JSON document": (
        lambda t: fixture_copy(t, "lcrec", "lcrec-json", lambda f: cut_after(f / "Toy.item.json", "Fourth")),
        "Toy.item.json",
        "description",
        "truncated JSON",
    ),
    "empty JSON document": (
        lambda t: fixture_copy(t, "lcrec", "lcrec-json", lambda f: write(f / "Toy.inter.json", "")),
        "Toy.inter.json",
        "items",
        "empty",
    ),
    "empty u.data": (lambda t: movielens(t, "u.data", ""), "u.data", "user", "empty"),
    "u.data bad timestamp": (
        lambda t: movielens(t, "u.data", "1\t1\t5\tsoon\n"),
        "u.data:1",
        "timestamp",
        "soon",
    ),
    "u.item bad genre flag": (
        lambda t: movielens(t, "u.item", "1|Toy Story (1995)|01-Jan-1995||url" + "|0" * 18 + "|x\n"),
        "u.item:1",
        "genre Western",
        "0 or 1",
    ),
    "u.item too many fields": (
        lambda t: movielens(t, "u.item", "1|T|d||u" + "|0" * 19 + "\n2|T|d||u" + "|0" * 20 + "\n"),
        "u.item",
        "",
        "",
    ),
    "recbole untyped header": (
        lambda t: fixture_copy(
            t,
            "recbole",
            "recbole",
            lambda f: write(f / "toy.inter", "user_id\titem_id:token\nu1\ti1\n"),
        ),
        "toy.inter:1",
        "user_id",
        "name:type",
    ),
    "recbole bad float_seq": (
        lambda t: fixture_copy(
            t,
            "recbole",
            "recbole",
            lambda f: write(
                f / "toy.item", (FIXTURES / "recbole" / "toy.item").read_text().replace("0.5 0.6", "0.5 x")
            ),
        ),
        "toy.item:4",
        "emb",
        "cannot parse",
    ),
    "unisrec broken chain": (
        lambda t: fixture_copy(
            t,
            "unisrec",
            "unisrec",
            lambda f: write(
                f / "Toy.valid.inter", (f / "Toy.valid.inter").read_text().replace("0\t2 3\t4", "0\t2 5\t4")
            ),
        ),
        "Toy.valid.inter:2",
        "item_id_list",
        "history differs",
    ),
    "unisrec missing column": (
        lambda t: fixture_copy(
            t,
            "unisrec",
            "unisrec",
            lambda f: write(f / "Toy.test.inter", "user_id:token\titem_id:token\n0\t5\n"),
        ),
        "Toy.test.inter",
        "item_id_list:token_seq",
        "missing column",
    ),
    # values that used to corrupt silently (issue 18, finding 4)
    "u.data timestamp beyond int64": (
        lambda t: movielens(t, "u.data", "1\t1\t5\t881250949\n2\t2\t4\t99999999999999999999999\n"),
        "u.data:2",
        "timestamp",
        "out of range",
    ),
    "u.data negative timestamp": (
        lambda t: movielens(t, "u.data", "1\t1\t5\t881250949\n2\t2\t4\t-5\n"),
        "u.data:2",
        "timestamp",
        "negative",
    ),
    "u.data extra column": (
        lambda t: movielens(t, "u.data", "1\t1\t5\t881250949\t7\n2\t2\t4\t881250950\t8\n"),
        "u.data:1",
        "column 5",
        "5 fields, expected 4",
    ),
    "table timestamp beyond int64": (
        lambda t: table(t, "user_id,item_id,timestamp\nu1,a,12\nu2,b,1e30\n"),
        "events.csv:3",
        "timestamp",
        "out of range",
    ),
    "table negative timestamp": (
        lambda t: table(t, "user_id,item_id,timestamp\nu1,a,12\nu2,b,-1\n"),
        "events.csv:3",
        "timestamp",
        "negative",
    ),
    "table date before 1970": (
        lambda t: (
            write(t / "e.csv", "user_id,item_id,when\nu1,a,2001-01-01\nu2,b,1960-05-01\n"),
            ["--format", "table", "-o", "time=when"],
        ),
        "e.csv:3",
        "when",
        "negative",
    ),
    "recbole timestamp beyond int64": (
        lambda t: fixture_copy(
            t,
            "recbole",
            "recbole",
            lambda f: write(f / "toy.inter", "user_id:token\titem_id:token\ttimestamp:float\nu1\ti1\t1e40\n"),
        ),
        "toy.inter:2",
        "timestamp",
        "out of range",
    ),
    "20 MB user id": (
        lambda t: table(t, "user_id,item_id\nu1,a\n" + "x" * 20_000_000 + ",b\n"),
        "events.csv:3",
        "user",
        "too long (20,000,000 characters",
    ),
    "long unparsable value is cut": (
        lambda t: table(t, "user_id,item_id,rating\nu1,a,5\nu2,b," + "9x" * 50_000 + "\n"),
        "events.csv:3",
        "rating",
        "characters)",
    ),
    "p5 user without items": (
        lambda t: fixture_copy(
            t, "p5", "p5-sequence", lambda f: write(f / "user_sequence.txt", "U1 I1 I2\nU2\n")
        ),
        "user_sequence.txt:2",
        "items",
        "no items",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_naming_file_and_field(case, tmp_path, capsys):
    make, file_part, field, words = CASES[case]
    path, args = make(tmp_path)
    code = main(["datasets", "stats", str(path), *args, "--no-cache"])
    captured = capsys.readouterr()
    err = captured.err
    assert code == 2, (case, err, captured.out)
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith("lmrec: error: ")
    assert file_part in err, err
    if field:
        fields = (field,) if isinstance(field, str) else field
        assert any(f"field '{f}'" in err for f in fields), err
    assert words in err, err
    assert "Traceback" not in err
    assert len(err) < 600, f"{len(err):,} characters"


def ml100k_copy(root: Path) -> Path:
    """A copy of ML-100K under ``root/ml-100k`` (the layout $LMREC_DATA expects)."""
    from lmrec.data.registry import locate

    found = locate("ml-100k")
    if found is None or found[1].format != "movielens-100k":
        pytest.skip("ML-100K (GroupLens layout) not found")
    folder = root / "ml-100k"
    folder.mkdir(parents=True)
    for name in ("u.item", "u.user", "u.genre"):
        if (found[0] / name).is_file():
            shutil.copyfile(found[0] / name, folder / name)
    return folder


@pytest.mark.parametrize("broken", ["missing", "folder", "empty folder"])
def test_a_given_data_folder_never_falls_back_to_another_copy(broken, tmp_path, capsys, monkeypatch):
    """Issue 18, finding 3: $LMREC_DATA/ml-100k without a usable u.data is an error naming u.data, not the
    100,000 interactions of ../shared/data."""
    folder = ml100k_copy(tmp_path / "data")
    if broken == "folder":
        (folder / "u.data").mkdir()
    elif broken == "empty folder":
        for f in folder.iterdir():
            f.unlink()
    monkeypatch.setenv("LMREC_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("LMREC_CACHE", str(tmp_path / "cache"))
    code = main(["datasets", "stats", "ml-100k", "--json", "--no-cache"])
    captured = capsys.readouterr()
    assert code == 2, captured.out[:300]
    assert captured.err.count("\n") == 1, captured.err
    assert str(folder / "u.data") in captured.err, captured.err
    assert "interactions" not in captured.out


def test_a_given_data_folder_is_used(tmp_path, capsys, monkeypatch):
    folder = ml100k_copy(tmp_path / "data")
    (folder / "u.data").write_text("1\t1\t5\t881250949\n2\t2\t4\t881250950\n")
    monkeypatch.setenv("LMREC_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("LMREC_CACHE", str(tmp_path / "cache"))
    assert main(["datasets", "stats", "ml-100k", "--json", "--no-cache"]) == 0
    assert json.loads(capsys.readouterr().out)["interactions"] == 2
