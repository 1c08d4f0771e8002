"""``textseq-compressed``: a trained :class:`~lmrec.models.textseq.TextSeq` after :func:`compress_model`.

It scores exactly like its parent class, from item representations that are stored as compact codes
(float16 / int8 scalar / product quantization, :mod:`lmrec.compress._vectors`) instead of being recomputed
from the catalog's 384-d text vectors: the text buffer, the item-ID embeddings and the feature buffers are
folded into those representations and not stored, which is where most of a saved model's bytes were. The
sequence transformer keeps its (possibly pruned) float32 weights in the file; with ``dynamic_int8`` its
Linear layers are quantized to int8 (``torch.ao.quantization.quantize_dynamic``) each time it is loaded, a
deterministic conversion, so the file never holds torch-specific packed tensors.

New items (:meth:`add_items`) and free-text queries still go through the adaptor from their text vectors,
encoded by ``config.encoder`` (after compression usually ``minilm-onnx-int8``).

A model with a text prior keeps it (unless compressed with ``text_prior="drop"``): the gate, the text space,
each item's training count and each item's unit vector in the prior's text space, coded by a second codec
(:func:`prior_method`); the user profiles and the mixed score are computed from those decoded vectors exactly
as :class:`TextSeq` computes them from the catalog's text.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from lmrec.compress._vectors import VectorCodec
from lmrec.errors import LmrecError
from lmrec.models.textseq import TextSeq

# per-item tensors of the textseq module: folded into the stored item representations
_PER_ITEM = ("text", "log_count", "id_emb")
_CODE_KEY = "compress.item_codes"
_QUANTIZER_KEY = "compress.quantizer"
_PRIOR_CODE_KEY = "compress.prior_codes"
_PRIOR_QUANTIZER_KEY = "compress.prior_quantizer"
_COUNT_KEY = "compress.log_count"


def prior_method(vectors: str) -> str:
    """How the text prior's item vectors are coded for item representations coded by ``vectors``: as they are
    in float32 / float16, else int8 scalar codes (``sq8``): at the prior's width (384) product or residual
    codebooks would outweigh the codes, and ``sq8`` keeps its top-10 (about .995 recall)."""
    return vectors if vectors in ("fp32", "fp16") else "sq8"


def _per_item(key: str) -> bool:
    return key in _PER_ITEM or key.startswith("feat_")


class CompressedTextSeq(TextSeq):
    """A compressed ``textseq`` (see the module docstring), built by :func:`lmrec.compress.compress_model`."""

    name: ClassVar[str] = "textseq-compressed"

    def __init__(self, config: Any = None, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self.codec: VectorCodec | None = None
        self._codes: np.ndarray | None = None
        self.dynamic_int8 = False
        self._fp32_linear: dict[str, np.ndarray] = {}  # what the int8 layers were quantized from
        # the text prior's coded item vectors and the items' log training counts (None: no prior kept)
        self.prior_codec: VectorCodec | None = None
        self._prior_codes: np.ndarray | None = None
        self._log_count: np.ndarray | None = None

    # -- conversion --------------------------------------------------------------------------------------
    @classmethod
    def from_textseq(
        cls,
        model: TextSeq,
        codec: VectorCodec,
        *,
        prior_codec: VectorCodec | None = None,
        encoder: str | None = None,
        dynamic_int8: bool = False,
        info: dict[str, Any] | None = None,
    ) -> CompressedTextSeq:
        """Convert a fitted ``textseq`` (its module is taken over, not copied); its text prior is kept, its
        item vectors coded by ``prior_codec``, unless that is None."""
        if model.module is None:
            raise LmrecError("compress: the model is not fitted")
        cfg = model.config if encoder is None else model.config.replace(encoder=encoder)
        out = cls(cfg)
        out.n_users, out.n_items = model.n_users, model.n_items
        out._histories = model.histories
        out.fit_info = json.loads(json.dumps(model.fit_info, default=str))
        out.fit_info["compression"] = {**(info or {}), "dynamic_int8": bool(dynamic_int8)}
        out.fit_info["compression"]["vectors"] = codec.describe(model.n_items)
        if prior_codec is not None and model.prior_gate is not None and model.prior_space is not None:
            out.prior_space, out.prior_gate = model.prior_space, model.prior_gate
            out.prior_codec = prior_codec
            out._prior_codes = prior_codec.encode(model.prior_item_vectors())
            out._log_count = model.item_log_counts().astype(np.float32).copy()
            out.fit_info["compression"]["text_prior"] = prior_codec.describe(model.n_items)
        else:  # the learned part only
            out.fit_info["compression"]["text_prior"] = "dropped" if model.prior_gate is not None else "none"
        out.vector_ref = model.vector_ref
        if encoder is not None and out.vector_ref is not None:
            from dataclasses import replace

            from lmrec.text import get_encoder

            # the catalog's vectors are still fp32 ones; new items and queries now use `encoder`
            out.vector_ref = replace(
                out.vector_ref, encoder=encoder, model_id=str(get_encoder(encoder).model_id)
            )
        reps = model.learned_item_vectors() if not model.config.normalize else _raw_reps(model)
        out.codec = codec
        out._codes = codec.encode(reps)
        out.module = model.module
        out._strip_per_item()
        out.dynamic_int8 = bool(dynamic_int8)
        if dynamic_int8:
            out._fp32_linear = _quantize_encoder(out.module)
        out.clear_item_cache()
        return out

    def _strip_per_item(self) -> None:
        import torch

        mod = self.module
        dim = int(mod.text.shape[1])
        with torch.no_grad():
            mod.text = torch.zeros(0, dim)
            mod.log_count = torch.zeros(0)
            if getattr(mod, "id_emb", None) is not None:
                mod.id_emb = torch.nn.Parameter(torch.zeros(0, mod.cfg.dim), requires_grad=False)
            for key in mod.feat_names:
                name = "feat_numeric" if key == "numeric" else "feat_" + key.replace(".", "_")
                old = getattr(mod, name)
                setattr(mod, name, torch.zeros((0, *old.shape[1:]), dtype=old.dtype))
        mod.forget_whitened()
        mod.eval()

    # -- scoring -----------------------------------------------------------------------------------------
    def _item_reps(self) -> Any:
        import torch

        if self._item_cache is None:
            if self.codec is None or self._codes is None:
                raise LmrecError("textseq-compressed: no item codes (load a compressed model directory)")
            self._item_cache = torch.from_numpy(self.codec.decode(self._codes))
        return self._item_cache

    def add_items(self, vectors: np.ndarray) -> np.ndarray:
        """Append new items by their text vectors: adaptor -> representation -> code (same codec)."""
        import torch

        from lmrec.models.textseq import check_vectors

        vecs = check_vectors(vectors, self.module.text_dim)
        with torch.no_grad():
            self.module.eval()
            reps = self.module.item_reps(text=torch.from_numpy(vecs)).numpy()
        assert self.codec is not None and self._codes is not None
        self._codes = np.concatenate([self._codes, self.codec.encode(reps)])
        if self.prior_codec is not None and self.prior_space is not None:
            assert self._prior_codes is not None and self._log_count is not None
            new_prior = self.prior_codec.encode(self.prior_space.apply(vecs))
            self._prior_codes = np.concatenate([self._prior_codes, new_prior])
            self._log_count = np.concatenate([self._log_count, np.zeros(len(vecs), np.float32)])
            self._prior_vecs = None
        start = self.n_items
        self.n_items += len(vecs)
        self._item_cache = None
        if self.vector_ref is not None:
            self.vector_ref = self.vector_ref.with_added(len(vecs))
        return np.arange(start, self.n_items, dtype=np.int64)

    def prior_item_vectors(self) -> np.ndarray:
        """The prior's item vectors, decoded from their codes (cached)."""
        if self._prior_vecs is None or len(self._prior_vecs) != self.n_items:
            if self.prior_codec is None or self._prior_codes is None:
                raise LmrecError("textseq-compressed: this model kept no text prior")
            self._prior_vecs = self.prior_codec.decode(self._prior_codes)
        return self._prior_vecs

    def item_log_counts(self) -> np.ndarray:
        """``log1p`` of each item's training count, as stored (0 for items added later)."""
        return self._log_count if self._log_count is not None else np.zeros(self.n_items, np.float32)

    @property
    def item_vectors(self) -> np.ndarray | None:  # type: ignore[override]
        """None: the catalog's text vectors are not stored (a service re-encodes the catalog texts)."""
        return None

    # -- persistence -------------------------------------------------------------------------------------
    def _state(self) -> dict[str, np.ndarray]:
        assert self.codec is not None and self._codes is not None
        state = {k: v for k, v in _float_state(self.module, self._fp32_linear).items() if not _per_item(k)}
        state[_CODE_KEY] = np.ascontiguousarray(self._codes)
        state[_QUANTIZER_KEY] = self.codec.quantizer
        if self.prior_codec is not None:
            assert self._prior_codes is not None and self._log_count is not None
            state.update(self.prior_state())
            state[_PRIOR_CODE_KEY] = np.ascontiguousarray(self._prior_codes)
            state[_PRIOR_QUANTIZER_KEY] = self.prior_codec.quantizer
            state[_COUNT_KEY] = np.ascontiguousarray(self._log_count, dtype=np.float32)
        return state

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        import torch

        from lmrec.models.textseq.network import TextSeqModule

        info = self.fit_info.get("compression") or {}
        vec = info.get("vectors") or {}
        state = self.load_prior_state(state)
        self.prior_codec = self._prior_codes = self._log_count = None
        if _PRIOR_CODE_KEY in state:
            prior = info.get("text_prior")
            if not isinstance(prior, dict) or _COUNT_KEY not in state or self.prior_space is None:
                raise LmrecError("textseq-compressed: the text prior's codes come without their description")
            self._prior_codes = state.pop(_PRIOR_CODE_KEY)
            self._log_count = np.asarray(state.pop(_COUNT_KEY), dtype=np.float32)
            self.prior_codec = VectorCodec.from_state(
                str(prior["method"]),
                int(self.prior_space.mean.shape[0]),
                state.pop(_PRIOR_QUANTIZER_KEY),
                {},
            )
        elif self.prior_gate is not None:
            raise LmrecError("textseq-compressed: a text prior gate without its item codes")
        codes = state.pop(_CODE_KEY)
        quantizer = state.pop(_QUANTIZER_KEY)
        text_dim = int(state["adaptor.mean"].shape[0])
        dim = int(codes.shape[1]) if codes.dtype != np.uint8 else int(self.config.dim)
        params = {k: int(vec[k]) for k in ("pq_m", "pq_bits") if k in vec}
        self.codec = VectorCodec.from_state(str(vec.get("method", "fp32")), dim, quantizer, params)
        self._codes = codes
        spec = (self.fit_info.get("arch") or {}).get("features", {}) or {}
        shapes: dict[str, tuple[int, ...]] = {}
        if spec.get("numeric"):
            shapes["numeric"] = (0, len(spec["numeric"]))
        for name in spec.get("categorical", {}):
            shapes[f"cat.{name}"] = (0, 1)
        mod = TextSeqModule(self.config, text_dim, 0, shapes, spec)
        missing, unexpected = mod.load_state_dict(
            {k: torch.from_numpy(np.array(v)) for k, v in state.items()}, strict=False
        )
        bad = [k for k in missing if not _per_item(k)] + list(unexpected)
        if bad:
            raise LmrecError(f"textseq-compressed: weights do not match the model ({', '.join(bad[:3])})")
        self.module = mod
        self._strip_per_item()
        self.dynamic_int8 = bool(info.get("dynamic_int8"))
        if self.dynamic_int8:
            self._fp32_linear = _quantize_encoder(self.module)
        self._item_cache = None

    def _save_extra(self, out: Path) -> None:
        from lmrec.compress._card import write_compressed_card

        if self.vector_ref is not None:
            self.vector_ref.save(out)
        write_compressed_card(self, out)


