"""Transfer learning: multi-domain pretraining, every adaptation mode, alignment maths, the guard, the report.

Real interaction data (ML-100K and Amazon Magazine as sources, Amazon Gift Cards as target, small subsets,
1-2 epochs). Item vectors come from a hashed bag of words of the real item texts (a vector column), so the
tests do not spend their time budget running a language model; the LM path is the same code after encoding.
"""

from __future__ import annotations

import dataclasses
import zlib

import numpy as np
import pytest

from lmrec.data import Dataset, ItemTable, load_dataset
from lmrec.data.split import Split, leave_one_out_split
from lmrec.errors import ConfigError, LmrecError
from lmrec.models.base import FitOptions, UserBatch
from lmrec.models.textseq import TextSeq, TextSeqConfig
from lmrec.transfer import (
    PretrainConfig,
    Pretrained,
    SourceDomain,
    VectorStats,
    adapt,
    adapt_config,
    coral,
    frechet_distance,
    mmd_rbf,
    pretrain,
    source_weights,
)
from lmrec.transfer.guard import guard

DIM = 48
TINY = dict(
    dim=16, n_layers=1, n_heads=2, n_experts=2, max_len=10, epochs=1, batch_size=64, vector_field="vec"
)


def _hashed_vectors(texts: list[str], dim: int = DIM) -> np.ndarray:
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for row, t in enumerate(texts):
        for tok in t.lower().split():
            h = zlib.crc32(tok.encode())
            out[row, h % dim] += 1.0 if (h >> 16) & 1 else -1.0
        out[row] += 0.01 * np.sin(np.arange(dim) * (row + 1))  # no all-zero rows
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-6)


def _with_vectors(ds: Dataset) -> Dataset:
    frame = ds.items.to_pandas()
    frame["vec"] = list(_hashed_vectors(ds.items.texts()))
    items = ItemTable(
        frame,
        text_fields=ds.items.text_fields,
        numeric_fields=ds.items.numeric_fields,
        categorical_fields=ds.items.categorical_fields,
        vector_fields=(*ds.items.vector_fields, "vec"),
    )
    return dataclasses.replace(ds, items=items)


def _source(name: str, shuffle: bool = False) -> SourceDomain:
    ds = _with_vectors(load_dataset(name))
    if shuffle:  # useless source: every event's item replaced by a random one (no sequential/text signal)
        rng = np.random.default_rng(0)
        inter = ds.interactions
        item = rng.integers(0, inter.n_items, len(inter.item))
        ds = dataclasses.replace(ds, interactions=dataclasses.replace(inter, item=item))
    return SourceDomain(name, ds, leave_one_out_split(ds))


@pytest.fixture(scope="module")
def target(shared_data):
    ds = _with_vectors(load_dataset("amazon-gift-cards"))
    return ds, leave_one_out_split(ds)


@pytest.fixture(scope="module")
def pretrained(shared_data):
    cfg = PretrainConfig(textseq=TextSeqConfig(**{**TINY, "epochs": 2}), max_users=150, valid_users=100)
    return pretrain([_source("ml-100k"), _source("amazon-magazine")], cfg, FitOptions(seed=0))


SHARED_PREFIXES = ("encoder.", "pos.", "ln.", "mask_emb")


def _transformer(state: dict) -> dict:
    return {k: np.array(v) for k, v in state.items() if k.startswith(SHARED_PREFIXES)}


def _module_state(model: TextSeq) -> dict:
    return {k: v.detach().numpy().copy() for k, v in model.module.state_dict().items()}


# -- pretraining ---------------------------------------------------------------------------------------------
def test_pretrain_shapes_domains_and_roundtrip(pretrained, tmp_path):
    assert [d.name for d in pretrained.domains] == ["ml-100k", "amazon-magazine"]
    ml = pretrained.domains[0]
    assert ml.n_items == 1682 and ml.n_users == 150 and ml.stats.mean.shape == (DIM,)
    assert set(ml.metrics) == {"ndcg@10", "recall@10"} and 0 <= ml.metrics["ndcg@10"] <= 1
    assert not {"text", "log_count", "adaptor.mean", "adaptor.zca"} & set(pretrained.weights)
    assert pretrained.weights["adaptor.experts"].shape == (2, DIM, 16)
    hist = pretrained.info["train"]["history"]
    assert len(hist) == 2 and "ml-100k/ndcg@10" in hist[0] and "amazon-magazine/ndcg@10" in hist[0]
    probs = pretrained.info["domain_probabilities"]
    assert probs["ml-100k"] > probs["amazon-magazine"]  # proportional to training windows
    pretrained.save(tmp_path / "pre")
    back = Pretrained.load(tmp_path / "pre")
    assert set(back.weights) == set(pretrained.weights)
    for k, v in pretrained.weights.items():
        np.testing.assert_array_equal(back.weights[k], v)
    np.testing.assert_allclose(back.domains[1].stats.cov, pretrained.domains[1].stats.cov)
    assert "ml-100k" in (tmp_path / "pre" / "README.md").read_text()


