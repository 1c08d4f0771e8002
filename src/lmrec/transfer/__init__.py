"""Transfer learning across domains for ``textseq``: multi-domain pretraining, adaptation to a target
(zero-shot / adaptor / full / full+id), domain alignment (whitening, CORAL, distances) and the
negative-transfer guard; knowledge distillation into a smaller student. Imported on use (torch is only
imported when training)."""

from lmrec.transfer.adapt import MODES, AdaptedTextSeq, adapt, adapt_config, target_distances
from lmrec.transfer.distill import DistilledTextSeq, distill, distillation_kl, student_config
from lmrec.transfer.domain import VectorStats, coral, frechet_distance, mmd_rbf, source_weights, zca
from lmrec.transfer.pretrain import PretrainConfig, Pretrained, SourceDomain, load_source, pretrain

__all__ = [
    "MODES",
    "AdaptedTextSeq",
    "DistilledTextSeq",
    "PretrainConfig",
    "Pretrained",
    "SourceDomain",
    "VectorStats",
    "adapt",
    "adapt_config",
    "coral",
    "distill",
    "distillation_kl",
    "frechet_distance",
    "load_source",
    "mmd_rbf",
    "pretrain",
    "source_weights",
    "student_config",
    "target_distances",
    "zca",
]
