"""SmoothQuant smoothing of the ONNX export: the fp32 function is unchanged, the activation ranges are evened
out; the int8 file built from it (smoothed, per-token scales) is closer to fp32 than the previous recipe's and
independent of the batch, and its cache name follows the recipe (a changed recipe never reuses a stale file)
while re-exporting gives the same bytes."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from lmrec.text.encoders._resolve import minilm_folder
from lmrec.text.export import onnx as _export
from lmrec.text.export.onnx import exported_model, fp32_nodes
from lmrec.text.export.smooth import CALIBRATION_TEXTS, calibration_absmax, smooth_model

LABEL = "all-MiniLM-L6-v2"


@pytest.fixture(scope="module")
def movie_texts(shared_data: Path) -> list[str]:
    """24 real ML-100K item texts (every 70th movie), as the default template renders them."""
    from lmrec.data.loaders import load_format
    from lmrec.text import item_texts

    ds = load_format("movielens-100k", shared_data / "ml-100k")
    return item_texts(ds.items)[::70][:24]


def _onnx_encoder(path: Path, precision: str):  # noqa: ANN202 - an OnnxEncoder
    from lmrec.text.encoders._onnx import OnnxEncoder

    return OnnxEncoder(minilm_folder(), onnx_path=path, label=LABEL, precision=precision, threads=1)


def test_smoothing_keeps_the_fp32_function_and_evens_out_the_ranges(minilm, movie_texts, tmp_path) -> None:
    import onnx
    from onnx import numpy_helper

    fp32 = exported_model(minilm_folder(), "fp32", label=LABEL)
    model = onnx.load(str(fp32))
    absmax = calibration_absmax(fp32, minilm_folder(), CALIBRATION_TEXTS[:12])
    smooth_model(model, absmax, 0.8, skip=fp32_nodes(fp32))
    muls = [n for n in model.graph.node if n.name.endswith("_smooth_mul")]
    # 6 layers x (Q/K/V input, FFN input, FFN output input), less layer 0's FFN output (left fp32)
    assert len(muls) == 17
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    ratios = []  # largest channel / median channel of each smoothed input, before and after
    for mul in muls:
        before = absmax[mul.input[0]]
        after = before * inits[mul.input[1]]
        ratios.append((before.max() / np.median(before), after.max() / np.median(after)))
    assert all(a < b for b, a in ratios)
    # the worst input had one channel ~20x the median one (LayerNorm and GELU outputs); after: < 5x
    assert max(b for b, _ in ratios) > 15 and max(a for _, a in ratios) < 5
    path = tmp_path / "smoothed-fp32.onnx"
    onnx.save(model, str(path))
    np.testing.assert_allclose(
        _onnx_encoder(path, "fp32-smoothed").encode(movie_texts), minilm.encode(movie_texts), atol=1e-4
    )


def test_smoothed_int8_is_closer_to_fp32_than_unsmoothed(
    minilm, minilm_int8, movie_texts, scientific_texts
) -> None:
    texts = movie_texts + scientific_texts
    ref = minilm.encode(texts)
    unsmoothed = _onnx_encoder(exported_model(minilm_folder(), "int8-unsmoothed", label=LABEL), "int8")
    err_new = 1 - (minilm_int8.encode(texts) * ref).sum(1)
    err_old = 1 - (unsmoothed.encode(texts) * ref).sum(1)
    print(f"1 - cosine to fp32: smoothed {err_new.mean():.5f}, unsmoothed {err_old.mean():.5f}")
    # measured on 300 + 300 catalog texts: 0.0009 vs 0.0054 (ML-100K), 0.0012 vs 0.0054 (Scientific)
    assert err_new.mean() < 0.5 * err_old.mean()
    assert (err_new < err_old).mean() > 0.8
    assert minilm_int8.model_id != unsmoothed.model_id


def test_int8_vectors_do_not_depend_on_the_batch(minilm_int8, movie_texts, scientific_texts) -> None:
    # one activation scale per token (per token and block in the FFN outputs): a text's vector is the same
    # alone and batched with longer texts, up to the summation order of onnxruntime's MatMulNBits kernel
    # (2.2e-4 at most, measured; 0 without it); per-tensor dynamic scales would move it with the batch's
    # largest activation (cosine 0.99 in test_encoders.assert_same_vectors)
    texts = movie_texts[:4] + scientific_texts[:4]
    alone = np.stack([minilm_int8.encode([t])[0] for t in texts])
    np.testing.assert_allclose(minilm_int8.encode(texts, batch_size=8), alone, atol=5e-4)


def test_int8_file_is_named_by_its_recipe_and_exports_the_same_bytes(
    minilm_int8, monkeypatch, tmp_path
) -> None:
    from lmrec.text.export import smooth as _smooth

    current = exported_model(minilm_folder(), "int8", label=LABEL)
    tag = _export._smooth_recipe()
    assert current.name == f"model-int8-sq-{tag}.onnx"
    monkeypatch.setattr(_export, "SMOOTH_ALPHA", 0.5)
    other_alpha = _export._smooth_recipe()
    monkeypatch.undo()
    monkeypatch.setattr(_smooth, "CALIBRATION_TEXTS", CALIBRATION_TEXTS[:-1])
    other_texts = _export._smooth_recipe()
    monkeypatch.undo()
    assert len({tag, other_alpha, other_texts}) == 3
    # a fresh cache holding only the fp32 export: quantizing again gives the identical file
    fresh = _export.export_dir(minilm_folder(), LABEL)
    monkeypatch.setenv("LMREC_CACHE", str(tmp_path))
    target = _export.export_dir(minilm_folder(), LABEL)
    target.mkdir(parents=True)
    shutil.copyfile(fresh / "model-fp32.onnx", target / "model-fp32.onnx")
    again = exported_model(minilm_folder(), "int8", label=LABEL)
    assert again.parent == target and again.name == current.name
    digest = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (current, again)]
    assert digest[0] == digest[1]