def test_pretrain_balanced_sampling_and_errors(shared_data):
    src = _source("amazon-magazine")
    cfg = PretrainConfig(textseq=TextSeqConfig(**TINY), sampling="balanced", max_users=40, valid_users=0)
    pre = pretrain([src, dataclasses.replace(src, name="copy")], cfg)
    assert pre.info["domain_probabilities"] == {"amazon-magazine": 0.5, "copy": 0.5}
    with pytest.raises(ConfigError, match="duplicate"):
        pretrain([src, src], cfg)
    with pytest.raises(ConfigError, match="id_fusion"):
        pretrain([src], cfg.replace(textseq=TextSeqConfig(**TINY, id_fusion=True)))
    with pytest.raises(LmrecError, match="not a pretrained"):
        Pretrained.load(shared_data)


# -- adaptation modes ----------------------------------------------------------------------------------------
def test_zero_shot_uses_no_target_interactions(pretrained, target):
    ds, split = target
    a = adapt(pretrained, ds, split, mode="zero-shot")
    # a different (shuffled) target training set, and none at all, give the very same parameters
    rng = np.random.default_rng(1)
    inter = ds.interactions
    other = dataclasses.replace(inter, item=rng.integers(0, inter.n_items, len(inter.item)))
    b = adapt(
        pretrained,
        ds,
        Split(dataclasses.replace(ds, interactions=other), split.assignment, "x", {}),
        mode="zero-shot",
    )
    c = adapt(pretrained, ds, None, mode="zero-shot")
    sa, sb, sc = _module_state(a), _module_state(b), _module_state(c)
    for k in sa:
        np.testing.assert_array_equal(sa[k], sb[k])
        np.testing.assert_array_equal(sa[k], sc[k])
    # the transformer is the pretrained one; whitening is the target catalog's own
    for k, v in _transformer(pretrained.weights).items():
        np.testing.assert_array_equal(sa[k], v)
    vecs = np.stack(ds.items.frame["vec"].to_list())
    np.testing.assert_allclose(sa["adaptor.mean"], vecs.mean(0), atol=1e-5)
    assert a.fit_info["transfer"]["trainable_parameters"] == 0
    scores = a.score(UserBatch(np.arange(5), split.train.sequences()[:5]))
    assert scores.shape == (5, ds.n_items) and np.isfinite(scores).all()


def test_adaptor_mode_freezes_the_transformer(pretrained, target):
    ds, split = target
    model = adapt(pretrained, ds, split, mode="adaptor", overrides={"epochs": 2, "lr": 3e-3})
    state = _module_state(model)
    for k, v in _transformer(pretrained.weights).items():
        np.testing.assert_array_equal(state[k], v, err_msg=k)
    assert not np.allclose(state["adaptor.experts"], pretrained.weights["adaptor.experts"])
    info = model.fit_info["transfer"]
    assert 0 < info["trainable_parameters"] < info["total_parameters"]
    assert info["trainable_parameters"] == sum(
        v.size for k, v in pretrained.weights.items() if k.startswith("adaptor.")
    )


def test_full_and_full_id_modes_train_everything_and_save_as_textseq(pretrained, target, tmp_path):
    ds, split = target
    full = adapt(pretrained, ds, split, mode="full")
    state = _module_state(full)
    changed = [k for k, v in _transformer(pretrained.weights).items() if not np.allclose(state[k], v)]
    assert any(k.startswith("encoder.") for k in changed)
    plus = adapt(pretrained, ds, split, mode="full+id")
    assert plus.config.id_fusion and _module_state(plus)["id_emb"].shape == (ds.n_items, 16)
    batch = UserBatch(np.arange(4), split.train.sequences()[:4])
    plus.save(tmp_path / "m")
    back = TextSeq.load(tmp_path / "m")
    np.testing.assert_allclose(back.score(batch), plus.score(batch), rtol=1e-5, atol=1e-5)
    assert back.fit_info["transfer"]["mode"] == "full+id"
    with pytest.raises(ConfigError, match="architecture"):
        adapt(pretrained, ds, split, mode="full", overrides={"dim": 32})
    with pytest.raises(ConfigError, match="mode"):
        adapt(pretrained, ds, split, mode="half")
    with pytest.raises(ConfigError, match="needs the target"):
        adapt(pretrained, ds, None, mode="adaptor")
    # the loss options are training fields: the target may train with another loss than the sources did
    cfg = adapt_config(pretrained, "full", {"mask_seen": True, "future_k": 3, "future_weight": 1.0})
    assert (cfg.mask_seen, cfg.future_k, cfg.future_weight, cfg.dim) == (True, 3, 1.0, pretrained.config.dim)


