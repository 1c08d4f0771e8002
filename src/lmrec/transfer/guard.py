"""The negative-transfer guard: transfer only when it measurably helps on the target's validation data.

:func:`guard` trains/adapts the candidates (``scratch`` textseq, ``zero-shot``, ``adaptor``, ``full``, and the
baselines ``content`` (the untrained text profile), ``pop`` and ``ease``),
evaluates each on the target's validation split by full ranking (per user NDCG@10), and keeps another
candidate only when its paired per-user gain over scratch is significant (one-sided t-test at ``level``,
Bonferroni over the candidates, :func:`choose`); otherwise scratch wins (a tie, noise or a handful of
validation users never lets a possibly harmful transfer through). It also
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
    level: float = 0.05

    def evidence(self) -> dict[str, Any]:
        return {
            "choice": self.choice,
            "level": self.level,
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
            f"Chosen: **{self.choice}** (another candidate is kept only when its paired per-user gain in "
            f"validation NDCG@10 over scratch is significant: one-sided t-test at {self.level:g}, Bonferroni "
            "over the candidates; `needed` is the smallest gain that would have been kept).",
            "",
            "| candidate | valid NDCG@10 | valid Recall@10 | gain vs scratch | s.e. | needed |",
            "|---|---|---|---|---|---|",
        ]
        for name, m in self.metrics.items():
            g = self.gains.get(name, {})
            lines.append(
                f"| {name} | {m['ndcg@10']:.4f} | {m['recall@10']:.4f} | {g.get('gain', 0.0):+.4f} | "
                f"{g.get('se', 0.0):.4f} | {g.get('needed', 0.0):.4f} |"
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
    per_user: dict[str, dict[str, np.ndarray]], level: float = 0.05, base: str = "scratch"
) -> tuple[str, dict[str, dict[str, float]]]:
    """The guard's rule on per-user validation values (``per_user``: candidate -> metric -> values, the same
    users in the same order for every candidate): ``base`` unless another candidate's paired gain in NDCG@10
    is significant in a one-sided paired t-test at ``level``, Bonferroni-corrected for the number of
    candidates tried (Student's t with n - 1 degrees of freedom: nine validation users need a t above 3.0
    among six candidates, a thousand about 2.4); among those, the largest gain. Leaving ``base`` on noise is
    the costly error (a text profile picked on a handful of users can be a third of scratch on test), staying
    is the cheap one. Returns the choice and each candidate's ``{"gain", "se", "needed"}`` against ``base``
    (``needed``: the smallest mean gain that would have been kept)."""
    from scipy.stats import t as student_t

    if not 0.0 < level < 1.0:
        raise ValueError(f"guard: level must be in (0, 1), got {level}")
    ref = per_user[base]["ndcg@10"]
    n = len(ref)
    tried = max(1, len(per_user) - 1)
    # one user gives no spread to test against: nothing can be shown, the base stays
    quantile = float(student_t.ppf(1.0 - level / tried, n - 1)) if n > 1 else float("inf")
    gains: dict[str, dict[str, float]] = {}
    best, best_gain = base, 0.0
    for name, pu in per_user.items():
        diff = pu["ndcg@10"] - ref
        se = float(diff.std(ddof=1) / np.sqrt(n)) if n > 1 else 0.0
        gain = float(diff.mean())
        needed = quantile * se if n > 1 else float("inf")
        gains[name] = {"gain": gain, "se": se, "needed": needed}
        if name != base and gain > needed and gain > 0 and gain > best_gain:
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
    level: float = 0.05,
    options: FitOptions | None = None,
) -> GuardResult:
    """Compare ``candidates`` on the target's validation data and keep the best (see the module docstring).

    ``overrides``: training fields for every candidate (epochs, lr, ...); scratch uses the pretrained
    architecture with the same training fields. ``level``: the one-sided significance level a candidate's
    paired gain over scratch must reach (Bonferroni over the candidates; :func:`choose`).
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
    best, gains = choose(per_user, level)
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
    return GuardResult(best, chosen, metrics, gains, dist, weights, dropped, models, level)
