"""``encode_items`` / ``encode_texts``: encoders behind the on-disk embedding cache."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lmrec.data import ItemTable
from lmrec.process_group import DistContext
from lmrec.text.cache import CacheStats, EmbeddingCache, keys_for
from lmrec.text.encoders import DEFAULT_ENCODER, MULTILINGUAL_ENCODER, TextEncoder, get_encoder
from lmrec.text.encoders._base import clean_texts
from lmrec.text.templates import Template, is_mostly_cjk, item_texts

_TOTALS = CacheStats()
_LAST = CacheStats()


def cache_stats(*, last: bool = False) -> CacheStats:
    """Cache hits/misses summed over this process's encode calls (``last=True``: only the latest call)."""
    src = _LAST if last else _TOTALS
    return CacheStats(src.hits, src.misses, src.texts, src.encode_seconds, src.total_seconds)


def reset_cache_stats() -> None:
    """Zero the process-wide counters returned by :func:`cache_stats`."""
    global _TOTALS, _LAST
    _TOTALS = CacheStats()
    _LAST = CacheStats()


def resolve_encoder(
    encoder: str | Path | TextEncoder, texts: Sequence[str] | None = None, *, device: str | None = None
) -> TextEncoder:
    """An encoder object from a name/path/object; ``"auto"`` picks the multilingual one for CJK texts.

    ``device`` (None: each backend's default, the CPU for the ONNX paths) places a PyTorch encoder; see
    :func:`lmrec.text.get_encoder`. An encoder object is returned as it is."""
    if isinstance(encoder, TextEncoder):
        return encoder
    if encoder == "auto":
        encoder = MULTILINGUAL_ENCODER if texts is not None and is_mostly_cjk(texts) else DEFAULT_ENCODER
    if device is None:
        return get_encoder(encoder)
    return get_encoder(encoder, device=device)


def encode_texts(
    texts: Sequence[str | None],
    *,
    encoder: str | Path | TextEncoder = DEFAULT_ENCODER,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    batch_size: int | None = None,
    progress: bool = False,
    template: str | None = None,
    stats: CacheStats | None = None,
    shard: bool = False,
    batch_tokens: int | None = None,
) -> np.ndarray:
    """Embed ``texts`` -> float32 ``(len(texts), dim)`` with unit rows, through the embedding cache.

    Only texts whose vectors are not cached yet are encoded (each distinct text once). ``encoder`` is a name
    (see :func:`lmrec.text.get_encoder`), ``"auto"`` (multilingual for mostly-CJK texts), or an encoder
    object. ``cache_dir`` defaults to ``$LMREC_CACHE/embeddings`` or ``~/.cache/lmrec/embeddings``;
    ``use_cache=False`` skips the disk entirely. ``template`` is only recorded next to the cached vectors.
    Hit/miss counts are added to ``stats`` when given, and to :func:`cache_stats`. ``batch_size``: at most so
    many texts per forward pass, ``batch_tokens``: at most so many padded tokens (None: the encoder's
    defaults; for the transformer backends 32 texts and 512 tokens per thread on the CPU, 64 and 2048 per
    thread in bf16, 64 texts and no token bound on a GPU; 0 tokens: no bound).

    ``shard=True`` under ``torchrun`` (``WORLD_SIZE > 1``): every rank encodes its share (every world-th) of
    the texts missing from the cache, the vectors are gathered on all ranks, and only each node's first
    process writes the cache. Every rank must then call it with the same texts (it is a collective call);
    a single process ignores the flag.
    """
    global _LAST
    t0 = time.perf_counter()
    clean, _ = clean_texts(texts)
    enc = resolve_encoder(encoder, clean)
    ctx = _shard_context() if shard else None
    run = CacheStats(texts=len(clean))
    # distinct texts, first occurrence order: duplicates (common in catalogs) are encoded once
    uniq: dict[str, int] = {}
    inverse = np.fromiter((uniq.setdefault(t, len(uniq)) for t in clean), dtype=np.int64, count=len(clean))
    uniq_texts = list(uniq)
    vecs = np.empty((len(uniq_texts), enc.dim), dtype=np.float32)
    if use_cache and uniq_texts:
        cache = EmbeddingCache(enc.model_id, enc.dim, cache_dir)
        keys = keys_for(uniq_texts)
        found, cached = cache.get(keys)
        vecs[found] = cached
        if ctx is not None:
            # a rank that raced a cache write may see more rows: all ranks encode what any of them lacks
            from lmrec.process_group import all_true

            found = all_true(found)
        todo = np.flatnonzero(~found)
        if len(todo):
            t1 = time.perf_counter()
            new = _encode_some(enc, uniq_texts, todo, ctx, (batch_size, batch_tokens), progress)
            run.encode_seconds = time.perf_counter() - t1
            vecs[todo] = new
            if ctx is None or ctx.local_rank == 0:
                cache.put([keys[i] for i in todo], new, template=template)
            if ctx is not None:  # the next call on any rank reads what was just written
                from lmrec.process_group import barrier

                barrier()
        run.hits, run.misses = int(found.sum()), len(todo)
    elif uniq_texts:
        t1 = time.perf_counter()
        vecs = _encode_some(
            enc, uniq_texts, np.arange(len(uniq_texts)), ctx, (batch_size, batch_tokens), progress
        )
        run.encode_seconds = time.perf_counter() - t1
        run.misses = len(uniq_texts)
    out = vecs[inverse] if len(clean) else np.empty((0, enc.dim), dtype=np.float32)
    run.total_seconds = time.perf_counter() - t0
    _TOTALS.add(run)
    _LAST = run
    if stats is not None:
        stats.add(run)
    return np.ascontiguousarray(out, dtype=np.float32)