def test_an_anchored_pretraining_hands_the_same_text_path_to_every_target_model(pretrained, target):
    from lmrec.models.textseq.network import anchor_map

    ds, split = target
    cfg = PretrainConfig(textseq=TextSeqConfig(**TINY, text_anchor=1.0), max_users=60, valid_users=0)
    pre = pretrain([_source("amazon-magazine")], cfg, FitOptions(seed=0))
    expected = anchor_map(DIM, 16).numpy()
    np.testing.assert_array_equal(pre.weights["adaptor.anchor"], expected)
    for mode in ("zero-shot", "adaptor", "full"):
        model = adapt(pre, ds, split, mode=mode)
        assert model.config.text_anchor == 1.0
        np.testing.assert_array_equal(_module_state(model)["adaptor.anchor"], expected)
    with pytest.raises(ConfigError, match="architecture"):
        adapt(pre, ds, split, mode="full", overrides={"text_anchor": 0.0})
    # nor can a pretraining without it be adapted into a model with it: the text path is architecture
    with pytest.raises(ConfigError, match="architecture"):
        adapt_config(pretrained, "full", {"text_anchor": 1.0})


def test_alignment_options_change_only_the_whitening(pretrained, target):
    ds, _ = target
    src = pretrained.source_stats()
    none = _module_state(adapt(pretrained, ds, None, mode="zero-shot", align="none"))
    np.testing.assert_allclose(none["adaptor.mean"], src.mean, atol=1e-5)
    cor = _module_state(adapt(pretrained, ds, None, mode="zero-shot", align="coral"))
    np.testing.assert_allclose(cor["text"].mean(0), src.mean, atol=1e-4)


# -- domain statistics ---------------------------------------------------------------------------------------
def test_coral_frechet_mmd_and_source_weights():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 3)) @ np.diag([1.0, 2.0, 0.5])
    src = VectorStats.of(rng.normal(size=(4000, 3)) * 3.0 + 1.0)
    aligned = VectorStats.of(coral(x, src, shrink=0.0))
    np.testing.assert_allclose(aligned.mean, src.mean, atol=1e-6)
    np.testing.assert_allclose(aligned.cov, src.cov, atol=1e-6)
    # 1-d Gaussians: d = (m1 - m2)^2 + (s1 - s2)^2
    a = VectorStats(np.array([0.0]), np.array([[4.0]]), 10)
    b = VectorStats(np.array([3.0]), np.array([[1.0]]), 10)
    assert frechet_distance(a, b) == pytest.approx(9.0 + 1.0)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    assert mmd_rbf(x, x + 3.0) > 10 * mmd_rbf(x[:2000], x[2000:])
    w, drop = source_weights({"near": 1.0, "mid": 2.0, "far": 10.0})
    assert drop == ["far"] and w["near"] > w["mid"] and sum(w.values()) == pytest.approx(1.0)
    pooled = VectorStats.pooled([a, b])
    assert pooled.mean[0] == pytest.approx(1.5) and pooled.cov[0, 0] == pytest.approx(2.5 + 2.25)


# -- the guard -----------------------------------------------------------------------------------------------
def test_guard_keeps_scratch_when_sources_are_useless(target, tmp_path):
    ds, split = target
    cfg = PretrainConfig(textseq=TextSeqConfig(**TINY), max_users=150, valid_users=0)
    junk = pretrain([_source("ml-100k", shuffle=True)], cfg, FitOptions(seed=0))
    # enough epochs for scratch to converge: with few, a junk-pretrained start merely converges faster
    # (measured with the plain loss: full +0.025 +- 0.008 NDCG@10 at 2 epochs, +0.0005 +- 0.007 at 6; with
    # the default loss (mask_seen, future_k 3): +0.011 +- 0.007 at 6 epochs, +0.002 +- 0.007 at 12)
    candidates = ("scratch", "zero-shot", "adaptor", "full")
    res = guard(
        junk,
        ds,
        split,
        candidates=candidates,
        overrides={"epochs": 12, "lr": 3e-3},
        options=FitOptions(seed=0),
    )
    assert res.choice == "scratch"
    assert set(res.metrics) == {"scratch", "zero-shot", "adaptor", "full"}
    assert res.metrics["zero-shot"]["ndcg@10"] < res.metrics["scratch"]["ndcg@10"]
    assert set(res.distances) == {"ml-100k"}
    out = res.save(tmp_path / "chosen")
    card = (out / "README.md").read_text()
    assert "Transfer guard" in card and "**scratch**" in card and "Fréchet" in card
    assert TextSeq.load(out).n_items == ds.n_items


