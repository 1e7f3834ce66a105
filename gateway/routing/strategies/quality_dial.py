"""What every quality-predicting router shares: the cost/quality dial and the selection rule.

A quality router predicts, for the query, each candidate's quality (in [0, 1]) and picks
`argmax_m quality_m - lambda * model_cost_m`, `model_cost` the candidate's mean cost on the training
data relative to the best single model's (so lambda is "quality points per best-single cost");
equal scores go to the cheaper candidate, then to the first. How the quality is predicted is the
subclass's business (`predicted_quality`): the k nearest training queries (llmrouter-quality),
a per-model logistic regression (llmrouter-quality-logistic) or a small MLP (llmrouter-quality-mlp).

**The dial**: training measures the cost-quality curve by cross-validation on the training data
only (`curve_lambda`, `curve_quality`, `curve_cost`, quality and cost as ratios of the best single
model's, which is chosen on the training data) and stores it in the artifact. The operator sets at
most one of these in `routing_strategy_args`; a config hot reload re-reads it, nothing is retrained:

- nothing: the curve's best quality (the cheapest point among equals): the router earns its keep
  in quality first, and saves cost only where quality does not suffer;
- `quality_target`: the cheapest point whose quality ratio reaches it (e.g. 0.99 of the best
  single model's quality);
- `max_cost_ratio`: the best quality whose cost ratio stays within it (e.g. 0.6);
- `cost_weight`: lambda itself.

A query the router was trained on is routed by its observed quality (`recall.py`); `recall_seen:
false` turns that off.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gateway.errors import ArtifactError, ConfigError
from gateway.routing.artifact import Artifact
from gateway.routing.base import Decision, RoutingRequest
from gateway.routing.registry import StrategySettings
from gateway.routing.strategies import _common as c
from gateway.routing.strategies.recall import KEYS, QUALITY, Recall, with_recalled

DIAL_KEYS = ("quality_target", "max_cost_ratio", "cost_weight")
BEST_QUALITY = "best_quality"  # the default setting: no dial key given
# every quality router's arrays besides its predictor's: the dial's, and recall's (optional)
DIAL_ARRAYS = ("model_cost", "curve_lambda", "curve_quality", "curve_cost", KEYS, QUALITY)
ARG_DEFAULTS = {**dict.fromkeys(DIAL_KEYS), "recall_seen": True}  # every key routing_strategy_args may set


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (zero rows stay zero): every predictor reads unit vectors."""
    x = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(norms == 0, 1.0, norms)


def utilities(predicted: np.ndarray, model_cost: np.ndarray, cost_weight: float) -> np.ndarray:
    """Quality minus cost_weight x cost; a vanishing cost term makes equal scores go to the cheaper one."""
    tie = 1e-9 * model_cost / max(float(model_cost.max()), 1e-12)
    return predicted - cost_weight * model_cost - tie


def dial_point(curve_lambda: np.ndarray, curve_quality: np.ndarray, curve_cost: np.ndarray,
               setting: str, value: float = 0.0) -> int:
    """Index of the curve point a dial setting chooses (see the module docstring)."""
    if setting == BEST_QUALITY:  # equal up to rounding: the same queries answered right
        best = np.flatnonzero(curve_quality >= curve_quality.max() - 1e-9)
        return int(best[np.argmin(curve_cost[best])])
    if setting == "quality_target":
        reached = np.flatnonzero(curve_quality >= value)
        if reached.size == 0:  # unreachable: the best quality the curve has
            return dial_point(curve_lambda, curve_quality, curve_cost, BEST_QUALITY)
        return int(reached[np.lexsort((-curve_quality[reached], curve_cost[reached]))[0]])
    if setting == "max_cost_ratio":
        within = np.flatnonzero(curve_cost <= value)
        if within.size == 0:  # nothing that cheap: the cheapest point
            return int(np.argmin(curve_cost))
        return int(within[np.lexsort((curve_cost[within], -curve_quality[within]))[0]])
    raise ValueError(setting)


def read_recall(settings: StrategySettings | None, name: str) -> bool:
    """`recall_seen` from `routing_strategy_args` (default true): a boolean."""
    value = c.args(settings, name, ARG_DEFAULTS)["recall_seen"]
    if not isinstance(value, bool):
        raise ConfigError("<config>", f"{c.ARGS_KEY}.recall_seen", f"value {value!r} must be true or false")
    return value


