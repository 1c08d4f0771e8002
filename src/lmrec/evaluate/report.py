"""Markdown + HTML evaluation reports with matplotlib plots.

Input: a results dict (or a JSON file holding one)::

    {"protocol": "...", "split_hash": "...", "dataset": "ml-100k",
     "results": {"ease": {"ndcg@10": 0.07, "recall@10": 0.14, ..., "fit_seconds": 0.8, "eval_seconds": 0.3,
                          "params": {"l2": 100}}}}

Output (in ``out_dir``): ``report.html`` (the page people read; ``index.html`` forwards to it), ``report.md``,
``results.json`` (the input) and PNG plots (:mod:`lmrec.evaluate.report_plots`: ``paired.png``, each model's
95% interval against the strongest baseline; ``metrics_vs_k.png``, accuracy against K; ``popularity.png``,
popularity and catalog coverage of the recommendations). Optional keys of a result row: ``paired``
(:func:`lmrec.evaluate.compare.add_paired`), ``valid_ndcg@10``, ``trials`` (each ``{params, valid,
fit_seconds}``) and ``chosen_trial``; of the results: ``samples`` (:mod:`lmrec.evaluate.samples`).
"""

from __future__ import annotations

import html
import json
import math
import re
from pathlib import Path
from typing import Any

from lmrec.errors import LmrecError
from lmrec.evaluate.report_html import (
    Cell,
    details,
    figure,
    fmt_pct,
    fmt_seconds,
    html_page,
    html_table,
    settings_table,
    write_index_alias,
)

__all__ = ["collect_results", "column_label", "load_results", "write_report"]

RANK_ORDER = ("ndcg", "recall", "hit", "mrr", "map", "precision", "f1")
TABLE_ORDER = (
    "ndcg",
    "recall",
    "hit",
    "mrr",
    "map",
    "precision",
    "coverage",
    "novelty",
    "diversity",
    "popularity",
)
LOWER_IS_BETTER = {"popularity", "fit_seconds", "eval_seconds"}
_KEY = re.compile(r"^([a-z_0-9]+)@(\d+)$")


