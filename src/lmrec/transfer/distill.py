"""Knowledge distillation of a trained ``textseq`` (the teacher, e.g. a wide full+id model) into a smaller
``textseq`` (the student: fewer layers, narrower, optionally without item IDs).

The student trains on the same windows as usual, with the loss::

    (1 - alpha) * CE(next item)  +  alpha * T^2 * KL( softmax(teacher / T) || softmax(student / T) )

where both score distributions are over the whole catalog, at every position of every training window (the
teacher reads the same input windows, frozen, in eval mode). ``T^2`` keeps the gradient scale of the KL term
comparable across temperatures (Hinton et al. 2015). The student is a plain ``textseq``: it saves, loads,
serves and compresses like any other.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from lmrec.data import Interactions, ItemTable
from lmrec.errors import ConfigError, LmrecError
from lmrec.models.base import FitOptions, Query
from lmrec.models.seqdata import next_item_loss
from lmrec.models.textseq import TextSeq, TextSeqConfig

# what a student may change relative to its teacher's config when derived by :func:`student_config`
ARCH_FIELDS = ("dim", "n_layers", "n_heads", "ffn_mult", "n_experts", "id_fusion", "max_len")


class DistilledTextSeq(TextSeq):
    """A ``textseq`` trained against a teacher's score distribution (saved and loaded as ``textseq``)."""

    name: ClassVar[str] = "textseq"

    def __init__(self, config: TextSeqConfig, teacher: TextSeq, *, temperature: float, alpha: float) -> None:
        super().__init__(config)
        if teacher.module is None:
            raise LmrecError("distill: the teacher is not trained (fit or load it first)")
        if not temperature > 0:
            raise ConfigError(f"option 'temperature': must be > 0, got {temperature}")
        if not 0.0 <= alpha <= 1.0:
            raise ConfigError(f"option 'alpha': must be in [0, 1], got {alpha}")
        if config.loss != "full":
            raise ConfigError("distill: the student needs loss='full' (a KL over the whole catalog)")
        if config.max_len > teacher.config.max_len:
            raise ConfigError(
                f"distill: student max_len {config.max_len} exceeds the teacher's {teacher.config.max_len}"
            )
        self.teacher = teacher
        self.temperature = float(temperature)
        self.alpha = float(alpha)

    def _prepare_module(self, module: Any) -> None:
        if self.teacher.n_items != self.n_items:
            raise LmrecError(
                f"distill: the teacher knows {self.teacher.n_items} items, the training data {self.n_items}"
            )
        self.teacher.module.eval()
        self.teacher.clear_item_cache()
        self.fit_info["distill"] = {
            "temperature": self.temperature,
            "alpha": self.alpha,
            "teacher_parameters": n_parameters(self.teacher.module),
            "student_parameters": n_parameters(module),
            "teacher_config": self.teacher.config.to_dict(),
        }

    def _fingerprint(self, train: Interactions) -> str:
        # a checkpoint of a distillation run must not resume a plain run (or another teacher's)
        import hashlib

        teacher = self.teacher.fit_info.get("train_fingerprint", "") + str(self.teacher.config.to_dict())
        blob = f"{super()._fingerprint(train)}|{self.temperature}|{self.alpha}|{teacher}"
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def _batch_loss(self, inp: Any, tgt: Any, ratings: Any, logq: Any) -> Any:
        import torch
        import torch.nn.functional as F

        mod = self.module
        if self.teacher.module.text.device != inp.device:  # the teacher scores where the student trains
            self.teacher.to(str(inp.device))
        reps = mod.item_reps()
        h = mod.encode(inp, reps)
        sel = tgt >= 0
        student = mod.logits(h[sel], reps)
        with torch.no_grad():
            t_reps = self.teacher.item_representations()
            teacher = self.teacher.module.logits(self.teacher.module.encode(inp, t_reps)[sel], t_reps)
        T = self.temperature
        kl = F.kl_div(
            F.log_softmax(student / T, dim=-1),
            F.log_softmax(teacher / T, dim=-1),
            log_target=True,
            reduction="batchmean",
        )
        loss = self.alpha * T * T * kl
        if self.alpha < 1.0:
            loss = loss + (1.0 - self.alpha) * next_item_loss(student, inp, tgt, sel, self.config)
        if ratings is not None and self.config.has_aux:
            loss = loss + mod.aux_loss(h[sel], reps[tgt[sel]], ratings[sel])
        return loss


def n_parameters(module: Any) -> int:
    """Number of parameters of a torch module (buffers such as the frozen text vectors not counted)."""
    return int(sum(p.numel() for p in module.parameters()))


def student_config(teacher: TextSeq, **changes: Any) -> TextSeqConfig:
    """The teacher's config with architecture ``changes`` (dim, n_layers, n_heads, ...) and training fields.

    ``n_heads`` defaults to the teacher's when it divides the new ``dim``, else 1."""
    data = teacher.config.to_dict()
    data.update({k: v for k, v in changes.items() if v is not None})
    if "n_heads" not in changes or changes["n_heads"] is None:
        heads = int(data.get("n_heads", 1))
        data["n_heads"] = heads if int(data["dim"]) % heads == 0 else 1
    return TextSeqConfig.from_dict(data, source="distill")


def distill(
    teacher: TextSeq,
    train: Interactions,
    valid: Interactions | None,
    student_config: TextSeqConfig,
    *,
    items: ItemTable,
    temperature: float = 2.0,
    alpha: float = 0.5,
    options: FitOptions | None = None,
) -> TextSeq:
    """Train a ``textseq`` student with ``student_config`` against ``teacher`` (see the module docstring).

    ``train``/``valid`` should be the teacher's own training and validation data (a teacher that saw the
    student's test events would leak them). Returns the trained student (a :class:`TextSeq`).
    """
    model = DistilledTextSeq(student_config, teacher, temperature=temperature, alpha=alpha)
    model.fit(train, valid, items=items, options=options or FitOptions())
    return model


def distillation_kl(teacher: TextSeq, student: TextSeq, query: Query, temperature: float = 1.0) -> float:
    """Mean over query rows of KL(softmax(teacher / T) || softmax(student / T)) over the whole catalog."""
    t = teacher.score(query).astype(np.float64) / temperature
    s = student.score(query).astype(np.float64) / temperature
    if t.shape != s.shape:
        raise LmrecError(f"distillation_kl: teacher scores {t.shape} vs student scores {s.shape}")
    log_p = t - _logsumexp(t)
    log_q = s - _logsumexp(s)
    return float(np.mean(np.sum(np.exp(log_p) * (log_p - log_q), axis=1)))


def _logsumexp(x: np.ndarray) -> np.ndarray:
    m = x.max(axis=1, keepdims=True)
    return m + np.log(np.exp(x - m).sum(axis=1, keepdims=True))
