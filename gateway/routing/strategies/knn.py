"""llmrouter-knn: scikit-learn's KNeighborsClassifier.predict, in numpy.

LLMRouter's KNNRouter fits `KNeighborsClassifier(**hparam)` on one embedding per training query
labelled with that query's best model, and routes to `predict([embedding])[0]`. The artifact
keeps exactly what the fitted classifier holds (`_fit_X`, `_y`, n_neighbors, weights, metric), so
the vote is reproduced, including sklearn's tie rule (equal votes -> the class whose name sorts
first, because `classes_` is sorted).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gateway.errors import ArtifactError
from gateway.routing.artifact import Artifact
from gateway.routing.base import Decision, RoutingRequest
from gateway.routing.registry import StrategySettings
from gateway.routing.spec import TrainingSpec
from gateway.routing.strategies import _common as c

METRICS = ("euclidean", "cosine", "manhattan", "minkowski")
WEIGHTS = ("uniform", "distance")


class KNNModel:
    """The fitted classifier's state and its math; shared with cost-aware (performance prediction)."""

    def __init__(self, artifact: Artifact):
        where = artifact.source or "<artifact>"
        self.embeddings = c.array(artifact, "embeddings", 2, kind="f", dtype=np.float64)
        n, dim = self.embeddings.shape
        self.dim = dim
        self.num_candidates = len(artifact.candidates)
        self.labels = c.array(artifact, "labels", 1, shape=(n,), kind="iu", dtype=np.int64)
        if n == 0:
            raise ArtifactError(f"{where}: array 'embeddings' has no rows")
        if self.labels.min() < 0 or self.labels.max() >= self.num_candidates:
            raise ArtifactError(
                f"{where}: array 'labels' must index candidates (0..{self.num_candidates - 1}), "
                f"found {int(self.labels.min())}..{int(self.labels.max())}"
            )
        self.k = int(c.param(artifact, "n_neighbors", 5))
        if not 1 <= self.k <= n:
            raise ArtifactError(f"{where}: params.n_neighbors is {self.k}; it must be 1..{n} (training rows)")
        self.weights = c.param(artifact, "weights", "uniform", WEIGHTS)
        metric = c.param(artifact, "metric", "minkowski", METRICS)
        p = float(c.param(artifact, "p", 2))
        if metric == "minkowski":
            if p not in (1.0, 2.0):
                raise ArtifactError(f"{where}: params.p is {p}; only minkowski p=1 or p=2 is supported")
            metric = "euclidean" if p == 2.0 else "manhattan"
        self.metric = metric
        self.sq_norms = np.einsum("ij,ij->i", self.embeddings, self.embeddings)
        if metric == "cosine":
            norms = np.sqrt(self.sq_norms)
            self.unit = self.embeddings / np.where(norms == 0, 1.0, norms)[:, None]
        perf = c.optional_array(artifact, "performance", 2, (n, self.num_candidates))
        self.performance = None if perf is None else perf.astype(np.float64)

    def distances(self, query: np.ndarray) -> np.ndarray:
        """Distance from `query` to every training row, as sklearn's brute-force search computes it."""
        q = query.astype(np.float64)
        if self.metric == "euclidean":
            d2 = self.sq_norms - 2.0 * (self.embeddings @ q) + float(q @ q)
            return np.sqrt(np.maximum(d2, 0.0))
        if self.metric == "cosine":
            norm = float(np.linalg.norm(q))
            cos = self.unit @ (q / (norm if norm else 1.0))
            return np.clip(1.0 - cos, 0.0, 2.0)
        return np.abs(self.embeddings - q).sum(axis=1)

    def neighbours(self, dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Indices of the k nearest rows (nearest first; equal distances -> lower row first) and weights."""
        k = self.k
        part = np.argpartition(dist, k - 1)[:k] if k < dist.shape[0] else np.arange(dist.shape[0])
        idx = part[np.lexsort((part, dist[part]))]
        if self.weights == "uniform":
            return idx, np.ones(k)
        near = dist[idx]
        if np.any(near == 0.0):  # sklearn: exact matches get weight 1, everything else 0
            return idx, (near == 0.0).astype(np.float64)
        return idx, 1.0 / near

    def votes(self, idx: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return np.bincount(self.labels[idx], weights=weights, minlength=self.num_candidates)

    def predicted_performance(self, idx: np.ndarray, weights: np.ndarray) -> np.ndarray | None:
        """Per candidate, the neighbours' weighted mean performance (NaN where none observed)."""
        if self.performance is None:
            return None
        values = self.performance[idx]  # (k, L)
        seen = ~np.isnan(values)
        w = weights[:, None] * seen
        total = w.sum(axis=0)
        summed = np.where(seen, values, 0.0).T @ weights
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, summed / np.where(total > 0, total, 1.0), np.nan)


class KNNStrategy(c.StrategyBase):
    """Route to sklearn KNeighborsClassifier's prediction among the available candidates.

    If the predicted model is unavailable, the available model with the most (weighted) votes
    wins; if no neighbour voted for an available model, the nearest training query labelled with
    an available model decides.
    """

    name = "llmrouter-knn"
    arrays = ("embeddings", "labels", "performance")
    training = TrainingSpec(
        "llmrouter.models.knnrouter", "KNNRouter", "KNNRouterTrainer",
        hparams={"n_neighbors": 25, "weights": "uniform", "metric": "cosine"},
        exporter="gateway.mlops.export:export_knn", tune=("n_neighbors", (5, 10, 25, 50, 100)))
    needs_embedding = True

    def __init__(self, artifact: Artifact, model: KNNModel):
        super().__init__(artifact.candidates, artifact)
        self.model = model
        self._order = c.name_order(artifact.candidates)

    @classmethod
    def load(cls, artifact: Artifact | None, settings: StrategySettings | None = None) -> KNNStrategy:
        artifact = c.check_artifact(artifact, cls.name)
        c.args(settings, cls.name, {})
        model = KNNModel(artifact)
        c.check_embedding(artifact, model.dim)
        return cls(artifact, model)

    async def select(self, request: RoutingRequest, available: Sequence[str]) -> Decision:
        return self.select_vector(c.query_vector(request, self.model.dim), available)

    def select_vector(self, query: np.ndarray, available: Sequence[str]) -> Decision:
        """The synchronous core of `select` (benchmarks and tests call it directly)."""
        mask = c.available_mask(self.candidates, available)
        dist = self.model.distances(query)
        idx, weights = self.model.neighbours(dist)
        votes = self.model.votes(idx, weights)
        top = c.best_available(votes, np.ones_like(mask), self._order)
        chosen = c.best_available(votes, mask, self._order)
        rule = "vote"
        if votes[chosen] <= 0:
            usable = mask[self.model.labels]
            nearest = int(np.flatnonzero(usable)[np.argmin(dist[usable])])
            chosen = int(self.model.labels[nearest])
            rule = "nearest-available"
        total = votes.sum()
        shares = votes / total if total > 0 else votes
        return c.decision(self.candidates, shares, chosen, mask, top=top, rule=rule, k=self.model.k)
