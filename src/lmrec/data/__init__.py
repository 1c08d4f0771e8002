"""Data: datasets, loaders, filtering and splits. Imports nothing else of lmrec but errors."""

from lmrec.data._dataset import Dataset, Interactions, ItemTable, UserTable
from lmrec.data.filter import dedup, k_core, select_interactions
from lmrec.data.load import load_dataset
from lmrec.data.registry import CATALOG
from lmrec.data.stats import dataset_stats

__all__ = [
    "CATALOG",
    "Dataset",
    "Interactions",
    "ItemTable",
    "UserTable",
    "dataset_stats",
    "dedup",
    "k_core",
    "load_dataset",
    "select_interactions",
]
