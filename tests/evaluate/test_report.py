"""Reports: readable Markdown/HTML with the model names and numbers, PNG plots referenced from the HTML."""

from __future__ import annotations

import json
import re

import pytest

from lmrec.errors import LmrecError
from lmrec.evaluate import strongest_baseline, verdict
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
    # the better model is bold in the NDCG@10 column; popularity (with its unit): lower is better
    assert "**0.0700**" in md and "**202 interactions**" in md
    assert "l2 = 100" in md and '"l2"' not in html  # settings as a table, not JSON
    pngs = re.findall(r'<img src="([^"]+)"', html)
    assert sorted(pngs) == ["metrics_vs_k.png", "popularity.png"]
    for png in pngs:
        data = (out / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    assert json.loads((out / "results.json").read_text(encoding="utf-8")) == RESULTS
    # one file name everywhere: index.html only forwards to report.html
    assert "url=report.html" in (out / "index.html").read_text(encoding="utf-8")


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


def _paired(baseline: str, ratio: float, lo: float, hi: float, p: float = 0.01) -> dict:
    return {
        "baseline": baseline,
        "metric": "ndcg@10",
        "n": 943,
        "ratio": ratio,
        "ratio_ci": [lo, hi],
        "p_value": p,
        "mean_a": 0.0,
        "mean_b": 0.0,
        "diff": 0.0,
        "diff_ci": [0.0, 0.0],
        "confidence": 0.95,
    }


def _table(**rows: dict) -> dict:
    return {"dataset": "ml-100k", "split_hash": "x", "protocol": "loo", "results": rows}


def test_the_verdict_names_the_reliably_better_model_with_its_interval():
    data = _table(
        pop={"ndcg@10": 0.044, "paired": _paired("ease", 0.62, 0.48, 0.79)},
        ease={"ndcg@10": 0.071},
        # the largest mean gain, but its interval includes no difference: not the one to use
        sasrec={"ndcg@10": 0.080, "paired": _paired("ease", 1.13, 0.97, 1.30, p=0.1)},
        textseq={"ndcg@10": 0.078, "paired": _paired("ease", 1.10, 1.02, 1.19, p=0.004)},
    )
    v = verdict(data)
    assert v["model"] == "textseq" and v["baseline"] == "ease" and v["reliable"]
    assert v["gain"] == pytest.approx(0.10) and v["interval"] == pytest.approx((0.02, 0.19))
    assert v["text"].startswith(
        "Use textseq: +10.0% NDCG@10 over ease, the strongest baseline (95% interval "
        "[+2.0%, +19.0%] over 943 test users"
    )
    data["results"]["textseq"]["paired"] = _paired("ease", 1.10, 0.99, 1.19)
    v = verdict(data)
    assert v["model"] == "ease" and not v["reliable"]
    assert v["text"].startswith(
        "No model is reliably better than ease over 943 test users: sasrec scores +13.0%"
    )
    assert v["text"].endswith("Use ease.")
    # all worse than the baseline
    worse = _table(pop={"ndcg@10": 0.04, "paired": _paired("ease", 0.6, 0.5, 0.7)}, ease={"ndcg@10": 0.07})
    assert verdict(worse)["text"].startswith(
        "No model is reliably better than ease over 943 test users: the closest, pop, scores -40.0% NDCG@10"
    )
    # no per-user values: it says which is highest and that it cannot say how sure
    plain = _table(a={"ndcg@10": 0.1}, b={"ndcg@10": 0.2})
    assert verdict(plain)["model"] == "b" and "no interval" in verdict(plain)["text"]


def test_strongest_baseline_ignores_text_models():
    rows = {
        "pop": {"ndcg@10": 0.04},
        "ease#2": {"ndcg@10": 0.07},
        "itemknn": {"ndcg@10": 0.06},
        "textseq": {"ndcg@10": 0.09},
        "textseq:saved": {"ndcg@10": 0.1},
    }
    assert strongest_baseline(rows) == "ease#2"
    assert strongest_baseline({"textseq": {"ndcg@10": 0.1}, "content": {"ndcg@10": 0.2}}) == "content"
    assert strongest_baseline({}) is None


def test_the_page_reads_as_a_product(tmp_path):
    data = _table(
        pop={
            "ndcg@10": 0.0441,
            "recall@10": 0.0848,
            "hit@10": 0.0848,
            "ndcg@20": 0.06,
            "coverage@10": 0.054,
            "fit_seconds": 0.004,
            "n_users": 943,
            "paired": _paired("ease", 0.62, 0.48, 0.79),
            "params": {},
        },
        ease={
            "ndcg@10": 0.0711,
            "recall@10": 0.1432,
            "hit@10": 0.1432,
            "ndcg@20": 0.09,
            "coverage@10": 0.331,
            "fit_seconds": 75.0,
            "n_users": 943,
            "params": {"l2": 250.0},
            "valid_ndcg@10": 0.05,
            "trials": [
                {"params": {"l2": 100.0}, "valid": 0.048, "fit_seconds": 1.0},
                {"params": {"l2": 250.0}, "valid": 0.050, "fit_seconds": 1.1},
                {"params": {"l2": 500.0}, "valid": 0.050, "fit_seconds": 1.2},
            ],
            "chosen_trial": 1,
        },
        textseq={
            "ndcg@10": 0.078,
            "recall@10": 0.15,
            "hit@10": 0.15,
            "fit_seconds": 31.6,
            "n_users": 943,
            "valid_ndcg@10": 0.061,
            "paired": _paired("ease", 1.10, 1.02, 1.19),
            "params": {"dim": 64},
        },
    )
    data["samples"] = [
        {
            "user": "196",
            "model": "textseq",
            "recent": ["Star Wars"],
            "items": [{"title": "Return of the Jedi", "explanation": "You liked Star Wars; ..."}],
        }
    ]
    html = write_report(data, tmp_path).read_text(encoding="utf-8")
    assert "<script" not in html and "http" not in html  # self-contained, no script
    verdict_at, table_at = html.index("class='verdict'"), html.index('<table class="cards">')
    assert verdict_at < table_at and "Use textseq: +10.0% NDCG@10 over ease" in html
    main = html[table_at : html.index("</table>", table_at)]
    # the headline table: K=10 metrics, the interval against the baseline, validation, fit time with units
    assert re.findall(r"<th[^>]*>([^<]*)</th>", main) == [
        "model",
        "NDCG@10",
        "Recall@10",
        "Hit rate@10",
        "NDCG@10 vs ease [95% interval]",
        "validation NDCG@10",
        "fit time",
    ]
    assert "+10.0% [+2.0%, +19.0%]" in main and "0.0610" in main and "1 min 15 s" in main and "31.6 s" in main
    assert "NDCG@20" not in main and "NDCG@20" in html  # the rest is folded
    assert html.index("<details><summary>All metrics") > table_at
    # the tuning trials with the chosen one marked (the second, not the tied third)
    trials = re.findall(r'<tr( class="chosen")?><td[^>]*>(\d+)</td>', html)
    assert [(bool(c), v) for c, v in trials] == [(False, "100"), (True, "250"), (False, "500")]
    assert "ease: 3 settings tried, chose l2 = 250" in html
    assert "Return of the Jedi" in html and "You liked Star Wars" in html
    assert "<code>l2</code> = 250" in html and "<code>dim</code> = 64" in html
    assert 'data-label="NDCG@10"' in main  # labelled cells: one card per model on a phone


def test_run_evaluation_compares_with_the_strongest_baseline_and_samples_the_chosen_model():
    from lmrec.cli.evaluate import run_evaluation
    from lmrec.data.split import leave_one_out_split
    from lmrec.explain import short_title
    from lmrec.testing.contract import tiny_dataset

    data = tiny_dataset()
    split = leave_one_out_split(data)
    collected: dict = {}
    out = run_evaluation(data, split, ["pop", "ease", "itemknn"], ks=(10,), samples=2, collected=collected)
    res = out["results"]
    base = max(res, key=lambda n: res[n]["ndcg@10"])
    assert set(collected) == set(res)
    for name, row in res.items():
        assert ("paired" in row) == (name != base)
        if name != base:
            assert row["paired"]["baseline"] == base
    chosen = verdict(out)["model"]
    assert len(out["samples"]) == 2 and all(s["model"] == chosen for s in out["samples"])
    titles = {short_title(t) for t in data.item_titles()}
    for s in out["samples"]:
        assert len(s["items"]) == 5 and all(it["title"] in titles for it in s["items"])
        if chosen != "pop":  # explained from the history (and checked); pop is explained as popular
            assert any(short_title(t) in it["explanation"] for it in s["items"] for t in s["recent"])
