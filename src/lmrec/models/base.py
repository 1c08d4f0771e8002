"""The Recommender protocol every model follows, and a small base class with the shared plumbing.

fit(train, valid=None, *, items=None, options=None) -> self
score(query, items=None) -> (n_queries, n_items | len(items)) float32 scores (higher = better)
recommend(query, k=10, exclude_seen=True) -> (item indices, scores), each (n_queries, k)
save(dir) / load(dir): a directory with config.json and model.safetensors (never pickle)

A *query* is a :class:`UserBatch`: dense user indices (-1 = unknown/anonymous) and each user's item history
(oldest first). Passing a plain array of user indices uses the histories seen in ``fit``; passing a list of
item arrays scores anonymous histories. Non-sequential models that learned per-user parameters use the user
index; models that score from the history (EASE, ItemKNN, sequential models) use the history.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self, runtime_checkable

import numpy as np

from lmrec.config import BaseConfig
from lmrec.data import Dataset, Interactions, ItemTable
from lmrec.errors import DataError, LmrecError
from lmrec.models.checks import WEIGHTS_FILE
from lmrec.saved import read_meta, write_saved
from lmrec.train.config import TrainableConfig

# the saved-folder format of a model (:mod:`lmrec.saved`): this JSON file next to ``WEIGHTS_FILE``
CONFIG_FILE = "config.json"


@dataclass(frozen=True)
class FitOptions:
    """Run-time options of training that are not part of the model (seed, threads, progress, device).

    ``device``: ``auto`` (a CUDA GPU when there is one, else the CPU), ``cpu``, ``cuda`` or ``cuda:N``;
    ``precision``: ``auto`` (bf16 autocast on CUDA GPUs of compute capability >= 8, else fp32), ``fp32`` or
    ``bf16`` (see :mod:`lmrec.device`).
    """

    seed: int = 0
    threads: int | None = None
    progress: bool = False
    device: str = "auto"
    precision: str = "auto"
    max_seconds: float | None = None
    checkpoint_dir: str | None = None


@dataclass(frozen=True)
class UserBatch:
    """Users to score: dense user indices (-1 = anonymous) with their histories (oldest first)."""

    users: np.ndarray
    histories: Sequence[np.ndarray]

    def __len__(self) -> int:
        return len(self.users)


Query = UserBatch | np.ndarray | Sequence[int] | Sequence[Sequence[int]] | Sequence[np.ndarray]


@runtime_checkable
class Recommender(Protocol):
    """What lmrec's evaluation, service and CLI rely on."""

    name: ClassVar[str]
    config: BaseConfig

    def fit(
        self,
        train: Interactions,
        valid: Interactions | None = None,
        *,
        items: ItemTable | None = None,
        options: FitOptions | None = None,
    ) -> Self: ...

    def score(self, query: Query, items: np.ndarray | None = None) -> np.ndarray: ...

    def recommend(
        self, query: Query, k: int = 10, exclude_seen: bool = True
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def save(self, path: str | Path, *, dataset: Any = None) -> Path: ...

    @classmethod
    def load(cls, path: str | Path) -> Self: ...


@runtime_checkable
class RetrievalModel(Protocol):
    """What the service needs to answer from an ANN index: a model whose score is the dot product of a
    query vector per user (from the history) with a vector per item."""

    def query_vectors(self, query: Query) -> np.ndarray: ...

    def retrieval_vectors(self) -> np.ndarray: ...


@runtime_checkable
class GrowingModel(Protocol):
    """What the service needs to make items added while serving recommendable without retraining: the model
    scores them from their text vectors (``add_items`` returns their new dense indices)."""

    n_items: int

    def add_items(self, vectors: np.ndarray) -> np.ndarray: ...


class BaseRecommender:
    """Shared plumbing: query normalisation, top-k, seen-item exclusion and the save/load layout.

    Subclasses set ``name`` and ``Config``, implement ``_fit`` and ``_score_batch`` and ``_state``/
    ``_load_state`` (a flat dict of numpy arrays stored with safetensors).
    """

    name: ClassVar[str] = "base"
    Config: ClassVar[type[BaseConfig]] = BaseConfig

    def __init__(self, config: BaseConfig | None = None, **kwargs: Any) -> None:
        if config is None:
            config = self.Config.from_dict(kwargs)
        elif kwargs:
            config = config.replace(**kwargs)
        if not isinstance(config, self.Config):
            raise LmrecError(
                f"{type(self).__name__} needs a {self.Config.__name__}, got {type(config).__name__}"
            )
        self.config = config
        self.n_users = 0
        self.n_items = 0
        self._histories: list[np.ndarray] = []
        self.fit_info: dict[str, Any] = {}

    # -- fitting -----------------------------------------------------------------------------------------
    def fit(
        self,
        train: Interactions,
        valid: Interactions | None = None,
        *,
        items: ItemTable | None = None,
        options: FitOptions | None = None,
    ) -> Self:
        from lmrec.models.textvec import choose_encoder

        options = options or FitOptions()
        # text models: an encoder of "auto" follows the catalog's language (as `lmrec encode` does)
        self.config = choose_encoder(self.config, items, train, report=options.progress)
        self.n_users, self.n_items = train.n_users, train.n_items
        self._histories = train.sequences()
        self._fit(train, valid, items, options)
        return self

    def check_size(self, n_users: int, n_items: int) -> None:
        """Raise a one-line :class:`~lmrec.errors.ConfigError` when this model cannot be fitted on so many
        users and items on this machine (EASE's dense solve); commands call it before fitting anything."""

    def _fit(
        self, train: Interactions, valid: Interactions | None, items: ItemTable | None, options: FitOptions
    ) -> None:
        raise NotImplementedError

    def train_on_loop(self, module: Any, train: Interactions, options: FitOptions, **loop_args: Any) -> Any:
        """Train the torch ``module`` on the shared loop (:func:`lmrec.train.loop.train_loop`) with this
        model's loop options (``config.train``, a :class:`~lmrec.train.LoopConfig`) and checkpoints tied to
        this run (:meth:`_run_fingerprint`); ``loop_args`` are the loop's other arguments (``batches``,
        ``step``, ``validate``, ``on_epoch_start``, ``param_groups``). Returns its
        :class:`~lmrec.train.TrainResult`."""
        from lmrec.train.loop import train_loop

        if not isinstance(self.config, TrainableConfig):
            raise LmrecError(f"{self.name}: its config has no training loop options ('train')")
        run = self._run_fingerprint(train)
        return train_loop(module, config=self.config.train, options=options, fingerprint=run, **loop_args)

    def _run_fingerprint(self, train: Interactions) -> str:
        """Identifies a training run for its checkpoints: the config (without the settings a resumed run may
        change: training length, patience, validation interval, cache folder), the data and its shape."""
        import hashlib

        cfg = self.config.to_dict()
        loop = cfg.get("train") if isinstance(cfg.get("train"), dict) else {}
        for k in ("epochs", "patience", "validate_every", "cache_dir"):
            cfg.pop(k, None)
            loop.pop(k, None)
        blob = json.dumps(cfg, sort_keys=True) + train.fingerprint() + f"{self.n_users},{self.n_items}"
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    @property
    def histories(self) -> list[np.ndarray]:
        """Each user's training history as ``fit`` saw it (item indices, oldest first; one array per user
        index). Shared, not copied: read it, do not change it."""
        return self._histories

    @property
    def is_fitted(self) -> bool:
        return self.n_items > 0

    def to(self, device: str = "auto") -> Self:
        """Score on ``device`` from now on (``auto``, ``cpu``, ``cuda``, ``cuda:N``); returns self.

        Models load on the CPU; torch models move their network (scores still come back as numpy). Models
        that score with numpy alone ignore it."""
        from lmrec.device import resolve_device

        self._to_device(resolve_device(device))
        return self

    def _to_device(self, device: Any) -> None:
        """Hook of :meth:`to`: move the model's torch parts to ``device`` (a ``torch.device``)."""

    # -- scoring -----------------------------------------------------------------------------------------
    def as_batch(self, query: Query) -> UserBatch:
        """Normalise any accepted query form into a :class:`UserBatch`."""
        if isinstance(query, UserBatch):
            return query
        if isinstance(query, np.ndarray) and query.ndim == 1 and query.dtype.kind in "iu":
            return self._users_batch(query)
        seq = list(query)  # type: ignore[arg-type]
        if all(isinstance(x, (int, np.integer)) for x in seq):
            return self._users_batch(np.asarray(seq, dtype=np.int64))
        hists = [np.asarray(h, dtype=np.int64) for h in seq]
        for h in hists:
            if len(h) and (h.min() < 0 or h.max() >= self.n_items):
                raise DataError(f"history item index out of range [0, {self.n_items})", field="history")
        return UserBatch(np.full(len(hists), -1, dtype=np.int64), hists)

    def _users_batch(self, users: np.ndarray) -> UserBatch:
        users = np.asarray(users, dtype=np.int64)
        if len(users) and (users.min() < 0 or users.max() >= self.n_users):
            raise DataError(f"user index out of range [0, {self.n_users})", field="user")
        return UserBatch(users, [self._histories[u] for u in users])

    def score(self, query: Query, items: np.ndarray | None = None) -> np.ndarray:
        """Scores of every catalog item (or of ``items``) for each query row; higher is better."""
        if not self.is_fitted:
            raise LmrecError(f"{self.name}: call fit() (or load()) before score()")
        batch = self.as_batch(query)
        scores = np.asarray(self._score_batch(batch), dtype=np.float32)
        if items is not None:
            scores = scores[:, np.asarray(items, dtype=np.int64)]
        return scores

    def _score_batch(self, batch: UserBatch) -> np.ndarray:
        raise NotImplementedError

    def recommend(
        self, query: Query, k: int = 10, exclude_seen: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` item indices and scores per query row, best first."""
        batch = self.as_batch(query)
        scores = self.score(batch).copy()
        if exclude_seen:
            for row, hist in enumerate(batch.histories):
                if len(hist):
                    scores[row, hist] = -np.inf
        return top_k(scores, k)

    # -- persistence -------------------------------------------------------------------------------------
    def save(self, path: str | Path, *, dataset: Dataset | None = None) -> Path:
        """Write ``config.json`` and ``model.safetensors`` into the directory ``path``; with ``dataset`` (the
        one the model was trained on) also its catalog (``catalog/``: external item and user ids, titles,
        texts), which ``lmrec recommend`` and ``lmrec serve`` need to speak in ids rather than indices."""
        if dataset is not None and (dataset.n_items, dataset.n_users) != (self.n_items, self.n_users):
            raise LmrecError(
                f"save(dataset=): {dataset.name} has {dataset.n_items:,} items and {dataset.n_users:,} "
                f"users, the model {self.n_items:,} and {self.n_users:,}"
            )
        state = dict(self._state())
        state["_histories.lengths"] = np.array([len(h) for h in self._histories], dtype=np.int64)
        state["_histories.items"] = (
            np.concatenate(self._histories).astype(np.int64)
            if len(self._histories)
            else np.zeros(0, np.int64)
        )
        meta = {
            "model": self.name,
            "config": self.config.to_dict(),
            "n_users": self.n_users,
            "n_items": self.n_items,
            "fit_info": self.fit_info,
        }
        out = write_saved(path, meta_file=CONFIG_FILE, meta=meta, arrays={WEIGHTS_FILE: state})
        self._save_extra(out)
        if dataset is not None:
            from lmrec.models.catalog import write_catalog

            write_catalog(dataset, out)
        return out

    def _save_extra(self, out: Path) -> None:
        """Hook: write extra files (item-vector reference, model card) next to the two standard ones."""

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Load a model saved by :meth:`save`. Every file is checked (:mod:`lmrec.models.checks`): a missing
        or damaged file, weights with NaN or of the wrong shape are one-line :class:`LmrecError`s."""
        from lmrec.models import checks

        p = Path(path)
        meta = read_model_meta(p)
        if meta["model"] != cls.name:
            raise LmrecError(f"{p}: holds a '{meta['model']}' model, not '{cls.name}'")
        model = cls(cls.Config.from_dict(meta["config"], source=str(p / CONFIG_FILE)))
        model.n_users, model.n_items = meta["n_users"], meta["n_items"]
        model.fit_info = meta.get("fit_info", {})
        file = p / WEIGHTS_FILE
        state = checks.read_tensors(file)
        checks.check_finite(state, file)
        if "_histories.lengths" not in state or "_histories.items" not in state:
            raise LmrecError(f"{file}: no training histories (not written by lmrec's save)")
        lengths = state.pop("_histories.lengths").astype(np.int64)
        flat = state.pop("_histories.items").astype(np.int64)
        checks.check_histories(lengths, flat, model.n_users, model.n_items, file)
        model._histories = list(np.split(flat, np.cumsum(lengths)[:-1])) if len(lengths) else []
        try:
            model._load_state(state)
        except LmrecError:
            raise
        except Exception as exc:  # a missing tensor (KeyError) or one torch cannot load (shape)
            what = f"no tensor {exc}" if isinstance(exc, KeyError) else checks.first_line(exc)
            raise LmrecError(f"{file}: the weights do not fit a '{cls.name}' model ({what})") from None
        model._load_extra(p)
        checks.check_scores(model, file)
        return model

    def _load_extra(self, path: Path) -> None:
        """Hook: read what :meth:`_save_extra` wrote (called after ``_load_state``)."""

    def _state(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        raise NotImplementedError


def read_model_meta(path: Path) -> dict[str, Any]:
    """The parsed ``config.json`` of a saved model directory, with one-line errors."""
    meta = read_meta(path, CONFIG_FILE, what="a saved lmrec model")
    cfg = path / CONFIG_FILE
    if not isinstance(meta, dict) or "model" not in meta or "config" not in meta:
        raise LmrecError(f"{cfg}: missing 'model' or 'config' key")
    if not isinstance(meta["config"], dict):
        raise LmrecError(f"{cfg}: 'config' must be an object")
    for key in ("n_users", "n_items"):
        value = meta.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise LmrecError(f"{cfg}: '{key}' must be a non-negative integer, not {value!r:.40}")
        meta[key] = value
    return meta


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of the ``k`` largest entries per row, sorted best first (ties: lower index)."""
    n = scores.shape[1]
    k = max(0, min(k, n))
    if k == 0:
        return np.zeros((len(scores), 0), np.int64), np.zeros((len(scores), 0), scores.dtype)
    part = (
        np.argpartition(-scores, k - 1, axis=1)[:, :k] if k < n else np.tile(np.arange(n), (len(scores), 1))
    )
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -vals), axis=1)
    idx = np.take_along_axis(part, order, axis=1)
    return idx.astype(np.int64), np.take_along_axis(scores, idx, axis=1)
