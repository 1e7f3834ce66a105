"""llmrouter-graph: LLMRouter's GraphRouter (GNN over query and LLM nodes), exact and per-query cheap.

At inference GraphRouter adds the new query as a node with edges to every LLM, but only the
training edges are visible to message passing, and the model runs in eval mode (BatchNorm uses
running statistics). So the LLM nodes' final states do not depend on the new query: the exporter
runs the trained GNN once and stores them. The score of LLM m is
    sigmoid(mean(x_ini_q * llm_states[m])),  x_ini_q = query_transform(minmax(q))
where minmax is the MinMaxScaler GraphRouter fits on [scaled training embeddings; q] per call:
per feature, min/max of the training column (stored) widened by q itself.
Arrays: train_min (d,), train_max (d,) [columns of the scaled training matrix], query_weight
(h, d), query_bias (h,) [model_align.query_transform], llm_states (L, h) [encoder output rows
of the LLM nodes, candidate order = GraphRouter.model_names].
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gateway.routing.artifact import Artifact
from gateway.routing.base import Decision, RoutingRequest
from gateway.routing.spec import TrainingSpec
from gateway.routing.strategies import _common as c

_EPS = 10 * np.finfo(np.float64).eps  # sklearn's _handle_zeros_in_scale threshold


def minmax_with_query(q: np.ndarray, train_min: np.ndarray, train_max: np.ndarray) -> np.ndarray:
    """MinMaxScaler().fit(vstack([train, q])).transform(q) from the training columns' min/max.

    The fit is in float64 (the stacked matrix is float64); the transform keeps the query's
    float32 dtype and rounds after each step, as sklearn's in-place `X *= scale_; X += min_` does.
    """
    q32 = np.asarray(q, dtype=np.float32)
    lo = np.minimum(train_min, q32.astype(np.float64))
    hi = np.maximum(train_max, q32.astype(np.float64))
    rng = hi - lo
    scale = 1.0 / np.where(rng < _EPS, 1.0, rng)
    offset = 0.0 - lo * scale
    return ((q32 * scale).astype(np.float32) + offset).astype(np.float32).astype(np.float64)


class GraphStrategy(c.StrategyBase):
    """Route to the LLM node with the highest predicted edge score among available ones."""

    name = "llmrouter-graph"
    arrays = ("train_min", "train_max", "query_weight", "query_bias", "llm_states")
    training = TrainingSpec(
        "llmrouter.models.graphrouter", "GraphRouter", "GraphTrainer",
        hparams={"hidden_dim": 32, "train_epoch": 20, "batch_size": 4, "learning_rate": 0.001},
        exporter="gateway.mlops.export:export_graph", tune=("hidden_dim", (16, 32, 64)), model_suffix=".pt")
    needs_embedding = True

    def __init__(self, artifact: Artifact):
        super().__init__(artifact.candidates, artifact)
        self.query_weight = c.array(artifact, "query_weight", 2, dtype=np.float64)
        hidden, self.dim = self.query_weight.shape
        self.query_bias = c.array(artifact, "query_bias", 1, (hidden,), dtype=np.float64)
        self.train_min = c.array(artifact, "train_min", 1, (self.dim,), dtype=np.float64)
        self.train_max = c.array(artifact, "train_max", 1, (self.dim,), dtype=np.float64)
        self.llm_states = c.array(artifact, "llm_states", 2, (len(self.candidates), hidden), dtype=np.float64)

    def scores(self, q: np.ndarray) -> np.ndarray:
        scaled = minmax_with_query(q, self.train_min, self.train_max)
        x_ini = self.query_weight @ scaled + self.query_bias
        return c.sigmoid(self.llm_states @ x_ini / x_ini.shape[0])

    async def select(self, request: RoutingRequest, available: Sequence[str]) -> Decision:
        return self.select_vector(c.query_vector(request, self.dim), available)

    def select_vector(self, query: np.ndarray, available: Sequence[str]) -> Decision:
        mask = c.available_mask(self.candidates, available)
        scores = self.scores(query)
        return c.decision(self.candidates, scores, c.best_available(scores, mask), mask, rule="gnn-edge")
