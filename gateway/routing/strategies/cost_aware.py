"""llmrouter-cost-aware: predicted quality minus weighted price (the gateway's own design).

LLMRouter's trainers ignore cost (its docs say: fold cost into `performance`). This strategy makes
the trade-off a runtime knob instead:

    utility(m) = quality(m) - cost_weight * price(m) / max(price over candidates)

quality(m): the KNN neighbours' weighted mean observed performance of model m (the artifact is a
KNN artifact - strategy llmrouter-knn or llmrouter-cost-aware - that carries the optional
`performance` (n, L) array, NaN where a model was not evaluated; a model no neighbour has data
for is never chosen unless nothing else is available). price(m) = input_price + output_price from
llm_data (per 1M tokens; an equal input/output token mix is assumed). cost_weight 0 is pure
quality; 1 means the most expensive model must be a full performance unit better to win.
`routing_strategy_args`: cost_weight (float >= 0, default 0.5).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gateway.errors import ArtifactError, ConfigError
from gateway.routing.artifact import Artifact
from gateway.routing.base import Decision, RoutingRequest
from gateway.routing.registry import StrategySettings
from gateway.routing.strategies import _common as c
from gateway.routing.strategies.knn import KNNModel

ARTIFACT_STRATEGIES = ("llmrouter-knn", "llmrouter-cost-aware")


class CostAwareStrategy(c.StrategyBase):
    """Highest quality-minus-cost utility among available candidates."""

    name = "llmrouter-cost-aware"
    needs_embedding = True
    artifact_strategies = ARTIFACT_STRATEGIES

    def __init__(self, artifact: Artifact, model: KNNModel, prices: np.ndarray, cost_weight: float):
        super().__init__(artifact.candidates, artifact)
        self.model = model
        self.prices = prices
        top = prices.max()
        self.cost_penalty = cost_weight * (prices / top if top > 0 else prices)
        self.cost_weight = cost_weight

    @classmethod
    def load(cls, artifact: Artifact | None, settings: StrategySettings | None = None) -> CostAwareStrategy:
        if artifact is not None and artifact.strategy in ARTIFACT_STRATEGIES:
            artifact = c.check_artifact(artifact, artifact.strategy)
        else:
            artifact = c.check_artifact(artifact, cls.name)
        values = c.args(settings, cls.name, {"cost_weight": 0.5})
        cost_weight = c.float_arg(values, "cost_weight", minimum=0.0)
        model = KNNModel(artifact)
        if model.performance is None:
            raise ArtifactError(
                f"{artifact.source}: array 'performance' missing; cost-aware routing needs the "
                f"per-model performance of the training queries"
            )
        c.check_embedding(artifact, model.dim)
        llm_data = settings.llm_data if settings is not None else {}
        missing = [m for m in artifact.candidates if m not in llm_data]
        if missing:
            raise ConfigError(
                "<config>", "llm_data_path", f"{cls.name} needs prices for {', '.join(missing)}"
            )
        prices = np.array([llm_data[m].input_price + llm_data[m].output_price for m in artifact.candidates])
        return cls(artifact, model, prices, cost_weight)

    async def select(self, request: RoutingRequest, available: Sequence[str]) -> Decision:
        return self.select_vector(c.query_vector(request, self.model.dim), available)

    def select_vector(self, query: np.ndarray, available: Sequence[str]) -> Decision:
        mask = c.available_mask(self.candidates, available)
        idx, weights = self.model.neighbours(self.model.distances(query))
        quality = self.model.predicted_performance(idx, weights)
        utility = np.where(np.isnan(quality), -np.inf, quality - self.cost_penalty)
        chosen = c.best_available(utility, mask)
        if not np.isfinite(utility[chosen]):
            chosen = int(np.flatnonzero(mask)[np.argmin(self.prices[mask])])  # no data: the cheapest
        return c.decision(
            self.candidates,
            utility,
            chosen,
            mask,
            rule="utility",
            cost_weight=self.cost_weight,
            quality={m: float(q) for m, q in zip(self.candidates, quality, strict=True) if np.isfinite(q)},
        )
