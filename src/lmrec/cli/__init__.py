"""Command line interface (``lmrec``). User mistakes become one line on stderr and exit code 2.

One error path for every typer/click version pyproject allows: typer before 0.26 raises ``click``'s
exceptions, later versions raise those of the click copy bundled inside typer (``typer._click``), which
``except click.ClickException`` does not catch. Both are found here through the class hierarchy of the
public ``typer.BadParameter`` (present in every typer), so no private module is imported.
"""

from __future__ import annotations

import sys


def _click_classes() -> tuple[type[BaseException], type[BaseException], type[BaseException] | None]:
    """(ClickException, UsageError, NoArgsIsHelpError or None) of the click that the installed typer uses."""
    import typer

    by_name = {cls.__name__: cls for cls in typer.BadParameter.__mro__}
    usage = by_name["UsageError"]
    click_exc = by_name["ClickException"]
    no_args = getattr(sys.modules.get(usage.__module__), "NoArgsIsHelpError", None)
    return click_exc, usage, no_args


def usage_line(exc: BaseException) -> str:
    """One line for a click/typer usage error: what is wrong, naming the option, and where help is."""
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    message = " ".join(str(message).split())
    if len(message) > 300:
        message = message[:297] + "..."
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        try:
            message += f" (see '{ctx.command_path} --help')"
        except Exception:  # pragma: no cover - a context without a command path
            pass
    return message


def _one_line_warnings() -> None:
    """lmrec's own warnings (:class:`lmrec.errors.LmrecWarning`) as one line on stderr, like its errors."""
    import warnings

    from lmrec.errors import LmrecWarning

    default = warnings.showwarning
    if getattr(default, "_lmrec", False):
        return

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001, ANN202
        if isinstance(category, type) and issubclass(category, LmrecWarning):
            print(f"lmrec: warning: {message}", file=sys.stderr)
        else:
            default(message, category, filename, lineno, file, line)

    show._lmrec = True  # type: ignore[attr-defined]
    warnings.showwarning = show


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns (and, as a console script, exits with) the exit code."""
    import typer

    from lmrec.cli.app import app
    from lmrec.errors import LmrecError

    click_exc, usage_exc, no_args_exc = _click_classes()
    _one_line_warnings()
    try:
        rv = app(args=argv, prog_name="lmrec", standalone_mode=False)
    except LmrecError as exc:
        print(f"lmrec: error: {exc}", file=sys.stderr)
        code = 2
    except SystemExit as exc:  # typer/click exits (e.g. --help)
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        print("lmrec: interrupted", file=sys.stderr)
        code = 130
    except click_exc as exc:
        if no_args_exc is not None and isinstance(exc, no_args_exc):
            ctx = getattr(exc, "ctx", None)
            print(ctx.get_help() if ctx is not None else exc.format_message())  # type: ignore[attr-defined]
            code = 0
        else:
            print(f"lmrec: error: {usage_line(exc)}", file=sys.stderr)
            code = 2 if isinstance(exc, usage_exc) else int(getattr(exc, "exit_code", 1) or 1)
    except typer.Abort:
        print("lmrec: aborted", file=sys.stderr)
        code = 1
    else:
        # without standalone mode an explicit ``typer.Exit(n)`` comes back as its code
        code = rv if isinstance(rv, int) and not isinstance(rv, bool) else 0
    if __name__ == "__main__" or argv is None:
        sys.exit(code)
    return code