def _raw_reps(model: TextSeq) -> np.ndarray:
    """Unnormalised item representations (``normalize`` models normalise at scoring time)."""
    return model.item_representations().detach().numpy().astype(np.float32)


def _float_state(module: Any, fp32_linear: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The module's float weights; dynamically quantized Linear layers are stored as the float32 weights
    they were quantized from (so loading quantizes them again to exactly the same int8 layers)."""
    from torch.ao.nn.quantized.dynamic import Linear as DynamicQuantizedLinear

    quantized = [n for n, sub in module.named_modules() if isinstance(sub, DynamicQuantizedLinear)]
    out: dict[str, np.ndarray] = {}
    for name in quantized:
        for part in ("weight", "bias"):
            out[f"{name}.{part}"] = fp32_linear[f"{name}.{part}"]
    for k, v in module.state_dict().items():
        if any(k.startswith(q + ".") for q in quantized) or not hasattr(v, "numpy"):
            continue
        out[k] = v.detach().cpu().numpy()
    return out


def _quantize_encoder(module: Any) -> dict[str, np.ndarray]:
    """int8 dynamic quantization of the transformer's Linear layers (the FFN; attention projections are
    fused inside MultiheadAttention and stay float32, as torch leaves them). Returns the float32 weights of
    the quantized layers, by state-dict name."""
    import warnings

    import torch

    fp32 = {
        f"encoder.{name}.{part}": getattr(sub, part).detach().numpy().copy()
        for name, sub in module.encoder.named_modules()
        if type(sub) is torch.nn.Linear
        for part in ("weight", "bias")
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module.encoder = torch.ao.quantization.quantize_dynamic(
            module.encoder, {torch.nn.Linear}, dtype=torch.qint8
        )
    for layer in module.encoder.layers:
        # torch's fused encoder-layer fast path reads `linear1.weight` as a tensor, which a quantized
        # Linear has not; any forward hook on the layer makes it take the regular (quantized) path
        layer.linear1.register_forward_pre_hook(lambda mod, args: None)
    return fp32
