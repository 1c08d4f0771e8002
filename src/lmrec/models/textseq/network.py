"""The torch network of :class:`~lmrec.models.textseq.TextSeq`: the item :class:`Adaptor` and the
sequence model :class:`TextSeqModule`.

This module imports torch; :mod:`lmrec.models.textseq` imports it only when a model is built or loaded, so
that importing the package stays light. The attribute names here are the keys of saved models' state
dicts: renaming one breaks loading saved model folders.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lmrec.data.augment import MASK
from lmrec.models.seqdata import PAD, next_item_loss, sampled_softmax_loss
from lmrec.models.textseq.config import TextSeqConfig


class Adaptor(nn.Module):
    """Parametric whitening followed by a mixture-of-experts projection into the model width (UniSRec).

    Whitening = ZCA matrix of the catalog (a buffer computed once from its mean/covariance, no
    interactions needed) and a learned bias; each expert is a learned linear map of the whitened vector
    with its own learned bias (UniSRec's PWLayer), mixed by a softmax gate. A separate learned
    text_dim x text_dim matrix would only reparametrise the experts, at a high cost per step.

    With ``anchor`` > 0 the output also holds a fixed text path: ``anchor`` times the whitened vector under a
    fixed orthonormal ``text_dim x dim`` map (the same in every model, so pretrained and target models share
    it), scaled to norm ~1. Training cannot move it, so items keep their text geometry whatever pretraining
    did to the experts; the experts then start ten times smaller and learn a residual on top.
    """

    def __init__(
        self, text_dim: int, dim: int, n_experts: int, dropout: float, whitening: bool, anchor: float = 0.0
    ) -> None:
        super().__init__()
        self.whitening = whitening
        self.anchor_weight = anchor
        self.register_buffer("mean", torch.zeros(text_dim))
        self.register_buffer("zca", torch.eye(text_dim))
        self.bias = nn.Parameter(torch.zeros(n_experts, text_dim))
        # whitened inputs have unit variance per dimension: this scale gives item reps of norm ~1
        self.experts = nn.Parameter(torch.randn(n_experts, text_dim, dim) / math.sqrt(text_dim * dim))
        if anchor > 0:
            with torch.no_grad():
                self.experts.mul_(0.1)
            self.register_buffer("anchor", anchor_map(text_dim, dim))
        self.gate = nn.Linear(text_dim, n_experts)
        nn.init.zeros_(self.gate.weight)
        nn.init.zeros_(self.gate.bias)
        self.drop = nn.Dropout(dropout)

    def init_whitening(self, vectors: torch.Tensor, shrink: float = 0.1) -> None:
        """Set the ZCA whitening from the mean/covariance of ``vectors`` (eigenvalues shrunk by
        ``shrink``)."""
        with torch.no_grad():
            mean = vectors.mean(0)
            centred = vectors - mean
            cov = centred.T @ centred / max(1, len(vectors) - 1)
            evals, evecs = torch.linalg.eigh(cov.double())
            evals = evals.clamp_min(0)
            evals = evals + shrink * evals.mean() + 1e-12  # shrinkage: no blow-up of tiny directions
            self.mean.copy_(mean)
            self.zca.copy_((evecs @ torch.diag(evals.rsqrt()) @ evecs.T).float())

    def whiten(self, text: torch.Tensor) -> torch.Tensor:
        """Whitened text vectors (unchanged when whitening is off)."""
        return (text - self.mean) @ self.zca if self.whitening else text

    def forward(self, text: torch.Tensor, whitened: torch.Tensor | None = None) -> torch.Tensor:
        """Item representations (n, dim) of text vectors (``whitened``: their precomputed whitening)."""
        x = self.drop(self.whiten(text) if whitened is None else whitened)
        gates = torch.softmax(self.gate(x), dim=-1)  # (n, E)
        # sum_e g_e (x - b_e) W_e  =  sum_e g_e x W_e - sum_e g_e b_e W_e
        expert_out = torch.einsum("nd,edk->nek", x, self.experts)
        bias_out = torch.einsum("ed,edk->ek", self.bias, self.experts)
        out = (gates.unsqueeze(-1) * (expert_out - bias_out.unsqueeze(0))).sum(1)
        if self.anchor_weight > 0:
            out = out + self.anchor_weight * (x @ self.anchor)
        return out


# the seed of the anchor map: a constant, so that every model (pretrained, adapted, from scratch) has the
# same map
ANCHOR_SEED = 20261206


def anchor_map(text_dim: int, dim: int) -> torch.Tensor:
    """The fixed text path of :class:`Adaptor` (``text_dim x dim``): orthonormal columns (a random rotation
    onto ``dim`` axes, the same for a given shape) divided by ``sqrt(dim)``, so that a whitened vector
    (unit variance per dimension) maps to norm ~1 and inner products keep their text geometry on average."""
    gen = torch.Generator().manual_seed(ANCHOR_SEED)
    q, _ = torch.linalg.qr(torch.randn(text_dim, dim, generator=gen, dtype=torch.float64))
    if dim > text_dim:  # more axes than the text has: the extra ones stay empty
        q = torch.cat([q, q.new_zeros(text_dim, dim - text_dim)], dim=1)
    return (q / math.sqrt(dim)).float()


class TextSeqModule(nn.Module):
    """Item representations (adaptor [+ gated ID embedding] [+ feature columns]) and a causal transformer
    over item sequences, with the next-item losses and the optional auxiliary rating/sentiment heads.

    The catalog's text vectors, log counts and feature matrices are buffers (saved with the weights).
    Build one for training with :meth:`build`, or an empty one to load saved weights into with
    :meth:`from_state`.
    """

    def __init__(
        self,
        cfg: TextSeqConfig,
        text_dim: int,
        n_items: int,
        feat_shapes: dict[str, tuple[int, ...]],
        spec: dict[str, Any],
    ) -> None:
        super().__init__()
        self.cfg = cfg
        self.text_dim = text_dim
        d = cfg.dim
        self.register_buffer("text", torch.zeros(n_items, text_dim))
        self.register_buffer("log_count", torch.zeros(n_items))
        self._white: torch.Tensor | None = None  # whitened catalog (recomputed when the text changes)
        self.adaptor = Adaptor(
            text_dim, d, cfg.n_experts, cfg.adaptor_dropout, cfg.whitening, anchor=cfg.text_anchor
        )
        if cfg.id_fusion:
            # zero init: an item never seen in training keeps a pure text representation
            self.id_emb = nn.Parameter(torch.zeros(n_items, d))
            self.id_gate = nn.Linear(d + 1, d)
            nn.init.zeros_(self.id_gate.weight)
            nn.init.zeros_(self.id_gate.bias)
        # set by a trainer whose optimiser takes a sparse gradient for id_emb (the sampled loss touches a few
        # of its rows per step: lmrec.train.optim)
        self.sparse_ids = False
        # item feature columns, each projected into the model width and added
        self.feat_names: list[str] = []
        self.num_proj = None
        if "numeric" in feat_shapes:
            self.register_buffer("feat_numeric", torch.zeros(n_items, feat_shapes["numeric"][1]))
            self.num_proj = nn.Linear(feat_shapes["numeric"][1], d)
            self.feat_names.append("numeric")
        self.cat_emb = nn.ModuleDict()
        for name, size in spec.get("categorical", {}).items():
            key = f"cat.{name}"
            self.register_buffer(
                feature_buffer_name(key), torch.zeros(n_items, feat_shapes[key][1], dtype=torch.long)
            )
            self.cat_emb[feature_buffer_name(key)] = nn.EmbeddingBag(size, d, mode="sum", padding_idx=0)
            self.feat_names.append(key)
        self.vec_proj = nn.ModuleDict()
        for name, width in spec.get("vector", {}).items():
            key = f"vec.{name}"
            self.register_buffer(feature_buffer_name(key), torch.zeros(n_items, width))
            self.vec_proj[feature_buffer_name(key)] = nn.Linear(width, d)
            self.feat_names.append(key)
        self.mask_emb = nn.Parameter(torch.randn(d) * 0.02)
        self.pos = nn.Embedding(cfg.max_len, d)
        nn.init.normal_(self.pos.weight, std=0.02)
        self.ln = nn.LayerNorm(d)
        self.drop = nn.Dropout(cfg.dropout)
        layer = nn.TransformerEncoderLayer(
            d, cfg.n_heads, d * cfg.ffn_mult, cfg.dropout, activation="gelu", batch_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, cfg.n_layers, enable_nested_tensor=False)
        causal = torch.triu(torch.ones(cfg.max_len, cfg.max_len, dtype=torch.bool), diagonal=1)
        self.register_buffer("causal", causal, persistent=False)
        # auxiliary per-task heads on (sequence state, next item representation)
        self.rating_head = aux_head(d) if cfg.aux_rating_weight > 0 else None
        self.sentiment_head = aux_head(d) if cfg.aux_sentiment_weight > 0 else None
        if cfg.has_aux:
            # mean and std of the training ratings (the rating head predicts standardised ratings)
            self.register_buffer("rating_stats", torch.tensor([0.0, 1.0]))
        self.last_aux: dict[str, float] = {}

    # item side
    def forget_whitened(self) -> None:
        """Drop the cached whitened catalog: call after changing ``text`` or the adaptor's whitening
        statistics in place (a new catalog, other statistics, another device)."""
        self._white = None

    def item_reps(self, idx: torch.Tensor | None = None, text: torch.Tensor | None = None) -> torch.Tensor:
        """Representations of the items ``idx`` (default all), or of raw text vectors ``text`` (new items:
        no ID, no features)."""
        if text is not None:
            return self.adaptor(text)
        sel = slice(None) if idx is None else idx
        if self._white is None or self._white.shape[0] != self.text.shape[0] or self.text.requires_grad:
            with torch.autocast(self.text.device.type, enabled=False):  # kept in fp32 (it is cached)
                self._white = self.adaptor.whiten(self.text)
        rep = self.adaptor(self.text[sel], whitened=self._white[sel])
        if self.cfg.id_fusion:
            gate_in = torch.cat([rep, self.log_count[sel].unsqueeze(-1)], dim=-1)
            ids = self.id_emb[sel] if idx is None else F.embedding(idx, self.id_emb, sparse=self.sparse_ids)
            id_part = torch.sigmoid(self.id_gate(gate_in)) * ids
            if self.training and self.cfg.id_dropout > 0:
                # as if some items were new: the text path must rank them well on its own (DropoutNet)
                keep = torch.rand(id_part.shape[0], 1, device=id_part.device) >= self.cfg.id_dropout
                id_part = id_part * keep
            rep = rep + id_part
        if self.num_proj is not None:
            rep = rep + self.num_proj(self.feat_numeric[sel])
        for key, emb in self.cat_emb.items():
            rep = rep + emb(getattr(self, key)[sel])
        for key, proj in self.vec_proj.items():
            rep = rep + proj(getattr(self, key)[sel])
        return rep

    # sequence side
    def encode(self, seq: torch.Tensor, reps: torch.Tensor) -> torch.Tensor:
        """Hidden states (B, L, d) of left-aligned sequences (-1 pad, -2 mask) given item reps."""
        valid = seq >= 0
        x = reps[seq.clamp_min(0)] * valid.unsqueeze(-1)
        x = torch.where((seq == MASK).unsqueeze(-1), self.mask_emb.expand_as(x), x)
        length = seq.shape[1]
        x = x + self.pos.weight[:length]
        x = self.drop(self.ln(x))
        pad = seq == PAD
        return self.encoder(x, mask=self.causal[:length, :length], src_key_padding_mask=pad)

    def user_states(self, seq: torch.Tensor, lengths: torch.Tensor, reps: torch.Tensor) -> torch.Tensor:
        """The state (B, d) after the last of ``lengths`` items of each left-aligned sequence (zeros if
        empty)."""
        out = torch.zeros(len(seq), self.cfg.dim, device=reps.device)
        has = lengths > 0
        if has.any():
            h = self.encode(seq[has], reps)
            out[has] = h[torch.arange(int(has.sum()), device=h.device), lengths[has] - 1].to(out.dtype)
        return out

    def logits(self, states: torch.Tensor, reps: torch.Tensor) -> torch.Tensor:
        """Scores (B, n) of every item representation for every state (cosine / temperature if
        ``normalize``)."""
        if self.cfg.normalize:
            states, reps = F.normalize(states, dim=-1), F.normalize(reps, dim=-1)
        return states @ reps.T / self.cfg.temperature

    # auxiliary tasks
    def set_rating_stats(self, mean: float, std: float) -> None:
        """Keep the training ratings' mean and std (the rating head predicts standardised ratings)."""
        with torch.no_grad():
            self.rating_stats.copy_(torch.tensor([mean, std], device=self.rating_stats.device))

    def aux_raw(self, states: torch.Tensor, target_reps: torch.Tensor) -> dict[str, torch.Tensor]:
        """Raw head outputs: standardised ``rating`` and ``positive`` logit, for the heads the model has."""
        x = torch.cat([states, target_reps, states * target_reps], dim=-1)
        out: dict[str, torch.Tensor] = {}
        if self.rating_head is not None:
            out["rating"] = self.rating_head(x).squeeze(-1)  # standardised rating
        if self.sentiment_head is not None:
            out["positive"] = self.sentiment_head(x).squeeze(-1)  # logit
        return out

    def aux_predict(self, states: torch.Tensor, target_reps: torch.Tensor) -> dict[str, torch.Tensor]:
        """Head outputs in the data's rating scale (``rating``) and as a probability (``positive``)."""
        raw = self.aux_raw(states, target_reps)
        out: dict[str, torch.Tensor] = {}
        if "rating" in raw:
            out["rating"] = raw["rating"] * self.rating_stats[1] + self.rating_stats[0]
        if "positive" in raw:
            out["positive"] = torch.sigmoid(raw["positive"])
        return out

    def aux_loss(
        self, states: torch.Tensor, target_reps: torch.Tensor, ratings: torch.Tensor
    ) -> torch.Tensor:
        """Weighted auxiliary losses of the rows whose rating is known (records them in ``last_aux``)."""
        known = torch.isfinite(ratings)
        self.last_aux = {}
        if not bool(known.any()):
            return states.new_zeros(())
        raw = self.aux_raw(states[known], target_reps[known])
        r = ratings[known]
        total = states.new_zeros(())
        if "rating" in raw:
            mse = F.mse_loss(raw["rating"], (r - self.rating_stats[0]) / self.rating_stats[1])
            total = total + self.cfg.aux_rating_weight * mse
            self.last_aux["rating_mse"] = float(mse.detach())
        if "positive" in raw:
            label = (r >= self.cfg.sentiment_threshold).float()
            bce = F.binary_cross_entropy_with_logits(raw["positive"], label)
            total = total + self.cfg.aux_sentiment_weight * bce
            self.last_aux["sentiment_bce"] = float(bce.detach())
        return total

    # losses
    def full_loss(
        self, inp: torch.Tensor, tgt: torch.Tensor, ratings: torch.Tensor | None = None
    ) -> torch.Tensor:
        reps = self.item_reps()
        h = self.encode(inp, reps)
        sel = tgt >= 0
        loss = next_item_loss(self.logits(h[sel], reps), inp, tgt, sel, self.cfg)
        if ratings is not None and self.cfg.has_aux:
            loss = loss + self.aux_loss(h[sel], reps[tgt[sel]], ratings[sel])
        return loss

    def sampled_loss(
        self,
        inp: torch.Tensor,
        tgt: torch.Tensor,
        n_neg: int,
        logq: torch.Tensor,
        ratings: torch.Tensor | None = None,
    ) -> torch.Tensor:
        sel = tgt >= 0
        targets = tgt[sel]
        neg = torch.multinomial(logq.exp(), n_neg, replacement=True)
        needed, inverse = torch.unique(torch.cat([inp[inp >= 0], targets, neg]), return_inverse=True)
        reps_sub = self.item_reps(needed)
        # map item index -> row of reps_sub through a sparse lookup table
        lookup = torch.full((len(self.text),), -1, dtype=torch.long, device=inp.device)
        lookup[needed] = torch.arange(len(needed), device=inp.device)
        seq = torch.where(inp >= 0, lookup[inp.clamp_min(0)], inp)
        h = self.encode(seq, reps_sub)[sel]
        pos_logit = self.logits_rowwise(h, reps_sub[lookup[targets]])
        loss = sampled_softmax_loss(pos_logit, self.logits(h, reps_sub[lookup[neg]]), targets, neg, logq)
        if ratings is not None and self.cfg.has_aux:
            loss = loss + self.aux_loss(h, reps_sub[lookup[targets]], ratings[sel])
        return loss

    def logits_rowwise(self, states: torch.Tensor, reps: torch.Tensor) -> torch.Tensor:
        """Score (B,) of row i's item representation for row i's state."""
        if self.cfg.normalize:
            states, reps = F.normalize(states, dim=-1), F.normalize(reps, dim=-1)
        return (states * reps).sum(-1) / self.cfg.temperature

    def append_items(self, vectors: np.ndarray) -> None:
        """Append new catalog items by text vectors (zero ID embedding, count and features)."""
        m = len(vectors)
        with torch.no_grad():
            dev = self.text.device
            self.text = torch.cat([self.text, torch.from_numpy(vectors).to(dev)])
            self.log_count = torch.cat([self.log_count, torch.zeros(m, device=dev)])
            if self.cfg.id_fusion:
                self.id_emb = nn.Parameter(
                    torch.cat([self.id_emb.data, torch.zeros(m, self.cfg.dim, device=dev)])
                )
            for key in self.feat_names:
                name = feature_buffer_name(key)
                old = getattr(self, name)
                setattr(self, name, torch.cat([old, old.new_zeros((m, *old.shape[1:]))]))

    @classmethod
    def build(
        cls,
        cfg: TextSeqConfig,
        vectors: np.ndarray,
        counts: np.ndarray,
        feats: dict[str, np.ndarray],
        spec: dict[str, Any],
    ) -> TextSeqModule:
        """A new module over the catalog ``vectors`` (n_items, text_dim) with training ``counts`` per item,
        feature matrices ``feats`` described by ``spec`` (see
        :func:`~lmrec.models.textseq.data.item_features`); the whitening starts from the catalog's
        mean/covariance when ``cfg.whitening``."""
        shapes = {k: tuple(v.shape) for k, v in feats.items()}
        mod = cls(cfg, vectors.shape[1], len(vectors), shapes, spec)
        with torch.no_grad():
            mod.text.copy_(torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32)))
            mod.log_count.copy_(torch.from_numpy(np.log1p(counts).astype(np.float32)))
            for key, arr in feats.items():
                name = "feat_numeric" if key == "numeric" else feature_buffer_name(key)
                getattr(mod, name).copy_(torch.from_numpy(arr))
        if cfg.whitening:
            mod.adaptor.init_whitening(mod.text)
        mod.forget_whitened()
        return mod

    @classmethod
    def from_state(
        cls, cfg: TextSeqConfig, state: dict[str, np.ndarray], spec: dict[str, Any]
    ) -> TextSeqModule:
        """An untrained module shaped to receive the saved weights ``state`` (load them with
        ``load_state_dict``); ``spec`` is the saved feature spec (``fit_info["arch"]["features"]``)."""
        text = state["text"]
        shapes: dict[str, tuple[int, ...]] = {}
        if "feat_numeric" in state:
            shapes["numeric"] = tuple(state["feat_numeric"].shape)
        for name in spec.get("categorical", {}):
            shapes[f"cat.{name}"] = tuple(state[feature_buffer_name(f"cat.{name}")].shape)
        return cls(cfg, text.shape[1], text.shape[0], shapes, spec)


def aux_head(d: int) -> nn.Module:
    """An auxiliary task head: (state, item rep, their product) -> one number."""
    return nn.Sequential(nn.Linear(3 * d, d), nn.GELU(), nn.Linear(d, 1))


def feature_buffer_name(key: str) -> str:
    """The buffer name of an item feature matrix (``"cat.genre"`` -> ``"feat_cat_genre"``), a state-dict
    key."""
    return "feat_" + key.replace(".", "_")
