"""Test helpers shipped with lmrec: the recommender contract suite, tiny fixtures and the quality tasks."""

from lmrec.testing.contract import RecommenderContract, tiny_dataset
from lmrec.testing.quality import floor_ndcg, quality_dataset

__all__ = ["RecommenderContract", "floor_ndcg", "quality_dataset", "tiny_dataset"]
