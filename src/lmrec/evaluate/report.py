"""Markdown + HTML evaluation reports with matplotlib plots.

Input: a results dict (or a JSON file holding one)::

    {"protocol": "...", "split_hash": "...", "dataset": "ml-100k",
     "results": {"ease": {"ndcg@10": 0.07, "recall@10": 0.14, ..., "fit_seconds": 0.8, "eval_seconds": 0.3,
                          "params": {"l2": 100}}}}

Output (in ``out_dir``): ``report.md``, ``report.html``, ``results.json`` (the input) and PNG plots
(``metrics_vs_k.png``: each rank metric against K per model; ``popularity.png``: the average popularity and
catalog coverage of each model's recommendations). Plots use matplotlib's Agg canvas directly, never pyplot,
so no global backend is switched and no display is needed.
"""

from __future__ import annotations

import html
import json
import math
import re
from pathlib import Path
from typing import Any

from lmrec.errors import LmrecError

__all__ = ["collect_results", "load_results", "write_report"]

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
    x = _num(v)
    if x is None:
        return "–"
    if name.endswith("seconds"):
        return f"{x:.2f}" if x < 100 else f"{x:,.0f}"
    if name.startswith(("popularity", "novelty")):
        return f"{x:.2f}"
    return f"{x:.4f}"


