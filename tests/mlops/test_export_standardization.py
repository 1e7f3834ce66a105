"""The mlp is trained on standardised vectors and exported for raw ones (`export.fold_standardization`):
the folded first layer must give the gateway's strategy the logits the library's network computes on
the standardised input, and a misfit must be refused. numpy only (no training environment)."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.errors import ArtifactError
from gateway.mlops.export import fold_standardization
from gateway.mlops.train import standardization
from gateway.routing.strategies import _common as c


def _network(rng: np.random.Generator, dim: int) -> dict[str, np.ndarray]:
    def normal(*shape):
        return rng.normal(size=shape).astype(np.float32)

    return {"weights_0": normal(dim, 8), "biases_0": normal(8), "weights_1": normal(8, 3), "biases_1": normal(3),
            "classes": np.arange(3)}


def _logits(arrays: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    layers = [(np.asarray(arrays[f"weights_{i}"], np.float64), np.asarray(arrays[f"biases_{i}"], np.float64))
              for i in range(2)]
    return c.mlp_forward(layers, c.ACTIVATIONS["relu"], x)


def test_folded_network_on_raw_vectors_equals_trained_network_on_standardised_ones():
    rng = np.random.default_rng(0)
    # unit vectors sharing one large mean direction, as the static encoder's do
    train = rng.normal(size=(200, 16)) * 0.05 + 0.5
    train /= np.linalg.norm(train, axis=1, keepdims=True)
    queries = rng.normal(size=(50, 16)) * 0.05 + 0.5
    mean, scale = standardization(train)
    arrays = _network(rng, 16)
    folded = fold_standardization(arrays, mean, scale)
    expected = _logits(arrays, (queries - mean) / scale)
    assert np.allclose(_logits(folded, queries), expected, rtol=1e-9, atol=1e-9)
    assert (_logits(folded, queries).argmax(axis=1) == expected.argmax(axis=1)).all()
    assert folded["classes"] is arrays["classes"] and folded["weights_1"] is arrays["weights_1"]
    # without the fold the same raw vectors pick differently: the fold is not a no-op
    assert not np.allclose(_logits(arrays, queries), expected)


def test_constant_input_keeps_scale_one():
    vectors = np.column_stack([np.linspace(0, 1, 10), np.full(10, 0.3)])
    mean, scale = standardization(vectors)
    assert scale[1] == 1.0 and mean[1] == pytest.approx(0.3)
    assert scale[0] == pytest.approx(vectors[:, 0].std())


def test_misfit_standardisation_is_refused():
    arrays = _network(np.random.default_rng(1), 16)
    with pytest.raises(ArtifactError, match=r"standardisation of 12 inputs does not fit weights_0 \(16, 8\)"):
        fold_standardization(arrays, np.zeros(12), np.ones(12))
