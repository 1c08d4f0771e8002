"""Item-vector codes at about 8x (d/2 bytes per item) on a saved textseq: recall of the exact top-10.

For 500 users with a history, the exact inner-product top-10 over the model's item representations is
compared with the top-10 over the decoded codes of each option (the same check ``lmrec compress`` records in
the model card). Options are lmrec's own codecs (``pq``, ``rq``, ``sq8``) and faiss index_factory strings
(``OPQ32,PQ32np``: OPQ rotation before PQ; ``SQ4``: 4-bit scalar quantization). Printed per option: bytes
per item, codebook bytes, recall@10 and training seconds.

    nice .venv/bin/python benchmarks/vector_codecs.py MODEL_DIR   # e.g. a folder saved by `lmrec train`
"""

from __future__ import annotations

import argparse
import time

import numpy as np

DEFAULT = "pq;rq;sq8;OPQ32,PQ32np;OPQ16,PQ32np;SQ4;PQ64x4np"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir")
    ap.add_argument("--options", default=DEFAULT, help="';'-separated lmrec codecs or faiss factory strings")
    ap.add_argument("--users", type=int, default=500)
    args = ap.parse_args(argv)

    import faiss

    from lmrec.compress import VECTOR_METHODS, VectorCodec, topk_recall
    from lmrec.models import load_model

    model = load_model(args.model_dir)
    exact = model.retrieval_vectors() if not model.config.normalize else model._item_reps().detach().numpy()
    exact = np.ascontiguousarray(exact, dtype=np.float32)
    has = np.flatnonzero([len(h) > 0 for h in model._histories])
    queries = model.query_vectors(np.random.default_rng(0).permutation(has)[: args.users])
    n, d = exact.shape
    faiss.omp_set_num_threads(1)
    print(f"\n{args.model_dir}: {n} items, d={d}, float32 {4 * d} B/item\n")
    print("| option | B/item | vs fp32 | codebook KB | top-10 recall | train s |")
    print("|---|---|---|---|---|---|")
    for option in args.options.split(";"):
        t = time.perf_counter()
        if option in VECTOR_METHODS:
            codec = VectorCodec.train(exact, option)
            approx = codec.decode(codec.encode(exact))
            code_b, book = codec.code_bytes, codec.quantizer_bytes
        else:
            index = faiss.index_factory(d, option, faiss.METRIC_INNER_PRODUCT)
            index.train(exact)
            codes = index.sa_encode(exact)
            approx = index.sa_decode(codes)
            code_b, book = codes.shape[1], len(faiss.serialize_index(index))
        secs = time.perf_counter() - t
        recall = topk_recall(queries, exact, approx, 10)
        print(
            f"| {option} | {code_b} | {4 * d / code_b:.0f}x | {book / 1e3:.0f} | {recall:.3f} | {secs:.1f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
