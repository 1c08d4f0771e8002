"""Where lmrec keeps files on disk: the one resolver of the cache root.

Downloaded and parsed datasets, the text-embedding cache and exported ONNX encoders all live below
:func:`cache_root`. It imports nothing of lmrec, so every layer (``data`` included) may use it.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_root"]


def cache_root(*parts: str) -> Path:
    """``$LMREC_CACHE``, else ``$XDG_CACHE_HOME/lmrec``, else ``~/.cache/lmrec``; with ``parts``, that
    sub-folder of it (``cache_root("embeddings")``). The environment is read at every call."""
    env = os.environ.get("LMREC_CACHE")
    if env:
        root = Path(env).expanduser()
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        root = (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "lmrec"
    return root.joinpath(*parts)
