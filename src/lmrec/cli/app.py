"""The typer application: one sub-module per command group, wired here explicitly."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="lmrec",
    help="Recommender systems built on pretrained language models, with transfer learning across domains.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)


def _register() -> None:
    from lmrec.cli import datasets

    app.add_typer(datasets.app, name="datasets")

    from lmrec.cli import encode

    app.command("encode")(encode.encode)

    from lmrec.cli import serve

    app.command("serve")(serve.serve)
    app.add_typer(serve.keys_app, name="keys")

    from lmrec.cli import recommend, train

    app.command("train")(train.train)
    app.command("recommend")(recommend.recommend)

    from lmrec.cli import evaluate

    app.command("evaluate")(evaluate.evaluate)

    from lmrec.cli import quickstart

    app.command("quickstart")(quickstart.quickstart)

    from lmrec.cli import feedback

    app.add_typer(feedback.app, name="feedback")

    from lmrec.cli import compress

    app.command("compress")(compress.compress)

    from lmrec.cli import transfer

    app.command("pretrain")(transfer.pretrain_cmd)
    app.command("adapt")(transfer.adapt_cmd)
    app.command("transfer")(transfer.transfer_cmd)
    app.command("distill")(transfer.distill_cmd)


_register()
