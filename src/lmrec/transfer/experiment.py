"""The transfer experiment: learning curves of pretrained vs from-scratch models over the share of target
training users (few-shot), all evaluated by full ranking on the same target test users.

For each fraction f of target training users (:func:`lmrec.data.split.few_shot`; f = 0 is zero-shot) and
seed: pretrained + adaptor, pretrained + full, scratch textseq, SASRec (IDs), EASE and popularity are trained
on the kept users (at f = 0: the pretrained model zero-shot and the untrained ``content`` model) and
evaluated on the test stage of the full split (every user's history is the same as in the full split, so
rows of different fractions compare). :func:`write_transfer_report` writes a mean ± std
table, ``learning_curve.png`` (NDCG@10 vs fraction) and an HTML page.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lmrec.data import Dataset
from lmrec.data.split import Split, few_shot
from lmrec.errors import ConfigError
from lmrec.models.base import FitOptions
from lmrec.transfer.pretrain import Pretrained

MODELS: tuple[str, ...] = ("zero-shot", "content", "adaptor", "full", "scratch", "sasrec", "ease", "pop")
# the fraction-0 rows: they use no target interaction
ZERO_SHOT: tuple[str, ...] = ("zero-shot", "content")
LABELS = {
    "zero-shot": "pretrained zero-shot",
    "content": "content (zero-shot)",
    "adaptor": "pretrained + adaptor",
    "full": "pretrained + full",
    "scratch": "textseq scratch",
    "sasrec": "SASRec (ID)",
    "ease": "EASE",
    "pop": "popularity",
}


def run_transfer_experiment(
    pretrained: Pretrained,
    dataset: Dataset,
    split: Split,
    fractions: Sequence[float],
    seeds: Sequence[int] = (0,),
    *,
    models: Sequence[str] = MODELS,
    overrides: dict[str, Any] | None = None,
    sasrec_params: dict[str, Any] | None = None,
    align: str = "whiten",
    max_seconds: float | None = None,
    log: Callable[[str], None] | None = None,
    on_row: Callable[[dict[str, Any]], None] | None = None,
    device: str = "auto",
) -> list[dict[str, Any]]:
    """One result row per (fraction, seed, model): ``recall@10``, ``ndcg@10``, ``recall@20``, ``ndcg@20``,
    ``fit_seconds``. ``max_seconds`` caps each neural model's training time (checked between epochs);
    ``device`` is where they train (:mod:`lmrec.device`).
    ``on_row`` receives each row as soon as it exists (long runs can be interrupted without losing them)."""
    from lmrec.evaluate import evaluate_model
    from lmrec.models.content import ContentRecommender
    from lmrec.models.textseq import TextSeq
    from lmrec.train.tune import tune_model
    from lmrec.transfer.adapt import adapt

    bad = [m for m in models if m not in MODELS]
    if bad:
        raise ConfigError(f"option 'models': unknown {bad}; choose from {', '.join(MODELS)}")
    for f in fractions:
        if not 0.0 <= f <= 1.0:
            raise ConfigError(f"option 'fractions': {f} is not in [0, 1]")
    rows: list[dict[str, Any]] = []
    for seed in seeds:
        opts = FitOptions(seed=seed, max_seconds=max_seconds, device=device)
        for f in fractions:
            part = split if f >= 1.0 else (few_shot(split, f, seed=seed) if f > 0 else split)
            for name in models:
                if (f == 0) != (name in ZERO_SHOT):
                    continue  # zero-shot is the fraction-0 point; everything else needs training users
                t0 = time.perf_counter()
                if name == "zero-shot":
                    model = adapt(pretrained, dataset, None, mode="zero-shot", align=align)
                elif name == "content":
                    # the text profile of each user's history; the split's training events only say which
                    # users exist (its popularity bonus is off: no interaction statistic is used)
                    pc = pretrained.config
                    model = ContentRecommender(
                        encoder=pc.encoder,
                        template=pc.template,
                        vector_field=pc.vector_field,
                        cache_dir=pc.cache_dir,
                    ).fit(split.train, items=dataset.items, options=opts)
                elif name in ("adaptor", "full"):
                    model = adapt(
                        pretrained, dataset, part, mode=name, align=align, overrides=overrides, options=opts
                    )
                elif name == "scratch":
                    cfg = pretrained.config.replace(**(overrides or {}))
                    model = TextSeq(cfg).fit(part.train, part.valid, items=dataset.items, options=opts)
                elif name == "sasrec":
                    params = {"epochs": 50, "patience": 3, **(sasrec_params or {})}
                    model = tune_model("sasrec", part, {}, base_params=params, options=opts).model
                else:
                    model = tune_model(name, part, options=opts).model
                fit_s = time.perf_counter() - t0
                ev = evaluate_model(model, split, ks=(10, 20), stage="test", seed=seed, checks=False)
                row = {
                    "fraction": float(f),
                    "seed": int(seed),
                    "model": name,
                    **{k: float(ev[k]) for k in ("recall@10", "ndcg@10", "recall@20", "ndcg@20")},
                    "fit_seconds": round(fit_s, 2),
                    "n_train_users": int(len(np.unique(part.train.user))) if f > 0 else 0,
                }
                rows.append(row)
                if on_row is not None:
                    on_row(row)
                if log is not None:
                    log(
                        f"fraction {f:g} seed {seed} {LABELS[name]}: R@10 {row['recall@10']:.4f} "
                        f"N@10 {row['ndcg@10']:.4f} ({fit_s:.0f}s)"
                    )
    return rows


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and std over seeds per (fraction, model), in fraction then model order."""
    out = []
    keys = sorted({(r["fraction"], r["model"]) for r in rows}, key=lambda k: (k[0], MODELS.index(k[1])))
    for f, m in keys:
        sel = [r for r in rows if r["fraction"] == f and r["model"] == m]
        rec: dict[str, Any] = {"fraction": f, "model": m, "n_seeds": len(sel)}
        for k in ("recall@10", "ndcg@10", "recall@20", "ndcg@20", "fit_seconds"):
            v = np.array([r[k] for r in sel], dtype=np.float64)
            rec[k] = float(v.mean())
            rec[k + "_std"] = float(v.std(ddof=1)) if len(v) > 1 else 0.0
        out.append(rec)
    return out


