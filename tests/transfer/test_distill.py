"""Knowledge distillation of a wide full+id textseq into a small textseq (real ML-100K subset, 1-2 epochs)."""

from __future__ import annotations

import numpy as np
import pytest

from lmrec.errors import ConfigError
from lmrec.models.base import FitOptions
from lmrec.models.textseq import TextSeq
from lmrec.transfer import distill, distillation_kl, student_config
from lmrec.transfer.distill import n_parameters

OPTS = FitOptions(seed=0, threads=1)


@pytest.fixture(scope="module")
def teacher(ml100k_vec_small):
    data, split = ml100k_vec_small
    model = TextSeq(
        dim=32,
        n_layers=2,
        n_heads=2,
        n_experts=2,
        max_len=10,
        batch_size=64,
        vector_field="vec",
        epochs=2,
        lr=3e-3,
        id_fusion=True,
    )
    return model.fit(split.train, split.valid, items=data.items, options=OPTS)


def _student(teacher, data, split, **kw):
    alpha = kw.pop("alpha", 1.0)
    cfg = student_config(teacher, dim=8, n_layers=1, id_fusion=False, **kw)
    return distill(teacher, split.train, split.valid, cfg, items=data.items, alpha=alpha, options=OPTS)


def test_student_is_smaller_moves_toward_the_teacher_and_saves(ml100k_vec_small, teacher, tmp_path):
    data, split = ml100k_vec_small
    student = _student(teacher, data, split, epochs=2, lr=1e-2)
    assert student.config.dim == 8 and student.config.n_layers == 1 and not student.config.id_fusion
    assert n_parameters(student.module) < n_parameters(teacher.module) / 3
    info = student.fit_info["distill"]
    assert info["alpha"] == 1.0 and info["teacher_parameters"] == n_parameters(teacher.module)

    # alpha = 1: the loss is the KL alone, so training brings the student's score distribution toward the
    # teacher's (the same student barely trained, lr 1e-9, is the starting point)
    untrained = _student(teacher, data, split, epochs=1, lr=1e-9)
    users = np.arange(data.n_users)
    kl_trained = distillation_kl(teacher, student, users)
    kl_start = distillation_kl(teacher, untrained, users)
    assert kl_trained < 0.7 * kl_start

    student.save(tmp_path / "student")
    back = TextSeq.load(tmp_path / "student")
    np.testing.assert_allclose(back.score(users[:20]), student.score(users[:20]), rtol=1e-5, atol=1e-6)
    assert back.fit_info["distill"]["temperature"] == 2.0
    assert "## Distillation" in (tmp_path / "student" / "README.md").read_text()


def test_alpha_zero_is_plain_training(ml100k_vec_small, teacher):
    # with alpha = 0 the teacher has no say: the student equals a textseq trained alone (same seed)
    data, split = ml100k_vec_small
    student = _student(teacher, data, split, epochs=1, alpha=0.0)
    alone = TextSeq(student.config).fit(split.train, split.valid, items=data.items, options=OPTS)
    users = np.arange(10)
    np.testing.assert_allclose(student.score(users), alone.score(users), rtol=1e-4, atol=1e-5)


def test_distillation_kl_by_hand():
    class Fixed:
        def __init__(self, scores):
            self.scores = np.asarray(scores, dtype=np.float32)

        def score(self, query):
            return self.scores

    t, s = Fixed([[0.0, np.log(3.0)]]), Fixed([[0.0, 0.0]])  # p = (1/4, 3/4), q = (1/2, 1/2)
    expected = 0.25 * np.log(0.25 / 0.5) + 0.75 * np.log(0.75 / 0.5)
    assert distillation_kl(t, s, [0]) == pytest.approx(expected, rel=1e-5)
    assert distillation_kl(t, t, [0]) == pytest.approx(0.0, abs=1e-7)
    # temperature 2 halves the logits: p = softmax(0, log(3)/2) = (1/(1+sqrt3), sqrt3/(1+sqrt3))
    p = np.array([1.0, np.sqrt(3.0)]) / (1 + np.sqrt(3.0))
    assert distillation_kl(t, s, [0], temperature=2.0) == pytest.approx(
        float(np.sum(p * np.log(p / 0.5))), rel=1e-5
    )


def test_invalid_distillations_are_one_line_errors(ml100k_vec_small, teacher):
    data, split = ml100k_vec_small
    with pytest.raises(ConfigError, match="alpha"):
        _student(teacher, data, split, alpha=1.5)
    with pytest.raises(ConfigError, match="max_len"):
        _student(teacher, data, split, max_len=20)
    with pytest.raises(ConfigError, match="loss='full'"):
        _student(teacher, data, split, loss="sampled")


def test_cli_distill_refuses_a_teacher_that_is_not_textseq(ml100k_vec_small, tmp_path, capsys):
    from lmrec.cli import main
    from lmrec.models.popularity import Popularity

    _, split = ml100k_vec_small
    Popularity().fit(split.train).save(tmp_path / "pop")
    assert main(["distill", str(tmp_path / "pop"), "-d", "ml-100k", "-o", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "must be a textseq model" in err[0]
