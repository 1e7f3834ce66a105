"""Several llmrouter-lib MLPs trained from consecutive seeds, served as one wider MLP.

Why: one MLPRouter's test quality on the llmrouter data moves by ~0.01-0.02 from one seed to the
next (docs/mlops-training.md), as much as the encoders differ. The mean of K networks' logits
varies less, and it is exactly one network of the same form (`merge_states`): the first layers
side by side, the hidden layers block-diagonal, the output layers' weights side by side divided by
K and their biases averaged. So the artifact format, the gateway's reader and the parity check are
unchanged: the library's own MLPRouter is built with the wider `hidden_layer_sizes`, loads the
merged weights, and its `route_single` is the reference. Runs in the training environment.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from gateway.mlops.errors import MLOpsError


def merge_states(states: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """torch `layers.i.weight` (out, in) / `layers.i.bias` state dicts of same-shaped MLPs -> one MLP
    whose logits are their mean (hidden activations act unit by unit, so blocks never mix)."""
    if not states:
        raise MLOpsError("merge_states: no network to merge")
    count = len({key.split(".")[1] for key in states[0]})
    shapes = [{key: value.shape for key, value in state.items()} for state in states]
    if any(shape != shapes[0] for shape in shapes):
        raise MLOpsError(f"merge_states: the networks differ in shape: {shapes}")
    k, last = len(states), count - 1
    merged: dict[str, np.ndarray] = {}
    for i in range(count):
        weights = [np.asarray(s[f"layers.{i}.weight"], dtype=np.float64) for s in states]
        biases = [np.asarray(s[f"layers.{i}.bias"], dtype=np.float64) for s in states]
        if i == last:
            weight = np.mean(weights, axis=0) if i == 0 else np.concatenate(weights, axis=1) / k
            merged[f"layers.{i}.weight"], merged[f"layers.{i}.bias"] = weight, np.mean(biases, axis=0)
        elif i == 0:
            merged[f"layers.{i}.weight"], merged[f"layers.{i}.bias"] = np.concatenate(weights), np.concatenate(biases)
        else:
            out, inp = weights[0].shape
            block = np.zeros((k * out, k * inp))
            for j, w in enumerate(weights):
                block[j * out:(j + 1) * out, j * inp:(j + 1) * inp] = w
            merged[f"layers.{i}.weight"], merged[f"layers.{i}.bias"] = block, np.concatenate(biases)
    return merged


def train_ensemble(module, spec, hparam: dict, members: int, seed: int, config: Callable[[dict], Path],
                   reseed: Callable[[int], None]):
    """Train `members` MLPRouters (seeds `seed`, `seed + 1`, ...) on `config(hparam)`, then build the
    library router and trainer for the merged network (`config` of the widened hparam) with the
    merged weights saved where its `route_single` loads them. Returns (router, trainer)."""
    import torch
    from llmrouter.utils import save_model

    states = []
    for member in range(members):
        reseed(seed + member)
        router = getattr(module, spec.router_class)(str(config(hparam)))
        trainer = getattr(module, spec.trainer_class)(router, device="cpu")
        trainer.train()
        states.append({key: value.detach().cpu().numpy() for key, value in trainer.model.state_dict().items()})
    wide = {**hparam, "hidden_layer_sizes": [members * int(h) for h in hparam["hidden_layer_sizes"]]}
    router = getattr(module, spec.router_class)(str(config(wide)))
    trainer = getattr(module, spec.trainer_class)(router, device="cpu")
    trainer.model.load_state_dict({key: torch.tensor(value, dtype=torch.float32)
                                   for key, value in merge_states(states).items()})
    save_model(trainer.model.state_dict(), trainer.save_model_path)
    return router, trainer
