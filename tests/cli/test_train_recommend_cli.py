"""`lmrec train` and `lmrec recommend` on a small slice of real Amazon Scientific data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lmrec.cli import main

TINY = ["--set", "dim=16", "--set", "n_layers=1", "--set", "n_experts=2", "--set", "max_len=6"]


@pytest.fixture(scope="module")
def small_scientific(tmp_path_factory, shared_data: Path) -> Path:
    """30 real items and 12 users in the LC-Rec JSON layout (built at test time, never committed)."""
    src = shared_data / "amazon-scientific-2018"
    items = json.loads((src / "Scientific.item.json").read_text(encoding="utf-8"))
    folder = tmp_path_factory.mktemp("sci")
    (folder / "Scientific.item.json").write_text(json.dumps({str(i): items[str(i)] for i in range(30)}))
    users = {str(u): [(u * 7 + k) % 30 for k in range(6)] for u in range(12)}
    (folder / "Scientific.inter.json").write_text(json.dumps(users), encoding="utf-8")
    return folder


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("LMREC_CACHE", str(tmp_path_factory.getbasetemp() / "lmrec-cache"))


def test_train_textseq_then_recommend(small_scientific, tmp_path, capsys):
    out = tmp_path / "ts"
    args = [
        "train",
        "-d",
        str(small_scientific),
        "-m",
        "textseq",
        "--id-fusion",
        "--epochs",
        "2",
        "-o",
        str(out),
    ]
    assert main([*args, *TINY, "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "ndcg@10" in printed and "saved to" in printed
    for name in (
        "config.json",
        "model.safetensors",
        "item_vectors.json",
        "README.md",
        "catalog/items.parquet",
        "catalog/users.json",
    ):
        assert (out / name).is_file(), name
    meta = json.loads((out / "config.json").read_text())
    assert (
        meta["config"]["id_fusion"] is True
        and meta["config"]["train"]["epochs"] == 2
        and meta["config"]["dim"] == 16
    )
    assert "test ndcg@10" in meta["fit_info"]["metrics"]
    assert meta["fit_info"]["split"]["split_hash"] in (out / "README.md").read_text()

    assert main(["recommend", str(out), "--user", "3", "-k", "4"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and [ln.split()[0] for ln in lines] == ["1.", "2.", "3.", "4."]
    assert main(["recommend", str(out), "--history", "0,1,2", "-k", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and not any(ln.split()[1] in ("0", "1", "2") for ln in lines)
    assert main(["recommend", str(out), "--text", "a drill", "--history", "0", "-k", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and not any(ln.split()[1] == "0" for ln in lines)


def test_train_content_then_text_query(small_scientific, tmp_path, capsys):
    out = tmp_path / "c"
    assert main(["train", "-d", str(small_scientific), "-m", "content", "-o", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["recommend", str(out), "--text", "sanding paper for wood", "-k", "5"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 5
    assert main(["recommend", str(out), "--history", "999999"]) == 2
    assert "unknown item id" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra, expected",
    [
        (["-m", "textseq", "--set", "no_such_option=1"], "unknown option 'no_such_option'"),
        (["-m", "textseq", "--set", "dim=wide"], "option 'dim'"),
        (["-m", "textseq", "--augment", "crop,shuffle"], "option 'augment"),
        (["-m", "content", "--id-fusion"], "unknown option 'id_fusion'"),
        (["-m", "no-such-model"], "unknown model 'no-such-model'"),
        (["-m", "textseq", "--set", "novalue"], "key=value"),
    ],
)
def test_bad_config_is_a_one_line_error(small_scientific, tmp_path, capsys, extra, expected):
    code = main(["train", "-d", str(small_scientific), "-o", str(tmp_path / "x"), *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert expected in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "x").exists()
