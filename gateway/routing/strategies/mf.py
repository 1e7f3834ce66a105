"""llmrouter-mf: LLMRouter's MFRouter (RouteLLM-style bilinear matrix factorisation).

score(M, q) = w . (normalize(P[M]) * (W1 q)); route to argmax (first maximum, as torch.argmax).
Arrays (BilinearMF state_dict names in brackets): model_embeddings (L, k) [P.weight],
text_proj (k, d) [text_proj.weight], classifier (k,) [classifier.weight[0]]. Row m of
model_embeddings is candidate m (MFRouter's idx_to_model order).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gateway.routing.artifact import Artifact
from gateway.routing.base import Decision, RoutingRequest
from gateway.routing.spec import TrainingSpec
from gateway.routing.strategies import _common as c


class MFStrategy(c.StrategyBase):
    """Route to the highest bilinear score among available candidates."""

    name = "llmrouter-mf"
    arrays = ("model_embeddings", "text_proj", "classifier")
    training = TrainingSpec(
        "llmrouter.models.mfrouter", "MFRouter", "MFRouterTrainer",
        # text_dim is the encoder's width: the training driver sets it from the vectors
        hparams={"latent_dim": 64, "text_dim": 384, "epochs": 5, "lr": 0.001, "batch_size": 64},
        exporter="gateway.mlops.export:export_mf", tune=("epochs", (2, 5, 10)), model_suffix=".pt")
    needs_embedding = True

    def __init__(self, artifact: Artifact):
        super().__init__(artifact.candidates, artifact)
        n = len(self.candidates)
        p = c.array(artifact, "model_embeddings", 2, (n, None), dtype=np.float64)
        latent = p.shape[1]
        self.text_proj = c.array(artifact, "text_proj", 2, (latent, None), dtype=np.float64)
        self.dim = self.text_proj.shape[1]
        classifier = c.array(artifact, "classifier", 1, (latent,), dtype=np.float64)
        norms = np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-12)  # F.normalize's eps
        # score = sum_k w_k * Pn[m,k] * (W1 q)_k = ((Pn * w) @ W1) @ q: fold into one (L, d) matrix.
        self.folded = ((p / norms) * classifier) @ self.text_proj

    async def select(self, request: RoutingRequest, available: Sequence[str]) -> Decision:
        return self.select_vector(c.query_vector(request, self.dim), available)

    def select_vector(self, query: np.ndarray, available: Sequence[str]) -> Decision:
        mask = c.available_mask(self.candidates, available)
        scores = self.folded @ query.astype(np.float64)
        return c.decision(self.candidates, scores, c.best_available(scores, mask), mask, rule="argmax")
