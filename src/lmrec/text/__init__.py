"""Text: item/user templates, language-model encoders and the on-disk embedding cache.

Importing this package does not import torch; a backend loads its libraries when it is first used.

>>> from lmrec.text import encode_items, get_encoder
>>> vecs = encode_items(dataset.items, encoder="minilm")  # doctest: +SKIP
"""

from lmrec.text._api import cache_stats, encode_items, encode_texts, reset_cache_stats, resolve_encoder
from lmrec.text.cache import CacheStats, EmbeddingCache, default_cache_root
from lmrec.text.encoders import (
    BUILTIN_ENCODERS,
    DEFAULT_ENCODER,
    MULTILINGUAL_ENCODER,
    EncoderStats,
    TextEncoder,
    get_encoder,
)
from lmrec.text.templates import Template, is_mostly_cjk, item_texts, template_for, user_texts

__all__ = [
    "BUILTIN_ENCODERS",
    "CacheStats",
    "DEFAULT_ENCODER",
    "EmbeddingCache",
    "EncoderStats",
    "MULTILINGUAL_ENCODER",
    "Template",
    "TextEncoder",
    "cache_stats",
    "default_cache_root",
    "encode_items",
    "encode_texts",
    "get_encoder",
    "is_mostly_cjk",
    "item_texts",
    "reset_cache_stats",
    "resolve_encoder",
    "template_for",
    "user_texts",
]
