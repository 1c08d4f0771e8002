"""Approximate and exact nearest-neighbour search over item vectors (faiss), with online add/remove."""

from lmrec.index._ann import IndexConfig, ItemIndex, RWLock

__all__ = ["IndexConfig", "ItemIndex", "RWLock"]
