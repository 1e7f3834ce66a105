"""Train the quality routers (llmrouter-quality, -quality-logistic, -quality-mlp) and calibrate their dial.

    from gateway.mlops.quality_router import train_quality_router
    trained = train_quality_router(dataset, vectors, encoder=static_encoder(), kind="logistic")
    trained.files, trained.report, trained.choose(heldout_vectors)

Everything is chosen on the training data only: the best single model (`dataset.best_single()`: the
highest task-averaged quality; every mean here is task-averaged when the dataset names tasks),
each model's relative cost, the predictor's hyperparameters (its `GRIDS` entry) by k-fold
cross-validation, and the cost-quality curve the operator's dial reads (every training query
routed by a predictor fitted without its fold, at every `lambda` of `LAMBDAS`). A grid point is
chosen for the best quality its curve reaches (the router's default dial), then for the curve's
quality across cost budgets. The held-out data a caller evaluates on is never seen here. numpy
only: runs in the gateway's venv and in the training environment.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from gateway.mlops.dataset import RoutingDataset
from gateway.mlops.errors import DatasetError
from gateway.mlops.quality_fit import fit_logistic, fit_mlp
from gateway.mlops.tune import fold_assignment
from gateway.routing import artifact as fmt
from gateway.routing.strategies.quality import QualityStrategy, predict
from gateway.routing.strategies.quality_dial import BEST_QUALITY, dial_point, unit_rows, utilities
from gateway.routing.strategies.quality_mlp import LogisticQualityStrategy, MLPQualityStrategy, predict_mlp
from gateway.routing.strategies.recall import KEYS, QUALITY, Recall, recall_arrays

LAMBDAS = np.concatenate([[0.0], np.geomspace(1e-3, 1.0, 48)])
# the operator's cost budgets the curve's overall score averages over
COST_BUDGETS = np.linspace(0.3, 1.0, 8)
GRIDS: dict[str, tuple[dict, ...]] = {
    "knn": tuple({"n_neighbors": k, "alpha": a} for k in (10, 20, 50, 100) for a in (0.0, 5.0, 20.0)),
    "logistic": tuple({"l2": v} for v in (1.0, 3.0, 10.0, 30.0)),
    "mlp": tuple({"hidden": 128, "epochs": e} for e in (5, 10, 20, 40)),
}
STRATEGIES = {"knn": QualityStrategy, "logistic": LogisticQualityStrategy, "mlp": MLPQualityStrategy}


@dataclass(frozen=True)
class Curve:
    lambdas: np.ndarray
    quality: np.ndarray  # mean quality / the best single model's, per lambda
    cost: np.ndarray  # mean cost / the best single model's, per lambda

    def score(self) -> float:
        """Mean over COST_BUDGETS of the best quality ratio within that budget (0 when none fits)."""
        best = [self.quality[self.cost <= budget].max(initial=0.0) for budget in COST_BUDGETS]
        return float(np.mean(best))

    def rank(self) -> tuple[float, float]:
        """How grid points are compared: the best quality reached, then the score across budgets."""
        return round(float(self.quality.max()), 6), self.score()


def route(predicted: np.ndarray, model_cost: np.ndarray, cost_weight: float) -> np.ndarray:
    """Chosen column per row, as the strategies choose (`quality_dial.utilities`)."""
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


# --- the three predictors: fit (arrays, params) and predict from them -------------------------------

def _in_chunks(fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray, chunk: int = 512) -> np.ndarray:
    """`fn` over row blocks: a block of queries x all training rows stays ~160 MB at 40k rows."""
    return np.concatenate([fn(x[start:start + chunk]) for start in range(0, len(x), chunk)])


def predict_all(train_x: np.ndarray, train_q: np.ndarray, x: np.ndarray, k: int, alpha: float) -> np.ndarray:
    """llmrouter-quality's own prediction (`quality.predict`) for many queries."""
    units, mean = unit_rows(train_x), train_q.mean(axis=0)
    return _in_chunks(lambda part: predict(units, train_q, mean, unit_rows(part), k, alpha), x)


def _predict(kind: str, arrays: Mapping[str, np.ndarray], params: Mapping, units: np.ndarray) -> np.ndarray:
    if kind == "knn":
        return predict_all(arrays["embeddings"], arrays["quality"], units, params["n_neighbors"], params["alpha"])
    layers = [(arrays[f"weights_{i}"], arrays[f"biases_{i}"]) for i in range(sum(k.startswith("weights_")
                                                                                   for k in arrays))]
    return predict_mlp(layers, units)


