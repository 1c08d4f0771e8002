"""Command line interface (``lmrec``). User mistakes become one line on stderr and exit code 2."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns (and, as a console script, exits with) the exit code."""
    from lmrec.cli.app import app
    from lmrec.errors import LmrecError

    try:
        app(args=argv, prog_name="lmrec", standalone_mode=False)
    except LmrecError as exc:
        print(f"lmrec: error: {exc}", file=sys.stderr)
        code = 2
    except SystemExit as exc:  # typer/click exits (e.g. --help)
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        print("lmrec: interrupted", file=sys.stderr)
        code = 130
    except Exception as exc:  # click usage errors and the like
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            code = 2
        elif isinstance(exc, click.exceptions.Abort):
            code = 1
        else:
            raise
    else:
        code = 0
    if __name__ == "__main__" or argv is None:
        sys.exit(code)
    return code
