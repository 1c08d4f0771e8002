"""`lmrec datasets list | stats | download`."""

from __future__ import annotations

import json
import urllib.error
from pathlib import Path

import pytest

import lmrec.data.download as dl
from lmrec.cli import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "formats"


@pytest.fixture()
def env(monkeypatch, tmp_path, shared_data):
    monkeypatch.setenv("LMREC_DATA", str(shared_data))
    monkeypatch.setenv("LMREC_CACHE", str(tmp_path / "cache"))
    return tmp_path


def test_stats_ml100k_json(env, capsys):
    assert main(["datasets", "stats", "ml-100k", "--json"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1  # one JSON object on one line
    info = json.loads(out)
    assert (info["users"], info["items"], info["interactions"]) == (943, 1682, 100_000)
    assert info["density"] == pytest.approx(100_000 / (943 * 1682))
    assert info["rating_histogram"] == {"1": 6110, "2": 11370, "3": 27144, "4": 34175, "5": 21201}
    assert info["sequence_length"]["p0"] == 20 and info["sequence_length"]["p100"] == 737
    assert info["items_with_text"] == 1.0 and info["name"] == "ml-100k"


def test_stats_table_for_a_path_with_options(env, capsys):
    path = env / "e.csv"
    path.write_text("uid,iid\nu1,a\nu1,b\nu2,a\n")
    assert main(["datasets", "stats", str(path), "-f", "table", "-o", "user=uid", "-o", "item=iid"]) == 0
    out = capsys.readouterr().out
    assert "interactions" in out and "3" in out and "density" in out


def test_stats_shows_fixed_split(env, capsys):
    assert main(["datasets", "stats", str(FIXTURES / "unisrec"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["fixed_split"] == {"train": 10, "valid": 3, "test": 3}
    assert info["rating_histogram"] is None


def test_list_shows_every_name_and_where_found(env, capsys):
    assert main(["datasets", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("ml-100k", "amazon-beauty", "amazon-scientific-unisrec", "mind-small", "mdsd-dvd"):
        assert name in out


def test_bad_option_syntax_is_one_line(env, capsys):
    assert main(["datasets", "stats", "ml-100k", "-o", "novalue"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "KEY=VALUE" in err


def test_download_offline_falls_back(env, capsys, monkeypatch):
    """Offline GroupLens is simulated; the recbole wheel comes from the real package index."""

    def offline(url, timeout=30.0):
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(dl, "fetch_url", offline)
    monkeypatch.setattr(dl.download, "__kwdefaults__", {**dl.download.__kwdefaults__, "fetch": offline})
    assert main(["datasets", "download", "ml-100k"]) == 0
    captured = capsys.readouterr()
    folder = Path(captured.out.strip())
    assert folder == env / "cache" / "ml-100k" and (folder / "ml-100k.inter").is_file()
    assert "GroupLens unreachable" in captured.err and "verified sha256" in captured.err


def test_download_unknown_and_manual_only(env, capsys):
    assert main(["datasets", "download", "nope"]) == 2
    assert "unknown dataset 'nope'" in capsys.readouterr().err
    assert main(["datasets", "download", "douban-movies-zh"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot be downloaded automatically" in err
