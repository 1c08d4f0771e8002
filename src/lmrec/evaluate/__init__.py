"""Evaluation: the full-ranking protocol, integrity checks, paired comparisons and reports (the metric
functions live in :mod:`lmrec.metrics`).

Imports are lazy so that ``import lmrec.evaluate`` stays light (matplotlib only loads for reports).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lmrec.evaluate._core import EvalResult  # noqa: F401
    from lmrec.evaluate.compare import add_paired, strongest_baseline, verdict  # noqa: F401
    from lmrec.evaluate.integrity import check_split, integrity_report  # noqa: F401
    from lmrec.evaluate.protocol import evaluate_model, evaluate_scores  # noqa: F401
    from lmrec.evaluate.report import collect_results, load_results, write_report  # noqa: F401
    from lmrec.evaluate.sampled import krichene_rendle_correction  # noqa: F401
    from lmrec.evaluate.samples import sample_recommendations  # noqa: F401
    from lmrec.evaluate.significance import PairedComparison, paired_comparison  # noqa: F401

_EXPORTS = {
    "EvalResult": "lmrec.evaluate._core",
    "add_paired": "lmrec.evaluate.compare",
    "check_split": "lmrec.evaluate.integrity",
    "collect_results": "lmrec.evaluate.report",
    "evaluate_model": "lmrec.evaluate.protocol",
    "evaluate_scores": "lmrec.evaluate.protocol",
    "integrity_report": "lmrec.evaluate.integrity",
    "krichene_rendle_correction": "lmrec.evaluate.sampled",
    "load_results": "lmrec.evaluate.report",
    "PairedComparison": "lmrec.evaluate.significance",
    "paired_comparison": "lmrec.evaluate.significance",
    "sample_recommendations": "lmrec.evaluate.samples",
    "strongest_baseline": "lmrec.evaluate.compare",
    "verdict": "lmrec.evaluate.compare",
    "write_report": "lmrec.evaluate.report",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lmrec.evaluate' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
