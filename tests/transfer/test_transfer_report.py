"""The transfer report: its legend names only rows that ran, the zero-shot point is labelled as such, a
verdict with the paired interval, units and a readable setup, one file name (report.html)."""

from __future__ import annotations

import re

from lmrec.transfer.experiment import plot_learning_curve, summarize, transfer_verdict, write_transfer_report

ZERO_SHOT_LABEL = "pretrained, zero-shot\n(no target training)"


def _rows(models: dict[str, dict[float, float]], paired: dict | None = None) -> list[dict]:
    rows = []
    for m, by_fraction in models.items():
        for f, v in by_fraction.items():
            row = {"fraction": f, "seed": 0, "model": m, "ndcg@10": v, "recall@10": 2 * v, "ndcg@20": 1.2 * v,
                   "recall@20": 3 * v, "fit_seconds": 31.6, "n_train_users": int(100 * f)}  # fmt: skip
            if paired and (f, m) in paired:
                row["paired"] = paired[(f, m)]
            rows.append(row)
    return rows


def _cmp(baseline: str, ratio: float, lo: float, hi: float) -> dict:
    rest = {"p_value": 0.01, "mean_a": 0, "mean_b": 0, "diff": 0, "diff_ci": [0, 0], "confidence": 0.95}
    return {"baseline": baseline, "metric": "ndcg@10", "n": 500, "ratio": ratio, "ratio_ci": [lo, hi], **rest}


def test_the_legend_names_only_rows_that_ran_and_the_zero_shot_point(tmp_path):
    rows = _rows(
        {"zero-shot": {0.0: 0.02}, "content": {0.0: 0.015}, "adaptor": {0.5: 0.04}, "pop": {0.5: 0.01}}
    )
    labels = plot_learning_curve(summarize(rows), tmp_path / "c.png")
    # "pretrained + full" did not run: it is not in the legend; the zero-shot point has its own label
    expected = ["content (untrained text profile)", "pretrained + adaptor", "popularity", ZERO_SHOT_LABEL]
    assert labels == expected
    labels = plot_learning_curve(summarize(_rows({"ease": {0.1: 0.02, 1.0: 0.04}})), tmp_path / "d.png")
    assert labels == ["EASE"]


def test_the_transfer_verdict_and_page(tmp_path):
    paired = {
        (0.5, "adaptor"): _cmp("ease", 1.25, 1.1, 1.4),
        (0.0, "zero-shot"): _cmp("content", 1.3, 0.9, 1.7),
    }
    rows = _rows(
        {"zero-shot": {0.0: 0.02}, "content": {0.0: 0.015}, "adaptor": {0.5: 0.05}, "ease": {0.5: 0.04}},
        paired,
    )
    text = transfer_verdict(summarize(rows))
    assert (
        "With 50% of the target's training users, pretrained + adaptor reaches NDCG@10 0.0500: +25.0% "
        "against the strongest baseline, EASE, at 0.0400; 95% interval [+10.0%, +40.0%]: reliably better."
        in text
    )
    assert "Without any target training, pretrained zero-shot" in text and "not a reliable difference" in text
    meta = {"sources": ["a", "b"], "target": "t", "fractions": [0.0, 0.5], "seeds": 1,
            "pretrain_valid_ndcg@10": 0.0316, "pretrain_seconds": 31.6}  # fmt: skip
    page = write_transfer_report(rows, tmp_path, title="Transfer a,b -> t", meta=meta)
    assert page.name == "report.html" and "url=report.html" in (tmp_path / "index.html").read_text()
    html = page.read_text()
    assert "<script" not in html and "{" not in html.split("</style>")[1]  # no JSON dump, no script
    setup = dict(re.findall(r'<td data-label="setting"[^>]*>([^<]+)</td><td[^>]*>([^<]+)</td>', html))
    assert setup["pretraining: time"] == "31.6 s" and setup["pretraining: validation NDCG@10"] == "0.0316"
    assert setup["shares of target users"] == "0 (zero-shot), 50%" and setup["source datasets"] == "a, b"
    assert "+25.0% [+10.0%, +40.0%]" in html and "31.6 s" in html
