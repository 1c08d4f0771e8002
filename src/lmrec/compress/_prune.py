"""Pruning of the sequence transformer: magnitude (unstructured) or structured (attention heads, FFN units).

Masks are our own boolean tensors rather than ``torch.nn.utils.prune``'s re-parametrisation: torch's
MultiheadAttention reads ``out_proj.weight`` without calling ``out_proj``, so prune's forward pre-hooks would
never refresh it. Here a gradient hook zeroes the gradient of every pruned entry (so AdamW, whose update is
proportional to the gradient moments and whose weight decay of a zero is zero, never revives it) and
:meth:`PruneMasks.apply` writes the zeros into the weights, at the start and once more after fine-tuning:
the result is a plain dense module whose pruned weights are exactly zero (made permanent).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from lmrec.errors import ConfigError

PruneKind = Literal["magnitude", "structured"]


@dataclass
class PruneMasks:
    """Boolean keep-masks per parameter name of the pruned module (True = kept)."""

    masks: dict[str, Any]
    kind: str
    amount: float
    _handles: list[Any] = field(default_factory=list)

    def apply(self, module: Any) -> None:
        """Write the zeros into the weights (permanent)."""
        import torch

        params = dict(module.named_parameters())
        with torch.no_grad():
            for name, mask in self.masks.items():
                params[name].mul_(mask.to(params[name].dtype))

    def hold(self, module: Any) -> None:
        """Keep pruned entries at zero while training (gradient hooks); :meth:`release` removes them."""
        params = dict(module.named_parameters())
        for name, mask in self.masks.items():
            m = mask.to(params[name].dtype)
            self._handles.append(params[name].register_hook(lambda g, m=m: g * m))

    def release(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def sparsity(self, module: Any) -> dict[str, float]:
        """Share of exactly-zero entries over the pruned parameters, and over all transformer weights."""
        params = dict(module.named_parameters())
        zero = sum(int((params[n] == 0).sum()) for n in self.masks)
        total = sum(params[n].numel() for n in self.masks)
        return {"pruned_params_zero_share": zero / max(total, 1)}


def transformer_weights(module: Any) -> dict[str, Any]:
    """Name -> weight matrix of every transformer layer's projections (attention in/out, FFN)."""
    out = {}
    for name, p in module.named_parameters():
        if name.startswith("encoder.layers.") and name.endswith(
            ("self_attn.in_proj_weight", "self_attn.out_proj.weight", "linear1.weight", "linear2.weight")
        ):
            out[name] = p
    return out


def prune_masks(module: Any, amount: float, kind: str = "magnitude") -> PruneMasks:
    """Masks that remove ``amount`` (0..1) of the sequence transformer.

    ``magnitude``: the ``amount`` share of smallest-magnitude entries over all projection matrices at once
    (global, so layers that matter less lose more). ``structured``: per layer, the ``amount`` share of FFN
    channels (rows of ``linear1`` with their bias, columns of ``linear2``) with the smallest
    ``|w_in| * |w_out|`` and ``floor(amount * n_heads)`` attention heads with the smallest value/output
    weight norms (their q/k/v rows, biases and output columns): whole units gone, which a dense kernel can
    then drop.
    """
    import torch

    if not 0.0 <= amount < 1.0:
        raise ConfigError(f"prune amount must be in [0, 1), got {amount}")
    weights = transformer_weights(module)
    if not weights:
        raise ConfigError("prune: the model has no transformer layers")
    masks: dict[str, Any] = {}
    if kind == "magnitude":
        flat = torch.cat([w.detach().abs().flatten() for w in weights.values()])
        n_drop = int(round(amount * len(flat)))
        if n_drop:
            threshold = torch.kthvalue(flat, n_drop).values
            for name, w in weights.items():
                masks[name] = w.detach().abs() > threshold
            # ties at the threshold may remove a few more entries than asked; accept (continuous weights)
        else:
            masks = {name: torch.ones_like(w, dtype=torch.bool) for name, w in weights.items()}
        return PruneMasks(masks, kind, amount)
    if kind != "structured":
        raise ConfigError(f"unknown prune kind {kind!r}; use magnitude or structured")
    params = dict(module.named_parameters())
    for i, layer in enumerate(module.encoder.layers):
        pre = f"encoder.layers.{i}."
        w1, w2 = layer.linear1.weight.detach(), layer.linear2.weight.detach()
        score = w1.norm(dim=1) * w2.norm(dim=0)
        n_drop = int(round(amount * len(score)))
        keep = torch.ones(len(score), dtype=torch.bool)
        keep[torch.argsort(score)[:n_drop]] = False
        masks[pre + "linear1.weight"] = keep.unsqueeze(1).expand_as(w1).clone()
        masks[pre + "linear1.bias"] = keep.clone()
        masks[pre + "linear2.weight"] = keep.unsqueeze(0).expand_as(w2).clone()
        attn = layer.self_attn
        heads, d = attn.num_heads, attn.embed_dim
        hd = d // heads
        n_heads_drop = int(amount * heads)
        in_w = attn.in_proj_weight.detach()
        out_w = attn.out_proj.weight.detach()
        head_score = torch.stack(
            [
                in_w[2 * d + h * hd : 2 * d + (h + 1) * hd].norm() * out_w[:, h * hd : (h + 1) * hd].norm()
                for h in range(heads)
            ]
        )
        in_keep = torch.ones(3 * d, dtype=torch.bool)
        out_keep = torch.ones(d, dtype=torch.bool)
        for h in torch.argsort(head_score)[:n_heads_drop].tolist():
            for part in range(3):
                in_keep[part * d + h * hd : part * d + (h + 1) * hd] = False
            out_keep[h * hd : (h + 1) * hd] = False
        masks[pre + "self_attn.in_proj_weight"] = in_keep.unsqueeze(1).expand_as(in_w).clone()
        if attn.in_proj_bias is not None:
            masks[pre + "self_attn.in_proj_bias"] = in_keep.clone()
        masks[pre + "self_attn.out_proj.weight"] = out_keep.unsqueeze(0).expand_as(out_w).clone()
    assert all(name in params for name in masks)
    return PruneMasks(masks, kind, amount)


