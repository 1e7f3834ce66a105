"""llmrouter-quality: each candidate's quality predicted from the query's nearest training queries.

LLMRouter's routers learn one label per training query ("the best model") and throw the rest of
the quality matrix away; RouteLLM- and RouterBench-style routers predict each model's quality
instead and pick `argmax(quality - lambda * cost)` (the selection and the operator's dial:
`quality_dial.py`). Here the prediction is the `n_neighbors` training queries nearest to the query
(cosine, on the artifact's own encoder): per candidate, their mean observed quality shrunk towards
the candidate's overall mean with `alpha` pseudo-rows, `(sum + alpha * mean) / (k + alpha)`.

Trained by `gateway.mlops.quality_router` (numpy only; no llmrouter-lib equivalent, so no library
parity test: the trainer's own choices are the reference).
"""

from __future__ import annotations

import numpy as np

from gateway.errors import ArtifactError
from gateway.routing.artifact import Artifact
from gateway.routing.strategies import _common as c
from gateway.routing.strategies.quality_dial import BEST_QUALITY, DIAL_ARRAYS, QualityDialStrategy, unit_rows

__all__ = ["QualityStrategy", "predict", "unit_rows"]


def predict(units: np.ndarray, quality: np.ndarray, quality_mean: np.ndarray, queries: np.ndarray, k: int,
            alpha: float) -> np.ndarray:
    """Predicted quality (rows: `queries`, unit length; columns: candidates) from the k nearest of the
    training `units`: the same math for serving and for the trainer's cross-validated curve."""
    similarity = queries @ units.T
    if k < units.shape[0]:
        nearest = np.argpartition(-similarity, k - 1, axis=-1)[..., :k]
    else:
        nearest = np.broadcast_to(np.arange(units.shape[0]), similarity.shape)
    return (quality[nearest].sum(axis=-2) + alpha * quality_mean) / (k + alpha)


class QualityStrategy(QualityDialStrategy):
    """Quality predicted by the shrunk mean of the k nearest training queries."""

    name = "llmrouter-quality"
    arrays = ("embeddings", "quality", "quality_mean", *DIAL_ARRAYS)
    native_training = "gateway.mlops.quality_router:train_knn"

    def __init__(self, artifact: Artifact, dial: tuple[str, float] = (BEST_QUALITY, 0.0), recall: bool = True):
        super().__init__(artifact, dial, recall)
        where = artifact.source or "<artifact>"
        embeddings = c.array(artifact, "embeddings", 2, kind="f", dtype=np.float64)
        n, self.dim = embeddings.shape
        self.unit = unit_rows(embeddings)
        self.quality = c.array(artifact, "quality", 2, (n, len(self.candidates)), dtype=np.float64)
        self.quality_mean = c.array(artifact, "quality_mean", 1, (len(self.candidates),), dtype=np.float64)
        self.k = int(c.param(artifact, "n_neighbors", 20))
        if not 1 <= self.k <= n:
            raise ArtifactError(f"{where}: params.n_neighbors is {self.k}; it must be 1..{n} (training rows)")
        self.alpha = float(c.param(artifact, "alpha", 0.0))

    def predicted_quality(self, query: np.ndarray) -> np.ndarray:
        return predict(self.unit, self.quality, self.quality_mean, query, self.k, self.alpha)
