"""What the sequential models share: training windows over all prefixes, padded histories, a fast batched
full-ranking validation, the full-softmax next-item loss with its options (:class:`NextItemLossConfig`) and
the sampled-softmax one for large catalogs (:func:`sampled_softmax_loss`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import Field

from lmrec.config import BaseConfig

PAD = -1


class NextItemLossConfig(BaseConfig):
    """Options of the sequential models' full-softmax next-item loss.

    ``mask_seen``: the items a position has already seen in its window are not softmax negatives
    (evaluation never recommends them, so the loss should not spend mass pushing them down).
    ``future_k``: also predict the items 2..k steps ahead (mean cross-entropy, weight ``future_weight``):
    which of several movies rated in the same minute comes "next" is noise, the set of the next few is not.
    ``mask_seen=False, future_k=1`` is the plain SASRec loss; what the defaults gain is measured in the README
    ("textseq against SASRec-ID").
    """

    mask_seen: bool = True
    future_k: int = Field(3, ge=1)
    future_weight: float = Field(0.5, ge=0.0)


def training_windows(
    sequences: Sequence[np.ndarray],
    max_len: int,
    *,
    targets: Sequence[np.ndarray] | None = None,
    stride: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Cut each sequence into left-aligned windows of ``max_len`` inputs with their next-item targets.

    Every next-item prediction of every sequence appears exactly once (train on all prefixes at once, as
    SASRec does), in the window that gives it the longest context: windows overlap by ``max_len - stride``
    (default half), so each target sees at least ``max_len - stride`` earlier items when it has them.
    ``targets`` (default: the sequences themselves) lets the inputs be corrupted (masked) while the targets
    stay clean. Returns ``(inputs, targets)`` int64 arrays of shape (n_windows, max_len), padded with -1;
    a target of -1 means "no loss here".
    """
    stride = max(1, stride if stride is not None else max_len // 2)
    inputs_out: list[np.ndarray] = []
    targets_out: list[np.ndarray] = []
    for k, seq in enumerate(sequences):
        seq = np.asarray(seq, dtype=np.int64)
        tgt_seq = seq if targets is None else np.asarray(targets[k], dtype=np.int64)
        n = len(seq)
        if n < 2:
            continue
        last_start = max(0, n - 1 - max_len)
        starts = list(range(last_start, 0, -stride))
        starts.append(0)
        taken_until = 1  # target positions < taken_until already belong to an earlier window
        for a in sorted(set(starts)):
            inp = np.full(max_len, PAD, dtype=np.int64)
            tgt = np.full(max_len, PAD, dtype=np.int64)
            chunk = seq[a : min(a + max_len, n - 1)]
            inp[: len(chunk)] = chunk
            pos = np.arange(a + 1, a + 1 + len(chunk))
            keep = pos >= taken_until
            tgt[: len(chunk)][keep] = tgt_seq[pos[keep]]
            taken_until = max(taken_until, a + len(chunk) + 1)
            if (tgt >= 0).any():
                inputs_out.append(inp)
                targets_out.append(tgt)
    if not inputs_out:
        empty = np.zeros((0, max_len), dtype=np.int64)
        return empty, empty.copy()
    return np.stack(inputs_out), np.stack(targets_out)


def pad_histories(histories: Sequence[np.ndarray], max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """The last ``max_len`` items of each history, left-aligned and padded with -1, and the lengths."""
    out = np.full((len(histories), max_len), PAD, dtype=np.int64)
    lengths = np.zeros(len(histories), dtype=np.int64)
    for row, h in enumerate(histories):
        h = np.asarray(h, dtype=np.int64)[-max_len:]
        out[row, : len(h)] = h
        lengths[row] = len(h)
    return out, lengths


def mask_seen_logits(logits: Any, inputs: Any, keep: Any, targets: Any) -> Any:
    """Training logits with each position's already-seen items at -inf, as evaluation masks them.

    ``logits`` (N, n_items) belong to the positions ``keep`` (a (B, L) bool tensor with N true entries)
    of the windows ``inputs`` (B, L item indices, negative = padding or mask); position t of a window has
    seen the window's items at positions <= t. The softmax then spends no mass on items the user already
    has (they are never recommended); the target itself is left alone (a repeated item stays learnable).
    Torch tensors in and out; items seen before the window starts are not masked.
    """
    import torch

    n, n_items = logits.shape
    length = inputs.shape[1]
    upto = torch.ones(length, length, dtype=torch.bool, device=inputs.device).tril()  # [t, s]: s <= t
    seen = inputs.unsqueeze(1).expand(-1, length, -1)  # [b, t, s] = inputs[b, s]
    seen = torch.where(upto & (seen >= 0), seen, n_items)[keep]  # n_items: a dummy column
    mask = torch.zeros(n, n_items + 1, dtype=torch.bool, device=logits.device)
    mask = mask.scatter_(1, seen, True)[:, :n_items]
    mask[torch.arange(n, device=logits.device), targets] = False
    return logits.masked_fill(mask, float("-inf"))


def future_loss(logp: Any, tgt: Any, sel: Any, k: int) -> Any:
    """Mean cross-entropy of the positions ``sel`` (their log-probabilities ``logp``, the log-softmax of
    their logits) against the targets 2..``k`` ahead.

    ``tgt`` (B, L) holds each position's next item (-1: none), so position t's target j steps ahead is
    ``tgt[:, t + j - 1]``; rows without one are skipped, as are targets masked out of the logits. Each term
    gathers its targets' log-probabilities from the one log-softmax (no softmax per term).
    """
    import torch

    total, terms = logp.new_zeros(()), 0
    for j in range(1, k):
        ahead = torch.full_like(tgt, PAD)
        ahead[:, :-j] = tgt[:, j:]
        ahead = ahead[sel]
        rows = torch.nonzero(ahead >= 0).squeeze(1)
        picked = logp[rows, ahead[rows]]
        # a later target the position has already seen (a repeat) may be masked out of its logits
        picked = picked[torch.isfinite(picked)]
        if len(picked):
            total = total - picked.mean()
            terms += 1
    return total / max(terms, 1)


def next_item_loss(logits: Any, inputs: Any, targets: Any, keep: Any, options: NextItemLossConfig) -> Any:
    """Full-softmax next-item cross-entropy of the positions ``keep`` of the windows ``inputs`` / ``targets``
    (both (B, L); ``logits`` (N, n_items) of the N kept positions), with the options' seen-item mask and
    later-target term."""
    import torch.nn.functional as F

    nxt = targets[keep]
    if options.mask_seen:
        logits = mask_seen_logits(logits, inputs, keep, nxt)
    # one log-softmax serves the next target and the later ones (it is the step's largest elementwise cost)
    logp = F.log_softmax(logits, dim=-1)
    loss = F.nll_loss(logp, nxt)
    if options.future_k > 1:
        loss = loss + options.future_weight * future_loss(logp, targets, keep, options.future_k)
    return loss


def sampling_probs(counts: np.ndarray, power: float = 0.75) -> np.ndarray:
    """Negative-sampling probabilities per item: (count + 1) ** ``power``, normalised."""
    p = (counts + 1.0) ** power
    return p / p.sum()


def sampled_softmax_loss(pos_logit: Any, neg_logits: Any, targets: Any, negatives: Any, logq: Any) -> Any:
    """Sampled-softmax cross-entropy with logQ correction: ``pos_logit`` (N,) of each position's target,
    ``neg_logits`` (N, K) of ``negatives`` (K,) shared by the batch and drawn from ``exp(logq)`` (log
    sampling probabilities per item, :func:`sampling_probs`); a draw that is the row's own target is not a
    negative. Its cost grows with K, not with the catalog."""
    import torch
    import torch.nn.functional as F

    pos = pos_logit - logq[targets]
    neg = (neg_logits - logq[negatives]).masked_fill(negatives[None, :] == targets[:, None], float("-inf"))
    logits = torch.cat([pos[:, None], neg], dim=1)
    return F.cross_entropy(logits, torch.zeros(len(logits), dtype=torch.long, device=logits.device))
