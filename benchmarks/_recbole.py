"""RecBole 1.2.1 glue for the benchmarks (bench venv only; never imported by lmrec).

RecBole 1.2.1 predates numpy 2 and torch 2.6: it uses the removed aliases ``np.float_`` / ``np.float`` /
``np.complex_`` / ``np.unicode_``, loads its best checkpoint with ``torch.load`` defaults that torch >= 2.6
refuses, parses ``sys.argv`` inside ``Config`` and writes ``log/``, ``log_tensorboard/`` and ``saved/`` into
the working directory. Everything here works around that: shims before import, an environment variable for the
checkpoint, an emptied ``sys.argv`` while the config is built, and a scratch folder as working directory.

The data goes in as one atomic ``.inter`` file whose ``timestamp`` column is each event's position in its
user's stable time order (0, 1, 2, ...). RecBole's leave-one-out (``LS: valid_and_test``, order ``TO``) then
reproduces lmrec's split exactly, whatever sort RecBole uses; :func:`prepare` checks that it does.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

DATASET = "bench"


def install_shims() -> None:
    """Aliases that numpy 2 removed and RecBole 1.2.1 still uses; safe to call twice."""
    for name, value in (("float_", np.float64), ("complex_", np.complex128), ("unicode_", np.str_)):
        if name not in np.__dict__:
            setattr(np, name, value)
    if "float" not in np.__dict__:
        np.float = float  # type: ignore[attr-defined]  # RecBole's NDCG uses np.float
    # RecBole's pandas and torch.cuda.amp deprecation noise would bury the table
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"recbole\.")
    # torch >= 2.6 defaults torch.load(weights_only=True); RecBole's checkpoints hold its config object
    os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")


@contextlib.contextmanager
def in_folder(path: Path) -> Iterator[None]:
    """Run with ``path`` as working directory and an empty ``sys.argv`` (RecBole reads both)."""
    old_cwd, old_argv = os.getcwd(), sys.argv
    path.mkdir(parents=True, exist_ok=True)
    os.chdir(path)
    sys.argv = [old_argv[0]]
    try:
        yield
    finally:
        os.chdir(old_cwd)
        sys.argv = old_argv


def write_atomic(folder: Path, user: np.ndarray, item: np.ndarray, position: np.ndarray) -> Path:
    """Write ``folder/bench/bench.inter`` (RecBole atomic format, dense lmrec indices as tokens)."""
    out = folder / DATASET
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{DATASET}.inter"
    with path.open("w", encoding="utf-8") as f:
        f.write("user_id:token\titem_id:token\ttimestamp:float\n")
        for u, i, t in zip(user.tolist(), item.tolist(), position.tolist(), strict=True):
            f.write(f"{u}\t{i}\t{t}\n")
    return path


def base_config(folder: Path, *, epochs: int, seed: int = 0) -> dict[str, Any]:
    """Settings shared by every RecBole run: our data, full ranking, no filtering, CPU."""
    return {
        "data_path": str(folder),
        "dataset": DATASET,
        "USER_ID_FIELD": "user_id",
        "ITEM_ID_FIELD": "item_id",
        "TIME_FIELD": "timestamp",
        "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
        "user_inter_num_interval": "[0,inf)",
        "item_inter_num_interval": "[0,inf)",
        "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "mode": "full", "group_by": "user"},
        "metrics": ["Recall", "NDCG"],
        "topk": [10],
        "valid_metric": "NDCG@10",
        "metric_decimal_place": 6,
        "epochs": epochs,
        "stopping_step": 10,
        "eval_batch_size": 4096,
        "use_gpu": False,
        "device": "cpu",
        "seed": seed,
        "reproducibility": True,
        "show_progress": False,
        "checkpoint_dir": str(folder / "saved"),
        "state": "ERROR",
    }


@dataclass
class RecBoleRun:
    """A trained RecBole model with its data loaders and id maps (RecBole id -> lmrec index)."""

    model: Any
    trainer: Any
    dataset: Any
    train_data: Any
    valid_data: Any
    test_data: Any
    user_of: np.ndarray  # RecBole user id -> lmrec user index (-1 for padding)
    item_of: np.ndarray  # RecBole item id -> lmrec item index (-1 for padding)
    fit_wall: float
    fit_cpu: float


def train(
    folder: Path, model_name: str, config: dict[str, Any], expected_test: set[tuple[int, int]]
) -> RecBoleRun:
    """Build RecBole's dataset from ``folder``, check its test split, train ``model_name``, return the run."""
    install_shims()
    import torch
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import get_model, get_trainer, init_seed

    threads = torch.get_num_threads()
    with in_folder(folder):
        cfg = Config(model=model_name, dataset=DATASET, config_dict=config)
        init_seed(cfg["seed"], cfg["reproducibility"])
        torch.set_num_threads(threads)  # RecBole's init may reset it
        dataset = create_dataset(cfg)
        train_data, valid_data, test_data = data_preparation(cfg, dataset)
        user_of = _token_map(dataset, cfg["USER_ID_FIELD"])
        item_of = _token_map(dataset, cfg["ITEM_ID_FIELD"])
        got = _test_pairs(test_data, user_of, item_of)
        if got != expected_test:
            raise RuntimeError(
                f"RecBole's test split differs from lmrec's: {len(got ^ expected_test)} (user, item) pairs"
            )
        model = get_model(cfg["model"])(cfg, train_data._dataset).to(cfg["device"])
        trainer = get_trainer(cfg["MODEL_TYPE"], cfg["model"])(cfg, model)
        wall, cpu = time.perf_counter(), time.process_time()
        trainer.fit(train_data, valid_data, saved=True, show_progress=False, verbose=False)
        fit_wall, fit_cpu = time.perf_counter() - wall, time.process_time() - cpu
        best = getattr(trainer, "saved_model_file", None)
        if best and Path(best).exists():
            state = torch.load(best, map_location="cpu", weights_only=False)
            model.load_state_dict(state["state_dict"])
            model.load_other_parameter(state.get("other_parameter"))
    model.eval()
    return RecBoleRun(
        model, trainer, dataset, train_data, valid_data, test_data, user_of, item_of, fit_wall, fit_cpu
    )