def format_table(summary: list[dict[str, Any]]) -> str:
    """A plain-text (markdown) table of :func:`summarize`'s rows."""
    lines = [
        "| fraction | model | Recall@10 | NDCG@10 | Recall@20 | NDCG@20 | fit s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in summary:

        def ms(k: str, r: dict[str, Any] = r) -> str:
            return f"{r[k]:.4f} ± {r[k + '_std']:.4f}" if r["n_seeds"] > 1 else f"{r[k]:.4f}"

        lines.append(
            f"| {r['fraction']:g} | {LABELS[r['model']]} | {ms('recall@10')} | {ms('ndcg@10')} | "
            f"{ms('recall@20')} | {ms('ndcg@20')} | {r['fit_seconds']:.0f} |"
        )
    return "\n".join(lines)


def _plot(summary: list[dict[str, Any]], path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 4.2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    zero = [r for r in summary if r["model"] == "zero-shot"]
    for m in MODELS:
        if m == "zero-shot":
            continue
        pts = sorted((r["fraction"], r["ndcg@10"], r["ndcg@10_std"]) for r in summary if r["model"] == m)
        if m in ("adaptor", "full") and zero:  # pretrained curves start at the zero-shot point
            pts = [(0.0, zero[0]["ndcg@10"], zero[0]["ndcg@10_std"]), *pts]
        if not pts:
            continue
        x, y, e = (np.array(v) for v in zip(*pts, strict=True))
        ax.errorbar(x, y, yerr=e, marker="o", capsize=3, label=LABELS[m])
    if zero and not any(r["model"] in ("adaptor", "full") for r in summary):
        ax.plot([0.0], [zero[0]["ndcg@10"]], "k*", label=LABELS["zero-shot"])
    ax.set_xlabel("fraction of target training users")
    ax.set_ylabel("test NDCG@10 (full ranking)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(str(path), dpi=110)


def write_transfer_report(
    rows: list[dict[str, Any]], out_dir: str | Path, *, title: str, meta: dict[str, Any] | None = None
) -> Path:
    """Write ``results.json``, ``table.md``, ``learning_curve.png`` and ``index.html`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(rows)
    table = format_table(summary)
    (out / "results.json").write_text(
        json.dumps({"meta": meta or {}, "rows": rows, "summary": summary}, indent=2), encoding="utf-8"
    )
    (out / "table.md").write_text(f"# {title}\n\n{table}\n", encoding="utf-8")
    _plot(summary, out / "learning_curve.png")
    head = "".join(f"<th>{h}</th>" for h in table.splitlines()[0].strip("|").split("|"))
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c.strip())}</td>" for c in line.strip("|").split("|")) + "</tr>"
        for line in table.splitlines()[2:]
    )
    meta_html = html.escape(json.dumps(meta or {}, indent=2))
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><table><tr>{head}</tr>{body}</table>"
        "<p><img src='learning_curve.png' alt='NDCG@10 vs fraction of target training users'></p>"
        f"<h2>Setup</h2><pre>{meta_html}</pre></body></html>"
    )
    (out / "index.html").write_text(page, encoding="utf-8")
    return out / "index.html"