def collect_results(
    split: Any,
    results: dict[str, Any],
    *,
    fit_seconds: dict[str, float] | None = None,
    params: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The results dict :func:`write_report` reads, from a split and ``{model: EvalResult}``.

    The protocol is taken from the first result (they should all share it; differing ones are listed).
    """
    if not results:
        raise LmrecError("no results to collect")
    protocols = sorted({r.protocol for r in results.values()})
    out: dict[str, Any] = {
        "protocol": protocols[0] if len(protocols) == 1 else " | ".join(protocols),
        "split_hash": split.hash,
        "dataset": split.dataset.name,
        "results": {},
    }
    for model, r in results.items():
        row: dict[str, Any] = {k: float(v) for k, v in r.metrics.items()}
        row["n_users"] = r.n_users
        row["eval_seconds"] = float(r.seconds)
        if fit_seconds and model in fit_seconds:
            row["fit_seconds"] = float(fit_seconds[model])
        row["params"] = dict((params or {}).get(model, {}))
        if r.warnings:
            row["warnings"] = list(r.warnings)
        out["results"][model] = row
    return out


def load_results(source: dict[str, Any] | str | Path) -> dict[str, Any]:
    """Validate a results dict, or read one from a JSON file (one-line errors)."""
    if isinstance(source, dict):
        data = source
        where = "results"
    else:
        path = Path(source)
        where = str(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise LmrecError(f"{path}: cannot read results: {exc.strerror or exc}") from None
        except json.JSONDecodeError as exc:
            raise LmrecError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict) or not data["results"]:
        raise LmrecError(
            f"{where}: expected an object with a non-empty 'results' mapping of model -> metrics"
        )
    for model, values in data["results"].items():
        if not isinstance(values, dict):
            raise LmrecError(f"{where}: results['{model}'] must be an object of metric -> value")
    return data


def _metric_keys(results: dict[str, dict[str, Any]]) -> dict[str, list[int]]:
    """metric name -> sorted list of K found in any model's results."""
    found: dict[str, set[int]] = {}
    for values in results.values():
        for key in values:
            m = _KEY.match(key)
            if m:
                found.setdefault(m.group(1), set()).add(int(m.group(2)))
    return {name: sorted(ks) for name, ks in found.items()}


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return None if math.isnan(float(v)) else float(v)


def _fmt(v: Any, name: str = "") -> str:
    """A value with its unit: seconds, interactions (popularity), bits (novelty), % (coverage); metrics as
    plain 4-decimal scores."""
    x = _num(v)
    if x is None:
        return "–"
    if name.endswith("seconds"):
        return fmt_seconds(x)
    base = name.split("@")[0]
    if base == "popularity":
        return f"{x:,.0f} interactions"
    if base == "novelty":
        return f"{x:.2f} bits"
    if base == "coverage":
        return f"{x:.1%}"
    return f"{x:.4f}"


def _main_k(keys: dict[str, list[int]]) -> int | None:
    ks = sorted({k for v in keys.values() for k in v})
    if not ks:
        return None
    return 10 if 10 in ks else ks[len(ks) // 2]


def _best(results: dict[str, dict[str, Any]], columns: list[str]) -> dict[str, float]:
    """The best value of each column with two or more values (lowest for popularity and times)."""
    best: dict[str, float] = {}
    for col in columns:
        vals = [x for m in results.values() if (x := _num(m.get(col))) is not None]
        if len(vals) > 1:
            base = col.split("@")[0]
            best[col] = min(vals) if base in LOWER_IS_BETTER else max(vals)
    return best


def _table(results: dict[str, dict[str, Any]], columns: list[str]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of formatted cells, the best value of each column marked with ``**``."""
    best = _best(results, columns)
    rows = []
    for model, m in results.items():
        cells = [model]
        for col in columns:
            text = _fmt(m.get(col), col)
            x = _num(m.get(col))
            if col in best and x is not None and x == best[col]:
                text = f"**{text}**"
            cells.append(text)
        rows.append(cells)
    return ["model", *[column_label(c) for c in columns]], rows


def column_label(col: str) -> str:
    """A column's name for people: "ndcg@10" -> "NDCG@10", "fit_seconds" -> "fit time"."""
    fixed = {"fit_seconds": "fit time", "eval_seconds": "evaluation time", "tune_seconds": "tuning time",
             "valid_ndcg@10": "validation NDCG@10"}  # fmt: skip
    if col in fixed:
        return fixed[col]
    name, _, k = col.partition("@")
    label = {"ndcg": "NDCG", "recall": "Recall", "hit": "Hit rate", "mrr": "MRR", "map": "MAP",
             "precision": "Precision", "coverage": "Coverage", "novelty": "Novelty",
             "diversity": "Diversity", "popularity": "Popularity", "f1": "F1"}.get(name, name)  # fmt: skip
    return f"{label}@{k}" if k else label


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    def cell(s: str) -> str:
        return s.replace("|", "\\|")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _html_cells(rows: list[list[str]]) -> list[list[Any]]:
    """``**bold**`` markers of :func:`_table` as <b> cells."""
    out = []
    for row in rows:
        cells: list[Any] = []
        for c in row:
            if c.startswith("**") and c.endswith("**"):
                cells.append(Cell(f"<b>{html.escape(c[2:-2])}</b>"))
            else:
                cells.append(c)
        out.append(cells)
    return out


def _paired_cell(row: dict[str, Any], baseline: str | None, name: str) -> Any:
    p = row.get("paired")
    if not isinstance(p, dict):
        return Cell('<span class="tag">reference</span>') if name == baseline else "–"
    lo, hi = p["ratio_ci"][0] - 1, p["ratio_ci"][1] - 1
    css = "up" if lo > 0 else ("down" if hi < 0 else "")
    text = f"{fmt_pct(p['ratio'] - 1)} [{fmt_pct(lo)}, {fmt_pct(hi)}]"
    return Cell(f'<span class="{css}">{html.escape(text)}</span>' if css else html.escape(text))


def _valid_score(row: dict[str, Any]) -> float | None:
    return _num(row.get("valid_ndcg@10"))


def _main_table(
    res: dict[str, dict[str, Any]], k: int | None, decision: dict[str, Any]
) -> tuple[list[str], list[list[Any]]]:
    """The headline table: the main metrics at K, the paired difference to the baseline, validation score,
    fit time; the recommended model tagged."""
    cols = [
        f"{n}@{k}"
        for n in ("ndcg", "recall", "hit")
        if k is not None and any(f"{n}@{k}" in m for m in res.values())
    ]
    best = _best(res, cols)
    baseline = decision.get("baseline")
    paired = any(isinstance(m.get("paired"), dict) for m in res.values())
    metric = next((m["paired"]["metric"] for m in res.values() if isinstance(m.get("paired"), dict)), "")
    header = ["model", *[column_label(c) for c in cols]]
    if paired:
        header.append(f"{column_label(metric)} vs {baseline} [95% interval]")
    has_valid = any(_valid_score(m) is not None for m in res.values())
    if has_valid:
        header.append("validation NDCG@10")
    header.append("fit time")
    rows: list[list[Any]] = []
    for name, m in res.items():
        tag = ""
        if name == decision.get("model") and len(res) > 1:
            tag = '<span class="tag">use this</span>'
        elif name == baseline:
            tag = '<span class="tag">baseline</span>'
        cells: list[Any] = [Cell(html.escape(name) + tag)]
        for c in cols:
            x = _num(m.get(c))
            text = _fmt(x, c)
            cells.append(Cell(f"<b>{text}</b>") if c in best and x == best[c] else text)
        if paired:
            cells.append(_paired_cell(m, baseline, name))
        if has_valid:
            v = _valid_score(m)
            cells.append("–" if v is None else f"{v:.4f}")
        cells.append(_fmt(m.get("fit_seconds"), "fit_seconds"))
        rows.append(cells)
    return header, rows


def _trials_html(res: dict[str, dict[str, Any]]) -> list[str]:
    parts = []
    for name, m in res.items():
        trials = m.get("trials")
        if not isinstance(trials, list) or not trials:
            continue
        chosen = m.get("chosen_trial")
        if not isinstance(chosen, int):
            scores = [_num(t.get("valid")) for t in trials]
            chosen = max(range(len(trials)), key=lambda i: -math.inf if scores[i] is None else scores[i])
        keys = sorted({k for t in trials for k in t.get("params", {})})
        if not keys:  # nothing was tuned (an empty grid): no choice to show
            continue
        header = [*keys, "validation NDCG@10", "fit time", ""]
        rows: list[list[Any]] = []
        for i, t in enumerate(trials):
            vals = [_setting_text(t.get("params", {}).get(key)) for key in keys]
            valid = _num(t.get("valid"))
            mark = Cell('<span class="tag">chosen</span>') if i == chosen else ""
            rows.append(
                [
                    *vals,
                    "–" if valid is None else f"{valid:.4f}",
                    _fmt(t.get("fit_seconds"), "fit_seconds"),
                    mark,
                ]
            )
        summary = f"{name}: {len(trials)} setting{'s' if len(trials) != 1 else ''} tried, chose " + ", ".join(
            f"{key} = {_setting_text(trials[chosen].get('params', {}).get(key))}" for key in keys
        )
        classes = ["chosen" if i == chosen else "" for i in range(len(trials))]
        parts.append(details(summary, html_table(header, rows, row_classes=classes)))
    return parts


def _setting_text(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return "–" if v is None else str(v)


def _samples_html(samples: list[dict[str, Any]]) -> str:
    cards = []
    for s in samples:
        recent = ", ".join(html.escape(t) for t in s.get("recent", []))
        items = "".join(
            f"<li>{html.escape(it['title'])}"
            f"<span class='why'>{html.escape(it.get('explanation') or '')}</span></li>"
            for it in s.get("items", [])
        )
        cards.append(
            f"<li class='card'><h3>User {html.escape(str(s.get('user', '')))}</h3>"
            f"<p class='small muted'>Recently: {recent}</p><ol>{items}</ol></li>"
        )
    return f"<ul class='cards-list'>{''.join(cards)}</ul>"


def write_report(
    results: dict[str, Any] | str | Path, out_dir: str | Path, *, title: str | None = None
) -> Path:
    """Write ``report.md``, ``report.html`` (and ``index.html``, which forwards to it), ``results.json`` and
    PNG plots into ``out_dir``. Returns the path of ``report.html``.

    The page opens with the verdict (:func:`lmrec.evaluate.compare.verdict`) and a compact table of the
    main metrics at K=10 (or the middle K) with each model's paired 95% interval against the strongest
    baseline when the results carry ``paired`` rows; every other metric, the tuning trials (the chosen one
    marked), the settings and the setup are folded below. ``samples`` in the results (see
    :func:`lmrec.evaluate.samples.sample_recommendations`) are shown with their explanations.
    """
    from lmrec.evaluate.compare import verdict
    from lmrec.evaluate.report_plots import plot_beyond_accuracy, plot_metrics_vs_k, plot_paired

    data = load_results(results)
    res: dict[str, dict[str, Any]] = data["results"]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    keys = _metric_keys(res)
    keys.pop("valid_ndcg", None)
    k = _main_k(keys)
    title = title or f"lmrec evaluation: {data.get('dataset', 'dataset')}"
    decision = verdict(data, f"ndcg@{k}" if k is not None else "ndcg@10")

    all_cols = [f"{n}@{kk}" for n in sorted(keys, key=_name_order) for kk in keys[n]]
    all_cols += [
        c for c in ("fit_seconds", "eval_seconds", "tune_seconds") if any(c in m for m in res.values())
    ]
    all_header, all_rows = _table(res, all_cols)
    header, rows = _main_table(res, k, decision)

    plots: list[tuple[str, str]] = []
    if plot_paired(res, out / "paired.png"):
        plots.append(
            (
                "paired.png",
                "Each model against the baseline, user by user: the dot is the "
                "difference of the means, the bar its 95% bootstrap interval; green = reliably better.",
            )
        )
    if plot_metrics_vs_k(res, keys, out / "metrics_vs_k.png"):
        plots.append(("metrics_vs_k.png", "Accuracy against the length K of the recommendation list."))
    if k is not None and plot_beyond_accuracy(res, k, out / "popularity.png"):
        plots.append(
            (
                "popularity.png",
                "Beyond accuracy: how popular the recommended items are and how much "
                "of the catalog gets recommended.",
            )
        )
    n_users = next((m.get("n_users") for m in res.values() if m.get("n_users")), None)
    facts = [("dataset", str(data.get("dataset", "–")))]
    if n_users:
        facts.append(("test users", f"{int(n_users):,}"))
    facts.append(("split", str(data.get("split_hash", "–"))))
    if k is not None:
        facts.append(("list length", f"K = {k}"))
    params = {m: v.get("params") or {} for m, v in res.items()}
    samples = data.get("samples") or []

    md = [f"# {title}", "", f"> {decision['text']}", ""]
    md += [f"- **{name}**: {value}" for name, value in facts]
    md += [f"- **protocol**: {data.get('protocol', '–')}", ""]
    md += [
        f"## Results at K={k}" if k is not None else "## Results",
        "",
        _md_table(header, [[_plain(c) for c in r] for r in rows]),
        "",
    ]
    if all_cols:
        md += ["## All metrics", "", _md_table(all_header, all_rows), ""]
    for png, caption in plots:
        md += [f"![{caption}]({png})", ""]
    if samples:
        md += ["## Sample recommendations", ""]
        for s in samples:
            md += [f"- **user {s.get('user')}** (recently: {', '.join(s.get('recent', []))})"]
            md += [
                f"  {n}. {it['title']} — {it.get('explanation') or ''}"
                for n, it in enumerate(s.get("items", []), 1)
            ]
        md.append("")
    if any(params.values()):
        md += ["## Settings", "", _md_table(["model", "settings"], [
            [m, ", ".join(f"{a} = {_setting_text(b)}" for a, b in sorted(p.items())) or "defaults"]
            for m, p in params.items()
        ]), ""]  # fmt: skip
    (out / "report.md").write_text("\n".join(md), encoding="utf-8")

    esc = html.escape
    body = [
        f"<h1>{esc(title)}</h1>",
        "<ul class='facts'>" + "".join(f"<li>{esc(n)}: <b>{esc(v)}</b></li>" for n, v in facts) + "</ul>",
        f"<p class='verdict'>{esc(decision['text'])}</p>",
        f"<h2>Results at K={k}</h2>" if k is not None else "<h2>Results</h2>",
        html_table(header, rows, cards=True),
        "<p class='small muted'>Best value per column in bold. Intervals: paired bootstrap over the same "
        "test users (10,000 resamples) of the relative difference in the mean.</p>",
    ]
    if all_cols:
        body.append(details(f"All metrics at every K ({len(all_cols)} columns)",
                            html_table(all_header, _html_cells(all_rows))))  # fmt: skip
    if plots:
        body.append("<h2>Plots</h2>")
        body += [figure(png, caption) for png, caption in plots]
    if samples:
        who = samples[0].get("model")
        body.append(f"<h2>Sample recommendations{' from ' + esc(str(who)) if who else ''}</h2>")
        body.append(_samples_html(samples))
    trials = _trials_html(res)
    if trials:
        body += ["<h2>Tuning</h2>", "<p class='small muted'>Each setting was fitted on the training part and "
                 "scored on the validation part; the chosen one (highlighted) is the model evaluated "
                 "above.</p>",
                 *trials]  # fmt: skip
    body.append("<h2>Settings and setup</h2>")
    if any(params.values()):
        body.append(details("Model settings", settings_table(params)))
    setup = [["protocol", str(data.get("protocol", "–"))], ["split hash", str(data.get("split_hash", "–"))]]
    for key, value in (data.get("split") or {}).items():
        if key not in ("protocol", "split_hash"):
            setup.append([str(key), f"{value:,}" if isinstance(value, int) else str(value)])
    body.append(details("Evaluation setup", html_table(["", ""], setup)))
    (out / "report.html").write_text(html_page(title, body), encoding="utf-8")
    write_index_alias(out)
    (out / "results.json").write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    return out / "report.html"


def _plain(cell: Any) -> str:
    """A table cell as Markdown text (tags dropped, bold kept)."""
    text = re.sub(r"<b>(.*?)</b>", r"**\1**", str(cell))
    text = re.sub(r'<span class="tag">(.*?)</span>', r" (\1)", text)
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def _name_order(name: str) -> tuple[int, str]:
    order = list(TABLE_ORDER) + ["f1"]
    return (order.index(name) if name in order else len(order), name)