def read_dial(settings: StrategySettings | None, name: str) -> tuple[str, float]:
    """The operator's dial from `routing_strategy_args`: at most one of DIAL_KEYS, a number >= 0."""
    given = c.args(settings, name, ARG_DEFAULTS)
    chosen = [key for key in DIAL_KEYS if given[key] is not None]
    if len(chosen) > 1:
        raise ConfigError("<config>", f"{c.ARGS_KEY}.{chosen[1]}",
                          f"set one of {', '.join(DIAL_KEYS)}, not {' and '.join(chosen)}")
    if not chosen:
        return BEST_QUALITY, 0.0
    return chosen[0], c.float_arg(given, chosen[0], minimum=0.0)


class QualityDialStrategy(c.StrategyBase):
    """Route to the best predicted quality-minus-cost among the available candidates."""

    needs_embedding = True
    #: "module:function" training it in numpy (gateway.mlops.quality_router); no llmrouter-lib equivalent
    native_training: str = ""

    def __init__(self, artifact: Artifact, dial: tuple[str, float] = (BEST_QUALITY, 0.0), recall: bool = True):
        super().__init__(artifact.candidates, artifact)
        where = artifact.source or "<artifact>"
        self.model_cost = c.array(artifact, "model_cost", 1, (len(self.candidates),), dtype=np.float64)
        lambdas = c.array(artifact, "curve_lambda", 1, dtype=np.float64)
        curve_quality = c.array(artifact, "curve_quality", 1, lambdas.shape, dtype=np.float64)
        curve_cost = c.array(artifact, "curve_cost", 1, lambdas.shape, dtype=np.float64)
        if lambdas.size == 0 or np.any(lambdas < 0):
            raise ArtifactError(f"{where}: array 'curve_lambda' must be non-empty and >= 0")
        self.curve = (lambdas, curve_quality, curve_cost)  # cross-validated on the training data
        setting, value = dial
        if setting == "cost_weight":
            self.cost_weight, self.expected = value, None
        else:
            point = dial_point(lambdas, curve_quality, curve_cost, setting, value)
            self.cost_weight = float(lambdas[point])
            self.expected = {"quality_ratio": round(float(curve_quality[point]), 4),
                             "cost_ratio": round(float(curve_cost[point]), 4)}
        self.dial = setting if setting == BEST_QUALITY else f"{setting}={value:g}"
        self.recall = Recall.from_artifact(artifact, len(self.candidates)) if recall else Recall()

    @classmethod
    def load(cls, artifact: Artifact | None, settings: StrategySettings | None = None):
        artifact = c.check_artifact(artifact, cls.name)
        strategy = cls(artifact, read_dial(settings, cls.name), read_recall(settings, cls.name))
        c.check_embedding(artifact, strategy.dim)
        return strategy

    def predicted_quality(self, query: np.ndarray) -> np.ndarray:
        """Per candidate, the predicted quality of the answer to `query` (a unit vector)."""
        raise NotImplementedError

    def predicted_for(self, queries: Sequence[str], vectors: np.ndarray) -> np.ndarray:
        """Per query (rows), each candidate's quality: recalled where observed, predicted elsewhere."""
        return self.recall.apply(queries, self.predicted_quality(unit_rows(vectors)))

    async def select(self, request: RoutingRequest, available: Sequence[str]) -> Decision:
        recalled = self.recall.lookup(request.query)
        if recalled is not None and not np.isnan(recalled).any():  # all observed: no embedding needed
            return self.select_vector(None, available, recalled)
        return self.select_vector(c.query_vector(request, self.dim), available, recalled)

    def select_vector(self, query: np.ndarray | None, available: Sequence[str],
                      recalled: np.ndarray | None = None) -> Decision:
        """The decision for a query vector; `recalled`: the query's observed quality row, if a training query."""
        mask = c.available_mask(self.candidates, available)
        predicted = recalled if query is None else with_recalled(self.predicted_quality(unit_rows(query)), recalled)
        utility = utilities(predicted, self.model_cost, self.cost_weight)
        return c.decision(self.candidates, utility, c.best_available(utility, mask), mask, rule="quality-cost",
                          dial=self.dial, cost_weight=round(self.cost_weight, 6), expected=self.expected,
                          recalled=recalled is not None)
