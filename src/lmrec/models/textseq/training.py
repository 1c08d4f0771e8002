"""How :class:`~lmrec.models.textseq.TextSeq` trains: the catalog is encoded, the network built, and the
shared loop (:func:`lmrec.train.loop.train_loop`) runs over all-prefix training windows, with validation
NDCG@10 for early stopping, optional augmentations, auxiliary rating heads and encoder fine-tuning."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from lmrec.data import Interactions, ItemTable
from lmrec.data.augment import MASK
from lmrec.errors import LmrecError
from lmrec.models.base import FitOptions
from lmrec.models.seqdata import PAD, sampling_probs, training_windows
from lmrec.models.textseq.config import ENCODER_FILE
from lmrec.models.textseq.data import item_features, last_event_per_user, rating_windows
from lmrec.models.textvec import item_vectors_for, sha256_of

if TYPE_CHECKING:
    from lmrec.models.textseq.model import TextSeq


def fit_textseq(
    model: TextSeq,
    train: Interactions,
    valid: Interactions | None,
    items: ItemTable | None,
    options: FitOptions,
) -> None:
    """Train ``model`` (its ``n_items`` and histories already set from ``train`` by ``fit``); the body of
    :meth:`TextSeq._fit`. Subclasses change it through the hooks ``_prepare_module`` and ``_batch_loss``."""
    import torch

    from lmrec.device import amp_dtype, describe, options_device
    from lmrec.models.textseq.finetune import EncoderFinetuner
    from lmrec.models.textseq.network import TextSeqModule
    from lmrec.train.loop import sensible_threads

    cfg = model.config
    device = options_device(options)
    torch.set_num_threads(sensible_threads(options.threads))
    torch.manual_seed(options.seed)
    t0 = time.perf_counter()
    vectors, model.vector_ref, texts = item_vectors_for(items, model.n_items, cfg, progress=options.progress)
    encode_seconds = time.perf_counter() - t0
    feats, feat_spec = item_features(items, cfg.features, model.n_items)
    counts = np.bincount(train.item, minlength=model.n_items).astype(np.float32)
    model.module = TextSeqModule.build(cfg, vectors, counts, feats, feat_spec)
    window_ratings = None
    if cfg.has_aux:
        window_ratings, stats = rating_windows(train, model._histories, cfg.max_len)
        model.module.set_rating_stats(*stats)
        model.fit_info["aux"] = {"rating_mean": stats[0], "rating_std": stats[1]}
    model._prepare_module(model.module)
    model.module.to(device)  # the catalog's text buffer moves once, with the module
    model.module._white = None
    model.fit_info["arch"] = {"text_dim": int(vectors.shape[1]), "features": feat_spec}
    finetuner = None
    if cfg.finetune_encoder:
        finetuner = EncoderFinetuner(cfg, texts, model.module, device)

    inputs, targets = training_windows(model._histories, cfg.max_len)
    if not len(inputs):
        raise LmrecError("textseq: no user has two or more training interactions")
    sampler_logq = torch.log(torch.as_tensor(sampling_probs(counts), dtype=torch.float32)).to(device)
    # the training windows live on the device; a step only gathers its rows there
    inputs_t, targets_t = torch.from_numpy(inputs).to(device), torch.from_numpy(targets).to(device)
    ratings_t = None if window_ratings is None else torch.from_numpy(window_ratings).to(device)

    aux_sums: dict[str, float] = {}
    aux_history: list[dict[str, float]] = []

    def flush_aux() -> None:
        n = aux_sums.pop("_batches", 0.0)
        if n:
            aux_history.append({k: round(v / n, 6) for k, v in aux_sums.items()})
        aux_sums.clear()

    def batches(epoch: int, rng: np.random.Generator) -> Any:
        model._item_cache = None
        if cfg.augment:
            from lmrec.data.augment import augment

            aug = [augment(h, rng, cfg.augment, prob=cfg.augment_prob) for h in model._histories]
            clean = [np.where(a == MASK, PAD, a) for a in aug]
            inp_np, tgt_np = training_windows(aug, cfg.max_len, targets=clean)
            inp, tgt = torch.from_numpy(inp_np).to(device), torch.from_numpy(tgt_np).to(device)
        else:
            inp, tgt = inputs_t, targets_t
        order = torch.from_numpy(rng.permutation(len(inp))).to(device)
        for s in range(0, len(order), cfg.batch_size):
            rows = order[s : s + cfg.batch_size]
            rat = None if ratings_t is None else ratings_t[rows]
            yield inp[rows], tgt[rows], rat

    def step(batch: Any) -> Any:
        inp, tgt, rat = batch
        if finetuner is not None:
            finetuner.refresh_rows(torch.unique(torch.cat([inp[inp >= 0], tgt[tgt >= 0]])))
        loss = model._batch_loss(inp, tgt, rat, sampler_logq)
        parts = model.module.last_aux
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
        val_users, val_targets = last_event_per_user(valid)
        keep = np.array([len(model._histories[u]) > 0 for u in val_users], dtype=bool)
        val_users, val_targets = val_users[keep], val_targets[keep]
        if len(val_users):

            def validate() -> dict[str, float]:
                model._item_cache = None
                return model.validation_metrics(val_users, val_targets)

    extra_params = finetuner.parameters() if finetuner is not None else []
    params = [
        {"params": [p for p in model.module.parameters() if p.requires_grad]},
    ]
    if extra_params:
        params.append({"params": extra_params, "lr": cfg.finetune_lr})
    # the sampled loss looks up a few ID rows per step: a sparse gradient and lazy Adam on those rows
    sparse_ids = cfg.id_fusion and cfg.loss == "sampled"
    model.module.sparse_ids = sparse_ids
    try:
        result = model.train_on_loop(
            model.module,
            train,
            options,
            batches=batches,
            step=step,
            validate=validate,
            on_epoch_start=on_epoch_start,
            param_groups=params,
            sparse_params=[model.module.id_emb] if sparse_ids else None,
        )
    finally:
        model.module.sparse_ids = False  # dense again for whatever trains it next
    flush_aux()
    if aux_history:
        model.fit_info.setdefault("aux", {})["train_history"] = aux_history
    if finetuner is not None:
        finetuner.reencode_catalog()
        model.fit_info["finetune"] = {**finetuner.stats(), "weights": ENCODER_FILE}
        model._encoder = finetuner.model.eval()
        model._encoder_file = None
        # the stored vectors now come from the fine-tuned encoder, not from the cache of the frozen one
        model.vector_ref = replace(
            model.vector_ref,
            vectors_sha256=sha256_of(model.module.text.cpu().numpy()),
            encoder_weights=ENCODER_FILE,
        )
    model._item_cache = None
    if cfg.text_prior:
        t_prior = time.perf_counter()
        model._prior_init(model.module.text.detach().cpu().numpy())
        held_out = valid if valid is not None and len(valid) else train
        info = model.fit_text_prior(held_out, seed=options.seed, in_sample=held_out is train)
        model.fit_info["text_prior"] = {
            **info,
            "held_out": "validation" if held_out is valid else "last training event (in-sample)",
            "seconds": round(time.perf_counter() - t_prior, 2),
        }
    model.fit_info.update(
        {
            "train": result.to_dict(),
            "device": describe(device, amp_dtype(device, options.precision)),
            "encode_seconds": round(encode_seconds, 3),
            "fit_seconds": round(time.perf_counter() - t0, 3),
            "n_train_events": int(len(train)),
            "train_fingerprint": train.fingerprint(),
            "domain": train.domain,
            "item_vectors": model.vector_ref.to_dict() if model.vector_ref else None,
        }
    )
