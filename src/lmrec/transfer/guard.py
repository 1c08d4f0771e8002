"""The negative-transfer guard: transfer only when it measurably helps on the target's validation data.

:func:`guard` trains/adapts the candidates (``scratch`` textseq, ``zero-shot``, ``adaptor``, ``full``, and the
baselines ``content`` (the untrained text profile), ``pop`` and ``ease``),
evaluates each on the target's validation split by full ranking (per user NDCG@10), and keeps a transfer
candidate only when it beats scratch by more than ``min_gain`` standard errors of the paired per-user
difference; otherwise scratch wins (a tie or noise never lets a possibly harmful transfer through). It also
measures how far each pretraining source's item vectors lie from the target's (Fréchet distance) and turns the
distances into suggested source weights (far sources dropped). The choice and the evidence go into the
chosen model's card (README.md) when it is saved with :meth:`GuardResult.save`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lmrec.data import Dataset
from lmrec.data.split import Split
from lmrec.errors import ConfigError, LmrecError
from lmrec.models.base import FitOptions, UserBatch
from lmrec.models.textseq import TextSeq
from lmrec.transfer.adapt import MODES, adapt, target_distances
from lmrec.transfer.domain import source_weights
from lmrec.transfer.pretrain import Pretrained

CANDIDATES: tuple[str, ...] = ("scratch", "zero-shot", "adaptor", "full", "content", "pop", "ease")
# candidates that use no pretrained weight: the untrained text profile and two interaction baselines
BASELINES: tuple[str, ...] = ("content", "pop", "ease")


@dataclass
class GuardResult:
    """The kept model, its name, and the evidence (validation metrics, paired gains, source distances)."""

    choice: str
    model: Any
    metrics: dict[str, dict[str, float]]
    gains: dict[str, dict[str, float]]
    distances: dict[str, float]
    weights: dict[str, float]
    dropped: list[str]
    models: dict[str, Any] = field(default_factory=dict)

    def evidence(self) -> dict[str, Any]:
        return {
            "choice": self.choice,
            "valid_metrics": self.metrics,
            "paired_gain_vs_scratch": self.gains,
            "source_frechet_distance": self.distances,
            "suggested_source_weights": self.weights,
            "sources_to_drop": self.dropped,
        }

    def card_section(self) -> str:
        lines = [
            "## Transfer guard",
            "",
            f"Chosen: **{self.choice}** (a transfer candidate is kept only when its paired per-user gain in "
            "validation NDCG@10 over scratch exceeds the required number of standard errors).",
            "",
            "| candidate | valid NDCG@10 | valid Recall@10 | gain vs scratch | s.e. |",
            "|---|---|---|---|---|",
        ]
        for name, m in self.metrics.items():
            g = self.gains.get(name, {})
            lines.append(
                f"| {name} | {m['ndcg@10']:.4f} | {m['recall@10']:.4f} | {g.get('gain', 0.0):+.4f} | "
                f"{g.get('se', 0.0):.4f} |"
            )
        lines += ["", "| source | Fréchet distance to target | suggested weight |", "|---|---|---|"]
        for name, d in self.distances.items():
            w = self.weights.get(name)
            lines.append(f"| {name} | {d:.4f} | {'dropped' if w is None else f'{w:.3f}'} |")
        return "\n".join(lines) + "\n"

    def save(self, path: str | Path) -> Path:
        """Save the chosen model (a textseq directory) with the guard's evidence in its card and in
        ``transfer_guard.json``."""
        out = Path(self.model.save(path))
        card = out / "README.md"
        text = card.read_text(encoding="utf-8") if card.is_file() else ""
        card.write_text(text.rstrip() + "\n\n" + self.card_section(), encoding="utf-8")
        (out / "transfer_guard.json").write_text(json.dumps(self.evidence(), indent=2), encoding="utf-8")
        return out


def per_user_valid(model: Any, split: Split, batch_size: int = 256) -> dict[str, np.ndarray]:
    """Per-user NDCG@10 / Recall@10 on the validation stage (history = training sequence, masked)."""
    from lmrec.metrics import target_metrics
    from lmrec.models.textseq import last_event_per_user

    hist = split.train.sequences()
    users, targets = last_event_per_user(split.valid)
    keep = np.array([u < len(hist) and len(hist[u]) > 0 for u in users], dtype=bool)
    users, targets = users[keep], targets[keep]
    if not len(users):
        raise LmrecError("guard: no validation user has a training history")
    out: dict[str, list[np.ndarray]] = {}
    for s in range(0, len(users), batch_size):
        u = users[s : s + batch_size]
        hs = [hist[x] for x in u]
        scores = np.array(model.score(UserBatch(u, hs)), dtype=np.float64)
        for row, h in enumerate(hs):
            scores[row, h] = -np.inf
        for k, v in target_metrics(scores, targets[s : s + batch_size], ks=(10,)).items():
            out.setdefault(k, []).append(v)
    return {k: np.concatenate(v) for k, v in out.items()}


def choose(
    per_user: dict[str, dict[str, np.ndarray]], min_gain: float = 1.0, base: str = "scratch"
) -> tuple[str, dict[str, dict[str, float]]]:
    """The guard's rule on per-user validation values (``per_user``: candidate -> metric -> values, the same
    users in the same order for every candidate): ``base`` unless another candidate's mean paired gain in
    NDCG@10 is positive and above ``min_gain`` standard errors; among those, the largest gain. Returns the
    choice and each candidate's ``{"gain", "se"}`` against ``base``."""
    ref = per_user[base]["ndcg@10"]
    gains: dict[str, dict[str, float]] = {}
    best, best_gain = base, 0.0
    for name, pu in per_user.items():
        diff = pu["ndcg@10"] - ref
        se = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else 0.0
        gain = float(diff.mean())
        gains[name] = {"gain": gain, "se": se}
        if name != base and gain > min_gain * se and gain > 0 and gain > best_gain:
            best, best_gain = name, gain
    return best, gains


