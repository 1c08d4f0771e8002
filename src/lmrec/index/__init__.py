"""Approximate and exact nearest-neighbour search over item vectors (faiss), with online add/remove."""

from lmrec.index._ann import SEEN_EXCLUDED, IndexConfig, ItemIndex, RWLock

__all__ = ["SEEN_EXCLUDED", "IndexConfig", "ItemIndex", "RWLock"]
