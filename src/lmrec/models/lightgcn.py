"""``lightgcn``: LightGCN (He et al., SIGIR 2020) over the user-item graph, optionally seeded by item text.

Graph
    The bipartite graph of the training interactions (each (user, item) pair once), with the symmetric
    normalisation ``A_hat = D^-1/2 A D^-1/2`` of LightGCN, as a torch sparse matrix over users + items.

Propagation
    ``E(l+1) = A_hat E(l)``, no weights and no non-linearity; the final embedding of every node is the mean of
    its layer embeddings ``E(0) .. E(L)``. The score of (user, item) is the dot product of the two.

Text
    ``init="text"`` seeds item layer-0 embeddings with the catalog's LM text vectors reduced to ``dim`` by a
    fixed PCA (scaled to the random init's spread), and users with the mean of their items' seeds;
    ``init="random"`` is the paper's normal(0, 0.1) init. ``text_term=True`` adds a learned linear projection
    of the (unit) text vector to every item's final representation: ``item = mean_l E_item(l) + W t_item``.
    An item without training interactions then still gets a meaningful score from its text, and items added
    after training (:meth:`LightGCN.add_items`) are recommendable at once.

Loss
    ``loss="bpr"``: BPR with one uniformly sampled unseen negative per positive (the paper's choice).
    ``loss="softmax"`` (the default): full-softmax cross-entropy (temperature 0.2) of each positive against
    the whole catalog (O(batch x items) per step: fine up to some 10^5 items). On ML-100K (20 epochs, lr .01)
    it reached test NDCG@10 .077 against .057 for BPR. Both add ``reg`` x the squared norm of the batch's
    layer-0 embeddings (divided by the batch size, as in the paper).

Users
    Known users use their learned final embedding. When a known user's query history holds items beyond
    their training history (at test time: the validation item), ``refold_history`` recomputes that user's
    propagated layers over the longer neighbour list (learned layer-0 embedding and item layers kept; new
    edges count in the degrees), without retraining. Anonymous users (index -1, a history only) are folded in
    as the mean of their history items' final representations, which is what one propagation step from
    the items gives a new user node up to scale.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from lmrec.config import BaseConfig
from lmrec.data import Interactions, ItemTable
from lmrec.errors import LmrecError
from lmrec.metrics import target_metrics
from lmrec.models.base import BaseRecommender, FitOptions, UserBatch
from lmrec.models.textvec import ItemVectorRef, ItemVectorRefHooks, TextVectorConfig, item_vectors_for
from lmrec.train.config import LoopConfig, TrainableConfig

__all__ = ["LightGCN", "LightGCNConfig", "normalized_adjacency", "pca_projection"]


class LightGCNConfig(TextVectorConfig, TrainableConfig):
    """Options of :class:`LightGCN` (see the module docstring).

    ``dim``: embedding width; ``n_layers``: propagation steps L; ``init``: "random" or "text"; ``text_term``:
    add a learned projection of the item text vector to the final item representation; ``loss``: "bpr" or
    "softmax"; ``temperature``: logits are divided by it (softmax only); ``reg``: L2 weight on the batch's
    layer-0 embeddings; ``train``: the loop options (:class:`~lmrec.train.LoopConfig`; flat names such
    as ``epochs=5`` are moved there); ``encoder``/``template``/``vector_field``/``cache_dir``: where the
    text vectors come from (only used when ``init="text"`` or ``text_term``); ``refold_history``: see
    "Users" in the module docstring.
    """

    dim: int = Field(64, ge=2)
    n_layers: int = Field(3, ge=0, le=8)
    init: Literal["random", "text"] = "random"
    text_term: bool = False
    loss: Literal["bpr", "softmax"] = "softmax"
    temperature: float = Field(0.2, gt=0.0)
    reg: float = Field(1e-4, ge=0.0)
    train: LoopConfig = LoopConfig(epochs=30, lr=1e-2, patience=5, validate_every=2, grad_clip=None)
    batch_size: int = Field(4096, ge=1)
    init_std: float = Field(0.1, gt=0.0)
    refold_history: bool = True

    def ranks_by_text_alone(self) -> bool:
        return False


def normalized_adjacency(user: np.ndarray, item: np.ndarray, n_users: int, n_items: int) -> Any:
    """The symmetric-normalised bipartite adjacency ``D^-1/2 A D^-1/2`` as a torch sparse CSR tensor of
    shape (n_users + n_items)^2; nodes 0..n_users-1 are users, then items. Repeated pairs count once."""
    import torch

    key = np.unique(np.asarray(user, np.int64) * n_items + np.asarray(item, np.int64))
    u, i = key // n_items, key % n_items
    n = n_users + n_items
    rows = np.concatenate([u, n_users + i])
    cols = np.concatenate([n_users + i, u])
    deg = np.bincount(rows, minlength=n).astype(np.float64)
    inv = np.where(deg > 0, 1.0 / np.sqrt(np.maximum(deg, 1.0)), 0.0)
    vals = (inv[rows] * inv[cols]).astype(np.float32)
    coo = torch.sparse_coo_tensor(
        torch.from_numpy(np.stack([rows, cols])), torch.from_numpy(vals), (n, n), check_invariants=False
    ).coalesce()
    import warnings

    with warnings.catch_warnings():  # "sparse CSR support is in beta": the one op used here is stable
        warnings.simplefilter("ignore", UserWarning)
        return coo.to_sparse_csr()


def pca_projection(vectors: np.ndarray, dim: int) -> np.ndarray:
    """The (n, dim) scores of ``vectors`` on their ``dim`` leading principal components (a fixed, data-only
    projection; fewer columns are padded with zeros when the vectors have rank < dim)."""
    x = np.asarray(vectors, np.float64)
    x = x - x.mean(0, keepdims=True)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    out = x @ vt[:dim].T
    if out.shape[1] < dim:
        out = np.pad(out, ((0, 0), (0, dim - out.shape[1])))
    return out.astype(np.float32)


class LightGCN(ItemVectorRefHooks, BaseRecommender):
    """LightGCN with optional text-seeded item embeddings and a text term; see the module docstring."""

    name: ClassVar[str] = "lightgcn"
    Config: ClassVar[type[BaseConfig]] = LightGCNConfig
    config: LightGCNConfig

    def __init__(self, config: BaseConfig | None = None, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self.user_final: np.ndarray | None = None
        self.item_final: np.ndarray | None = None
        self.text_vectors: np.ndarray | None = None  # unit text vectors (text_term only)
        self.text_proj: np.ndarray | None = None  # (text_dim, dim), text_term only
        self.vector_ref: ItemVectorRef | None = None
        # for refold_history: layer-0 user embeddings, the item layers 0..L-1 and the training item degrees
        self.user0: np.ndarray | None = None
        self.item_layers: np.ndarray | None = None
        self.item_degree: np.ndarray | None = None

    @property
    def uses_text(self) -> bool:
        return self.config.init == "text" or self.config.text_term

    # -- training ----------------------------------------------------------------------------------------
    def _fit(  # noqa: C901 - one place that wires data, module and loop
        self, train: Interactions, valid: Interactions | None, items: ItemTable | None, options: FitOptions
    ) -> None:
        import torch

        from lmrec.device import amp_dtype, describe, options_device
        from lmrec.train.loop import sensible_threads

        cfg = self.config
        device = options_device(options)
        torch.set_num_threads(sensible_threads(options.threads))
        torch.manual_seed(options.seed)
        rng0 = np.random.default_rng(options.seed)
        t0 = time.perf_counter()
        if not len(train):
            raise LmrecError("lightgcn: the training data has no interactions")

        text = None
        if self.uses_text:
            vecs, self.vector_ref, _ = item_vectors_for(items, self.n_items, cfg, progress=options.progress)
            text = _unit(vecs)

        key = np.unique(train.user.astype(np.int64) * self.n_items + train.item.astype(np.int64))
        pos_u, pos_i = key // self.n_items, key % self.n_items
        self.item_degree = np.bincount(pos_i, minlength=self.n_items).astype(np.float32)
        adj = normalized_adjacency(pos_u, pos_i, self.n_users, self.n_items)

        user0 = rng0.normal(0.0, cfg.init_std, (self.n_users, cfg.dim)).astype(np.float32)
        item0 = rng0.normal(0.0, cfg.init_std, (self.n_items, cfg.dim)).astype(np.float32)
        if cfg.init == "text" and text is not None:
            proj = pca_projection(text, cfg.dim)
            item0 = proj * (cfg.init_std / max(float(proj.std()), 1e-12))
            # users start at the mean of their items' seeds (plus a little noise to break symmetry)
            sums = np.zeros((self.n_users, cfg.dim), np.float32)
            np.add.at(sums, pos_u, item0[pos_i])
            counts = np.bincount(pos_u, minlength=self.n_users).astype(np.float32)
            has = counts > 0
            user0[has] = sums[has] / counts[has, None] + 0.1 * user0[has]
        # the graph, the text vectors and the training pairs are put on the device once
        self.module = _module_class()(
            torch.from_numpy(user0),
            torch.from_numpy(item0),
            adj.to(device),
            cfg.n_layers,
            None if not cfg.text_term or text is None else torch.from_numpy(text).to(device),
        ).to(device)
        module = self.module
        pos_u_t, pos_i_t = torch.from_numpy(pos_u).to(device), torch.from_numpy(pos_i).to(device)

        seen_keys = key  # sorted: membership test for negative sampling

        def sample_negatives(users: np.ndarray, rng: np.random.Generator) -> np.ndarray:
            neg = rng.integers(0, self.n_items, len(users))
            for _ in range(5):  # resample collisions with a positive a few times (rarely needed twice)
                k = users * self.n_items + neg
                pos = np.searchsorted(seen_keys, k)
                bad = (pos < len(seen_keys)) & (seen_keys[np.minimum(pos, len(seen_keys) - 1)] == k)
                if not bad.any():
                    break
                neg[bad] = rng.integers(0, self.n_items, int(bad.sum()))
            return neg

        def batches(epoch: int, rng: np.random.Generator) -> Any:
            order = rng.permutation(len(pos_u))
            for s in range(0, len(order), cfg.batch_size):
                rows = order[s : s + cfg.batch_size]
                neg = sample_negatives(pos_u[rows], rng) if cfg.loss == "bpr" else np.zeros(0, np.int64)
                rows_t = torch.from_numpy(rows).to(device)
                yield pos_u_t[rows_t], pos_i_t[rows_t], torch.from_numpy(neg).to(device)

        def step(batch: Any) -> Any:
            u, i, neg = batch
            users, itemz = module.propagate()
            ue = users[u]
            if cfg.loss == "bpr":
                diff = (ue * itemz[i]).sum(-1) - (ue * itemz[neg]).sum(-1)
                loss = torch.nn.functional.softplus(-diff).mean()
                reg_items = torch.cat([i, neg])
            else:
                logits = ue @ itemz.T / cfg.temperature
                loss = torch.nn.functional.cross_entropy(logits, i)
                reg_items = i
            reg = module.user0[u].pow(2).sum() + module.item0[reg_items].pow(2).sum()
            return loss + cfg.reg * reg / len(u)

        validate = None
        if valid is not None and len(valid):
            order = np.lexsort((np.arange(len(valid)), valid.timestamp, valid.user))
            last = np.r_[valid.user[order][1:] != valid.user[order][:-1], True]
            val_users = valid.user[order][last].astype(np.int64)
            val_items = valid.item[order][last].astype(np.int64)

            def validate() -> dict[str, float]:
                return self._validate(val_users, val_items)

        result = self.train_on_loop(module, train, options, batches=batches, step=step, validate=validate)
        self._finalise()
        self.fit_info.update(
            {
                "train": result.to_dict(),
                "device": describe(device, amp_dtype(device, options.precision)),
                "fit_seconds": round(time.perf_counter() - t0, 3),
                "n_train_events": int(len(train)),
                "n_edges": int(len(pos_u)),
                "train_fingerprint": train.fingerprint(),
                "domain": train.domain,
                "item_vectors": self.vector_ref.to_dict() if self.vector_ref else None,
            }
        )

    def _finalise(self) -> None:
        """Cache the final user/item representations as numpy arrays (all scoring reads these)."""
        import torch

        layers: list[Any] = []
        with torch.no_grad():
            users, items = self.module.propagate(layers)
        self.user_final = users.float().cpu().numpy().astype(np.float32)
        self.item_final = items.float().cpu().numpy().astype(np.float32)
        if self.config.refold_history and self.config.n_layers:
            self.user0 = self.module.user0.detach().cpu().numpy().astype(np.float32).copy()
            self.item_layers = np.stack([x.float().cpu().numpy() for x in layers]).astype(np.float32)
        if self.module.text is not None:
            self.text_vectors = self.module.text.cpu().numpy().astype(np.float32)
            self.text_proj = self.module.text_proj.weight.detach().cpu().numpy().T.astype(np.float32).copy()

    def _validate(self, users: np.ndarray, targets: np.ndarray) -> dict[str, float]:
        self._finalise()
        sums = {"ndcg@10": 0.0, "recall@10": 0.0}
        for s in range(0, len(users), 512):
            u, t = users[s : s + 512], targets[s : s + 512]
            scores = self.user_final[u] @ self.item_final.T
            for row, x in enumerate(u):
                if len(self._histories[x]):
                    scores[row, self._histories[x]] = -np.inf
            for key, v in target_metrics(scores, t, ks=(10,)).items():
                sums[key] += float(v.sum())
        return {k: v / max(len(users), 1) for k, v in sums.items()}

    # -- scoring -----------------------------------------------------------------------------------------
    def _arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if self.user_final is None or self.item_final is None:
            raise LmrecError("lightgcn: call fit() (or load()) before score()")
        return self.user_final, self.item_final

    def fold_in(self, histories: list[np.ndarray]) -> np.ndarray:
        """User vectors of anonymous histories: the mean of their items' final representations (zeros for an
        empty history)."""
        _, items = self._arrays()
        out = np.zeros((len(histories), items.shape[1]), np.float32)
        for r, h in enumerate(histories):
            if len(h):
                out[r] = items[np.asarray(h, np.int64)].mean(0)
        return out

    def user_vectors(self, batch: UserBatch) -> np.ndarray:
        """One vector per query row: learned for known users, folded in for anonymous ones."""
        users_f, _ = self._arrays()
        users = np.asarray(batch.users, np.int64)
        known = users >= 0
        vecs = np.zeros((len(users), users_f.shape[1]), np.float32)
        vecs[known] = users_f[users[known]]
        if self.user0 is not None and self.item_layers is not None and self.item_degree is not None:
            for r in np.flatnonzero(known):
                u, hist = int(users[r]), np.asarray(batch.histories[r], np.int64)
                if u < len(self._histories) and len(hist) != len(self._histories[u]):
                    vecs[r] = self._refold(u, hist)
        if (~known).any():
            vecs[~known] = self.fold_in([batch.histories[r] for r in np.flatnonzero(~known)])
        return vecs

    def _refold(self, user: int, history: np.ndarray) -> np.ndarray:
        """The user's final embedding re-propagated over the neighbours ``history`` (training items plus any
        newer ones): ``(u0 + sum_l sum_i item_{l-1,i} / sqrt(d_u d_i)) / (L + 1)`` with the learned layer-0
        embedding and item layers; exact for the training history."""
        assert self.user0 is not None and self.item_layers is not None and self.item_degree is not None
        nbrs = np.unique(history)
        if not len(nbrs):
            return self.user0[user] / (self.config.n_layers + 1)
        old = set(self._histories[user].tolist())
        deg_i = self.item_degree[nbrs] + np.array([i not in old for i in nbrs.tolist()], np.float32)
        w = 1.0 / np.sqrt(len(nbrs) * np.maximum(deg_i, 1.0))
        layers = self.item_layers[:, nbrs, :]  # (L, |N|, d)
        total = self.user0[user] + (w[None, :, None] * layers).sum(axis=(0, 1))
        return (total / (self.config.n_layers + 1)).astype(np.float32)

    def _score_batch(self, batch: UserBatch) -> np.ndarray:
        _, items = self._arrays()
        return self.user_vectors(batch) @ items.T

    def item_vectors(self) -> np.ndarray:
        """The final item representations (n_items, dim) that scores are dot products with."""
        return self._arrays()[1]

    def add_items(self, vectors: np.ndarray) -> np.ndarray:
        """Append new items by their text vectors (needs ``text_term``): their representation is the text
        term alone (they have no graph neighbours). Returns their indices."""
        if self.text_proj is None or self.text_vectors is None:
            raise LmrecError("lightgcn: add_items needs a model trained with text_term=True")
        vecs = np.asarray(vectors, np.float32)
        if vecs.ndim != 2 or vecs.shape[1] != self.text_vectors.shape[1]:
            raise LmrecError(
                f"item vectors must have shape (n, {self.text_vectors.shape[1]}), got {vecs.shape}"
            )
        unit = _unit(vecs)
        start = self.n_items
        self.text_vectors = np.concatenate([self.text_vectors, unit])
        self.item_final = np.concatenate([self._arrays()[1], unit @ self.text_proj])
        self.n_items += len(vecs)
        if self.vector_ref is not None:
            self.vector_ref = self.vector_ref.with_added(len(vecs))
        return np.arange(start, self.n_items, dtype=np.int64)

    # -- persistence -------------------------------------------------------------------------------------
    def _state(self) -> dict[str, np.ndarray]:
        users, items = self._arrays()
        state = {"user_final": users, "item_final": items}
        if self.text_proj is not None and self.text_vectors is not None:
            state["text_proj"] = self.text_proj
            state["text_vectors"] = self.text_vectors
        if self.user0 is not None and self.item_layers is not None and self.item_degree is not None:
            state.update(
                {"user0": self.user0, "item_layers": self.item_layers, "item_degree": self.item_degree}
            )
        return state

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        self.user_final = np.asarray(state["user_final"], np.float32)
        self.item_final = np.asarray(state["item_final"], np.float32)
        if "text_proj" in state:
            self.text_proj = np.asarray(state["text_proj"], np.float32)
            self.text_vectors = np.asarray(state["text_vectors"], np.float32)
        if "user0" in state:
            self.user0 = np.asarray(state["user0"], np.float32)
            self.item_layers = np.asarray(state["item_layers"], np.float32)
            self.item_degree = np.asarray(state["item_degree"], np.float32)


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _module_class() -> Any:
    """The torch module, defined on first use so that importing this file does not import torch."""
    import torch
    from torch import nn

    class SymmetricSpmm(torch.autograd.Function):
        """``A @ x`` for a symmetric sparse ``A``: the gradient is ``A @ grad`` again, which avoids the
        sparse transpose that torch's generic backward builds on every call (3x faster here)."""

        @staticmethod
        def forward(ctx: Any, adj: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
            ctx.adj = adj
            with torch.autocast(x.device.type, enabled=False):  # sparse products stay fp32 under autocast
                return torch.sparse.mm(adj, x.float())

        @staticmethod
        def backward(ctx: Any, grad: torch.Tensor) -> tuple[None, torch.Tensor]:
            return None, torch.sparse.mm(ctx.adj, grad)

    class LightGCNModule(nn.Module):
        def __init__(
            self,
            user0: torch.Tensor,
            item0: torch.Tensor,
            adj: torch.Tensor,
            n_layers: int,
            text: torch.Tensor | None,
        ) -> None:
            super().__init__()
            self.user0 = nn.Parameter(user0.clone())
            self.item0 = nn.Parameter(item0.clone())
            self.adj = adj  # constant, not a buffer: sparse CSR tensors do not go into state_dict copies
            self.n_layers = n_layers
            self.n_users = user0.shape[0]
            self.text = text
            self.text_proj = None
            if text is not None:
                self.text_proj = nn.Linear(text.shape[1], user0.shape[1], bias=False)
                nn.init.zeros_(self.text_proj.weight)  # starts as plain LightGCN; the text term is learned

        def propagate(self, layers: list[torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
            x = torch.cat([self.user0, self.item0])
            total = x
            for _ in range(self.n_layers):
                if layers is not None:
                    layers.append(x[self.n_users :])
                x = SymmetricSpmm.apply(self.adj, x)
                total = total + x
            final = total / (self.n_layers + 1)
            users, items = final[: self.n_users], final[self.n_users :]
            if self.text_proj is not None and self.text is not None:
                items = items + self.text_proj(self.text)
            return users, items

    return LightGCNModule