def guard(
    pretrained: Pretrained,
    dataset: Dataset,
    split: Split,
    *,
    candidates: tuple[str, ...] = CANDIDATES,
    overrides: dict[str, Any] | None = None,
    align: str = "whiten",
    min_gain: float = 1.0,
    options: FitOptions | None = None,
) -> GuardResult:
    """Compare ``candidates`` on the target's validation data and keep the best (see the module docstring).

    ``overrides``: training fields for every candidate (epochs, lr, ...); scratch uses the pretrained
    architecture with the same training fields. ``min_gain``: standard errors a transfer candidate's paired
    gain must exceed.
    """
    from lmrec.models.textvec import item_vectors_for

    options = options or FitOptions()
    known = ("scratch", *MODES, *BASELINES)
    bad = [c for c in candidates if c not in known]
    if bad or "scratch" not in candidates:
        raise ConfigError(f"guard: candidates must include 'scratch' and be among {known}")
    models: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    for name in candidates:
        if name == "scratch":
            cfg = pretrained.config.replace(**(overrides or {}))
            models[name] = TextSeq(cfg).fit(split.train, split.valid, items=dataset.items, options=options)
        elif name == "content":
            from lmrec.models.content import ContentRecommender

            pc = pretrained.config
            models[name] = ContentRecommender(
                encoder=pc.encoder, template=pc.template, vector_field=pc.vector_field, cache_dir=pc.cache_dir
            ).fit(split.train, items=dataset.items, options=options)
        elif name in BASELINES:
            from lmrec.models import model_class, too_large

            why = too_large(name, split.train.n_users, dataset.n_items)
            if why is not None:  # a baseline this machine cannot fit (EASE's memory): left out
                skipped[name] = why
                continue
            models[name] = model_class(name)().fit(
                split.train, split.valid, items=dataset.items, options=options
            )
        else:
            models[name] = adapt(
                pretrained, dataset, split, mode=name, align=align, overrides=overrides, options=options
            )
    per_user = {name: per_user_valid(m, split) for name, m in models.items()}
    metrics = {n: {k: float(v.mean()) for k, v in pu.items()} for n, pu in per_user.items()}
    best, gains = choose(per_user, min_gain)
    cfg = pretrained.config
    vecs, _, _ = item_vectors_for(dataset.items, dataset.n_items, cfg)
    dist = target_distances(pretrained, vecs)
    weights, dropped = source_weights(dist)
    chosen = models[best]
    chosen.fit_info["transfer_guard"] = {
        "choice": best,
        "valid_ndcg@10": {n: m["ndcg@10"] for n, m in metrics.items()},
        **({"skipped": skipped} if skipped else {}),
    }
    return GuardResult(best, chosen, metrics, gains, dist, weights, dropped, models)
