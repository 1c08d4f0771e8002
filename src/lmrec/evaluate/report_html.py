"""HTML building blocks shared by the evaluation, quickstart and transfer reports.

Self-contained pages (inline CSS, no script, no external asset) that read on a phone: a table marked
``cards`` turns into one labelled card per row below 640 px, wide tables scroll inside their own box, and
secondary material sits in ``<details>``. Numbers carry their units (:func:`fmt_seconds`, :func:`fmt_pct`).
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "PAGE_CSS",
    "Cell",
    "details",
    "fmt_pct",
    "fmt_seconds",
    "html_page",
    "figure",
    "html_table",
    "settings_table",
    "write_index_alias",
]

PAGE_CSS = """
:root{--fg:#1b1f24;--muted:#57606a;--line:#d0d7de;--bg:#fff;--soft:#f6f8fa;--good:#1a7f37;--bad:#cf222e;
--accent:#0969da}
*{box-sizing:border-box}
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Noto Sans CJK SC",sans-serif;
color:var(--fg);background:var(--bg);max-width:1040px;margin:0 auto;padding:1.5rem 1rem 3rem}
h1{font-size:1.7rem;line-height:1.25;margin:.2rem 0 .4rem}h2{font-size:1.25rem;margin:2rem 0 .6rem;
border-bottom:1px solid var(--line);padding-bottom:.25rem}h3{font-size:1.05rem;margin:1.2rem 0 .4rem}
p{margin:.5rem 0}.muted{color:var(--muted)}.small{font-size:.875rem}
.verdict{background:#ddf4ff;border-left:4px solid var(--accent);padding:.8rem 1rem;border-radius:6px;
font-size:1.05rem}
.facts{display:flex;flex-wrap:wrap;gap:.4rem 1.4rem;margin:.4rem 0 0;padding:0;list-style:none;
color:var(--muted);font-size:.9rem}.facts b{color:var(--fg);font-weight:600}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;margin:.6rem 0;font-size:.92rem;font-variant-numeric:tabular-nums}
th,td{border-bottom:1px solid var(--line);padding:.4rem .6rem;text-align:right;vertical-align:top}
th{background:var(--soft);font-weight:600;white-space:nowrap}
th:first-child,td:first-child{text-align:left}td.text,th.text{text-align:left}td{white-space:nowrap}
td.text{white-space:normal}.lead{text-align:left}
tr.chosen td{background:#dafbe1}td b{font-weight:700}
.up{color:var(--good)}.down{color:var(--bad)}.tag{display:inline-block;font-size:.75rem;padding:0 .4rem;
border-radius:1rem;background:var(--soft);border:1px solid var(--line);color:var(--muted);margin-left:.3rem}
details{margin:.6rem 0;border:1px solid var(--line);border-radius:6px;padding:.4rem .8rem}
summary{cursor:pointer;font-weight:600}details[open] summary{margin-bottom:.4rem}
figure{margin:1rem 0}figure img{width:100%;height:auto;border:1px solid var(--line);border-radius:6px}
figcaption{color:var(--muted);font-size:.9rem;margin-top:.3rem}
.cards-list{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:.8rem;padding:0;
list-style:none}.card{border:1px solid var(--line);border-radius:8px;padding:.7rem .9rem}
.card h3{margin:0 0 .3rem}.card ol{margin:.3rem 0 0;padding-left:1.3rem}.card li{margin:.35rem 0}
.why{display:block;color:var(--muted);font-size:.875rem}
code{font-size:.85em;background:var(--soft);padding:0 .25rem;border-radius:4px}
.kv{display:flex;flex-wrap:wrap;gap:.2rem .5rem}.kv span{white-space:nowrap}
@media (max-width:640px){
body{font-size:15px;padding:1rem .7rem 2rem}h1{font-size:1.35rem}
table.cards,table.cards tbody,table.cards tr,table.cards td{display:block;width:100%}
table.cards thead{display:none}table.cards tr{border:1px solid var(--line);border-radius:8px;
margin:.6rem 0;padding:.3rem .6rem}table.cards td{border:0;display:flex;justify-content:space-between;
gap:1rem;padding:.2rem 0;text-align:right}table.cards td::before{content:attr(data-label);
color:var(--muted);text-align:left}table.cards td:first-child{font-weight:700;font-size:1.05rem}
table.cards td:first-child::before{content:none}table.cards td{white-space:normal}
table.cards td::before{flex:0 0 45%}
figure a{display:block;overflow-x:auto}figure img{min-width:600px}
}
"""


class Cell(str):
    """A table cell already in HTML (not escaped again), with an optional CSS class."""

    css: str = ""

    def __new__(cls, markup: str, css: str = "") -> Cell:
        obj = super().__new__(cls, markup)
        obj.css = css
        return obj


def _cell(value: Any, tag: str, label: str = "", css: str = "") -> str:
    attrs = f' data-label="{html.escape(label)}"' if label and tag == "td" else ""
    classes = " ".join(c for c in (css, getattr(value, "css", "")) if c)
    attrs += f' class="{classes}"' if classes else ""
    text = str(value) if isinstance(value, Cell) else html.escape(str(value))
    return f"<{tag}{attrs}>{text}</{tag}>"


def html_table(
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    cards: bool = False,
    row_classes: Sequence[str] | None = None,
    caption: str | None = None,
    lead: int = 1,
) -> str:
    """A table (cells escaped unless they are :class:`Cell`); ``cards``: one labelled card per row on narrow
    screens, else the table scrolls sideways inside its own box when it does not fit. The first ``lead``
    columns (names) are left-aligned, the rest (numbers) right-aligned."""
    head = (
        "<tr>"
        + "".join(_cell(h, "th", css="lead" if i < lead else "") for i, h in enumerate(header))
        + "</tr>"
    )
    body = []
    for n, row in enumerate(rows):
        css = f' class="{row_classes[n]}"' if row_classes and row_classes[n] else ""
        cells = "".join(
            _cell(v, "td", str(header[i]) if i < len(header) else "", "lead" if i < lead else "")
            for i, v in enumerate(row)
        )
        body.append(f"<tr{css}>{cells}</tr>")
    cap = f"<caption class='muted small'>{html.escape(caption)}</caption>" if caption else ""
    css = ' class="cards"' if cards else ""
    table = f"<table{css}>{cap}<thead>{head}</thead><tbody>{''.join(body)}</tbody></table>"
    return table if cards else f'<div class="scroll">{table}</div>'


def details(summary: str, inner: str, *, open_: bool = False) -> str:
    """A folded section (``summary`` is escaped, ``inner`` is HTML)."""
    return f"<details{' open' if open_ else ''}><summary>{html.escape(summary)}</summary>{inner}</details>"


def figure(png: str, caption: str) -> str:
    """A plot with its caption; the image links to itself (full size on a phone, where it scrolls)."""
    cap = html.escape(caption)
    return f'<figure><a href="{png}"><img src="{png}" alt="{cap}"></a><figcaption>{cap}</figcaption></figure>'


def fmt_seconds(x: float | None) -> str:
    """Seconds with their unit: "0.02 s", "31.6 s", "2 min 05 s", "1 h 02 min"; "–" for None."""
    if x is None:
        return "–"
    x = float(x)
    if x < 1:
        return f"{x:.2f} s"
    if x < 60:
        return f"{x:.1f} s"
    if x < 3600:
        return f"{int(x // 60)} min {int(round(x % 60)):02d} s"
    return f"{int(x // 3600)} h {int(round(x % 3600 / 60)):02d} min"


def fmt_pct(x: float, digits: int = 1, signed: bool = True) -> str:
    """A fraction as a percentage: 0.123 -> "+12.3%"."""
    return f"{x * 100:{'+' if signed else ''}.{digits}f}%"


def _setting(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_setting(v) for v in value) or "none"
    if isinstance(value, Mapping):
        return "; ".join(f"{k} {_setting(v)}" for k, v in value.items()) or "none"
    if value is None:
        return "none"
    return str(value)


def settings_table(settings: Mapping[str, Mapping[str, Any]]) -> str:
    """Each model's settings as a two-column table (model, "name = value" pairs that wrap) instead of JSON."""
    rows = []
    for model, values in settings.items():
        pairs = "".join(
            f"<span><code>{html.escape(str(k))}</code> = {html.escape(_setting(v))}</span>"
            for k, v in sorted(values.items())
        )
        rows.append([model, Cell(f'<div class="kv">{pairs or "defaults"}</div>', "text")])
    return html_table(["model", "settings"], rows, cards=False)


def html_page(title: str, body: Sequence[str], *, lang: str = "en") -> str:
    """A complete page: ``title`` (escaped) and the ``body`` fragments (HTML)."""
    return "\n".join(
        [
            "<!doctype html>",
            f'<html lang="{lang}"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{html.escape(title)}</title>",
            f"<style>{PAGE_CSS}</style>",
            "</head><body><main>",
            *body,
            "</main></body></html>",
        ]
    )


def write_index_alias(out_dir: Path, target: str = "report.html") -> Path:
    """``index.html`` that forwards to ``target`` (old links and directory URLs keep working; no script)."""
    page = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta http-equiv='refresh' content='0; url={target}'><title>Report</title></head>"
        f"<body><p>The report is at <a href='{target}'>{target}</a>.</p></body></html>"
    )
    path = Path(out_dir) / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


def json_text(value: Any) -> str:
    """Compact JSON for the Markdown version of the report."""
    return json.dumps(value, sort_keys=True, default=str)
