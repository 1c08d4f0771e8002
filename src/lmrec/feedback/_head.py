"""The review model: a sentiment and star-rating head on frozen language-model review vectors.

Two outputs from one input vector: ``p(positive)`` (binary, trained on >= 4 vs <= 2 stars) and a 1-5 star
rating (regression, clipped to [1, 5]). ``kind="linear"`` is L2-regularised logistic regression (Newton's
method) plus ridge regression, both on standardised features, in numpy; ``kind="mlp"`` is a one-hidden-layer
torch MLP with both outputs. The L2 strength is picked on a held-out fifth of the training data unless given.

Domain adaptation (``alignment``) uses unlabeled vectors of the target domain at training time:
``"coral"`` re-colours the source vectors with the target covariance, ``"mean"`` shifts the source mean onto
the target's, ``"whiten"`` whitens the source with its own statistics and stores the target's whitening to
apply at prediction time.

Saved as a directory: ``config.json`` (options + training summary) and ``head.safetensors``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from lmrec.config import BaseConfig
from lmrec.errors import DataError, LmrecError
from lmrec.feedback._domain import Whitening, coral, mean_align
from lmrec.feedback._vectors import DEFAULT_MAX_TOKENS, encode_reviews

_L2_GRID = (0.3, 3.0, 30.0, 300.0)


class ReviewModelConfig(BaseConfig):
    """Options of :class:`ReviewModel` (see the module docstring)."""

    encoder: str = "minilm"
    max_tokens: int | None = Field(DEFAULT_MAX_TOKENS, ge=8)
    kind: Literal["linear", "mlp"] = "linear"
    l2: float | None = Field(None, gt=0.0)
    hidden: int = Field(128, ge=1)
    epochs: int = Field(300, ge=1)
    lr: float = Field(3e-3, gt=0.0)
    alignment: Literal["none", "coral", "mean", "whiten"] = "none"
    seed: int = 0


class ReviewModel:
    """Sentiment + rating head on review vectors; see the module docstring."""

    def __init__(self, config: ReviewModelConfig | None = None, **kwargs: Any) -> None:
        if config is None:
            config = ReviewModelConfig.from_dict(kwargs)
        elif kwargs:
            config = config.replace(**kwargs)
        self.config = config
        self.params: dict[str, np.ndarray] = {}
        self.info: dict[str, Any] = {}

    # -- inputs ------------------------------------------------------------------------------------------
    def encode(self, texts: Sequence[str], *, cache_dir: str | Path | None = None) -> np.ndarray:
        """Review vectors of ``texts`` with this model's encoder (cached on disk)."""
        return encode_reviews(
            texts, encoder=self.config.encoder, max_tokens=self.config.max_tokens, cache_dir=cache_dir
        )

    def _features(self, x: np.ndarray) -> np.ndarray:
        p = self.params
        x = np.asarray(x, dtype=np.float32)
        if "whiten.mean" in p:
            x = Whitening(p["whiten.mean"], p["whiten.proj"])(x)
        return (x - p["scale.mean"]) / p["scale.std"]

    # -- training ----------------------------------------------------------------------------------------
    def fit(
        self,
        vectors: np.ndarray,
        labels: np.ndarray | None = None,
        ratings: np.ndarray | None = None,
        *,
        target: np.ndarray | None = None,
    ) -> ReviewModel:
        """Train on review ``vectors`` with binary ``labels`` (1/0; -1 = none) and/or ``ratings`` (1-5; NaN =
        none). ``target``: unlabeled vectors of the target domain, needed by ``alignment`` other than
        ``"none"`` (``"whiten"`` without a target whitens with the source statistics)."""
        cfg = self.config
        x = np.asarray(vectors, dtype=np.float32)
        if x.ndim != 2 or not len(x):
            raise DataError(f"review vectors must be a non-empty 2-d array, got shape {x.shape}")
        n = len(x)
        y = np.full(n, -1, np.int8) if labels is None else np.asarray(labels).astype(np.int8)
        r = np.full(n, np.nan, np.float32) if ratings is None else np.asarray(ratings, np.float32)
        if len(y) != n or len(r) != n:
            raise DataError(f"{n} vectors but {len(y)} labels and {len(r)} ratings")
        has_y, has_r = y >= 0, np.isfinite(r)
        if has_y.sum() and len(np.unique(y[has_y])) < 2:
            raise DataError("binary labels need both classes (1 and 0)", field="label")
        if not has_y.any() and not has_r.any():
            raise DataError("no labels and no ratings to train on")
        if cfg.alignment in ("coral", "mean") and target is None:
            raise LmrecError(f"alignment '{cfg.alignment}' needs unlabeled target vectors (target=...)")
        self.params = {}
        if cfg.alignment == "coral":
            x = coral(x, target)  # type: ignore[arg-type]
        elif cfg.alignment == "mean":
            x = mean_align(x, target)  # type: ignore[arg-type]
        elif cfg.alignment == "whiten":
            x = Whitening.fit(x)(x)
            w = Whitening.fit(target if target is not None else vectors)
            self.params["whiten.mean"], self.params["whiten.proj"] = w.mean, w.proj
        self.params["scale.mean"] = x.mean(0).astype(np.float32)
        self.params["scale.std"] = (x.std(0) + 1e-6).astype(np.float32)
        z = (x - self.params["scale.mean"]) / self.params["scale.std"]
        rng = np.random.default_rng(cfg.seed)
        if cfg.kind == "linear":
            self._fit_linear(z, y, r, has_y, has_r, rng)
        else:
            self._fit_mlp(z, y, r, has_y, has_r, rng)
        self.info.update(
            {
                "n_train": int(n),
                "n_binary": int(has_y.sum()),
                "n_rated": int(has_r.sum()),
                "positive_rate": float(y[has_y].mean()) if has_y.any() else None,
                "mean_rating": float(r[has_r].mean()) if has_r.any() else None,
                "dim": int(x.shape[1]),
                "aligned_to_target": target is not None and cfg.alignment != "none",
            }
        )
        return self

    def fit_texts(
        self,
        texts: Sequence[str],
        labels: np.ndarray | None = None,
        ratings: np.ndarray | None = None,
        *,
        target_texts: Sequence[str] | None = None,
    ) -> ReviewModel:
        """:meth:`fit` on review texts (encoded with the configured encoder)."""
        target = self.encode(target_texts) if target_texts is not None else None
        return self.fit(self.encode(texts), labels, ratings, target=target)

    def _fit_linear(self, z, y, r, has_y, has_r, rng) -> None:  # noqa: ANN001
        d = z.shape[1]
        if has_y.any():
            zy, yy = z[has_y], y[has_y].astype(np.float64)
            l2 = self.config.l2 or _pick_l2(zy, yy, rng, _logistic_fit, _logistic_loss)
            w, b = _logistic_fit(zy, yy, l2)
            self.params["logit.w"], self.params["logit.b"] = w.astype(np.float32), np.float32([b])
            self.info["l2_binary"] = l2
        else:
            self.params["logit.w"], self.params["logit.b"] = np.zeros(d, np.float32), np.float32([0.0])
        if has_r.any():
            zr, rr = z[has_r], r[has_r].astype(np.float64)
            l2 = self.config.l2 or _pick_l2(zr, rr, rng, _ridge_fit, _ridge_loss)
            w, b = _ridge_fit(zr, rr, l2)
            self.params["rating.w"], self.params["rating.b"] = w.astype(np.float32), np.float32([b])
            self.info["l2_rating"] = l2
        else:
            self.params["rating.w"], self.params["rating.b"] = np.zeros(d, np.float32), np.float32([3.0])

    def _fit_mlp(self, z, y, r, has_y, has_r, rng) -> None:  # noqa: ANN001
        import torch

        cfg = self.config
        gen = torch.Generator().manual_seed(cfg.seed)
        d, h = z.shape[1], cfg.hidden
        w1 = torch.nn.Parameter(torch.randn(d, h, generator=gen) * (2.0 / d) ** 0.5)
        b1 = torch.nn.Parameter(torch.zeros(h))
        w2 = torch.nn.Parameter(torch.randn(h, 2, generator=gen) * (1.0 / h) ** 0.5)
        r_mean = float(np.nanmean(r[has_r])) if has_r.any() else 3.0
        b2 = torch.nn.Parameter(torch.tensor([0.0, r_mean]))
        zt = torch.from_numpy(z)
        yt, rt = torch.from_numpy(y.astype(np.float32)), torch.from_numpy(np.nan_to_num(r, nan=0.0))
        my, mr = torch.from_numpy(has_y), torch.from_numpy(has_r)
        wd = 1e-4 * (self.config.l2 or 1.0)
        opt = torch.optim.AdamW([w1, b1, w2, b2], lr=cfg.lr, weight_decay=wd)
        for _ in range(cfg.epochs):
            opt.zero_grad()
            out = torch.relu(zt @ w1 + b1) @ w2 + b2
            loss = torch.zeros(())
            if bool(my.any()):
                loss = loss + torch.nn.functional.binary_cross_entropy_with_logits(out[my, 0], yt[my])
            if bool(mr.any()):
                loss = loss + 0.25 * torch.nn.functional.smooth_l1_loss(out[mr, 1], rt[mr])
            loss.backward()
            opt.step()
        for k, t in (("mlp.w1", w1), ("mlp.b1", b1), ("mlp.w2", w2), ("mlp.b2", b2)):
            self.params[k] = t.detach().numpy().astype(np.float32)
        self.info["final_loss"] = float(loss.detach())

    # -- prediction --------------------------------------------------------------------------------------
    def _outputs(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not self.params:
            raise LmrecError("review model: call fit() (or load()) before predicting")
        z = self._features(vectors)
        p = self.params
        if "mlp.w1" in p:
            out = np.maximum(z @ p["mlp.w1"] + p["mlp.b1"], 0.0) @ p["mlp.w2"] + p["mlp.b2"]
            logit, rating = out[:, 0], out[:, 1]
        else:
            logit = z @ p["logit.w"] + p["logit.b"][0]
            rating = z @ p["rating.w"] + p["rating.b"][0]
        return logit.astype(np.float32), np.clip(rating, 1.0, 5.0).astype(np.float32)

    def predict_proba(self, vectors: np.ndarray) -> np.ndarray:
        """p(positive) per review vector."""
        logit, _ = self._outputs(vectors)
        return (1.0 / (1.0 + np.exp(-logit))).astype(np.float32)

    def predict_rating(self, vectors: np.ndarray) -> np.ndarray:
        """Predicted stars in [1, 5] per review vector."""
        return self._outputs(vectors)[1]

    def predict_texts(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(p(positive), stars) for review texts."""
        v = self.encode(texts)
        return self.predict_proba(v), self.predict_rating(v)

    def evaluate(
        self, vectors: np.ndarray, labels: np.ndarray | None = None, ratings: np.ndarray | None = None
    ) -> dict[str, float]:
        """Accuracy (with the majority-class baseline) on labelled rows; rating MAE (with the
        predict-the-training-mean baseline) on rated rows."""
        out: dict[str, float] = {"n": float(len(vectors))}
        prob = self.predict_proba(vectors)
        if labels is not None:
            y = np.asarray(labels)
            m = y >= 0
            if m.any():
                out["accuracy"] = float(((prob[m] >= 0.5) == (y[m] == 1)).mean())
                out["majority_accuracy"] = float(max(y[m].mean(), 1 - y[m].mean()))
                out["n_binary"] = float(m.sum())
        if ratings is not None:
            r = np.asarray(ratings, np.float32)
            m = np.isfinite(r)
            if m.any():
                pred = self.predict_rating(vectors)
                out["mae"] = float(np.abs(pred[m] - r[m]).mean())
                mean = self.info.get("mean_rating") or float(r[m].mean())
                out["mae_mean_baseline"] = float(np.abs(mean - r[m]).mean())
        return out

    # -- persistence -------------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write ``config.json`` and ``head.safetensors`` into the directory ``path``."""
        from lmrec.saved import write_saved

        if not self.params:
            raise LmrecError("review model: nothing to save, call fit() first")
        meta = {"model": "review-head", "config": self.config.to_dict(), "info": self.info}
        return write_saved(path, meta_file="config.json", meta=meta, arrays={"head.safetensors": self.params})

    @classmethod
    def load(cls, path: str | Path) -> ReviewModel:
        """Load a model written by :meth:`save`."""
        from lmrec.saved import read_arrays, read_meta

        p = Path(path)
        cfg_file = p / "config.json"
        if not cfg_file.is_file() or not (p / "head.safetensors").is_file():
            raise LmrecError(f"{p}: not a saved review model (needs config.json and head.safetensors)")
        meta = read_meta(p, "config.json", what="a saved review model")
        if meta.get("model") != "review-head":
            raise LmrecError(f'{cfg_file}: not a review model (expected "model": "review-head")')
        model = cls(ReviewModelConfig.from_dict(meta.get("config", {}), source=str(cfg_file)))
        model.info = dict(meta.get("info", {}))
        params = read_arrays(p / "head.safetensors", noun="the review head's weights")
        model.params = {k: np.asarray(v) for k, v in params.items()}
        return model


# -- numpy solvers ---------------------------------------------------------------------------------------
def _logistic_fit(x: np.ndarray, y: np.ndarray, l2: float, iters: int = 500) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression (intercept not penalised) by L-BFGS: two matrix-vector products
    per step, far cheaper than Newton's d x d Hessian on a few thousand 384-d reviews."""
    from scipy.optimize import minimize

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    d = x.shape[1]

    def f(wb: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = wb[:d], wb[d]
        z = x @ w + b
        # log(1 + e^z) - y z, computed stably
        loss = np.logaddexp(0.0, z) - y * z
        p = 0.5 * (1.0 + np.tanh(0.5 * z))
        g = p - y
        grad = np.empty(d + 1)
        grad[:d] = x.T @ g + l2 * w
        grad[d] = g.sum()
        return float(loss.sum() + 0.5 * l2 * (w @ w)), grad

    res = minimize(f, np.zeros(d + 1), jac=True, method="L-BFGS-B", options={"maxiter": iters, "gtol": 1e-6})
    return res.x[:d], float(res.x[d])


def _logistic_loss(x: np.ndarray, y: np.ndarray, wb: tuple[np.ndarray, float]) -> float:
    p = 1.0 / (1.0 + np.exp(-np.clip(x @ wb[0] + wb[1], -30, 30)))
    return float(-np.mean(y * np.log(p + 1e-9) + (1 - y) * np.log(1 - p + 1e-9)))


def _ridge_fit(x: np.ndarray, y: np.ndarray, l2: float) -> tuple[np.ndarray, float]:
    mu = y.mean()
    x64 = x.astype(np.float64)
    xm = x64.mean(0)
    xc = x64 - xm
    w = np.linalg.solve(xc.T @ xc + l2 * np.eye(x.shape[1]), xc.T @ (y - mu))
    return w, float(mu - xm @ w)


def _ridge_loss(x: np.ndarray, y: np.ndarray, wb: tuple[np.ndarray, float]) -> float:
    return float(np.abs(np.clip(x @ wb[0] + wb[1], 1, 5) - y).mean())


def _pick_l2(x, y, rng, fit, loss) -> float:  # noqa: ANN001
    """The L2 strength of :data:`_L2_GRID` with the lowest loss on a random fifth held out of training."""
    if len(x) < 50:
        return 30.0
    idx = rng.permutation(len(x))
    cut = len(x) // 5
    va, tr = idx[:cut], idx[cut:]
    if len(np.unique(y[tr])) < 2:
        return 30.0
    losses = [loss(x[va], y[va], fit(x[tr], y[tr], l2)) for l2 in _L2_GRID]
    return float(_L2_GRID[int(np.argmin(losses))])
