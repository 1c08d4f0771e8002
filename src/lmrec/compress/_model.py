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

    # -- conversion --------------------------------------------------------------------------------------
    @classmethod
    def from_textseq(
        cls,
        model: TextSeq,
        codec: VectorCodec,
        *,
        encoder: str | None = None,
        dynamic_int8: bool = False,
        info: dict[str, Any] | None = None,
    ) -> CompressedTextSeq:
        """Convert a fitted ``textseq`` (its module is taken over, not copied)."""
        if model.module is None:
            raise LmrecError("compress: the model is not fitted")
        cfg = model.config if encoder is None else model.config.replace(encoder=encoder)
        out = cls(cfg)
        out.n_users, out.n_items = model.n_users, model.n_items
        out._histories = model.histories
        out.fit_info = json.loads(json.dumps(model.fit_info, default=str))
        out.fit_info["compression"] = {**(info or {}), "dynamic_int8": bool(dynamic_int8)}
        out.fit_info["compression"]["vectors"] = codec.describe(model.n_items)
        # the text prior needs every item's full text vector, which compression drops: the learned part only
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
        start = self.n_items
        self.n_items += len(vecs)
        self._item_cache = None
        if self.vector_ref is not None:
            self.vector_ref = self.vector_ref.with_added(len(vecs))
        return np.arange(start, self.n_items, dtype=np.int64)

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
        return state

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        import torch

        from lmrec.models.textseq.network import TextSeqModule

        info = self.fit_info.get("compression") or {}
        vec = info.get("vectors") or {}
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
