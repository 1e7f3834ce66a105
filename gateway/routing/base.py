"""The contract between the proxy adapter and every routing strategy.

Strategies never import LiteLLM: they see a `RoutingRequest` and the candidate names,
and answer with a `Decision`. LLM-assisted strategies receive an `LLMCaller` that sends
a chat completion to a deployment of the same config (so they work offline).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gateway.routing.spec import TrainingSpec

# (model_group, messages) -> assistant text. Provided by the proxy adapter.
LLMCaller = Callable[[str, list[dict[str, Any]]], Awaitable[str]]


@dataclass
class RoutingRequest:
    """What a strategy may look at: the query text, who asks, and a lazy embedding."""

    query: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    user: str | None = None
    team: str | None = None
    embed: Callable[[str], np.ndarray] | None = None
    llm_call: LLMCaller | None = None
    #: the query's embedding when the caller already has it (computed off the event loop, or
    #: read from a dataset); otherwise `embedding()` computes it with `embed` on first use
    vector: np.ndarray | None = None

    def embedding(self) -> np.ndarray:
        """The query's embedding, computed once and only if a strategy asks for it."""
        if self.vector is None:
            if self.embed is None:
                raise RuntimeError("this strategy needs an embedding but no embedder is configured")
            self.vector = self.embed(self.query)
        return self.vector


@dataclass(frozen=True)
class Decision:
    """The chosen candidate, with per-candidate scores for logs and spans."""

    model: str
    scores: dict[str, float] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)


class RoutingStrategy(ABC):
    """One loaded routing model. Instances are immutable: hot reload swaps whole instances."""

    #: the registry name, e.g. "llmrouter-knn"
    name: str = ""
    #: True when `select` reads `request.embedding()`
    needs_embedding: bool = False
    #: False for strategies that decide from `llm_data` or a router model alone
    needs_artifact: bool = True
    #: artifact `strategy` values this strategy loads (empty: only its own name)
    artifact_strategies: tuple[str, ...] = ()
    #: the arrays its artifact may carry (`{i}` for a layer index); exporters are checked against it
    arrays: tuple[str, ...] = ()
    #: how llmrouter-lib trains it (gateway.routing.spec.TrainingSpec); None: not trained by the pipeline
    training: TrainingSpec | None = None


    @property
    @abstractmethod
    def candidates(self) -> Sequence[str]:
        """Model names this strategy can choose from (the artifact's candidates)."""

    @abstractmethod
    async def select(self, request: RoutingRequest, available: Sequence[str]) -> Decision:
        """Pick one of `available` (a subset of `candidates`, e.g. after cooldowns)."""
