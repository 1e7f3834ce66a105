"""llmrouter-elo: LLMRouter's EloRouter, the candidate with the highest Elo rating (query-independent).

Array: ratings (L,), rating m for candidate m. LLMRouter saves a pandas Series sorted by rating
(descending) and takes the first maximum in that order: export candidates in the Series' order
and ties resolve the same way here (first candidate wins).
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.routing.artifact import Artifact
from gateway.routing.base import Decision, RoutingRequest
from gateway.routing.registry import StrategySettings
from gateway.routing.spec import TrainingSpec
from gateway.routing.strategies import _common as c


class EloStrategy(c.StrategyBase):
    """Route to the highest-rated available candidate."""

    name = "llmrouter-elo"
    arrays = ("ratings",)
    training = TrainingSpec(
        "llmrouter.models.elorouter", "EloRouter", "EloRouterTrainer",
        exporter="gateway.mlops.export:export_elo")
    needs_embedding = False

    def __init__(self, artifact: Artifact):
        super().__init__(artifact.candidates, artifact)
        self.ratings = c.array(artifact, "ratings", 1, (len(self.candidates),), dtype=float)

    @classmethod
    def load(cls, artifact: Artifact | None, settings: StrategySettings | None = None) -> EloStrategy:
        artifact = c.check_artifact(artifact, cls.name)
        c.args(settings, cls.name, {})
        return cls(artifact)

    async def select(self, request: RoutingRequest, available: Sequence[str]) -> Decision:
        mask = c.available_mask(self.candidates, available)
        return c.decision(
            self.candidates, self.ratings, c.best_available(self.ratings, mask), mask, rule="elo"
        )
