"""Every CLI usage error, through a real ``python -m lmrec`` process: one line on stderr naming the option
(or command, or argument) and what is wrong, exit code 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

CASES = {
    # name: (arguments, words the one line must contain)
    "unknown option": (["train", "--dataset", "ml-100k", "--bogus-option", "1"], ["--bogus-option"]),
    "unknown command": (["bogus"], ["bogus"]),
    "unknown sub-command": (["datasets", "bogus"], ["bogus"]),
    "bad integer": (["recommend", "somewhere", "-k", "abc"], ["-k", "integer"]),
    "missing argument": (["recommend"], ["model_dir"]),
    "missing option value": (["train", "--dataset"], ["--dataset"]),
    "bad choice-like value": (["evaluate", "--dataset", "ml-100k", "--ks", "x"], ["--ks"]),
}


def run_cli(args: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("COLUMNS", None)
    return subprocess.run(
        [sys.executable, "-m", "lmrec", *args], capture_output=True, text=True, env=env, timeout=120
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_usage_error_is_one_line_exit_2(case):
    args, words = CASES[case]
    proc = run_cli(args)
    err = proc.stderr
    assert proc.returncode == 2, (case, proc.returncode, err[-2000:])
    assert "Traceback" not in err, err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert err.startswith("lmrec: error: "), err
    for w in words:
        assert w.lower() in err.lower(), (w, err)


def test_help_still_works_and_exits_0():
    proc = run_cli(["train", "--help"])
    assert proc.returncode == 0, proc.stderr
    assert "--dataset" in proc.stdout


def test_no_arguments_prints_the_help():
    proc = run_cli([])
    assert "Traceback" not in proc.stderr
    assert "Usage" in proc.stdout + proc.stderr
    assert proc.returncode in (0, 2)


def _commands(group, path=()):  # noqa: ANN001, ANN202 - (path, click command) of every leaf command
    for name, cmd in getattr(group, "commands", {}).items():
        if getattr(cmd, "commands", None):
            yield from _commands(cmd, (*path, name))
        else:
            yield (*path, name), cmd


def test_help_in_an_80_column_terminal_shows_every_option_and_word_whole(capsys, monkeypatch):
    """Help is read in narrow terminals: no option name or help word may be cut to fit ("--checkpoint-d…")."""
    import typer

    from lmrec.cli import main
    from lmrec.cli.app import app

    monkeypatch.setenv("COLUMNS", "80")
    for path, cmd in _commands(typer.main.get_command(app)):
        assert main([*path, "--help"]) == 0
        out = capsys.readouterr().out
        assert "…" not in out, (path, [line for line in out.splitlines() if "…" in line])
        for param in cmd.params:
            for opt in param.opts:
                if opt.startswith("--"):
                    assert opt in out, (path, opt)
        assert max(len(line) for line in out.splitlines()) <= 80, path
