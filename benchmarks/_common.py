"""Setup shared by the textseq benchmarks (textseq.py, compress.py): where the data is, the two datasets with
their evaluation splits, and the per-dataset textseq defaults. Imported as ``_common`` (scripts run from this
folder, like ``_recbole``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

# per-dataset textseq defaults chosen on the validation split
DATASET_DEFAULTS = {
    "ml-100k": {},
    "scientific": {"max_len": 50, "normalize": True, "temperature": 0.07, "dropout": 0.2},
}


def data_root() -> Path:
    """``$LMREC_DATA`` or ../shared/data next to the repository (never part of it)."""
    env = os.environ.get("LMREC_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


def load(name: str):  # noqa: ANN201 - (Dataset, Split)
    """(dataset, split): ``ml-100k`` (leave-one-out by time), ``scientific`` (UniSRec fixed split) or
    ``scientific-2018`` (the LC-Rec preprocessing of the same domain, leave-one-out by order)."""
    from lmrec.data.loaders import load_format
    from lmrec.data.split import Split, leave_one_out_split

    root = data_root()
    if name == "ml-100k":
        ds = load_format("movielens-100k", root / "ml-100k")
        return ds, leave_one_out_split(ds)
    if name == "scientific":
        ds = load_format("unisrec", root / "amazon-scientific-unisrec", dataset="Scientific")
        return ds, Split(ds, ds.fixed_split, "UniSRec fixed split (leave-one-out)", {})
    if name == "scientific-2018":
        ds = load_format("lcrec-json", root / "amazon-scientific-2018")
        return ds, leave_one_out_split(ds)
    raise SystemExit(f"unknown dataset {name}")


def parse_set(items: list[str]) -> dict:
    """``key=value`` overrides from the command line; values are JSON where they parse, else strings."""
    out = {}
    for it in items:
        k, v = it.split("=", 1)
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def train_info(model) -> dict:  # noqa: ANN001 - any fitted recommender
    """``best_epoch`` / ``epochs_run`` / ``best_metric`` of a fit (``fit_info["train"]`` of the models trained
    epoch by epoch); zeros and NaN for the others."""
    return model.fit_info.get("train") or {"best_epoch": 0, "epochs_run": 0, "best_metric": float("nan")}
