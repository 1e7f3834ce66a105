"""Train `llmrouter-quality` (gateway/routing/strategies/quality.py) and calibrate its cost-quality dial.

    from gateway.mlops.quality_router import train_quality_router
    files, report = train_quality_router(dataset, vectors, encoder=static_encoder())

Everything is chosen on the training data only: the best single model (`dataset.best_single()`: the
highest task-averaged quality; every mean here is task-averaged when the dataset names tasks),
each model's relative cost, the neighbourhood size and shrinkage (`GRID`) by 5-fold
cross-validation, and the cost-quality curve the operator's dial reads (every training query
routed by a model fitted without its fold, at every `lambda` of `LAMBDAS`). The held-out data
a caller evaluates on is never seen here. numpy only: runs in the gateway's venv and in training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gateway.mlops.dataset import RoutingDataset
from gateway.mlops.tune import fold_assignment
from gateway.routing import artifact as fmt
from gateway.routing.strategies.quality import QualityStrategy, predict, unit_rows, utilities

GRID: tuple[tuple[int, float], ...] = tuple((k, a) for k in (10, 20, 50, 100) for a in (0.0, 5.0, 20.0))
LAMBDAS = np.concatenate([[0.0], np.geomspace(1e-3, 1.0, 48)])
# the operator's cost budgets the hyperparameters are chosen for: the mean best quality within each
COST_BUDGETS = np.linspace(0.3, 1.0, 8)


@dataclass(frozen=True)
class Curve:
    lambdas: np.ndarray
    quality: np.ndarray  # mean quality / the best single model's, per lambda
    cost: np.ndarray  # mean cost / the best single model's, per lambda

    def score(self) -> float:
        """Mean over COST_BUDGETS of the best quality ratio within that budget (0 when none fits)."""
        best = [self.quality[self.cost <= budget].max(initial=0.0) for budget in COST_BUDGETS]
        return float(np.mean(best))


def predict_all(train_x: np.ndarray, train_q: np.ndarray, x: np.ndarray, k: int, alpha: float,
                chunk: int = 2048) -> np.ndarray:
    """The strategy's own prediction (`quality.predict`) for many queries, in chunks."""
    units, queries, mean = unit_rows(train_x), unit_rows(x), train_q.mean(axis=0)
    return np.concatenate([predict(units, train_q, mean, queries[start:start + chunk], k, alpha)
                           for start in range(0, len(x), chunk)] or [np.empty((0, train_q.shape[1]))])


def route(predicted: np.ndarray, model_cost: np.ndarray, cost_weight: float) -> np.ndarray:
    """Chosen column per row, as the strategy chooses (`quality.utilities`)."""
    return np.argmax(utilities(predicted, model_cost, cost_weight), axis=1)


def curve(predicted: np.ndarray, quality: np.ndarray, cost: np.ndarray, model_cost: np.ndarray,
          best: int, weights: np.ndarray) -> Curve:
    """Quality and cost ratios to the best single model at every lambda; means weighted by `weights`."""
    rows = np.arange(len(quality))
    base_q, base_c = max(weights @ quality[:, best], 1e-12), max(weights @ cost[:, best], 1e-12)
    points = [(weights @ quality[rows, c] / base_q, weights @ cost[rows, c] / base_c)
              for c in (route(predicted, model_cost, lam) for lam in LAMBDAS)]
    q, c = (np.array(v) for v in zip(*points, strict=True))
    return Curve(LAMBDAS.copy(), q, c)


def train_quality_router(dataset: RoutingDataset, vectors: np.ndarray, encoder=None, version: str = "quality",
                         folds: int = 5, seed: int = 0, grid: Sequence[tuple[int, float]] = GRID
                         ) -> tuple[dict[str, bytes], dict]:
    """The artifact's files and a report (choice, CV curve, every grid point's score)."""
    quality = np.nan_to_num(dataset.quality, nan=0.0)
    cost = np.nan_to_num(dataset.cost, nan=0.0)
    best = dataset.models.index(dataset.best_single())
    weights = dataset.row_weights()
    model_cost = weights @ cost / max(float(weights @ cost[:, best]), 1e-12)
    fold_of = fold_assignment(len(dataset), folds, seed)
    scored = []
    for k, alpha in grid:
        if k >= len(dataset) * (folds - 1) / folds:
            continue
        predicted = np.empty_like(quality)
        for f in range(folds):
            held = fold_of == f
            predicted[held] = predict_all(vectors[~held], quality[~held], vectors[held], k, alpha)
        cv = curve(predicted, quality, cost, model_cost, best, weights)
        scored.append((cv.score(), k, alpha, cv))
    if not scored:
        raise ValueError(f"{len(dataset)} training rows are too few for {folds}-fold cross-validation")
    score, k, alpha, cv = max(scored, key=lambda s: s[0])
    arrays = {"embeddings": np.asarray(vectors, dtype=np.float32), "quality": quality,
              "quality_mean": quality.mean(axis=0), "model_cost": model_cost,
              "curve_lambda": cv.lambdas, "curve_quality": cv.quality, "curve_cost": cv.cost}
    spec = fmt.EmbeddingSpec()
    if encoder is not None:
        spec = fmt.EmbeddingSpec(model=encoder.model_name, dim=encoder.dim, max_tokens=encoder.max_tokens)
        arrays.update(encoder.artifact_arrays())
    report = {"best_single": dataset.models[best], "n_neighbors": k, "alpha": alpha, "cv_score": round(score, 4),
              "grid": [{"n_neighbors": kk, "alpha": aa, "cv_score": round(s, 4)} for s, kk, aa, _ in scored],
              "curve": {"lambda": cv.lambdas.tolist(), "quality_ratio": cv.quality.round(4).tolist(),
                        "cost_ratio": cv.cost.round(4).tolist()}}
    files = fmt.build_files(strategy=QualityStrategy.name, version=version, candidates=list(dataset.models),
                            arrays=arrays, params={"n_neighbors": k, "alpha": alpha,
                                                   "best_single": dataset.models[best]},
                            metrics={"train_rows": len(dataset), "cv_score": round(score, 4), "folds": folds},
                            embedding=spec)
    return files, report
