"""Multi-domain pretraining of ``textseq``: one causal transformer and one shared MoE adaptor trained on
several source domains at once, each domain with its own whitening statistics and its own item catalog.

A batch mixes training windows of several domains; each row is scored only against the catalog of its own
domain (full softmax over that catalog). Domains are sampled ``proportional`` to their number of training
windows or ``balanced`` (equally often), optionally re-weighted
(:func:`lmrec.transfer.domain.source_weights`).
Validation is per domain (leave-one-out NDCG@10 over the domain's catalog); the loop monitors their mean.

The result (:class:`Pretrained`) is a directory: ``pretrained.json`` (config, domains, training history),
``weights.safetensors`` (the shared adaptor + transformer weights, no catalog), ``domains.safetensors`` (each
source's item-vector mean/covariance, used to compare a target with the sources) and a model card README.md.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from lmrec.config import BaseConfig
from lmrec.data import Dataset
from lmrec.data.split import Split
from lmrec.errors import ConfigError, LmrecError
from lmrec.models.base import FitOptions
from lmrec.models.seqdata import next_item_loss
from lmrec.models.textseq import TextSeqConfig
from lmrec.transfer.domain import VectorStats, zca

# state-dict entries that belong to one catalog, not to the shared pretrained weights
CATALOG_KEYS = ("text", "log_count", "adaptor.mean", "adaptor.zca")
_EMPTY_SPEC: dict[str, Any] = {"numeric": [], "categorical": {}, "vector": {}}


class PretrainConfig(BaseConfig):
    """Options of :func:`pretrain`: the ``textseq`` architecture/training config and the domain mixing.

    ``sampling``: ``proportional`` (to each domain's training windows) or ``balanced``; ``weights``
    multiplies those probabilities per domain name. ``valid_users``: validation users per domain (seeded
    subset; 0 = all). ``max_users``: training users per domain (seeded subset; for quick runs and tests).
    """

    textseq: TextSeqConfig = Field(default_factory=TextSeqConfig)
    sampling: Literal["proportional", "balanced"] = "proportional"
    weights: dict[str, float] = Field(default_factory=dict)
    valid_users: int = Field(1000, ge=0)
    max_users: int | None = Field(None, ge=2)


@dataclass
class SourceDomain:
    """A pretraining source: its name, dataset and split (train part used; valid part for validation)."""

    name: str
    dataset: Dataset
    split: Split


@dataclass
class DomainInfo:
    """What the pretrained model keeps of one source domain."""

    name: str
    n_users: int
    n_items: int
    n_windows: int
    stats: VectorStats
    metrics: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "n_users": self.n_users,
            "n_items": self.n_items,
            "n_windows": self.n_windows,
            "metrics": self.metrics,
        }


@dataclass
class Pretrained:
    """A pretrained transformer + shared adaptor (:func:`pretrain`), for :func:`lmrec.transfer.adapt`."""

    config: TextSeqConfig
    weights: dict[str, np.ndarray]
    domains: list[DomainInfo]
    info: dict[str, Any] = field(default_factory=dict)

    def source_stats(self, weights: dict[str, float] | None = None) -> VectorStats:
        """The pooled item-vector statistics of the sources (optionally weighted by name)."""
        doms = [d for d in self.domains if weights is None or weights.get(d.name, 0) > 0]
        w = [d.stats.n * (weights or {}).get(d.name, 1.0) for d in doms]
        return VectorStats.pooled([d.stats for d in doms], w)

    def n_parameters(self) -> int:
        return int(sum(v.size for v in self.weights.values()))

    def save(self, path: str | Path) -> Path:
        """Write the pretrained model directory (see the module docstring)."""
        from lmrec.saved import write_saved

        stats: dict[str, np.ndarray] = {}
        for d in self.domains:
            stats[f"{d.name}.mean"] = d.stats.mean.astype(np.float64)
            stats[f"{d.name}.cov"] = d.stats.cov.astype(np.float64)
            stats[f"{d.name}.n"] = np.array([d.stats.n], dtype=np.int64)
        meta = {
            "kind": "lmrec-pretrained-textseq",
            "config": self.config.to_dict(),
            "domains": [d.to_dict() for d in self.domains],
            "info": self.info,
        }
        arrays = {"weights.safetensors": self.weights, "domains.safetensors": stats}
        return write_saved(path, meta_file="pretrained.json", meta=meta, arrays=arrays, card=_card(self))

    @classmethod
    def load(cls, path: str | Path) -> Pretrained:
        """Read a directory written by :meth:`save` (one-line error when it is not one)."""
        from lmrec.saved import read_arrays, read_meta

        p = Path(path)
        meta_file = p / "pretrained.json"
        meta = read_meta(p, "pretrained.json", what="a pretrained textseq directory")
        if meta.get("kind") != "lmrec-pretrained-textseq":
            raise LmrecError(f"{meta_file}: not a pretrained textseq (kind {meta.get('kind')!r})")
        cfg = TextSeqConfig.from_dict(meta["config"], source=str(meta_file))
        weights = read_arrays(p / "weights.safetensors", noun="the pretrained weights")
        stats = read_arrays(p / "domains.safetensors", noun="the domain statistics")
        domains = []
        for d in meta["domains"]:
            n = d["name"]
            vs = VectorStats(stats[f"{n}.mean"], stats[f"{n}.cov"], int(stats[f"{n}.n"][0]))
            domains.append(
                DomainInfo(n, d["n_users"], d["n_items"], d["n_windows"], vs, dict(d.get("metrics", {})))
            )
        return cls(cfg, dict(weights), domains, dict(meta.get("info", {})))


def load_source(spec: str, **options: Any) -> SourceDomain:
    """A source from a dataset name (``amazon-beauty``) or ``path[:format]``, read with the loader's
    ``options``; its own fixed split when it has one, else leave-one-out by time."""
    from lmrec.data import load_dataset
    from lmrec.data.split import fixed_split, leave_one_out_split

    name, fmt = spec, None
    if ":" in spec and not Path(spec).exists():
        name, fmt = spec.rsplit(":", 1)
    ds = load_dataset(name, fmt, **options)
    split = fixed_split(ds) if ds.fixed_split is not None else leave_one_out_split(ds)
    label = ds.name if name.endswith(".toml") else Path(name).name if Path(name).exists() else name
    return SourceDomain(label, ds, split)


@dataclass
class PreparedDomain:
    """One source ready for training: its catalog (raw and whitened text vectors), training windows (with the
    user each window belongs to), validation users and targets, vector statistics and data fingerprint."""

    name: str
    text: Any  # torch (n_items, text_dim)
    white: Any  # whitened text
    histories: list[np.ndarray]
    inputs: np.ndarray
    targets: np.ndarray
    window_user: np.ndarray
    val_users: np.ndarray
    val_targets: np.ndarray
    stats: VectorStats
    n_users: int
    fingerprint: str


def prepare_domain(src: SourceDomain, cfg: PretrainConfig, seed: int) -> PreparedDomain:
    """Item vectors, whitening, training windows and validation targets of one source (see
    :class:`PretrainConfig` for the user subsets)."""
    import torch

    from lmrec.models.seqdata import training_windows
    from lmrec.models.textseq import last_event_per_user
    from lmrec.models.textvec import item_vectors_for

    tc = cfg.textseq
    ds = src.dataset
    vecs, _, _ = item_vectors_for(ds.items, ds.n_items, tc)
    train = src.split.train
    hist = train.sequences()
    rng = np.random.default_rng(seed)
    users = np.array([u for u, h in enumerate(hist) if len(h) >= 2], dtype=np.int64)
    if cfg.max_users is not None and len(users) > cfg.max_users:
        users = np.sort(rng.choice(users, cfg.max_users, replace=False))
    # each user's windows apart, so that every window knows its user (meta-learning's tasks are user groups)
    per_user = [training_windows([hist[u]], tc.max_len) for u in users]
    if not any(len(w[0]) for w in per_user):
        raise LmrecError(f"pretrain: source '{src.name}' has no user with two or more training events")
    inputs = np.concatenate([w[0] for w in per_user])
    targets = np.concatenate([w[1] for w in per_user])
    window_user = np.repeat(users, [len(w[0]) for w in per_user])
    vu, vt = last_event_per_user(src.split.valid) if len(src.split.valid) else (np.zeros(0, np.int64),) * 2
    ok = np.array([len(hist[u]) > 0 for u in vu], dtype=bool) if len(vu) else np.zeros(0, bool)
    if cfg.max_users is not None:
        ok &= np.isin(vu, users)
    vu, vt = vu[ok], vt[ok]
    if cfg.valid_users and len(vu) > cfg.valid_users:
        pick = np.sort(rng.choice(len(vu), cfg.valid_users, replace=False))
        vu, vt = vu[pick], vt[pick]
    stats = VectorStats.of(vecs)
    text = torch.from_numpy(np.ascontiguousarray(vecs, dtype=np.float32))
    if tc.whitening:
        w = torch.from_numpy(zca(stats).astype(np.float32))
        white = (text - torch.from_numpy(stats.mean.astype(np.float32))) @ w
    else:
        white = text
    fp = hashlib.sha256((train.fingerprint() + str(users.tobytes())).encode()).hexdigest()[:16]
    return PreparedDomain(
        src.name, text, white, hist, inputs, targets, window_user, vu, vt, stats, len(users), fp
    )


@dataclass
class PretrainSetup:
    """What every pretraining algorithm starts from: the prepared sources on the device, the module (built
    from the first source's catalog), each domain's windows as device tensors, the domain sampling
    probabilities, the number of steps of one epoch (all windows once) and the run's fingerprint."""

    config: PretrainConfig
    domains: list[PreparedDomain]
    module: Any
    windows: list[tuple[Any, Any]]
    sizes: np.ndarray
    prob: np.ndarray
    steps_per_epoch: int
    device: Any
    fingerprint: str
    started: float

    def loss(self, k: int, inputs: Any, targets: Any) -> tuple[Any, int]:
        """Mean next-item loss of windows of domain ``k`` over its own catalog, and the target count."""
        tc = self.config.textseq
        d = self.domains[k]
        reps = self.module.adaptor(d.text, whitened=d.white)  # this domain's catalog only
        h = self.module.encode(inputs, reps)
        sel = targets >= 0
        return next_item_loss(self.module.logits(h[sel], reps), inputs, targets, sel, tc), int(sel.sum())

    def validate(self) -> dict[str, float]:
        """Per-domain validation NDCG/Recall@10 and their unweighted means (``ndcg@10``, ``recall@10``: a
        small domain counts as much as a big one)."""
        out: dict[str, float] = {}
        ok = [d for d in self.domains if len(d.val_users)]
        for d in ok:
            for k, v in self._validate_domain(d).items():
                out[f"{d.name}/{k}"] = v
        for key in ("ndcg@10", "recall@10"):
            out[key] = float(np.mean([out[f"{d.name}/{key}"] for d in ok]))
        return out

    @property
    def has_validation(self) -> bool:
        return any(len(d.val_users) for d in self.domains)

    def _validate_domain(self, d: PreparedDomain, batch_size: int = 256) -> dict[str, float]:
        import torch

        from lmrec.metrics import target_metrics
        from lmrec.models.seqdata import pad_histories

        tc, module = self.config.textseq, self.module
        sums: dict[str, float] = {}
        reps = module.adaptor(d.text, whitened=d.white)
        for s in range(0, len(d.val_users), batch_size):
            hists = [d.histories[u] for u in d.val_users[s : s + batch_size]]
            padded, lengths = pad_histories(hists, tc.max_len)
            padded_t = torch.from_numpy(padded).to(self.device)
            states = module.user_states(padded_t, torch.from_numpy(lengths).to(self.device), reps)
            scores = module.logits(states, reps).cpu().numpy()
            for row, h in enumerate(hists):
                scores[row, h] = -np.inf
            for key, v in target_metrics(scores, d.val_targets[s : s + batch_size], ks=(10,)).items():
                sums[key] = sums.get(key, 0.0) + float(v.sum())
        return {k: v / len(d.val_users) for k, v in sums.items()}

    def finish(self, train: dict[str, Any], options: FitOptions, **info: Any) -> Pretrained:
        """The :class:`Pretrained` result of the trained module (its final validation per domain, the shared
        weights without any catalog, and ``info``)."""
        import torch

        from lmrec.device import amp_dtype, describe

        self.module.eval()
        final: dict[str, float] = {}
        if self.has_validation:
            with torch.no_grad():
                final = self.validate()
        infos = []
        for d, size in zip(self.domains, self.sizes, strict=True):
            m = {k.split("/", 1)[1]: v for k, v in final.items() if k.startswith(f"{d.name}/")}
            infos.append(DomainInfo(d.name, d.n_users, int(len(d.text)), int(size), d.stats, m))
        weights = {
            k: v.detach().cpu().numpy().copy()
            for k, v in self.module.state_dict().items()
            if k not in CATALOG_KEYS
        }
        meta = {
            "train": train,
            "sampling": self.config.sampling,
            "domain_probabilities": {d.name: float(p) for d, p in zip(self.domains, self.prob, strict=True)},
            # next-item targets per epoch (each window target once): with the train seconds, events/s
            "train_events_per_epoch": int(sum(int((d.targets >= 0).sum()) for d in self.domains)),
            "steps_per_epoch": self.steps_per_epoch,
            **info,
            "seconds": round(time.perf_counter() - self.started, 2),
            "seed": options.seed,
            "device": describe(self.device, amp_dtype(self.device, options.precision)),
        }
        return Pretrained(self.config.textseq, weights, infos, meta)


def setup_pretraining(
    sources: list[SourceDomain], config: PretrainConfig, options: FitOptions, *, extra: str = ""
) -> PretrainSetup:
    """Check the sources and options, prepare every source and build the module on the options' device
    (threads and seed set); ``extra`` joins the run's fingerprint (an algorithm's own settings)."""
    import torch

    from lmrec.device import options_device
    from lmrec.models.textseq.network import TextSeqModule
    from lmrec.train.loop import sensible_threads

    cfg, tc = config, config.textseq
    t0 = time.perf_counter()
    device = options_device(options)
    if not sources:
        raise ConfigError("pretrain: give at least one source domain")
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise ConfigError(f"pretrain: duplicate source names {names}")
    if tc.id_fusion or tc.features or tc.finetune_encoder:
        raise ConfigError("pretrain: id_fusion, features and finetune_encoder are per-domain; leave them off")
    if tc.has_aux:
        # the rating/sentiment heads train during adaptation (lmrec adapt --set aux_rating_weight=...)
        raise ConfigError("pretrain: auxiliary rating/sentiment heads are trained per target; leave them off")
    unknown = set(cfg.weights) - set(names)
    if unknown:
        raise ConfigError(f"pretrain: option 'weights' names unknown sources {sorted(unknown)}")
    torch.set_num_threads(sensible_threads(options.threads))
    torch.manual_seed(options.seed)
    doms = [prepare_domain(s, cfg, options.seed) for s in sources]
    dims = {int(d.text.shape[1]) for d in doms}
    if len(dims) != 1:
        raise LmrecError(f"pretrain: sources have item vectors of different widths {sorted(dims)}")
    first = doms[0]
    module = TextSeqModule.build(
        tc, first.text.numpy(), np.zeros(len(first.text), np.float32), {}, dict(_EMPTY_SPEC)
    ).to(device)
    # each domain's catalog and training windows go to the device once
    for d in doms:
        d.text, d.white = d.text.to(device), d.white.to(device)
    windows = [(torch.from_numpy(d.inputs).to(device), torch.from_numpy(d.targets).to(device)) for d in doms]
    sizes = np.array([len(d.inputs) for d in doms], dtype=np.float64)
    prob = sizes.copy() if cfg.sampling == "proportional" else np.ones(len(doms))
    prob *= np.array([cfg.weights.get(d.name, 1.0) for d in doms])
    if prob.sum() <= 0:
        raise ConfigError("pretrain: option 'weights' gives every source zero weight")
    prob /= prob.sum()
    n_batches = max(1, int(np.ceil(sizes.sum() / tc.batch_size)))
    blob = (
        json.dumps(cfg.to_dict(), sort_keys=True, default=str) + "".join(d.fingerprint for d in doms) + extra
    )
    fp = hashlib.sha256(blob.encode()).hexdigest()[:16]
    return PretrainSetup(cfg, doms, module, windows, sizes, prob, n_batches, device, fp, t0)


def pretrain(
    sources: list[SourceDomain],
    config: PretrainConfig | None = None,
    options: FitOptions | None = None,
) -> Pretrained:
    """Pretrain one ``textseq`` transformer + shared adaptor on ``sources`` (see the module docstring)."""
    import torch

    from lmrec.train.loop import train_loop

    cfg = config or PretrainConfig()
    options = options or FitOptions()
    tc = cfg.textseq
    su = setup_pretraining(sources, cfg, options)
    doms, windows = su.domains, su.windows

    def batches(epoch: int, rng: np.random.Generator) -> Any:
        orders = [rng.permutation(len(d.inputs)) for d in doms]
        cursors = [0] * len(doms)
        for _ in range(su.steps_per_epoch):
            counts = rng.multinomial(tc.batch_size, su.prob)
            parts = []
            for k, c in enumerate(counts):
                if c == 0:
                    continue
                if cursors[k] + c > len(orders[k]):  # this domain is exhausted: a new pass over it
                    orders[k], cursors[k] = rng.permutation(len(doms[k].inputs)), 0
                rows = torch.from_numpy(orders[k][cursors[k] : cursors[k] + c]).to(su.device)
                cursors[k] += c
                parts.append((k, windows[k][0][rows], windows[k][1][rows]))
            yield parts

    def step(parts: Any) -> Any:
        total, n = 0.0, 0
        for k, inp, tgt in parts:
            loss, n_sel = su.loss(k, inp, tgt)
            total, n = total + n_sel * loss, n + n_sel
        return total / max(n, 1)

    result = train_loop(
        su.module,
        batches=batches,
        step=step,
        validate=su.validate if su.has_validation else None,
        config=tc.train,
        options=options,
        fingerprint=su.fingerprint,
    )
    return su.finish(result.to_dict(), options)


def _card(p: Pretrained) -> str:
    lines = [
        "# Pretrained textseq (multi-domain)",
        "",
        f"Transformer + shared MoE adaptor, {p.n_parameters():,} parameters; per-domain whitening.",
        f"Config: dim {p.config.dim}, layers {p.config.n_layers}, heads {p.config.n_heads}, "
        f"experts {p.config.n_experts}, max_len {p.config.max_len}, encoder {p.config.encoder}.",
        "",
        "| source | users | items | windows | sampling p | valid NDCG@10 | valid Recall@10 |",
        "|---|---|---|---|---|---|---|",
    ]
    probs = p.info.get("domain_probabilities", {})
    for d in p.domains:
        lines.append(
            f"| {d.name} | {d.n_users} | {d.n_items} | {d.n_windows} | "
            f"{probs.get(d.name, float('nan')):.3f} | "
            f"{d.metrics.get('ndcg@10', float('nan')):.4f} | {d.metrics.get('recall@10', float('nan')):.4f} |"
        )
    tr = p.info.get("train", {})
    lines += [
        "",
        f"Training: {tr.get('epochs_run')} epochs, best {tr.get('best_epoch')} "
        f"(mean valid NDCG@10 {tr.get('best_metric')}), {p.info.get('seconds')} s.",
        "",
        "Adapt with `lmrec adapt DIR --dataset TARGET --mode zero-shot|adaptor|full|full+id --out OUT`.",
    ]
    return "\n".join(lines) + "\n"
