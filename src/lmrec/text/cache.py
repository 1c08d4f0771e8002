"""Content-addressed embedding cache on disk: memory-mapped ``.npy`` shards plus a JSON index per shard.

Layout: ``<root>/<model-slug>/`` holds ``model.json`` (the model id and dimension) and pairs of
``shard-<id>.npy`` (float32 rows) and ``shard-<id>.json`` (the sha256 key of each row, in row order, and the
templates that produced them). ``root`` is the ``cache_dir`` argument, else ``$LMREC_CACHE/embeddings``, else
``$XDG_CACHE_HOME/lmrec/embeddings`` (``~/.cache/lmrec/embeddings``).

Keys: the namespace is the encoder's ``model_id`` (weights fingerprint, pooling, length limit, precision);
within it a row is keyed by the sha256 of the exact text the encoder saw. The template therefore enters the
key through the text it renders: a changed template or a changed item field changes the text, hence the key,
hence a re-encode, while two templates that render the same text share one vector (correctly: same text, same
vector).

Concurrency: every write creates new, uniquely named files (written to a temp name, flushed, then
``os.replace``d) and the index is published only after its ``.npy`` is in place, so a reader never sees a
partial shard and two processes adding at once never overwrite each other (at worst both store the same rows;
the first shard wins). ``compact()`` merges shards under an exclusive file lock; readers that race a
compaction retry once.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lmrec.errors import LmrecError

_FORMAT = 1
# more shards than this and add() merges them, so lookups stay one index read + a few mmaps
MAX_SHARDS = 32


@dataclass
class CacheStats:
    """Counts of one or more encode calls: unique texts found in the cache vs encoded now."""

    hits: int = 0
    misses: int = 0
    texts: int = 0  # rows requested (duplicates included)
    encode_seconds: float = 0.0
    total_seconds: float = 0.0

    def add(self, other: CacheStats) -> None:
        self.hits += other.hits
        self.misses += other.misses
        self.texts += other.texts
        self.encode_seconds += other.encode_seconds
        self.total_seconds += other.total_seconds


def default_cache_root() -> Path:
    """``$LMREC_CACHE/embeddings``, else ``$XDG_CACHE_HOME/lmrec/embeddings`` (~/.cache/lmrec/embeddings)."""
    from lmrec.paths import cache_root

    return cache_root("embeddings")


def text_key(text: str) -> str:
    """The cache key of one text: sha256 of its UTF-8 bytes, hex."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _slug(model_id: str) -> str:
    readable = re.sub(r"[^A-Za-z0-9._-]+", "-", model_id.split("|")[0])[:40].strip("-.") or "model"
    return f"{readable}-{hashlib.sha256(model_id.encode()).hexdigest()[:16]}"


