"""K MLPs merged into one wider MLP (`mlp_ensemble.merge_states`) must compute the mean of their logits,
through the gateway's own llmrouter-mlp reader; networks of different shapes are refused. numpy only."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.mlops.errors import MLOpsError
from gateway.mlops.mlp_ensemble import merge_states
from gateway.routing.strategies import _common as c


def _state(rng: np.random.Generator, sizes: list[int]) -> dict[str, np.ndarray]:
    """A torch-layout state dict: layers.i.weight (out, in), layers.i.bias (out,)."""
    state = {}
    for i, (inp, out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        state[f"layers.{i}.weight"] = rng.normal(size=(out, inp)).astype(np.float32)
        state[f"layers.{i}.bias"] = rng.normal(size=out).astype(np.float32)
    return state


def _logits(state: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    count = len(state) // 2
    layers = [(np.asarray(state[f"layers.{i}.weight"], np.float64).T, np.asarray(state[f"layers.{i}.bias"], np.float64))
              for i in range(count)]
    return c.mlp_forward(layers, c.ACTIVATIONS["relu"], x)


@pytest.mark.parametrize("sizes", [[12, 8, 6, 4], [12, 8, 4], [12, 4]], ids=["two-hidden", "one-hidden", "linear"])
def test_merged_network_computes_the_mean_of_the_members_logits(sizes):
    rng = np.random.default_rng(3)
    members = [_state(rng, sizes) for _ in range(5)]
    x = rng.normal(size=(40, sizes[0]))
    merged = merge_states(members)
    mean = np.mean([_logits(m, x) for m in members], axis=0)
    assert np.allclose(_logits(merged, x), mean, rtol=1e-10, atol=1e-10)
    assert merged["layers.0.weight"].shape == ((5 * sizes[1], sizes[0]) if len(sizes) > 2 else (sizes[1], sizes[0]))
    # the mean differs from any one member's choice somewhere: the merge is not member 0 in disguise
    assert (mean.argmax(axis=1) != _logits(members[0], x).argmax(axis=1)).any()


def test_one_member_is_itself():
    state = _state(np.random.default_rng(4), [6, 5, 3])
    merged = merge_states([state])
    assert all(np.array_equal(merged[k], state[k]) for k in state)


def test_members_of_different_shapes_are_refused():
    rng = np.random.default_rng(5)
    with pytest.raises(MLOpsError, match="the networks differ in shape"):
        merge_states([_state(rng, [6, 5, 3]), _state(rng, [6, 4, 3])])
    with pytest.raises(MLOpsError, match="no network to merge"):
        merge_states([])
