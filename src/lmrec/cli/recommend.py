"""`lmrec recommend`: top-k items of a saved model for a user, an item history or a free text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from lmrec.errors import LmrecError


class _Catalog:
    """External ids and titles saved next to the model by `lmrec train` (indices when absent)."""

    def __init__(self, folder: Path, n_items: int) -> None:
        import pandas as pd

        items_file, users_file = folder / "items.tsv", folder / "users.tsv"
        if items_file.is_file():
            frame = pd.read_csv(items_file, sep="\t", dtype=str, keep_default_na=False)
            self.item_ids = frame["item_id"].tolist()
            self.titles = frame["title"].tolist()
        else:
            self.item_ids = [str(i) for i in range(n_items)]
            self.titles = list(self.item_ids)
        self.user_ids: list[str] = []
        if users_file.is_file():
            frame = pd.read_csv(users_file, sep="\t", dtype=str, keep_default_na=False)
            self.user_ids = frame["user_id"].tolist()
        self._item_index = {x: i for i, x in enumerate(self.item_ids)}
        self._user_index = {x: i for i, x in enumerate(self.user_ids)}

    def item(self, external: str) -> int:
        idx = self._item_index.get(external.strip())
        if idx is None:
            raise LmrecError(f"unknown item id {external.strip()!r} (not in this model's catalog)")
        return idx

    def user(self, external: str) -> int:
        idx = self._user_index.get(external.strip())
        if idx is None:
            raise LmrecError(f"unknown user id {external.strip()!r}")
        return idx

    def title(self, idx: int) -> str:
        return self.titles[idx] if idx < len(self.titles) else f"(new item {idx})"

    def ext(self, idx: int) -> str:
        return self.item_ids[idx] if idx < len(self.item_ids) else str(idx)


def recommend(
    model_dir: Path = typer.Argument(..., help="A folder written by `lmrec train` (or Model.save)."),
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
    paraphrase: bool = typer.Option(
        False, "--paraphrase", help="With --explain: reword with SmolLM2 (explain extra; checked, marked)."
    ),
) -> None:
    """Print the top-K items (rank, id, score, title) for --user, --history or --text."""
    import numpy as np

    from lmrec.models import load_model

    if sum(x is not None for x in (user, history)) > 1:
        raise LmrecError("give --user or --history, not both")
    if user is None and history is None and text is None:
        raise LmrecError("give --user ID, --history ID,ID,... or --text '...'")
    model: Any = load_model(model_dir)
    cat = _Catalog(Path(model_dir), model.n_items)
    hist: np.ndarray | None = None
    if user is not None:
        u = cat.user(user)
        hist = model.as_batch(np.array([u])).histories[0]
    elif history is not None:
        hist = np.array([cat.item(x) for x in history.split(",") if x.strip()], dtype=np.int64)
    if text is not None:
        if not hasattr(model, "recommend_for_text"):
            raise LmrecError(f"model '{model.name}' takes no text queries (content and textseq do)")
        idx, scores = model.recommend_for_text(text, k, history=None if hist is None else hist.tolist())
    else:
        assert hist is not None
        if user is not None:
            top, vals = model.recommend(np.array([cat.user(user)]), k=k)
        else:
            top, vals = model.recommend([hist], k=k)
        idx, scores = top[0], vals[0]
    explainer = _explainer(model, cat, explain_data) if explain else None
    generator = None
    if explainer is not None and paraphrase:
        from lmrec.explain import smollm2_generator

        generator = smollm2_generator()
    for rank, (i, s) in enumerate(zip(idx.tolist(), scores.tolist(), strict=True), start=1):
        typer.echo(f"{rank:>3}. {cat.ext(i)}\t{s:.4f}\t{cat.title(i)}")
        if explainer is not None:
            if hist is None or not len(hist):
                typer.echo("       (no history to explain from)")
                continue
            e = explainer.explain(i, hist)
            if generator is not None:
                from lmrec.explain import paraphrase as reword

                e = reword(e, generator, explainer.titles)
            typer.echo(f"       {e.display()}")


def _explainer(model: Any, cat: _Catalog, data: str | None) -> Any:
    """An :class:`~lmrec.explain.Explainer` over the model's catalog (texts from ``data`` when given)."""
    from lmrec.explain import Explainer

    titles = [cat.title(i) for i in range(model.n_items)]
    texts = None
    if data is not None:
        from lmrec.data import load_dataset
        from lmrec.text import item_texts

        ds = load_dataset(data)
        if ds.n_items != model.n_items:
            raise LmrecError(f"--explain-data {data}: {ds.n_items} items, the model has {model.n_items}")
        texts = item_texts(ds.items, None, dataset=ds.name)
    return Explainer.for_model(model, titles, texts)