def test_guard_can_return_the_untrained_text_profile(target):
    ds, split = target
    cfg = PretrainConfig(textseq=TextSeqConfig(**TINY), max_users=150, valid_users=0)
    junk = pretrain([_source("ml-100k", shuffle=True)], cfg, FitOptions(seed=0))
    # a scratch model that cannot learn (one epoch at a negligible rate, no text prior) against the text
    # profile
    res = guard(
        junk,
        ds,
        split,
        candidates=("scratch", "content", "pop"),
        overrides={"epochs": 1, "lr": 1e-7, "text_prior": False},
        options=FitOptions(seed=0),
    )
    assert set(res.metrics) == {"scratch", "content", "pop"}
    best = max(res.metrics, key=lambda n: res.metrics[n]["ndcg@10"])
    assert best != "scratch" and res.choice == best
    with pytest.raises(ConfigError, match="candidates"):
        guard(junk, ds, split, candidates=("scratch", "bogus"))


def test_transfer_report_table_and_plot(pretrained, target, tmp_path):
    from lmrec.transfer.experiment import run_transfer_experiment, summarize, write_transfer_report

    ds, split = target
    rows = run_transfer_experiment(
        pretrained,
        ds,
        split,
        [0.0, 0.5],
        [0],
        models=("zero-shot", "content", "adaptor", "pop"),
        overrides={"epochs": 1},
    )
    assert [(r["fraction"], r["model"]) for r in rows] == [
        (0.0, "zero-shot"),
        (0.0, "content"),
        (0.5, "content"),  # the untrained floor at every share
        (0.5, "adaptor"),
        (0.5, "pop"),
    ]
    assert rows[3]["n_train_users"] < len(np.unique(split.train.user))
    assert rows[1]["n_train_users"] == 0 and rows[1]["ndcg@10"] > 0  # content: zero-shot, yet it ranks
    assert rows[2]["ndcg@10"] == rows[1]["ndcg@10"]  # it uses no training interaction
    page = write_transfer_report(rows, tmp_path / "rep", title="t")
    assert (tmp_path / "rep" / "learning_curve.png").stat().st_size > 1000
    text = page.read_text()
    assert "pretrained + adaptor" in text and "content (untrained text profile)" in text
    assert len(summarize(rows)) == 5


