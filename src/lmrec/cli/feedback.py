"""`lmrec feedback`: train and evaluate the review sentiment/rating model on review datasets."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from lmrec.errors import LmrecError

app = typer.Typer(help="Review text -> sentiment and star signals.", no_args_is_help=True)


DATA_HELP = (
    "Review data, comma list: built-in names (mdsd-books, amazon-magazine, ...) and/or paths (an MDSD "
    "folder, "
    "Amazon review JSON lines, a CSV/Parquet table with text and rating columns)."
)
FORMAT_HELP = "Format of the --data paths where the name does not tell: mdsd | amazon | table."


def _corpora(  # noqa: ANN202
    spec: str,
    limit: int | None,
    seed: int,
    format: str | None = None,
    text_column: str | None = None,
    rating_column: str | None = None,
):
    from lmrec.feedback import balanced_sample, review_corpus

    names = [s.strip() for s in spec.split(",") if s.strip()]
    if not names:
        raise LmrecError("--data needs at least one dataset name or path")
    out = []
    for name in names:
        c = review_corpus(name, format, text=text_column, rating=rating_column)
        out.append(balanced_sample(c, limit, seed=seed) if limit else c)
    return out


def train(
    data: str = typer.Option(..., "--data", "-d", help=DATA_HELP),
    format: str | None = typer.Option(None, "--format", "-f", help=FORMAT_HELP),
    text_column: str | None = typer.Option(None, "--text-column", help="Text column of a table."),
    rating_column: str | None = typer.Option(None, "--rating-column", help="Star column (1-5) of a table."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (config.json + head.safetensors)."),
    encoder: str = typer.Option("minilm", "--encoder", "-e", help="minilm | use-multilingual | a folder."),
    kind: str = typer.Option("linear", "--kind", help="linear (logistic + ridge) or mlp."),
    align_to: str | None = typer.Option(
        None, "--align-to", help="Target review dataset whose unlabeled texts the source is aligned to."
    ),
    alignment: str = typer.Option("coral", "--alignment", help="With --align-to: coral | mean | whiten."),
    limit: int | None = typer.Option(
        None, "--limit", min=1, help="Use a seeded sample of N positive and N negative reviews per dataset."
    ),
    max_tokens: int = typer.Option(
        128, "--max-tokens", min=0, help="Encoder token limit for reviews (0: the encoder's own limit)."
    ),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Train the review head on DATA and save it to OUT."""
    import numpy as np

    from lmrec.feedback import ReviewModel, ReviewModelConfig

    corpora = _corpora(data, limit, seed, format, text_column, rating_column)
    cfg = ReviewModelConfig.from_dict(
        {
            "encoder": encoder,
            "kind": kind,
            "max_tokens": max_tokens or None,
            "seed": seed,
            "alignment": alignment if align_to else "none",
        }
    )
    model = ReviewModel(cfg)
    texts = [t for c in corpora for t in c.texts]
    labels = np.concatenate([c.label for c in corpora])
    ratings = np.concatenate([c.rating for c in corpora])
    target = None
    if align_to:
        (tc,) = _corpora(align_to, limit, seed, format, text_column, rating_column)
        target = model.encode(tc.texts)
    model.fit(model.encode(texts), labels, ratings, target=target)
    model.info["trained_on"] = [c.name for c in corpora]
    if align_to:
        model.info["aligned_to"] = align_to
    model.save(out)
    sources = ", ".join(model.info["trained_on"])
    typer.echo(f"saved review model to {out} ({len(texts)} reviews from {sources})")


def evaluate(
    model_dir: Path = typer.Argument(..., help="A folder written by `lmrec feedback train`."),
    data: str = typer.Option(..., "--data", "-d", help=DATA_HELP),
    format: str | None = typer.Option(None, "--format", "-f", help=FORMAT_HELP),
    text_column: str | None = typer.Option(None, "--text-column", help="Text column of a table."),
    rating_column: str | None = typer.Option(None, "--rating-column", help="Star column (1-5) of a table."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="N positive + N negative per dataset."),
    seed: int = typer.Option(0, "--seed"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Accuracy (vs the majority class) and star MAE (vs the mean) of a saved review model on DATA."""
    from lmrec.feedback import ReviewModel

    model = ReviewModel.load(model_dir)
    rows = []
    for c in _corpora(data, limit, seed, format, text_column, rating_column):
        scores = model.evaluate(model.encode(c.texts), c.label, c.rating)
        rows.append({"data": c.name, **scores})
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    typer.echo(f"{'data':<20} {'n':>6} {'accuracy':>9} {'majority':>9} {'mae':>6} {'mae(mean)':>9}")
    for r in rows:
        typer.echo(
            f"{r['data']:<20} {int(r['n']):>6} {r.get('accuracy', float('nan')):>9.4f} "
            f"{r.get('majority_accuracy', float('nan')):>9.4f} {r.get('mae', float('nan')):>6.3f} "
            f"{r.get('mae_mean_baseline', float('nan')):>9.3f}"
        )


app.command("train")(train)
app.command("evaluate")(evaluate)
