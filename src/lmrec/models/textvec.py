"""Item text vectors for text-based models: encode (or read) them, and describe them by a reference that lets
a saved model say exactly which encoder, template and texts produced the vectors it stores."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from lmrec.config import BaseConfig
from lmrec.data import ItemTable
from lmrec.errors import ConfigError, DataError

# the file in a saved model directory that holds its ItemVectorRef
REF_FILE = "item_vectors.json"


class TextVectorConfig(BaseConfig):
    """Where a text model's item vectors come from; the shared part of the text models' configs.

    ``encoder``: a text encoder name (:func:`lmrec.text.get_encoder`), or ``"auto"`` (the default): at fit
    time, the multilingual encoder for a mostly-CJK catalog, else MiniLM (:func:`choose_encoder`);
    ``template``: how an item's fields become its text (None: the dataset's default); ``vector_field``: take
    precomputed vectors from this vector column of the item table instead of encoding text; ``cache_dir``:
    the embedding cache folder.
    """

    encoder: str = "auto"
    template: str | None = None
    vector_field: str | None = Field(
        None, description="take precomputed item vectors from this vector column of the ItemTable"
    )
    cache_dir: str | None = None

    def ranks_by_text_alone(self) -> bool:
        """Whether item text is all the model knows an item by (no ID embedding beside it): on a catalog
        without any item text it cannot rank, and :func:`choose_encoder` refuses to fit it."""
        return True


@dataclass(frozen=True)
class ItemVectorRef:
    """Where a model's item vectors came from: encoder name and model id, template, and content hashes."""

    encoder: str
    model_id: str
    template: str | None
    dim: int
    n_items: int
    texts_sha256: str | None
    vectors_sha256: str
    n_added: int = 0  # items appended after training (add_items)
    # file (in the model directory) with fine-tuned encoder weights the vectors came from, if any
    encoder_weights: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ItemVectorRef:
        return cls(**{k: data.get(k) for k in cls.__dataclass_fields__ if k in data})

    def with_added(self, n: int) -> ItemVectorRef:
        return replace(self, n_added=self.n_added + n, n_items=self.n_items + n)

    def save(self, folder: Path) -> None:
        """Write the reference into a saved model directory (``item_vectors.json``)."""
        (folder / REF_FILE).write_text(json.dumps(self.to_dict(), indent=2), encoding="utf-8")

    @classmethod
    def read(cls, folder: Path) -> ItemVectorRef | None:
        """The reference :meth:`save` wrote into ``folder``; None when the model has none."""
        ref = folder / REF_FILE
        if not ref.is_file():
            return None
        try:
            data = json.loads(ref.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataError(f"invalid JSON ({exc})", file=ref) from None
        if not isinstance(data, dict):
            raise DataError("must hold a JSON object", file=ref)
        try:
            return cls.from_dict(data)
        except TypeError as exc:
            raise DataError(f"not an item-vector reference ({exc})", file=ref) from None


class ItemVectorRefHooks:
    """Save/load hooks of models that keep item text vectors (mix in before BaseRecommender).

    Saving writes the model's :class:`ItemVectorRef` as ``item_vectors.json`` (and the README model card when
    ``writes_model_card``); loading reads the reference back when the folder has one.
    """

    vector_ref: ItemVectorRef | None
    writes_model_card: ClassVar[bool] = False

    def _save_extra(self, out: Path) -> None:
        if self.vector_ref is not None:
            self.vector_ref.save(out)
        if self.writes_model_card:
            from lmrec.models.card import write_model_card

            write_model_card(self, out)

    def _load_extra(self, path: Path) -> None:
        ref = ItemVectorRef.read(path)
        if ref is not None:
            self.vector_ref = ref


def choose_encoder(config: Any, items: ItemTable | None, train: Any = None, *, report: bool = False) -> Any:
    """``config`` with an ``encoder`` of ``"auto"`` resolved for this catalog, as ``lmrec encode`` does: the
    multilingual encoder when the item texts are mostly Chinese/Japanese/Korean, else MiniLM. The resolved
    name is what the model saves, so queries and new items later use the encoder the catalog was encoded
    with. Also warns when items that have interactions in ``train`` have no text (a text model sees them as
    empty: Douban comments name movies missing from its movie table)."""
    import warnings

    from lmrec.errors import LmrecWarning

    if items is None or getattr(config, "vector_field", None) is not None or not hasattr(config, "encoder"):
        return config
    from lmrec.text import item_texts
    from lmrec.text.encoders import DEFAULT_ENCODER, MULTILINGUAL_ENCODER
    from lmrec.text.templates import is_mostly_cjk

    texts = item_texts(items, config.template)
    if train is not None and len(texts):
        rated = np.unique(np.asarray(train.item, dtype=np.int64))
        rated = rated[rated < len(texts)]
        empty = int(sum(1 for i in rated if not str(texts[i] or "").strip()))
        if config.ranks_by_text_alone() and not any(str(t or "").strip() for t in texts):
            raise DataError(
                f"all {len(texts):,} items have no text, and this model ranks items by their text alone: "
                "give the items text (for a table file the loader options "
                "items_path=FILE and item_text=COLUMN, `--data-option` on the command line), or use item "
                "IDs (textseq with id_fusion, or a baseline such as ease)"
            )
        if empty:
            warnings.warn(
                f"{empty:,} of {len(rated):,} items with interactions ({empty / len(rated):.0%}) have no "
                "text; text models see them as empty",
                LmrecWarning,
                stacklevel=3,
            )
    if config.encoder != "auto":
        return config
    cjk = is_mostly_cjk(texts)
    name = MULTILINGUAL_ENCODER if cjk else DEFAULT_ENCODER
    if report:
        from lmrec.progress import note

        why = "the item texts are mostly Chinese/Japanese/Korean" if cjk else "the item texts are not CJK"
        note(f"lmrec: encoder {name} ({why})", once=True)
    return config.replace(encoder=name)


def sha256_of(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()[:16]


def item_vectors_for(
    items: ItemTable | None,
    n_items: int,
    source: TextVectorConfig,
    *,
    progress: bool = False,
    shard: bool = True,
) -> tuple[np.ndarray, ItemVectorRef, list[str] | None]:
    """The (n_items, dim) float32 item vectors, their reference and the item texts (None for a vector field).

    ``source.vector_field`` names a vector column of the item table holding precomputed embeddings; otherwise
    the table's text is encoded with ``source.encoder`` / ``source.template`` through
    :func:`lmrec.text.encode_items` (cached in ``source.cache_dir``). Under
    ``torchrun`` the ranks share that encoding (``shard``; every rank runs ``fit``, so every rank calls this).
    """
    if items is None:
        raise ConfigError("text models need the item table: call fit(train, valid, items=dataset.items)")
    if len(items) != n_items:
        raise DataError(f"item table has {len(items)} rows but the interactions index {n_items} items")
    encoder, template, vector_field = source.encoder, source.template, source.vector_field
    if vector_field is not None:
        if vector_field not in items.frame.columns:
            raise ConfigError(f"option 'vector_field': no item column {vector_field!r}")
        try:
            vecs = np.stack([np.asarray(v, dtype=np.float32) for v in items.frame[vector_field].tolist()])
        except ValueError as exc:
            raise DataError(
                f"item vectors of unequal length or not numeric: {exc}", field=vector_field
            ) from None
        if vecs.ndim != 2 or not np.isfinite(vecs).all():
            raise DataError("item vectors must be finite 1-d arrays of one length", field=vector_field)
        ref = ItemVectorRef(
            encoder=f"column:{vector_field}",
            model_id=f"column:{vector_field}",
            template=None,
            dim=int(vecs.shape[1]),
            n_items=n_items,
            texts_sha256=None,
            vectors_sha256=sha256_of(vecs),
        )
        return np.ascontiguousarray(vecs), ref, None
    from lmrec.text import encode_texts, get_encoder, item_texts

    texts = item_texts(items, template)
    enc = get_encoder(encoder)
    vecs = encode_texts(
        texts, encoder=enc, cache_dir=source.cache_dir, progress=progress, template=template, shard=shard
    )
    ref = ItemVectorRef(
        encoder=encoder,
        model_id=str(getattr(enc, "model_id", encoder)),
        template=template,
        dim=int(vecs.shape[1]),
        n_items=n_items,
        texts_sha256=hashlib.sha256("\n".join(texts).encode("utf-8")).hexdigest()[:16],
        vectors_sha256=sha256_of(vecs),
    )
    return vecs, ref, texts


def encode_query_texts(texts: list[str], encoder: str, cache_dir: str | None = None) -> np.ndarray:
    """Encode free texts (queries, user descriptions) with the same encoder as the catalog."""
    from lmrec.text import encode_texts

    return encode_texts(texts, encoder=encoder, cache_dir=cache_dir, use_cache=False)


def trainable_encoder(encoder: str, top_layers: int) -> tuple[Any, int]:
    """A trainable PyTorch copy of ``encoder`` (a module: texts -> unit vectors) with only its top
    ``top_layers`` transformer layers unfrozen; the process-wide frozen encoder is left untouched.

    Only encoders backed by a Hugging Face transformer (``minilm``, local model folders) can be fine-tuned.
    """
    from pathlib import Path

    import torch
    from transformers import AutoModel, AutoTokenizer

    if encoder.startswith("minilm"):
        from lmrec.text.encoders import minilm_folder

        folder: Path | None = minilm_folder()
    elif Path(encoder).expanduser().is_dir():
        folder = Path(encoder).expanduser()
    else:
        from lmrec.text import get_encoder

        folder = getattr(get_encoder(encoder), "folder", None)
    if folder is None or not (Path(folder) / "config.json").is_file():
        raise ConfigError(f"option 'finetune_encoder': encoder {encoder!r} cannot be fine-tuned (use minilm)")
    # a private copy in float32 PyTorch, whatever runtime the frozen encoder uses (ONNX, int8...)
    model = AutoModel.from_pretrained(str(folder))
    layers = getattr(getattr(model, "encoder", None), "layer", None)
    if layers is None:
        raise ConfigError(f"option 'finetune_encoder': no transformer layers found in {folder}")
    for p in model.parameters():
        p.requires_grad_(False)
    n = min(top_layers, len(layers))
    for layer in list(layers)[-n:]:
        for p in layer.parameters():
            p.requires_grad_(True)
    tokenizer = AutoTokenizer.from_pretrained(str(folder), use_fast=True)
    try:
        from lmrec.text.encoders import read_pooling

        pooling = read_pooling(Path(folder))
    except Exception:  # noqa: BLE001 - sentence-transformers folders without pooling config: mean
        pooling = "mean"
    try:
        from lmrec.text.encoders import read_max_tokens

        max_tokens = int(read_max_tokens(Path(folder), model.config, tokenizer))
    except Exception:  # noqa: BLE001 - fall back to MiniLM's limit
        max_tokens = 256

    class _Given(torch.nn.Module):
        """Stands in for the embedding layer: returns given token states (the frozen layers' output)."""

        def __init__(self, states: torch.Tensor) -> None:
            super().__init__()
            self.states = states

        def forward(self, *args: Any, **kwargs: Any) -> torch.Tensor:
            return self.states

    class TrainableEncoder(torch.nn.Module):
        """texts -> unit vectors. :meth:`cache_frozen` runs the frozen bottom layers once per text; then
        :meth:`forward_cached` runs only the unfrozen top layers (training steps cost a fraction of a full
        pass, and the frozen layers run without dropout)."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model
            self.pooling = pooling
            self.max_tokens = max_tokens
            self.n_top = n
            self._cache: list[torch.Tensor] | None = None

        def _tokens(self, texts: list[str]) -> Any:
            tok = tokenizer(
                texts, padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt"
            )
            device = next(self.model.parameters()).device  # where the module was moved (.to)
            return {k: v.to(device) for k, v in tok.items()}

        def _pool(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            if self.pooling == "cls":
                pooled = hidden[:, 0]
            else:
                m = mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * m).sum(1) / m.sum(1).clamp_min(1.0)
            return torch.nn.functional.normalize(pooled, dim=-1)

        def forward(self, texts: list[str]) -> torch.Tensor:
            tok = self._tokens(texts)
            hidden = self.model(
                input_ids=tok["input_ids"], attention_mask=tok["attention_mask"]
            ).last_hidden_state
            return self._pool(hidden, tok["attention_mask"])

        def cache_frozen(self, texts: list[str], batch_size: int = 64) -> None:
            """Keep, per text, the token states entering the first unfrozen layer (float16)."""
            n_layers = len(self.model.encoder.layer)
            cache: list[torch.Tensor] = []
            was = self.model.training
            self.model.eval()
            with torch.no_grad():
                for s in range(0, len(texts), batch_size):
                    tok = self._tokens(texts[s : s + batch_size])
                    out = self.model(
                        input_ids=tok["input_ids"],
                        attention_mask=tok["attention_mask"],
                        output_hidden_states=True,
                    )
                    states = out.hidden_states[n_layers - self.n_top]
                    lengths = tok["attention_mask"].sum(1).tolist()
                    cache.extend(states[i, : int(k)].half() for i, k in enumerate(lengths))
            self.model.train(was)
            self._cache = cache

        def forward_cached(self, rows: list[int], texts: list[str]) -> torch.Tensor:
            """The vectors of ``texts`` (= the cached texts ``rows``) through the unfrozen layers only."""
            assert self._cache is not None, "call cache_frozen first"
            tok = self._tokens(texts)
            width = tok["input_ids"].shape[1]
            states = torch.zeros(len(rows), width, self._cache[0].shape[-1], device=tok["input_ids"].device)
            for i, r in enumerate(rows):
                c = self._cache[r]
                states[i, : len(c)] = c.float()
            emb, layers = self.model.embeddings, self.model.encoder.layer
            self.model.embeddings = _Given(states)
            self.model.encoder.layer = layers[len(layers) - self.n_top :]
            try:
                hidden = self.model(
                    input_ids=tok["input_ids"], attention_mask=tok["attention_mask"]
                ).last_hidden_state
            finally:
                self.model.embeddings, self.model.encoder.layer = emb, layers
            return self._pool(hidden, tok["attention_mask"])

    return TrainableEncoder(), n


def save_encoder_weights(encoder: Any, file: Path) -> None:
    """Write the trainable (fine-tuned) parameters of a :func:`trainable_encoder` module to a safetensors
    ``file``; the frozen rest is the public checkpoint and is not copied."""
    from safetensors.torch import save_file

    state = {k: p.detach().cpu().contiguous() for k, p in encoder.named_parameters() if p.requires_grad}
    if not state:
        raise ConfigError("the encoder has no fine-tuned (trainable) parameters to save")
    save_file(state, str(file), metadata={"format": "pt", "kind": "lmrec-finetuned-encoder-layers"})


def load_encoder_weights(encoder: Any, file: Path) -> None:
    """Load what :func:`save_encoder_weights` wrote into a fresh :func:`trainable_encoder` module."""
    import torch
    from safetensors.torch import load_file

    state = load_file(str(file))
    own = dict(encoder.named_parameters())
    unknown = sorted(set(state) - set(own))
    if unknown:
        raise DataError(f"{file}: parameters not in the encoder: {', '.join(unknown[:3])}")
    with torch.no_grad():
        for k, v in state.items():
            if own[k].shape != v.shape:
                raise DataError(
                    f"{file}: parameter {k} has shape {tuple(v.shape)}, not {tuple(own[k].shape)}"
                )
            own[k].copy_(v)
