"""The public API of lmrec.evaluate: complete, sorted, importable, and light to import."""

from __future__ import annotations

import subprocess
import sys

import pytest

import lmrec.evaluate as ev


def test_all_is_sorted_and_importable():
    assert ev.__all__ == sorted(ev.__all__)
    for name in ev.__all__:
        assert getattr(ev, name) is not None
    with pytest.raises(AttributeError):
        ev.nope  # noqa: B018


def test_import_does_not_load_matplotlib_or_torch():
    code = (
        "import sys, lmrec.evaluate; from lmrec.evaluate import evaluate_model; "
        "print('matplotlib' in sys.modules, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
