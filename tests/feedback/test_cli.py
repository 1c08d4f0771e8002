"""`lmrec feedback train` / `evaluate` end to end on small real MDSD samples; bad input is one line."""

from __future__ import annotations

import json

from lmrec.cli import main


def test_feedback_train_and_evaluate(tmp_path, capsys):
    out = tmp_path / "head"
    code = main(["feedback", "train", "--data", "mdsd-electronics", "--limit", "15", "--max-tokens", "0",
                 "--out", str(out)])
    assert code == 0
    assert (out / "config.json").is_file() and (out / "head.safetensors").is_file()
    meta = json.loads((out / "config.json").read_text())
    assert meta["info"]["trained_on"] == ["mdsd-electronics"] and meta["info"]["n_train"] == 30
    capsys.readouterr()
    args = ["feedback", "evaluate", str(out), "--data", "mdsd-electronics", "--limit", "15", "--json"]
    assert main(args) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["data"] == "mdsd-electronics" and rows[0]["n"] == 30
    assert rows[0]["majority_accuracy"] == 0.5
    assert rows[0]["accuracy"] >= 0.8  # training data: a fitted head separates it


def test_feedback_bad_input(tmp_path, capsys):
    assert main(["feedback", "evaluate", str(tmp_path), "--data", "mdsd-books"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not a saved review model" in err
    assert main(["feedback", "train", "--data", "mdsd-kitchen", "--out", str(tmp_path / "x")]) == 2
    assert "no review corpus 'mdsd-kitchen'" in capsys.readouterr().err
