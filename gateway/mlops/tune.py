"""Hyperparameters by cross-validation on the training split only (the test split is for
reporting): for llmrouter-knn, the number of neighbours and the cost weight folded into the score.
Runs in the training environment (scikit-learn: the same KNeighborsClassifier LLMRouter fits).

Rule: the highest cross-validated mean quality among settings whose cross-validated mean cost is
below the best single model's (the goal: beat the best single model at a lower cost); if none
is, the highest quality overall.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gateway.mlops.dataset import RoutingDataset, ScoreWeights


@dataclass(frozen=True)
class Trial:
    k: int
    cost_weight: float
    quality: float
    cost: float


def cv_knn(dataset: RoutingDataset, embeddings: np.ndarray, ks: Sequence[int] = (5, 10, 25, 50, 100),
           cost_weights: Sequence[float] = (0.0, 0.1, 0.2, 0.3, 0.5), folds: int = 5,
           seed: int = 0, prior: float = 0.01) -> tuple[Trial, list[Trial], float]:
    from sklearn.neighbors import KNeighborsClassifier

    n = len(dataset)
    fold_of = np.random.default_rng(seed).permutation(n) % folds
    quality = np.nan_to_num(dataset.quality, nan=0.0)
    cost = np.nan_to_num(dataset.cost, nan=0.0)
    best_single = int(np.argmax(quality.mean(axis=0)))
    single_cost = float(cost[:, best_single].mean())
    trials = []
    for w in cost_weights:
        score = dataset.score(ScoreWeights(cost=w, prior=prior))
        labels = np.argmax(np.nan_to_num(score, nan=-np.inf), axis=1)  # first max, as LLMRouter
        for k in ks:
            chosen = np.zeros(n, dtype=int)
            for f in range(folds):
                train, test = fold_of != f, fold_of == f
                model = KNeighborsClassifier(n_neighbors=k, metric="cosine").fit(embeddings[train], labels[train])
                chosen[test] = model.predict(embeddings[test])
            rows = np.arange(n)
            trials.append(Trial(k, w, float(quality[rows, chosen].mean()), float(cost[rows, chosen].mean())))
    cheaper = [t for t in trials if t.cost < single_cost]
    best = max(cheaper or trials, key=lambda t: t.quality)
    return best, trials, single_cost
