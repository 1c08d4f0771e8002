"""One cache-root resolver: datasets, parsed datasets, embeddings and ONNX exports agree on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmrec.data.cache import parsed_dir
from lmrec.paths import cache_root
from lmrec.text.cache import default_cache_root
from lmrec.text.export.onnx import onnx_cache_home


def _homes() -> list[Path]:
    return [cache_root(), parsed_dir().parent, default_cache_root().parent, onnx_cache_home().parent]


@pytest.mark.parametrize(
    ("env", "want"),
    [
        ({"LMREC_CACHE": "lm", "XDG_CACHE_HOME": "xdg"}, "lm"),
        ({"XDG_CACHE_HOME": "xdg"}, "xdg/lmrec"),
        ({}, "home/.cache/lmrec"),
    ],
)
def test_every_cache_user_resolves_the_same_root(monkeypatch, tmp_path, env, want):
    monkeypatch.delenv("LMREC_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for k, v in env.items():
        monkeypatch.setenv(k, str(tmp_path / v))
    assert _homes() == [tmp_path / want] * 4
    assert cache_root("embeddings", "x") == tmp_path / want / "embeddings" / "x"