def _token_map(dataset: Any, field: str) -> np.ndarray:
    tokens = dataset.field2id_token[field]
    return np.array([int(t) if t != "[PAD]" else -1 for t in tokens], dtype=np.int64)


def _test_pairs(test_data: Any, user_of: np.ndarray, item_of: np.ndarray) -> set[tuple[int, int]]:
    """(lmrec user, lmrec item) of every test positive in RecBole's loader (positive_u = row in the batch)."""
    pairs: set[tuple[int, int]] = set()
    for interaction, _, positive_u, positive_i in test_data:
        users = user_of[interaction[test_data.dataset.uid_field].numpy()]
        pairs.update(
            zip(users[positive_u.numpy()].tolist(), item_of[positive_i.numpy()].tolist(), strict=True)
        )
    return pairs


def evaluate_own(run: RecBoleRun) -> tuple[dict[str, float], float]:
    """RecBole's own test evaluation of the trained model: its metrics and wall seconds."""
    import torch

    with torch.no_grad():
        start = time.perf_counter()
        result = run.trainer.evaluate(run.test_data, load_best_model=False, show_progress=False)
        seconds = time.perf_counter() - start
    return {str(k): float(v) for k, v in dict(result).items()}, seconds


def test_scores(run: RecBoleRun, n_users: int, n_items: int) -> np.ndarray:
    """Scores of every lmrec item for every lmrec user with a test item, from ``full_sort_predict``.

    The input is what RecBole's test loader feeds (for sequential models: the train+valid sequence). No item
    is masked here: the caller's evaluation masks the history. Rows of users without a test item are ``nan``.
    """
    import torch

    out = np.full((n_users, n_items), np.nan, dtype=np.float32)
    cols = run.item_of[1:]  # RecBole item id 0 is padding
    with torch.no_grad():
        for interaction, _, _, _ in run.test_data:
            scores = run.model.full_sort_predict(interaction).view(len(interaction), -1).numpy()
            users = run.user_of[interaction[run.test_data.dataset.uid_field].numpy()]
            block = np.full((len(users), n_items), -np.inf, dtype=np.float32)
            block[:, cols] = scores[:, 1:]
            out[users] = block
    return out
