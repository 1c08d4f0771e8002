"""The :class:`TextEncoder` protocol and the behaviour every backend shares.

Contract of ``encode``: one float32 row per input text, each row of unit L2 norm, in input order.

- ``None``, NaN and whitespace-only texts are *empty*: they are not sent to the model with the others but
  get the model's vector for ``""`` encoded on its own (so a fixed unit vector per model, the same every
  time), are counted in ``stats.empty`` and logged once per call as a warning. They never raise.
- Texts longer than the model's limit are cut to its first ``max_tokens`` tokens and counted in
  ``stats.truncated``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from lmrec.errors import LmrecError

log = logging.getLogger("lmrec.text")


@dataclass
class EncoderStats:
    """Running counters of one encoder instance (cumulative over its ``encode`` calls)."""

    texts: int = 0
    empty: int = 0
    truncated: int = 0
    seconds: float = 0.0


@runtime_checkable
class TextEncoder(Protocol):
    """A frozen sentence encoder: texts in, unit-norm float32 vectors out."""

    name: str
    model_id: str  # stable across processes and machines; part of every cache key
    dim: int
    max_tokens: int  # the model's token limit; 0 when it has none (USE cuts by characters instead)
    stats: EncoderStats

    def encode(
        self, texts: Sequence[str | None], *, batch_size: int | None = None, progress: bool = False
    ) -> np.ndarray:
        """Embed ``texts`` -> float32 array ``(len(texts), dim)`` with unit rows (``batch_size`` texts per
        forward pass; None: the encoder's own default)."""
        ...


def clean_texts(texts: Sequence[Any]) -> tuple[list[str], np.ndarray]:
    """Strings to feed a model, and a boolean mask of the empty ones (None, NaN, blank -> "")."""
    if isinstance(texts, str):
        raise TypeError("encode() takes a sequence of texts, not a single string")
    out: list[str] = []
    empty = np.zeros(len(texts), dtype=bool)
    for i, t in enumerate(texts):
        if t is None or (isinstance(t, float) and math.isnan(t)):
            s = ""
        else:
            s = str(t).strip()
        if not s:
            empty[i] = True
            s = ""
        out.append(s)
    return out, empty


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm, as contiguous float32 (rows of zeros stay zero)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    np.maximum(norms, 1e-12, out=norms)
    return x / norms


def warn_empty(name: str, n_empty: int, n: int) -> None:
    if n_empty:
        log.warning(
            "%s: %d of %d texts are empty; they get the encoder's empty-string vector", name, n_empty, n
        )


def batches(order: np.ndarray, batch_size: int) -> Iterator[np.ndarray]:
    """Consecutive chunks of ``order``."""
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


class Progress:
    """A bar over texts on the shared display (:mod:`lmrec.progress`), or nothing (``enabled=False``)."""

    def __init__(self, enabled: bool, total: int, description: str) -> None:
        from lmrec import progress

        self._cm = progress.task(description, total, requested=enabled and bool(total))
        self._bar: Any = None

    def __enter__(self) -> Progress:
        self._bar = self._cm.__enter__()
        return self

    def advance(self, n: int) -> None:
        if self._bar is not None:
            self._bar.advance(n)

    def __exit__(self, *exc: object) -> None:
        self._cm.__exit__(*exc)


class BaseEncoder:
    """The shared ``encode``: cleaning, empty texts, counters, normalisation; backends add ``_embed``."""

    name: str
    model_id: str
    dim: int
    max_tokens: int

    def __init__(self) -> None:
        self.stats = EncoderStats()
        self._empty_vector: np.ndarray | None = None

    def default_batch_size(self) -> int:
        """Texts per forward pass when ``encode`` is not told."""
        return 64

    def default_batch_tokens(self) -> int | None:
        """Padded tokens per forward pass when ``encode`` is not told (None: no bound; backends that do not
        batch by tokens ignore it)."""
        return None

    def encode(
        self,
        texts: Sequence[str | None],
        *,
        batch_size: int | None = None,
        batch_tokens: int | None = None,
        progress: bool = False,
    ) -> np.ndarray:
        """Embed ``texts`` -> float32 ``(n, dim)``, unit rows, input order.

        A forward pass takes at most ``batch_size`` texts and, in the token-level backends, at most
        ``batch_tokens`` padded tokens (texts x the longest text's tokens; a text longer than that goes
        alone). None: the encoder's :meth:`default_batch_size` / :meth:`default_batch_tokens`; 0 tokens: no
        token bound."""
        if batch_size is None:
            batch_size = self.default_batch_size()
        if batch_tokens is None:
            batch_tokens = self.default_batch_tokens() or 0
        if batch_tokens < 0:
            raise LmrecError(f"batch_tokens must be >= 0 (0: no bound), got {batch_tokens}")
        t0 = time.perf_counter()
        clean, empty = clean_texts(texts)
        n_empty = int(empty.sum())
        warn_empty(self.name, n_empty, len(clean))
        out = np.empty((len(clean), self.dim), dtype=np.float32)
        full = np.flatnonzero(~empty)
        if len(full):
            vecs, n_trunc = self._embed(
                [clean[i] for i in full], max(1, int(batch_size)), progress, batch_tokens=int(batch_tokens)
            )
            out[full] = unit_rows(vecs)
            self.stats.truncated += n_trunc
        if n_empty:
            out[empty] = self.empty_vector()
        self.stats.texts += len(clean)
        self.stats.empty += n_empty
        self.stats.seconds += time.perf_counter() - t0
        return out

    def empty_vector(self) -> np.ndarray:
        """The vector of ``""``, encoded alone once (batch mates cannot move it, even under int8)."""
        if self._empty_vector is None:
            self._empty_vector = unit_rows(self._embed([""], 1, False)[0])[0]
        return self._empty_vector

    def _embed(
        self, texts: list[str], batch_size: int, progress: bool, *, batch_tokens: int = 0
    ) -> tuple[np.ndarray, int]:
        """Raw vectors (any norm) of non-empty texts in input order, and how many were truncated
        (``batch_tokens``: see :meth:`encode`, 0 for no bound)."""
        raise NotImplementedError
