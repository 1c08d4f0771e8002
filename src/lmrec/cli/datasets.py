"""`lmrec datasets ...` (list, stats, download)."""

import typer

app = typer.Typer(help="List, inspect and download datasets.", no_args_is_help=True)