def test_cli_errors_are_one_line(tmp_path, capsys):
    from lmrec.cli import main

    assert main(["adapt", str(tmp_path), "--dataset", "ml-100k", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "not a pretrained textseq directory" in err and len(err.strip().splitlines()) == 1
    assert main(["transfer", "--sources", "a", "--target", "b", "--fractions", "x", "-r", str(tmp_path)]) == 2
    assert "--fractions" in capsys.readouterr().err
    bad = ["transfer", "-s", "a", "-t", "b", "--cold-items", "0.9", "-r", str(tmp_path)]
    assert main(bad) == 2 and "--cold-items" in capsys.readouterr().err


def test_transfer_cli_takes_a_target_path_and_writes_json(pretrained, shared_data, tmp_path):
    import json

    from lmrec.cli import main

    pretrained.save(tmp_path / "pre")
    out = tmp_path / "rows.json"
    args = [
        "transfer",
        "--sources",
        "ml-100k",
        "--pretrained",
        str(tmp_path / "pre"),
        "--target",
        str(shared_data / "ml-100k"),
        "--target-format",
        "movielens-100k",
        "--fractions",
        "0.5",
        "--models",
        "pop",
        "--report",
        str(tmp_path / "rep"),
        "--json",
        str(out),
        "--device",
        "cpu",
        "--cold-items",
        "0.1",
    ]
    assert main(args) == 0
    data = json.loads(out.read_text())
    assert [(r["setting"], r["fraction"], r["model"]) for r in data["rows"]] == [
        ("warm", 0.5, "pop"),
        ("cold items", 1.0, "pop"),
    ]
    assert data["rows"][1]["ndcg@10"] == 0.0 and data["setup"]["cold_items"] == 0.1
    assert data["rows"][0]["n_train_users"] == 472  # half of ML-100K's 943 training users
    assert data["setup"]["target"] == str(shared_data / "ml-100k") and data["summary"][0]["n_seeds"] == 1


def test_cold_item_rows_rank_never_trained_items_and_are_reported(pretrained, target, tmp_path):
    """``cold_items``: the rows again on an item cold-start split of the target (a share of its items held
    out of training whole): the test events are those items' only events, so only text can rank them."""
    from lmrec.data.split import item_cold_start_split
    from lmrec.transfer.experiment import (
        format_table,
        run_transfer_experiment,
        summarize,
        write_transfer_report,
    )

    ds, split = target
    logged: list[str] = []
    rows = run_transfer_experiment(
        pretrained,
        ds,
        split,
        [0.5],
        [0],
        models=("zero-shot", "content", "full", "scratch", "pop"),
        overrides={"epochs": 1},
        cold_items=0.2,
        log=logged.append,
    )
    assert any(line.startswith("cold items seed 0 content") for line in logged)
    cold = [r for r in rows if r["setting"] == "cold items"]
    assert [r["model"] for r in cold] == ["zero-shot", "content", "full", "scratch", "pop"]
    assert {r["setting"] for r in rows} == {"warm", "cold items"}
    held = item_cold_start_split(ds, 0.2, 0.2, seed=0)
    train_items = set(held.train.item.tolist())
    assert not train_items & set(held.params["test_items"])  # the rows' split: test items never trained
    by = {r["model"]: r for r in cold}
    assert by["pop"]["ndcg@10"] == 0.0  # popularity of never-seen items is nothing
    assert by["content"]["ndcg@10"] > 0 and by["zero-shot"]["ndcg@10"] > 0  # text ranks them
    assert by["full"]["n_train_users"] == len(np.unique(held.train.user))
    summary = summarize(rows)
    assert sum(r["setting"] == "cold items" for r in summary) == 5
    assert "cold items" in format_table(summary)
    page = write_transfer_report(rows, tmp_path / "rep", title="t")
    assert "cold items" in page.read_text()


def test_a_baseline_the_machine_cannot_fit_is_reported_not_fatal(pretrained, target, tmp_path, monkeypatch):
    """EASE on a catalog whose dense solve does not fit in memory: the experiment's other rows and the
    guard still run; the row says why it is missing (the JSON, the report), and the guard leaves it out."""
    import lmrec.models.ease as ease_module
    from lmrec.transfer.experiment import run_transfer_experiment, summarize, write_transfer_report

    ds, split = target
    monkeypatch.setattr(ease_module, "available_memory_bytes", lambda: 1_000)
    said: list[str] = []
    models = ("scratch", "ease", "pop", "guard")
    rows = run_transfer_experiment(
        pretrained, ds, split, [0.5], [0], models=models, overrides={"epochs": 1}, log=said.append
    )
    assert [(r["model"], "skipped" in r) for r in rows] == [
        ("scratch", False),
        ("ease", True),
        ("pop", False),
        ("guard", False),
    ]
    assert "MB are available" in rows[1]["skipped"] and rows[3]["choice"] in ("scratch", "pop")
    assert any("EASE: skipped" in line for line in said)
    assert [r["model"] for r in summarize(rows)] == ["scratch", "pop", "guard"]
    page = write_transfer_report(rows, tmp_path / "rep", title="t").read_text()
    assert "Not run: EASE" in page
    res = guard(pretrained, ds, split, candidates=("scratch", "ease"), overrides={"epochs": 1})
    assert res.choice == "scratch" and "EASE" in res.model.fit_info["transfer_guard"]["skipped"]["ease"]


def test_a_row_whose_training_the_time_cap_ended_says_so(pretrained, target):
    """``max_seconds`` ends a fit between epochs; the row and its log line say that the cap, not patience,
    stopped it (``lmrec transfer`` caps each target run at 600 s by default)."""
    from lmrec.transfer.experiment import run_transfer_experiment

    ds, split = target
    said: list[str] = []
    kw = {"models": ("scratch",), "log": said.append}
    rows = run_transfer_experiment(
        pretrained, ds, split, [0.5], overrides={"epochs": 50}, max_seconds=1e-3, **kw
    )
    assert rows[0]["stopped_on_time"] is True and "stopped by the time cap" in said[0]
    rows = run_transfer_experiment(pretrained, ds, split, [0.5], overrides={"epochs": 1}, **kw)
    assert "stopped_on_time" not in rows[0] and "time cap" not in said[1]