def _atomic_write_bytes(path: Path, write: callable, suffix: str) -> None:  # type: ignore[valid-type]
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; cached vectors are not secret and may be shared
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class EmbeddingCache:
    """The cached vectors of one encoder (``model_id``, ``dim``) under ``root``."""

    def __init__(self, model_id: str, dim: int, root: str | Path | None = None) -> None:
        self.model_id = model_id
        self.dim = int(dim)
        self.root = Path(root).expanduser() if root is not None else default_cache_root()
        self.dir = self.root / _slug(model_id)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LmrecError(
                f"{self.dir}: cannot create the embedding cache folder ({exc.strerror})"
            ) from None
        manifest = self.dir / "model.json"
        if manifest.is_file():
            meta = json.loads(manifest.read_text(encoding="utf-8"))
            if meta.get("model_id") != model_id or int(meta.get("dim", -1)) != self.dim:
                raise LmrecError(
                    f"{manifest}: belongs to model {meta.get('model_id')!r} (dim {meta.get('dim')}), "
                    f"not {model_id!r} (dim {dim}); remove the folder"
                )
        else:
            body = json.dumps({"format": _FORMAT, "model_id": model_id, "dim": self.dim}).encode()
            _atomic_write_bytes(manifest, lambda fh: fh.write(body), ".json")
        self._index: dict[str, tuple[str, int]] = {}
        self._seen: set[str] = set()
        self._arrays: dict[str, np.ndarray] = {}

    # ---------- reading ----------
    def _shard_indexes(self) -> list[Path]:
        return sorted(self.dir.glob("shard-*.json"))

    def refresh(self) -> None:
        """Read the index files of shards written since the last call (by this or any other process)."""
        for idx_path in self._shard_indexes():
            name = idx_path.stem
            if name in self._seen:
                continue
            try:
                meta = json.loads(idx_path.read_text(encoding="utf-8"))
            except (
                FileNotFoundError
            ):  # merged away by a concurrent compact(): its rows live on in the new shard
                continue
            except (OSError, json.JSONDecodeError) as exc:
                raise LmrecError(f"{idx_path}: unreadable cache index ({exc}); remove the file") from None
            self._seen.add(name)
            for row, key in enumerate(meta["keys"]):
                self._index.setdefault(key, (name, row))

    def _array(self, shard: str) -> np.ndarray:
        arr = self._arrays.get(shard)
        if arr is None:
            arr = np.load(self.dir / f"{shard}.npy", mmap_mode="r", allow_pickle=False)
            if arr.ndim != 2 or arr.shape[1] != self.dim or arr.dtype != np.float32:
                raise LmrecError(f"{self.dir / (shard + '.npy')}: wrong shape/dtype {arr.shape} {arr.dtype}")
            self._arrays[shard] = arr
        return arr

    def __len__(self) -> int:
        self.refresh()
        return len(self._index)

    def __contains__(self, key: str) -> bool:
        self.refresh()
        return key in self._index

    def get(self, keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(found, vectors)``: a mask over ``keys`` and the float32 rows of the found ones, in order."""
        for attempt in range(3):
            try:
                return self._get(keys)
            except FileNotFoundError:  # a compaction removed a shard we had indexed: forget and re-read
                if attempt == 2:
                    raise
                self._index.clear()
                self._seen.clear()
                self._arrays.clear()
        raise AssertionError("unreachable")

    def _get(self, keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        self.refresh()
        found = np.zeros(len(keys), dtype=bool)
        where: dict[str, list[tuple[int, int]]] = {}
        for i, k in enumerate(keys):
            loc = self._index.get(k)
            if loc is not None:
                found[i] = True
                where.setdefault(loc[0], []).append((i, loc[1]))
        out = np.empty((len(keys), self.dim), dtype=np.float32)
        for shard, pairs in where.items():
            arr = self._array(shard)
            pos = np.fromiter((p[0] for p in pairs), dtype=np.int64, count=len(pairs))
            rows = np.fromiter((p[1] for p in pairs), dtype=np.int64, count=len(pairs))
            out[pos] = arr[rows]
        return found, out[found]

    # ---------- writing ----------
    def put(self, keys: Sequence[str], vectors: np.ndarray, *, template: str | None = None) -> None:
        """Store new rows as one shard (keys already present are skipped)."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape != (len(keys), self.dim):
            raise ValueError(f"vectors shape {vectors.shape} != ({len(keys)}, {self.dim})")
        self.refresh()
        keep = [i for i, k in enumerate(keys) if k not in self._index]
        keep = list({keys[i]: i for i in keep}.values())  # one row per key
        if not keep:
            return
        new_keys = [keys[i] for i in keep]
        self._write_shard(new_keys, vectors[keep], [template] if template is not None else [])
        if len(self._shard_indexes()) > MAX_SHARDS:
            self.compact()

    def _write_shard(self, keys: list[str], vectors: np.ndarray, templates: list[str]) -> str:
        name = f"shard-{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        _atomic_write_bytes(
            self.dir / f"{name}.npy", lambda fh: np.save(fh, vectors, allow_pickle=False), ".npy"
        )
        body = json.dumps(
            {
                "format": _FORMAT,
                "model_id": self.model_id,
                "dim": self.dim,
                "rows": len(keys),
                "templates": templates,
                "keys": keys,
            }
        ).encode()
        # published last: a reader that sees this index finds the complete .npy next to it
        _atomic_write_bytes(self.dir / f"{name}.json", lambda fh: fh.write(body), ".json")
        return name

    def compact(self) -> None:
        """Merge all shards into one (under an exclusive lock; a no-op where file locks are unavailable)."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: keep the shards
            return
        with open(self.dir / ".compact.lock", "a+b") as lock:
            try:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # another process is compacting right now
                return
            try:
                self._compact_locked()
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def _compact_locked(self) -> None:
        indexes = self._shard_indexes()
        if len(indexes) < 2:
            return
        keys: list[str] = []
        parts: list[np.ndarray] = []
        templates: list[str] = []
        seen: set[str] = set()
        for idx_path in indexes:
            meta = json.loads(idx_path.read_text(encoding="utf-8"))
            arr = np.load(idx_path.with_suffix(".npy"), allow_pickle=False)
            rows = [r for r, k in enumerate(meta["keys"]) if k not in seen]
            seen.update(meta["keys"])
            keys.extend(meta["keys"][r] for r in rows)
            parts.append(arr[rows])
            templates.extend(t for t in meta.get("templates", []) if t not in templates)
        self._write_shard(keys, np.concatenate(parts), templates)
        for idx_path in indexes:  # index first, so no reader starts using a shard that is about to vanish
            idx_path.unlink(missing_ok=True)
        for idx_path in indexes:
            idx_path.with_suffix(".npy").unlink(missing_ok=True)
        self._index.clear()
        self._seen.clear()
        self._arrays.clear()

    def clear(self) -> None:
        """Delete every cached vector of this model."""
        for p in list(self.dir.glob("shard-*")):
            p.unlink(missing_ok=True)
        self._index.clear()
        self._seen.clear()
        self._arrays.clear()


def keys_for(texts: Iterable[str]) -> list[str]:
    """Cache keys of several texts."""
    return [text_key(t) for t in texts]
