"""Meta-learned pretraining (Reptile / first-order MAML), the guard's rule, and the transfer experiment's
meta-full and guard rows. Real data (ML-100K and Amazon Magazine as sources, Gift Cards as target), tiny
models, hashed bag-of-words item vectors (see test_transfer.py)."""

from __future__ import annotations

import numpy as np
import pytest

from lmrec.errors import ConfigError
from lmrec.models.base import FitOptions
from lmrec.models.textseq import TextSeqConfig
from lmrec.transfer import PretrainConfig, Pretrained, pretrain
from lmrec.transfer.guard import choose
from lmrec.transfer.meta import MetaConfig, meta_pretrain
from lmrec.transfer.pretrain import setup_pretraining

from .test_transfer import TINY, _source


@pytest.fixture(scope="module")
def sources(shared_data):
    return [_source("ml-100k"), _source("amazon-magazine")]


CFG = PretrainConfig(
    textseq=TextSeqConfig(**{**TINY, "epochs": 2, "patience": 0}), max_users=120, valid_users=60
)


def _initial_weights(sources) -> dict[str, np.ndarray]:
    su = setup_pretraining(sources, CFG, FitOptions(seed=0))
    return {k: v.detach().numpy().copy() for k, v in su.module.state_dict().items()}


@pytest.mark.parametrize("algorithm", ["reptile", "fomaml"])
def test_meta_pretraining_runs_inner_and_outer_loops_and_changes_the_weights(sources, algorithm, tmp_path):
    mc = MetaConfig(algorithm=algorithm, inner_steps=2, task_users=16)
    lines: list[str] = []
    pre = meta_pretrain(sources, CFG, mc, FitOptions(seed=0), log=lines.append)
    start = _initial_weights(sources)  # the same seed builds the same initial module
    moved = [k for k, v in pre.weights.items() if not np.allclose(v, start[k])]
    assert any(k.startswith("encoder.") for k in moved) and any(k.startswith("adaptor.") for k in moved)
    meta = pre.info["meta"]
    per_task = 2 + (algorithm == "fomaml")
    steps_per_epoch = pre.info["steps_per_epoch"]
    # the same compute as plain pretraining: each epoch spends (about) one epoch's gradient steps
    assert meta["outer_steps_per_epoch"] == max(1, steps_per_epoch // per_task)
    assert meta["gradient_steps"] == 2 * meta["outer_steps_per_epoch"] * per_task <= 2 * steps_per_epoch
    assert len(lines) == 2 and "valid NDCG@10" in lines[0]
    assert {d.name for d in pre.domains} == {"ml-100k", "amazon-magazine"}
    assert all(0 <= d.metrics["ndcg@10"] <= 1 for d in pre.domains)
    back = Pretrained.load(pre.save(tmp_path / algorithm))
    assert back.info["meta"]["algorithm"] == algorithm
    assert all(np.array_equal(back.weights[k], v) for k, v in pre.weights.items())


def test_meta_pretraining_differs_from_plain_and_is_seeded(sources):
    mc = MetaConfig(inner_steps=3, task_users=16)
    a = meta_pretrain(sources, CFG, mc, FitOptions(seed=0))
    b = meta_pretrain(sources, CFG, mc, FitOptions(seed=0))
    plain = pretrain(sources, CFG, FitOptions(seed=0))
    assert all(np.array_equal(a.weights[k], b.weights[k]) for k in a.weights)  # deterministic
    assert not all(np.allclose(a.weights[k], plain.weights[k]) for k in a.weights)
    with pytest.raises(ValueError):
        MetaConfig(algorithm="maml")
    with pytest.raises(ValueError):
        MetaConfig(inner_steps=0)


def test_the_guard_rule_by_hand():
    scratch = np.array([0.0, 0.5, 1.0, 0.5])
    per_user = {
        "scratch": {"ndcg@10": scratch},
        # +0.25 on every user: gain .25, se 0 -> kept
        "full": {"ndcg@10": scratch + 0.25},
        # +1 on one user, 0 elsewhere: gain .25, se = std([1,0,0,0], ddof=1)/2 = .25: t = 1, not significant
        "content": {"ndcg@10": scratch + np.array([1.0, 0, 0, 0])},
        "pop": {"ndcg@10": scratch - 0.1},
    }
    choice, gains = choose(per_user)
    assert choice == "full"
    assert gains["full"] == {"gain": pytest.approx(0.25), "se": pytest.approx(0.0), "needed": 0.0}
    assert gains["content"]["gain"] == pytest.approx(0.25) and gains["content"]["se"] == pytest.approx(0.25)
    assert choose({k: v for k, v in per_user.items() if k != "full"})[0] == "scratch"
    # at a level of 50% over two candidates, t(0.75, df 3) = .765 < 1
    assert choose({k: v for k, v in per_user.items() if k != "full"}, level=0.5)[0] == "content"


def test_transfer_experiment_meta_and_guard_rows(sources, target):
    from lmrec.transfer.experiment import format_table, run_transfer_experiment, summarize

    ds, split = target
    cfg = PretrainConfig(textseq=TextSeqConfig(**TINY), max_users=120, valid_users=60)
    plain = pretrain(sources, cfg, FitOptions(seed=0))
    meta = meta_pretrain(sources, cfg, MetaConfig(inner_steps=2, task_users=16), FitOptions(seed=0))
    models = ("content", "full", "meta-full", "scratch", "pop", "guard")
    rows = run_transfer_experiment(
        plain, ds, split, [0.5], [0], models=models, meta=meta, overrides={"epochs": 1}
    )
    by = {r["model"]: r for r in rows}
    assert list(by) == ["content", "full", "meta-full", "scratch", "pop", "guard"]
    g = by["guard"]
    assert g["choice"] in {"content", "full", "meta-full", "scratch", "pop"}
    assert g["ndcg@10"] == by[g["choice"]]["ndcg@10"]  # the picked row's test numbers
    assert set(g["valid_gains"]) == {"content", "full", "meta-full", "scratch", "pop"}
    assert g["valid_gains"]["scratch"] == {"gain": 0.0, "se": 0.0, "needed": 0.0}
    # the meta row starts from other weights (after one epoch on this tiny target both rankings can be the
    # fitted text-prior gate's and tie, so the test numbers are not compared)
    assert not all(np.allclose(meta.weights[k], plain.weights[k]) for k in meta.weights)
    assert "paired" in by["meta-full"] and "paired" in g
    assert "meta-pretrained + full" in format_table(summarize(rows))
    with pytest.raises(ConfigError, match="meta-full"):
        run_transfer_experiment(plain, ds, split, [0.5], [0], models=("meta-full",))


@pytest.fixture(scope="module")
def target(shared_data):
    from lmrec.data import load_dataset
    from lmrec.data.split import leave_one_out_split

    from .test_transfer import _with_vectors

    ds = _with_vectors(load_dataset("amazon-gift-cards"))
    return ds, leave_one_out_split(ds)


def test_cli_pretrain_meta_and_its_errors(shared_data, tmp_path, capsys):
    import json

    from lmrec.cli import main

    out = tmp_path / "meta"
    args = ["pretrain", "-d", "amazon-magazine", "--out", str(out), "--epochs", "1", "--max-users", "40",
            "--valid-users", "20", "--set", "dim=16", "--set", "n_layers=1", "--set", "n_heads=2",
            "--set", "n_experts=2", "--set", "max_len=10", "--no-progress", "--device", "cpu"]  # fmt: skip
    assert main([*args, "--meta", "fomaml", "--meta-set", "inner_steps=2", "--meta-set", "task_users=8"]) == 0
    info = json.loads((out / "pretrained.json").read_text())["info"]
    assert info["meta"]["algorithm"] == "fomaml" and info["meta"]["inner_steps"] == 2
    capsys.readouterr()
    assert main([*args, "--meta", "maml"]) == 2
    err = capsys.readouterr().err
    assert "--meta" in err and len(err.strip().splitlines()) == 1
    assert main([*args, "--meta-set", "inner_steps=2"]) == 2
    assert "--meta" in capsys.readouterr().err
    assert main([*args, "--meta", "reptile", "--meta-set", "inner_steps=0"]) == 2
    err = capsys.readouterr().err
    assert "inner_steps" in err and len(err.strip().splitlines()) == 1


def test_the_guard_needs_more_than_a_few_users_to_leave_scratch():
    """Nine validation users (ML-100K at 1% of its users, seed 1): the text profile's mean gain over scratch
    was .102 with a standard error of .073, and the old rule (gain > 1 s.e.) took it, for a test NDCG@10 of
    .0187 against scratch's .0559. The values here have that shape (t = 1.2). A one-sided paired t-test at
    5% (t with 8 degrees of freedom, Bonferroni over the candidates) does not leave scratch on that; ten
    times the same evidence does."""
    scratch = np.array([0, 0, 0, 0, 0, 0, 0, 0, 0.5])
    content = np.array([1, 0.63, 0.5, 0, 0, 0, 0, 0, 0])
    per_user = {"scratch": {"ndcg@10": scratch}, "content": {"ndcg@10": content}}
    choice, gains = choose(per_user)
    g = gains["content"]
    assert g["gain"] > g["se"] > 0  # what the old rule took
    assert choice == "scratch"
    assert g["needed"] == pytest.approx(g["se"] * 1.8595, rel=1e-3)  # t(0.95, df 8), one candidate
    tenfold = {k: {"ndcg@10": np.tile(v["ndcg@10"], 10)} for k, v in per_user.items()}
    assert choose(tenfold)[0] == "content"
    one = {k: {"ndcg@10": v["ndcg@10"][:1]} for k, v in per_user.items()}  # one user: nothing can be shown
    assert choose(one)[0] == "scratch" and choose(one)[1]["content"]["needed"] == float("inf")


def test_the_guard_corrects_for_how_many_candidates_it_tries():
    """A gain of 2.2 standard errors over 400 users passes a one-sided 5% test alone (t > 1.65) but not as
    the best of six candidates (Bonferroni: t > 2.40): trying more candidates must not make a pick of noise
    more likely."""
    n = 400
    base = np.linspace(0.0, 1.0, n)
    sign = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    diff = 0.011 + 0.1 * np.sqrt((n - 1) / n) * sign  # mean .011, sample sd .1: t = .011 / (.1 / 20) = 2.2
    per_user = {"scratch": {"ndcg@10": base}, "full": {"ndcg@10": base + diff}}
    choice, gains = choose(per_user)
    assert gains["full"]["gain"] / gains["full"]["se"] == pytest.approx(2.2)
    assert choice == "full"
    worse = {f"other{i}": {"ndcg@10": base - 0.05} for i in range(5)}
    assert choose({**per_user, **worse})[0] == "scratch"
    with pytest.raises(ValueError, match="level"):
        choose(per_user, level=0.0)
