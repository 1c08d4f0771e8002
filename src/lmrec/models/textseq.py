"""``textseq``: the transferable text-based sequential recommender (UniSRec-style, trained from scratch).

Item text -> frozen LM vector (encoded once per catalog) -> per-domain adaptor (parametric whitening
initialised from the catalog's mean/covariance, then a mixture-of-experts projection into the model width)
[+ gated item-ID embedding] [+ item feature columns] -> causal transformer over the user's item sequence
(SASRec-style, learned positions, all prefixes trained at once) -> dot product with every item
representation, full-softmax cross-entropy over the catalog (or sampled softmax with logQ correction).

Multi-task learning (``aux_rating_weight`` / ``aux_sentiment_weight``, for data with ratings): small per-task
heads read the sequence state and the next item's representation and predict the rating of that next
interaction (MSE on standardised ratings) and whether it is positive (rating >= ``sentiment_threshold``,
binary cross-entropy); their losses are added to the next-item loss with those weights, so the adaptor and
the transformer are shared by all tasks. :meth:`TextSeq.predict_feedback` reads the heads.

Without ``id_fusion`` the model is inductive: any item whose text vector exists can be scored, including items
added after training (:meth:`TextSeq.add_items`) or any vector matrix (:meth:`TextSeq.score_vectors`).
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from lmrec.config import BaseConfig
from lmrec.data import Interactions, ItemTable
from lmrec.data.augment import AUGMENTATIONS, MASK
from lmrec.errors import ConfigError, LmrecError
from lmrec.models._seqdata import (
    PAD,
    NextItemLossConfig,
    next_item_loss,
    pad_histories,
    ranking_metrics,
    training_windows,
)
from lmrec.models._textvec import (
    ItemVectorRef,
    ItemVectorRefHooks,
    TextVectorConfig,
    item_vectors_for,
    sha256_of,
)
from lmrec.models.base import BaseRecommender, FitOptions, UserBatch

Augmentation = Literal["crop", "mask", "reorder"]

# the fine-tuned encoder layers of a model trained with ``finetune_encoder`` (in its saved directory)
ENCODER_FILE = "encoder.safetensors"


class TextSeqConfig(TextVectorConfig, NextItemLossConfig):
    """Hyper-parameters of :class:`TextSeq`.

    Item side: ``encoder``/``template`` (how item text becomes a vector; ``vector_field`` takes precomputed
    vectors from an item column instead), ``whitening`` (ZCA of the catalog before the experts),
    ``n_experts`` (MoE adaptor), ``id_fusion`` (gated item-ID embeddings: transductive) with ``id_dropout``
    (items whose ID part is hidden per step, so the text path alone stays good for cold items), ``features``
    (numeric / categorical / vector item columns added to the item representation).
    Sequence side: ``dim``, ``n_layers``, ``n_heads``, ``ffn_mult``, ``dropout``, ``max_len``.
    Objective: ``loss`` ``"full"`` softmax over the catalog or ``"sampled"`` (``n_negatives`` drawn by
    popularity^0.75, logQ-corrected); ``normalize`` scores cosine / ``temperature`` instead of dot products;
    ``mask_seen`` / ``future_k`` / ``future_weight`` (full loss) as in :class:`NextItemLossConfig`.
    Training: ``epochs`` (max; early stop on validation NDCG@10 after ``patience``), ``batch_size`` (windows
    of ``max_len``), ``lr``, ``weight_decay``, ``ema`` (validate and keep an exponential moving average of the
    weights, this decay per step), ``augment`` (crop / mask / reorder with ``augment_prob``),
    ``finetune_encoder`` (unfreeze the top N encoder layers, lr ``finetune_lr``; expensive).
    Auxiliary tasks (need ratings in the training interactions): ``aux_rating_weight`` (rating of the next
    interaction, MSE on ratings standardised by the training mean/std), ``aux_sentiment_weight`` (is it
    positive, i.e. rating >= ``sentiment_threshold``; binary cross-entropy). 0 = no head.
    """

    # item representation
    whitening: bool = True
    n_experts: int = Field(8, ge=1)
    adaptor_dropout: float = Field(0.2, ge=0.0, lt=1.0)
    id_fusion: bool = False
    id_dropout: float = Field(
        0.1,
        ge=0.0,
        lt=1.0,
        description="share of items whose ID part is dropped per training step (cold-start)",
    )
    features: tuple[str, ...] = ()
    # sequence model
    dim: int = Field(64, ge=4)
    n_layers: int = Field(2, ge=1)
    n_heads: int = Field(2, ge=1)
    ffn_mult: int = Field(2, ge=1)
    dropout: float = Field(0.2, ge=0.0, lt=1.0)
    max_len: int = Field(50, ge=2)
    # objective
    loss: Literal["full", "sampled"] = "full"
    n_negatives: int = Field(1024, ge=1)
    normalize: bool = False
    temperature: float = Field(1.0, gt=0.0)
    # training
    epochs: int = Field(100, ge=1)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(1e-3, gt=0.0)
    weight_decay: float = Field(0.0, ge=0.0)
    patience: int = Field(20, ge=0)
    validate_every: int = Field(1, ge=1)
    ema: float = Field(0.0, ge=0.0, lt=1.0, description="decay of a moving average of the weights (0 = off)")
    augment: tuple[Augmentation, ...] = ()
    augment_prob: float = Field(0.3, ge=0.0, le=1.0)
    finetune_encoder: int = Field(0, ge=0, description="unfreeze the top N encoder layers (end to end)")
    finetune_lr: float = Field(2e-5, gt=0.0)
    # auxiliary tasks (multi-task learning)
    aux_rating_weight: float = Field(0.0, ge=0.0, description="weight of the next interaction's rating MSE")
    aux_sentiment_weight: float = Field(
        0.0, ge=0.0, description="weight of the next interaction's positive-rating BCE"
    )
    sentiment_threshold: float = Field(4.0, description="ratings >= this count as positive")

    @property
    def has_aux(self) -> bool:
        """Whether any auxiliary head is trained."""
        return self.aux_rating_weight > 0 or self.aux_sentiment_weight > 0


class TextSeq(ItemVectorRefHooks, BaseRecommender):
    """Text-based sequential recommender; see the module docstring."""

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

    # -- fitting -----------------------------------------------------------------------------------------
    def _fit(
        self, train: Interactions, valid: Interactions | None, items: ItemTable | None, options: FitOptions
    ) -> None:
        import torch

        from lmrec.train.loop import LoopConfig, sensible_threads, train_loop

        cfg = self.config
        torch.set_num_threads(sensible_threads(options.threads))
        torch.manual_seed(options.seed)
        t0 = time.perf_counter()
        vectors, self.vector_ref, texts = item_vectors_for(
            items, self.n_items, cfg, progress=options.progress
        )
        encode_seconds = time.perf_counter() - t0
        feats, feat_spec = _item_features(items, cfg.features, self.n_items)
        counts = np.bincount(train.item, minlength=self.n_items).astype(np.float32)
        self.module = _TextSeqModule.build(cfg, vectors, counts, feats, feat_spec)
        rating_windows = None
        if cfg.has_aux:
            rating_windows, stats = _rating_windows(train, self._histories, cfg.max_len)
            self.module.set_rating_stats(*stats)
            self.fit_info["aux"] = {"rating_mean": stats[0], "rating_std": stats[1]}
        self._prepare_module(self.module)
        self.fit_info["arch"] = {"text_dim": int(vectors.shape[1]), "features": feat_spec}
        finetuner = None
        if cfg.finetune_encoder:
            finetuner = _EncoderFinetuner(cfg, texts, self.module)

        inputs, targets = training_windows(self._histories, cfg.max_len)
        if not len(inputs):
            raise LmrecError("textseq: no user has two or more training interactions")
        sampler_logq = torch.log(torch.as_tensor(_sampling_probs(counts), dtype=torch.float32))

        aux_sums: dict[str, float] = {}
        aux_history: list[dict[str, float]] = []

        def flush_aux() -> None:
            n = aux_sums.pop("_batches", 0.0)
            if n:
                aux_history.append({k: round(v / n, 6) for k, v in aux_sums.items()})
            aux_sums.clear()

        def batches(epoch: int, rng: np.random.Generator) -> Any:
            self._item_cache = None
            if cfg.augment:
                from lmrec.data.augment import augment

                aug = [augment(h, rng, cfg.augment, prob=cfg.augment_prob) for h in self._histories]
                clean = [np.where(a == MASK, PAD, a) for a in aug]
                inp, tgt = training_windows(aug, cfg.max_len, targets=clean)
            else:
                inp, tgt = inputs, targets
            order = rng.permutation(len(inp))
            for s in range(0, len(order), cfg.batch_size):
                rows = order[s : s + cfg.batch_size]
                rat = None if rating_windows is None else torch.from_numpy(rating_windows[rows])
                yield torch.from_numpy(inp[rows]), torch.from_numpy(tgt[rows]), rat

        def step(batch: Any) -> Any:
            inp, tgt, rat = batch
            if finetuner is not None:
                finetuner.refresh_rows(torch.unique(torch.cat([inp[inp >= 0], tgt[tgt >= 0]])))
            loss = self._batch_loss(inp, tgt, rat, sampler_logq)
            parts = self.module.last_aux
            if parts:
                for k, v in parts.items():
                    aux_sums[k] = aux_sums.get(k, 0.0) + v
                aux_sums["_batches"] = aux_sums.get("_batches", 0.0) + 1.0
            return loss

        def on_epoch_start(epoch: int) -> None:
            flush_aux()
            if finetuner is not None:
                finetuner.reencode_catalog()

        validate = None
        if valid is not None and len(valid):
            val_users, val_targets = _last_event_per_user(valid)
            keep = np.array([len(self._histories[u]) > 0 for u in val_users], dtype=bool)
            val_users, val_targets = val_users[keep], val_targets[keep]
            if len(val_users):

                def validate() -> dict[str, float]:
                    self._item_cache = None
                    return self._validate(val_users, val_targets)

        loop_cfg = LoopConfig(
            epochs=cfg.epochs,
            lr=cfg.lr,
            weight_decay=cfg.weight_decay,
            patience=cfg.patience,
            validate_every=cfg.validate_every,
            ema=cfg.ema,
        )
        extra_params = finetuner.parameters() if finetuner is not None else []
        params = [
            {"params": [p for p in self.module.parameters() if p.requires_grad]},
        ]
        if extra_params:
            params.append({"params": extra_params, "lr": cfg.finetune_lr})
        result = train_loop(
            self.module,
            batches=batches,
            step=step,
            validate=validate,
            config=loop_cfg,
            options=options,
            fingerprint=self._run_fingerprint(train),
            on_epoch_start=on_epoch_start,
            param_groups=params,
        )
        flush_aux()
        if aux_history:
            self.fit_info.setdefault("aux", {})["train_history"] = aux_history
        if finetuner is not None:
            finetuner.reencode_catalog()
            self.fit_info["finetune"] = {**finetuner.stats(), "weights": ENCODER_FILE}
            self._encoder = finetuner.model.eval()
            self._encoder_file = None
            # the stored vectors now come from the fine-tuned encoder, not from the cache of the frozen one
            self.vector_ref = replace(
                self.vector_ref,
                vectors_sha256=sha256_of(self.module.text.numpy()),
                encoder_weights=ENCODER_FILE,
            )
        self._item_cache = None
        self.fit_info.update(
            {
                "train": result.to_dict(),
                "encode_seconds": round(encode_seconds, 3),
                "fit_seconds": round(time.perf_counter() - t0, 3),
                "n_train_events": int(len(train)),
                "train_fingerprint": train.fingerprint(),
                "domain": train.domain,
                "item_vectors": self.vector_ref.to_dict() if self.vector_ref else None,
            }
        )

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

    def _validate(self, users: np.ndarray, targets: np.ndarray, batch_size: int = 256) -> dict[str, float]:
        sums: dict[str, float] = {}
        for s in range(0, len(users), batch_size):
            u = users[s : s + batch_size]
            hists = [self._histories[x] for x in u]
            scores = self._score_histories(hists)
            for row, h in enumerate(hists):
                scores[row, h] = -np.inf
            for k, v in ranking_metrics(scores, targets[s : s + batch_size], ks=(10, 20)).items():
                sums[k] = sums.get(k, 0.0) + float(v.sum())
        return {k: v / len(users) for k, v in sums.items()}

    # -- scoring -----------------------------------------------------------------------------------------
    def _item_reps(self) -> Any:
        import torch

        if self._item_cache is None:
            with torch.no_grad():
                self.module.eval()
                self._item_cache = self.module.item_reps()
        return self._item_cache

    def _user_states(self, histories: list[np.ndarray]) -> Any:
        import torch

        padded, lengths = pad_histories(histories, self.config.max_len)
        with torch.no_grad():
            self.module.eval()
            reps = self._item_reps()
            return self.module.user_states(torch.from_numpy(padded), torch.from_numpy(lengths), reps)

    def _score_histories(self, histories: list[np.ndarray]) -> np.ndarray:
        import torch

        with torch.no_grad():
            states = self._user_states(histories)
            scores = self.module.logits(states, self._item_reps())
        return scores.numpy().astype(np.float32)

    def _score_batch(self, batch: UserBatch) -> np.ndarray:
        if self.module is None:
            raise LmrecError("textseq: call fit() (or load()) before score()")
        return self._score_histories(list(batch.histories))

    def query_vectors(self, query: Any) -> np.ndarray:
        """Sequence states (n, dim): ``query_vectors(q) @ retrieval_vectors().T * (1 / temperature)`` equals
        :meth:`score` (for ANN retrieval; the temperature does not change the order)."""
        states = self._user_states(list(self.as_batch(query).histories)).numpy()
        return _unit_rows(states) if self.config.normalize else states.astype(np.float32)

    def retrieval_vectors(self) -> np.ndarray:
        """Item representations (n_items, dim) matching :meth:`query_vectors`."""
        reps = self._item_reps().numpy()
        return _unit_rows(reps) if self.config.normalize else reps.astype(np.float32)

    def score_vectors(self, query: Any, vectors: np.ndarray) -> np.ndarray:
        """Scores of arbitrary items given only their text vectors (n, text_dim), without adding them."""
        import torch

        batch = self.as_batch(query)
        vecs = _check_vectors(vectors, self.module.text_dim)
        with torch.no_grad():
            states = self._user_states(list(batch.histories))
            reps = self.module.item_reps(text=torch.from_numpy(vecs))
            return self.module.logits(states, reps).numpy().astype(np.float32)

    def score_text(self, text: str, *, history: Any = None) -> np.ndarray:
        """Scores of every item after a free text, read as a virtual item the user just consumed (its text
        vector goes through the adaptor like a new item's), optionally preceded by a ``history``."""
        import torch

        if self.vector_ref is not None and self.vector_ref.encoder.startswith("column:"):
            raise LmrecError("textseq: this model's vectors came from an item column; it cannot encode text")
        vec = _check_vectors(self.encode_texts([text]), self.module.text_dim)
        hist = np.r_[np.asarray(history if history is not None else [], dtype=np.int64), self.n_items]
        with torch.no_grad():
            self.module.eval()
            reps = self._item_reps()
            extended = torch.cat([reps, self.module.item_reps(text=torch.from_numpy(vec))])
            padded, lengths = pad_histories([hist], self.config.max_len)
            state = self.module.user_states(torch.from_numpy(padded), torch.from_numpy(lengths), extended)
            return self.module.logits(state, reps).numpy()[0].astype(np.float32)

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
            reps = self._item_reps()[torch.from_numpy(idx)]
            out = self.module.aux_predict(states, reps)
        return {k: v.numpy().astype(np.float32) for k, v in out.items()}

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
        from lmrec.models._textvec import encode_query_texts

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
        return torch.cat(parts).numpy().astype(np.float32)

    def add_item_texts(self, texts: list[str]) -> np.ndarray:
        """Encode new items' texts with :meth:`encode_texts` and append them (:meth:`add_items`)."""
        return self.add_items(self.encode_texts(texts))

    def _finetuned_encoder(self) -> Any:
        if self._encoder is None:
            from lmrec.models._textvec import load_encoder_weights, trainable_encoder

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
        vecs = _check_vectors(vectors, self.module.text_dim)
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
        return self.module.text.detach().numpy().copy()

    # -- persistence -------------------------------------------------------------------------------------
    def _save_extra(self, out: Path) -> None:
        super()._save_extra(out)
        if self.has_finetuned_encoder:
            from lmrec.models._textvec import save_encoder_weights

            save_encoder_weights(self._finetuned_encoder(), out / ENCODER_FILE)

    def _load_extra(self, path: Path) -> None:
        super()._load_extra(path)
        file = path / ENCODER_FILE
        if self.config.finetune_encoder and file.is_file():
            self._encoder_file, self._encoder = file, None  # loaded on first use (new texts)

    def _state(self) -> dict[str, np.ndarray]:
        return {k: v.detach().cpu().numpy() for k, v in self.module.state_dict().items()}

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        import torch

        arch = self.fit_info.get("arch", {})
        self.module = _TextSeqModule.from_state(self.config, state, arch.get("features", {}))
        self.module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
        self.module._white = None
        self.module.eval()
        self._item_cache = None


# ---------------------------------------------------------------------------------------------------------
# torch modules (built lazily so that importing this file does not import torch)


def _check_vectors(vectors: np.ndarray, dim: int) -> np.ndarray:
    vecs = np.asarray(vectors, dtype=np.float32)
    if vecs.ndim != 2 or vecs.shape[1] != dim:
        raise LmrecError(f"item vectors must have shape (n, {dim}), got {vecs.shape}")
    if not np.isfinite(vecs).all():
        raise LmrecError("item vectors contain NaN or infinite values")
    return np.ascontiguousarray(vecs)


def _unit_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _sampling_probs(counts: np.ndarray, power: float = 0.75) -> np.ndarray:
    p = (counts + 1.0) ** power
    return p / p.sum()


def _rating_windows(
    train: Interactions, histories: list[np.ndarray], max_len: int
) -> tuple[np.ndarray, tuple[float, float]]:
    """Ratings aligned with the targets of :func:`training_windows` over ``histories`` (NaN where there is no
    target), and the training ratings' (mean, std) used to standardise them."""
    if train.rating is None:
        raise ConfigError(
            "textseq: aux_rating_weight / aux_sentiment_weight need ratings in the training data"
        )
    order = train.time_order()  # the order of train.sequences(), which made ``histories``
    ratings = np.asarray(train.rating, dtype=np.float32)[order]
    mean = float(ratings.mean()) if len(ratings) else 0.0
    std = float(ratings.std()) if len(ratings) else 0.0
    if not std > 0:
        raise ConfigError(
            "textseq: the training ratings are all equal; nothing for an auxiliary head to learn"
        )
    bounds = np.cumsum([0] + [len(h) for h in histories])
    rows = [np.arange(bounds[u], bounds[u + 1], dtype=np.int64) for u in range(len(histories))]
    # the same windows as the item targets, but over event row numbers
    _, target_rows = training_windows(histories, max_len, targets=rows)
    out = np.full(target_rows.shape, np.nan, dtype=np.float32)
    has = target_rows >= 0
    out[has] = ratings[target_rows[has]]
    return out, (mean, std)


def _last_event_per_user(inter: Interactions) -> tuple[np.ndarray, np.ndarray]:
    order = inter.time_order()
    users, items = inter.user[order], inter.item[order]
    last = np.r_[users[1:] != users[:-1], True] if len(users) else np.zeros(0, bool)
    return users[last].astype(np.int64), items[last].astype(np.int64)


def _item_features(
    items: ItemTable | None, names: tuple[str, ...], n_items: int
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Numeric (standardised), categorical (index lists, 0 = none) and vector feature matrices per item."""
    feats: dict[str, np.ndarray] = {}
    spec: dict[str, Any] = {"numeric": [], "categorical": {}, "vector": {}}
    if not names:
        return feats, spec
    if items is None:
        raise ConfigError("textseq: option 'features' needs an item table (fit(items=...))")
    numeric = []
    for name in names:
        if name in items.numeric_fields:
            col = np.asarray(items.frame[name].to_numpy(), dtype=np.float64)
            mean = np.nanmean(col) if np.isfinite(col).any() else 0.0
            std = np.nanstd(col) if np.isfinite(col).any() else 1.0
            col = np.where(np.isfinite(col), (col - mean) / (std or 1.0), 0.0)
            numeric.append(col.astype(np.float32))
            spec["numeric"].append(name)
        elif name in items.categorical_fields:
            values = items.frame[name].tolist()
            lists = [_as_list(v) for v in values]
            vocab = {v: i + 1 for i, v in enumerate(sorted({str(x) for lst in lists for x in lst}))}
            width = max(1, max((len(lst) for lst in lists), default=1))
            mat = np.zeros((n_items, width), dtype=np.int64)
            for row, lst in enumerate(lists):
                for j, x in enumerate(lst):
                    mat[row, j] = vocab[str(x)]
            feats[f"cat.{name}"] = mat
            spec["categorical"][name] = len(vocab) + 1
        elif name in items.vector_fields:
            mat = np.stack([np.asarray(v, dtype=np.float32) for v in items.frame[name].tolist()])
            feats[f"vec.{name}"] = np.nan_to_num(mat)
            spec["vector"][name] = int(mat.shape[1])
        else:
            raise ConfigError(
                f"invalid TextSeqConfig: option 'features': item column {name!r} is not a declared numeric, "
                "categorical or vector field of the item table"
            )
    if numeric:
        feats["numeric"] = np.stack(numeric, axis=1)
    return feats, spec


def _as_list(v: Any) -> list[Any]:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return []
    if isinstance(v, (list, tuple, np.ndarray)):
        return list(v)
    if isinstance(v, str) and "|" in v:
        return [x for x in v.split("|") if x]
    return [v]


def _module_classes() -> Any:  # noqa: C901 - one place that defines the torch modules
    import torch
    import torch.nn.functional as F
    from torch import nn

    class Adaptor(nn.Module):
        """Parametric whitening followed by a mixture-of-experts projection into the model width (UniSRec).

        Whitening = ZCA matrix of the catalog (a buffer computed once from its mean/covariance, no
        interactions needed) and a learned bias; each expert is a learned linear map of the whitened vector
        with its own learned bias (UniSRec's PWLayer), mixed by a softmax gate. A separate learned
        text_dim x text_dim matrix would only reparametrise the experts, at a high cost per step.
        """

        def __init__(self, text_dim: int, dim: int, n_experts: int, dropout: float, whitening: bool) -> None:
            super().__init__()
            self.whitening = whitening
            self.register_buffer("mean", torch.zeros(text_dim))
            self.register_buffer("zca", torch.eye(text_dim))
            self.bias = nn.Parameter(torch.zeros(n_experts, text_dim))
            # whitened inputs have unit variance per dimension: this scale gives item reps of norm ~1
            self.experts = nn.Parameter(torch.randn(n_experts, text_dim, dim) / math.sqrt(text_dim * dim))
            self.gate = nn.Linear(text_dim, n_experts)
            nn.init.zeros_(self.gate.weight)
            nn.init.zeros_(self.gate.bias)
            self.drop = nn.Dropout(dropout)

        def init_whitening(self, vectors: torch.Tensor, shrink: float = 0.1) -> None:
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
            return (text - self.mean) @ self.zca if self.whitening else text

        def forward(self, text: torch.Tensor, whitened: torch.Tensor | None = None) -> torch.Tensor:
            x = self.drop(self.whiten(text) if whitened is None else whitened)
            gates = torch.softmax(self.gate(x), dim=-1)  # (n, E)
            # sum_e g_e (x - b_e) W_e  =  sum_e g_e x W_e - sum_e g_e b_e W_e
            expert_out = torch.einsum("nd,edk->nek", x, self.experts)
            bias_out = torch.einsum("ed,edk->ek", self.bias, self.experts)
            return (gates.unsqueeze(-1) * (expert_out - bias_out.unsqueeze(0))).sum(1)

    class TextSeqModule(nn.Module):
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
            self.adaptor = Adaptor(text_dim, d, cfg.n_experts, cfg.adaptor_dropout, cfg.whitening)
            if cfg.id_fusion:
                # zero init: an item never seen in training keeps a pure text representation
                self.id_emb = nn.Parameter(torch.zeros(n_items, d))
                self.id_gate = nn.Linear(d + 1, d)
                nn.init.zeros_(self.id_gate.weight)
                nn.init.zeros_(self.id_gate.bias)
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
                self.register_buffer(_buf(key), torch.zeros(n_items, feat_shapes[key][1], dtype=torch.long))
                self.cat_emb[_buf(key)] = nn.EmbeddingBag(size, d, mode="sum", padding_idx=0)
                self.feat_names.append(key)
            self.vec_proj = nn.ModuleDict()
            for name, width in spec.get("vector", {}).items():
                key = f"vec.{name}"
                self.register_buffer(_buf(key), torch.zeros(n_items, width))
                self.vec_proj[_buf(key)] = nn.Linear(width, d)
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
            self.rating_head = _aux_head(d) if cfg.aux_rating_weight > 0 else None
            self.sentiment_head = _aux_head(d) if cfg.aux_sentiment_weight > 0 else None
            if cfg.has_aux:
                # mean and std of the training ratings (the rating head predicts standardised ratings)
                self.register_buffer("rating_stats", torch.tensor([0.0, 1.0]))
            self.last_aux: dict[str, float] = {}

        # item side
        def item_reps(
            self, idx: torch.Tensor | None = None, text: torch.Tensor | None = None
        ) -> torch.Tensor:
            """Representations of the items ``idx`` (default all), or of raw text vectors ``text`` (new items:
            no ID, no features)."""
            if text is not None:
                return self.adaptor(text)
            sel = slice(None) if idx is None else idx
            if self._white is None or self._white.shape[0] != self.text.shape[0] or self.text.requires_grad:
                self._white = self.adaptor.whiten(self.text)
            rep = self.adaptor(self.text[sel], whitened=self._white[sel])
            if self.cfg.id_fusion:
                gate_in = torch.cat([rep, self.log_count[sel].unsqueeze(-1)], dim=-1)
                id_part = torch.sigmoid(self.id_gate(gate_in)) * self.id_emb[sel]
                if self.training and self.cfg.id_dropout > 0:
                    # as if some items were new: the text path must rank them well on its own (DropoutNet)
                    keep = torch.rand(id_part.shape[0], 1) >= self.cfg.id_dropout
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
            out = torch.zeros(len(seq), self.cfg.dim)
            has = lengths > 0
            if has.any():
                h = self.encode(seq[has], reps)
                out[has] = h[torch.arange(int(has.sum())), lengths[has] - 1]
            return out

        def logits(self, states: torch.Tensor, reps: torch.Tensor) -> torch.Tensor:
            if self.cfg.normalize:
                states, reps = F.normalize(states, dim=-1), F.normalize(reps, dim=-1)
            return states @ reps.T / self.cfg.temperature

        # auxiliary tasks
        def set_rating_stats(self, mean: float, std: float) -> None:
            with torch.no_grad():
                self.rating_stats.copy_(torch.tensor([mean, std]))

        def aux_raw(self, states: torch.Tensor, target_reps: torch.Tensor) -> dict[str, torch.Tensor]:
            x = torch.cat([states, target_reps, states * target_reps], dim=-1)
            out: dict[str, torch.Tensor] = {}
            if self.rating_head is not None:
                out["rating"] = self.rating_head(x).squeeze(-1)  # standardised rating
            if self.sentiment_head is not None:
                out["positive"] = self.sentiment_head(x).squeeze(-1)  # logit
            return out

        def aux_predict(self, states: torch.Tensor, target_reps: torch.Tensor) -> dict[str, torch.Tensor]:
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
            lookup = torch.full((len(self.text),), -1, dtype=torch.long)
            lookup[needed] = torch.arange(len(needed))
            seq = torch.where(inp >= 0, lookup[inp.clamp_min(0)], inp)
            h = self.encode(seq, reps_sub)[sel]
            pos_logit = self.logits_rowwise(h, reps_sub[lookup[targets]]) - logq[targets]
            neg_logits = self.logits(h, reps_sub[lookup[neg]]) - logq[neg]
            neg_logits = neg_logits.masked_fill(neg.unsqueeze(0) == targets.unsqueeze(1), float("-inf"))
            logits = torch.cat([pos_logit.unsqueeze(1), neg_logits], dim=1)
            loss = F.cross_entropy(logits, torch.zeros(len(logits), dtype=torch.long))
            if ratings is not None and self.cfg.has_aux:
                loss = loss + self.aux_loss(h, reps_sub[lookup[targets]], ratings[sel])
            return loss

        def logits_rowwise(self, states: torch.Tensor, reps: torch.Tensor) -> torch.Tensor:
            if self.cfg.normalize:
                states, reps = F.normalize(states, dim=-1), F.normalize(reps, dim=-1)
            return (states * reps).sum(-1) / self.cfg.temperature

        def append_items(self, vectors: np.ndarray) -> None:
            m = len(vectors)
            with torch.no_grad():
                self.text = torch.cat([self.text, torch.from_numpy(vectors)])
                self.log_count = torch.cat([self.log_count, torch.zeros(m)])
                if self.cfg.id_fusion:
                    self.id_emb = nn.Parameter(torch.cat([self.id_emb.data, torch.zeros(m, self.cfg.dim)]))
                for key in self.feat_names:
                    name = _buf(key)
                    old = getattr(self, name)
                    setattr(self, name, torch.cat([old, torch.zeros((m, *old.shape[1:]), dtype=old.dtype)]))

    def _aux_head(d: int) -> nn.Module:
        return nn.Sequential(nn.Linear(3 * d, d), nn.GELU(), nn.Linear(d, 1))

    return Adaptor, TextSeqModule


def _buf(key: str) -> str:
    return "feat_" + key.replace(".", "_")


class _TextSeqModule:
    """Factory for the torch module (a plain namespace so that torch is only imported on use)."""

    @staticmethod
    def build(
        cfg: TextSeqConfig,
        vectors: np.ndarray,
        counts: np.ndarray,
        feats: dict[str, np.ndarray],
        spec: dict[str, Any],
    ) -> Any:
        import torch

        _, module_cls = _module_classes()
        shapes = {k: tuple(v.shape) for k, v in feats.items()}
        mod = module_cls(cfg, vectors.shape[1], len(vectors), shapes, spec)
        with torch.no_grad():
            mod.text.copy_(torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32)))
            mod.log_count.copy_(torch.from_numpy(np.log1p(counts).astype(np.float32)))
            for key, arr in feats.items():
                name = "feat_numeric" if key == "numeric" else _buf(key)
                getattr(mod, name).copy_(torch.from_numpy(arr))
        if cfg.whitening:
            mod.adaptor.init_whitening(mod.text)
        mod._white = None
        return mod

    @staticmethod
    def from_state(cfg: TextSeqConfig, state: dict[str, np.ndarray], spec: dict[str, Any]) -> Any:
        _, module_cls = _module_classes()
        text = state["text"]
        shapes: dict[str, tuple[int, ...]] = {}
        if "feat_numeric" in state:
            shapes["numeric"] = tuple(state["feat_numeric"].shape)
        for name in spec.get("categorical", {}):
            shapes[f"cat.{name}"] = tuple(state[_buf(f"cat.{name}")].shape)
        return module_cls(cfg, text.shape[1], text.shape[0], shapes, spec)


class _EncoderFinetuner:
    """End-to-end fine-tuning of the top layers of the sentence encoder.

    Each epoch the whole catalog is re-encoded (no gradient) into the model's text buffer; at each step the
    items of the batch are re-encoded *with* gradient and written into the buffer, so the loss reaches the
    unfrozen encoder layers through them (the other rows act as a slightly stale cache, as Recformer does).
    The frozen bottom layers run once per item at the start (their token states are kept), so steps and
    re-encodings only run the unfrozen top layers.
    """

    def __init__(self, cfg: TextSeqConfig, texts: list[str] | None, module: Any) -> None:
        from lmrec.models._textvec import trainable_encoder

        if texts is None:
            raise ConfigError("textseq: finetune_encoder needs item texts (not a precomputed vector_field)")
        self.texts = texts
        self.module = module
        self.model, self.layers = trainable_encoder(cfg.encoder, cfg.finetune_encoder)
        t = time.perf_counter()
        self.model.cache_frozen(texts)
        self.cache_seconds = time.perf_counter() - t
        self.reencode_seconds = 0.0
        self.step_seconds = 0.0
        self.n_reencodes = 0

    def parameters(self) -> list[Any]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def _encode_rows(self, rows: list[int]) -> Any:
        return self.model.forward_cached(rows, [self.texts[i] for i in rows])

    def reencode_catalog(self, batch_size: int = 128) -> None:
        import torch

        t = time.perf_counter()
        self.model.eval()
        with torch.no_grad():
            n = len(self.texts)
            starts = range(0, n, batch_size)
            parts = [self._encode_rows(list(range(s, min(s + batch_size, n)))) for s in starts]
        self.module.text = torch.cat(parts).detach()
        self.module._white = None
        self.reencode_seconds += time.perf_counter() - t
        self.n_reencodes += 1

    def refresh_rows(self, rows: Any) -> None:
        import torch

        t = time.perf_counter()
        self.model.train()
        fresh = self._encode_rows(rows.tolist())
        text = self.module.text.detach().clone()
        index = rows.unsqueeze(1).expand(-1, text.shape[1])
        self.module.text = torch.scatter(text, 0, index, fresh)
        self.step_seconds += time.perf_counter() - t

    def stats(self) -> dict[str, Any]:
        return {
            "layers": self.layers,
            "frozen_layers_seconds": round(self.cache_seconds, 2),
            "reencode_seconds": round(self.reencode_seconds, 2),
            "encoder_step_seconds": round(self.step_seconds, 2),
            "n_reencodes": self.n_reencodes,
        }
