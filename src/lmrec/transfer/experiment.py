"""The transfer experiment: learning curves of pretrained vs from-scratch models over the share of target
training users (few-shot), all evaluated by full ranking on the same target test users.

For each fraction f of target training users (:func:`lmrec.data.split.few_shot`; f = 0 is zero-shot) and
seed: pretrained + adaptor, pretrained + full, scratch textseq, SASRec (IDs), EASE and popularity are trained
on the kept users (at f = 0: the pretrained model zero-shot) and evaluated on the test stage of the full split
(every user's history is the same as in the full split, so rows of different fractions compare). The
untrained ``content`` model (each user's text profile) is the floor at every fraction. With a meta-pretrained
model (:mod:`lmrec.transfer.meta`), ``meta-full`` fine-tunes it the same way as ``full``. The ``guard`` row
is the negative-transfer guard's pick (:func:`lmrec.transfer.guard.choose`) among the rows trained at that
fraction and seed, by their per-user validation NDCG@10; its test numbers are the picked row's, and
``choice`` names it. Each pretrained row (and the guard's) is compared user by user with the strongest
baseline row of its fraction and seed (``paired``). :func:`write_transfer_report` writes ``report.html``
(a verdict, a mean ± std table with the paired intervals, ``learning_curve.png`` and the setup as a table).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lmrec.data import Dataset
from lmrec.data.split import Split, few_shot, item_cold_start_split
from lmrec.errors import ConfigError
from lmrec.evaluate.report_html import fmt_pct, fmt_seconds
from lmrec.models.base import FitOptions
from lmrec.transfer.pretrain import Pretrained

MODELS: tuple[str, ...] = (
    "zero-shot",
    "content",
    "adaptor",
    "full",
    "meta-full",
    "scratch",
    "sasrec",
    "ease",
    "pop",
    "guard",
)
# the rows run unless a caller says otherwise (meta-full needs a meta-pretrained model)
DEFAULT_MODELS: tuple[str, ...] = tuple(m for m in MODELS if m != "meta-full")
# the rows' settings: the target's own split (a share of its users), or its items held out (cold start)
WARM, COLD = "warm", "cold items"
# the fraction-0 rows: they use no target interaction (content also runs at every other share: the floor)
ZERO_SHOT: tuple[str, ...] = ("zero-shot", "content")
LABELS = {
    "zero-shot": "pretrained zero-shot",
    "content": "content (untrained text profile)",
    "adaptor": "pretrained + adaptor",
    "full": "pretrained + full",
    "meta-full": "meta-pretrained + full",
    "guard": "guard's choice (on validation)",
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
    models: Sequence[str] = DEFAULT_MODELS,
    meta: Pretrained | None = None,
    overrides: dict[str, Any] | None = None,
    sasrec_params: dict[str, Any] | None = None,
    align: str = "whiten",
    max_seconds: float | None = None,
    log: Callable[[str], None] | None = None,
    on_row: Callable[[dict[str, Any]], None] | None = None,
    device: str = "auto",
    cold_items: float = 0.0,
) -> list[dict[str, Any]]:
    """One result row per (fraction, seed, model): ``recall@10``, ``ndcg@10``, ``recall@20``, ``ndcg@20``,
    ``fit_seconds``. ``max_seconds`` caps each neural model's training time (checked between epochs);
    ``device`` is where they train (:mod:`lmrec.device`).
    ``on_row`` receives each row as soon as it exists (long runs can be interrupted without losing them).
    ``meta``: the meta-pretrained model of the ``meta-full`` rows. ``cold_items`` > 0: after each seed's
    shares, the rows once more (every training user, the zero-shot row included) on an item cold-start split
    of ``dataset`` (:func:`lmrec.data.split.item_cold_start_split`, that share of its items held out of
    training as validation items and as many as test items; the same items for every seed); these rows have
    ``setting`` ``"cold items"``, the others ``"warm"``."""
    from lmrec.evaluate import evaluate_model
    from lmrec.models import too_large
    from lmrec.models.content import ContentRecommender
    from lmrec.models.textseq import TextSeq
    from lmrec.transfer.adapt import adapt
    from lmrec.tune import tune_model

    bad = [m for m in models if m not in MODELS]
    if bad:
        raise ConfigError(f"option 'models': unknown {bad}; choose from {', '.join(MODELS)}")
    if "meta-full" in models and meta is None:
        raise ConfigError(
            "option 'models': 'meta-full' needs a meta-pretrained model (--meta-pretrained DIR)"
        )
    for f in fractions:
        if not 0.0 <= f <= 1.0:
            raise ConfigError(f"option 'fractions': {f} is not in [0, 1]")
    if not 0.0 <= cold_items < 0.5:
        raise ConfigError(f"option 'cold_items': {cold_items} is not in [0, 0.5)")
    rows: list[dict[str, Any]] = []
    # the untrained text profile: the same model at every share and seed, so fitted once per split (setting)
    # and evaluated once per seed
    contents: dict[str, Any] = {}
    content_evals: dict[tuple[str, int], Any] = {}
    cold = item_cold_start_split(dataset, cold_items, cold_items, seed=0) if cold_items > 0 else None

    def content_model(setting: str, on: Split, opts: FitOptions) -> Any:
        # the text profile of each user's history; the split's training events only say which users exist
        # (its popularity bonus is off: no interaction statistic is used)
        if setting not in contents:
            pc = pretrained.config
            contents[setting] = ContentRecommender(
                encoder=pc.encoder, template=pc.template, vector_field=pc.vector_field, cache_dir=pc.cache_dir
            ).fit(on.train, items=dataset.items, options=opts)
        return contents[setting]

    def run_rows(f: float, part: Split, on: Split, setting: str, seed: int, opts: FitOptions) -> None:
        """Train the rows on ``part`` and evaluate them on the test stage of ``on``."""
        here: dict[str, tuple[dict[str, Any], Any]] = {}  # model -> (row, per-user values)
        trained: dict[str, Any] = {}  # model -> the fitted model (the guard's candidates)
        for name in models:
            if name == "zero-shot" and f > 0 and setting != COLD:
                continue  # zero-shot is the fraction-0 point (and a cold-start row: never-trained items)
            if name == "guard" or (f == 0 and name not in ZERO_SHOT):
                continue  # the guard picks among the rest below; all but content need training users
            t0 = time.perf_counter()
            if name == "zero-shot":
                model = adapt(pretrained, dataset, None, mode="zero-shot", align=align)
            elif name == "content":
                model = content_model(setting, on, opts)
            elif name in ("adaptor", "full", "meta-full"):
                source = meta if name == "meta-full" and meta is not None else pretrained
                mode = name.removeprefix("meta-")
                model = adapt(
                    source, dataset, part, mode=mode, align=align, overrides=overrides, options=opts
                )
            elif name == "scratch":
                cfg = pretrained.config.replace(**(overrides or {}))
                model = TextSeq(cfg).fit(part.train, part.valid, items=dataset.items, options=opts)
            elif (why := too_large(name, part.train.n_users, dataset.n_items)) is not None:
                # a baseline this machine cannot fit (EASE's memory): said, not fatal
                row = {"setting": setting, "fraction": float(f), "seed": int(seed), "model": name}
                rows.append({**row, "skipped": why})
                if on_row is not None:
                    on_row(rows[-1])
                if log is not None:
                    log(f"{_where(row)} seed {seed} {LABELS[name]}: skipped ({why})")
                continue
            elif name == "sasrec":
                params = {"epochs": 50, "patience": 3, **(sasrec_params or {})}
                model = tune_model("sasrec", part, {}, base_params=params, options=opts).model
            else:
                model = tune_model(name, part, options=opts).model
            fit_s = time.perf_counter() - t0
            ev = content_evals.get((setting, seed)) if name == "content" else None
            if ev is None:
                ev = evaluate_model(model, on, ks=(10, 20), stage="test", seed=seed, checks=False)
                if name == "content":
                    content_evals[setting, seed] = ev
            row = {
                "setting": setting,
                "fraction": float(f),
                "seed": int(seed),
                "model": name,
                **{k: float(ev[k]) for k in ("recall@10", "ndcg@10", "recall@20", "ndcg@20")},
                "fit_seconds": round(fit_s, 2),
                "n_train_users": int(len(np.unique(part.train.user))) if f > 0 else 0,
            }
            if ((getattr(model, "fit_info", None) or {}).get("train") or {}).get("stopped_on_time"):
                row["stopped_on_time"] = True  # max_seconds ended its training, not patience
            trained[name] = model
            _emit(row, ev.per_user, rows, here, on_row, log)
        if "guard" in models and f > 0 and "scratch" in trained:
            t0 = time.perf_counter()
            choice, gains = guard_choice(trained, part)
            row = {**here[choice][0], "model": "guard", "choice": choice, "valid_gains": gains}
            # the guard trains every candidate: its cost is theirs together, plus the validation scoring
            spent = sum(here[m][0]["fit_seconds"] for m in trained) + time.perf_counter() - t0
            row["fit_seconds"] = round(spent, 2)
            _emit(row, here[choice][1], rows, here, on_row, log)
        add_paired_rows(here)

    for seed in seeds:
        opts = FitOptions(seed=seed, max_seconds=max_seconds, device=device)
        for f in fractions:
            part = split if f >= 1.0 else (few_shot(split, f, seed=seed) if f > 0 else split)
            run_rows(f, part, split, WARM, seed, opts)
        if cold is not None:
            run_rows(1.0, cold, cold, COLD, seed, opts)
    return rows


def guard_choice(trained: dict[str, Any], split: Split) -> tuple[str, dict[str, dict[str, float]]]:
    """The guard's pick among fitted models (needs ``scratch``) by per-user validation NDCG@10 on ``split``
    (:func:`lmrec.transfer.guard.choose`), with each candidate's gain, standard error and needed gain against
    scratch."""
    from lmrec.transfer.guard import choose, per_user_valid

    per_user = {name: per_user_valid(m, split) for name, m in trained.items()}
    return choose(per_user)


def _emit(
    row: dict[str, Any],
    per_user: Any,
    rows: list[dict[str, Any]],
    here: dict[str, tuple[dict[str, Any], Any]],
    on_row: Callable[[dict[str, Any]], None] | None,
    log: Callable[[str], None] | None,
) -> None:
    rows.append(row)
    here[row["model"]] = (row, per_user)
    if on_row is not None:
        on_row(row)
    if log is not None:
        extra = f" -> {LABELS[row['choice']]}" if "choice" in row else ""
        where = "cold items" if row["setting"] == COLD else f"fraction {row['fraction']:g}"
        log(
            f"{where} seed {row['seed']} {LABELS[row['model']]}{extra}: "
            f"R@10 {row['recall@10']:.4f} N@10 {row['ndcg@10']:.4f} ({row['fit_seconds']:.0f}s"
            f"{', stopped by the time cap' if row.get('stopped_on_time') else ''})"
        )


# rows that use the pretrained model; every other row is a baseline for them
PRETRAINED: tuple[str, ...] = ("zero-shot", "adaptor", "full", "meta-full", "guard")


def add_paired_rows(here: dict[str, tuple[dict[str, Any], Any]], metric: str = "ndcg@10") -> None:
    """Give each pretrained row of one (fraction, seed) a ``"paired"`` comparison with the strongest baseline
    row of the same fraction and seed (``here``: model -> (row, per-user values of its evaluation))."""
    from lmrec.evaluate import paired_comparison

    baselines = [m for m in here if m not in PRETRAINED]
    if not baselines:
        return
    best = max(baselines, key=lambda m: here[m][0][metric])
    base = here[best][1]
    for m, (row, per_user) in here.items():
        if m in PRETRAINED and np.array_equal(per_user["users"], base["users"]) and len(base["users"]) > 1:
            cmp = paired_comparison(per_user[metric], base[metric])
            row["paired"] = {"baseline": best, "metric": metric, **cmp.to_dict()}


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and std over seeds per (setting, fraction, model), warm shares first, then model order;
    ``paired``: the first seed's comparison with the strongest baseline, when the rows carry one."""
    out = []
    rows = [r for r in rows if "skipped" not in r]
    keys = sorted(
        {(_setting(r), r["fraction"], r["model"]) for r in rows},
        key=lambda k: (k[0] == COLD, k[1], MODELS.index(k[2])),
    )
    for setting, f, m in keys:
        sel = [r for r in rows if _setting(r) == setting and r["fraction"] == f and r["model"] == m]
        rec: dict[str, Any] = {"setting": setting, "fraction": f, "model": m, "n_seeds": len(sel)}
        for k in ("recall@10", "ndcg@10", "recall@20", "ndcg@20", "fit_seconds"):
            v = np.array([r[k] for r in sel], dtype=np.float64)
            rec[k] = float(v.mean())
            rec[k + "_std"] = float(v.std(ddof=1)) if len(v) > 1 else 0.0
        paired = next((r["paired"] for r in sorted(sel, key=lambda r: r["seed"]) if "paired" in r), None)
        if paired is not None:
            rec["paired"] = paired
        out.append(rec)
    return out


