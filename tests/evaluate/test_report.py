"""Reports: readable Markdown/HTML with the model names and numbers, PNG plots referenced from the HTML."""

from __future__ import annotations

import json
import re

import pytest

from lmrec.errors import LmrecError
from lmrec.evaluate.report import write_report

RESULTS = {
    "protocol": "leave-one-out by time; full ranking",
    "split_hash": "ea8db8b6fbf93902",
    "dataset": "ml-100k",
    "results": {
        "pop": {
            "ndcg@5": 0.0301, "ndcg@10": 0.0441, "ndcg@20": 0.0602,
            "recall@5": 0.0424, "recall@10": 0.0848, "recall@20": 0.1442,
            "coverage@10": 0.0541, "popularity@10": 419.37, "novelty@10": 1.19,
            "fit_seconds": 0.001, "eval_seconds": 0.6, "params": {},
        },
        "ease|λ": {
            "ndcg@5": 0.0551, "ndcg@10": 0.0700, "ndcg@20": 0.0871,
            "recall@5": 0.0912, "recall@10": 0.1379, "recall@20": 0.2044,
            "coverage@10": 0.2113, "popularity@10": 201.5, "novelty@10": 2.31,
            "fit_seconds": 0.8, "eval_seconds": 0.7, "params": {"l2": 100},
        },
    },
}  # fmt: skip


def test_report_files_are_written_and_readable(tmp_path):
    html_path = write_report(RESULTS, tmp_path / "rep")
    out = html_path.parent
    md = (out / "report.md").read_text(encoding="utf-8")
    html = html_path.read_text(encoding="utf-8")
    for text in (md, html):
        assert "pop" in text and "0.0848" in text and "0.1379" in text and "ea8db8b6fbf93902" in text
    assert "ease\\|λ" in md  # the pipe in the name is escaped, the table stays intact
    assert "ease|λ" in html
    # the better model is bold in the NDCG@10 column; popularity: lower is better
    assert "**0.0700**" in md and "**201.50**" in md
    assert '"l2": 100' in md
    pngs = re.findall(r'<img src="([^"]+)"', html)
    assert sorted(pngs) == ["metrics_vs_k.png", "popularity.png"]
    for png in pngs:
        data = (out / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    assert json.loads((out / "results.json").read_text(encoding="utf-8")) == RESULTS


def test_report_from_json_file_and_missing_metrics(tmp_path):
    data = {"results": {"a": {"ndcg@10": 0.1}, "b": {"recall@10": 0.2}}}
    src = tmp_path / "r.json"
    src.write_text(json.dumps(data), encoding="utf-8")
    html_path = write_report(src, tmp_path / "out", title="Tiny")
    text = html_path.read_text(encoding="utf-8")
    assert "<title>Tiny</title>" in text and "0.1000" in text and "0.2000" in text and "–" in text
    assert not (tmp_path / "out" / "popularity.png").exists()


def test_bad_results_are_one_line_errors(tmp_path):
    with pytest.raises(LmrecError, match="non-empty 'results'"):
        write_report({"results": {}}, tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text("{nope", encoding="utf-8")
    with pytest.raises(LmrecError, match="invalid JSON at line 1"):
        write_report(bad, tmp_path)
    with pytest.raises(LmrecError, match="cannot read"):
        write_report(tmp_path / "missing.json", tmp_path)


def test_collect_results_round_trips_through_the_report(tmp_path):
    import numpy as np

    from lmrec.data.split import leave_one_out_split
    from lmrec.evaluate import evaluate_model
    from lmrec.evaluate.report import collect_results
    from lmrec.models.popularity import Popularity
    from lmrec.testing.contract import tiny_dataset

    split = leave_one_out_split(tiny_dataset())
    pop = Popularity().fit(split.train)
    res = evaluate_model(pop, split, ks=(5, 10), checks=False)
    data = collect_results(split, {"pop": res}, fit_seconds={"pop": 0.5}, params={"pop": {"recent_days": 0}})
    assert data["split_hash"] == split.hash and data["dataset"] == "tiny"
    assert data["results"]["pop"]["ndcg@10"] == res.metrics["ndcg@10"]
    text = write_report(data, tmp_path).read_text(encoding="utf-8")
    assert f"{res.metrics['recall@10']:.4f}" in text and "0.50" in text
    assert np.isfinite(data["results"]["pop"]["eval_seconds"])
