"""Test helpers shipped with lmrec: the recommender contract suite and tiny fixtures."""

from lmrec.testing.contract import RecommenderContract, tiny_dataset

__all__ = ["RecommenderContract", "tiny_dataset"]
