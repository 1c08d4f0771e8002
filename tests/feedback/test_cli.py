"""`lmrec feedback train` / `evaluate` end to end on small real MDSD samples; bad input is one line."""

from __future__ import annotations

import json

from lmrec.cli import main


def test_feedback_train_and_evaluate(tmp_path, capsys):
    out = tmp_path / "head"
    code = main(
        [
            "feedback",
            "train",
            "--data",
            "mdsd-electronics",
            "--limit",
            "15",
            "--max-tokens",
            "0",
            "--out",
            str(out),
        ]
    )
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


# issue 18, finding 6: the user's own review files, by path
def _mdsd_folder(tmp_path, shared_data, per_class: int = 12):
    """An MDSD folder holding the first reviews of each electronics file (copied at test time)."""
    import re

    folder = tmp_path / "my-mdsd"
    folder.mkdir()
    for polarity in ("positive", "negative"):
        text = (shared_data / "mdsd-sentiment" / f"electronics_{polarity}.review").read_text(errors="replace")
        blocks = re.findall(r"<review>.*?</review>", text, re.S)[:per_class]
        (folder / f"gadgets_{polarity}.review").write_text("\n".join(blocks))
    return folder


def _amazon_jsonl(tmp_path):
    import gzip

    rows = [
        {"reviewerID": f"u{i}", "asin": "a", "overall": 5.0 if i % 2 else 1.0, "summary": "Summary",
         "reviewText": ("love it, works great" if i % 2 else "broke after a day, awful")}
        for i in range(20)
    ]  # fmt: skip
    path = tmp_path / "Reviews_5.json.gz"
    path.write_bytes(gzip.compress("\n".join(json.dumps(r) for r in rows).encode()))
    return path


def _table(tmp_path, name="reviews.csv"):
    import pandas as pd

    frame = pd.DataFrame(
        {
            "comment": ["great value, love it", "terrible, broke at once"] * 10,
            "stars": [5, 1] * 10,
        }
    )
    path = tmp_path / name
    if name.endswith(".parquet"):
        frame.to_parquet(path)
    else:
        frame.to_csv(path, index=False)
    return path


def test_feedback_train_and_evaluate_on_files_by_path(tmp_path, shared_data, capsys):
    mdsd = _mdsd_folder(tmp_path, shared_data)
    amazon = _amazon_jsonl(tmp_path)
    table = _table(tmp_path, "reviews.parquet")
    out = tmp_path / "head"
    data = f"{mdsd},{amazon}"
    assert main(["feedback", "train", "--data", data, "--max-tokens", "0", "--out", str(out)]) == 0, (
        capsys.readouterr()
    )
    meta = json.loads((out / "config.json").read_text())
    assert meta["info"]["n_train"] == 24 + 20
    capsys.readouterr()
    assert main(["feedback", "evaluate", str(out), "--data", str(table), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["n"] == 20 and rows[0]["data"] == "reviews"
    csv_path = _table(tmp_path)
    args = ["feedback", "evaluate", str(out), "--data", str(csv_path), "--text-column", "comment", "--json"]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)[0]["n"] == 20
    # a file whose name does not tell its format needs --format
    odd = tmp_path / "reviews.data"
    odd.write_bytes(csv_path.read_bytes())
    assert main(["feedback", "evaluate", str(out), "--data", str(odd)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--format" in err


def test_feedback_bad_review_files_are_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("text,rating\nnice,5\nbad,11\n")
    assert main(["feedback", "train", "--data", str(bad), "--out", str(tmp_path / "h")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.csv:3" in err and "field 'rating'" in err, err
    no_text = tmp_path / "no_text.csv"
    no_text.write_text("words,rating\nnice,5\n")
    assert main(["feedback", "train", "--data", str(no_text), "--out", str(tmp_path / "h")]) == 2
    err = capsys.readouterr().err
    assert "--text-column" in err and "no_text.csv" in err, err
    assert (
        main(["feedback", "train", "--data", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "h")]) == 2
    )
    assert "nope.csv" in capsys.readouterr().err
