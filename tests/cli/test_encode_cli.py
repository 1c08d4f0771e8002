"""`lmrec encode` on a small slice of real Amazon Scientific data."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from lmrec.cli import main


@pytest.fixture
def small_scientific(tmp_path: Path, shared_data: Path) -> Path:
    """30 real items and a few users in the LC-Rec JSON layout (built at test time, never committed)."""
    src = shared_data / "amazon-scientific-2018"
    items = json.loads((src / "Scientific.item.json").read_text(encoding="utf-8"))
    keep = {str(i): items[str(i)] for i in range(30)}
    folder = tmp_path / "sci"
    folder.mkdir()
    (folder / "Scientific.item.json").write_text(json.dumps(keep), encoding="utf-8")
    users = {str(u): [(u * 7 + k) % 30 for k in range(5)] for u in range(10)}
    (folder / "Scientific.inter.json").write_text(json.dumps(users), encoding="utf-8")
    return folder


def test_encode_writes_vectors_and_reuses_the_cache(
    small_scientific: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("LMREC_CACHE", str(tmp_path / "lmrec-cache"))
    out = tmp_path / "v.npy"
    args = ["encode", "--dataset", str(small_scientific), "--encoder", "minilm", "--out", str(out)]
    assert main(args) == 0
    first = capsys.readouterr().out
    v = np.load(out)
    assert v.shape == (30, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    m = re.search(r"cache: 0 hits, (\d+) misses \((\d+) distinct texts\)", first)
    assert m and m.group(1) == m.group(2) and 25 <= int(m.group(1)) <= 30, first
    assert "items/s" in first
    assert (tmp_path / "lmrec-cache" / "embeddings").is_dir()
    assert main(args) == 0
    assert f"cache: {m.group(1)} hits, 0 misses" in capsys.readouterr().out
    np.testing.assert_array_equal(np.load(out), v)


def test_encode_user_errors_are_one_line(small_scientific: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("LMREC_CACHE", str(tmp_path / "c"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    base = ["encode", "--dataset", str(small_scientific)]
    cases = [
        base + ["--encoder", "no-such-org/no-such-model", "--out", str(tmp_path / "v.npy")],
        base + ["--out", str(tmp_path / "v.txt")],
        base + ["--template", "{title} {price}", "--out", str(tmp_path / "v.npy")],
    ]
    for args in cases:
        assert main(args) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("lmrec: error:") and "\n" not in err, err
