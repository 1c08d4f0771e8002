"""One training config: every trainable model keeps its loop options in ``train: LoopConfig``; flat names
(``--set epochs=...``, tuning grids, model folders saved before the nesting) are still read."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lmrec.data import Interactions
from lmrec.errors import ConfigError
from lmrec.models.base import FitOptions
from lmrec.models.lightgcn import LightGCN, LightGCNConfig
from lmrec.models.sasrec import SASRec, SASRecConfig
from lmrec.models.textseq import TextSeqConfig
from lmrec.train import LoopConfig
from lmrec.transfer.pretrain import PretrainConfig

CONFIGS = [TextSeqConfig, SASRecConfig, LightGCNConfig]


@pytest.mark.parametrize("cls", CONFIGS)
def test_flat_training_names_go_into_train_over_the_model_defaults(cls):
    default = cls().train
    cfg = cls.from_dict({"epochs": 3, "lr": 0.05})
    assert cfg.train == default.replace(epochs=3, lr=0.05)
    assert cfg.replace(patience=2).train == default.replace(epochs=3, lr=0.05, patience=2)
    # a partial nested mapping keeps the model's defaults for the rest
    assert cls.from_dict({"train": {"ema": 0.5}}).train == default.replace(ema=0.5)


@pytest.mark.parametrize("cls", CONFIGS)
def test_new_config_round_trips(cls):
    cfg = cls.from_dict({"train": {"epochs": 4, "weight_decay": 0.01, "validate_every": 2}})
    again = cls.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg and again.train.epochs == 4 and again.train.validate_every == 2
    assert "epochs" not in cfg.to_dict() and cfg.to_dict()["train"]["weight_decay"] == 0.01


def test_per_model_defaults_are_those_of_the_flat_fields_they_replace():
    t = TextSeqConfig().train
    assert (t.epochs, t.lr, t.patience, t.grad_clip) == (100, 1e-3, 20, 5.0)
    s = SASRecConfig().train
    assert (s.epochs, s.lr, s.patience, s.grad_clip) == (200, 3e-3, 20, None)
    g = LightGCNConfig().train
    assert (g.epochs, g.lr, g.patience, g.validate_every, g.grad_clip) == (30, 1e-2, 5, 2, None)


def test_old_sasrec_name_eval_every_is_read():
    assert SASRecConfig.from_dict({"eval_every": 3}).train.validate_every == 3


def test_bad_training_option_names_the_field():
    with pytest.raises(ConfigError, match="train.epochs"):
        TextSeqConfig.from_dict({"epochs": 0}, source="--set")
    with pytest.raises(ConfigError, match="unknown option 'train.epoch'"):
        SASRecConfig.from_dict({"train": {"epoch": 3}})


def test_pretrain_config_nests_too():
    cfg = PretrainConfig.from_dict({"textseq": {"epochs": 3, "dim": 16}})
    assert cfg.textseq.train.epochs == 3 and PretrainConfig.from_dict(cfg.to_dict()) == cfg


def _chain():
    rng = np.random.default_rng(0)
    users, items, times = [], [], []
    for u in range(40):
        start = int(rng.integers(0, 15))
        for t in range(6):
            users.append(u)
            items.append((start + t) % 15)
            times.append(t)
    return Interactions(user=users, item=items, timestamp=times, n_users=40, n_items=15)


def _flatten(config: dict, legacy: dict[str, str]) -> dict:
    """A config as the code before the nesting wrote it: training fields flat (some under old names)."""
    loop = config.pop("train")
    for k in ("epochs", "lr", "weight_decay", "patience", "validate_every", "ema"):
        config[legacy.get(k, k)] = loop[k]
    return config


@pytest.mark.parametrize(
    ("cls", "kw", "legacy"),
    [
        (SASRec, dict(max_len=6, dim=8, layers=1, epochs=2, batch_size=16), {"validate_every": "eval_every"}),
        (LightGCN, dict(dim=8, n_layers=1, epochs=2, batch_size=64), {}),
    ],
)
def test_model_folder_with_flat_old_config_loads_and_scores_the_same(tmp_path, cls, kw, legacy):
    train = _chain()
    model = cls(**kw).fit(train, options=FitOptions(seed=0, threads=1))
    out = model.save(tmp_path / "m")
    meta = json.loads((out / "config.json").read_text())
    if cls is LightGCN:  # LightGCN had no weight_decay or ema fields
        meta["config"] = _flatten(meta["config"], legacy)
        meta["config"].pop("weight_decay")
        meta["config"].pop("ema")
    else:
        meta["config"] = _flatten(meta["config"], legacy)
    (out / "config.json").write_text(json.dumps(meta))
    loaded = cls.load(out)
    assert loaded.config == model.config and isinstance(loaded.config.train, LoopConfig)
    np.testing.assert_allclose(loaded.score([0, 1, 2]), model.score([0, 1, 2]), rtol=1e-6, atol=1e-6)
