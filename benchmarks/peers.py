"""Peers side by side: implicit, cornac, lenskit and RecBole against lmrec on ONE exported split.

Every model, lmrec's and the peers', is evaluated by the same code: lmrec's full-ranking protocol
(:func:`lmrec.evaluate.evaluate_model`) over the model's score matrix, training and validation items masked at
test time, ties by lmrec's seeded random item order. Peers are wrapped in a tiny adapter that returns their
scores for a batch of (user, history) queries; nothing of the peers' own evaluation is used.

Split: leave-one-out by time with a stable sort (ties keep file order), lmrec's
:func:`lmrec.data.split.leave_one_out_split`; the assignment is written to ``runs/bench/<dataset>/split.npz``
together with its hash, and the RecBole runs read exactly that split (checked).

Run in the bench venv (``make bench``), e.g.::

    .venv-bench/bin/python benchmarks/peers.py --dataset ml-100k
    .venv-bench/bin/python benchmarks/peers.py --dataset all --recbole-bpr      # + RecBole BPR (~3 min)
    .venv-bench/bin/python benchmarks/peers.py --dataset ml-100k --recbole-sasrec  # very slow (~40 min)

Hyper-parameters are those of the reference table (shared/docs/REFERENCE-NUMBERS.md), tuned on ML-100K and
reused unchanged on Amazon Scientific. BLAS (threadpoolctl) and torch use ``--threads`` threads (default 1:
implicit requires a single BLAS thread, and one thread for everybody keeps the timings comparable).
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "runs" / "bench"
DATASETS = ("ml-100k", "amazon-scientific")


@dataclass(frozen=True)
class Seconds:
    """Wall-clock and CPU (this process, all threads) seconds of one step.

    On a shared machine the wall clock mostly measures the other jobs; with one thread per library the CPU
    seconds are the comparable number.
    """

    wall: float
    cpu: float


def timed(fn: Callable[[], Any]) -> tuple[Any, Seconds]:
    """``fn()`` and how long it took."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, Seconds(time.perf_counter() - wall, time.process_time() - cpu)


