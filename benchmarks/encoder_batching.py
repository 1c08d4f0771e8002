"""How to batch the text encoder on this machine: texts/s of each encoder under several batch plans.

A plan is ``TEXTS:TOKENS``: at most TEXTS texts and at most TOKENS padded tokens (texts x the longest one) per
forward pass, 0 tokens for no token bound (lmrec's CPU plan before 2026-12-06 was ``32:0``; since then it is
``32:512`` per thread, and ``64:2048`` per thread in bf16; ``default`` in ``--plans`` runs it). Texts are the
same samples as benchmarks/encoders.py (ML-100K titles and Amazon Scientific item texts); plans interleave
within each round, best of ``--rounds``.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/encoder_batching.py --n 1000 --threads 1 --clock cpu \\
        --plans 32:0,16:0,32:512,32:768,64:1024,default --encoders minilm,minilm-onnx-int8
"""

from __future__ import annotations

import argparse
import time

from encoders import load_texts


def parse_plans(text: str) -> list[tuple[int | None, int | None]]:
    """``TEXTS:TOKENS`` items; ``default`` is the encoder's own plan (None, None)."""
    plans: list[tuple[int | None, int | None]] = []
    for part in text.split(","):
        if part == "default":
            plans.append((None, None))
            continue
        texts, _, tokens = part.partition(":")
        plans.append((int(texts), int(tokens or 0)))
    return plans


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="texts per dataset")
    parser.add_argument(
        "--plans", default="32:0,16:0,32:512,32:768,64:1024,default", help="TEXTS:TOKENS, comma list"
    )
    parser.add_argument("--encoders", default="minilm,minilm-onnx-int8")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    args = parser.parse_args()
    clock = time.process_time if args.clock == "cpu" else time.perf_counter

    import torch

    from lmrec.text import get_encoder

    torch.set_num_threads(args.threads)
    plans = parse_plans(args.plans)
    encoders = {}
    for name in args.encoders.split(","):
        extra = {"device": "cpu"} if name in ("minilm-torch", "minilm-bf16") else {}
        encoders[name] = get_encoder(name, threads=args.threads, **extra)
    print(f"texts/s, {args.threads} thread(s), {args.clock} clock, best of {args.rounds}")
    names = ["default" if s is None else f"{s}:{t}" for s, t in plans]
    print("| data | encoder | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(plans))
    for label, texts in load_texts(args.n).items():
        for name, enc in encoders.items():
            enc.encode(texts[:64])  # warm-up
            best = dict.fromkeys(plans, float("inf"))
            for _ in range(args.rounds):
                for size, tokens in plans:
                    t = clock()
                    enc.encode(texts, batch_size=size, batch_tokens=tokens)
                    best[size, tokens] = min(best[size, tokens], clock() - t)
            cells = " | ".join(f"{len(texts) / best[p]:,.1f}" for p in plans)
            print(f"| {label} | {name} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
