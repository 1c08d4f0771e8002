"""lmrec: recommender systems built on pretrained language models."""
__version__ = "0.1.0"
