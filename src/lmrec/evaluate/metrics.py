"""The ranking metrics, under their old name: they live in :mod:`lmrec.metrics` (one home, below ``models``
and ``evaluate``, so that models may validate with them). ``from lmrec.evaluate import metrics`` keeps
working."""

from lmrec.metrics import *  # noqa: F403
from lmrec.metrics import __all__  # noqa: F401
