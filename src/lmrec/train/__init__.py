"""Training: the shared epoch loop (early stopping, checkpoints + resume, progress, seeds)."""

from lmrec.train.loop import LoopConfig, TrainResult, train_loop

__all__ = ["LoopConfig", "TrainResult", "train_loop"]
