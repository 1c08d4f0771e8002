"""int8 MiniLM with and without SmoothQuant activation smoothing, with one activation scale per tensor or per
token: how close each recipe's vectors stay to fp32, and its speed.

Each variant is built from the cached fp32 ONNX export (smoothing with lmrec.text.export.smooth, then
either onnxruntime dynamic quantization with the settings of lmrec.text.export.onnx, one activation scale
per tensor, or lmrec.text.export.quantize, one per token), then encodes 300 random catalog texts each of
ML-100K and Amazon Scientific (numpy seed 0, default templates). Printed: mean and min cosine to the fp32 ONNX
encoder, and the speed-up in items/s over fp32 encoding the 300 texts of each dataset (CPU time, one thread,
best of 2 rounds, fp32 and int8 interleaved). The table in the _export.py docstring comes from

    OMP_NUM_THREADS=1 nice -n 5 .venv/bin/python benchmarks/int8_smoothing.py --catalog-calibration

(``--only name,name`` for some rows; ``--catalog-calibration`` adds the adopted recipe calibrated on 64 + 64
other catalog texts of the two datasets instead of the built-in list). The NDCG@10 effect of the adopted file
on trained models is measured by benchmarks/compress.py (see its docstring).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import load

# name -> (smoothing alpha or None, median floor, keep layer 0's FFN output fp32, activation scales per token)
VARIANTS = {
    "no smoothing, all MatMuls int8": (None, False, False, False),
    "no smoothing, layer 0 FFN output fp32 (previous default)": (None, False, True, False),
    "alpha 0.5, paper's s (no floor)": (0.5, False, False, False),
    "alpha 0.65, paper's s (no floor)": (0.65, False, False, False),
    "alpha 0.8, paper's s (no floor)": (0.8, False, False, False),
    "alpha 0.5, median floor": (0.5, True, False, False),
    "alpha 0.8, median floor": (0.8, True, False, False),
    "alpha 0.8, median floor, layer 0 FFN output fp32": (0.8, True, True, False),
    "per token, no smoothing, layer 0 FFN output fp32": (None, False, True, True),
    "per token, alpha 0.8, median floor": (0.8, True, False, True),
    "per token, alpha 0.8, median floor, layer 0 FFN output fp32 (adopted)": (0.8, True, True, True),
}


def build(
    out: Path, fp32: Path, absmax: dict, alpha: float | None, floor: bool, keep_l0: bool, per_token: bool
) -> Path:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from lmrec.text.export.onnx import INT8_SETTINGS, fp32_nodes
    from lmrec.text.export.quantize import quantize_per_token
    from lmrec.text.export.smooth import smooth_model

    keep = fp32_nodes(fp32) if keep_l0 else []
    model = onnx.load(str(fp32))
    if alpha is not None:
        smooth_model(model, absmax, alpha, skip=keep, median_floor=floor)
    if per_token:
        onnx.save(quantize_per_token(model, skip=keep), str(out))
    else:
        quantize_dynamic(model, str(out), weight_type=QuantType.QInt8, nodes_to_exclude=keep, **INT8_SETTINGS)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="", help="comma list of variant names (substrings)")
    ap.add_argument("--texts", type=int, default=300)
    ap.add_argument("--catalog-calibration", action="store_true")
    args = ap.parse_args(argv)

    from lmrec.text import get_encoder, item_texts
    from lmrec.text.encoders._onnx import OnnxEncoder
    from lmrec.text.encoders._resolve import minilm_folder
    from lmrec.text.export.onnx import exported_model
    from lmrec.text.export.smooth import calibration_absmax

    folder = minilm_folder()
    fp32 = exported_model(folder, "fp32", label="all-MiniLM-L6-v2")
    rng = np.random.default_rng(0)
    texts, held_out = {}, []
    for name in ("ml-100k", "scientific"):
        all_texts = item_texts(load(name)[0].items)
        perm = rng.permutation(len(all_texts))
        texts[name] = [all_texts[i] for i in perm[: args.texts]]
        held_out += [all_texts[i] for i in perm[args.texts : args.texts + 64]]
    ref = get_encoder("minilm", threads=1)
    ref_vecs = {n: ref.encode(t) for n, t in texts.items()}
    builtin = calibration_absmax(fp32, folder)
    runs = [(n, v, builtin) for n, v in VARIANTS.items()]
    if args.catalog_calibration:
        catalog = calibration_absmax(fp32, folder, held_out)
        runs.append(("the adopted recipe calibrated on catalog texts", (0.8, True, True, True), catalog))
    wanted = [w for w in args.only.split(",") if w]
    rows = []
    with tempfile.TemporaryDirectory(prefix="lmrec-int8-smoothing-") as tmp:
        for name, (alpha, floor, keep_l0, per_token), absmax in runs:
            if wanted and not any(w in name for w in wanted):
                continue
            path = build(Path(tmp) / "model.onnx", fp32, absmax, alpha, floor, keep_l0, per_token)
            enc = OnnxEncoder(folder, onnx_path=path, label="variant", precision="int8", threads=1)
            row = {"variant": name}
            for ds, t in texts.items():
                cos = (enc.encode(t) * ref_vecs[ds]).sum(1)
                row[ds] = (float(cos.mean()), float(cos.min()))
            for ds, t in texts.items():
                best = {}
                for _ in range(2):
                    for key, e in (("fp32", ref), ("int8", enc)):
                        e.encode(t[:16])  # warm-up
                        t0 = time.process_time()
                        e.encode(t)
                        best[key] = min(best.get(key, np.inf), time.process_time() - t0)
                row[f"speed {ds}"] = best["fp32"] / best["int8"]
            rows.append(row)
            print(row, flush=True)
    print("\n| variant | ML-100K cos mean / min | Scientific cos mean / min | speed ML / Sci (fp32 = 1) |")
    print("|---|---|---|---|")
    for r in rows:
        ml, sci = r["ml-100k"], r["scientific"]
        print(
            f"| {r['variant']} | {ml[0]:.4f} / {ml[1]:.4f} | {sci[0]:.4f} / {sci[1]:.4f} "
            f"| {r['speed ml-100k']:.1f}x / {r['speed scientific']:.1f}x |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
