"""The public surface of lmrec.text: complete, sorted, and light to import."""

from __future__ import annotations

import subprocess
import sys

import lmrec.text


def test_all_is_sorted_and_importable() -> None:
    names = lmrec.text.__all__
    assert list(names) == sorted(names)
    for name in names:
        assert getattr(lmrec.text, name) is not None
    api = {"encode_items", "encode_texts", "get_encoder", "cache_stats", "item_texts", "user_texts"}
    assert api <= set(names)


def test_importing_lmrec_text_does_not_import_torch() -> None:
    code = "import sys, lmrec.text; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
