import pytest

from lmrec.data.split import leave_one_out_split
from lmrec.errors import ConfigError, LmrecError
from lmrec.evaluate import evaluate_model
from lmrec.testing import tiny_dataset
from lmrec.tune import DEFAULT_GRIDS, grid_points, tune_model


def test_grid_points_cover_the_product_in_order():
    assert grid_points({}) == [{}]
    pts = grid_points({"a": [1, 2], "b": ["x", "y", "z"]})
    assert len(pts) == 6 and pts[0] == {"a": 1, "b": "x"} and pts[-1] == {"a": 2, "b": "z"}
    with pytest.raises(ConfigError, match="'a'"):
        grid_points({"a": []})
    with pytest.raises(ConfigError, match="'a'"):
        grid_points({"a": "abc"})


def test_tune_picks_the_best_validation_score_without_refitting():
    split = leave_one_out_split(tiny_dataset())
    res = tune_model("ease", split, {"l2": [0.5, 5.0, 500.0]})
    assert len(res.trials) == 3
    best = max(res.trials, key=lambda t: t.score)
    assert res.score == best.score and res.params["l2"] == best.params["l2"]
    # the returned model is the one scored: re-evaluating it on validation gives the same number
    assert evaluate_model(res.model, split, ks=(10,), stage="valid")["ndcg@10"] == pytest.approx(res.score)
    assert res.fit_seconds > 0 and res.tune_seconds >= res.fit_seconds


def test_tune_uses_base_params_and_default_grids():
    split = leave_one_out_split(tiny_dataset())
    res = tune_model("itemknn", split, {"k": [5, 10]}, base_params={"shrink": 3.0})
    assert res.params["shrink"] == 3.0 and res.params["k"] in (5, 10)
    assert set(DEFAULT_GRIDS) >= {"pop", "itemknn", "ease", "als", "bpr", "sasrec"}
    assert tune_model("pop", split).trials[0].params == {}
    with pytest.raises(ConfigError, match="unknown option"):
        tune_model("ease", split, {"lambda": [1.0]})
    with pytest.raises(LmrecError, match="unknown model"):
        tune_model("nope", split)
