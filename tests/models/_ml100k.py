"""ML-100K leave-one-out split for real-data checks (file order kept: time ties follow u.data)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd

from lmrec.data._build import build_dataset
from lmrec.data.split import Split, leave_one_out_split


@lru_cache(maxsize=1)
def ml100k_loo(root: Path) -> Split:
    events = pd.read_csv(root / "ml-100k" / "u.data", sep="\t", names=["user", "item", "rating", "timestamp"])
    return leave_one_out_split(build_dataset("ml-100k", "movies", events))