def _fit(kind: str, x: np.ndarray, y: np.ndarray, weight: np.ndarray, hp: Mapping, seed: int
         ) -> list[tuple[dict, dict[str, np.ndarray]]]:
    """(params, arrays) for `hp`; one run gives every grid point of a path: the MLP's lengths
    (`hp["epochs"]`: a tuple), the logistic regression's strengths (`hp["l2"]`: a tuple)."""
    if kind == "knn":
        quality = np.where(weight > 0, y, 0.0)
        arrays = {"embeddings": x.astype(np.float32).astype(np.float64), "quality": quality,
                  "quality_mean": quality.mean(axis=0)}
        return [(dict(hp), arrays)]
    if kind == "logistic":
        path = fit_logistic(x, y, weight, hp["l2"] if isinstance(hp["l2"], tuple) else (hp["l2"],))
        return [({"l2": l2}, {"weights_0": w, "biases_0": b}) for l2, (w, b) in path.items()]
    epochs = tuple(hp["epochs"]) if isinstance(hp["epochs"], tuple) else (hp["epochs"],)
    snapshots = fit_mlp(x, y, weight, hp["hidden"], epochs, seed=seed)
    return [({"hidden": hp["hidden"], "epochs": e},
             {"weights_0": layers[0][0], "biases_0": layers[0][1], "weights_1": layers[1][0],
              "biases_1": layers[1][1]}) for e, layers in snapshots.items()]


def _runs(kind: str, grid: Sequence[Mapping]) -> list[dict]:
    """The fits cross-validation needs: one per grid point, one path for the logistic regression,
    one per hidden size for the MLP."""
    if kind == "knn":
        return [dict(hp) for hp in grid]
    if kind == "logistic":
        return [{"l2": tuple(sorted(hp["l2"] for hp in grid))}]
    by_hidden: dict[int, list[int]] = {}
    for hp in grid:
        by_hidden.setdefault(hp["hidden"], []).append(hp["epochs"])
    return [{"hidden": h, "epochs": tuple(sorted(e))} for h, e in by_hidden.items()]


@dataclass
class QualityTraining:
    """A trained quality router: the artifact's files, a report, and the trainer's own routing."""

    kind: str
    files: dict[str, bytes]
    report: dict
    arrays: dict[str, np.ndarray] = field(repr=False)
    params: dict
    model_cost: np.ndarray
    cost_weight: float  # lambda at the artifact's default dial
    candidates: list[str]

    def choose(self, vectors: np.ndarray, queries: Sequence[str] | None = None) -> list[str]:
        """The candidate the trainer's own model picks per query at the default dial (parity reference);
        with `queries`, a training query is routed by its observed quality (`recall.py`), as served."""
        predicted = _predict(self.kind, self.arrays, self.params, unit_rows(vectors))
        if queries is not None:
            predicted = Recall(self.arrays[KEYS], self.arrays[QUALITY]).apply(queries, predicted)
        return [self.candidates[i] for i in route(predicted, self.model_cost, self.cost_weight)]


