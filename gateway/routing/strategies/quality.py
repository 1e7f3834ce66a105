"""llmrouter-quality: predict every candidate's quality for the query, then trade it against cost on a dial.

LLMRouter's routers learn one label per training query ("the best model") and throw the rest of
the quality matrix away; RouteLLM- and RouterBench-style routers predict each model's quality
instead and pick `argmax(quality - lambda * cost)`. This strategy does the latter:

- **Prediction**: the `n_neighbors` training queries nearest to the query (cosine, on the
  artifact's own encoder); per candidate, their mean observed quality shrunk towards the
  candidate's overall mean with `alpha` pseudo-rows: `(sum + alpha * mean) / (k + alpha)`.
- **Selection**: `argmax_m quality_m - lambda * model_cost_m`, `model_cost` the candidate's mean
  cost on the training data relative to the best single model's (so lambda is "quality points
  per best-single cost"); equal scores go to the cheaper candidate, then to the first.
- **The dial**: training measures the cost-quality curve by cross-validation on the training data
  only (`curve_lambda`, `curve_quality`, `curve_cost`, quality and cost as ratios of the best
  single model's, which is chosen on the training data) and stores it. The operator sets one of
  `quality_target` (the cheapest point whose quality ratio reaches it; default 1.0),
  `max_cost_ratio` (the best quality whose cost ratio stays within it) or `cost_weight` (lambda
  itself) in `routing_strategy_args`; a config hot reload re-reads it, nothing is retrained.

Trained by `gateway.mlops.quality_router` (numpy only; no llmrouter-lib equivalent, so no parity test).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gateway.errors import ArtifactError, ConfigError
from gateway.routing.artifact import Artifact
from gateway.routing.base import Decision, RoutingRequest
from gateway.routing.registry import StrategySettings
from gateway.routing.strategies import _common as c

DIAL_KEYS = ("quality_target", "max_cost_ratio", "cost_weight")
DEFAULT_QUALITY_TARGET = 1.0


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (zero rows stay zero), for cosine similarity as a dot product."""
    x = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(norms == 0, 1.0, norms)


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


def utilities(predicted: np.ndarray, model_cost: np.ndarray, cost_weight: float) -> np.ndarray:
    """Quality minus cost_weight x cost; a vanishing cost term makes equal scores go to the cheaper one."""
    tie = 1e-9 * model_cost / max(float(model_cost.max()), 1e-12)
    return predicted - cost_weight * model_cost - tie


def dial_point(curve_lambda: np.ndarray, curve_quality: np.ndarray, curve_cost: np.ndarray,
               setting: str, value: float) -> int:
    """Index of the curve point a dial setting chooses (see the module docstring)."""
    if setting == "quality_target":
        reached = np.flatnonzero(curve_quality >= value)
        if reached.size == 0:  # unreachable: the best quality the curve has
            return int(np.argmax(curve_quality))
        return int(reached[np.lexsort((-curve_quality[reached], curve_cost[reached]))[0]])
    if setting == "max_cost_ratio":
        within = np.flatnonzero(curve_cost <= value)
        if within.size == 0:  # nothing that cheap: the cheapest point
            return int(np.argmin(curve_cost))
        return int(within[np.lexsort((curve_cost[within], -curve_quality[within]))[0]])
    raise ValueError(setting)


class QualityStrategy(c.StrategyBase):
    """Route to the best predicted quality-minus-cost among the available candidates."""

    name = "llmrouter-quality"
    arrays = ("embeddings", "quality", "quality_mean", "model_cost", "curve_lambda", "curve_quality", "curve_cost")
    needs_embedding = True

    def __init__(self, artifact: Artifact, dial: tuple[str, float]):
        super().__init__(artifact.candidates, artifact)
        where = artifact.source or "<artifact>"
        n_models = len(self.candidates)
        embeddings = c.array(artifact, "embeddings", 2, kind="f", dtype=np.float64)
        n, self.dim = embeddings.shape
        self.unit = unit_rows(embeddings)
        self.quality = c.array(artifact, "quality", 2, (n, n_models), dtype=np.float64)
        self.quality_mean = c.array(artifact, "quality_mean", 1, (n_models,), dtype=np.float64)
        self.model_cost = c.array(artifact, "model_cost", 1, (n_models,), dtype=np.float64)
        lambdas = c.array(artifact, "curve_lambda", 1, dtype=np.float64)
        curve_quality = c.array(artifact, "curve_quality", 1, lambdas.shape, dtype=np.float64)
        curve_cost = c.array(artifact, "curve_cost", 1, lambdas.shape, dtype=np.float64)
        if lambdas.size == 0 or np.any(lambdas < 0):
            raise ArtifactError(f"{where}: array 'curve_lambda' must be non-empty and >= 0")
        self.k = int(c.param(artifact, "n_neighbors", 20))
        if not 1 <= self.k <= n:
            raise ArtifactError(f"{where}: params.n_neighbors is {self.k}; it must be 1..{n} (training rows)")
        self.alpha = float(c.param(artifact, "alpha", 0.0))
        setting, value = dial
        if setting == "cost_weight":
            self.cost_weight, self.expected = value, None
        else:
            point = dial_point(lambdas, curve_quality, curve_cost, setting, value)
            self.cost_weight = float(lambdas[point])
            self.expected = {"quality_ratio": round(float(curve_quality[point]), 4),
                             "cost_ratio": round(float(curve_cost[point]), 4)}
        self.dial = f"{setting}={value:g}"

    @classmethod
    def load(cls, artifact: Artifact | None, settings: StrategySettings | None = None) -> QualityStrategy:
        artifact = c.check_artifact(artifact, cls.name)
        given = c.args(settings, cls.name, dict.fromkeys(DIAL_KEYS))
        chosen = [key for key in DIAL_KEYS if given[key] is not None]
        if len(chosen) > 1:
            raise ConfigError("<config>", f"{c.ARGS_KEY}.{chosen[1]}",
                              f"set one of {', '.join(DIAL_KEYS)}, not {' and '.join(chosen)}")
        setting = chosen[0] if chosen else "quality_target"
        value = c.float_arg(given, setting, minimum=0.0) if chosen else DEFAULT_QUALITY_TARGET
        strategy = cls(artifact, (setting, value))
        c.check_embedding(artifact, strategy.dim)
        return strategy

    def predicted_quality(self, query: np.ndarray) -> np.ndarray:
        """Per candidate, the shrunk mean quality of the k nearest training queries."""
        return predict(self.unit, self.quality, self.quality_mean, unit_rows(query), self.k, self.alpha)

    async def select(self, request: RoutingRequest, available: Sequence[str]) -> Decision:
        return self.select_vector(c.query_vector(request, self.dim), available)

    def select_vector(self, query: np.ndarray, available: Sequence[str]) -> Decision:
        mask = c.available_mask(self.candidates, available)
        predicted = self.predicted_quality(query)
        utility = utilities(predicted, self.model_cost, self.cost_weight)
        return c.decision(self.candidates, utility, c.best_available(utility, mask), mask, rule="quality-cost",
                          dial=self.dial, cost_weight=round(self.cost_weight, 6), expected=self.expected)
