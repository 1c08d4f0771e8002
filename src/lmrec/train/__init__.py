"""Training: the shared epoch loop (early stopping, checkpoints + resume, progress, seeds) and its options."""

from lmrec.train.config import LoopConfig, TrainableConfig
from lmrec.train.loop import TrainResult, train_loop

__all__ = ["LoopConfig", "TrainResult", "TrainableConfig", "train_loop"]
