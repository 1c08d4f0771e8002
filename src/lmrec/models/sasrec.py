"""SASRec (Kang & McAuley, ICDM 2018) over item ids, trained with full-softmax cross-entropy.

A causal transformer reads the user's item sequence; the state at every position is scored against all item
embeddings (tied input/output embeddings) and trained with cross-entropy over the whole catalog, which beats
the original one-negative BCE by a wide margin (Petrov & Macdonald, gSASRec, RecSys 2023; Klenitskiy &
Vasilev, RecSys 2023).

Training is built to be fast on a few CPU cores: every sequence is fed once per epoch and the loss is taken at
every position (all prefixes at once); sequences longer than ``max_len`` are cut into consecutive windows so
that every event is a target once per epoch; batches group sequences of similar length to limit padding. It
trains on the shared loop (:func:`lmrec.train.loop.train_loop`): early stopping keeps the parameters with the
best validation NDCG@10 (full ranking, training items masked), checkpoints resume after a kill, ``ema``
validates a moving average of the weights. Scores come from ``batch.histories`` (last ``max_len`` items), so
anonymous histories work directly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from lmrec.config import BaseConfig
from lmrec.data import Interactions, ItemTable
from lmrec.models._validate import validation_ndcg
from lmrec.models.base import BaseRecommender, FitOptions, UserBatch
from lmrec.models.seqdata import NextItemLossConfig, next_item_loss, sampled_softmax_loss, sampling_probs
from lmrec.train.config import LoopConfig, TrainableConfig


class SASRecConfig(NextItemLossConfig, TrainableConfig):
    """Model width, depth and training schedule (``train``: :class:`~lmrec.train.LoopConfig`; flat names such
    as ``epochs=5`` and the old ``eval_every`` are moved there); ``patience`` counts validation checks without
    improvement.

    Defaults were chosen on ML-100K validation NDCG@10 under a tight CPU budget: small batches of windows
    (many optimiser steps per epoch) with a high learning rate converge in few epochs with full-softmax CE.
    ``mask_seen`` / ``future_k`` / ``future_weight``: the loss options of :class:`NextItemLossConfig`.
    ``ema``: validate and keep an exponential moving average of the weights (this decay per step; 0 = off).
    ``loss``: ``"full"`` softmax over the catalog (the default; its cost per epoch grows with events x items)
    or ``"sampled"``: ``n_negatives`` items per batch drawn by popularity ** .75, logQ-corrected (cost linear
    in the events; for catalogs past ~100k items on CPU; the item table then trains with sparse gradients and
    lazy Adam, no weight decay; ``mask_seen`` / ``future_k`` apply to the full loss).
    """

    max_len: int = Field(50, ge=1)
    dim: int = Field(64, gt=0)
    layers: int = Field(2, ge=1)
    heads: int = Field(1, ge=1)
    ffn_mult: int = Field(1, ge=1)
    dropout: float = Field(0.2, ge=0.0, lt=1.0)
    train: LoopConfig = LoopConfig(epochs=200, lr=3e-3, patience=20, validate_every=1, grad_clip=None)
    batch_size: int = Field(32, gt=0)
    loss: Literal["full", "sampled"] = "full"
    n_negatives: int = Field(1024, ge=1)

    @model_validator(mode="after")
    def _heads_divide_dim(self) -> SASRecConfig:
        if self.dim % self.heads:
            raise ValueError(f"dim ({self.dim}) must be a multiple of heads ({self.heads})")
        return self


def _build_net(n_items: int, cfg: SASRecConfig) -> Any:
    import torch
    import torch.nn.functional as F
    from torch import nn

    class Block(nn.Module):
        """Pre-LN transformer block; causal attention through ``scaled_dot_product_attention(is_causal=True)``
        (no mask tensor, the fused kernel: about 20% faster on CPU than ``nn.TransformerEncoderLayer``)."""

        def __init__(self) -> None:
            super().__init__()
            self.ln1 = nn.LayerNorm(cfg.dim)
            self.qkv = nn.Linear(cfg.dim, 3 * cfg.dim)
            self.proj = nn.Linear(cfg.dim, cfg.dim)
            self.ln2 = nn.LayerNorm(cfg.dim)
            self.ff1 = nn.Linear(cfg.dim, cfg.dim * cfg.ffn_mult)
            self.ff2 = nn.Linear(cfg.dim * cfg.ffn_mult, cfg.dim)
            self.drop = nn.Dropout(cfg.dropout)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            b, length, d = x.shape
            qkv = self.qkv(self.ln1(x)).view(b, length, 3, cfg.heads, d // cfg.heads)
            q, k, v = qkv.permute(2, 0, 3, 1, 4)
            p = cfg.dropout if self.training else 0.0
            att = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
            x = x + self.drop(self.proj(att.transpose(1, 2).reshape(b, length, d)))
            return x + self.drop(self.ff2(self.drop(F.gelu(self.ff1(self.ln2(x))))))

    class SASRecNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.item_emb = nn.Embedding(n_items + 1, cfg.dim, padding_idx=0)  # token = item + 1
            self.pos_emb = nn.Embedding(cfg.max_len, cfg.dim)
            self.drop = nn.Dropout(cfg.dropout)
            self.blocks = nn.ModuleList(Block() for _ in range(cfg.layers))
            self.norm = nn.LayerNorm(cfg.dim)
            nn.init.normal_(self.item_emb.weight, 0, 1.0 / math.sqrt(cfg.dim))
            nn.init.normal_(self.pos_emb.weight, 0, 1.0 / math.sqrt(cfg.dim))
            with torch.no_grad():
                self.item_emb.weight[0].zero_()

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            """(batch, length) right-padded tokens -> (batch, length, dim) states (causal: right padding
            never reaches a real position)."""
            pos = torch.arange(tokens.shape[1], device=tokens.device)
            x = self.drop(self.item_emb(tokens) * math.sqrt(cfg.dim) + self.pos_emb(pos)[None])
            for block in self.blocks:
                x = block(x)
            return self.norm(x)

        def item_vectors(self) -> torch.Tensor:
            return self.item_emb.weight[1:]

    return SASRecNet()


def _windows(seqs: Sequence[np.ndarray], max_len: int) -> list[np.ndarray]:
    """Cut each sequence into consecutive windows of at most ``max_len + 1`` events, overlapping by one, so
    that each event after the first is a target exactly once; shorter windows than 2 are dropped."""
    out = []
    for s in seqs:
        end = len(s)
        while end >= 2:
            start = max(0, end - max_len - 1)
            out.append(np.asarray(s[start:end], dtype=np.int64))
            end = start + 1
            if start == 0:
                break
    return out


def _pad(seqs: Sequence[np.ndarray], length: int, offset: int = 1) -> np.ndarray:
    """Right-padded token matrix: item + ``offset``, 0 = padding."""
    out = np.zeros((len(seqs), length), dtype=np.int64)
    for r, s in enumerate(seqs):
        out[r, : len(s)] = np.asarray(s, dtype=np.int64) + offset
    return out


class SASRec(BaseRecommender):
    """Self-attentive sequential recommendation with item ids and full-softmax cross-entropy."""

    name: ClassVar[str] = "sasrec"
    Config: ClassVar[type[BaseConfig]] = SASRecConfig

    def _fit(
        self, train: Interactions, valid: Interactions | None, items: ItemTable | None, options: FitOptions
    ) -> None:
        import torch

        from lmrec.device import amp_dtype, describe, options_device

        cfg: SASRecConfig = self.config  # type: ignore[assignment]
        device = options_device(options)
        torch.manual_seed(options.seed)
        self.net = _build_net(self.n_items, cfg).to(device)
        windows = _windows(self._histories, cfg.max_len)
        lengths = np.array([len(w) for w in windows])
        # every window padded once and kept on the device; a batch takes its rows and its width there
        width_all = max(1, int(lengths.max()) - 1) if len(lengths) else 1
        all_tokens = torch.from_numpy(_pad([w[:-1] for w in windows], width_all)).to(device)
        all_targets = (torch.from_numpy(_pad([w[1:] for w in windows], width_all)) - 1).to(device)

        def batches(epoch: int, rng: np.random.Generator) -> Any:
            for batch in _length_batches(lengths, cfg.batch_size, rng):
                width = int(lengths[batch].max())
                rows = torch.from_numpy(batch).to(device)
                yield all_tokens[rows, : width - 1], all_targets[rows, : width - 1]  # -1 = padding

        logq = probs = None
        sparse_params = []
        if cfg.loss == "sampled":
            counts = np.bincount(np.asarray(train.item, dtype=np.int64), minlength=self.n_items)
            logq = torch.log(torch.as_tensor(sampling_probs(counts), dtype=torch.float32)).to(device)
            probs = logq.exp()  # once, not in every step
            # a step touches its batch's rows and the negatives: a sparse gradient, lazy Adam on those rows
            # (a dense one costs the whole table per step: lmrec.train.optim)
            self.net.item_emb.sparse = True
            sparse_params = [self.net.item_emb.weight]

        def step(batch: Any) -> Any:
            tokens, targets = batch
            keep = targets >= 0
            states = self.net(tokens)[keep]
            if logq is None:
                return next_item_loss(states @ self.net.item_vectors().T, tokens - 1, targets, keep, cfg)
            nxt = targets[keep]
            neg = torch.multinomial(probs, cfg.n_negatives, replacement=True)
            pos = (states * self.net.item_emb(nxt + 1)).sum(-1)
            return sampled_softmax_loss(pos, states @ self.net.item_emb(neg + 1).T, nxt, neg, logq)

        validate = None
        if valid is not None and len(valid):
            v_users = np.asarray(valid.user, dtype=np.int64)
            v_items = np.asarray(valid.item, dtype=np.int64)

            def validate() -> dict[str, float]:
                return {"ndcg@10": validation_ndcg(self._score_histories, self._histories, v_users, v_items)}

        try:
            result = self.train_on_loop(
                self.net,
                train,
                options,
                batches=batches,
                step=step,
                validate=validate,
                sparse_params=sparse_params,
            )
        finally:
            self.net.item_emb.sparse = False  # dense again for whatever trains it next
        self.fit_info = {
            "train": result.to_dict(),
            "device": describe(device, amp_dtype(device, options.precision)),
        }

    def _score_histories(self, users: np.ndarray, histories: Sequence[np.ndarray]) -> np.ndarray:
        return self._score_batch(UserBatch(users, histories))

    def _score_batch(self, batch: UserBatch, chunk: int = 256) -> np.ndarray:
        import torch

        cfg: SASRecConfig = self.config  # type: ignore[assignment]
        was_training = self.net.training
        self.net.eval()
        out = np.empty((len(batch), self.n_items), dtype=np.float32)
        with torch.no_grad():
            items = self.net.item_vectors()
            dev = items.device
            for s in range(0, len(batch), chunk):
                hists = [np.asarray(h)[-cfg.max_len :] for h in batch.histories[s : s + chunk]]
                lengths = np.array(
                    [max(len(h), 1) for h in hists]
                )  # an empty history reads one padding token
                tokens = torch.from_numpy(_pad(hists, int(lengths.max()))).to(dev)
                states = self.net(tokens)
                last = states[torch.arange(len(hists), device=dev), torch.from_numpy(lengths - 1).to(dev)]
                out[s : s + len(hists)] = (last @ items.T).cpu().numpy()
        self.net.train(was_training)
        return out

    def _to_device(self, device: Any) -> None:
        if getattr(self, "net", None) is not None:
            self.net.to(device)

    def _state(self) -> dict[str, np.ndarray]:
        return {f"net.{k}": v.detach().cpu().numpy() for k, v in self.net.state_dict().items()}

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        import torch

        self.net = _build_net(self.n_items, self.config)  # type: ignore[arg-type]
        self.net.load_state_dict(
            {k[4:]: torch.from_numpy(v.copy()) for k, v in state.items() if k.startswith("net.")}
        )
        self.net.eval()


def _length_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffled batches of similar-length windows (sorted within pools of 16 batches, then shuffled)."""
    perm = rng.permutation(len(lengths))
    pool = batch_size * 16
    batches = []
    for s in range(0, len(perm), pool):
        chunk = perm[s : s + pool]
        chunk = chunk[np.argsort(-lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    order = rng.permutation(len(batches))
    return [batches[i] for i in order]
