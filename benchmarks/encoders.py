"""The text encoder against this CPU's limit: FLOPs per text, texts/s and the share of a GEMM peak measured in
the same run, per backend (fp32 ONNX / PyTorch, int8 ONNX / PyTorch, bf16 PyTorch where the CPU multiplies
bf16 in hardware), dataset and thread count.

For each thread count (``--threads 1,2``) and dataset (ML-100K titles, Amazon Scientific item texts, both
with lmrec's default templates), in ONE process, rounds interleave (best of ``--rounds`` per measurement):

* GEMM peaks of the model's own shapes: the six weight products of one MiniLM layer (Q, K, V, output
  ``M x H @ H x H``; FFN ``M x H @ H x I`` and ``M x I @ I x H``) at two row counts ``M``, a batch's tokens
  without a token budget (batch size x mean real tokens) and the fp32 encoder's token budget where smaller
  (each library's best rate of the two is its peak): fp32 via numpy (OpenBLAS), torch (oneDNN/MKL) and
  onnxruntime ``MatMul`` (MLAS, what the ONNX encoder runs), int8 via onnxruntime ``MatMulInteger`` (uint8 x
  int8 -> int32, MLAS; what the int8 encoder runs) and torch's dynamic int8 ``Linear`` (fbgemm/x86,
  activation quantization included), and bf16 via torch (oneDNN: AMX or AVX512-BF16; only where
  :func:`lmrec.device.bf16_matmul_supported`);
* each backend encoding all the texts (length-sorted batches of at most ``--batch-size`` texts and
  ``--batch-tokens`` padded tokens; by default each encoder's own, as lmrec runs it).

FLOPs per text count only real tokens: per layer ``2 n (4 H^2 + 2 H I)`` for the weight products plus
``4 n^2 H`` for attention scores and mixing (MiniLM-L6: H=384, I=1536, 6 layers; read from the model config).
``% fp32 peak`` = FLOPs per text x texts/s / the best fp32 GEMM rate; ``% own peak`` the same against the
onnxruntime int8 rate (int8 backends) or torch's bf16 rate (the bf16 backend). ``cos`` is each backend's
vectors against fp32 ONNX (mean / min). The machine is shared: the load average is printed; only ratios
measured side by side mean much.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/encoders.py [--threads 1,2] [--n 1000] [--batch-size 32]
        [--batch-tokens 512] [--variants int8-qlinear,...] [--out benchmarks/results/encoders.json]

``--variants previous,fused-l0block,all-block64`` adds the int8 recipes of benchmarks/int8_variants.py.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def load_texts(n: int) -> dict[str, list[str]]:
    """``n`` item texts per dataset (a seeded random sample; all when the catalog is smaller)."""
    from lmrec.data import load_dataset
    from lmrec.text import item_texts

    out = {}
    rng = np.random.default_rng(0)
    for label, name in (("ML-100K titles", "ml-100k"), ("Scientific texts", "amazon-scientific")):
        ds = load_dataset(name)
        texts = item_texts(ds.items, None, dataset=ds.name)
        pick = rng.permutation(len(texts))[:n]
        out[label] = [texts[i] for i in sorted(pick)]
    return out


def model_shapes(folder: Path) -> tuple[int, int, int]:
    """(hidden, intermediate, layers) of the model in ``folder``."""
    cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    return int(cfg["hidden_size"]), int(cfg["intermediate_size"]), int(cfg["num_hidden_layers"])


def flops_per_text(lengths: np.ndarray, hidden: int, inter: int, layers: int) -> np.ndarray:
    """Useful FLOPs of one forward pass per text of ``lengths`` real tokens."""
    n = lengths.astype(np.float64)
    return layers * (2 * n * (4 * hidden * hidden + 2 * hidden * inter) + 4 * n * n * hidden)


# -- GEMM peaks of the layer's shapes ----------------------------------------------------------------------
def layer_shapes(m: int, hidden: int, inter: int) -> list[tuple[int, int, int]]:
    """(M, K, N) of the six weight products of one encoder layer."""
    return [(m, hidden, hidden)] * 4 + [(m, hidden, inter), (m, inter, hidden)]


def _ort_gemm_session(shapes: list[tuple[int, int, int]], int8: bool, threads: int) -> tuple[Any, dict]:
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    nodes, inits, inputs, outputs, feeds = [], [], [], [], {}
    for k in sorted({s[1] for s in shapes}):
        name = f"a{k}"
        m = shapes[0][0]
        if int8:
            inputs.append(helper.make_tensor_value_info(name, TensorProto.UINT8, [m, k]))
            feeds[name] = rng.integers(0, 256, (m, k), dtype=np.uint8)
        else:
            inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [m, k]))
            feeds[name] = rng.normal(size=(m, k)).astype(np.float32)
    for i, (m, k, n) in enumerate(shapes):
        if int8:
            w = rng.integers(-127, 128, (k, n), dtype=np.int8)
            inits.append(numpy_helper.from_array(w, f"w{i}"))
            nodes.append(helper.make_node("MatMulInteger", [f"a{k}", f"w{i}", "zp"], [f"y{i}"]))
            outputs.append(helper.make_tensor_value_info(f"y{i}", TensorProto.INT32, [m, n]))
        else:
            w = rng.normal(size=(k, n)).astype(np.float32)
            inits.append(numpy_helper.from_array(w, f"w{i}"))
            nodes.append(helper.make_node("MatMul", [f"a{k}", f"w{i}"], [f"y{i}"]))
            outputs.append(helper.make_tensor_value_info(f"y{i}", TensorProto.FLOAT, [m, n]))
    if int8:
        inits.append(numpy_helper.from_array(np.array(128, np.uint8), "zp"))
    graph = helper.make_graph(nodes, "gemm", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return sess, feeds


def gemm_rows(enc: Any, lengths: np.ndarray, batch_size: int | None, batch_tokens: int | None) -> list[int]:
    """The GEMM row counts to measure peaks at: a full batch of texts of the mean length (the plan before
    token budgets) and the token budget, when it is smaller. The peak is the best of them, so a budget
    cannot lower the bar it is measured against."""
    size = batch_size or enc.default_batch_size()
    tokens = enc.default_batch_tokens() if batch_tokens is None else batch_tokens
    full = int(round(size * lengths.mean()))
    return sorted({full, min(full, tokens)} if tokens else {full})


def gemm_runners(
    shapes: list[tuple[int, int, int]], threads: int, bf16: bool
) -> dict[str, Callable[[], None]]:
    """One callable per GEMM library, each doing the six products once (``bf16``: also torch in bf16)."""
    import torch

    rng = np.random.default_rng(0)
    np_a = {k: rng.normal(size=(m, k)).astype(np.float32) for m, k, _ in shapes}
    np_w = [rng.normal(size=(k, n)).astype(np.float32) for _, k, n in shapes]
    np_out = [np.empty((m, n), np.float32) for m, _, n in shapes]
    t_a = {k: torch.from_numpy(v) for k, v in np_a.items()}
    t_w = [torch.from_numpy(w) for w in np_w]
    t_out = [torch.from_numpy(o) for o in np_out]
    ks = [k for _, k, _ in shapes]
    ort32, feeds32 = _ort_gemm_session(shapes, False, threads)
    ort8, feeds8 = _ort_gemm_session(shapes, True, threads)
    qlin = []
    for _, k, n in shapes:
        lin = torch.nn.Linear(k, n)
        qlin.append(
            torch.ao.quantization.quantize_dynamic(
                torch.nn.Sequential(lin), {torch.nn.Linear}, dtype=torch.qint8
            ).eval()
        )

    def run_numpy() -> None:
        for k, w, o in zip(ks, np_w, np_out, strict=True):
            np.matmul(np_a[k], w, out=o)

    def run_torch() -> None:
        with torch.inference_mode():
            for k, w, o in zip(ks, t_w, t_out, strict=True):
                torch.mm(t_a[k], w, out=o)

    def run_torch_int8() -> None:
        with torch.inference_mode():
            for k, q in zip(ks, qlin, strict=True):
                q(t_a[k])

    out = {
        "fp32 numpy": run_numpy,
        "fp32 torch": run_torch,
        "fp32 onnxruntime": lambda: ort32.run(None, feeds32),
        "int8 onnxruntime": lambda: ort8.run(None, feeds8),
        "int8 torch dynamic": run_torch_int8,
    }
    if bf16:
        b_a = {k: v.to(torch.bfloat16) for k, v in t_a.items()}
        b_w = [w.to(torch.bfloat16) for w in t_w]

        def run_torch_bf16() -> None:
            with torch.inference_mode():
                for k, w in zip(ks, b_w, strict=True):
                    torch.mm(b_a[k], w)

        out["bf16 torch"] = run_torch_bf16
    return out


# -- backends ----------------------------------------------------------------------------------------------
class TorchInt8:
    """MiniLM's PyTorch path with its Linear layers dynamically quantized by torch (int8 weights per output
    channel, int8 activations per tensor per call; fbgemm/x86)."""

    def __init__(self, threads: int) -> None:
        import copy

        import torch

        from lmrec.text.encoders._hf import TransformersEncoder
        from lmrec.text.encoders._resolve import minilm_folder

        base = TransformersEncoder(minilm_folder(), name="minilm-torch-int8", threads=threads, device="cpu")
        qconfig = torch.ao.quantization.per_channel_dynamic_qconfig
        base.model = torch.ao.quantization.quantize_dynamic(
            copy.deepcopy(base.model), {torch.nn.Linear: qconfig}, dtype=torch.qint8
        )
        self.enc = base

    def encode(self, texts: list[str], batch_size: int | None, batch_tokens: int | None) -> np.ndarray:
        return self.enc.encode(texts, batch_size=batch_size, batch_tokens=batch_tokens)


def load_backends(threads: int, variants: dict[str, Path], bf16: bool) -> dict[str, Any]:
    from lmrec.text import get_encoder
    from lmrec.text.encoders._onnx import OnnxEncoder
    from lmrec.text.encoders._resolve import minilm_folder

    out: dict[str, Any] = {
        "fp32 ONNX (minilm)": get_encoder("minilm", threads=threads),
        "fp32 PyTorch (minilm-torch)": get_encoder("minilm-torch", threads=threads, device="cpu"),
        "fp32 sentence-transformers (minilm-st, the peer)": get_encoder("minilm-st", threads=threads),
        "int8 ONNX (minilm-onnx-int8)": get_encoder("minilm-onnx-int8", threads=threads),
        "int8 PyTorch dynamic, per-channel": TorchInt8(threads),
    }
    if bf16:
        out["bf16 PyTorch (minilm-bf16)"] = get_encoder("minilm-bf16", threads=threads, device="cpu")
    for name, path in variants.items():
        out[f"int8 ONNX variant: {name}"] = OnnxEncoder(
            minilm_folder(), onnx_path=path, name=name, label=name, precision="int8", threads=threads
        )
    return out


CLOCK = time.perf_counter


def best_time(fn: Callable[[], Any], reps: int = 1) -> float:
    t = CLOCK()
    for _ in range(reps):
        fn()
    return (CLOCK() - t) / reps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="texts per dataset")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="at most this many texts per batch (default: each encoder's own, as lmrec runs it: 32 per "
        "thread on the CPU, 64 per thread in bf16)",
    )
    parser.add_argument(
        "--batch-tokens",
        type=int,
        default=None,
        help="at most this many padded tokens per batch (default: each encoder's own: 512 per thread on the "
        "CPU, 2048 per thread in bf16; 0: texts only, lmrec's plan before 2026-12-06)",
    )
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", default="", help="int8 ONNX variants to build and time (comma list)")
    parser.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="wall: elapsed time; cpu: this process's CPU time (steadier on a busy machine at one thread; at "
        "several threads it sums them, so texts/s becomes texts per CPU-second)",
    )
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    args = parser.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter

    import torch
    from threadpoolctl import threadpool_limits

    from lmrec.device import bf16_matmul_supported
    from lmrec.text.encoders._resolve import minilm_folder

    bf16 = bf16_matmul_supported(torch.device("cpu"))  # else bf16 is emulated, slower than fp32: not timed
    folder = minilm_folder()
    hidden, inter, layers = model_shapes(folder)
    texts = load_texts(args.n)
    variants: dict[str, Path] = {}
    tmp = tempfile.TemporaryDirectory(prefix="lmrec-enc-variants-")
    if args.variants:
        from int8_variants import build_variant

        for name in args.variants.split(","):
            variants[name] = build_variant(name, Path(tmp.name))
    results: list[dict[str, Any]] = []
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cores": os.cpu_count(),
        "load_average_start": os.getloadavg(),
        "batch_size": args.batch_size,
        "batch_tokens": args.batch_tokens,
        "bf16_matmul": bf16,
        "clock": args.clock,
        "texts_per_dataset": args.n,
        "model": {"hidden": hidden, "intermediate": inter, "layers": layers},
    }
    for threads in (int(t) for t in args.threads.split(",")):
        torch.set_num_threads(threads)
        with threadpool_limits(limits=threads):
            backends = load_backends(threads, variants, bf16)
            for label, tx in texts.items():
                ref_enc = backends["fp32 ONNX (minilm)"]
                ids, _ = ref_enc.tokenize(tx)
                lengths = np.array([len(x) for x in ids])
                flops = float(flops_per_text(lengths, hidden, inter, layers).mean())
                batching = {"batch_size": args.batch_size, "batch_tokens": args.batch_tokens}
                ms = gemm_rows(ref_enc, lengths, **batching)
                shapes = {m: layer_shapes(m, hidden, inter) for m in ms}
                gemms = {m: gemm_runners(shapes[m], threads, bf16) for m in ms}
                gemm_flops = {m: sum(2 * a * b * c for a, b, c in shapes[m]) for m in ms}
                for runners in gemms.values():
                    for fn in runners.values():
                        fn()
                for enc in backends.values():
                    enc.encode(tx[:64], **batching)  # warm-up
                gemm_best = {(m, k): np.inf for m, runners in gemms.items() for k in runners}
                enc_best = dict.fromkeys(backends, np.inf)
                vecs: dict[str, np.ndarray] = {}
                for _ in range(args.rounds):
                    for m, runners in gemms.items():
                        reps = max(1, int(2e9 / gemm_flops[m]))  # about 2 GFLOP per GEMM measurement
                        for name, fn in runners.items():
                            gemm_best[m, name] = min(gemm_best[m, name], best_time(fn, reps))
                    for name, enc in backends.items():
                        t = CLOCK()
                        vecs[name] = enc.encode(tx, **batching)
                        enc_best[name] = min(enc_best[name], CLOCK() - t)
                # each library's best rate over the row counts measured
                rates: dict[str, float] = {}
                for (m, k), v in gemm_best.items():
                    rates[k] = max(rates.get(k, 0.0), gemm_flops[m] / v / 1e9)
                fp32_peak = max(v for k, v in rates.items() if k.startswith("fp32"))
                own_peak = {"int8": rates["int8 onnxruntime"], "bf16": rates.get("bf16 torch")}
                ref = vecs["fp32 ONNX (minilm)"]
                ref_rate = len(tx) / enc_best["fp32 ONNX (minilm)"]
                rows = []
                for name in backends:
                    rate = len(tx) / enc_best[name]
                    cos = (vecs[name] * ref).sum(1)
                    gflops = flops * rate / 1e9
                    rows.append(
                        {
                            "backend": name,
                            "texts_per_s": rate,
                            "vs_fp32_onnx": rate / ref_rate,
                            "gflops": gflops,
                            "pct_fp32_peak": 100 * gflops / fp32_peak,
                            "pct_own_peak": (
                                100 * gflops / own_peak[name[:4]] if own_peak.get(name[:4]) else None
                            ),
                            "cos_mean": float(cos.mean()),
                            "cos_min": float(cos.min()),
                        }
                    )
                block = {
                    "threads": threads,
                    "dataset": label,
                    "texts": len(tx),
                    "mean_tokens": float(lengths.mean()),
                    "max_tokens": int(lengths.max()),
                    "gflop_per_text": flops / 1e9,
                    "gemm_m": ms,
                    "gemm_gflops": rates,
                    "load_average": os.getloadavg(),
                    "clock": args.clock,
                    "rows": rows,
                }
                results.append(block)
                print_block(block)
                if args.out:
                    args.out.write_text(json.dumps({**meta, "results": results}, indent=1) + "\n")
    tmp.cleanup()


def format_block(b: dict[str, Any]) -> str:
    """One dataset x thread count of a run as a Markdown heading line, the GEMM peaks and a table."""
    peaks = ", ".join(f"{k} {v:.1f}" for k, v in b["gemm_gflops"].items())
    lines = [
        f"**{b['dataset']}**: {b['texts']} texts, mean {b['mean_tokens']:.1f} tokens "
        f"(max {b['max_tokens']}), {b['gflop_per_text'] * 1e3:.1f} MFLOP/text; {b['threads']} thread(s), "
        f"load average {b['load_average'][0]:.1f}, {b['clock']} clock. "
        f"GEMM GFLOP/s (six layer products, best of M={_rows_text(b['gemm_m'])}): {peaks}",
        "",
        "| backend | texts/s | vs fp32 ONNX | GFLOP/s | % fp32 peak | % own peak | cos mean / min |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in b["rows"]:
        i8 = f"{r['pct_own_peak']:.0f}%" if r.get("pct_own_peak") is not None else ""
        lines.append(
            f"| {r['backend']} | {r['texts_per_s']:,.0f} | {r['vs_fp32_onnx']:.2f}x | {r['gflops']:.1f} "
            f"| {r['pct_fp32_peak']:.0f}% | {i8} | {r['cos_mean']:.5f} / {r['cos_min']:.4f} |"
        )
    return "\n".join(lines)


def _rows_text(ms: int | list[int]) -> str:
    return str(ms) if isinstance(ms, int) else " and ".join(str(m) for m in ms)


def print_block(b: dict[str, Any]) -> None:
    print("\n" + format_block(b), flush=True)


if __name__ == "__main__":
    main()
