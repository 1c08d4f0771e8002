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
        base + ["--batch-tokens", "-1", "--out", str(tmp_path / "v.npy")],
    ]
    for args in cases:
        assert main(args) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("lmrec: error:") and "\n" not in err, err


def test_encode_on_the_cpu_says_where_it_ran(
    small_scientific: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("LMREC_CACHE", str(tmp_path / "c"))
    out = tmp_path / "v.npy"
    base = ["encode", "--dataset", str(small_scientific), "--out", str(out), "--no-cache"]
    assert main(base + ["--encoder", "minilm-torch", "--device", "cpu"]) == 0
    assert " on cpu -> " in capsys.readouterr().out
    torch_vecs = np.load(out)
    assert main(base + ["--encoder", "minilm", "--device", "cpu"]) == 0  # the ONNX path on the CPU
    assert " on cpu -> " in capsys.readouterr().out
    assert float(np.min((np.load(out) * torch_vecs).sum(1))) > 0.9999


def test_encode_batch_tokens_reach_the_encoder(small_scientific: Path, tmp_path: Path, monkeypatch) -> None:
    """--batch-tokens bounds the padded tokens of each forward pass; the vectors do not depend on it."""
    from lmrec.text.encoders._onnx import OnnxEncoder

    monkeypatch.setenv("LMREC_CACHE", str(tmp_path / "c"))
    out = tmp_path / "v.npy"
    base = ["encode", "--dataset", str(small_scientific), "--out", str(out), "--no-cache"]
    shapes: list[tuple[int, int]] = []
    real = OnnxEncoder._forward
    monkeypatch.setattr(
        OnnxEncoder, "_forward", lambda self, ids, mask: shapes.append(ids.shape) or real(self, ids, mask)
    )
    assert main(base + ["--batch-tokens", "200"]) == 0
    assert shapes and all(r * w <= 200 or r == 1 for r, w in shapes), shapes
    bounded, shapes[:] = np.load(out), []
    assert main(base + ["--batch-tokens", "0"]) == 0
    assert len(shapes) == 1  # the 29 distinct texts in one batch (at most 32): no token bound
    np.testing.assert_allclose(np.load(out), bounded, atol=2e-4)


def test_encode_device_errors_are_one_line_before_loading(
    small_scientific: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    import torch

    monkeypatch.setenv("LMREC_CACHE", str(tmp_path / "c"))
    out = tmp_path / "v.npy"
    base = ["encode", "--dataset", str(small_scientific), "--out", str(out)]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for extra, says in (
        (["--device", "tpu"], "must be one of"),
        (["--device", "cuda"], "asked for"),
        (["--encoder", "minilm-torch", "--device", "cuda:0"], "asked for"),
    ):
        assert main(base + extra) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "'--device'" in err and says in err, err
    # a GPU that is there, asked of a CPU-only encoder: refused by name, nothing loaded
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    for name in ("minilm-onnx-int8", "use-multilingual"):
        assert main(base + ["--encoder", name, "--device", "cuda"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and f"{name!r} runs on the CPU only" in err, err
    assert not out.exists()


def test_cpu_only_encoders_take_auto_as_the_cpu(monkeypatch) -> None:
    import torch

    from lmrec.text.encoders import check_encoder_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    assert check_encoder_device("use-multilingual", "auto") == "cpu"
    assert check_encoder_device("minilm-torch", "auto") == "cuda:0"
    assert check_encoder_device("minilm-onnx-int8", "cpu") == "cpu"


@pytest.mark.skipif(
    not __import__("torch").cuda.is_available(), reason="needs a CUDA GPU; this machine has none"
)
def test_encode_on_cuda_matches_the_cpu(small_scientific: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("LMREC_CACHE", str(tmp_path / "c"))
    out = tmp_path / "v.npy"
    base = ["encode", "--dataset", str(small_scientific), "--out", str(out), "--no-cache"]
    assert main(base + ["--device", "cuda"]) == 0
    assert " on cuda:" in capsys.readouterr().out
    gpu = np.load(out)
    assert main(base + ["--device", "cpu"]) == 0
    assert float(np.min((np.load(out) * gpu).sum(1))) > 0.9999
