"""The :class:`TextSeq` model: fitting (:mod:`.training`), scoring, items added by text or vector, and
persistence (config JSON + safetensors; the network is :mod:`.network`, imported on first use)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from lmrec.config import BaseConfig
from lmrec.data import Interactions, ItemTable
from lmrec.data.augment import AUGMENTATIONS
from lmrec.errors import ConfigError, LmrecError
from lmrec.metrics import target_metrics
from lmrec.models.base import BaseRecommender, FitOptions, UserBatch
from lmrec.models.seqdata import pad_histories
from lmrec.models.textprior import PriorGate
from lmrec.models.textseq.config import ENCODER_FILE, TextSeqConfig
from lmrec.models.textseq.data import check_vectors, no_features, unit_rows
from lmrec.models.textseq.prior import TextPriorMixin
from lmrec.models.textvec import ItemVectorRef, ItemVectorRefHooks, item_vectors_for


class TextSeq(TextPriorMixin, ItemVectorRefHooks, BaseRecommender):
    """Text-based sequential recommender; see :mod:`lmrec.models.textseq`."""

    writes_model_card: ClassVar[bool] = True
    name: ClassVar[str] = "textseq"
    Config: ClassVar[type[BaseConfig]] = TextSeqConfig
    config: TextSeqConfig

    def __init__(self, config: BaseConfig | None = None, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        for a in self.config.augment:
            if a not in AUGMENTATIONS:  # pragma: no cover - pydantic Literal already guards this
                raise ConfigError(f"unknown augmentation {a!r}")
        if self.config.dim % self.config.n_heads:
            raise ConfigError(f"invalid TextSeqConfig: dim {self.config.dim} not divisible by n_heads")
        if self.config.has_aux and self.config.augment:
            # augmentations crop and reorder sequences, which breaks the event <-> rating alignment
            raise ConfigError(
                "invalid TextSeqConfig: auxiliary rating/sentiment heads cannot be used with augment"
            )
        self.module: Any = None
        self.vector_ref: ItemVectorRef | None = None
        self._item_cache: Any = None
        # finetune_encoder: the fine-tuned text encoder (texts -> vectors), or the saved file it loads from
        self._encoder: Any = None
        self._encoder_file: Path | None = None
        self._prior_reset()

    # -- fitting -----------------------------------------------------------------------------------------
    def _fit(
        self, train: Interactions, valid: Interactions | None, items: ItemTable | None, options: FitOptions
    ) -> None:
        from lmrec.models.textseq.training import fit_textseq

        fit_textseq(self, train, valid, items, options)

    def build_untrained(
        self,
        items: ItemTable | None,
        *,
        n_users: int,
        n_items: int,
        histories: list[np.ndarray] | None = None,
    ) -> None:
        """Make this model usable without training: encode the catalog ``items`` (``n_items`` of them), build
        the network with its whitening from the catalog's vectors alone (no item feature columns, zero
        interaction counts), run the :meth:`_prepare_module` hook (where a subclass loads pretrained weights)
        and put it in eval mode. ``histories`` (one per user, default empty) only let users be looked up by
        index; no parameter depends on them. Zero-shot transfer (:func:`lmrec.transfer.adapt.adapt`) uses it.
        """
        from lmrec.models.textseq.network import TextSeqModule

        cfg = self.config
        vectors, self.vector_ref, _ = item_vectors_for(items, n_items, cfg)
        self.n_users, self.n_items = n_users, n_items
        self._histories = list(histories) if histories is not None else [np.zeros(0, np.int64)] * n_users
        module = TextSeqModule.build(cfg, vectors, np.zeros(n_items, np.float32), {}, no_features())
        self.module = module
        self._prepare_module(module)
        module.eval()
        self._item_cache = None
        if cfg.text_prior:
            # zero-shot: every item is unseen, so the score is the text prior alone
            self._prior_init(vectors)
            self.prior_gate = PriorGate.prior_only()
        self.fit_info["arch"] = {"text_dim": int(vectors.shape[1]), "features": no_features()}
        self.fit_info["item_vectors"] = self.vector_ref.to_dict() if self.vector_ref else None

    def _batch_loss(self, inp: Any, tgt: Any, ratings: Any, logq: Any) -> Any:
        """The training loss of one batch of windows (``ratings`` aligned with ``tgt``, or None).

        A hook: :mod:`lmrec.transfer.distill` adds the teacher's KL term here."""
        cfg = self.config
        if cfg.loss == "full":
            return self.module.full_loss(inp, tgt, ratings)
        return self.module.sampled_loss(inp, tgt, cfg.n_negatives, logq, ratings)

    def _prepare_module(self, module: Any) -> None:
        """Hook run on the freshly built module before training (no-op here): :mod:`lmrec.transfer`
        overrides it to load pretrained weights and freeze parts (frozen = ``requires_grad`` False, which the
        optimiser then skips)."""

    def validation_metrics(
        self, users: np.ndarray, targets: np.ndarray, batch_size: int = 256
    ) -> dict[str, float]:
        """Mean ``ndcg@10/20`` and ``recall@10/20`` of one held-out item per user (``targets``) ranked from
        the users' training histories, seen items masked (:func:`lmrec.metrics.target_metrics`): what
        training early-stops on, and what pruning fine-tunes against."""
        sums: dict[str, float] = {}
        for s in range(0, len(users), batch_size):
            u = users[s : s + batch_size]
            hists = [self._histories[x] for x in u]
            scores = self._score_histories(hists)
            for row, h in enumerate(hists):
                scores[row, h] = -np.inf
            for k, v in target_metrics(scores, targets[s : s + batch_size], ks=(10, 20)).items():
                sums[k] = sums.get(k, 0.0) + float(v.sum())
        return {k: v / len(users) for k, v in sums.items()}

    # -- scoring -----------------------------------------------------------------------------------------
    def item_representations(self) -> Any:
        """The item representations every score is a dot product with (a float32 torch tensor, n_items x
        dim, cached until :meth:`clear_item_cache`)."""
        return self._item_reps()

    def clear_item_cache(self) -> None:
        """Forget the cached item representations: call after the weights or the catalog changed."""
        self._item_cache = None

    def _item_reps(self) -> Any:
        import torch

        if self._item_cache is None:
            with torch.no_grad():
                self.module.eval()
                self._item_cache = self.module.item_reps().float()  # fp32 even when built under autocast
        return self._item_cache

    def _user_states(self, histories: list[np.ndarray]) -> Any:
        import torch

        padded, lengths = pad_histories(histories, self.config.max_len)
        with torch.no_grad():
            self.module.eval()
            reps = self._item_reps()
            dev = reps.device
            return self.module.user_states(
                torch.from_numpy(padded).to(dev), torch.from_numpy(lengths).to(dev), reps
            )

    def _score_histories(self, histories: list[np.ndarray]) -> np.ndarray:
        import torch

        with torch.no_grad():
            states = self._user_states(histories)
            scores = self.module.logits(states, self._item_reps())
        return self._mix_prior(scores.cpu().numpy().astype(np.float32), histories)

    def _score_batch(self, batch: UserBatch) -> np.ndarray:
        if self.module is None:
            raise LmrecError("textseq: call fit() (or load()) before score()")
        return self._score_histories(list(batch.histories))

    def learned_query_vectors(self, query: Any) -> np.ndarray:
        """The sequence states (n, dim), unit rows when ``normalize``: the user side of the learned score
        alone (``learned_query_vectors(q) @ learned_item_vectors().T / temperature``, without the text
        prior)."""
        states = self._user_states(list(self.as_batch(query).histories)).cpu().numpy()
        return unit_rows(states) if self.config.normalize else states.astype(np.float32)

    def learned_item_vectors(self) -> np.ndarray:
        """The item representations (n_items, dim) matching :meth:`learned_query_vectors`."""
        reps = self._item_reps().cpu().numpy()
        return unit_rows(reps) if self.config.normalize else reps.astype(np.float32)

    def query_vectors(self, query: Any) -> np.ndarray:
        """User-side vectors: ``query_vectors(q) @ retrieval_vectors().T`` equals :meth:`score` (for ANN
        retrieval). The sequence state (divided by the temperature), followed by the text profile when the
        model has a text prior."""
        histories = list(self.as_batch(query).histories)
        states = self.learned_query_vectors(histories) / np.float32(self.config.temperature)
        extra = self._prior_query_part(histories)
        return states if extra is None else np.hstack([states, extra]).astype(np.float32)

    def retrieval_vectors(self) -> np.ndarray:
        """Item-side vectors matching :meth:`query_vectors`: the item representation (times the gate's learned
        weight), followed by the item's text vector times the gate's prior weight and the gate's bias for the
        item (against a constant 1 in the query)."""
        reps = self.learned_item_vectors()
        extra = self._prior_item_part()
        if extra is None:
            return reps
        wl, _ = self.prior_gate.item_weights(self.item_log_counts())  # type: ignore[union-attr]
        return np.hstack([reps * wl[:, None], extra]).astype(np.float32)

    def score_vectors(self, query: Any, vectors: np.ndarray) -> np.ndarray:
        """Scores of arbitrary items given only their text vectors (n, text_dim), without adding them."""
        import torch

        batch = self.as_batch(query)
        vecs = check_vectors(vectors, self.module.text_dim)
        with torch.no_grad():
            states = self._user_states(list(batch.histories))
            reps = self.module.item_reps(text=torch.from_numpy(vecs).to(states.device))
            learned = self.module.logits(states, reps).cpu().numpy().astype(np.float32)
        return self._prior_mix_new(learned, list(batch.histories), vecs)

    def score_text(self, text: str, *, history: Any = None) -> np.ndarray:
        """Scores of every item after a free text, read as a virtual item the user just consumed (its text
        vector goes through the adaptor like a new item's), optionally preceded by a ``history``."""
        import torch

        if self.vector_ref is not None and self.vector_ref.encoder.startswith("column:"):
            raise LmrecError("textseq: this model's vectors came from an item column; it cannot encode text")
        vec = check_vectors(self.encode_texts([text]), self.module.text_dim)
        hist = np.r_[np.asarray(history if history is not None else [], dtype=np.int64), self.n_items]
        with torch.no_grad():
            self.module.eval()
            reps = self._item_reps()
            dev = reps.device
            extended = torch.cat([reps, self.module.item_reps(text=torch.from_numpy(vec).to(dev))])
            padded, lengths = pad_histories([hist], self.config.max_len)
            padded_t, lengths_t = torch.from_numpy(padded).to(dev), torch.from_numpy(lengths).to(dev)
            state = self.module.user_states(padded_t, lengths_t, extended)
            return self.module.logits(state, reps).cpu().numpy()[0].astype(np.float32)

    def predict_feedback(self, query: Any, items: Any) -> dict[str, np.ndarray]:
        """What the auxiliary heads predict for each query row's next interaction being with ``items[row]``:
        ``rating`` (in the data's rating scale) and/or ``positive`` (probability that the rating is >=
        ``sentiment_threshold``), whichever heads the model was trained with."""
        import torch

        if self.module is None:
            raise LmrecError("textseq: call fit() (or load()) before predict_feedback()")
        if not self.config.has_aux:
            raise ConfigError(
                "textseq: this model has no auxiliary heads (aux_rating_weight / aux_sentiment_weight)"
            )
        batch = self.as_batch(query)
        idx = np.asarray(items, dtype=np.int64).reshape(-1)
        if len(idx) != len(batch):
            raise LmrecError(f"predict_feedback: {len(batch)} query rows but {len(idx)} items")
        if len(idx) and (idx.min() < 0 or idx.max() >= self.n_items):
            raise LmrecError(f"predict_feedback: item index out of range [0, {self.n_items})")
        with torch.no_grad():
            states = self._user_states(list(batch.histories))
            reps = self._item_reps()[torch.from_numpy(idx).to(states.device)]
            out = self.module.aux_predict(states, reps)
        return {k: v.cpu().numpy().astype(np.float32) for k, v in out.items()}

    def recommend_for_text(
        self, text: str, k: int = 10, *, history: Any = None, exclude: Any = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` items after a free text (:meth:`score_text`), ``history`` and ``exclude`` left out."""
        from lmrec.models.base import top_k

        scores = self.score_text(text, history=history)[None, :].copy()
        for block in (history, exclude):
            if block is not None and len(block):
                scores[0, np.asarray(block, dtype=np.int64)] = -np.inf
        idx, vals = top_k(scores, k)
        return idx[0], vals[0]

    @property
    def has_finetuned_encoder(self) -> bool:
        """Whether this model was trained with ``finetune_encoder`` (its own encoder weights)."""
        return self._encoder is not None or self._encoder_file is not None

    def encode_texts(self, texts: list[str], batch_size: int = 128) -> np.ndarray:
        """Vectors (n, text_dim) of new item texts or free texts in this model's text space: through the
        fine-tuned encoder when the model has one (saved as ``encoder.safetensors``), else through the frozen
        encoder named in the config. Feed them to :meth:`add_items` / :meth:`score_vectors`."""
        from lmrec.models.textvec import encode_query_texts

        if self.config.finetune_encoder and self.module is not None and not self.has_finetuned_encoder:
            # saved before the encoder weights were kept: the frozen encoder would not match its vectors
            raise LmrecError(f"textseq: this fine-tuned model has no {ENCODER_FILE}; retrain it to add items")
        if not self.has_finetuned_encoder:
            return encode_query_texts(list(texts), self.config.encoder, self.config.cache_dir)
        import torch

        enc = self._finetuned_encoder()
        with torch.no_grad():
            parts = [enc(list(texts[s : s + batch_size])) for s in range(0, len(texts), batch_size)]
        if not parts:
            return np.zeros((0, self.module.text_dim), dtype=np.float32)
        return torch.cat(parts).cpu().numpy().astype(np.float32)

    def add_item_texts(self, texts: list[str]) -> np.ndarray:
        """Encode new items' texts with :meth:`encode_texts` and append them (:meth:`add_items`)."""
        return self.add_items(self.encode_texts(texts))

    def _finetuned_encoder(self) -> Any:
        if self._encoder is None:
            from lmrec.models.textvec import load_encoder_weights, trainable_encoder

            assert self._encoder_file is not None
            enc, _ = trainable_encoder(self.config.encoder, self.config.finetune_encoder)
            load_encoder_weights(enc, self._encoder_file)
            self._encoder = enc.eval()
        return self._encoder

    def add_items(self, vectors: np.ndarray) -> np.ndarray:
        """Append new catalog items by their text vectors; returns their new item indices.

        They are recommendable at once: their representation comes from the adaptor (their ID embedding, if
        any, is zero and their gate sees zero interactions, so they rank by text alone).
        """
        vecs = check_vectors(vectors, self.module.text_dim)
        start = self.n_items
        self.module.append_items(vecs)
        self.n_items += len(vecs)
        self._item_cache = None
        if self.vector_ref is not None:
            self.vector_ref = self.vector_ref.with_added(len(vecs))
        return np.arange(start, self.n_items, dtype=np.int64)

    @property
    def item_vectors(self) -> np.ndarray:
        """The frozen text vectors of the catalog (n_items, text_dim)."""
        return self.module.text.detach().cpu().numpy().copy()

    def _to_device(self, device: Any) -> None:
        if self.module is not None:
            self.module.to(device)
            self.module.forget_whitened()
        self._item_cache = None

    # -- persistence -------------------------------------------------------------------------------------
    def _save_extra(self, out: Path) -> None:
        super()._save_extra(out)
        if self.has_finetuned_encoder:
            from lmrec.models.textvec import save_encoder_weights

            save_encoder_weights(self._finetuned_encoder(), out / ENCODER_FILE)

    def _load_extra(self, path: Path) -> None:
        super()._load_extra(path)
        file = path / ENCODER_FILE
        if self.config.finetune_encoder and file.is_file():
            self._encoder_file, self._encoder = file, None  # loaded on first use (new texts)

    def _state(self) -> dict[str, np.ndarray]:
        state = {k: v.detach().cpu().numpy() for k, v in self.module.state_dict().items()}
        return {**state, **self.prior_state()}

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        import torch

        from lmrec.models.textseq.network import TextSeqModule

        state = self.load_prior_state(state)
        arch = self.fit_info.get("arch", {})
        self.module = TextSeqModule.from_state(self.config, state, arch.get("features", {}))
        self.module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
        self.module._white = None
        self.module.eval()
        self._item_cache = None
