"""`lmrec evaluate`: fit/tune/load models, full-ranking table, JSON and report."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lmrec.cli import main
from lmrec.cli.evaluate import parse_ks, parse_model_options, print_table, run_evaluation
from lmrec.data.split import leave_one_out_split
from lmrec.errors import ConfigError
from lmrec.evaluate import evaluate_model, paired_comparison
from lmrec.models.ease import EASE
from lmrec.models.popularity import Popularity
from lmrec.testing import tiny_dataset


@pytest.fixture()
def env(monkeypatch, tmp_path, shared_data):
    monkeypatch.setenv("LMREC_DATA", str(shared_data))
    monkeypatch.setenv("LMREC_CACHE", str(tmp_path / "cache"))
    return tmp_path


def test_option_parsing():
    assert parse_ks("5,10, 20") == (5, 10, 20)
    with pytest.raises(ConfigError):
        parse_ks("ten")
    with pytest.raises(ConfigError):
        parse_ks("0")
    assert parse_model_options(["ease.l2=200", "sasrec.epochs=3"]) == {
        "ease": {"l2": 200},
        "sasrec": {"epochs": 3},
    }
    with pytest.raises(ConfigError, match="model.option"):
        parse_model_options(["l2=200"])


def test_run_evaluation_tunes_fits_and_loads(tmp_path):
    data = tiny_dataset()
    split = leave_one_out_split(data)
    from lmrec.models.ease import EASE

    EASE(l2=7.0).fit(split.train).save(tmp_path / "saved")
    out = run_evaluation(
        data,
        split,
        ["pop", "itemknn", str(tmp_path / "saved")],
        ks=(5, 10),
        tune=True,
        grids={"itemknn": {"k": [5, 10]}},
        model_options={"itemknn": {"shrink": 1.0}},
    )
    assert out["split_hash"] == split.hash and out["dataset"] == "tiny" and "leave-one-out" in out["protocol"]
    res = out["results"]
    assert list(res) == ["pop", "itemknn", "ease:saved"]
    assert res["itemknn"]["params"]["shrink"] == 1.0 and res["itemknn"]["params"]["k"] in (5, 10)
    assert len(res["itemknn"]["trials"]) == 2
    assert res["ease:saved"]["params"]["l2"] == 7.0 and "fit_seconds" not in res["ease:saved"]
    for row in res.values():
        assert 0 <= row["ndcg@10"] <= 1 and row["recall@5"] <= row["recall@10"]
    with pytest.raises(ConfigError, match="not in --models"):
        run_evaluation(data, split, ["pop"], model_options={"ease": {"l2": 1.0}})


def test_cli_ml100k_pop_and_ease(env, capsys):
    js, rep = env / "res.json", env / "report"
    code = main(
        [
            "evaluate",
            "-d",
            "ml-100k",
            "-m",
            "pop,ease",
            "--k",
            "10",
            "--set",
            "ease.l2=100",
            "--json",
            str(js),
            "--report",
            str(rep),
            "--no-progress",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "ease" in out and "ndcg@10" in out
    data = json.loads(js.read_text())
    assert set(data) >= {"protocol", "split_hash", "dataset", "results"}
    ease, pop = data["results"]["ease"], data["results"]["pop"]
    assert set(ease) >= {"ndcg@10", "recall@10", "fit_seconds", "eval_seconds", "params"}
    assert ease["params"]["l2"] == 100
    # REFERENCE-NUMBERS.md: Pop NDCG@10 .0441 / Recall@10 .0848 on ML-100K LOO
    assert pop["recall@10"] == pytest.approx(0.0848, abs=0.001)
    assert ease["ndcg@10"] > pop["ndcg@10"] + 0.02
    page = (rep / "report.html").read_text()
    # both are baselines: the strongest one is the reference, and pop is reliably worse
    verdict_text = "No model is reliably better than ease over 943 test users: the closest, pop, scores -3"
    assert verdict_text in page and "Use ease." in page and verdict_text in out
    assert "Sample recommendations from ease" in page and "Popular with other users" not in page


def test_cli_errors_are_one_line(env, capsys):
    assert main(["evaluate", "-d", "ml-100k", "-m", "nope", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'nope'" in err and err.count("\n") == 1
    assert main(["evaluate", "-d", "ml-100k", "--split", "weird", "--no-progress"]) == 2


def test_run_evaluation_reports_epochs_of_models_trained_epoch_by_epoch():
    data = tiny_dataset()
    split = leave_one_out_split(data)
    opts = {"sasrec": {"epochs": 2, "dim": 8, "layers": 1, "max_len": 8}}
    res = run_evaluation(data, split, ["sasrec", "pop"], ks=(10,), model_options=opts)["results"]
    assert res["sasrec"]["epochs"] == 2 and "epochs" not in res["pop"]
    # the validation column of a model trained epoch by epoch comes from its training record
    assert 0 < res["sasrec"]["valid_ndcg@10"] <= 1 and "valid_ndcg@10" not in res["pop"]


def test_compare_to_adds_a_paired_comparison_with_the_baseline(capsys):
    data = tiny_dataset()
    split = leave_one_out_split(data)
    out = run_evaluation(data, split, ["pop", "ease"], ks=(5, 10), compare_to="pop")
    row = out["results"]["ease"]["paired"]
    assert "paired" not in out["results"]["pop"] and row["baseline"] == "pop" and row["metric"] == "ndcg@10"
    per_user = {}
    for name, model in (("pop", Popularity()), ("ease", EASE())):
        model.fit(split.train, split.valid)
        per_user[name] = evaluate_model(model, split, ks=(10,), stage="test").per_user
    assert np.array_equal(per_user["pop"]["users"], per_user["ease"]["users"])
    want = paired_comparison(per_user["ease"]["ndcg@10"], per_user["pop"]["ndcg@10"])
    assert row["ratio"] == pytest.approx(want.ratio) and row["ratio_ci"] == pytest.approx(want.ratio_ci)
    assert row["ratio"] == pytest.approx(out["results"]["ease"]["ndcg@10"] / out["results"]["pop"]["ndcg@10"])
    print_table(out, (5, 10))
    assert "ndcg@10 / pop [95% CI]" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="--compare-to 'als' is not one of --models"):
        run_evaluation(data, split, ["pop", "ease"], compare_to="als")


def test_every_model_name_is_checked_before_anything_is_fitted(monkeypatch, capsys):
    """Issue 18, finding 12: `-m pop,foo` used to fit and evaluate pop before rejecting foo."""
    from lmrec.cli import evaluate as evaluate_cli

    fitted: list[str] = []
    monkeypatch.setattr(Popularity, "fit", lambda self, *a, **k: fitted.append("pop"))
    data = tiny_dataset()
    with pytest.raises(ConfigError, match="unknown model 'foo'"):
        run_evaluation(data, leave_one_out_split(data), ["pop", "foo"])
    assert fitted == [], "pop was fitted before foo was rejected"
    monkeypatch.setattr(evaluate_cli, "make_split", lambda *a, **k: fitted.append("split"))
    assert main(["evaluate", "-d", "ml-100k", "-m", "pop,foo", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'foo'" in err and err.count("\n") == 1
    assert fitted == [], "the data was split (so models were about to be fitted) before the check"
    assert main(["evaluate", "-d", "ml-100k", "-m", "pop,ease", "--set", "ease.nope=1", "--no-progress"]) == 2
    assert "nope" in capsys.readouterr().err


def test_a_model_the_machine_cannot_fit_is_refused_before_the_others_are_fitted(env, capsys, monkeypatch):
    import lmrec.models.ease as ease_module

    def never(*args, **kwargs):
        raise AssertionError("pop was fitted before EASE's size was checked")

    monkeypatch.setattr(ease_module, "available_memory_bytes", lambda: 1_000_000)
    monkeypatch.setattr(Popularity, "_fit", never)
    assert main(["evaluate", "-d", "ml-100k", "--models", "pop,ease", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert (
        err.count("\n") == 1 and "EASE: 1,682 items need about 34 MB" in err and "1 MB are available" in err
    )
    assert main(["quickstart", "--out", str(env / "qs"), "--baselines", "pop,ease", "--no-progress"]) == 2
    assert "EASE" in capsys.readouterr().err and not (env / "qs" / "model").exists()
