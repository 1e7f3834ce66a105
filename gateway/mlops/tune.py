"""Hyperparameters by cross-validation on the training split only (the test split is for
reporting): one main hyperparameter per llmrouter-lib strategy and the cost weight folded into
the score. Every fold's labels come from that fold's training rows only (`RoutingDataset.score`
on the subset: cost normalisation and tie-break prior included).

- knn: `cv_knn` fits scikit-learn's KNeighborsClassifier directly (it is what LLMRouter's
  KNNRouter fits: cosine metric, labels = the model names, first best row per query), ~100x
  faster than going through the library.
- svm, mlp, mf, graph: `cv_library` trains the real llmrouter-lib router on each fold with
  `gateway.mlops.train.train_all`, exports it and scores the held-out fold through the gateway's
  strategy class, so it is the library's model that is tuned.
- elo and hybrid have nothing here: EloRouter reads no hyperparameter and sends every query to
  one model; HybridLLMRouter only chooses between the smallest and the largest model by size.

Rule (`select`): the highest cross-validated mean quality among settings whose cross-validated
mean cost is below the best single model's (the goal: beat the best single model at a lower
cost); if none is (e.g. the best single model is the cheapest), the highest quality overall.
Means are task averages when the dataset names tasks (each task counts the same), and the best
single model is the one best on that average (`RoutingDataset.best_single`). Runs in the training environment except the
pure-numpy helpers (`fold_assignment`, `summarise`, `select`).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gateway.mlops.dataset import RoutingDataset, ScoreWeights
from gateway.routing.registry import trainable

# strategy: (the llmrouter-lib hparam key, values tried), as each strategy declares it
# (`training.tune`); the library's other keys keep the strategy's `training.hparams`.
# Why these keys: docs/mlops-training.md, "Benchmark".
GRIDS: dict[str, tuple[str, tuple]] = {short: cls.training.tune for short, cls in trainable().items()
                                       if cls.training.tune is not None}
COST_WEIGHTS = (0.0, 0.2)


@dataclass(frozen=True)
class Trial:
    params: dict = field(hash=False)
    cost_weight: float
    quality: float  # cross-validated mean quality (every row scored by a model that never saw it)
    cost: float  # cross-validated mean cost per query


def fold_assignment(n: int, folds: int = 5, seed: int = 0) -> np.ndarray:
    """Fold index per row: a random permutation mod `folds` (sizes differ by at most one)."""
    return np.random.default_rng(seed).permutation(n) % folds


def best_single_cost(dataset: RoutingDataset) -> float:
    """The best single model's mean cost per query (task-averaged when the dataset names tasks)."""
    best = dataset.models.index(dataset.best_single())
    return float(dataset.row_weights() @ np.nan_to_num(dataset.cost, nan=0.0)[:, best])


def summarise(dataset: RoutingDataset, chosen: np.ndarray, params: dict, cost_weight: float) -> Trial:
    rows, weights = np.arange(len(dataset)), dataset.row_weights()
    quality = np.nan_to_num(dataset.quality, nan=0.0)[rows, chosen]
    cost = np.nan_to_num(dataset.cost, nan=0.0)[rows, chosen]
    return Trial(dict(params), cost_weight, float(weights @ quality), float(weights @ cost))


def select(trials: Sequence[Trial], single_cost: float) -> Trial:
    cheaper = [t for t in trials if t.cost < single_cost]
    return max(cheaper or trials, key=lambda t: t.quality)


def cv_knn(dataset: RoutingDataset, embeddings: np.ndarray, ks: Sequence[int] = GRIDS["knn"][1],
           cost_weights: Sequence[float] = (0.0, 0.1, 0.2, 0.3, 0.5), folds: int = 5,
           seed: int = 0, prior: float = 0.01) -> tuple[Trial, list[Trial], float]:
    from sklearn.neighbors import KNeighborsClassifier

    n, names = len(dataset), np.array(dataset.models)
    fold_of = fold_assignment(n, folds, seed)
    trials = []
    for w in cost_weights:
        chosen = {k: np.zeros(n, dtype=int) for k in ks}
        for f in range(folds):
            train, test = np.flatnonzero(fold_of != f), np.flatnonzero(fold_of == f)
            score = dataset.subset(train).score(ScoreWeights(cost=w, prior=prior))
            labels = names[np.argmax(np.nan_to_num(score, nan=-np.inf), axis=1)]  # first max, as LLMRouter
            for k in ks:  # string labels: sklearn breaks vote ties as the library's classifier does
                model = KNeighborsClassifier(n_neighbors=k, metric="cosine").fit(embeddings[train], labels)
                chosen[k][test] = [dataset.models.index(m) for m in model.predict(embeddings[test])]
        trials += [summarise(dataset, chosen[k], {"n_neighbors": k}, w) for k in ks]
    single_cost = best_single_cost(dataset)
    return select(trials, single_cost), trials, single_cost


def cv_library(strategy: str, dataset: RoutingDataset, embeddings: np.ndarray, llm_data: dict, work: Path,
               values: Sequence | None = None, cost_weights: Sequence[float] = COST_WEIGHTS, folds: int = 5,
               seed: int = 0, prior: float = 0.01, encoder: str = "static") -> tuple[Trial, list[Trial], float]:
    """`folds`-fold CV of llmrouter-lib's `strategy` over `values` of its GRIDS key x `cost_weights`.
    Each fold's routing of its held-out rows is kept under `work` (`chosen.json`), so an
    interrupted run resumes where it stopped."""
    from gateway.mlops import parity
    from gateway.mlops.dataset import write_training_dir
    from gateway.mlops.train import train_all

    key, default = GRIDS[strategy]
    values = tuple(values or default)
    n = len(dataset)
    fold_of = fold_assignment(n, folds, seed)
    work = work / f"{encoder}-folds{folds}-seed{seed}-prior{prior:g}"
    chosen = {(w, v): np.zeros(n, dtype=int) for w in cost_weights for v in values}
    for w in cost_weights:
        for f in range(folds):
            test = np.flatnonzero(fold_of == f)
            fold_dir = work / f"cost-{w:g}" / f"fold{f}"
            data = None
            for v in values:
                done = fold_dir / f"{strategy}-{key}-{v:g}" / "chosen.json"
                if not done.exists():
                    data = data or write_training_dir(dataset.subset(np.flatnonzero(fold_of != f)),
                                                      ScoreWeights(cost=w, prior=prior), fold_dir / "data", llm_data)
                    report = train_all(data, done.parent, [strategy], {strategy: {key: v}}, f"cv-{strategy}",
                                       encoder=encoder)
                    model = parity.load_strategy(Path(report["strategies"][strategy]["artifact"]))
                    done.write_text(json.dumps(parity.route_all(model, [""] * len(test), embeddings[test])))
                    shutil.rmtree(done.parent / "work")  # ~30 MB of inputs and copies per fit: keep the artifact
                    (done.parent / "embeddings_train.npy").unlink()
                chosen[w, v][test] = [dataset.models.index(m) for m in json.loads(done.read_text())]
    trials = [summarise(dataset, chosen[w, v], {key: v}, w) for w in cost_weights for v in values]
    single_cost = best_single_cost(dataset)
    return select(trials, single_cost), trials, single_cost
