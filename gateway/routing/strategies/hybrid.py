"""llmrouter-hybrid: LLMRouter's HybridLLMRouter (Ding et al. 2024, "Hybrid LLM").

An MLPRegressor predicts from the query embedding how likely the small model is good enough;
the score is clipped to [0, 1]; the small model is chosen when score >= threshold, else the large.
Arrays: weights_i (in, out), biases_i (out,) [MLPRegressor coefs_/intercepts_; identity output].
Params: activation, small_model, large_model (LLMRouter picks them by llm_data size at training
time; the exporter writes the names), threshold (router_threshold, default 0.5).
`routing_strategy_args`: threshold (float, overrides the artifact's) - the cost/quality knob.
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


class HybridStrategy(c.StrategyBase):
    """Small model if the regressor's clipped score >= threshold, else large; the other if unavailable."""

    name = "llmrouter-hybrid"
    arrays = ("weights_{i}", "biases_{i}")
    training = TrainingSpec(
        "llmrouter.models.hybrid_llm", "HybridLLMRouter", "HybridLLMTrainer",
        hparams={"hidden_layer_sizes": [64], "activation": "relu", "max_iter": 300, "random_state": 0},
        exporter="gateway.mlops.export:export_hybrid")
    needs_embedding = True

    def __init__(self, artifact: Artifact, threshold: float):
        super().__init__(artifact.candidates, artifact)
        where = artifact.source or "<artifact>"
        self.layers = c.mlp_layers(artifact)
        self.dim = self.layers[0][0].shape[0]
        if self.layers[-1][0].shape[1] != 1:
            raise ArtifactError(
                f"{where}: the regressor must have 1 output, has {self.layers[-1][0].shape[1]}"
            )
        self.activation = c.ACTIVATIONS[c.param(artifact, "activation", "relu", c.ACTIVATIONS)]
        self.small = c.param(artifact, "small_model", choices=self.candidates)
        self.large = c.param(artifact, "large_model", choices=self.candidates)
        if self.small == self.large:
            raise ArtifactError(f"{where}: params.small_model and params.large_model are both '{self.small}'")
        self.threshold = threshold
        self._small_idx = self.candidates.index(self.small)
        self._large_idx = self.candidates.index(self.large)

    @classmethod
    def load(cls, artifact: Artifact | None, settings: StrategySettings | None = None) -> HybridStrategy:
        artifact = c.check_artifact(artifact, cls.name)
        values = c.args(settings, cls.name, {"threshold": artifact.params.get("threshold", 0.5)})
        threshold = c.float_arg(values, "threshold")
        strategy = cls(artifact, threshold)
        c.check_embedding(artifact, strategy.dim)
        return strategy

    def score(self, x: np.ndarray) -> float:
        out = c.mlp_forward(self.layers, self.activation, x.astype(np.float64))
        return float(min(1.0, max(0.0, out[0])))

    async def select(self, request: RoutingRequest, available: Sequence[str]) -> Decision:
        return self.select_vector(c.query_vector(request, self.dim), available)

    def select_vector(self, query: np.ndarray, available: Sequence[str]) -> Decision:
        mask = c.available_mask(self.candidates, available)
        score = self.score(query)
        scores = np.full(len(self.candidates), -np.inf)
        scores[self._small_idx] = score
        scores[self._large_idx] = 1.0 - score
        top = self._small_idx if score >= self.threshold else self._large_idx
        other = self._large_idx if top == self._small_idx else self._small_idx
        chosen = top if mask[top] else other if mask[other] else c.best_available(scores, mask)
        if not mask[chosen]:
            chosen = int(np.flatnonzero(mask)[0])
        return c.decision(
            self.candidates,
            scores,
            chosen,
            mask,
            top=top,
            rule="threshold",
            router_score=score,
            threshold=self.threshold,
        )