def _main_k(keys: dict[str, list[int]]) -> int | None:
    ks = sorted({k for v in keys.values() for k in v})
    if not ks:
        return None
    return 10 if 10 in ks else ks[len(ks) // 2]


def _table(results: dict[str, dict[str, Any]], columns: list[str]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of formatted cells, the best value of each column marked with ``**``."""
    best: dict[str, float] = {}
    for col in columns:
        vals = [x for m in results.values() if (x := _num(m.get(col))) is not None]
        if len(vals) > 1:
            base = col.split("@")[0]
            best[col] = min(vals) if base in LOWER_IS_BETTER else max(vals)
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
    return ["model", *columns], rows


def _plot_metrics_vs_k(results: dict[str, dict[str, Any]], keys: dict[str, list[int]], path: Path) -> bool:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = [n for n in RANK_ORDER if len(keys.get(n, [])) >= 1]
    if not names:
        return False
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig = Figure(figsize=(4.2 * cols, 3.2 * rows), dpi=100)
    FigureCanvasAgg(fig)
    for idx, name in enumerate(names):
        ax = fig.add_subplot(rows, cols, idx + 1)
        ks = keys[name]
        for model, m in results.items():
            ys = [_num(m.get(f"{name}@{k}")) for k in ks]
            pts = [(k, y) for k, y in zip(ks, ys, strict=True) if y is not None]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=model)
        ax.set_title(f"{name}@K")
        ax.set_xlabel("K")
        ax.set_xticks(ks)
        ax.grid(alpha=0.3)
        if idx == 0:
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, format="png")
    return True


def _plot_popularity(results: dict[str, dict[str, Any]], k: int, path: Path) -> bool:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    models = list(results)
    pop = [_num(results[m].get(f"popularity@{k}")) for m in models]
    cov = [_num(results[m].get(f"coverage@{k}")) for m in models]
    if all(v is None for v in pop) and all(v is None for v in cov):
        return False
    fig = Figure(figsize=(max(6.0, 1.2 * len(models) + 3), 3.6), dpi=100)
    FigureCanvasAgg(fig)
    for idx, (vals, title) in enumerate(
        ((pop, f"average popularity of the top {k} (lower = less popular)"), (cov, f"catalog coverage@{k}"))
    ):
        ax = fig.add_subplot(1, 2, idx + 1)
        ax.bar(range(len(models)), [v if v is not None else 0.0 for v in vals], color=f"C{idx}")
        ax.set_xticks(range(len(models)))
        ax.set_xticklabels(models, rotation=30, ha="right", fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, format="png")
    return True


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    def cell(s: str) -> str:
        return s.replace("|", "\\|")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    def cell(s: str, tag: str) -> str:
        bold = s.startswith("**") and s.endswith("**")
        text = html.escape(s[2:-2] if bold else s)
        return f"<{tag}>{'<b>' + text + '</b>' if bold else text}</{tag}>"

    head = "<tr>" + "".join(cell(h, "th") for h in header) + "</tr>"
    body = "".join("<tr>" + "".join(cell(c, "td") for c in r) + "</tr>" for r in rows)
    return f"<table>\n<thead>{head}</thead>\n<tbody>{body}</tbody>\n</table>"


def write_report(
    results: dict[str, Any] | str | Path, out_dir: str | Path, *, title: str | None = None
) -> Path:
    """Write ``report.md``, ``report.html``, ``results.json`` and PNG plots into ``out_dir``.

    Returns the path of ``report.html``. The main table shows every metric at K=10 (or the middle K) plus the
    fit and evaluation times; the best value per column is bold (lowest for popularity and times).
    """
    data = load_results(results)
    res: dict[str, dict[str, Any]] = data["results"]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    keys = _metric_keys(res)
    k = _main_k(keys)
    title = title or f"lmrec evaluation: {data.get('dataset', 'dataset')}"

    main_cols = [f"{n}@{k}" for n in TABLE_ORDER if k is not None and k in keys.get(n, [])]
    main_cols += [c for c in ("fit_seconds", "eval_seconds") if any(c in m for m in res.values())]
    header, rows = _table(res, main_cols)
    all_cols = [f"{n}@{kk}" for n in sorted(keys, key=_name_order) for kk in keys[n]]
    all_header, all_rows = _table(res, all_cols)

    plots: list[tuple[str, str]] = []
    if _plot_metrics_vs_k(res, keys, out / "metrics_vs_k.png"):
        plots.append(("metrics_vs_k.png", "Rank metrics against the cut-off K"))
    if k is not None and _plot_popularity(res, k, out / "popularity.png"):
        plots.append(("popularity.png", "Popularity and coverage of the recommendations"))

    meta = [
        ("dataset", str(data.get("dataset", "–"))),
        ("protocol", str(data.get("protocol", "–"))),
        ("split hash", str(data.get("split_hash", "–"))),
    ]
    params = {m: v.get("params") for m, v in res.items() if v.get("params")}

    md = [f"# {title}", ""]
    md += [f"- **{name}**: {value}" for name, value in meta]
    md += ["", f"## Results at K={k}" if k is not None else "## Results", "", _md_table(header, rows), ""]
    if all_cols:
        md += ["## All metrics", "", _md_table(all_header, all_rows), ""]
    for png, caption in plots:
        md += [f"![{caption}]({png})", ""]
    if params:
        md += ["## Model parameters", ""]
        md += [f"- **{m}**: `{json.dumps(p, sort_keys=True, default=str)}`" for m, p in params.items()]
        md.append("")
    (out / "report.md").write_text("\n".join(md), encoding="utf-8")

    esc = html.escape
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:1em 0;font-size:14px}"
        "th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}"
        "th:first-child,td:first-child{text-align:left}img{max-width:100%}</style>",
        "</head><body>",
        f"<h1>{esc(title)}</h1>",
        "<ul>" + "".join(f"<li><b>{esc(n)}</b>: {esc(v)}</li>" for n, v in meta) + "</ul>",
        f"<h2>Results at K={k}</h2>" if k is not None else "<h2>Results</h2>",
        _html_table(header, rows),
    ]
    if all_cols:
        parts += ["<h2>All metrics</h2>", _html_table(all_header, all_rows)]
    for png, caption in plots:
        parts.append(
            f'<figure><img src="{png}" alt="{esc(caption)}"><figcaption>{esc(caption)}</figcaption></figure>'
        )
    if params:
        parts.append("<h2>Model parameters</h2><ul>")
        parts += [
            f"<li><b>{esc(m)}</b>: <code>{esc(json.dumps(p, sort_keys=True, default=str))}</code></li>"
            for m, p in params.items()
        ]
        parts.append("</ul>")
    parts.append("</body></html>")
    (out / "report.html").write_text("\n".join(parts), encoding="utf-8")
    (out / "results.json").write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    return out / "report.html"


def _name_order(name: str) -> tuple[int, str]:
    order = list(TABLE_ORDER) + ["f1"]
    return (order.index(name) if name in order else len(order), name)
