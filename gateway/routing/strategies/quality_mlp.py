"""llmrouter-quality-mlp and llmrouter-quality-logistic: each candidate's quality from a small network.

`sigmoid(mlp(x))` on the query's unit vector, one output per candidate: the probability that each
candidate answers well. The MLP (one ReLU hidden layer, arrays `weights_i`/`biases_i` in
llmrouter-mlp's layout) learns what the candidates share once; the logistic regression is the same
network with no hidden layer (`weights_0` (d, candidates), `biases_0`), one L2-regularised
regression per candidate, which generalises better where training queries are few or test queries
come from other tasks. Selection and the operator's dial: `quality_dial.py`. Trained by
`gateway.mlops.quality_router` (numpy: Newton's method, Adam), regularisation and epochs chosen by
cross-validation on the training data.
"""

from __future__ import annotations

import numpy as np

from gateway.errors import ArtifactError
from gateway.routing.artifact import Artifact
from gateway.routing.strategies import _common as c
from gateway.routing.strategies.quality_dial import BEST_QUALITY, DIAL_ARRAYS, QualityDialStrategy

Layers = list[tuple[np.ndarray, np.ndarray]]


def predict_mlp(layers: Layers, units: np.ndarray) -> np.ndarray:
    """Per candidate, the sigmoid of the network's output: serving and the trainer's CV share it."""
    return c.sigmoid(c.mlp_forward(layers, c.ACTIVATIONS["relu"], units))


class MLPQualityStrategy(QualityDialStrategy):
    """Quality predicted by a multi-output MLP."""

    name = "llmrouter-quality-mlp"
    arrays = ("weights_{i}", "biases_{i}", *DIAL_ARRAYS)
    native_training = "gateway.mlops.quality_router:train_mlp"
    #: how many layers the artifact may have (None: any)
    layer_count: int | None = None

    def __init__(self, artifact: Artifact, dial: tuple[str, float] = (BEST_QUALITY, 0.0), recall: bool = True):
        super().__init__(artifact, dial, recall)
        where = artifact.source or "<artifact>"
        self.layers = c.mlp_layers(artifact)
        if self.layer_count is not None and len(self.layers) != self.layer_count:
            raise ArtifactError(f"{where}: {self.name} has {self.layer_count} layer(s); the artifact has "
                                f"{len(self.layers)}")
        self.dim = self.layers[0][0].shape[0]
        outputs = self.layers[-1][0].shape[1]
        if outputs != len(self.candidates):
            raise ArtifactError(f"{where}: the last layer has {outputs} outputs for {len(self.candidates)} candidates")

    def predicted_quality(self, query: np.ndarray) -> np.ndarray:
        return predict_mlp(self.layers, query)


class LogisticQualityStrategy(MLPQualityStrategy):
    """Quality predicted by a logistic regression per candidate (the network without a hidden layer)."""

    name = "llmrouter-quality-logistic"
    arrays = ("weights_0", "biases_0", *DIAL_ARRAYS)
    native_training = "gateway.mlops.quality_router:train_logistic"
    layer_count = 1