def _shard_context() -> DistContext | None:
    from lmrec.process_group import context, env_world

    if env_world()[1] <= 1:
        return None
    import torch

    # the training run that follows joins the same group; a GPU run wants nccl for its CUDA tensors
    return context("cuda" if torch.cuda.is_available() else "cpu")


def _encode_some(
    enc: TextEncoder,
    texts: list[str],
    rows: np.ndarray,
    ctx: DistContext | None,
    batching: tuple[int | None, int | None],
    progress: bool,
) -> np.ndarray:
    """Vectors of ``texts[rows]``: all encoded here, or (``ctx`` = a DistContext) rows ``rank::world`` here
    and the rest gathered from the other ranks. ``batching``: (batch_size, batch_tokens); the token budget
    is passed only when set, so encoders of the plain :class:`TextEncoder` protocol work."""
    size, tokens = batching
    kwargs: dict[str, Any] = {"batch_size": size}
    if tokens is not None:
        kwargs["batch_tokens"] = tokens
    if ctx is None:
        return enc.encode([texts[i] for i in rows], progress=progress, **kwargs)
    from lmrec.process_group import gather_rows

    mine = rows[ctx.rank :: ctx.world_size]
    local = (
        enc.encode([texts[i] for i in mine], progress=progress and ctx.rank == 0, **kwargs)
        if len(mine)
        else np.zeros((0, enc.dim), dtype=np.float32)
    )
    return gather_rows(np.asarray(local, dtype=np.float32), len(rows), ctx)


def encode_items(
    items: ItemTable,
    *,
    encoder: str | Path | TextEncoder = DEFAULT_ENCODER,
    template: str | None = None,
    cache_dir: str | Path | None = None,
    batch_size: int | None = None,
    progress: bool = False,
    dataset: str | None = None,
    use_cache: bool = True,
    stats: CacheStats | None = None,
    shard: bool = False,
    batch_tokens: int | None = None,
) -> np.ndarray:
    """Embed every item of ``items`` -> float32 ``(n_items, dim)``, unit rows, dense item index order.

    The item texts come from :func:`lmrec.text.templates.item_texts` (``template``, else the built-in template
    of ``dataset``, else the table's text fields joined). Vectors are served from / added to the cache.
    ``shard``: split the encoding across the ranks of a ``torchrun`` launch (see :func:`encode_texts`).
    """
    texts = item_texts(items, template, dataset=dataset)
    tpl_source = template.source if isinstance(template, Template) else template
    return encode_texts(
        texts,
        encoder=encoder,
        cache_dir=cache_dir,
        use_cache=use_cache,
        batch_size=batch_size,
        batch_tokens=batch_tokens,
        progress=progress,
        template=tpl_source,
        stats=stats,
        shard=shard,
    )
