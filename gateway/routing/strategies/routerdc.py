"""llmrouter-routerdc: RouterDC's scoring head (similarity of the query to learned LLM embeddings).

LLMRouter's RouterDC encodes the query with mDeBERTa-v3-base ([CLS] state, 768-d), then scores
each LLM by cosine similarity (or inner product) with a learned embedding, divided by a
temperature, and routes to the argmax. The gateway does not carry mDeBERTa: this strategy runs
the same head on MiniLM embeddings, optionally through a learned linear projection. An artifact
must therefore be trained on MiniLM vectors (dual-contrastive training with a frozen MiniLM and a
trainable projection): a checkpoint trained by LLMRouter on mDeBERTa cannot be converted.
Arrays: llm_embeddings (L, k); optional projection (k, d) and projection_bias (k,).
Params: similarity (cos|inner, default cos), temperature (default 1.0).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gateway.errors import ArtifactError
from gateway.routing.artifact import Artifact
from gateway.routing.base import Decision, RoutingRequest
from gateway.routing.strategies import _common as c


class RouterDCStrategy(c.StrategyBase):
    """Route to the most similar LLM embedding among available candidates."""

    name = "llmrouter-routerdc"
    needs_embedding = True

    def __init__(self, artifact: Artifact):
        super().__init__(artifact.candidates, artifact)
        where = artifact.source or "<artifact>"
        self.llm = c.array(artifact, "llm_embeddings", 2, (len(self.candidates), None), dtype=np.float64)
        k = self.llm.shape[1]
        self.projection = c.optional_array(artifact, "projection", 2, (k, None))
        if self.projection is not None:
            self.projection = self.projection.astype(np.float64)
            self.dim = self.projection.shape[1]
            bias = c.optional_array(artifact, "projection_bias", 1, (k,))
            self.bias = np.zeros(k) if bias is None else bias.astype(np.float64)
        else:
            self.dim = k
            self.bias = None
        self.similarity = c.param(artifact, "similarity", "cos", ("cos", "inner"))
        self.temperature = float(c.param(artifact, "temperature", 1.0))
        if self.temperature <= 0:
            raise ArtifactError(f"{where}: params.temperature must be > 0, is {self.temperature}")
        self.llm_norms = np.linalg.norm(self.llm, axis=1)

    def scores(self, q: np.ndarray) -> np.ndarray:
        h = q.astype(np.float64)
        if self.projection is not None:
            h = self.projection @ h + self.bias
        sims = self.llm @ h
        if self.similarity == "cos":
            sims = sims / np.maximum(self.llm_norms * np.linalg.norm(h), 1e-12)
        return sims / self.temperature

    async def select(self, request: RoutingRequest, available: Sequence[str]) -> Decision:
        return self.select_vector(c.query_vector(request, self.dim), available)

    def select_vector(self, query: np.ndarray, available: Sequence[str]) -> Decision:
        mask = c.available_mask(self.candidates, available)
        scores = self.scores(query)
        return c.decision(self.candidates, scores, c.best_available(scores, mask), mask, rule="similarity")
