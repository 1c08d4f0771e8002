"""Print grounded explanations for 5 real ML-100K users (EASE recommendations, EASE's own attribution, shared
words from "{title}. {genres}"), optionally with the checked SmolLM2 paraphrase.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/explain_samples.py [--paraphrase]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from lmrec.data import load_dataset
from lmrec.explain import Explainer, paraphrase, short_title, smollm2_generator
from lmrec.models.ease import EASE
from lmrec.text import item_texts

USERS = ("1", "2", "6", "11", "101")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paraphrase", action="store_true", help="also reword with SmolLM2-135M-Instruct")
    ap.add_argument("-k", type=int, default=3)
    args = ap.parse_args()
    ds = load_dataset("ml-100k")
    model = EASE(l2=100.0).fit(ds.interactions, items=ds.items)
    titles = ds.item_titles()
    explainer = Explainer.for_model(model, titles, item_texts(ds.items, None, dataset="ml-100k"))
    generator = None
    if args.paraphrase:
        t0 = time.perf_counter()
        generator = smollm2_generator()
        print(f"(SmolLM2 loaded in {time.perf_counter() - t0:.0f} s)")
    accepted = total = 0
    for uid in USERS:
        u = ds.user_index(uid)
        hist = model.as_batch(np.array([u])).histories[0]
        recent = ", ".join(short_title(titles[i]) for i in hist[-3:])
        print(f"\nuser {uid} ({len(hist)} ratings; latest: {recent})")
        idx, _ = model.recommend(np.array([u]), k=args.k)
        for i in idx[0]:
            e = explainer.explain(int(i), hist)
            print(f"  {short_title(titles[i])}: {e.text}")
            if generator is not None:
                p = paraphrase(e, generator, titles)
                total += 1
                accepted += p.generated
                print(f"      {p.display() if p.generated else '(kept template) ' + p.notes[-1]}")
    if generator is not None:
        print(f"\nparaphrases accepted: {accepted}/{total}")


if __name__ == "__main__":
    main()