def train_quality_router(dataset: RoutingDataset, vectors: np.ndarray, encoder=None, version: str = "quality",
                         folds: int = 5, seed: int = 0, grid: Sequence | None = None, kind: str = "knn"
                         ) -> QualityTraining:
    """Cross-validate `grid` (default `GRIDS[kind]`; for knn also `(n_neighbors, alpha)` pairs), fit the
    chosen point on all of `dataset`, and build the artifact with its cross-validated curve."""
    if kind not in STRATEGIES:
        raise ValueError(f"kind '{kind}': one of {', '.join(STRATEGIES)}")
    grid = [dict(zip(("n_neighbors", "alpha"), hp, strict=True)) if isinstance(hp, tuple) else dict(hp)
            for hp in (grid if grid is not None else GRIDS[kind])]
    observed = np.isfinite(dataset.quality)
    quality = np.nan_to_num(dataset.quality, nan=0.0)
    if kind != "knn" and (quality.min() < 0 or quality.max() > 1):
        raise DatasetError(f"{STRATEGIES[kind].name} predicts a probability: quality must be in [0, 1] (0/1 "
                           "correctness or a score scaled to it); the dataset has "
                           f"{quality.min():g}..{quality.max():g}")
    cost = np.nan_to_num(dataset.cost, nan=0.0)
    best = dataset.models.index(dataset.best_single())
    row_weights = dataset.row_weights()
    cell_weight = observed * (row_weights * len(dataset))[:, None]
    model_cost = row_weights @ cost / max(float(row_weights @ cost[:, best]), 1e-12)
    units = unit_rows(vectors)
    if kind == "knn":
        grid = [hp for hp in grid if hp["n_neighbors"] < len(dataset) * (folds - 1) / folds]
    if len(dataset) < 2 * folds or not grid:
        raise ValueError(f"{len(dataset)} training rows are too few for {folds}-fold cross-validation")
    fold_of = fold_assignment(len(dataset), folds, seed)
    predicted: dict[str, np.ndarray] = {}
    for f in range(folds):
        held = fold_of == f
        for run in _runs(kind, grid):
            for params, arrays in _fit(kind, units[~held], quality[~held], cell_weight[~held], run, seed):
                key = repr(sorted(params.items()))
                predicted.setdefault(key, np.empty_like(quality))[held] = _predict(kind, arrays, params, units[held])
    scored = [(curve(predicted[repr(sorted(hp.items()))], quality, cost, model_cost, best, row_weights), hp)
              for hp in grid]
    cv, choice = max(scored, key=lambda s: s[0].rank())
    (params, arrays), = _fit(kind, units, quality, cell_weight, choice, seed)
    arrays = {**arrays, "model_cost": model_cost, "curve_lambda": cv.lambdas, "curve_quality": cv.quality,
              "curve_cost": cv.cost, **recall_arrays(dataset.queries, dataset.quality)}
    spec = fmt.EmbeddingSpec()
    files_arrays = dict(arrays)
    if "embeddings" in files_arrays:  # the values are float32 already (see _fit): half the bytes
        files_arrays["embeddings"] = files_arrays["embeddings"].astype(np.float32)
    if encoder is not None:
        spec = fmt.EmbeddingSpec(model=encoder.model_name, dim=encoder.dim, max_tokens=encoder.max_tokens)
        files_arrays.update(encoder.artifact_arrays())
    point = dial_point(cv.lambdas, cv.quality, cv.cost, BEST_QUALITY)
    best_quality, cv_score = cv.rank()
    report = {"kind": kind, "strategy": STRATEGIES[kind].name, "best_single": dataset.models[best],
              "choice": params, "cv_best_quality_ratio": round(best_quality, 4), "cv_score": round(cv_score, 4),
              "default_point": {"lambda": float(cv.lambdas[point]), "quality_ratio": round(float(cv.quality[point]), 4),
                                "cost_ratio": round(float(cv.cost[point]), 4)},
              "grid": [{**hp, "cv_best_quality_ratio": round(c.rank()[0], 4), "cv_score": round(c.score(), 4)}
                       for c, hp in scored],
              "curve": {"lambda": cv.lambdas.tolist(), "quality_ratio": cv.quality.round(4).tolist(),
                        "cost_ratio": cv.cost.round(4).tolist()}}
    files = fmt.build_files(strategy=STRATEGIES[kind].name, version=version, candidates=list(dataset.models),
                            arrays=files_arrays, params={**params, "best_single": dataset.models[best]},
                            metrics={"train_rows": len(dataset), "cv_best_quality_ratio": round(best_quality, 4),
                                     "cv_score": round(cv_score, 4), "folds": folds},
                            embedding=spec)
    return QualityTraining(kind, files, report, arrays, params, model_cost, float(cv.lambdas[point]),
                           list(dataset.models))


def _native(kind: str):
    def train(dataset: RoutingDataset, vectors: np.ndarray, encoder=None, version: str = "quality",
              hparams: Mapping | None = None, seed: int = 0) -> QualityTraining:
        grid = [hparams] if hparams else None  # fixed hyperparameters skip the search
        return train_quality_router(dataset, vectors, encoder=encoder, version=version, seed=seed, grid=grid,
                                    kind=kind)
    train.__doc__ = f"Train {STRATEGIES[kind].name} (the strategy's `native_training`)."
    return train


train_knn, train_logistic, train_mlp = _native("knn"), _native("logistic"), _native("mlp")
