"""Saved model folders, tampered or incomplete: loading fails with one line naming the file (issue 18,
findings 5 and 10), through `lmrec recommend` and `lmrec serve`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from lmrec.cli import main
from lmrec.testing import tiny_dataset

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(scope="module")
def tiny():
    return tiny_dataset()


@pytest.fixture(scope="module")
def saved(tmp_path_factory, tiny) -> dict[str, Path]:
    """Popularity and a one-epoch SASRec, each saved with its catalog (save(dataset=))."""
    from lmrec.models.popularity import Popularity
    from lmrec.models.sasrec import SASRec

    root = tmp_path_factory.mktemp("saved")
    pop = Popularity().fit(tiny.interactions, items=tiny.items).save(root / "pop", dataset=tiny)
    sas = SASRec(dim=8, layers=1, heads=1, max_len=6, epochs=1).fit(tiny.interactions)
    return {"pop": pop, "sasrec": sas.save(root / "sasrec", dataset=tiny)}


def _edit_tensors(folder: Path, edit: Callable[[dict[str, np.ndarray]], None]) -> None:
    from safetensors.numpy import load_file, save_file

    state = load_file(str(folder / "model.safetensors"))
    edit(state)
    save_file(state, str(folder / "model.safetensors"))


def _truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _json(path: Path, value: object) -> None:
    path.write_text(value if isinstance(value, str) else json.dumps(value), encoding="utf-8")


def _replace_with_folder(path: Path) -> None:
    path.unlink()
    path.mkdir()


def _swap_first_matrix(state: dict[str, np.ndarray]) -> None:
    name = next(k for k, v in state.items() if v.ndim == 2 and v.shape[0] != v.shape[1])
    state[name] = np.ascontiguousarray(state[name].T)


def _nan(state: dict[str, np.ndarray]) -> None:
    name = next(k for k, v in state.items() if v.dtype.kind == "f" and not k.startswith("_"))
    state[name] = state[name].copy()
    state[name].flat[0] = np.nan


CASES: dict[str, tuple[str, Callable[[Path], None], str, str]] = {
    # name: (model, damage, file named in the message, words)
    "weights missing": ("pop", lambda f: (f / "model.safetensors").unlink(), "model.safetensors", "missing"),
    "weights truncated": (
        "pop",
        lambda f: _truncate(f / "model.safetensors"),
        "model.safetensors",
        "truncated",
    ),
    "weights truncated (sasrec)": (
        "sasrec",
        lambda f: _truncate(f / "model.safetensors", 0.9),
        "model.safetensors",
        "truncated",
    ),
    "weights are a folder": (
        "pop",
        lambda f: _replace_with_folder(f / "model.safetensors"),
        "model.safetensors",
        "folder",
    ),
    "weights empty": (
        "pop",
        lambda f: _json(f / "model.safetensors", ""),
        "model.safetensors",
        "cannot read",
    ),
    "config invalid JSON": ("pop", lambda f: _json(f / "config.json", "{"), "config.json", "invalid JSON"),
    "config bad n_items": (
        "pop",
        lambda f: _json(f / "config.json", {**json.loads((f / "config.json").read_text()), "n_items": "x"}),
        "config.json",
        "n_items",
    ),
    "config n_items disagrees": (
        "pop",
        lambda f: _json(f / "config.json", {**json.loads((f / "config.json").read_text()), "n_items": 50}),
        "model.safetensors",
        "50",
    ),
    "tensor of the wrong length (pop)": (
        "pop",
        lambda f: _edit_tensors(f, lambda s: s.update(counts=s["counts"][:-3].copy())),
        "model.safetensors",
        "do not fit",
    ),
    "tensor of the wrong shape (sasrec)": (
        "sasrec",
        lambda f: _edit_tensors(f, _swap_first_matrix),
        "model.safetensors",
        "do not fit",
    ),
    "tensor missing (sasrec)": (
        "sasrec",
        lambda f: _edit_tensors(f, lambda s: s.pop(next(k for k in s if not k.startswith("_")))),
        "model.safetensors",
        "do not fit",
    ),
    "NaN weights (pop)": ("pop", lambda f: _edit_tensors(f, _nan), "model.safetensors", "NaN"),
    "NaN weights (sasrec)": ("sasrec", lambda f: _edit_tensors(f, _nan), "model.safetensors", "NaN"),
    "histories cut": (
        "pop",
        lambda f: _edit_tensors(
            f, lambda s: s.update({"_histories.items": s["_histories.items"][:-2].copy()})
        ),
        "model.safetensors",
        "histories",
    ),
    "catalog items truncated": (
        "pop",
        lambda f: _truncate(f / "catalog" / "items.parquet"),
        "items.parquet",
        "cannot read",
    ),
    "catalog users invalid JSON": (
        "pop",
        lambda f: _json(f / "catalog" / "users.json", "[1,"),
        "users.json",
        "JSON",
    ),
    "catalog users of another dataset": (
        "pop",
        lambda f: _json(f / "catalog" / "users.json", ["a", "b"]),
        "users.json",
        "2 user ids",
    ),
    "catalog users not a list": (
        "pop",
        lambda f: _json(f / "catalog" / "users.json", {"a": 1}),
        "users.json",
        "list",
    ),
    "no catalog": ("pop", lambda f: shutil.rmtree(f / "catalog"), "catalog", "dataset=data"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_broken_model_folder_is_one_line_in_recommend(case, saved, tmp_path, capsys):
    kind, damage, file_part, words = CASES[case]
    folder = tmp_path / kind
    shutil.copytree(saved[kind], folder)
    damage(folder)
    code = main(["recommend", str(folder), "--user", "u1", "-k", "3"])
    captured = capsys.readouterr()
    assert code == 2, (case, captured.out, captured.err)
    assert captured.err.count("\n") == 1 and captured.err.startswith("lmrec: error: "), captured.err
    assert file_part in captured.err and words in captured.err, captured.err
    assert "-inf" not in captured.out


def test_intact_folder_recommends_by_external_id(saved, capsys):
    assert main(["recommend", str(saved["sasrec"]), "--user", "u1", "-k", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and all(ln.split()[1].startswith("i") for ln in lines), lines


def test_save_with_dataset_writes_the_catalog_and_checks_it_fits(saved, tiny, tmp_path):
    from lmrec.errors import LmrecError
    from lmrec.models.popularity import Popularity

    assert (saved["pop"] / "catalog" / "items.parquet").is_file()
    with pytest.raises(LmrecError, match="items"):
        Popularity().fit(tiny.interactions).save(tmp_path / "m", dataset=tiny_dataset(n_items=20))


def test_item_vectors_json_invalid_is_one_line(tiny, tmp_path, capsys):
    from lmrec.data import ItemTable
    from lmrec.models.content import ContentRecommender

    frame = tiny.items.frame.copy()
    frame["vec"] = list(np.random.default_rng(0).normal(size=(tiny.n_items, 8)).astype(np.float32))
    items = ItemTable(frame, text_fields=tiny.items.text_fields, vector_fields=("vec",))
    folder = (
        ContentRecommender(vector_field="vec")
        .fit(tiny.interactions, items=items)
        .save(tmp_path / "c", dataset=tiny)
    )
    assert main(["recommend", str(folder), "--user", "u1", "-k", "2"]) == 0
    capsys.readouterr()
    _json(folder / "item_vectors.json", "{not json")
    assert main(["recommend", str(folder), "--user", "u1", "-k", "2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "item_vectors.json" in err, err


def test_serve_refuses_a_model_with_tensors_of_the_wrong_shape(saved, tmp_path):
    folder = tmp_path / "sasrec"
    shutil.copytree(saved["sasrec"], folder)
    _edit_tensors(folder, _swap_first_matrix)
    env = {**os.environ, "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(
        [sys.executable, "-m", "lmrec", "serve", str(folder), "--db", f"sqlite:///{tmp_path / 's.db'}",
         "--port", "1"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.count("\n") == 1 and "model.safetensors" in proc.stderr, proc.stderr