def prune_and_finetune(
    model: Any,
    amount: float,
    kind: str = "magnitude",
    *,
    epochs: int = 2,
    valid: Any = None,
    lr: float | None = None,
    seed: int = 0,
    threads: int | None = None,
) -> dict[str, Any]:
    """Prune a fitted ``textseq`` in place, fine-tune it briefly on its own training sequences (the
    ``train_loop`` with the model's own loss; validation on ``valid`` when given), make the zeros permanent.

    Returns what was done: kind, amount, zero share, fine-tune epochs, losses and validation metric.
    """
    import numpy as np
    import torch

    from lmrec.models.base import FitOptions
    from lmrec.models.seqdata import training_windows
    from lmrec.models.textseq import last_event_per_user
    from lmrec.train.loop import train_loop

    module = model.module
    masks = prune_masks(module, amount, kind)
    masks.apply(module)
    model.clear_item_cache()
    info: dict[str, Any] = {"kind": kind, "amount": amount, "finetune_epochs": epochs}
    if epochs > 0:
        cfg = model.config
        inputs, targets = training_windows(model.histories, cfg.max_len)

        def batches(epoch: int, rng: np.random.Generator) -> Any:
            model.clear_item_cache()
            order = rng.permutation(len(inputs))
            for s in range(0, len(order), cfg.batch_size):
                rows = order[s : s + cfg.batch_size]
                yield torch.from_numpy(inputs[rows]), torch.from_numpy(targets[rows])

        def step(batch: Any) -> Any:
            return module.full_loss(*batch)

        validate = None
        if valid is not None and len(valid):
            users, items = last_event_per_user(valid)
            keep = np.array([len(model.histories[u]) > 0 for u in users], dtype=bool)
            users, items = users[keep], items[keep]

            def validate() -> dict[str, float]:
                model.clear_item_cache()
                return model.validation_metrics(users, items)

        masks.hold(module)
        try:
            result = train_loop(
                module,
                batches=batches,
                step=step,
                validate=validate,
                # the model's own loop options, shortened: no early stop, no moving average
                config=cfg.train.replace(
                    epochs=epochs, lr=lr or cfg.train.lr / 3, patience=0, validate_every=1, ema=0.0
                ),
                options=FitOptions(seed=seed, threads=threads, device="cpu"),  # masks and int8 are CPU
            )
        finally:
            masks.release()
        masks.apply(module)
        info["finetune"] = {
            "loss": [round(h["loss"], 4) for h in result.history],
            "best_metric": None if np.isnan(result.best_metric) else round(result.best_metric, 4),
            "seconds": round(result.seconds, 2),
        }
    model.clear_item_cache()
    info.update(masks.sparsity(module))
    return info
