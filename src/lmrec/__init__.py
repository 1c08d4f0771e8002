"""lmrec: recommender systems built on pretrained language models."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it; imported on first use so `import lmrec` stays light (no pandas/torch)
_LAZY: dict[str, str] = {
    "load_dataset": "lmrec.data.load",
}

__all__ = ["__version__", "load_dataset"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lmrec' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
