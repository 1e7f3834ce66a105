"""llmrouter-mlp: LLMRouter's MLPRouter (torch MLPClassifierNN, or a legacy sklearn MLPClassifier).

Forward pass: hidden layers `activation(x @ W + b)`, a linear output layer, argmax (the first
maximum, as torch.argmax). Arrays: weights_i (in, out) and biases_i (out,) for every layer
(sklearn's coefs_/intercepts_ layout; transpose torch's nn.Linear.weight), and classes (C,):
the candidate index of each output unit (MLPRouter's idx_to_model; sklearn's classes_).
Params: activation (relu|tanh|logistic|identity). A binary sklearn MLPClassifier has one
logistic output unit: then the second class wins when the logit is > 0 (probability > 0.5).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gateway.errors import ArtifactError
from gateway.routing.artifact import Artifact
from gateway.routing.base import Decision, RoutingRequest
from gateway.routing.spec import TrainingSpec
from gateway.routing.strategies import _common as c


class MLPStrategy(c.StrategyBase):
    """Route to the MLP's argmax class; if unavailable, to the available class with the highest logit."""

    name = "llmrouter-mlp"
    arrays = ("weights_{i}", "biases_{i}", "classes")
    training = TrainingSpec(
        "llmrouter.models.mlprouter", "MLPRouter", "MLPTrainer",
        hparams={"hidden_layer_sizes": [128, 64], "activation": "relu", "epochs": 30, "lr": 0.001, "batch_size": 64},
        exporter="gateway.mlops.export:export_mlp", tune=("epochs", (10, 30, 60)), model_suffix=".pt",
        standardize=True, ensemble=5)
    needs_embedding = True

    def __init__(self, artifact: Artifact):
        super().__init__(artifact.candidates, artifact)
        where = artifact.source or "<artifact>"
        self.layers = c.mlp_layers(artifact)
        self.dim = self.layers[0][0].shape[0]
        self.activation_name = c.param(artifact, "activation", "relu", c.ACTIVATIONS)
        self.activation = c.ACTIVATIONS[self.activation_name]
        self.classes = c.array(artifact, "classes", 1, kind="iu", dtype=np.int64)
        outputs = self.layers[-1][0].shape[1]
        self.binary = outputs == 1 and self.classes.shape[0] == 2
        if outputs != self.classes.shape[0] and not self.binary:
            raise ArtifactError(
                f"{where}: the last layer has {outputs} outputs but 'classes' has "
                f"{self.classes.shape[0]} entries"
            )
        if self.classes.min() < 0 or self.classes.max() >= len(self.candidates):
            raise ArtifactError(
                f"{where}: array 'classes' must index candidates (0..{len(self.candidates) - 1})"
            )
        if len(set(self.classes.tolist())) != self.classes.shape[0]:
            raise ArtifactError(f"{where}: array 'classes' repeats a candidate")

    def logits(self, x: np.ndarray) -> np.ndarray:
        """One score per class (classes order); a binary sklearn model gives (0, logit)."""
        out = c.mlp_forward(self.layers, self.activation, x.astype(np.float64))
        if self.binary:
            # sigmoid(z) > 0.5  <=>  z > 0; scores (0, z) keep that order with ties -> first class.
            return np.array([0.0, out[0]])
        return out

    async def select(self, request: RoutingRequest, available: Sequence[str]) -> Decision:
        return self.select_vector(c.query_vector(request, self.dim), available)

    def select_vector(self, query: np.ndarray, available: Sequence[str]) -> Decision:
        mask = c.available_mask(self.candidates, available)
        scores = np.full(len(self.candidates), -np.inf)
        scores[self.classes] = self.logits(query)
        order = self.classes
        top = c.best_available(scores, np.ones_like(mask), order)
        chosen = c.best_available(scores, mask, order)
        if not np.isfinite(scores[chosen]):
            # No class is available: the first available candidate (documented last resort).
            chosen = int(np.flatnonzero(mask)[0])
        return c.decision(self.candidates, scores, chosen, mask, top=top, rule="argmax")