# ------------------------------------------------------------------------------------------- data and split
def data_root() -> Path:
    """``$LMREC_DATA`` or the shared data folder next to the repository."""
    env = os.environ.get("LMREC_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def load(name: str) -> Any:
    """The lmrec Dataset: lmrec's own loader when there is one, else the raw files via ``build_dataset``."""
    try:
        from lmrec.data import load_dataset  # type: ignore[attr-defined]
    except ImportError:
        load_dataset = None
    if load_dataset is not None:
        return load_dataset(name)
    import pandas as pd

    from lmrec.data._build import build_dataset

    root = data_root()
    if name == "ml-100k":
        path = root / "ml-100k" / "u.data"
        events = pd.read_csv(path, sep="\t", names=["user", "item", "rating", "timestamp"])
        return build_dataset("ml-100k", "movies", events, source=path)
    if name == "amazon-scientific":
        path = root / "amazon-scientific-2018" / "Scientific.inter.json"
        seqs = json.loads(path.read_text(encoding="utf-8"))
        users = [u for u, items in seqs.items() for _ in items]
        items = [i for s in seqs.values() for i in s]
        catalog = json.loads((path.parent / "Scientific.item.json").read_text(encoding="utf-8"))
        item_frame = pd.DataFrame({"item_id": list(catalog)})
        return build_dataset(
            "amazon-scientific",
            "scientific",
            pd.DataFrame({"user": users, "item": items}),
            item_frame,
            source=path,
        )
    raise SystemExit(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")


@dataclass
class Bench:
    """One exported split and the views every runner needs (dense lmrec indices)."""

    name: str
    split: Any
    n_users: int
    n_items: int
    train_user: np.ndarray
    train_item: np.ndarray
    position: np.ndarray  # each event's position in its user's stable time order
    test_pairs: set[tuple[int, int]] = field(default_factory=set)

    def train_csr(self) -> Any:
        import scipy.sparse as sp

        m = sp.csr_matrix(
            (np.ones(len(self.train_user), np.float32), (self.train_user, self.train_item)),
            shape=(self.n_users, self.n_items),
        )
        m.sum_duplicates()
        m.data[:] = 1.0
        return m


def export_split(name: str) -> Bench:
    """Load ``name``, split leave-one-out by time, write ``runs/bench/<name>/split.npz``, return the views."""
    from lmrec.data.split import TEST, TRAIN, leave_one_out_split

    ds = load(name)
    split = leave_one_out_split(ds)
    inter = ds.interactions
    order = inter.time_order()
    position = np.empty(len(inter), dtype=np.int64)
    users_sorted = inter.user[order]
    starts = np.r_[0, np.flatnonzero(users_sorted[1:] != users_sorted[:-1]) + 1]
    run_start = np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    position[order] = np.arange(len(order)) - run_start
    a = split.assignment
    out = OUT / name
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out / "split.npz",
        user=inter.user,
        item=inter.item,
        timestamp=inter.timestamp,
        position=position,
        assignment=a,
        split_hash=np.array(split.hash),
    )
    test = a == TEST
    return Bench(
        name=name,
        split=split,
        n_users=ds.n_users,
        n_items=ds.n_items,
        train_user=inter.user[a == TRAIN],
        train_item=inter.item[a == TRAIN],
        position=position,
        test_pairs=set(zip(inter.user[test].tolist(), inter.item[test].tolist(), strict=True)),
    )


# ---------------------------------------------------------------------------------------------- scoring
class Scorer:
    """What lmrec's evaluation needs from a model: a name and ``score(UserBatch) -> (batch, n_items)``."""

    def __init__(self, name: str, fn: Callable[[np.ndarray, Sequence[np.ndarray]], np.ndarray]) -> None:
        self.name = name
        self._fn = fn

    def score(self, batch: Any) -> np.ndarray:
        return np.asarray(self._fn(np.asarray(batch.users), batch.histories), dtype=np.float32)


def history_matrix(histories: Sequence[np.ndarray], n_items: int) -> Any:
    """A binary (len(histories), n_items) CSR matrix of the histories."""
    import scipy.sparse as sp

    lengths = np.fromiter((len(h) for h in histories), dtype=np.int64, count=len(histories))
    indices = np.concatenate(histories).astype(np.int64) if lengths.sum() else np.zeros(0, np.int64)
    m = sp.csr_matrix(
        (np.ones(len(indices), np.float32), indices, np.r_[0, np.cumsum(lengths)]),
        shape=(len(histories), n_items),
    )
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


def factor_scorer(
    name: str, user_f: np.ndarray, item_f: np.ndarray, item_bias: np.ndarray | None = None
) -> Scorer:
    """Dot-product scores from per-user and per-item factors already aligned to lmrec's indices."""
    u = np.ascontiguousarray(user_f, dtype=np.float32)
    v = np.ascontiguousarray(item_f, dtype=np.float32)
    b = None if item_bias is None else np.asarray(item_bias, dtype=np.float32)

    def fn(users: np.ndarray, histories: Sequence[np.ndarray]) -> np.ndarray:
        s = u[users] @ v.T
        return s if b is None else s + b

    return Scorer(name, fn)


def item_item_scorer(name: str, weights: np.ndarray, unknown: np.ndarray | None = None) -> Scorer:
    """History x item-item weight matrix (EASE); ``unknown`` items (not in the peer's vocabulary) get -inf."""
    w = np.ascontiguousarray(weights, dtype=np.float32)

    def fn(users: np.ndarray, histories: Sequence[np.ndarray]) -> np.ndarray:
        s = np.asarray(history_matrix(histories, w.shape[0]) @ w)
        if unknown is not None:
            s[:, unknown] = -np.inf
        return s

    return Scorer(name, fn)


# ------------------------------------------------------------------------------------------------ runners
@dataclass
class Row:
    """One line of the table."""

    model: str
    library: str
    params: str
    recall: float = float("nan")
    ndcg: float = float("nan")
    fit_s: Seconds = Seconds(float("nan"), float("nan"))
    eval_s: Seconds = Seconds(float("nan"), float("nan"))
    note: str = ""


def evaluate(scorer: Any, bench: Bench, test_history: str = "train_valid") -> tuple[float, float, Seconds]:
    """Recall@10, NDCG@10 and the seconds of lmrec's test-stage full-ranking evaluation (its defaults:
    ties averaged over all orders; ``test_history`` is the model's input, train+valid items masked)."""
    from lmrec.evaluate import evaluate_model

    res, seconds = timed(
        lambda: evaluate_model(
            scorer, bench.split, ks=(10,), stage="test", checks=False, test_history=test_history
        )
    )
    return res["recall@10"], res["ndcg@10"], seconds


# where each baseline lives, for a checkout whose MODELS mapping does not list it yet
LMREC_CLASSES = {
    "pop": "lmrec.models.popularity:Popularity",
    "itemknn": "lmrec.models.itemknn:ItemKNN",
    "ease": "lmrec.models.ease:EASE",
    "als": "lmrec.models.mf:ALS",
    "bpr": "lmrec.models.mf:BPR",
    "sasrec": "lmrec.models.sasrec:SASRec",
}


def lmrec_class(key: str) -> Any:
    """lmrec's model class ``key`` (``MODELS`` first); None when this checkout does not have it."""
    import importlib

    from lmrec.models import MODELS, model_class

    if key in MODELS:
        return model_class(key)
    module, _, cls = LMREC_CLASSES.get(key, ":").partition(":")
    try:
        return getattr(importlib.import_module(module), cls)
    except (ImportError, AttributeError, ValueError):
        return None


def run_lmrec(
    bench: Bench,
    key: str,
    config: dict[str, Any],
    threads: int,
    max_seconds: float | None = None,
    seed: int = 0,
) -> tuple[Any, Seconds]:
    from lmrec.models.base import FitOptions

    model = lmrec_class(key)(**config)
    options = FitOptions(seed=seed, threads=threads, max_seconds=max_seconds)
    _, fit_s = timed(lambda: model.fit(bench.split.train, bench.split.valid, options=options))
    return model, fit_s


def run_implicit_als(bench: Bench, threads: int, seed: int = 0) -> tuple[Scorer, Seconds]:
    from implicit.als import AlternatingLeastSquares

    model = AlternatingLeastSquares(
        factors=64, regularization=1.0, alpha=5.0, iterations=15, random_state=seed, num_threads=threads
    )
    csr = bench.train_csr()
    _, fit_s = timed(lambda: model.fit(csr, show_progress=False))
    return factor_scorer("implicit-als", model.user_factors, model.item_factors), fit_s


def run_implicit_bpr(bench: Bench, threads: int, seed: int = 0) -> tuple[Scorer, Seconds]:
    from implicit.bpr import BayesianPersonalizedRanking

    model = BayesianPersonalizedRanking(
        factors=64,
        learning_rate=0.01,
        regularization=0.01,
        iterations=100,
        random_state=seed,
        num_threads=threads,
    )
    csr = bench.train_csr()
    _, fit_s = timed(lambda: model.fit(csr, show_progress=False))
    # implicit's BPR keeps the item bias as the last factor (users hold a constant 1 there)
    return factor_scorer("implicit-bpr", model.user_factors, model.item_factors), fit_s


def _cornac_train_set(bench: Bench) -> Any:
    import cornac

    triples = list(
        zip(bench.train_user.tolist(), bench.train_item.tolist(), [1.0] * len(bench.train_user), strict=True)
    )
    return cornac.data.Dataset.from_uir(triples, seed=0)


def _cornac_maps(train_set: Any, bench: Bench) -> tuple[np.ndarray, np.ndarray]:
    """Arrays lmrec index -> cornac index (-1 where cornac never saw the user / item)."""
    users = np.full(bench.n_users, -1, dtype=np.int64)
    items = np.full(bench.n_items, -1, dtype=np.int64)
    for raw, idx in train_set.uid_map.items():
        users[int(raw)] = idx
    for raw, idx in train_set.iid_map.items():
        items[int(raw)] = idx
    return users, items


def run_cornac_bpr(bench: Bench, threads: int, seed: int = 0) -> tuple[Scorer, Seconds]:
    import cornac

    train_set = _cornac_train_set(bench)
    model = cornac.models.BPR(
        k=64, max_iter=100, learning_rate=0.05, lambda_reg=0.01, seed=seed, verbose=False
    )
    _, fit_s = timed(lambda: model.fit(train_set))
    umap, imap = _cornac_maps(train_set, bench)
    k = model.u_factors.shape[1]
    user_f = np.zeros((bench.n_users, k), np.float32)
    user_f[umap >= 0] = model.u_factors[umap[umap >= 0]]
    item_f = np.zeros((bench.n_items, k), np.float32)
    item_f[imap >= 0] = model.i_factors[imap[imap >= 0]]
    bias = np.full(bench.n_items, -np.inf, np.float32)
    bias[imap >= 0] = model.i_biases[imap[imap >= 0]]
    return factor_scorer("cornac-bpr", user_f, item_f, bias), fit_s


def run_cornac_ease(bench: Bench, threads: int, l2: float) -> tuple[Scorer, Seconds]:
    import cornac

    train_set = _cornac_train_set(bench)
    model = cornac.models.EASE(lamb=l2, posB=False, seed=0, verbose=False)
    _, fit_s = timed(lambda: model.fit(train_set))
    _, imap = _cornac_maps(train_set, bench)
    known = np.flatnonzero(imap >= 0)
    w = np.zeros((bench.n_items, bench.n_items), np.float32)
    w[np.ix_(known, known)] = model.B[np.ix_(imap[known], imap[known])]
    return item_item_scorer("cornac-ease", w, np.flatnonzero(imap < 0)), fit_s


def _lenskit_dataset(bench: Bench) -> Any:
    import pandas as pd
    from lenskit.data import from_interactions_df

    frame = pd.DataFrame(
        {"user_id": bench.train_user.astype(np.int64), "item_id": bench.train_item.astype(np.int64)}
    )
    return from_interactions_df(frame)


def run_lenskit_ease(bench: Bench, threads: int, l2: float) -> tuple[Scorer, Seconds]:
    from lenskit.knn.ease import EASEScorer

    data = _lenskit_dataset(bench)
    model = EASEScorer(regularization=l2)
    _, fit_s = timed(lambda: model.train(data))
    nums = model.items.numbers(np.arange(bench.n_items), missing="negative")
    known = np.flatnonzero(nums >= 0)
    w = np.zeros((bench.n_items, bench.n_items), np.float32)
    w[np.ix_(known, known)] = np.asarray(model.weights)[np.ix_(nums[known], nums[known])]
    # the same product as EASEScorer.__call__, batched over users instead of one query at a time
    return item_item_scorer("lenskit-ease", w, np.flatnonzero(nums < 0)), fit_s


def run_lenskit_itemknn(bench: Bench, threads: int) -> tuple[Scorer, Seconds]:
    from lenskit.data import ItemList, RecQuery
    from lenskit.knn import ItemKNNScorer

    data = _lenskit_dataset(bench)
    model = ItemKNNScorer(max_nbrs=50, feedback="implicit")
    _, fit_s = timed(lambda: model.train(data))
    # lenskit's scorer panics on ids outside its training vocabulary: ask for the known items only
    known = np.asarray(model.items.ids(), dtype=np.int64)
    is_known = np.zeros(bench.n_items, dtype=bool)
    is_known[known] = True
    catalog = ItemList(item_ids=known)

    def fn(users: np.ndarray, histories: Sequence[np.ndarray]) -> np.ndarray:
        # lenskit scores one query at a time (its own inference path)
        out = np.full((len(users), bench.n_items), -np.inf, np.float32)
        for r, hist in enumerate(histories):
            hist = np.asarray(hist, dtype=np.int64)
            query = RecQuery(user_items=ItemList(item_ids=hist[is_known[hist]]))
            scores = model(query, catalog).scores()
            out[r, known] = np.where(np.isnan(scores), -np.inf, scores)
        return out

    return Scorer("lenskit-itemknn", fn), fit_s


def recbole_run(bench: Bench, model_name: str, extra: dict[str, Any], epochs: int) -> Any:
    """Train RecBole's ``model_name`` on the exported split (scratch: runs/bench/<dataset>/recbole-*)."""
    import _recbole

    # one folder per process: two benchmark runs at once must not share RecBole's saved/ and log/
    folder = OUT / bench.name / f"recbole-{model_name.lower()}-{os.getpid()}"
    inter = bench.split.dataset.interactions
    _recbole.write_atomic(folder, inter.user, inter.item, bench.position)
    config = _recbole.base_config(folder, epochs=epochs)
    config.update(extra)
    return _recbole.train(folder, model_name, config, bench.test_pairs)


def run_recbole_bpr(bench: Bench, threads: int, epochs: int = 300) -> tuple[Scorer, Seconds]:
    run = recbole_run(bench, "BPR", {}, epochs)
    user_f, item_f = recbole_factors(run, bench)
    return factor_scorer("recbole-bpr", user_f, item_f), Seconds(run.fit_wall, run.fit_cpu)


def recbole_factors(run: Any, bench: Bench) -> tuple[np.ndarray, np.ndarray]:
    """RecBole BPR's embeddings re-indexed to lmrec's users and items (score = user . item, as RecBole's)."""
    u = run.model.user_embedding.weight.detach().numpy()
    v = run.model.item_embedding.weight.detach().numpy()
    user_f = np.zeros((bench.n_users, u.shape[1]), np.float32)
    item_f = np.zeros((bench.n_items, v.shape[1]), np.float32)
    ok_u, ok_i = run.user_of >= 0, run.item_of >= 0
    user_f[run.user_of[ok_u]] = u[ok_u]
    item_f[run.item_of[ok_i]] = v[ok_i]
    return user_f, item_f


def run_recbole_sasrec(bench: Bench, threads: int, epochs: int = 8) -> tuple[Scorer, Seconds]:
    import _recbole

    extra = {
        "loss_type": "CE",
        "MAX_ITEM_LIST_LENGTH": 50,
        "train_neg_sample_args": None,
    }
    run = recbole_run(bench, "SASRec", extra, epochs)
    # RecBole's input at test time is the train+valid sequence; lmrec's evaluation masks the history
    scores = _recbole.test_scores(run, bench.n_users, bench.n_items)

    def fn(users: np.ndarray, histories: Sequence[np.ndarray]) -> np.ndarray:
        return scores[users]

    return Scorer("recbole-sasrec", fn), Seconds(run.fit_wall, run.fit_cpu)


# ------------------------------------------------------------------------------------------------ the table
# lmrec's side: algorithm key -> (MODELS name, config, parameter text)
LMREC = {
    "Pop": ("pop", {}, ""),
    "ItemKNN": ("itemknn", {"k": 50}, "cosine k=50"),
    "EASE": ("ease", {"l2": 100.0}, "l2=100"),
    "EASE l2=250": ("ease", {"l2": 250.0}, "l2=250"),
    "ALS": ("als", {"factors": 64, "reg": 1.0, "alpha": 5.0, "iterations": 15}, "f=64 reg=1 a=5 15 it, CG 3"),
    "BPR": ("bpr", {"factors": 64}, "f=64 lr=.1->0 reg=.01 100 ep"),
    "SASRec": ("sasrec", {"max_len": 50}, "CE len 50, early stop"),
}

# peers: (algorithm key for the ratio, model label, library, params, runner)
PEERS: list[tuple[str, str, str, str, Callable[..., tuple[Scorer, Seconds]]]] = [
    ("ALS", "ALS", "implicit 0.7.3", "f=64 reg=1 a=5 15 it", run_implicit_als),
    ("BPR", "BPR", "implicit 0.7.3", "f=64 lr=.01 100 it", run_implicit_bpr),
    ("BPR", "BPR", "cornac 3.0.1", "k=64 lr=.05 100 it", run_cornac_bpr),
    ("EASE", "EASE", "cornac 3.0.1", "l2=100 posB=False", lambda b, t: run_cornac_ease(b, t, 100.0)),
    ("EASE l2=250", "EASE", "lenskit 2025.8.1", "l2=250", lambda b, t: run_lenskit_ease(b, t, 250.0)),
    ("ItemKNN", "ItemKNN", "lenskit 2025.8.1", "k=50 implicit", run_lenskit_itemknn),
]
RECBOLE_BPR = ("BPR", "BPR", "recbole 1.2.1", "d=64 lr=.001, early stop", run_recbole_bpr)
RECBOLE_SASREC = ("SASRec", "SASRec", "recbole 1.2.1", "CE len 50 8 ep", run_recbole_sasrec)


def bench_dataset(name: str, args: argparse.Namespace) -> list[tuple[str, Row]]:
    bench = export_split(name)
    print(
        f"\n## {name}: {bench.n_users} users, {bench.n_items} items, split {bench.split.hash} "
        f"({bench.split.describe()['train']} train / {len(bench.test_pairs)} test), "
        f"exported to {(OUT / name / 'split.npz').relative_to(REPO)}",
        flush=True,
    )
    rows: list[tuple[str, Row]] = []
    for algo, (key, config, params) in LMREC.items():
        if algo in args.skip or key in args.skip or "lmrec" in args.skip:
            continue
        if lmrec_class(key) is None:
            print(f"  lmrec has no '{key}' model in this checkout: skipped", file=sys.stderr)
            continue
        label = algo.split()[0]
        row = Row(label, "lmrec", params)
        try:

            def fit(seed: int, key: str = key, config: dict[str, Any] = config) -> tuple[Any, Seconds]:
                return run_lmrec(bench, key, config, args.threads, args.max_seconds, seed=seed)

            _over_seeds(
                row, fit, args.seeds if key in SEEDED else args.seeds[:1], bench, _history(algo, args)
            )
        except Exception as exc:  # a broken model must not hide the peers' numbers
            row.note = f"failed: {type(exc).__name__}: {exc}"[:120]
        rows.append((algo, row))
        _progress(row)
    peers = list(PEERS)
    if args.recbole_bpr:
        peers.append(RECBOLE_BPR)
    if args.recbole_sasrec:
        peers.append(RECBOLE_SASREC)
    for algo, label, library, params, runner in peers:
        if library.split()[0] in args.skip:
            continue
        row = Row(label, library, params)
        try:
            seeded = "seed" in inspect.signature(runner).parameters

            def fit_peer(seed: int, runner: Callable[..., Any] = runner, seeded: bool = seeded) -> Any:
                return runner(bench, args.threads, seed=seed) if seeded else runner(bench, args.threads)

            _over_seeds(row, fit_peer, args.seeds if seeded else args.seeds[:1], bench, _history(algo, args))
        except (Exception, BaseException) as exc:  # pyo3 panics are BaseExceptions
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            row.note = f"failed: {type(exc).__name__}: {exc}"[:120]
        rows.append((algo, row))
        _progress(row)
    return rows


SEQUENTIAL = {"SASRec"}
# lmrec models whose fit depends on the seed (--seeds repeats them; the others are deterministic)
SEEDED = {"als", "bpr"}


def _over_seeds(
    row: Row, fit: Callable[[int], tuple[Any, Seconds]], seeds: Sequence[int], bench: Bench, history: str
) -> None:
    """Fit and evaluate once per seed; the row gets the means (and the NDCG@10 range when several)."""
    runs = []
    for seed in seeds:
        scorer, fit_s = fit(seed)
        recall, ndcg, eval_s = evaluate(scorer, bench, history)
        runs.append((recall, ndcg, fit_s, eval_s))
    row.recall = float(np.mean([r[0] for r in runs]))
    row.ndcg = float(np.mean([r[1] for r in runs]))
    row.fit_s = Seconds(*(float(np.mean([getattr(r[2], k) for r in runs])) for k in ("wall", "cpu")))
    row.eval_s = Seconds(*(float(np.mean([getattr(r[3], k) for r in runs])) for k in ("wall", "cpu")))
    if len(runs) > 1:
        lo, hi = min(r[1] for r in runs), max(r[1] for r in runs)
        row.note = f"mean of {len(runs)} seeds, NDCG@10 {lo:.4f}-{hi:.4f}"


def _history(algo: str, args: argparse.Namespace) -> str:
    """Test-time input: sequential models always read train+valid (the test item follows the valid one)."""
    return "train_valid" if algo in SEQUENTIAL else args.test_history


def _progress(row: Row) -> None:
    print(
        f"  {row.library:<17} {row.model:<8} R@10 {row.recall:.4f} N@10 {row.ndcg:.4f} "
        f"fit {row.fit_s.cpu:.2f}s cpu ({row.fit_s.wall:.2f}s wall) "
        f"eval {row.eval_s.cpu:.2f}s cpu ({row.eval_s.wall:.2f}s wall) {row.note}",
        file=sys.stderr,
        flush=True,
    )


def render(name: str, rows: list[tuple[str, Row]]) -> str:
    """Markdown table; ratios are peer / lmrec's same algorithm (time ratios in CPU seconds)."""
    ref = {algo: row for algo, row in rows if row.library == "lmrec"}
    lines = [
        f"### {name}",
        "| model | library | params | Recall@10 | NDCG@10 | fit cpu s | eval cpu s | fit wall s "
        "| R/lmrec | N/lmrec | fit/lmrec | eval/lmrec |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}" if np.isfinite(a) and np.isfinite(b) and b > 0 else "-"

    for algo, row in rows:
        base = ref.get(algo)
        cells = [
            row.model,
            row.library,
            row.params,
            f"{row.recall:.4f}",
            f"{row.ndcg:.4f}",
            f"{row.fit_s.cpu:.2f}",
            f"{row.eval_s.cpu:.2f}",
            f"{row.fit_s.wall:.1f}",
        ]
        if row.library == "lmrec" or base is None:
            cells += ["-"] * 4
        else:
            cells += [
                ratio(row.recall, base.recall),
                ratio(row.ndcg, base.ndcg),
                ratio(row.fit_s.cpu, base.fit_s.cpu),
                ratio(row.eval_s.cpu, base.eval_s.cpu),
            ]
        if row.note:
            cells[2] += f" ({row.note})"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="all", choices=[*DATASETS, "all"])
    parser.add_argument("--threads", type=int, default=1, help="BLAS and torch threads for everybody")
    parser.add_argument(
        "--recbole-bpr", action="store_true", help="add RecBole BPR (slow: ~3 min on ML-100K)"
    )
    parser.add_argument(
        "--recbole-sasrec", action="store_true", help="add RecBole SASRec (very slow: ~40 min)"
    )
    parser.add_argument(
        "--max-seconds", type=float, default=900, help="wall-clock cap on one lmrec model's training"
    )
    parser.add_argument(
        "--test-history",
        default="train_valid",
        choices=["train_valid", "train"],
        help="input of non-sequential models at test time ('train': the convention of REFERENCE-NUMBERS.md)",
    )
    parser.add_argument("--skip", nargs="*", default=[], help="algorithms or libraries to leave out")
    parser.add_argument(
        "--seeds",
        default="0",
        help="comma list of seeds: seeded models (ALS, BPR of every library) report the mean over them",
    )
    args = parser.parse_args(argv)
    args.seeds = [int(s) for s in args.seeds.split(",")]

    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    names = DATASETS if args.dataset == "all" else (args.dataset,)
    tables = []
    with threadpool_limits(limits=args.threads):
        for name in names:
            tables.append(render(name, bench_dataset(name, args)))
    print(
        "\nFull ranking, leave-one-out by time (stable sort), train+valid masked at test, ties averaged, "
        f"lmrec's evaluation for every row; test-time input of non-sequential models: {args.test_history}; "
        f"{args.threads} BLAS/torch thread(s); ratios = peer / lmrec's same algorithm (times: CPU seconds).\n"
    )
    print("\n\n".join(tables))
    return 0


if __name__ == "__main__":
    sys.exit(main())