def format_table(summary: list[dict[str, Any]]) -> str:
    """A plain-text (markdown) table of :func:`summarize`'s rows."""
    lines = [
        "| share of target users | model | Recall@10 | NDCG@10 | Recall@20 | NDCG@20 | fit time |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in summary:
        lines.append(
            f"| {_where(r)} | {LABELS[r['model']]} | {_ms(r, 'recall@10')} | "
            f"{_ms(r, 'ndcg@10')} | {_ms(r, 'recall@20')} | {_ms(r, 'ndcg@20')} | "
            f"{fmt_seconds(r['fit_seconds'])} |"
        )
    return "\n".join(lines)


def _ms(r: dict[str, Any], k: str) -> str:
    return f"{r[k]:.4f} ± {r[k + '_std']:.4f}" if r["n_seeds"] > 1 else f"{r[k]:.4f}"


def _share(f: float) -> str:
    return "0 (zero-shot)" if f == 0 else f"{f:.0%}"


def _setting(r: dict[str, Any]) -> str:
    return str(r.get("setting", WARM))  # rows written before cold-start rows existed are warm


def _where(r: dict[str, Any]) -> str:
    """The share column of a row: the share of target users, or the cold-start setting."""
    return f"{COLD} (all users)" if _setting(r) == COLD else _share(r["fraction"])


def plot_learning_curve(summary: list[dict[str, Any]], path: Path) -> list[str]:
    """NDCG@10 against the share of target users (warm rows); only models that ran appear, the zero-shot
    point is its own labelled marker, the legend sits right of the axes. Returns the legend's labels."""
    from lmrec.evaluate.report_plots import FONT, new_figure

    summary = [r for r in summary if _setting(r) == WARM]  # cold-start rows are no point of the curve
    fig = new_figure(10.5, 5.0)
    ax = fig.subplots()
    fractions = sorted({r["fraction"] for r in summary})
    pos = {f: i for i, f in enumerate(fractions)}  # even spacing: 0, 1%, 10% and 100% all readable
    zero = next((r for r in summary if r["model"] == "zero-shot"), None)
    for n, m in enumerate(MODELS):
        own = sorted((r["fraction"], r["ndcg@10"], r["ndcg@10_std"]) for r in summary if r["model"] == m)
        if not own or m == "zero-shot":
            continue
        color = f"C{n % 10}"
        if len(own) == 1:  # a row of one share only (content at zero-shot alone): a labelled marker
            x, y, e = own[0]
            ax.errorbar([pos[x]], [y], yerr=[e], fmt="s", ms=9, capsize=4, color=color, label=LABELS[m])
            continue
        if (
            m in ("adaptor", "full", "meta-full") and zero is not None
        ):  # the pretrained curves start from the zero-shot point
            ax.plot([pos[0.0], pos[own[0][0]]], [zero["ndcg@10"], own[0][1]], ls=":", lw=1.8, color=color)
        x, y, e = (np.array(v) for v in zip(*own, strict=True))
        ax.errorbar([pos[v] for v in x], y, yerr=e, marker="o", lw=2.4, ms=7, capsize=4, color=color,
                    label=LABELS[m])  # fmt: skip
    if zero is not None:
        ax.errorbar([pos[0.0]], [zero["ndcg@10"]], yerr=[zero["ndcg@10_std"]], fmt="*", ms=16, capsize=4,
                    color="black", label="pretrained, zero-shot\n(no target training)")  # fmt: skip
    ax.set_xticks(range(len(fractions)), [_share(f) for f in fractions], fontsize=FONT - 1)
    ax.set_xlabel("share of the target's training users", fontsize=FONT)
    ax.set_ylabel("test NDCG@10 (full ranking)", fontsize=FONT)
    ax.tick_params(labelsize=FONT - 1)
    ax.grid(alpha=0.3)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    legend = fig.legend(loc="outside right center", fontsize=FONT - 1, frameon=False)
    fig.savefig(str(path), format="png")
    return [t.get_text() for t in legend.get_texts()]


def transfer_verdict(summary: list[dict[str, Any]]) -> str:
    """One paragraph: per share of target users (and for cold items), the best pretrained row against the
    strongest baseline (with the paired 95% interval when the rows have one), and the zero-shot result."""
    parts = []
    for setting, f in sorted(
        {(_setting(r), r["fraction"]) for r in summary}, key=lambda k: (k[0] == COLD, k[1])
    ):
        rows = [r for r in summary if _setting(r) == setting and r["fraction"] == f]
        pre = [r for r in rows if r["model"] in PRETRAINED]
        base = [r for r in rows if r["model"] not in PRETRAINED]
        if setting == COLD:
            where = "On items never seen in training (cold start)"
        else:
            where = (
                "Without any target training" if f == 0 else f"With {f:.0%} of the target's training users"
            )
        if not pre or not base:
            if pre:
                parts.append(f"{where}, {LABELS[pre[0]['model']]} reaches NDCG@10 {pre[0]['ndcg@10']:.4f}.")
            continue
        p = max(pre, key=lambda r: r["ndcg@10"])
        b = max(base, key=lambda r: r["ndcg@10"])
        gain = p["ndcg@10"] / b["ndcg@10"] - 1 if b["ndcg@10"] > 0 else float("inf")
        text = (f"{where}, {LABELS[p['model']]} reaches NDCG@10 {p['ndcg@10']:.4f}: {fmt_pct(gain)} against "
                f"the strongest baseline, {LABELS[b['model']]}, at {b['ndcg@10']:.4f}")  # fmt: skip
        cmp = p.get("paired")
        if cmp and cmp["baseline"] == b["model"]:
            lo, hi = cmp["ratio_ci"][0] - 1, cmp["ratio_ci"][1] - 1
            seed = " (first seed)" if p["n_seeds"] > 1 else ""
            sure = (
                "reliably better" if lo > 0 else ("reliably worse" if hi < 0 else "not a reliable difference")
            )
            text += f"; 95% interval [{fmt_pct(lo)}, {fmt_pct(hi)}]{seed}: {sure}."
        else:
            text += " (no paired interval for these rows)."
        parts.append(text)
    return " ".join(parts) or "No row ran."


def _setup_rows(meta: dict[str, Any]) -> list[list[str]]:
    labels = {"sources": "source datasets", "target": "target dataset", "split": "split", "split_hash":
              "split hash", "fractions": "shares of target users", "seeds": "seeds",
              "pretrain_valid_ndcg@10": "pretraining: validation NDCG@10", "pretrain_seconds":
              "pretraining: time", "pretrain_epochs": "pretraining: epochs"}  # fmt: skip
    rows = []
    for key, value in meta.items():
        if key == "fractions":
            text = ", ".join(_share(float(f)) for f in value)
        elif key.endswith("seconds") and isinstance(value, (int, float)):
            text = fmt_seconds(value)
        elif isinstance(value, float):
            text = f"{value:.4f}"
        elif isinstance(value, (list, tuple)):
            text = ", ".join(str(v) for v in value)
        else:
            text = "–" if value is None else str(value)
        rows.append([labels.get(key, key.replace("_", " ")), text])
    return rows


def write_transfer_report(
    rows: list[dict[str, Any]], out_dir: str | Path, *, title: str, meta: dict[str, Any] | None = None
) -> Path:
    """Write ``report.html`` (``index.html`` forwards to it), ``report.md``, ``results.json`` and
    ``learning_curve.png`` into ``out_dir``; returns the path of ``report.html``."""
    import html

    from lmrec.evaluate.report_html import Cell, details, figure, html_page, html_table, write_index_alias

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(rows)
    meta = dict(meta or {})
    (out / "results.json").write_text(
        json.dumps({"meta": meta, "rows": rows, "summary": summary}, indent=2), encoding="utf-8"
    )
    text = transfer_verdict(summary)
    (out / "report.md").write_text(f"# {title}\n\n> {text}\n\n{format_table(summary)}\n", encoding="utf-8")
    plot_learning_curve(summary, out / "learning_curve.png")
    main_rows: list[list[Any]] = []
    for r in summary:
        cmp = r.get("paired")
        if cmp:
            lo, hi = cmp["ratio_ci"][0] - 1, cmp["ratio_ci"][1] - 1
            css = "up" if lo > 0 else ("down" if hi < 0 else "")
            interval = f"{fmt_pct(cmp['ratio'] - 1)} [{fmt_pct(lo)}, {fmt_pct(hi)}]"
            against = html.escape(LABELS[cmp["baseline"]])
            vs = f"<span><span class='{css}'>{interval}</span> <span class='small muted'>vs {against}</span>"
            vs += "</span>"
        else:
            vs = "–"
        cells = [LABELS[r["model"]], _where(r), _ms(r, "ndcg@10"), _ms(r, "recall@10")]
        main_rows.append([*cells, Cell(vs), fmt_seconds(r["fit_seconds"])])
    vs_label = "vs strongest baseline [95% interval]"
    header = ["model", "share of target users", "NDCG@10", "Recall@10", vs_label, "fit time"]
    more = [
        [LABELS[r["model"]], _where(r), _ms(r, "ndcg@20"), _ms(r, "recall@20"), str(r["n_seeds"])]
        for r in summary
    ]
    seeds = max((r["n_seeds"] for r in summary), default=1)
    body = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p class='verdict'>{html.escape(text)}</p>",
        "<h2>Results</h2>",
        html_table(header, main_rows, cards=True, lead=2),
        f"<p class='small muted'>Every row is evaluated on the same target test users by full ranking"
        f"{f'; mean ± std over {seeds} seeds' if seeds > 1 else ''}. Intervals: paired bootstrap of the "
        "relative difference in the mean against the best non-pretrained row of the same share.</p>",
        *[
            f"<p class='small'>Not run: {html.escape(LABELS[r['model']])} at {html.escape(_where(r))}, seed "
            f"{r['seed']}: {html.escape(r['skipped'])}</p>"
            for r in rows
            if "skipped" in r
        ],
        details(
            "At K=20",
            html_table(["model", "share of target users", "NDCG@20", "Recall@20", "seeds"], more, lead=2),
        ),
        "<h2>Learning curve</h2>",
        figure(
            "learning_curve.png",
            "Test NDCG@10 against the share of the target's training users (error "
            "bars: std over seeds). The star is the pretrained model with no target training.",
        ),
        "<h2>Setup</h2>",
        html_table(["setting", "value"], _setup_rows(meta)),
    ]
    (out / "report.html").write_text(html_page(title, body), encoding="utf-8")
    write_index_alias(out)
    return out / "report.html"
