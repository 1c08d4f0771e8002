"""Data: datasets, loaders, filtering and splits. Imports nothing else of lmrec but errors."""

from lmrec.data._dataset import Dataset, Interactions, ItemTable, UserTable

__all__ = ["Dataset", "Interactions", "ItemTable", "UserTable"]
