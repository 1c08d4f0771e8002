"""`lmrec recommend`: top-k items of a saved model for a user, an item history or a free text."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from lmrec.cli.data_source import data_format_option, data_option_option, open_dataset
from lmrec.errors import LmrecError

if TYPE_CHECKING:
    from lmrec.data import Dataset
    from lmrec.models.catalog import Catalog


def recommend(
    model_dir: Path = typer.Argument(
        ..., help="A folder from `lmrec train` or Model.save(dir, dataset=data)."
    ),
    user: str | None = typer.Option(None, "--user", "-u", help="External user id (history from training)."),
    history: str | None = typer.Option(None, "--history", help="Item ids (comma list, oldest first)."),
    text: str | None = typer.Option(None, "--text", help="Free-text request (content models)."),
    k: int = typer.Option(10, "-k", "--k", min=1, help="How many items."),
    explain: bool = typer.Option(
        False, "--explain", help="Say why: the history items and shared words behind each recommendation."
    ),
    explain_data: str | None = typer.Option(
        None, "--explain-data", help="With --explain: dataset whose item texts give the shared words."
    ),
    data_format: str | None = data_format_option(),
    data_option: list[str] | None = data_option_option(),
    paraphrase: bool = typer.Option(
        False, "--paraphrase", help="With --explain: reword with SmolLM2 (explain extra; checked, marked)."
    ),
) -> None:
    """Print the top-K items (rank, id, score, title) for --user, --history or --text."""
    import numpy as np

    from lmrec.models.checks import check_model_dir

    if sum(x is not None for x in (user, history)) > 1:
        raise LmrecError("give --user or --history, not both")
    if user is None and history is None and text is None:
        raise LmrecError("give --user ID, --history ID,ID,... or --text '...'")
    model: Any
    model, cat = check_model_dir(model_dir)  # every file checked; a folder without its catalog is refused
    hist: np.ndarray | None = None
    if user is not None:
        u = cat.require_user(user)
        hist = model.as_batch(np.array([u])).histories[0]
    elif history is not None:
        hist = np.array([cat.require_item(x) for x in history.split(",") if x.strip()], dtype=np.int64)
    if text is not None:
        if not hasattr(model, "recommend_for_text"):
            raise LmrecError(f"model '{model.name}' takes no text queries (content and textseq do)")
        idx, scores = model.recommend_for_text(text, k, history=None if hist is None else hist.tolist())
    else:
        assert hist is not None
        if user is not None:
            top, vals = model.recommend(np.array([cat.require_user(user)]), k=k)
        else:
            top, vals = model.recommend([hist], k=k)
        idx, scores = top[0], vals[0]
    data = open_dataset(explain_data, data_format, data_option) if explain and explain_data else None
    explainer = _explainer(model, cat, data) if explain else None
    generator = None
    if explainer is not None and paraphrase:
        from lmrec.explain import smollm2_generator

        generator = smollm2_generator()
    for rank, (i, s) in enumerate(zip(idx.tolist(), scores.tolist(), strict=True), start=1):
        typer.echo(f"{rank:>3}. {cat.external_id(i)}\t{s:.4f}\t{cat.title(i)}")
        if explainer is not None:
            if hist is None or not len(hist):
                typer.echo("       (no history to explain from)")
                continue
            e = explainer.explain(i, hist)
            if generator is not None:
                from lmrec.explain import paraphrase as reword

                e = reword(e, generator, explainer.titles)
            typer.echo(f"       {e.display()}")


def _explainer(model: Any, cat: Catalog, data: Dataset | None) -> Any:
    """An :class:`~lmrec.explain.Explainer` over the model's catalog (texts from ``data`` when given)."""
    from lmrec.explain import Explainer

    titles = [cat.title(i) for i in range(model.n_items)]
    texts = None
    if data is not None:
        from lmrec.text import item_texts

        if data.n_items != model.n_items:
            raise LmrecError(
                f"--explain-data {data.name}: {data.n_items} items, the model has {model.n_items}"
            )
        texts = item_texts(data.items, None, dataset=data.name)
    return Explainer.for_model(model, titles, texts)
