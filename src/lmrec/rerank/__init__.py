"""Re-ranking of a recommendation list after scoring.

:func:`mmr_rerank` diversifies a ranked list by maximal marginal relevance (Carbonell & Goldstein, 1998):
each next pick maximises ``lambda * relevance - (1 - lambda) * max cosine to the items already picked``, so
two liked Star Trek films do not fill five slots with Star Trek. ``lambda = 1`` keeps the plain ranking;
smaller values trade relevance for variety. It needs only the candidates' scores and item vectors (text or
model vectors), so any model's top-N (a service's candidate pool, say the top 50) can be passed through it.
"""

from lmrec.rerank._mmr import mmr_rerank

__all__ = ["mmr_rerank"]
